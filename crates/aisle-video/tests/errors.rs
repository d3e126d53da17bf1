//! Broken, truncated, foreign and missing files: clear errors naming the file, never a panic.

mod common;

use std::path::{Path, PathBuf};

use aisle_video::{
    open_file, AccessUnitSource, AnnexBFileSource, Mp4FileSource, VideoError, VideoFile,
};
use common::{media, patch_moov, relayout, top_level_boxes};

fn open_err(path: &Path) -> VideoError {
    match VideoFile::open(path) {
        Ok(_) => panic!("{} opened, but an error was expected", path.display()),
        Err(e) => e,
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn assert_names_file(msg: &str, path: &Path) {
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name {}: {msg}",
        path.display()
    );
}

#[test]
fn truncated_copies_of_the_test_video_fail_at_open_with_a_clear_error() {
    let original = std::fs::read(media("vtest.mp4")).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // As given (whatever its layout): the first 60%.
    let cut = &original[..original.len() * 6 / 10];
    let path = write(dir.path(), "vtest-60pct.mp4", cut);
    let msg = open_err(&path).to_string();
    assert_names_file(&msg, &path);
    assert!(msg.contains("truncated"), "{msg}");

    // moov at the front, media data cut: names the first missing sample and the sizes.
    let front = relayout(&original, true);
    let cut_len = front.len() * 6 / 10;
    let path = write(dir.path(), "front-60pct.mp4", &front[..cut_len]);
    let err = open_err(&path);
    let msg = err.to_string();
    assert_names_file(&msg, &path);
    assert!(
        msg.contains("lies beyond the end of the file")
            && msg.contains(&format!("(size {cut_len})"))
            && msg.contains("the file is truncated"),
        "{msg}"
    );
    match err {
        VideoError::Truncated {
            sample,
            offset,
            size,
            file_size,
            ..
        } => {
            assert_eq!(file_size, cut_len as u64);
            assert!(offset + size > file_size);
            assert!(
                sample > 0 && (sample as usize) < common::VTEST_FRAMES,
                "sample {sample}"
            );
            assert!(
                msg.contains(&format!(
                    "sample {sample} at byte offset {offset} (+{size} bytes)"
                )),
                "{msg}"
            );
        }
        other => panic!("expected Truncated, got {other:?}"),
    }

    // moov at the end (how most recorders write), cut: no moov.
    let end = relayout(&original, false);
    let path = write(dir.path(), "end-60pct.mp4", &end[..end.len() * 6 / 10]);
    let err = open_err(&path);
    let msg = err.to_string();
    assert!(matches!(err, VideoError::NoMoov { .. }), "{err:?}");
    assert_names_file(&msg, &path);
    assert!(
        msg.contains("has no moov box (file truncated or still being written?)"),
        "{msg}"
    );
    assert!(
        msg.contains("ffmpeg -i IN -c copy -movflags +faststart OUT"),
        "{msg}"
    );
    assert!(msg.contains("mdat"), "{msg}");
}

#[test]
fn mp4_cut_in_its_moov_or_without_one_reports_no_moov() {
    let original = std::fs::read(media("vtest.mp4")).unwrap();
    let end = relayout(&original, false);
    let dir = tempfile::tempdir().unwrap();
    // Cut inside the trailing moov.
    let path = write(dir.path(), "cut-in-moov.mp4", &end[..end.len() - 100]);
    let msg = open_err(&path).to_string();
    assert!(
        msg.contains("has no moov box") && msg.contains("'moov' box"),
        "{msg}"
    );
    // ftyp + complete mdat, no moov at all.
    let boxes = top_level_boxes(&end);
    let no_moov: Vec<u8> = boxes
        .iter()
        .filter(|b| &b.kind != b"moov")
        .flat_map(|b| b.bytes.iter().copied())
        .collect();
    let path = write(dir.path(), "no-moov.mp4", &no_moov);
    let msg = open_err(&path).to_string();
    assert_names_file(&msg, &path);
    assert!(
        msg.contains("has no moov box") && msg.contains("none of the top-level boxes"),
        "{msg}"
    );
}

#[test]
fn truncation_after_open_is_reported_when_reading() {
    let front = relayout(&std::fs::read(media("vtest.mp4")).unwrap(), true);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "shrinks.mp4", &front);
    let mut video = VideoFile::open(&path).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(front.len() as u64 / 2).unwrap();
    let mut ok = 0;
    let mut errors = Vec::new();
    for f in video.frames() {
        match f {
            Ok(_) => ok += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    assert!(ok > 10 && ok < common::VTEST_FRAMES, "{ok} frames");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_names_file(&errors[0], &path);
    assert!(
        errors[0].contains(&format!("sample {ok} at byte offset")),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("the file is truncated"), "{}", errors[0]);
}

#[test]
fn non_video_files_are_rejected_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = write(
        dir.path(),
        "notes.mp4",
        b"This is not a video.\nJust some text.\n",
    );
    let msg = open_err(&text).to_string();
    assert_names_file(&msg, &text);
    assert!(msg.contains("not a video file this build can read (expected H.264 in MP4, or an H.264 Annex B stream)"), "{msg}");
    assert!(msg.contains("first bytes: 54 68 69 73"), "{msg}");
    assert!(msg.contains("text file"), "{msg}");

    // JPEG/JFIF header (SOI, APP0 "JFIF").
    let mut jpeg = vec![
        0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ];
    jpeg.extend_from_slice(&[0xff, 0xdb, 0x00, 0x43, 0x00]);
    jpeg.extend(std::iter::repeat_n(0x10, 64));
    jpeg.extend_from_slice(&[0xff, 0xd9]);
    let jpg = write(dir.path(), "photo.h264", &jpeg);
    let msg = open_err(&jpg).to_string();
    assert_names_file(&msg, &jpg);
    assert!(msg.contains("ff d8 ff e0") && msg.contains("JPEG"), "{msg}");
    // The source-level entry points agree.
    assert!(open_file(&jpg, 10.0).is_err());
}

#[test]
fn empty_missing_and_directory_paths() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.mp4", b"");
    for err in [
        open_err(&empty),
        Mp4FileSource::open(&empty).unwrap_err(),
        AnnexBFileSource::open(&empty, 10.0).unwrap_err(),
    ] {
        assert!(matches!(err, VideoError::Empty { .. }), "{err:?}");
        let msg = err.to_string();
        assert_names_file(&msg, &empty);
        assert!(msg.contains("empty"), "{msg}");
    }

    let missing = dir.path().join("does-not-exist.mp4");
    for err in [
        open_err(&missing),
        Mp4FileSource::open(&missing).unwrap_err(),
        AnnexBFileSource::open(&missing, 10.0).unwrap_err(),
    ] {
        assert!(matches!(err, VideoError::NotFound { .. }), "{err:?}");
        let msg = err.to_string();
        assert_names_file(&msg, &missing);
        assert!(msg.contains("no such file"), "{msg}");
    }

    let msg = open_err(dir.path()).to_string();
    assert_names_file(&msg, dir.path());
}

