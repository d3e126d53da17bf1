//! H.265: the MP4 (`hvc1`) and raw Annex B sources, and the FFmpeg decoder (the `ffmpeg`
//! feature, on in `cargo test --workspace` through `aisled`). The FFmpeg decoder is checked
//! against OpenH264 on H.264 (both bit-exact decoders: identical planes) and against the `ffmpeg`
//! command line on H.265.

mod common;

use aisle_video::{
    h265, AccessUnit, AccessUnitSource, AnnexBFileSource, Codec, Mp4FileSource, ANNEXB_TIMESCALE,
};
use common::{media, VTEST_FRAMES, VTEST_HEIGHT, VTEST_WIDTH};

fn all_access_units(src: &mut dyn AccessUnitSource) -> Vec<AccessUnit> {
    let mut out = Vec::new();
    while let Some(au) = src.next_access_unit().unwrap_or_else(|e| panic!("{e}")) {
        out.push(au);
    }
    out
}

fn nal_types(au: &AccessUnit) -> Vec<u8> {
    aisle_video::h264::annexb_nal_units(&au.data)
        .iter()
        .filter_map(|n| h265::nal_unit_type(n))
        .collect()
}

#[test]
fn sources_give_h265_access_units_with_parameter_sets_on_sync_samples() {
    let mut mp4 = Mp4FileSource::open(media("vtest_h265.mp4")).unwrap();
    let info = mp4.info().clone();
    assert_eq!(info.codec, Codec::H265);
    assert_eq!((info.width, info.height), (VTEST_WIDTH, VTEST_HEIGHT));
    assert_eq!(info.frame_count, Some(VTEST_FRAMES as u64));
    let mp4_aus = all_access_units(&mut mp4);

    let mut raw = AnnexBFileSource::open(media("vtest.h265"), 10.0).unwrap();
    let info = raw.info().clone();
    assert_eq!(info.codec, Codec::H265);
    assert_eq!((info.width, info.height), (VTEST_WIDTH, VTEST_HEIGHT));
    assert_eq!(info.timescale, ANNEXB_TIMESCALE);
    let raw_aus = all_access_units(&mut raw);

    assert_eq!(mp4_aus.len(), VTEST_FRAMES);
    assert_eq!(raw_aus.len(), VTEST_FRAMES);
    for (k, (a, b)) in mp4_aus.iter().zip(&raw_aus).enumerate() {
        assert_eq!(a.is_sync, b.is_sync, "AU {k}");
        assert_eq!(a.is_sync, k % 20 == 0, "AU {k} (keyint 20)");
        assert_eq!(b.pts.ticks, k as i64 * 9000, "AU {k}");
        let (ta, tb) = (nal_types(a), nal_types(b));
        if a.is_sync {
            // VPS, SPS, PPS first (hvcC / in-band), then the IRAP slice(s).
            assert_eq!(&ta[..3], &[32, 33, 34], "AU {k}: {ta:?}");
            assert_eq!(&tb[..3], &[32, 33, 34], "AU {k}: {tb:?}");
            assert!(ta.iter().any(|&t| h265::is_irap(t)), "AU {k}: {ta:?}");
        }
        // The same slices in both.
        let slices = |au: &AccessUnit| -> Vec<Vec<u8>> {
            aisle_video::h264::annexb_nal_units(&au.data)
                .into_iter()
                .filter(|n| h265::nal_unit_type(n).is_some_and(h265::is_vcl))
                .map(<[u8]>::to_vec)
                .collect()
        };
        assert_eq!(slices(a), slices(b), "AU {k}");
    }
}

#[cfg(not(feature = "ffmpeg"))]
#[test]
fn without_the_ffmpeg_feature_h265_files_say_how_to_get_a_decoder() {
    for name in ["vtest_h265.mp4", "vtest.h265"] {
        let err = aisle_video::VideoFile::open(media(name)).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                aisle_video::VideoError::NoDecoder {
                    codec: Codec::H265,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            msg.contains(name) && msg.contains("`ffmpeg` feature"),
            "{msg}"
        );
    }
}

#[cfg(feature = "ffmpeg")]
mod with_ffmpeg {
    use std::process::Command;

    use aisle_video::{
        AccessUnit, AccessUnitSource, AnnexBFileSource, Codec, Decoder, FfmpegDecoder,
        Mp4FileSource, Nv12Frame, OpenH264Decoder, VideoError, VideoFile,
    };

