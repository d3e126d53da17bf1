//! How often the real person detector still finds a partly hidden person: the measurement behind
//! the occlusion-miss and score curves of the synthetic store's detector noise model
//! (`aisle_sim::NoiseModel`).
//!
//! Real video has no visibility labels, so occlusions are made: people the detector finds
//! alone and confidently in the sample video (score >= `--min-score`, no other detection touching
//! their box) are covered by another such person pasted in front of them, the way a shopper
//! nearer the ceiling camera covers one farther away: lower in the image (bottom edge `dy` below
//! the target's), at least as tall, shifted sideways by `dx`. The detector then runs on the edited
//! frame. Visibility is measured as the simulation defines it (the fraction of the target's box
//! not covered by the occluder's box; head visibility the same for the top third), and
//! detectability is `(1 - head_weight) x visibility + head_weight x head visibility`.
//!
//! Two occluder masks bound the truth: `rect` pastes the occluder's whole box (hiding everything
//! behind it, including what a real person's outline would leave visible), `ellipse` pastes the
//! ellipse inscribed in it (a person's outline covers roughly that much). The target counts as
//! found when a detection overlaps its full box or the box of its visible part by IoU >= 0.5, and
//! more than it overlaps the occluder's box (the occluder is usually detected too).
//!
//! The result: found rate and mean score per detectability bin, and the logistic
//! `1 / (1 + exp((d - mid) / width))` of the noise model fitted to the misses by maximum likelihood.
//!
//! `--natural` cross-checks on the video's own occlusions instead: people the production tracker
//! follows through a crossing, their box interpolated over the frames they were not matched in,
//! covered by the boxes of tracked people nearer the camera. The sample video has few such
//! crossings, and people hidden for longer than the interpolation spans are left out.
//!
//! Run after `make models media`:
//! `cargo run --release -p aisled --example occlusion_calibration -- [--model NAME] [--input FILE] [--targets N] [--trials N] [--natural] [--json]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

mod common;

use aisle_config::Config;
use aisle_types::{BBox, Detection, Nv12Frame};
use aisle_video::VideoFile;
use aisle_vision::Detector;
use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mask {
    Rect,
    Ellipse,
}

#[derive(Debug, Parser)]
#[command(about = "Detection rate of partly hidden people on real video")]
struct Args {
    /// Video file (default: the sample video in the cache, media/vtest.mp4).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Detector from the model manifest.
    #[arg(long, default_value = "centernet")]
    model: String,
    /// Look for targets in every Nth frame.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    step: u64,
    /// Targets (people found alone) to occlude, spread over the video.
    #[arg(long, default_value_t = 120)]
    targets: usize,
    /// Occlusions per target and mask.
    #[arg(long, default_value_t = 12)]
    trials: usize,
    /// Lowest score of a target or occluder in the unedited frame.
    #[arg(long, default_value_t = 0.6)]
    min_score: f32,
    /// Smallest target height in pixels.
    #[arg(long, default_value_t = 60.0)]
    min_height: f32,
    /// Detection score threshold for the study: the tracker's `low_score`, down to which
    /// `aisle run` keeps detections (found at the tracker's `high_score` is reported too).
    #[arg(long, default_value_t = 0.1)]
    score_floor: f32,
    /// Weight of head visibility in detectability (`NoiseModel::head_weight`).
    #[arg(long, default_value_t = 0.5)]
    head_weight: f64,
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Mask::Rect, Mask::Ellipse])]
    masks: Vec<Mask>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// Measure on the video's own occlusions instead of pasted ones: people tracked through a
    /// crossing (the production tracker with appearance; ids as pseudo-labels), their box
    /// interpolated over frames they were not matched in, covered by the boxes of tracked
    /// people nearer the camera.
    #[arg(long)]
    natural: bool,
}

/// Gaps in a track longer than this (frames) are not interpolated (the identity after them is
/// less sure than the interpolation needs).
const NATURAL_MAX_GAP: usize = 20;
/// Tracks matched in fewer frames are left out (false positives, fragments).
const NATURAL_MIN_HITS: usize = 10;

