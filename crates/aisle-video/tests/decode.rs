//! Decoding the test video end to end, from MP4 and from the raw H.264 stream.

mod common;

use std::sync::OnceLock;

use aisle_video::{
    open_file, AccessUnit, AccessUnitSource, AnnexBFileSource, Codec, Decoder, Mp4FileSource,
    OpenH264Decoder, VideoFile, ANNEXB_TIMESCALE,
};
use common::{frame_hash, media, relayout, VTEST_FRAMES, VTEST_HEIGHT, VTEST_WIDTH};

/// What a full decode yields, per frame: (index, pts ticks, timescale, width, height, plane hash).
type Decoded = Vec<(u64, i64, u32, u32, u32, u64)>;

fn decode_all(path: &std::path::Path) -> Decoded {
    let mut video = VideoFile::open(path).unwrap_or_else(|e| panic!("{e}"));
    video
        .frames()
        .map(|f| {
            let f = f.unwrap_or_else(|e| panic!("{e}"));
            f.validate().unwrap();
            (
                f.index,
                f.pts.ticks,
                f.pts.timescale,
                f.width,
                f.height,
                frame_hash(&f),
            )
        })
        .collect()
}

/// The MP4 decode, shared by the tests of this binary (decoded once).
fn mp4_decoded() -> &'static Decoded {
    static CELL: OnceLock<Decoded> = OnceLock::new();
    CELL.get_or_init(|| decode_all(&media("vtest.mp4")))
}

fn all_access_units(src: &mut dyn AccessUnitSource) -> Vec<AccessUnit> {
    let mut out = Vec::new();
    while let Some(au) = src.next_access_unit().unwrap_or_else(|e| panic!("{e}")) {
        out.push(au);
    }
    out
}

#[test]
fn mp4_decodes_every_frame_with_presentation_times() {
    let video = VideoFile::open(media("vtest.mp4")).unwrap();
    let info = video.info();
    assert_eq!(info.codec, Codec::H264);
    assert_eq!((info.width, info.height), (VTEST_WIDTH, VTEST_HEIGHT));
    assert_eq!(info.frame_count, Some(VTEST_FRAMES as u64));
    let fps = info.nominal_fps.unwrap();
    assert!((fps - 10.0).abs() < 1e-6, "fps {fps}");
    assert_eq!(video.decoder_name(), "openh264");

    let frames = mp4_decoded();
    assert_eq!(frames.len(), VTEST_FRAMES);
    for (k, &(index, ticks, timescale, w, h, _)) in frames.iter().enumerate() {
        assert_eq!(index, k as u64);
        assert_eq!((w, h), (VTEST_WIDTH, VTEST_HEIGHT));
        // pts == k / 10 s exactly.
        assert_eq!(
            i128::from(ticks) * 10,
            k as i128 * i128::from(timescale),
            "frame {k}: pts {ticks}/{timescale}"
        );
    }
    assert!(
        frames.windows(2).all(|w| w[0].1 < w[1].1),
        "pts not strictly increasing"
    );
}

#[test]
fn annexb_stream_decodes_to_the_same_frames_as_the_mp4() {
    let raw = decode_all(&media("vtest.h264"));
    let mp4 = mp4_decoded();
    assert_eq!(raw.len(), mp4.len());
    for (k, (r, m)) in raw.iter().zip(mp4).enumerate() {
        assert_eq!(r.0, k as u64);
        assert_eq!(r.2, ANNEXB_TIMESCALE);
        assert_eq!(
            i128::from(r.1) * 10,
            k as i128 * i128::from(r.2),
            "frame {k} pts"
        );
        assert_eq!((r.3, r.4, r.5), (m.3, m.4, m.5), "frame {k}: planes differ");
    }
}

#[test]
fn sources_agree_on_access_units() {
    let mut mp4 = Mp4FileSource::open(media("vtest.mp4")).unwrap();
    let mut raw = AnnexBFileSource::open(media("vtest.h264"), 10.0).unwrap();
    assert_eq!(raw.info().timescale, ANNEXB_TIMESCALE);
    assert_eq!(raw.info().frame_count, None);
    assert_eq!(raw.info().nominal_fps, Some(10.0));
    assert_eq!(
        (raw.info().width, raw.info().height),
        (VTEST_WIDTH, VTEST_HEIGHT)
    );
    let a = all_access_units(&mut mp4);
    let b = all_access_units(&mut raw);
    assert_eq!(a.len(), VTEST_FRAMES);
    assert_eq!(b.len(), VTEST_FRAMES);
    assert!(a[0].is_sync && b[0].is_sync);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.index, y.index);
        assert_eq!(x.is_sync, y.is_sync, "AU {}", x.index);
        assert!(x.data.starts_with(&[0, 0, 0, 1]) && y.data.starts_with(&[0, 0, 0, 1]));
        assert!(y.pts == y.dts);
        // Sync samples carry SPS (type 7) and PPS (type 8) in front of the IDR slice.
        if x.is_sync {
            for au in [x, y] {
                let types: Vec<u8> = aisle_video::h264::annexb_nal_units(&au.data)
                    .iter()
                    .map(|n| n[0] & 0x1f)
                    .collect();
                let pos = |t: u8| types.iter().position(|&x| x == t);
                assert!(
                    pos(7) < pos(5) && pos(8) < pos(5) && pos(7).is_some() && pos(8).is_some(),
                    "AU {}: {types:?}",
                    au.index
                );
            }
        }
    }
}

