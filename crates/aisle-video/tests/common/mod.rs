//! Shared helpers for the integration tests: locating the test media and rewriting MP4 files.
#![allow(dead_code)]

use std::path::PathBuf;

/// Frames in the test video `vtest` (768x576, 10 fps, H.264 Constrained Baseline).
pub const VTEST_FRAMES: usize = 795;
pub const VTEST_WIDTH: u32 = 768;
pub const VTEST_HEIGHT: u32 = 576;

/// `$AISLE_CACHE/media/<name>` (AISLE_CACHE defaults to `~/.cache/aisle`). Fails the test when
/// the file is missing: the suite runs after set-up, so absent media is an error, not a skip.
pub fn media(name: &str) -> PathBuf {
    let cache = match std::env::var_os("AISLE_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home =
                std::env::var_os("HOME").expect("HOME is not set (needed to find ~/.cache/aisle)");
            PathBuf::from(home).join(".cache").join("aisle")
        }
    };
    let path = cache.join("media").join(name);
    assert!(
        path.is_file(),
        "test media {} is missing: run scripts/fetch-media.sh (it fetches/builds the test videos into $AISLE_CACHE/media)",
        path.display()
    );
    path
}

/// A deterministic xorshift64* generator (no dependency, same sequence everywhere).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A top-level ISO-BMFF box: type, and its bytes (header included).
pub struct TopBox<'a> {
    pub kind: [u8; 4],
    pub offset: usize,
    pub bytes: &'a [u8],
}

/// Splits a complete MP4 into its top-level boxes (32-bit sizes; 64-bit / to-EOF sizes handled).
pub fn top_level_boxes(data: &[u8]) -> Vec<TopBox<'_>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size32 = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
        let size = match size32 {
            0 => data.len() - pos,
            1 => u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap()) as usize,
            n => n,
        };
        assert!(size >= 8 && pos + size <= data.len(), "bad box at {pos}");
        out.push(TopBox {
            kind,
            offset: pos,
            bytes: &data[pos..pos + size],
        });
        pos += size;
    }
    out
}

/// Adds `delta` to every chunk offset (`stco` / `co64`) inside a `moov` box, in place.
fn shift_chunk_offsets(moov: &mut [u8], delta: i64) {
    fn walk(buf: &mut [u8], delta: i64) {
        let mut pos = 0usize;
        while pos + 8 <= buf.len() {
            let size = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = buf[pos + 4..pos + 8].try_into().unwrap();
            assert!(size >= 8 && pos + size <= buf.len(), "bad box in moov");
            let body = &mut buf[pos + 8..pos + size];
            match &kind {
                b"trak" | b"mdia" | b"minf" | b"stbl" => walk(body, delta),
                b"stco" => {
                    let n = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                    for i in 0..n {
                        let at = 8 + 4 * i;
                        let v = u32::from_be_bytes(body[at..at + 4].try_into().unwrap());
                        let v = u32::try_from(i64::from(v) + delta).unwrap();
                        body[at..at + 4].copy_from_slice(&v.to_be_bytes());
                    }
                }
                b"co64" => {
                    let n = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                    for i in 0..n {
                        let at = 8 + 8 * i;
                        let v = u64::from_be_bytes(body[at..at + 8].try_into().unwrap());
                        let v = u64::try_from(v as i64 + delta).unwrap();
                        body[at..at + 8].copy_from_slice(&v.to_be_bytes());
                    }
                }
                _ => {}
            }
            pos += size;
        }
    }
    walk(&mut moov[8..], delta);
}

/// Rewrites a non-fragmented MP4 with its `moov` before (`moov_first`, "faststart") or after the
/// `mdat`, fixing the chunk offsets: the same media in either layout.
pub fn relayout(data: &[u8], moov_first: bool) -> Vec<u8> {
    let boxes = top_level_boxes(data);
    let find = |k: &[u8; 4]| boxes.iter().find(|b| &b.kind == k).expect("box missing");
    let (ftyp, moov, mdat) = (find(b"ftyp"), find(b"moov"), find(b"mdat"));
    let others: Vec<&TopBox> = boxes
        .iter()
        .filter(|b| !matches!(&b.kind, b"ftyp" | b"moov" | b"mdat"))
        .collect();
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(ftyp.bytes);
    let mut moov_bytes = moov.bytes.to_vec();
    let mdat_new_offset = ftyp.bytes.len()
        + others.iter().map(|b| b.bytes.len()).sum::<usize>()
        + if moov_first { moov_bytes.len() } else { 0 };
    shift_chunk_offsets(&mut moov_bytes, mdat_new_offset as i64 - mdat.offset as i64);
    if moov_first {
        out.extend_from_slice(&moov_bytes);
    }
    for b in &others {
        out.extend_from_slice(b.bytes);
    }
    out.extend_from_slice(mdat.bytes);
    if !moov_first {
        out.extend_from_slice(&moov_bytes);
    }
    out
}

/// Replaces every occurrence of `from` inside the top-level `moov` box by `to`.
pub fn patch_moov(data: &[u8], from: &[u8; 4], to: &[u8; 4]) -> Vec<u8> {
    let mut out = data.to_vec();
    let moov = top_level_boxes(data)
        .into_iter()
        .find(|b| &b.kind == b"moov")
        .expect("moov");
    let (start, end) = (moov.offset, moov.offset + moov.bytes.len());
    let mut i = start;
    let mut n = 0;
    while i + 4 <= end {
        if &out[i..i + 4] == from {
            out[i..i + 4].copy_from_slice(to);
            n += 1;
        }
        i += 1;
    }
    assert!(n > 0, "{:?} not found in moov", std::str::from_utf8(from));
    out
}

/// A hash of a frame's planes (only the visible part of each row).
pub fn frame_hash(f: &aisle_video::Nv12Frame) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (f.width, f.height).hash(&mut h);
    let w = f.width as usize;
    for row in f.y.chunks(f.y_stride).take(f.height as usize) {
        row[..w].hash(&mut h);
    }
    let cw = 2 * w.div_ceil(2);
    for row in
        f.uv.chunks(f.uv_stride)
            .take((f.height as usize).div_ceil(2))
    {
        row[..cw].hash(&mut h);
    }
    h.finish()
}
