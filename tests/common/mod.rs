//! Shared helpers of the end-to-end tests: where the set-up put models and media.
//!
//! The test suite always runs after `scripts/setup.sh`, `scripts/fetch-models.sh` and
//! `scripts/fetch-media.sh` (`make test` does all of it); a missing file fails the test with
//! the command to run, never skips it.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn cache_dir() -> PathBuf {
    match std::env::var_os("AISLE_CACHE") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/aisle"),
    }
}

pub fn media(name: &str) -> PathBuf {
    let p = cache_dir().join("media").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-media.sh (or make test)",
        p.display()
    );
    p
}

pub fn model_file(file: &str) -> PathBuf {
    let p = cache_dir().join("models").join(file);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-models.sh (or make test)",
        p.display()
    );
    p
}

pub fn ort_library() -> PathBuf {
    let p = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => cache_dir().join("lib/libonnxruntime.so"),
    };
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh (or make test)",
        p.display()
    );
    p
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
