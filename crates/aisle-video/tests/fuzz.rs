//! Seeded random inputs through the sources and the decoder: errors are fine, panics are not.

mod common;

use aisle_video::{
    AccessUnit, AccessUnitSource, AnnexBFileSource, Decoder, Mp4FileSource, OpenH264Decoder,
};
use common::{media, relayout, top_level_boxes, Rng};

/// The first access unit of the test stream (SPS, PPS, SEI, IDR) as Annex B bytes.
fn first_access_unit() -> AccessUnit {
    let mut src = AnnexBFileSource::open(media("vtest.h264"), 10.0).unwrap();
    src.next_access_unit().unwrap().unwrap()
}

/// Decodes everything a source gives; returns (access units, frames, errors).
fn drain(src: &mut dyn AccessUnitSource, dec: &mut OpenH264Decoder) -> (usize, usize, usize) {
    let (mut aus, mut frames, mut errors) = (0, 0, 0);
    loop {
        match src.next_access_unit() {
            Ok(Some(au)) => {
                aus += 1;
                match dec.decode(&au) {
                    Ok(f) => frames += f.len(),
                    Err(_) => errors += 1,
                }
            }
            Ok(None) => break,
            Err(_) => {
                errors += 1;
                break;
            }
        }
    }
    match dec.flush() {
        Ok(f) => frames += f.len(),
        Err(_) => errors += 1,
    }
    (aus, frames, errors)
}

#[test]
fn random_bytes_after_a_start_code_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.h264");
    let real = first_access_unit();
    // SPS + PPS of the real stream, so that some inputs get past the SPS search and reach the
    // decoder with garbage slices.
    let headers: Vec<u8> = aisle_video::h264::annexb_nal_units(&real.data)
        .iter()
        .filter(|n| matches!(n[0] & 0x1f, 7 | 8))
        .flat_map(|n| [0u8, 0, 0, 1].into_iter().chain(n.iter().copied()))
        .collect();
    let mut rng = Rng::new(2024);
    let mut opened = 0;
    for case in 0..300 {
        let mut data = Vec::new();
        if case % 2 == 1 {
            data.extend_from_slice(&headers);
        }
        let units = 1 + rng.below(6);
        for _ in 0..units {
            data.extend_from_slice(if rng.below(2) == 0 {
                &[0, 0, 1]
            } else {
                &[0, 0, 0, 1]
            });
            // Mostly plausible NAL headers (IDR, non-IDR slice, SPS, PPS, SEI, AUD), else random.
            let header = [0x65, 0x41, 0x67, 0x68, 0x06, 0x09, 0x25, 0x01][rng.below(8)];
            data.push(if rng.below(4) == 0 {
                rng.next_u64() as u8
            } else {
                header
            });
            let len = rng.below(3000);
            data.extend(rng.bytes(len));
        }
        std::fs::write(&path, &data).unwrap();
        match AnnexBFileSource::open(&path, 10.0) {
            Ok(mut src) => {
                opened += 1;
                let mut dec = OpenH264Decoder::with_label(format!("fuzz case {case}")).unwrap();
                drain(&mut src, &mut dec);
            }
            Err(e) => {
                assert!(e.to_string().contains("fuzz.h264"), "{e}");
            }
        }
    }
    assert!(
        opened >= 100,
        "only {opened} of 300 cases got to the decoder"
    );
}

#[test]
fn mutated_access_units_never_panic_and_a_clean_idr_decodes_afterwards() {
    let mut src = Mp4FileSource::open(media("vtest.mp4")).unwrap();
    let clean: Vec<AccessUnit> = (0..20)
        .map(|_| src.next_access_unit().unwrap().unwrap())
        .collect();
    let mut rng = Rng::new(99);
    let mut dec = OpenH264Decoder::new().unwrap();
    for round in 0..200 {
        let mut au = clean[rng.below(clean.len())].clone();
        let flips = 1 + rng.below(40);
        for _ in 0..flips {
            let i = rng.below(au.data.len());
            au.data[i] = rng.next_u64() as u8;
        }
        if rng.below(5) == 0 {
            let keep = rng.below(au.data.len());
            au.data.truncate(keep);
        }
        au.is_sync = round % 3 == 0 || au.is_sync;
        let _ = dec.decode(&au);
    }
    let _ = dec.flush();
    // A pristine IDR (with its parameter sets) still decodes.
    let frames = dec.decode(&clean[0]).expect("clean IDR after garbage");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].pts, clean[0].pts);
}

#[test]
fn mutated_mp4_headers_never_panic() {
    let front = relayout(&std::fs::read(media("vtest.mp4")).unwrap(), true);
    // ftyp + moov only: opening parses the whole sample index, then stops at the missing data.
    let head_len: usize = top_level_boxes(&front)
        .iter()
        .take_while(|b| &b.kind != b"mdat")
        .map(|b| b.bytes.len())
        .sum();
    let head = &front[..head_len];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.mp4");
    let mut rng = Rng::new(4711);
    for _ in 0..300 {
        let mut data = head.to_vec();
        let flips = 1 + rng.below(8);
        for _ in 0..flips {
            let i = rng.below(data.len());
            data[i] = rng.next_u64() as u8;
        }
        if rng.below(4) == 0 {
            let keep = rng.below(data.len());
            data.truncate(keep);
        }
        std::fs::write(&path, &data).unwrap();
        if let Err(e) = Mp4FileSource::open(&path) {
            assert!(e.to_string().contains("fuzz.mp4"), "{e}");
        }
    }
}
