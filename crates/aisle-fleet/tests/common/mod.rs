//! Helpers shared by the spool tests: deterministic payloads and raw access to segment files.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use aisle_fleet::{Entry, Seq, Spool};

/// The topic of entry `i` in the tests.
pub fn topic(i: u64) -> String {
    format!("aisle/v1/site/dev/cam{}/zone{}/metrics", i % 3, i % 7)
}

/// A JSON payload of entry `i`, of varying length (40 to ~300 bytes).
pub fn payload(i: u64) -> Vec<u8> {
    let pad = "x".repeat(((i * 37) % 251) as usize);
    format!(r#"{{"id":"cam/zone/window/{i}","n":{i},"pad":"{pad}"}}"#).into_bytes()
}

/// Every pending entry, asserting none fails to read.
pub fn pending(spool: &Spool) -> Vec<Entry> {
    spool
        .pending()
        .map(|e| e.expect("readable entry"))
        .collect()
}

pub fn pending_seqs(spool: &Spool) -> Vec<u64> {
    spool.pending_seqs().map(|Seq(s)| s).collect()
}

/// Asserts that `entry` is the one the tests append as number `i`.
pub fn assert_entry(entry: &Entry, i: u64) {
    assert_eq!(entry.seq, Seq(i));
    assert_eq!(entry.topic, topic(i), "topic of {i}");
    assert_eq!(entry.payload, payload(i), "payload of {i}");
}

/// Segment files of a spool directory, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Bytes of all segment files.
pub fn disk_bytes(dir: &Path) -> u64 {
    segments(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}
