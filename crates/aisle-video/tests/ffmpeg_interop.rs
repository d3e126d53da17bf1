//! Interoperability with streams written by ffmpeg/x264 in shapes the test video does not cover
//! (B-frames, fragmented MP4, multi-slice pictures, access unit delimiters, formats OpenH264
//! cannot decode). They need Debian's `ffmpeg` (libx264, libx265) on PATH, which
//! `scripts/setup.sh` installs; `make test` runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use aisle_video::{VideoError, VideoFile};

fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc=size=320x240:rate=10")
        .args(["-t", "3"])
        .args(args)
        .arg(&out)
        .status()
        .expect("running ffmpeg (is it installed?)");
    assert!(status.success(), "ffmpeg failed for {name}");
    out
}

fn decode(path: &Path) -> (Vec<aisle_video::Nv12Frame>, Vec<VideoError>) {
    let mut video = VideoFile::open(path).unwrap_or_else(|e| panic!("{e}"));
    let (mut frames, mut errors) = (Vec::new(), Vec::new());
    for f in video.frames() {
        match f {
            Ok(f) => frames.push(f),
            Err(e) => errors.push(e),
        }
    }
    (frames, errors)
}

fn assert_timeline(frames: &[aisle_video::Nv12Frame], n: usize, start_ticks: i64) {
    assert_eq!(frames.len(), n);
    for (k, f) in frames.iter().enumerate() {
        assert_eq!(f.index, k as u64);
        let expect = start_ticks + (k as i64) * i64::from(f.pts.timescale) / 10;
        assert_eq!(f.pts.ticks, expect, "frame {k}");
    }
}

#[test]
fn b_frames_come_out_in_presentation_order_with_their_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let yuv420 = [
        "-c:v",
        "libx264",
        "-profile:v",
        "main",
        "-bf",
        "3",
        "-pix_fmt",
        "yuv420p",
    ];
    let mp4 = ffmpeg(dir.path(), "b.mp4", &yuv420);
    let raw = ffmpeg(
        dir.path(),
        "b.h264",
        &[&yuv420[..], &["-f", "h264"]].concat(),
    );
    // Reference pictures from ffmpeg's decoder, in presentation order.
    let yuv = dir.path().join("b.yuv");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&mp4)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .arg(&yuv)
        .status()
        .unwrap();
    assert!(status.success());
    let reference = std::fs::read(&yuv).unwrap();
    let frame_len = 320 * 240 * 3 / 2;
    for path in [&mp4, &raw] {
        let (frames, errors) = decode(path);
        assert!(errors.is_empty(), "{errors:?}");
        assert_timeline(&frames, 30, 0);
        for (k, f) in frames.iter().enumerate() {
            let y = &reference[k * frame_len..k * frame_len + 320 * 240];
            let diff: u64 = y
                .iter()
                .zip(&f.y)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            // OpenH264 and ffmpeg agree to within rounding on a few pixels; a frame out of order
            // would differ by millions.
            assert!(
                diff < 1000,
                "{}: frame {k} differs from ffmpeg's by {diff}",
                path.display()
            );
        }
    }
}

#[test]
fn fragmented_mp4_multi_slice_and_aud_streams_decode() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10"];
    let frag = ffmpeg(
        dir.path(),
        "frag.mp4",
        &[
            &base[..],
            &["-bf", "0", "-movflags", "frag_keyframe+empty_moov"],
        ]
        .concat(),
    );
    let slices = ffmpeg(
        dir.path(),
        "slices.h264",
        &[&base[..], &["-x264-params", "slices=4", "-f", "h264"]].concat(),
    );
    let aud = ffmpeg(
        dir.path(),
        "aud.h264",
        &[
            &base[..],
            &["-bsf:v", "h264_metadata=aud=insert", "-f", "h264"],
        ]
        .concat(),
    );
    for path in [frag, slices, aud] {
        let (frames, errors) = decode(&path);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        assert_timeline(&frames, 30, 0);
    }
}

#[test]
fn streams_openh264_cannot_decode_are_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "444.h264",
            vec!["-c:v", "libx264", "-pix_fmt", "yuv444p", "-f", "h264"],
            "4:4:4 chroma",
        ),
        (
            "10bit.mp4",
            vec!["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
            "10-bit samples",
        ),
        (
            "interlaced.h264",
            vec![
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-flags",
                "+ildct+ilme",
                "-x264-params",
                "tff=1",
                "-f",
                "h264",
            ],
            "interlaced",
        ),
    ];
    for (name, args, words) in cases {
        let path = ffmpeg(dir.path(), name, &args);
        let (frames, errors) = decode(&path);
        assert!(frames.is_empty());
        let msg = errors.first().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            matches!(errors.first(), Some(VideoError::UnsupportedStream { .. })),
            "{name}: {errors:?}"
        );
        assert!(
            msg.contains(words) && msg.contains("-pix_fmt yuv420p") && msg.contains(name),
            "{msg}"
        );
    }
}

/// H.265 files are read (MP4 `hvc1`, raw Annex B); they decode with the `ffmpeg` feature and
/// otherwise say how to get a decoder (tests/h265.rs has the detailed checks).
#[test]
fn hevc_files_decode_or_name_the_missing_decoder() {
    let dir = tempfile::tempdir().unwrap();
    let mp4 = ffmpeg(
        dir.path(),
        "hevc.mp4",
        &[
            "-c:v",
            "libx265",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
        ],
    );
    let raw = ffmpeg(
        dir.path(),
        "hevc.h265",
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error",
            "-f",
            "hevc",
        ],
    );
    for path in [&mp4, &raw] {
        match VideoFile::open(path) {
            Ok(video) => {
                assert_eq!(video.decoder_name(), "ffmpeg");
                let (frames, errors) = decode(path);
                assert!(errors.is_empty(), "{errors:?}");
                assert_eq!(video.info().codec, aisle_video::Codec::H265);
                assert_timeline(&frames, 30, frames[0].pts.ticks);
            }
            Err(e) => {
                // Only without the `ffmpeg` feature.
                assert!(matches!(e, VideoError::NoDecoder { .. }), "{e:?}");
            }
        }
    }
}
