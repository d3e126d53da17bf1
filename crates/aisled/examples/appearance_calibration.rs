//! How well the colour appearance descriptor (`aisle_vision::appearance`) tells people apart on
//! real video. Detects people, tracks them with the production tracker (its ids serve as
//! pseudo-labels), describes every active track's matched detection, and compares distances of
//! the same track over time with those of different tracks.
//!
//! Only "clean" observations take part: detection score >= `--min-score` and no IoU above
//! `--max-overlap` with any other detection of the frame (occlusions mix two people's colours and
//! make tracker ids unreliable).
//!
//! Run after `make models media`:
//! `cargo run --release -p aisled --example appearance_calibration -- [--input FILE] [--model NAME] [--step N] [--json]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;

mod common;

use aisle_config::Config;
use aisle_track::{Tracker, TrackerConfig};
use aisle_types::{Appearance, Detection};
use aisle_video::VideoFile;
use aisle_vision::AppearanceExtractor;
use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;

/// Lags (seconds) at which the same track is compared with itself.
const SAME_LAGS_S: [f64; 3] = [0.5, 2.0, 5.0];
/// The lag of the main comparison (same vs different) and of the lagged different pairs.
const MAIN_LAG_S: f64 = 2.0;

#[derive(Debug, Parser)]
#[command(about = "Distance statistics of the appearance descriptor on real video")]
struct Args {
    /// Video file (default: the sample video in the cache, media/vtest.mp4).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Detector from the model manifest.
    #[arg(long, default_value = "centernet")]
    model: String,
    /// Analyse every Nth frame.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    step: u64,
    /// Stop after this many analysed frames.
    #[arg(long)]
    max_frames: Option<usize>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Lowest detection score of a clean observation.
    #[arg(long, default_value_t = 0.6)]
    min_score: f32,
    /// Highest IoU with any other detection of a clean observation.
    #[arg(long, default_value_t = 0.1)]
    max_overlap: f32,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// Also write every clean observation to this CSV file (frame index, time, track id, box,
    /// the 16 colour bins), for studies of other descriptors on the same observations.
    #[arg(long)]
    dump: Option<PathBuf>,
}

/// One clean observation of an active track.
struct Obs {
    track: u32,
    appearance: Appearance,
}

struct FrameObs {
    time: f64,
    obs: Vec<Obs>,
}

#[derive(Debug, Serialize)]
struct Summary {
    name: String,
    count: usize,
    /// Pairs skipped because the two descriptors shared no region.
    incomparable: usize,
    mean: f64,
    p10: f64,
    p50: f64,
    p90: f64,
}

#[derive(Debug, Serialize)]
struct Separation {
    same: String,
    different: String,
    /// P(random different distance > random same distance), ties counted half.
    auc: f64,
    /// Distance below which 95 % of the same pairs lie.
    threshold_same_95: f64,
    /// Share of the different pairs at or below that threshold.
    different_below_threshold: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    video: String,
    model: String,
    frames_analysed: usize,
    step: u64,
    detections: usize,
    active_observations: usize,
    clean_observations: usize,
    tracks: usize,
    sets: Vec<Summary>,
    separation: Vec<Separation>,
}

#[derive(Default)]
struct Set {
    distances: Vec<f64>,
    incomparable: usize,
}

impl Set {
    fn add(&mut self, a: &Appearance, b: &Appearance) {
        match a.distance(b) {
            Some(d) => self.distances.push(f64::from(d)),
            None => self.incomparable += 1,
        }
    }

    fn summary(&self, name: &str) -> Summary {
        let mut d = self.distances.clone();
        d.sort_by(f64::total_cmp);
        let mean = if d.is_empty() {
            f64::NAN
        } else {
            d.iter().sum::<f64>() / d.len() as f64
        };
        Summary {
            name: name.to_string(),
            count: d.len(),
            incomparable: self.incomparable,
            mean,
            p10: quantile(&d, 0.10),
            p50: quantile(&d, 0.50),
            p90: quantile(&d, 0.90),
        }
    }
}

/// Linear-interpolated quantile of sorted values (NaN when empty).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos - pos.floor());
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * f
}