/// A person found alone: the frame (index into the kept frames) and the box.
#[derive(Debug, Clone, Copy)]
struct Person {
    frame: usize,
    bbox: BBox,
}

/// One edited frame's outcome for its target.
#[derive(Debug, Clone, Copy, Serialize)]
struct Trial {
    mask: Mask,
    visibility: f64,
    head_visibility: f64,
    detectability: f64,
    /// Fraction of the target's box the pasted pixels cover.
    pixels_covered: f64,
    target_height: f32,
    /// The detection belonging to the target (more overlap with the target's full box or
    /// visible part than with the occluder) with the best IoU: that IoU with the full box, with
    /// the visible part's box, and its score (all 0 when none).
    iou: f32,
    iou_visible: f32,
    score: f32,
    /// Where that detection's box lies between the full box (0) and the visible part's box
    /// (1): the mean over the four edges of how far each moved towards the visible part, for
    /// edges that differ by at least a tenth of the box (NaN when none do or nothing was found).
    shrink: f64,
}

#[derive(Debug, Serialize)]
struct Bin {
    mask: Mask,
    detectability_from: f64,
    detectability_to: f64,
    trials: usize,
    /// Found (IoU >= 0.5 with the full box or the visible part's box) with a score >=
    /// `score_floor`.
    found: f64,
    /// Found with IoU >= 0.5 against the full box (what a full-body ground truth counts).
    found_full_box: f64,
    /// Found with a score >= the tracker's `high_score`.
    found_at_high_threshold: f64,
    /// Mean score of the found detections.
    mean_score: f64,
    /// Mean [`Trial::shrink`] of the found detections (`NoiseModel::occluded_box_shrink`).
    mean_shrink: f64,
}

#[derive(Debug, Serialize)]
struct Fit {
    mask: Mask,
    /// Misses of the unoccluded targets (detectability >= 0.95), the floor under the logistic.
    floor: f64,
    mid: f64,
    width: f64,
    /// The same fitted to misses at the tracker's `high_score`.
    mid_at_high_threshold: f64,
    width_at_high_threshold: f64,
    /// `head_weight`, `mid` and `width` fitted together (score >= `score_floor`).
    joint_head_weight: f64,
    joint_mid: f64,
    joint_width: f64,
    /// The simulation's score ramp fitted (least squares) to the found detections' scores, with
    /// detectability at the fitted head weight: `score_occluded_mean` up to
    /// `score_occluded_visibility`, smoothstep to `score_visible_mean` at
    /// `score_visible_visibility`; `score_sigma` the residual spread.
    score_occluded_mean: f64,
    score_visible_mean: f64,
    score_occluded_visibility: f64,
    score_visible_visibility: f64,
    score_sigma: f64,
    /// Median [`Trial::shrink`] of the found detections (meaningful for the `rect` mask, whose
    /// visible part has a clear box).
    box_shrink: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    video: String,
    model: String,
    high_score: f32,
    score_floor: f32,
    head_weight: f64,
    targets: usize,
    occluders: usize,
    bins: Vec<Bin>,
    fits: Vec<Fit>,
}

fn intersection(a: &BBox, b: &BBox) -> f32 {
    let ix = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let iy = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    ix * iy
}

/// Whether pixel centre (x, y) lies under the occluder placed at `dst` with `mask`.
fn under(mask: Mask, dst: &BBox, x: f32, y: f32) -> bool {
    if x < dst.x1 || x >= dst.x2 || y < dst.y1 || y >= dst.y2 {
        return false;
    }
    match mask {
        Mask::Rect => true,
        Mask::Ellipse => {
            let (cx, cy) = ((dst.x1 + dst.x2) * 0.5, (dst.y1 + dst.y2) * 0.5);
            let (rx, ry) = (dst.width() * 0.5, dst.height() * 0.5);
            let (u, v) = ((x - cx) / rx, (y - cy) / ry);
            u * u + v * v <= 1.0
        }
    }
}