#[test]
fn moov_first_and_moov_last_files_demux_identically() {
    let data = std::fs::read(media("vtest.mp4")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut aus = Vec::new();
    for (name, moov_first) in [("front.mp4", true), ("end.mp4", false)] {
        let path = dir.path().join(name);
        std::fs::write(&path, relayout(&data, moov_first)).unwrap();
        aus.push(all_access_units(&mut Mp4FileSource::open(&path).unwrap()));
    }
    assert_eq!(aus[0].len(), VTEST_FRAMES);
    assert!(aus[0] == aus[1], "access units differ between layouts");
}

#[test]
fn format_is_sniffed_from_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    let fake_mp4 = dir.path().join("really-h264.mp4");
    let fake_h264 = dir.path().join("really-mp4.h264");
    std::fs::copy(media("vtest.h264"), &fake_mp4).unwrap();
    std::fs::copy(media("vtest.mp4"), &fake_h264).unwrap();
    let a = open_file(&fake_mp4, 25.0).unwrap();
    assert_eq!(a.info().timescale, ANNEXB_TIMESCALE);
    assert_eq!(a.info().nominal_fps, Some(25.0));
    let b = open_file(&fake_h264, 25.0).unwrap();
    assert_eq!(b.info().frame_count, Some(VTEST_FRAMES as u64));
    assert_eq!(
        (b.info().width, b.info().height),
        (VTEST_WIDTH, VTEST_HEIGHT)
    );
}

#[test]
fn annexb_timestamps_follow_the_given_rate() {
    let mut src = AnnexBFileSource::open(media("vtest.h264"), 30.0).unwrap();
    for k in 0..10i64 {
        let au = src.next_access_unit().unwrap().unwrap();
        assert_eq!(au.pts.ticks, k * 3000);
    }
}

/// A corrupt access unit is an `Err` naming its index and pts; decoding resumes at the next
/// sync sample, and the frames after it keep their own timestamps.
#[test]
fn decoding_recovers_at_the_next_sync_sample_after_corrupt_data() {
    let mut src = Mp4FileSource::open(media("vtest.mp4")).unwrap();
    let aus = all_access_units(&mut src);
    let syncs: Vec<usize> = aus
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_sync)
        .map(|(i, _)| i)
        .collect();
    assert!(
        syncs.len() >= 2,
        "test video needs at least two sync samples, has {syncs:?}"
    );
    let bad = syncs[0] + 3;
    let next_sync = syncs[1];
    assert!(bad < next_sync);

    let mut dec = OpenH264Decoder::with_label("vtest-corrupt").unwrap();
    let mut rng = common::Rng::new(7);
    let mut frames = Vec::new();
    let mut errors = Vec::new();
    for au in &aus {
        let mut au = au.clone();
        if au.index as usize == bad {
            // Keep the NAL header, scramble the slice data.
            let n = au.data.len();
            let junk = rng.bytes(n - 8);
            au.data[8..].copy_from_slice(&junk);
        }
        match dec.decode(&au) {
            Ok(f) => frames.extend(f),
            Err(e) => errors.push((au.index, e.to_string())),
        }
    }
    frames.extend(dec.flush().unwrap());
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (idx, msg) = &errors[0];
    assert_eq!(*idx as usize, bad);
    assert!(
        msg.contains("vtest-corrupt") && msg.contains(&format!("access unit {bad}")),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}", aus[bad].pts)), "{msg}");
    // Frames before the corrupt AU, then from the next sync sample on.
    assert_eq!(frames.len(), VTEST_FRAMES - (next_sync - bad));
    for f in &frames {
        let k = f.index as usize;
        let au = if k < bad { k } else { k + (next_sync - bad) };
        assert_eq!(f.pts, aus[au].pts, "output frame {k}");
    }
}
