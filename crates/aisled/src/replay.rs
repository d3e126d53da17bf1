//! `aisle replay`: MOTChallenge detections -> tracker -> analytics -> metric records, one JSON
//! line each (what `aisle run` prints, without video or models).
//!
//! Frame `n` of the detection file (numbered from 1) is at `(n - 1) / fps` seconds of media
//! time; every frame from 1 to the last one is given to the tracker, those without detections
//! included. `--start` (default: now) is media time 0 on the wall clock. Detections carry no
//! appearance: the tracker runs on motion alone, as `aisle track` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use aisle_analytics::TrackPoint;
use aisle_track::motchallenge;
use aisle_track::Tracker;
use aisle_types::MediaTime;
use aisle_video::camera::unix_ms;
use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// MOTChallenge detection file: `frame,id,x,y,w,h,score,...` per line, frames from 1.
    #[arg(long, value_name = "FILE")]
    det: PathBuf,
    /// The camera of the config (`[[cameras]]`) whose zones and lines apply.
    #[arg(long, value_name = "ID")]
    camera: String,
    /// Frame rate of the detections: frame n is at (n - 1) / fps seconds.
    #[arg(long, value_name = "F")]
    fps: f64,
    /// Width of the frames the detections are in, pixels.
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(1..))]
    width: u32,
    /// Height of the frames, pixels.
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u32).range(1..))]
    height: u32,
    /// Wall-clock time of frame 1, RFC 3339 (`2026-01-01T09:00:00Z`) or `now` (default).
    #[arg(long, value_name = "RFC3339|now")]
    start: Option<String>,
}

pub fn run(config_path: Option<&Path>, a: &ReplayArgs) -> Result<ExitCode> {
    let Some(path) = config_path else {
        bail!("aisle replay needs --config FILE (with the camera's [[zones]] and [[lines]])");
    };
    let config = crate::pipeline::load_config(Some(path))?;
    if !(a.fps.is_finite() && a.fps > 0.0 && a.fps <= 1000.0) {
        bail!("--fps {} is not in (0, 1000]", a.fps);
    }
    let known = config.cameras.iter().any(|c| c.id == a.camera)
        || config.zones.iter().any(|z| z.camera == a.camera)
        || config.lines.iter().any(|l| l.camera == a.camera);
    if !known {
        let ids: Vec<&str> = config.cameras.iter().map(|c| c.id.as_str()).collect();
        bail!(
            "no camera `{}` in {} (cameras: {})",
            a.camera,
            path.display(),
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        );
    }
    let start_ms = match &a.start {
        Some(s) => crate::run::parse_start(s)?,
        None => unix_ms(SystemTime::now()),
    };
    let mut analytics =
        crate::run::new_analytics(&config, path, &a.camera, a.width, a.height, start_ms)?;
    let mut tracker = Tracker::new(crate::pipeline::tracker_config(&config))
        .context("tracker settings (config [tracker])")?;
    tracker.set_frame_size(a.width, a.height);
    let frames = motchallenge::read_detections(&a.det)?;
    let Some(&last) = frames.keys().next_back() else {
        bail!("{}: no detections", a.det.display());
    };
    let timescale = 1_000_000u32;
    let at = |frame: u32| MediaTime {
        ticks: (f64::from(frame.saturating_sub(1)) / a.fps * f64::from(timescale)).round() as i64,
        timescale,
    };
    let out = crate::run::Sink::lines(std::io::stdout());
    let empty = Vec::new();
    let mut points = Vec::new();
    let mut records = Vec::new();
    let mut emitted = 0u64;
    let mut ids = std::collections::BTreeSet::new();
    for frame in 1..=last {
        let dets = frames.get(&frame).unwrap_or(&empty);
        let t = at(frame);
        points.clear();
        for tr in tracker.update(dets, t)? {
            if tr.is_active() {
                ids.insert(tr.id.0);
                points.push(TrackPoint {
                    id: tr.id.0,
                    bbox: tr.bbox,
                    first_seen: tr.first_seen,
                    appearance: tr.appearance,
                });
            }
        }
        analytics.update(t, &points, &mut records)?;
        emitted += crate::run::emit(&out, &mut records)?;
    }
    // The input ends one frame interval after the last frame.
    analytics.finish(at(last + 1), &mut records);
    emitted += crate::run::emit(&out, &mut records)?;
    tracing::info!(
        camera = %a.camera,
        "{last} frames at {} fps, {} tracks, {emitted} records",
        a.fps,
        ids.len()
    );
    Ok(ExitCode::SUCCESS)
}
