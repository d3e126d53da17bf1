//! Untrusted detections -> tracker, and untrusted MOTChallenge text -> parser, tracker and metrics.
//!
//! Mode byte 0 (even): the rest is MOTChallenge text; every line that parses goes to the tracker
//! frame by frame, and the parsed sequence is scored against itself and against the tracks.
//! Mode byte 1 (odd): the rest is raw detections, 18 bytes each (frame step, score byte, four
//! little-endian f32 box edges, any bit pattern: NaN, infinities, inverted or huge boxes), fed
//! straight to the tracker. Nothing may panic; the tracker must keep its capacity bounds.
#![no_main]

use aisle_track::metrics::{evaluate, MotSequence};
use aisle_track::motchallenge::{parse_detections_lossy, parse_sequence_lossy, RowFilter};
use aisle_track::{Tracker, TrackerConfig};
use aisle_types::{BBox, Detection, MediaTime};
use libfuzzer_sys::fuzz_target;

fn track(frames: impl Iterator<Item = (u32, Vec<Detection>)>) -> MotSequence {
    let mut tracker = Tracker::new(TrackerConfig::default()).expect("default config");
    tracker.set_frame_size(1280, 720);
    let mut out = MotSequence::default();
    for (frame, dets) in frames {
        let t = MediaTime { ticks: i64::from(frame), timescale: 10 };
        if let Ok(tracks) = tracker.update(&dets, t) {
            assert!(tracks.len() <= aisle_track::tracker::MAX_TRACKS);
            for tr in tracks.iter().filter(|t| t.is_active()) {
                out.push(frame, u64::from(tr.id.0), tr.bbox);
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        let (frames, _errors) = parse_detections_lossy(&text, "fuzz");
        let hyp = track(frames.into_iter());
        let (gt, _errors) = parse_sequence_lossy(&text, "fuzz", RowFilter::MotGroundTruth);
        let _ = evaluate(&gt, &gt);
        let _ = evaluate(&gt, &hyp);
    } else {
        let mut frame = 0u32;
        let mut frames: Vec<(u32, Vec<Detection>)> = Vec::new();
        for c in rest.chunks_exact(18) {
            frame = frame.saturating_add(u32::from(c[0] % 4));
            let f = |i: usize| f32::from_le_bytes([c[2 + i * 4], c[3 + i * 4], c[4 + i * 4], c[5 + i * 4]]);
            let d = Detection { bbox: BBox::new(f(0), f(1), f(2), f(3)), score: f32::from(c[1]) / 255.0, class_id: 0 };
            match frames.last_mut() {
                Some((fr, dets)) if *fr == frame => dets.push(d),
                _ => frames.push((frame, vec![d])),
            }
        }
        let _ = track(frames.into_iter());
    }
});