    use super::common::{frame_hash, media, Rng, VTEST_FRAMES, VTEST_HEIGHT, VTEST_WIDTH};

    fn decode_file(name: &str) -> Vec<Nv12Frame> {
        let path = media(name);
        let mut video = VideoFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(video.info().codec, Codec::H265);
        assert_eq!(video.decoder_name(), "ffmpeg");
        video
            .frames()
            .map(|f| f.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn decode_with(dec: &mut dyn Decoder, aus: &[AccessUnit]) -> Vec<Nv12Frame> {
        let mut out = Vec::new();
        for au in aus {
            out.extend(dec.decode(au).unwrap_or_else(|e| panic!("{e}")));
        }
        out.extend(dec.flush().unwrap());
        out
    }

    fn access_units(src: &mut dyn AccessUnitSource, n: usize) -> Vec<AccessUnit> {
        let mut out = Vec::new();
        while out.len() < n {
            match src.next_access_unit().unwrap() {
                Some(au) => out.push(au),
                None => break,
            }
        }
        out
    }

    #[test]
    fn h265_mp4_and_annexb_decode_to_the_same_frames_at_k_tenths_of_a_second() {
        let mp4 = decode_file("vtest_h265.mp4");
        let raw = decode_file("vtest.h265");
        assert_eq!(mp4.len(), VTEST_FRAMES);
        assert_eq!(raw.len(), VTEST_FRAMES);
        for (k, (a, b)) in mp4.iter().zip(&raw).enumerate() {
            for f in [a, b] {
                f.validate().unwrap();
                assert_eq!((f.width, f.height), (VTEST_WIDTH, VTEST_HEIGHT));
                assert_eq!(f.index, k as u64);
                // pts = k / 10 s, exactly, in each source's timescale.
                assert_eq!(
                    f.pts.ticks * 10,
                    k as i64 * i64::from(f.pts.timescale),
                    "frame {k}: {}",
                    f.pts
                );
            }
            assert_eq!(frame_hash(a), frame_hash(b), "frame {k}");
        }
        // Not all one colour: the pictures were really decoded.
        let y = &mp4[400].y;
        assert!(y.iter().max().unwrap() - y.iter().min().unwrap() > 100);
    }

    #[test]
    fn ffmpeg_h264_decode_is_identical_to_openh264() {
        // Ten GOPs (keyint 20) keep the test quick; each GOP decodes independently.
        const N: usize = 200;
        let mut src = Mp4FileSource::open(media("vtest.mp4")).unwrap();
        let aus = access_units(&mut src, N);
        let ours = decode_with(
            &mut FfmpegDecoder::with_label(Codec::H264, "vtest.mp4").unwrap(),
            &aus,
        );
        let reference = decode_with(&mut OpenH264Decoder::new().unwrap(), &aus);
        assert_eq!(ours.len(), N);
        assert_eq!(reference.len(), N);
        for (k, (a, b)) in ours.iter().zip(&reference).enumerate() {
            // Both tightly packed: the planes compare as whole vectors.
            assert_eq!(
                (a.width, a.height, a.pts, a.index),
                (b.width, b.height, b.pts, b.index)
            );
            assert!(a.y == b.y, "frame {k}: Y planes differ");
            assert!(a.uv == b.uv, "frame {k}: UV planes differ");
        }
    }

    #[test]
    fn h265_frames_equal_the_ffmpeg_command_line_decode() {
        const N: usize = 25; // crosses the IRAP at frame 20
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-threads", "1", "-i"])
            .arg(media("vtest_h265.mp4"))
            .args([
                "-frames:v",
                &N.to_string(),
                "-f",
                "rawvideo",
                "-pix_fmt",
                "nv12",
                "-",
            ])
            .output()
            .expect("running ffmpeg (installed by scripts/setup.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (w, h) = (VTEST_WIDTH as usize, VTEST_HEIGHT as usize);
        let size = w * h * 3 / 2;
        assert_eq!(out.stdout.len(), N * size);

        let mut src = Mp4FileSource::open(media("vtest_h265.mp4")).unwrap();
        let aus = access_units(&mut src, N);
        let frames = decode_with(
            &mut FfmpegDecoder::with_label(Codec::H265, "vtest_h265.mp4").unwrap(),
            &aus,
        );
        assert_eq!(frames.len(), N);
        for (k, (f, cli)) in frames.iter().zip(out.stdout.chunks(size)).enumerate() {
            assert!(f.y == cli[..w * h], "frame {k}: Y differs from ffmpeg's");
            assert!(f.uv == cli[w * h..], "frame {k}: UV differs from ffmpeg's");
        }
    }

    #[test]
    fn frame_threads_give_the_same_frames() {
        let mut src = Mp4FileSource::open(media("vtest_h265.mp4")).unwrap();
        let aus = access_units(&mut src, 45);
        let one = decode_with(&mut FfmpegDecoder::new(Codec::H265).unwrap(), &aus);
        let many = decode_with(
            &mut FfmpegDecoder::with_threads(Codec::H265, "threads", 3).unwrap(),
            &aus,
        );
        assert_eq!(one.len(), 45);
        assert_eq!(one, many);
    }

    #[test]
    fn mutated_h265_access_units_never_panic_and_a_clean_irap_decodes_afterwards() {
        let mut src = Mp4FileSource::open(media("vtest_h265.mp4")).unwrap();
        let clean = access_units(&mut src, 20);
        let mut rng = Rng::new(265);
        let mut dec = FfmpegDecoder::with_label(Codec::H265, "mutated").unwrap();
        let mut errors = 0;
        for round in 0..300 {
            let mut au = clean[rng.below(clean.len())].clone();
            match round % 3 {
                0 => {
                    for _ in 0..1 + rng.below(40) {
                        let i = rng.below(au.data.len());
                        au.data[i] = rng.next_u64() as u8;
                    }
                }
                1 => {
                    let n = rng.below(au.data.len());
                    au.data.truncate(n);
                }
                _ => {
                    let n = rng.below(2000);
                    au.data = [0, 0, 0, 1].into_iter().chain(rng.bytes(n)).collect();
                    au.is_sync = rng.below(2) == 0;
                }
            }
            au.index = round;
            match dec.decode(&au) {
                Ok(frames) => {
                    for f in frames {
                        f.validate().unwrap();
                    }
                }
                Err(e) => {
                    errors += 1;
                    let msg = e.to_string();
                    assert!(matches!(e, VideoError::Decode { .. }), "{e:?}");
                    assert!(msg.starts_with("mutated: ffmpeg"), "{msg}");
                    assert!(msg.contains(&format!("access unit {round} ")), "{msg}");
                }
            }
        }
        assert!(errors > 0, "no mutation was noticed");
        let _ = dec.flush();

        // A clean stream from its IRAP decodes after all that.
        let mut out = Vec::new();
        for au in &clean {
            out.extend(dec.decode(au).unwrap());
        }
        out.extend(dec.flush().unwrap());
        assert_eq!(out.len(), clean.len());
        let mut fresh = FfmpegDecoder::new(Codec::H265).unwrap();
        let expect = decode_with(&mut fresh, &clean);
        assert!(out
            .iter()
            .zip(&expect)
            .all(|(a, b)| a.y == b.y && a.uv == b.uv));
    }

    #[test]
    fn random_h265_annexb_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.h265");
        let mut src = AnnexBFileSource::open(media("vtest.h265"), 10.0).unwrap();
        let first = src.next_access_unit().unwrap().unwrap();
        // VPS, SPS, PPS of the real stream, so that inputs reach the decoder with garbage slices.
        let headers: Vec<u8> = aisle_video::h264::annexb_nal_units(&first.data)
            .iter()
            .filter(|n| matches!(aisle_video::h265::nal_unit_type(n), Some(32..=34)))
            .flat_map(|n| [0u8, 0, 0, 1].into_iter().chain(n.iter().copied()))
            .collect();
        let mut rng = Rng::new(2265);
        let mut opened = 0;
        for case in 0..150 {
            let mut data = headers.clone();
            for _ in 0..1 + rng.below(6) {
                data.extend_from_slice(&[0, 0, 1]);
                // Plausible headers (IDR, CRA, TRAIL_R, SPS, PPS, AUD, SEI), else random.
                let t = [19u8, 21, 1, 33, 34, 35, 39][rng.below(7)];
                let b0 = if rng.below(4) == 0 {
                    rng.next_u64() as u8
                } else {
                    t << 1
                };
                data.extend_from_slice(&[b0, 0x01]);
                let len = rng.below(3000);
                data.extend(rng.bytes(len));
            }
            std::fs::write(&path, &data).unwrap();
            match AnnexBFileSource::open(&path, 10.0) {
                Ok(mut src) => {
                    opened += 1;
                    assert_eq!(src.info().codec, Codec::H265);
                    let mut dec =
                        FfmpegDecoder::with_label(Codec::H265, format!("case {case}")).unwrap();
                    while let Ok(Some(au)) = src.next_access_unit() {
                        let _ = dec.decode(&au);
                    }
                    let _ = dec.flush();
                }
                Err(e) => assert!(e.to_string().contains("fuzz.h265"), "{e}"),
            }
        }
        assert!(
            opened >= 100,
            "only {opened} of 150 cases got to the decoder"
        );
    }

    /// Encodes 10 frames of `testsrc` at `size` with libx265 into `dir/name`.
    fn x265(dir: &std::path::Path, name: &str, size: &str, extra: &[&str]) -> std::path::PathBuf {
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
            .arg(format!("testsrc=size={size}:rate=10"))
            .args(["-frames:v", "10", "-c:v", "libx265", "-x265-params"])
            .arg("log-level=error:pools=1:frame-threads=1")
            .args(extra)
            .arg(&out)
            .status()
            .expect("running ffmpeg (installed by scripts/setup.sh)");
        assert!(status.success(), "ffmpeg failed for {name}");
        out
    }

    #[test]
    fn odd_sizes_are_cropped_and_10_bit_streams_are_converted_to_nv12() {
        let dir = tempfile::tempdir().unwrap();
        // 322x242 is coded as 328x248 with a conformance window: the SPS parser must crop.
        let odd = x265(
            dir.path(),
            "odd.h265",
            "322x242",
            &["-pix_fmt", "yuv420p", "-f", "hevc"],
        );
        let src = AnnexBFileSource::open(&odd, 10.0).unwrap();
        assert_eq!((src.info().width, src.info().height), (322, 242));
        let mut video = VideoFile::open(&odd).unwrap();
        let frames: Vec<Nv12Frame> = video.frames().map(Result::unwrap).collect();
        assert_eq!(frames.len(), 10);
        assert!(frames.iter().all(|f| (f.width, f.height) == (322, 242)));

        // Main 10 (yuv420p10le) goes through libswscale; compare with ffmpeg's own conversion.
        let ten = x265(
            dir.path(),
            "ten.mp4",
            "320x240",
            &["-pix_fmt", "yuv420p10le", "-tag:v", "hvc1"],
        );
        let mut video = VideoFile::open(&ten).unwrap();
        let frames: Vec<Nv12Frame> = video.frames().map(Result::unwrap).collect();
        assert_eq!(frames.len(), 10);
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-v", "error", "-i"])
            .arg(&ten)
            .args(["-f", "rawvideo", "-pix_fmt", "nv12", "-"])
            .output()
            .unwrap();
        let size = 320 * 240 * 3 / 2;
        assert_eq!(out.stdout.len(), 10 * size);
        for (k, (f, cli)) in frames.iter().zip(out.stdout.chunks(size)).enumerate() {
            assert_eq!((f.width, f.height), (320, 240));
            let ours = f.y.iter().chain(&f.uv);
            let diff: u64 = ours.zip(cli).map(|(&a, &b)| u64::from(a.abs_diff(b))).sum();
            // Rounding / dithering may differ by one level; the pictures are the same.
            assert!(diff <= size as u64, "frame {k}: total difference {diff}");
        }
    }

    #[test]
    fn decoder_for_the_file_codec_and_errors_name_the_stream() {
        // H.264 files keep OpenH264.
        assert_eq!(
            VideoFile::open(media("vtest.mp4")).unwrap().decoder_name(),
            "openh264"
        );
        // Before any sync access unit, others are skipped quietly.
        let mut dec = FfmpegDecoder::with_label(Codec::H265, "cam 3").unwrap();
        let au = AccessUnit {
            data: vec![0, 0, 0, 1, 0x02, 0x01, 0xd0, 0x55],
            pts: aisle_video::MediaTime {
                ticks: 5,
                timescale: 10,
            },
            dts: aisle_video::MediaTime {
                ticks: 5,
                timescale: 10,
            },
            is_sync: false,
            index: 7,
        };
        assert!(dec.decode(&au).unwrap().is_empty());
        assert!(dec.flush().unwrap().is_empty());
        assert_eq!(dec.name(), "ffmpeg");
        assert_eq!(dec.label(), "cam 3");
    }
}