/// Pastes the pixels of `src_box` in `src` onto `dst_box` of `frame` (nearest-neighbour scaling),
/// inside `mask`. Chroma follows the luma decision at each 2x2 block's top-left pixel.
fn paste(frame: &mut Nv12Frame, src: &Nv12Frame, src_box: &BBox, dst_box: &BBox, mask: Mask) {
    let (fw, fh) = (frame.width as i64, frame.height as i64);
    let sx = src_box.width() / dst_box.width();
    let sy = src_box.height() / dst_box.height();
    let x0 = (dst_box.x1.floor() as i64).clamp(0, fw);
    let x1 = (dst_box.x2.ceil() as i64).clamp(0, fw);
    let y0 = (dst_box.y1.floor() as i64).clamp(0, fh);
    let y1 = (dst_box.y2.ceil() as i64).clamp(0, fh);
    let src_at = |x: i64, y: i64| -> (usize, usize) {
        let u = src_box.x1 + (x as f32 + 0.5 - dst_box.x1) * sx;
        let v = src_box.y1 + (y as f32 + 0.5 - dst_box.y1) * sy;
        (
            (u.max(0.0) as usize).min(src.width as usize - 1),
            (v.max(0.0) as usize).min(src.height as usize - 1),
        )
    };
    for y in y0..y1 {
        for x in x0..x1 {
            if !under(mask, dst_box, x as f32 + 0.5, y as f32 + 0.5) {
                continue;
            }
            let (u, v) = src_at(x, y);
            frame.y[y as usize * frame.y_stride + x as usize] = src.y[v * src.y_stride + u];
            if x % 2 == 0 && y % 2 == 0 {
                let (cu, cv) = (u / 2, v / 2);
                let d = (y as usize / 2) * frame.uv_stride + (x as usize / 2) * 2;
                let s = cv * src.uv_stride + cu * 2;
                frame.uv[d] = src.uv[s];
                frame.uv[d + 1] = src.uv[s + 1];
            }
        }
    }
}

/// Fraction of `target`'s pixels under the occluder at `dst` with `mask`, and the bounding box
/// of the pixels left visible (`None` when none are).
fn coverage(target: &BBox, dst: &BBox, mask: Mask) -> (f64, Option<BBox>) {
    let (mut n, mut hit) = (0u64, 0u64);
    let mut vis: Option<BBox> = None;
    let mut y = target.y1.floor() + 0.5;
    while y < target.y2 {
        let mut x = target.x1.floor() + 0.5;
        while x < target.x2 {
            n += 1;
            if under(mask, dst, x, y) {
                hit += 1;
            } else {
                let p = BBox {
                    x1: x - 0.5,
                    y1: y - 0.5,
                    x2: x + 0.5,
                    y2: y + 0.5,
                };
                vis = Some(match vis {
                    None => p,
                    Some(v) => BBox {
                        x1: v.x1.min(p.x1),
                        y1: v.y1.min(p.y1),
                        x2: v.x2.max(p.x2),
                        y2: v.y2.max(p.y2),
                    },
                });
            }
            x += 1.0;
        }
        y += 1.0;
    }
    let covered = if n == 0 { 0.0 } else { hit as f64 / n as f64 };
    (covered, vis)
}