#[test]
fn mp4_with_a_non_h264_video_track_names_the_codec() {
    let original = std::fs::read(media("vtest.mp4")).unwrap();
    let front = relayout(&original, true);
    let dir = tempfile::tempdir().unwrap();
    // Pretend the sample entry is MPEG-4 Part 2 video.
    let path = write(
        dir.path(),
        "mpeg4.mp4",
        &patch_moov(&front, b"avc1", b"mp4v"),
    );
    let err = open_err(&path);
    let msg = err.to_string();
    assert!(
        matches!(err, VideoError::UnsupportedCodec { .. }),
        "{err:?}"
    );
    assert_names_file(&msg, &path);
    assert!(
        msg.contains("video is mp4v (track 1)") && msg.contains("decodes only H.264"),
        "{msg}"
    );

    // No video at all: the handler says sound and the entry is unknown.
    let sound = patch_moov(&patch_moov(&front, b"avc1", b"xyzw"), b"vide", b"soun");
    let path = write(dir.path(), "sound.mp4", &sound);
    let err = open_err(&path);
    let msg = err.to_string();
    assert!(matches!(err, VideoError::NoVideoTrack { .. }), "{err:?}");
    assert!(
        msg.contains("has no video track") && msg.contains("xyzw"),
        "{msg}"
    );
}

#[test]
fn corrupt_nal_length_prefix_names_sample_and_offset() {
    let front = relayout(&std::fs::read(media("vtest.mp4")).unwrap(), true);
    // Find sample 3's position with the same parser the crate uses.
    let mp4 = re_mp4::Mp4::read_bytes(&front).unwrap();
    let track = mp4.tracks().values().next().unwrap();
    let s = track.samples[3];
    let mut bad = front.clone();
    let at = s.offset as usize;
    bad[at..at + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad-length.mp4", &bad);
    let mut src = Mp4FileSource::open(&path).unwrap();
    for _ in 0..3 {
        src.next_access_unit().unwrap().unwrap();
    }
    let msg = src.next_access_unit().unwrap_err().to_string();
    assert_names_file(&msg, &path);
    assert!(
        msg.contains(&format!("sample 3 at byte offset {}", s.offset)),
        "{msg}"
    );
    assert!(msg.contains("NAL unit length"), "{msg}");
    // The next sample is still readable.
    assert_eq!(src.next_access_unit().unwrap().unwrap().index, 4);
}

#[test]
fn out_of_range_frame_rate_is_rejected() {
    for fps in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        let msg = AnnexBFileSource::open(media("vtest.h264"), fps)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("frame rate") && msg.contains("vtest.h264"),
            "{msg}"
        );
    }
}
