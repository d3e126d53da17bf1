//! `aisle probe`: connect to a camera (or open a file), print what the stream is (codec,
//! resolution, frame rate and GOP length, the last two measured from the access units), then
//! decode the first frames and print each one's result: H.264 with OpenH264, H.265 with FFmpeg.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aisle_video::{
    open_file, AccessUnit, AccessUnitSource, Codec, MediaTime, Nv12Frame, RtspOptions, RtspSource,
    StreamInfo, VideoError,
};
use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// `rtsp://host[:port]/path` or a video file; default: the `url` of `--camera`.
    #[arg(value_name = "URL|FILE")]
    url: Option<String>,
    /// Decode this many frames.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    frames: u64,
    /// RTP transport (default: the camera's `transport`, else tcp).
    #[arg(long, value_parser = ["tcp", "udp"])]
    transport: Option<String>,
    /// A camera of the config: its URL, transport and credentials are used, its id names errors.
    #[arg(long, value_name = "ID")]
    camera: Option<String>,
    /// Seconds to wait for the connection and for each frame.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    timeout: f64,
}

/// Access units read beyond `--frames` at most, to see a second keyframe for the GOP length.
const EXTRA_FOR_GOP: u64 = 300;

enum Input {
    File(Box<dyn AccessUnitSource>),
    Rtsp(Box<RtspSource>),
}

impl Input {
    async fn next(&mut self) -> Result<Option<(AccessUnit, u64)>> {
        Ok(match self {
            Input::File(s) => s.next_access_unit()?.map(|au| (au, 0)),
            Input::Rtsp(s) => s.next().await?.map(|f| (f.au, f.loss)),
        })
    }

    fn info(&self) -> &StreamInfo {
        match self {
            Input::File(s) => s.info(),
            Input::Rtsp(s) => s.info(),
        }
    }
}

pub fn run(config_path: Option<&Path>, args: &ProbeArgs) -> Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        bail!(
            "--timeout {}: must be between 0 and 3600 seconds",
            args.timeout
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(probe(config_path, args))
}

async fn probe(config_path: Option<&Path>, args: &ProbeArgs) -> Result<ExitCode> {
    let timeout = Duration::from_secs_f64(args.timeout);
    let (name, url, transport, credentials) = crate::pipeline::camera_source(
        config_path,
        args.camera.as_deref(),
        args.url.as_deref(),
        args.transport.as_deref(),
    )?;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut input = if url.contains("://") {
        let opts = RtspOptions {
            transport,
            credentials,
            connect_timeout: timeout,
            frame_timeout: Some(timeout),
            ..RtspOptions::new(name.clone(), url.clone())
        };
        let source = RtspSource::connect(opts).await?;
        writeln!(
            out,
            "source: {} (camera {name}, RTSP over {transport})",
            source.url()
        )?;
        Input::Rtsp(Box::new(source))
    } else {
        let source = open_file(&url, aisle_video::DEFAULT_ANNEXB_FPS)?;
        writeln!(out, "source: {url} (file)")?;
        Input::File(source)
    };

    // Read access units: the first --frames to decode, more (up to EXTRA_FOR_GOP) until two
    // keyframes were seen, to measure the GOP length.
    let started = Instant::now();
    let mut kept: Vec<AccessUnit> = Vec::new();
    let mut pts: Vec<MediaTime> = Vec::new();
    let mut keyframes: Vec<u64> = Vec::new();
    let mut loss = 0u64;
    let mut count = 0u64;
    let mut ended = false;
    while count < args.frames + EXTRA_FOR_GOP {
        if count >= args.frames && (keyframes.len() >= 2 || started.elapsed() > timeout) {
            break;
        }
        let Some((au, lost)) = input.next().await? else {
            ended = true;
            break;
        };
        loss += lost;
        if au.is_sync {
            keyframes.push(count);
        }
        pts.push(au.pts);
        if count < args.frames {
            kept.push(au);
        }
        count += 1;
    }
    if count == 0 {
        bail!("{name}: the stream ended before its first access unit");
    }

    let info = input.info().clone();
    writeln!(out, "codec: {} ({})", codec_name(info.codec), info.codec)?;
    writeln!(out, "resolution: {}x{}", info.width, info.height)?;
    match measured_fps(&pts) {
        Some(fps) => writeln!(
            out,
            "frame rate: {fps:.2} fps (median interval of {} access units)",
            pts.len()
        )?,
        None => writeln!(out, "frame rate: unknown (one access unit)")?,
    }
    let gops: Vec<u64> = keyframes.windows(2).map(|w| w[1] - w[0]).collect();
    match gops.as_slice() {
        [] => writeln!(
            out,
            "GOP: unknown (keyframes at access units {keyframes:?} of {count} read)"
        )?,
        [first, rest @ ..] if rest.iter().all(|g| g == first) => {
            writeln!(out, "GOP: {first} frames (measured between keyframes)")?
        }
        _ => writeln!(out, "GOP: varies: {gops:?} frames")?,
    }
    if loss > 0 {
        writeln!(out, "RTP packets lost: {loss}")?;
    }
    if ended && count < args.frames {
        writeln!(out, "the stream ended after {count} access units")?;
    }

    let mut decoder = aisle_video::cpu_decoder(info.codec, name.clone())?;
    let mut decoded = 0u64;
    let mut errors = 0u64;
    let mut report = |out: &mut dyn Write,
                      what: String,
                      result: Result<Vec<Nv12Frame>, VideoError>|
     -> std::io::Result<()> {
        match result {
            Ok(frames) => {
                for f in frames {
                    writeln!(
                        out,
                        "frame {}: decode ok, pts {:.3}s, {}x{}",
                        f.index,
                        f.pts.as_secs_f64(),
                        f.width,
                        f.height
                    )?;
                    decoded += 1;
                }
            }
            Err(e) => {
                writeln!(out, "{what}: decode error: {e}")?;
                errors += 1;
            }
        }
        Ok(())
    };
    for au in &kept {
        report(
            &mut out,
            format!("access unit {}", au.index),
            decoder.decode(au),
        )?;
    }
    report(&mut out, "flush".to_string(), decoder.flush())?;
    writeln!(
        out,
        "decoded {decoded} of {} access units with {}, {errors} errors",
        kept.len(),
        decoder.name()
    )?;
    out.flush()?;
    if errors > 0 || decoded == 0 {
        bail!(
            "{name}: {errors} decode errors, {decoded} frames decoded of {} access units",
            kept.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "h264",
        Codec::H265 => "h265",
        _ => "other",
    }
}

/// Frames per second from presentation times: the inverse of the median interval between
/// consecutive timestamps, so that gaps (access units dropped after packet loss) do not count.
fn measured_fps(pts: &[MediaTime]) -> Option<f64> {
    let mut secs: Vec<f64> = pts.iter().map(MediaTime::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    let mut deltas: Vec<f64> = secs
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .collect();
    if deltas.is_empty() {
        return None;
    }
    deltas.sort_by(f64::total_cmp);
    Some(1.0 / deltas[deltas.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fps_from_timestamps() {
        let pts: Vec<MediaTime> = (0..21)
            .map(|i| MediaTime::new(i * 9000, 90_000).unwrap())
            .collect();
        assert!((measured_fps(&pts).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(measured_fps(&pts[..1]), None);
        // A gap of dropped frames does not lower the rate.
        let gappy: Vec<MediaTime> = pts
            .iter()
            .copied()
            .filter(|t| !(5..15).contains(&(t.ticks / 9000)))
            .collect();
        assert!((measured_fps(&gappy).unwrap() - 10.0).abs() < 1e-9);
    }
}