/// Negative log-likelihood of the misses under `floor + (1 - floor) x logistic(d; mid, width)`.
fn nll(points: &[(f64, bool)], floor: f64, mid: f64, width: f64) -> f64 {
    points
        .iter()
        .map(|&(d, missed)| {
            let s = 1.0 / (1.0 + ((d - mid) / width).exp());
            let p = (floor + (1.0 - floor) * s).clamp(1e-6, 1.0 - 1e-6);
            if missed {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum()
}

/// Grid search of (mid, width) by maximum likelihood.
fn fit_logistic(points: &[(f64, bool)], floor: f64) -> (f64, f64) {
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for mi in 0..=90 {
        let mid = 0.05 + 0.01 * f64::from(mi);
        for wi in 1..=40 {
            let width = 0.005 * f64::from(wi);
            let l = nll(points, floor, mid, width);
            if l < best.0 {
                best = (l, mid, width);
            }
        }
    }
    (best.1, best.2)
}

/// The simulation's mean score at detectability `d` (`NoiseModel::mean_score`).
fn ramp_at(d: f64, occluded: f64, visible: f64, lo: f64, hi: f64) -> f64 {
    let t = ((d - lo) / (hi - lo)).clamp(0.0, 1.0);
    occluded + (visible - occluded) * t * t * (3.0 - 2.0 * t)
}

/// Grid search of the score ramp `(occluded mean, visible mean, low, high)` by least squares,
/// and the residual standard deviation.
fn fit_score_ramp(points: &[(f64, f64)]) -> (f64, f64, f64, f64, f64) {
    if points.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let mut best = (f64::INFINITY, 0.0, 0.0, 0.0, 0.0);
    for oi in 0..=20 {
        let occluded = 0.1 + 0.02 * f64::from(oi);
        for vi in 0..=50 {
            let visible = 0.4 + 0.01 * f64::from(vi);
            for li in 0..=14 {
                let lo = 0.05 * f64::from(li);
                for hi_i in (li + 2)..=20 {
                    let hi = 0.05 * f64::from(hi_i);
                    let sse: f64 = points
                        .iter()
                        .map(|&(d, s)| (s - ramp_at(d, occluded, visible, lo, hi)).powi(2))
                        .sum();
                    if sse < best.0 {
                        best = (sse, occluded, visible, lo, hi);
                    }
                }
            }
        }
    }
    let sigma = (best.0 / points.len() as f64).sqrt();
    (best.1, best.2, best.3, best.4, sigma)
}

/// Coverage of `b` by the union of `others` on a 16 x 32 grid: (visibility, head visibility).
fn grid_visibility(b: &BBox, others: &[BBox]) -> (f64, f64) {
    const GX: usize = 16;
    const GY: usize = 32;
    let (mut vis, mut head_vis, mut head_n) = (0usize, 0usize, 0usize);
    for gy in 0..GY {
        let y = b.y1 + (gy as f32 + 0.5) / GY as f32 * b.height();
        for gx in 0..GX {
            let x = b.x1 + (gx as f32 + 0.5) / GX as f32 * b.width();
            let covered = others
                .iter()
                .any(|o| x >= o.x1 && x < o.x2 && y >= o.y1 && y < o.y2);
            if !covered {
                vis += 1;
            }
            if gy < GY / 3 {
                head_n += 1;
                if !covered {
                    head_vis += 1;
                }
            }
        }
    }
    (
        vis as f64 / (GX * GY) as f64,
        head_vis as f64 / head_n as f64,
    )
}

/// `--natural`: the found rate on the video's own occlusions (see the flag).
fn natural(
    args: &Args,
    detector: &mut Detector,
    input: &std::path::Path,
) -> Result<Vec<(f64, f64, bool, f32)>> {
    use aisle_track::{Tracker, TrackerConfig};
    use aisle_vision::AppearanceExtractor;
    let mut video =
        VideoFile::open(input).with_context(|| format!("opening {}", input.display()))?;
    let (w, h) = (video.info().width as f32, video.info().height as f32);
    let mut tracker = Tracker::new(TrackerConfig::default())?;
    tracker.set_frame_size(video.info().width, video.info().height);
    let mut extractor = AppearanceExtractor::new();
    let mut frames: Vec<Vec<Detection>> = Vec::new();
    // Per track id: (frame, matched detection index).
    let mut tracks: std::collections::BTreeMap<u32, Vec<(usize, usize)>> = Default::default();
    let mut descriptors = Vec::new();
    for frame in video.frames() {
        let frame = frame?;
        let mut dets = Vec::new();
        let mut times = aisle_vision::StageTimes::default();
        detector.detect_timed(&frame, &mut dets, &mut times)?;
        extractor.describe_all(&frame, &dets, &mut descriptors);
        let k = frames.len();
        for t in tracker.update_with_appearance(&dets, &descriptors, frame.pts)? {
            if let (true, Some(i)) = (t.is_active(), t.detection) {
                tracks.entry(t.id.0).or_default().push((k, i as usize));
            }
        }
        frames.push(dets);
    }
    // Every tracked person's box per frame: the matched detection (with its score), or
    // interpolated between two matches at most NATURAL_MAX_GAP frames apart.
    let mut boxes: Vec<Vec<(u32, BBox, Option<f32>)>> = vec![Vec::new(); frames.len()];
    for (&id, obs) in &tracks {
        if obs.len() < NATURAL_MIN_HITS {
            continue;
        }
        for pair in obs.windows(2) {
            let ((f0, d0), (f1, d1)) = (pair[0], pair[1]);
            let (b0, b1) = (frames[f0][d0].bbox, frames[f1][d1].bbox);
            boxes[f0].push((id, b0, Some(frames[f0][d0].score)));
            if f1 - f0 > 1 && f1 - f0 <= NATURAL_MAX_GAP {
                for (f, slot) in boxes.iter_mut().enumerate().take(f1).skip(f0 + 1) {
                    let t = (f - f0) as f32 / (f1 - f0) as f32;
                    let b = BBox {
                        x1: b0.x1 + (b1.x1 - b0.x1) * t,
                        y1: b0.y1 + (b1.y1 - b0.y1) * t,
                        x2: b0.x2 + (b1.x2 - b0.x2) * t,
                        y2: b0.y2 + (b1.y2 - b0.y2) * t,
                    };
                    slot.push((id, b, None));
                }
            }
        }
        if let Some(&(f, d)) = obs.last() {
            boxes[f].push((id, frames[f][d].bbox, Some(frames[f][d].score)));
        }
    }
    // (visibility, head visibility, found, score) per person and frame, for people partly
    // covered by someone nearer or fully in view; boxes cut by the frame edge are left out.
    let margin = 4.0;
    let mut out = Vec::new();
    for (f, people) in boxes.iter().enumerate() {
        for &(id, b, matched) in people {
            if b.x1 < margin || b.y1 < margin || b.x2 > w - margin || b.y2 > h - margin {
                continue;
            }
            let nearer: Vec<BBox> = people
                .iter()
                .filter(|&&(o, ob, _)| o != id && ob.y2 > b.y2 + 0.05 * b.height())
                .map(|&(_, ob, _)| ob)
                .collect();
            let (vis, head) = grid_visibility(&b, &nearer);
            let (found, score) = if let Some(s) = matched {
                (true, s)
            } else {
                frames[f]
                    .iter()
                    .filter(|d| d.score >= args.score_floor)
                    .filter(|d| {
                        let it = d.bbox.iou(&b);
                        it >= 0.5 && nearer.iter().all(|o| d.bbox.iou(o) < it)
                    })
                    .map(|d| (true, d.score))
                    .next()
                    .unwrap_or((false, 0.0))
            };
            out.push((vis, head, found, score));
        }
    }
    Ok(out)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let config = Config::default();
    let input = args
        .input
        .clone()
        .unwrap_or_else(|| config.cache_dir().join("media").join("vtest.mp4"));

    // A found detection this confident takes part in the tracker's first association stage
    // and may start a track.
    let high_threshold = aisle_track::TrackerConfig::default().high_score;
    let mut detector = common::cpu_detector(&config, &args.model, args.threads, args.score_floor)?;

    if args.natural {
        let samples = natural(&args, &mut detector, &input)?;
        println!(
            "{} on {}: the video's own occlusions, {} person-frames (tracked people, boxes \
             interpolated where unmatched); found = a detection with IoU >= 0.5, score >= {}",
            args.model,
            input.display(),
            samples.len(),
            args.score_floor
        );
        println!("| detectability | person-frames | found | mean score when found |");
        println!("|---|---|---|---|");
        for b in 0..10 {
            let (lo, hi) = (f64::from(b) * 0.1, f64::from(b + 1) * 0.1);
            let inbin: Vec<&(f64, f64, bool, f32)> = samples
                .iter()
                .filter(|(v, hv, _, _)| {
                    let d = (1.0 - args.head_weight) * v + args.head_weight * hv;
                    d >= lo && (d < hi || b == 9)
                })
                .collect();
            if inbin.is_empty() {
                continue;
            }
            let found: Vec<f32> = inbin.iter().filter(|s| s.2).map(|s| s.3).collect();
            println!(
                "| {lo:.1}-{hi:.1} | {} | {:.2} | {:.2} |",
                inbin.len(),
                found.len() as f64 / inbin.len() as f64,
                found.iter().map(|&x| f64::from(x)).sum::<f64>() / found.len().max(1) as f64
            );
        }
        return Ok(());
    }

    // 1. People found alone and confidently, and the frames they are in.
    let mut video =
        VideoFile::open(&input).with_context(|| format!("opening {}", input.display()))?;
    let mut frames: Vec<Nv12Frame> = Vec::new();
    let mut people: Vec<Person> = Vec::new();
    let mut dets: Vec<Detection> = Vec::new();
    let margin = 4.0;
    for frame in video.frames() {
        let frame = frame?;
        if frame.index % args.step != 0 {
            continue;
        }
        dets.clear();
        let mut times = aisle_vision::StageTimes::default();
        detector.detect_timed(&frame, &mut dets, &mut times)?;
        let (w, h) = (frame.width as f32, frame.height as f32);
        let mut found = false;
        for (i, a) in dets.iter().enumerate() {
            let b = a.bbox;
            let alone = dets
                .iter()
                .enumerate()
                .all(|(j, o)| j == i || intersection(&b, &o.bbox) <= 0.0);
            let inside =
                b.x1 >= margin && b.y1 >= margin && b.x2 <= w - margin && b.y2 <= h - margin;
            if a.score >= args.min_score && alone && inside && b.height() >= args.min_height {
                people.push(Person {
                    frame: frames.len(),
                    bbox: b,
                });
                found = true;
            }
        }
        if found {
            frames.push(frame);
        }
    }
    if people.len() < 2 {
        bail!(
            "{} has {} people found alone with score >= {}; need at least 2",
            input.display(),
            people.len(),
            args.min_score
        );
    }
    if !args.json {
        eprintln!(
            "{} people found alone in {} frames of {}",
            people.len(),
            frames.len(),
            input.display()
        );
    }

    // 2. Occlusions.
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let n_targets = args.targets.min(people.len());
    let mut trials: Vec<Trial> = Vec::new();
    for k in 0..n_targets {
        let target = people[k * people.len() / n_targets];
        let t = target.bbox;
        let base = &frames[target.frame];
        for &mask in &args.masks {
            for _ in 0..args.trials {
                // An occluder from another frame, so the target's own pixels never cover it.
                let occ = loop {
                    let o = people[rng.random_range(0..people.len())];
                    if o.frame != target.frame {
                        break o;
                    }
                    if frames.len() == 1 {
                        break o;
                    }
                };
                let scale = rng.random_range(1.0..1.3f32) * t.height() / occ.bbox.height();
                let (ow, oh) = (occ.bbox.width() * scale, occ.bbox.height() * scale);
                let dy = rng.random_range(0.05..0.7f32) * t.height();
                let dx = rng.random_range(-1.2..1.2f32) * t.width();
                let cx = (t.x1 + t.x2) * 0.5 + dx;
                let dst = BBox {
                    x1: cx - ow * 0.5,
                    y1: t.y2 + dy - oh,
                    x2: cx + ow * 0.5,
                    y2: t.y2 + dy,
                };
                let area = f64::from(t.area());
                let visibility = 1.0 - f64::from(intersection(&t, &dst)) / area;
                let head = BBox {
                    y2: t.y1 + t.height() / 3.0,
                    ..t
                };
                let head_visibility = 1.0 - f64::from(intersection(&head, &dst) / head.area());
                let detectability =
                    (1.0 - args.head_weight) * visibility + args.head_weight * head_visibility;
                let mut edited = base.clone();
                paste(&mut edited, &frames[occ.frame], &occ.bbox, &dst, mask);
                dets.clear();
                let mut times = aisle_vision::StageTimes::default();
                detector.detect_timed(&edited, &mut dets, &mut times)?;
                let (covered, vis_box) = coverage(&t, &dst, mask);
                let vb = vis_box.unwrap_or(t);
                let (mut iou, mut iou_visible, mut score) = (0.0f32, 0.0f32, 0.0f32);
                let mut best: Option<BBox> = None;
                for d in &dets {
                    let (a, b) = (d.bbox.iou(&t), d.bbox.iou(&vb));
                    if a.max(b) > d.bbox.iou(&dst) && a.max(b) > iou.max(iou_visible) {
                        iou = a;
                        iou_visible = b;
                        score = d.score;
                        best = Some(d.bbox);
                    }
                }
                let shrink = best.map_or(f64::NAN, |b| {
                    let edges = [
                        (t.x1, vb.x1, b.x1),
                        (t.y1, vb.y1, b.y1),
                        (t.x2, vb.x2, b.x2),
                        (t.y2, vb.y2, b.y2),
                    ];
                    // Edges the occluder moved by at least a tenth of the box (smaller moves
                    // make the ratio noise).
                    let min_move = 0.1 * t.width().min(t.height());
                    let moved: Vec<f64> = edges
                        .iter()
                        .filter(|(f, v, _)| (f - v).abs() >= min_move)
                        .map(|(f, v, d)| f64::from((d - f) / (v - f)))
                        .collect();
                    if moved.is_empty() {
                        f64::NAN
                    } else {
                        moved.iter().sum::<f64>() / moved.len() as f64
                    }
                });
                trials.push(Trial {
                    mask,
                    visibility,
                    head_visibility,
                    detectability,
                    pixels_covered: covered,
                    target_height: t.height(),
                    iou,
                    iou_visible,
                    score,
                    shrink,
                });
            }
        }
        if !args.json && (k + 1) % 10 == 0 {
            eprintln!("{} of {n_targets} targets", k + 1);
        }
    }

    // 3. Found rate per detectability bin, and the fitted miss curve.
    let found = |t: &Trial, thr: f32| t.iou.max(t.iou_visible) >= 0.5 && t.score >= thr;
    let mut bins = Vec::new();
    let mut fits = Vec::new();
    for &mask in &args.masks {
        let ts: Vec<&Trial> = trials.iter().filter(|t| t.mask == mask).collect();
        for b in 0..10 {
            let (lo, hi) = (f64::from(b) * 0.1, f64::from(b + 1) * 0.1);
            let inbin: Vec<&&Trial> = ts
                .iter()
                .filter(|t| t.detectability >= lo && (t.detectability < hi || b == 9))
                .collect();
            if inbin.is_empty() {
                continue;
            }
            let n = inbin.len() as f64;
            let f: Vec<&&&Trial> = inbin
                .iter()
                .filter(|t| found(t, args.score_floor))
                .collect();
            let fp = inbin.iter().filter(|t| found(t, high_threshold)).count();
            let ff = f.iter().filter(|t| t.iou >= 0.5).count();
            let sh: Vec<f64> = f
                .iter()
                .map(|t| t.shrink)
                .filter(|x| x.is_finite())
                .collect();
            bins.push(Bin {
                mask,
                detectability_from: lo,
                detectability_to: hi,
                trials: inbin.len(),
                found: f.len() as f64 / n,
                found_full_box: ff as f64 / n,
                found_at_high_threshold: fp as f64 / n,
                mean_score: if f.is_empty() {
                    f64::NAN
                } else {
                    f.iter().map(|t| f64::from(t.score)).sum::<f64>() / f.len() as f64
                },
                mean_shrink: if sh.is_empty() {
                    f64::NAN
                } else {
                    sh.iter().sum::<f64>() / sh.len() as f64
                },
            });
        }
        let clear: Vec<&&Trial> = ts.iter().filter(|t| t.detectability >= 0.95).collect();
        let floor = if clear.is_empty() {
            0.0
        } else {
            clear.iter().filter(|t| !found(t, args.score_floor)).count() as f64 / clear.len() as f64
        };
        let pts: Vec<(f64, bool)> = ts
            .iter()
            .map(|t| (t.detectability, !found(t, args.score_floor)))
            .collect();
        let (mid, width) = fit_logistic(&pts, floor);
        let pts_p: Vec<(f64, bool)> = ts
            .iter()
            .map(|t| (t.detectability, !found(t, high_threshold)))
            .collect();
        let (mid_p, width_p) = fit_logistic(&pts_p, floor);
        let mut joint = (f64::INFINITY, 0.0, 0.0, 0.0);
        for hw in 0..=10 {
            let hw = f64::from(hw) * 0.1;
            let pts: Vec<(f64, bool)> = ts
                .iter()
                .map(|t| {
                    let d = (1.0 - hw) * t.visibility + hw * t.head_visibility;
                    (d, !found(t, args.score_floor))
                })
                .collect();
            let (m, w) = fit_logistic(&pts, floor);
            let l = nll(&pts, floor, m, w);
            if l < joint.0 {
                joint = (l, hw, m, w);
            }
        }
        let hw = joint.1;
        let scored: Vec<(f64, f64)> = ts
            .iter()
            .filter(|t| found(t, args.score_floor))
            .map(|t| {
                (
                    (1.0 - hw) * t.visibility + hw * t.head_visibility,
                    f64::from(t.score),
                )
            })
            .collect();
        let ramp = fit_score_ramp(&scored);
        let mut shrinks: Vec<f64> = ts
            .iter()
            .filter(|t| found(t, args.score_floor) && t.shrink.is_finite())
            .map(|t| t.shrink)
            .collect();
        shrinks.sort_by(f64::total_cmp);
        let box_shrink = shrinks.get(shrinks.len() / 2).copied().unwrap_or(f64::NAN);
        fits.push(Fit {
            mask,
            floor,
            mid,
            width,
            mid_at_high_threshold: mid_p,
            width_at_high_threshold: width_p,
            joint_head_weight: joint.1,
            joint_mid: joint.2,
            joint_width: joint.3,
            score_occluded_mean: ramp.0,
            score_visible_mean: ramp.1,
            score_occluded_visibility: ramp.2,
            score_visible_visibility: ramp.3,
            score_sigma: ramp.4,
            box_shrink,
        });
    }

    let report = Report {
        video: input.display().to_string(),
        model: args.model.clone(),
        high_score: high_threshold,
        score_floor: args.score_floor,
        head_weight: args.head_weight,
        targets: n_targets,
        occluders: people.len(),
        bins,
        fits,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} targets x {} occlusions per mask, {} on {}; found = IoU >= 0.5 with score >= {} \
         (tracker high_score {})",
        report.targets, args.trials, report.model, report.video, args.score_floor, high_threshold
    );
    println!(
        "| mask | detectability | trials | found | found with score >= high_score | IoU >= 0.5 with \
         the full box | mean score | box shrink |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for b in &report.bins {
        println!(
            "| {:?} | {:.1}-{:.1} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            b.mask,
            b.detectability_from,
            b.detectability_to,
            b.trials,
            b.found,
            b.found_at_high_threshold,
            b.found_full_box,
            b.mean_score,
            b.mean_shrink
        );
    }
    for f in &report.fits {
        println!(
            "{:?}: floor {:.3}; miss logistic mid {:.2} width {:.3} (at high_score: mid {:.2} \
             width {:.3}); fitted with head_weight: {:.1}, mid {:.2}, width {:.3}",
            f.mask,
            f.floor,
            f.mid,
            f.width,
            f.mid_at_high_threshold,
            f.width_at_high_threshold,
            f.joint_head_weight,
            f.joint_mid,
            f.joint_width
        );
        println!(
            "  as noise settings (sweep): noise.head_weight={:.2} noise.miss_visibility_mid={:.2} \
             noise.miss_visibility_width={:.3} noise.score_occluded_mean={:.2} \
             noise.score_visible_mean={:.2} noise.score_occluded_visibility={:.2} \
             noise.score_visible_visibility={:.2} noise.score_sigma={:.3} \
             noise.occluded_box_shrink={:.2}",
            f.joint_head_weight,
            f.joint_mid,
            f.joint_width,
            f.score_occluded_mean,
            f.score_visible_mean,
            f.score_occluded_visibility,
            f.score_visible_visibility,
            f.score_sigma,
            f.box_shrink
        );
    }
    Ok(())
}