/// Mann-Whitney AUC: P(different > same) + 0.5 P(equal).
fn auc(same: &[f64], different: &[f64]) -> f64 {
    if same.is_empty() || different.is_empty() {
        return f64::NAN;
    }
    let mut s = same.to_vec();
    s.sort_by(f64::total_cmp);
    let mut total = 0.0;
    for &d in different {
        let below = s.partition_point(|&x| x < d);
        let equal = s[below..].partition_point(|&x| x <= d);
        total += below as f64 + 0.5 * equal as f64;
    }
    total / (same.len() as f64 * different.len() as f64)
}

fn separation(same_name: &str, same: &Set, diff_name: &str, diff: &Set) -> Separation {
    let mut s = same.distances.clone();
    s.sort_by(f64::total_cmp);
    let threshold = quantile(&s, 0.95);
    let below = diff.distances.iter().filter(|&&d| d <= threshold).count();
    Separation {
        same: same_name.to_string(),
        different: diff_name.to_string(),
        auc: auc(&same.distances, &diff.distances),
        threshold_same_95: threshold,
        different_below_threshold: if diff.distances.is_empty() {
            f64::NAN
        } else {
            below as f64 / diff.distances.len() as f64
        },
    }
}

/// Whether detection `i` is clean: confident and overlapping no other detection.
fn is_clean(dets: &[Detection], i: usize, min_score: f32, max_overlap: f32) -> bool {
    let d = &dets[i];
    d.score >= min_score
        && dets
            .iter()
            .enumerate()
            .all(|(j, o)| j == i || d.bbox.iou(&o.bbox) <= max_overlap)
}

