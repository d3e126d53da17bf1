//! `aisle track`: the tracker on a MOTChallenge detection file, tracks out in MOTChallenge format.
//!
//! Frames are numbered from 1 at `--fps` (default: `frameRate` of the sequence's `seqinfo.ini`
//! when one sits next to the detection file's folder, as in the MOTChallenge layout
//! `SEQ/det/det.txt` + `SEQ/seqinfo.ini`; otherwise 30). Every frame from the first to the last
//! is given to the tracker, including those without detections. The frame size comes from
//! `--frame-size` or seqinfo.ini's `imWidth`/`imHeight`. With `--gt`, the tracks are also
//! scored against that ground truth, as the MOTChallenge server's TrackEval scores them (tracker
//! boxes on distractors, such as static persons and reflections, are not counted).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aisle_track::metrics::MotSequence;
use aisle_track::motchallenge;
use aisle_track::{Tracker, TrackerConfig};
use aisle_types::MediaTime;
use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct TrackArgs {
    /// MOTChallenge detection file: `frame,id,x,y,w,h,score,...` per line.
    #[arg(long, value_name = "FILE")]
    det: PathBuf,
    /// Where to write the tracks (MOTChallenge format); `-` for standard output.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Frame rate of the sequence (default: seqinfo.ini's frameRate, else 30).
    #[arg(long, value_name = "FPS")]
    fps: Option<f64>,
    /// Frame size `WIDTHxHEIGHT` (default: seqinfo.ini's imWidth and imHeight); lets tracks that
    /// leave the view end sooner.
    #[arg(long, value_name = "WxH")]
    frame_size: Option<String>,
    /// Score the tracks against this ground truth file and print the metrics to stderr.
    #[arg(long, value_name = "FILE")]
    gt: Option<PathBuf>,
    /// Detections at or above this score start and extend tracks (first association stage).
    #[arg(long, value_name = "SCORE")]
    high_score: Option<f32>,
    /// Detections below this score are ignored.
    #[arg(long, value_name = "SCORE")]
    low_score: Option<f32>,
    /// Minimum score for a detection to start a new track.
    #[arg(long, value_name = "SCORE")]
    new_track_score: Option<f32>,
    /// Seconds a lost track is kept for re-identification.
    #[arg(long, value_name = "SECONDS")]
    max_lost: Option<f64>,
}

/// What `seqinfo.ini` beside the detection file's folder says, when there is one.
#[derive(Debug, Default)]
struct SeqInfo {
    fps: Option<f64>,
    width: Option<u32>,
    height: Option<u32>,
}

fn seqinfo(det: &Path) -> Result<SeqInfo> {
    let mut info = SeqInfo::default();
    let Some(seq) = det.parent().and_then(Path::parent) else {
        return Ok(info);
    };
    let ini = seq.join("seqinfo.ini");
    let Ok(text) = std::fs::read_to_string(&ini) else {
        return Ok(info);
    };
    for (n, line) in text.lines().enumerate() {
        let Some((key, v)) = line.split_once('=') else {
            continue;
        };
        let (key, v) = (key.trim(), v.trim());
        let bad = || format!("{}:{}: {key} {v:?} is not a number", ini.display(), n + 1);
        match key {
            "frameRate" => info.fps = Some(v.parse().with_context(bad)?),
            "imWidth" => info.width = Some(v.parse().with_context(bad)?),
            "imHeight" => info.height = Some(v.parse().with_context(bad)?),
            _ => {}
        }
    }
    Ok(info)
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => bail!("--frame-size {s:?} is not WIDTHxHEIGHT in pixels, e.g. 1920x1080"),
    }
}

pub fn run(config: Option<&Path>, a: &TrackArgs) -> Result<ExitCode> {
    let config = crate::pipeline::load_config(config)?;
    let info = seqinfo(&a.det)?;
    let fps = a.fps.or(info.fps).unwrap_or(30.0);
    if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
        bail!("frame rate {fps} is not in (0, 1000] (from --fps or seqinfo.ini)");
    }
    // Command-line flags override the config's `[tracker]` section.
    let defaults = crate::pipeline::tracker_config(&config);
    let cfg = TrackerConfig {
        high_score: a.high_score.unwrap_or(defaults.high_score),
        low_score: a.low_score.unwrap_or(defaults.low_score),
        new_track_score: a.new_track_score.unwrap_or(defaults.new_track_score),
        max_lost_s: a.max_lost.unwrap_or(defaults.max_lost_s),
        ..defaults
    };
    let mut tracker =
        Tracker::new(cfg).context("tracker settings (config [tracker] and command line)")?;
    let frame_size = match &a.frame_size {
        Some(s) => Some(parse_size(s)?),
        None => info.width.zip(info.height),
    };
    if let Some((w, h)) = frame_size {
        tracker.set_frame_size(w, h);
    }
    let frames = motchallenge::read_detections(&a.det)?;
    let (Some(&first), Some(&last)) = (frames.keys().next(), frames.keys().next_back()) else {
        bail!("{}: no detections", a.det.display());
    };
    // Times in microseconds keep any frame rate exact enough.
    let timescale = 1_000_000u32;
    let mut hyp = MotSequence::default();
    let empty = Vec::new();
    for frame in first..=last {
        let dets = frames.get(&frame).unwrap_or(&empty);
        let ticks = (f64::from(frame) / fps * f64::from(timescale)).round() as i64;
        for t in tracker.update(dets, MediaTime { ticks, timescale })? {
            if t.is_reported() {
                hyp.push(frame, u64::from(t.id.0), t.bbox);
            }
        }
    }
    if a.out.as_os_str() == "-" {
        motchallenge::write_sequence(&mut std::io::stdout().lock(), &hyp)?;
    } else {
        let f = std::fs::File::create(&a.out)
            .with_context(|| format!("creating {}", a.out.display()))?;
        let mut w = BufWriter::new(f);
        motchallenge::write_sequence(&mut w, &hyp)
            .with_context(|| format!("writing {}", a.out.display()))?;
        w.flush()
            .with_context(|| format!("writing {}", a.out.display()))?;
    }
    let stats = tracker.stats();
    eprintln!(
        "{} frames at {fps} fps, {} tracks started, {} confirmed",
        last - first + 1,
        stats.tracks_started,
        stats.tracks_confirmed
    );
    if let Some(gt_path) = &a.gt {
        // As the MOTChallenge server (TrackEval): tracker boxes on distractors are not counted.
        let m = motchallenge::read_ground_truth(gt_path)?.evaluate(&hyp);
        eprintln!(
            "MOTA {:.3}  IDF1 {:.3}  HOTA {:.3}  DetA {:.3}  AssA {:.3}  IDSW {}  FP {}  FN {}",
            m.mota, m.idf1, m.hota, m.deta, m.assa, m.id_switches, m.false_positives, m.misses
        );
    }
    Ok(ExitCode::SUCCESS)
}
