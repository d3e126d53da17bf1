//! `aisle detect`: per-frame detections on a video file or a live camera.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aisle_video::camera::{CameraIngest, IngestOptions, SystemClock};
use aisle_video::{redact_url, RtspOptions, VideoFile};
use aisle_vision::StageTimes;
use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

/// How many of the latest frames the closing timing medians cover.
const TIMING_WINDOW: usize = 4096;

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Video file (H.264 or H.265, in MP4 or as an Annex B stream) or a camera's `rtsp://` URL.
    #[arg(long, value_name = "FILE|URL", required_unless_present = "camera")]
    input: Option<String>,
    /// A camera of the config (`[[cameras]]`): its URL, transport and credentials are used.
    #[arg(long, value_name = "ID")]
    camera: Option<String>,
    /// Frames analysed per second of a camera (evenly chosen; files: see --every).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Detector from the model manifest (default: `detector.model` of the config, `nanodet`).
    #[arg(long)]
    model: Option<String>,
    /// Print one JSON object per frame, with boxes, instead of counts.
    #[arg(long)]
    json: bool,
    /// Stop after this many analysed frames.
    #[arg(long, value_name = "N")]
    max_frames: Option<u64>,
    /// Analyse every Nth frame only (the others are decoded and skipped).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
}

#[derive(Serialize)]
struct JsonBox<'a> {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
    score: f32,
    class: &'a str,
}

#[derive(Serialize)]
struct JsonFrame<'a> {
    frame: u64,
    pts: f64,
    count: usize,
    detections: Vec<JsonBox<'a>>,
}

/// Frames to analyse: decoded from a file, or from a camera through the resilient ingest
/// (reconnects, keyframe waits and outages are handled there and logged).
enum Input {
    File(Box<VideoFile>),
    Camera {
        runtime: tokio::runtime::Runtime,
        ingest: CameraIngest,
    },
}

pub fn run(config_path: Option<&Path>, args: &DetectArgs) -> Result<ExitCode> {
    let config = crate::pipeline::load_config(config_path)?;
    let mut detector = crate::pipeline::build_detector(&config, args.model.as_deref())?;
    let (name, url, transport, credentials) = crate::pipeline::camera_source(
        config_path,
        args.camera.as_deref(),
        args.input.as_deref(),
        None,
    )?;
    let label = config.detector.classes.join("+");
    let input = if url.contains("://") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let rtsp = RtspOptions {
            transport,
            credentials,
            ..RtspOptions::new(name.clone(), url.clone())
        };
        let mut opts = IngestOptions::new(rtsp);
        opts.analysis_fps = Some(args.fps);
        let ingest = {
            let _guard = runtime.enter();
            CameraIngest::spawn(opts, Arc::new(SystemClock::new()))?
        };
        let shown = redact_url(&url);
        let camera = if shown == name {
            name.clone()
        } else {
            format!("{name} ({shown})")
        };
        eprintln!(
            "aisle detect: camera {camera} over {transport}, {} fps analysed, with `{}` on {}; counting {label}",
            args.fps,
            detector.spec().name,
            detector.backend(),
        );
        Input::Camera { runtime, ingest }
    } else {
        let video = VideoFile::open(&url)?;
        let info = video.info();
        eprintln!(
            "aisle detect: {url} ({}x{}, {} frames) with `{}` on {}; counting {label}",
            info.width,
            info.height,
            info.frame_count.map_or("?".to_string(), |n| n.to_string()),
            detector.spec().name,
            detector.backend(),
        );
        Input::File(Box::new(video))
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut dets = Vec::new();
    let mut times = StageTimes::default();
    // The newest timings only: a camera run has no end, and memory must not grow with it.
    let mut stages: VecDeque<StageTimes> = VecDeque::with_capacity(TIMING_WINDOW);
    let mut decode_times: VecDeque<Duration> = VecDeque::with_capacity(TIMING_WINDOW);
    let mut analysed = 0u64;
    let mut total_count = 0usize;
    let mut errors = 0u64;
    let started = Instant::now();
    let (mut file, camera) = match input {
        Input::File(video) => (Some(video), None),
        Input::Camera { runtime, ingest } => (None, Some((runtime, ingest))),
    };
    let mut file_frames = file.as_mut().map(|video| video.frames());
    loop {
        let t0 = Instant::now();
        let next = match (&mut file_frames, &camera) {
            (Some(frames), _) => frames.next(),
            (None, Some((runtime, ingest))) => {
                runtime.block_on(ingest.next_frame()).map(|f| Ok(f.frame))
            }
            (None, None) => None,
        };
        let Some(frame) = next else { break };
        // A damaged access unit costs its frames, not the run: report it and go on (the
        // decoder resumes at the next sync frame). Errors of the file itself end the iteration.
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                eprintln!("warning: {e}");
                errors += 1;
                continue;
            }
        };
        if decode_times.len() == TIMING_WINDOW {
            decode_times.pop_front();
        }
        decode_times.push_back(t0.elapsed());
        if file_frames.is_some() && frame.index % args.every != 0 {
            continue;
        }
        detector.detect_timed(&frame, &mut dets, &mut times)?;
        if stages.len() == TIMING_WINDOW {
            stages.pop_front();
        }
        stages.push_back(times);
        analysed += 1;
        total_count += dets.len();
        let pts = frame.pts.as_secs_f64();
        if args.json {
            let classes = &detector.spec().classes;
            let record = JsonFrame {
                frame: frame.index,
                pts,
                count: dets.len(),
                detections: dets
                    .iter()
                    .map(|d| JsonBox {
                        x1: d.bbox.x1,
                        y1: d.bbox.y1,
                        x2: d.bbox.x2,
                        y2: d.bbox.y2,
                        score: d.score,
                        class: classes.get(d.class_id as usize).map_or("?", |s| s.as_str()),
                    })
                    .collect(),
            };
            serde_json::to_writer(&mut out, &record)?;
            writeln!(out)?;
        } else {
            let ms = (times.preprocess + times.infer + times.postprocess).as_secs_f64() * 1e3;
            writeln!(
                out,
                "frame {:>5}  t={pts:>8.3}s  {label}={:<3} ({ms:.0} ms)",
                frame.index,
                dets.len()
            )?;
        }
        out.flush()?;
        if args.max_frames.is_some_and(|m| analysed >= m) {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    eprintln!(
        "aisle detect: {analysed} frames analysed in {wall:.1} s ({:.1} fps), mean {label} per frame {:.2}; \
         median ms per frame: {} {:.1}, preprocess {:.1}, inference {:.1}, postprocess {:.2}",
        analysed as f64 / wall.max(1e-9),
        total_count as f64 / (analysed.max(1)) as f64,
        // From a camera, frames arrive in real time: the wait includes the camera's pace.
        if camera.is_some() { "frame wait" } else { "decode" },
        median(decode_times.into_iter().collect()),
        median(stages.iter().map(|s| s.preprocess).collect()),
        median(stages.iter().map(|s| s.infer).collect()),
        median(stages.iter().map(|s| s.postprocess).collect()),
    );
    if let Some((runtime, ingest)) = camera {
        let stats = ingest.stats();
        eprintln!(
            "aisle detect: camera {name}: {} frames decoded, {} outages ({} ms down), {} reconnects, {} decoder errors",
            stats.decoded, stats.outages, stats.downtime_ms, stats.reconnect_attempts, stats.decoder_errors
        );
        runtime.block_on(ingest.stop());
    }
    if errors > 0 {
        eprintln!("aisle detect: {errors} decoding error(s) in {name}: see the warnings above");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