/// The index of the frame closest to `time` within `tolerance` seconds.
fn frame_at(frames: &[FrameObs], time: f64, tolerance: f64) -> Option<usize> {
    let i = frames.partition_point(|f| f.time < time);
    [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter(|&k| k < frames.len())
        .min_by(|&a, &b| {
            (frames[a].time - time)
                .abs()
                .total_cmp(&(frames[b].time - time).abs())
        })
        .filter(|&k| (frames[k].time - time).abs() <= tolerance)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let config = Config::default();
    let input = args
        .input
        .clone()
        .unwrap_or_else(|| config.cache_dir().join("media").join("vtest.mp4"));

    let mut detector = common::cpu_detector(
        &config,
        &args.model,
        args.threads,
        config.detector.score_threshold,
    )?;

    let mut video =
        VideoFile::open(&input).with_context(|| format!("opening {}", input.display()))?;
    let (w, h) = (video.info().width, video.info().height);
    let mut tracker = Tracker::new(TrackerConfig::default())?;
    tracker.set_frame_size(w, h);
    let mut extractor = AppearanceExtractor::new();

    let mut frames: Vec<FrameObs> = Vec::new();
    let mut dets = Vec::new();
    let mut descriptors = Vec::new();
    let (mut n_dets, mut n_active, mut n_clean) = (0usize, 0usize, 0usize);
    let mut track_ids = std::collections::BTreeSet::new();
    let mut dump = match &args.dump {
        Some(p) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            );
            writeln!(f, "frame,time,track,x1,y1,x2,y2,score,bins")?;
            Some(f)
        }
        None => None,
    };
    for frame in video.frames() {
        let frame = frame?;
        if frame.index % args.step != 0 {
            continue;
        }
        if args.max_frames.is_some_and(|m| frames.len() >= m) {
            break;
        }
        dets.clear();
        let mut times = aisle_vision::StageTimes::default();
        detector.detect_timed(&frame, &mut dets, &mut times)?;
        n_dets += dets.len();
        extractor.describe_all(&frame, &dets, &mut descriptors);
        let tracks = tracker.update(&dets, frame.pts)?;
        let mut obs = Vec::new();
        for t in tracks.iter().filter(|t| t.is_active()) {
            let Some(i) = t.detection.map(|i| i as usize) else {
                continue;
            };
            n_active += 1;
            if i < dets.len() && is_clean(&dets, i, args.min_score, args.max_overlap) {
                n_clean += 1;
                track_ids.insert(t.id.0);
                if let Some(f) = dump.as_mut() {
                    let b = dets[i].bbox;
                    let bins: Vec<String> = descriptors[i]
                        .bins
                        .iter()
                        .map(|v| format!("{v:.5}"))
                        .collect();
                    writeln!(
                        f,
                        "{},{:.4},{},{:.1},{:.1},{:.1},{:.1},{:.3},{}",
                        frame.index,
                        frame.pts.as_secs_f64(),
                        t.id.0,
                        b.x1,
                        b.y1,
                        b.x2,
                        b.y2,
                        dets[i].score,
                        bins.join(" ")
                    )?;
                }
                obs.push(Obs {
                    track: t.id.0,
                    appearance: descriptors[i],
                });
            }
        }
        frames.push(FrameObs {
            time: frame.pts.as_secs_f64(),
            obs,
        });
        if !args.json && frames.len().is_multiple_of(100) {
            eprintln!("{} frames analysed", frames.len());
        }
    }

    // Half the median frame interval: how far from the exact lag a frame may be.
    let mut gaps: Vec<f64> = frames.windows(2).map(|p| p[1].time - p[0].time).collect();
    gaps.sort_by(f64::total_cmp);
    let tolerance = 0.5 * quantile(&gaps, 0.5).max(1e-3);

    let mut same: Vec<Set> = SAME_LAGS_S.iter().map(|_| Set::default()).collect();
    let mut diff_frame = Set::default();
    let mut diff_lag = Set::default();
    for (k, f) in frames.iter().enumerate() {
        for (a, oa) in f.obs.iter().enumerate() {
            for ob in &f.obs[a + 1..] {
                diff_frame.add(&oa.appearance, &ob.appearance);
            }
        }
        for (li, &lag) in SAME_LAGS_S.iter().enumerate() {
            let Some(p) = frame_at(&frames[..k], f.time - lag, tolerance) else {
                continue;
            };
            for o in &f.obs {
                for q in &frames[p].obs {
                    if q.track == o.track {
                        same[li].add(&o.appearance, &q.appearance);
                    } else if lag == MAIN_LAG_S {
                        diff_lag.add(&o.appearance, &q.appearance);
                    }
                }
            }
        }
    }

    let names: Vec<String> = SAME_LAGS_S
        .iter()
        .map(|l| format!("same track, {l} s lag"))
        .collect();
    let mut sets: Vec<Summary> = same.iter().zip(&names).map(|(s, n)| s.summary(n)).collect();
    let diff_frame_name = "different tracks, same frame";
    let diff_lag_name = format!("different tracks, {MAIN_LAG_S} s lag");
    sets.push(diff_frame.summary(diff_frame_name));
    sets.push(diff_lag.summary(&diff_lag_name));
    let main = SAME_LAGS_S
        .iter()
        .position(|&l| l == MAIN_LAG_S)
        .expect("main lag is one of the lags");
    let mut sep = vec![
        separation(&names[main], &same[main], diff_frame_name, &diff_frame),
        separation(&names[main], &same[main], &diff_lag_name, &diff_lag),
    ];
    for (i, n) in names.iter().enumerate().filter(|&(i, _)| i != main) {
        sep.push(separation(n, &same[i], diff_frame_name, &diff_frame));
    }
    let report = Report {
        video: input.display().to_string(),
        model: args.model.clone(),
        frames_analysed: frames.len(),
        step: args.step,
        detections: n_dets,
        active_observations: n_active,
        clean_observations: n_clean,
        tracks: track_ids.len(),
        sets,
        separation: sep,
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} ({} frames analysed, step {}), model {}: {} detections, {} active track observations, {} clean, {} tracks",
        report.video,
        report.frames_analysed,
        report.step,
        report.model,
        report.detections,
        report.active_observations,
        report.clean_observations,
        report.tracks
    );
    println!(
        "\n{:<32} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "pairs", "count", "mean", "p10", "p50", "p90", "n/a"
    );
    for s in &report.sets {
        println!(
            "{:<32} {:>7} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6}",
            s.name, s.count, s.mean, s.p10, s.p50, s.p90, s.incomparable
        );
    }
    println!(
        "\n{:<24} {:<32} {:>6} {:>12} {:>14}",
        "same", "different", "AUC", "thr(95%same)", "diff<=thr"
    );
    for s in &report.separation {
        println!(
            "{:<24} {:<32} {:>6.3} {:>12.3} {:>13.1}%",
            s.same,
            s.different,
            s.auc,
            s.threshold_same_95,
            100.0 * s.different_below_threshold
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_quantiles() {
        assert_eq!(auc(&[0.1, 0.2], &[0.3, 0.4]), 1.0);
        assert_eq!(auc(&[0.3, 0.4], &[0.1, 0.2]), 0.0);
        assert_eq!(auc(&[0.2], &[0.2]), 0.5);
        assert!((quantile(&[0.0, 1.0], 0.25) - 0.25).abs() < 1e-12);
    }
}
