//! Depacketized camera input -> decoders: what an RTSP source hands on after RTP reassembly.
//!
//! The input is split into access units (a 2-byte little-endian length before each; the first
//! byte selects the codec and flags). Each unit goes to the decoder as Annex B data, marked as
//! a sync sample or not. Decoders must return errors, never panic, and recover at the next
//! sync unit. Run by `scripts/fuzz.sh` (bounded), seeded with real access units of the sample
//! video.
#![no_main]

use aisle_video::{AccessUnit, Codec, Decoder, FfmpegDecoder, MediaTime, OpenH264Decoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let mut decoder: Box<dyn Decoder> = match mode % 3 {
        0 => Box::new(OpenH264Decoder::with_label("fuzz").expect("decoder")),
        1 => Box::new(FfmpegDecoder::with_label(Codec::H264, "fuzz").expect("decoder")),
        _ => Box::new(FfmpegDecoder::with_label(Codec::H265, "fuzz").expect("decoder")),
    };
    let mut index = 0u64;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let flags = rest[2];
        rest = &rest[3..];
        let take = len.min(rest.len());
        let (unit, tail) = rest.split_at(take);
        rest = tail;
        let t = MediaTime::new(index as i64 * 9000, 90_000).expect("timescale");
        let au = AccessUnit {
            data: unit.to_vec(),
            pts: t,
            dts: t,
            is_sync: flags & 1 == 1,
            index,
        };
        let _ = decoder.decode(&au);
        index += 1;
    }
    let _ = decoder.flush();
});
