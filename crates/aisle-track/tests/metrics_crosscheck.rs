//! The Rust metrics against py-motmetrics 1.4.0 (CLEAR MOT, identity) and TrackEval (HOTA) on
//! the same MOTChallenge files, and, for the sequences named `<fixture>+trackeval`, after
//! TrackEval's MOTChallenge pre-processing (tracker boxes on distractors removed:
//! `metrics::remove_ignored`, against `MotChallenge2DBox.get_preprocessed_seq_data`): `tests/golden/motmetrics.json`, written by
//! `scripts/motmetrics_reference.py` (which `make test` re-runs with `--check`, so the golden
//! is the references' real output). Every metric of every sequence must agree to 1e-6.
//!
//! The sequences are our fixtures in `tests/fixtures/mot/`, plus TUD-Campus and TUD-Stadtmitte
//! as shipped inside the motmetrics wheel: those are read from the venv
//! (`$AISLE_CACHE/venv`, built by `scripts/setup.sh`) and skipped with a message without it.

use std::path::{Path, PathBuf};

use aisle_track::metrics::{evaluate, hota_alphas, MotMetrics, MotSequence};
use aisle_track::motchallenge::{parse_sequence, read_ground_truth, read_sequence, write_sequence};
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden() -> Value {
    let path = repo_root().join("tests/golden/motmetrics.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The venv's site-packages (`$AISLE_CACHE/venv/lib/python3.*/site-packages`), if any.
fn site_packages() -> Option<PathBuf> {
    let cache = std::env::var_os("AISLE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/aisle")))?;
    let lib = cache.join("venv/lib");
    std::fs::read_dir(lib)
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.join("motmetrics").is_dir())
}

enum Num {
    Int(u64),
    Float(f64),
    Floats(Vec<f64>),
}

/// Every metric the golden holds, by the golden's (= the Rust field's) name.
fn field(m: &MotMetrics, key: &str) -> Option<Num> {
    use Num::{Float as F, Floats as A, Int as I};
    Some(match key {
        "mota" => F(m.mota),
        "motp" => F(m.motp),
        "idf1" => F(m.idf1),
        "idp" => F(m.idp),
        "idr" => F(m.idr),
        "hota" => F(m.hota),
        "deta" => F(m.deta),
        "assa" => F(m.assa),
        "detre" => F(m.detre),
        "detpr" => F(m.detpr),
        "assre" => F(m.assre),
        "asspr" => F(m.asspr),
        "loca" => F(m.loca),
        "precision" => F(m.precision),
        "recall" => F(m.recall),
        "hota_alpha" => A(m.hota_alpha.to_vec()),
        "deta_alpha" => A(m.deta_alpha.to_vec()),
        "assa_alpha" => A(m.assa_alpha.to_vec()),
        "id_switches" => I(m.id_switches),
        "fragmentations" => I(m.fragmentations),
        "false_positives" => I(m.false_positives),
        "misses" => I(m.misses),
        "matches" => I(m.matches),
        "detections" => I(m.detections),
        "num_gt" => I(m.num_gt),
        "num_gt_ids" => I(m.num_gt_ids),
        "num_hyp" => I(m.num_hyp),
        "num_hyp_ids" => I(m.num_hyp_ids),
        "num_frames" => I(m.num_frames),
        "mostly_tracked" => I(m.mostly_tracked),
        "partially_tracked" => I(m.partially_tracked),
        "mostly_lost" => I(m.mostly_lost),
        "idtp" => I(m.idtp),
        "idfp" => I(m.idfp),
        "idfn" => I(m.idfn),
        "transfers" => I(m.transfers),
        "ascends" => I(m.ascends),
        "migrates" => I(m.migrates),
        _ => return None,
    })
}

/// A golden float: a number, or "NaN" / "Infinity" / "-Infinity".
fn golden_f64(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        _ => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

/// |ours - golden|, 0 when both are the same non-finite value, infinite when they disagree.
fn diff(ours: f64, want: f64) -> f64 {
    if ours.is_finite() && want.is_finite() {
        (ours - want).abs()
    } else if ours.is_nan() && want.is_nan() || ours == want {
        0.0
    } else {
        f64::INFINITY
    }
}

#[test]
#[allow(clippy::print_stderr)] // a summary of the agreement, and the reason for a skip
fn metrics_agree_with_py_motmetrics_and_trackeval() {
    let golden = golden();
    let alphas = hota_alphas();
    let want_alphas: Vec<f64> = golden["hota_alphas"]
        .as_array()
        .unwrap()
        .iter()
        .map(golden_f64)
        .collect();
    assert_eq!(want_alphas.len(), alphas.len());
    for (a, w) in alphas.iter().zip(&want_alphas) {
        assert!((a - w).abs() <= 1e-15, "alpha {a} vs TrackEval {w}");
    }

    let site = site_packages();
    let mut worst: Vec<(String, f64)> = Vec::new();
    let mut checked = Vec::new();
    for s in golden["sequences"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let root = match s["root"].as_str().unwrap() {
            "repo" => repo_root(),
            "site-packages" => match &site {
                Some(p) => p.clone(),
                None => {
                    eprintln!("skipping {name}: no motmetrics in $AISLE_CACHE/venv (run scripts/setup.sh)");
                    continue;
                }
            },
            other => panic!("{name}: unknown root {other}"),
        };
        let gt_path = root.join(s["gt"].as_str().unwrap());
        let hyp = read_sequence(root.join(s["hyp"].as_str().unwrap())).unwrap();
        let m = match s.get("preprocess").and_then(Value::as_str) {
            // TrackEval's MOTChallenge pre-processing first: boxes on distractors removed.
            Some("trackeval") => read_ground_truth(&gt_path).unwrap().evaluate(&hyp),
            None => evaluate(&read_sequence(&gt_path).unwrap(), &hyp),
            Some(other) => panic!("{name}: unknown pre-processing {other}"),
        };
        let metrics = s["metrics"].as_object().unwrap();
        for (key, want) in metrics {
            let ours =
                field(&m, key).unwrap_or_else(|| panic!("golden metric {key} has no Rust field"));
            let d = match ours {
                Num::Int(v) => {
                    assert_eq!(
                        Some(v),
                        want.as_u64(),
                        "{name}.{key}: ours {v}, golden {want}"
                    );
                    0.0
                }
                Num::Float(v) => diff(v, golden_f64(want)),
                Num::Floats(v) => {
                    let w = want.as_array().unwrap();
                    assert_eq!(v.len(), w.len(), "{name}.{key}");
                    v.iter()
                        .zip(w)
                        .map(|(a, b)| diff(*a, golden_f64(b)))
                        .fold(0.0, f64::max)
                }
            };
            assert!(
                d <= TOLERANCE,
                "{name}.{key}: differs from the reference by {d:e}\nours: {m:#?}\ngolden: {want}"
            );
            match worst.iter_mut().find(|(k, _)| k == key) {
                Some((_, w)) => *w = w.max(d),
                None => worst.push((key.clone(), d)),
            }
        }
        assert!(metrics.len() >= 38, "{name}: golden lacks metrics");
        checked.push(name.to_owned());
    }

    // Every fixture folder is in the golden (a new fixture needs `--out` to be re-run).
    let mut fixtures: Vec<String> = std::fs::read_dir(repo_root().join("tests/fixtures/mot"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("gt.txt").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    fixtures.sort();
    for f in &fixtures {
        assert!(
            checked.contains(f),
            "fixture {f} missing from tests/golden/motmetrics.json"
        );
    }
    assert!(fixtures.len() >= 10);
    assert!(
        checked.iter().filter(|n| n.ends_with("+trackeval")).count() >= 2,
        "the pre-processed sequences are missing from the golden"
    );
    eprintln!(
        "checked {} sequences: {}",
        checked.len(),
        checked.join(", ")
    );
    for (k, w) in &worst {
        eprintln!("  max |rust - reference| {k:>18}: {w:.3e}");
    }
}

#[test]
fn tracker_output_written_and_read_back_scores_the_same() {
    let dir = repo_root().join("tests/fixtures/mot/crowd_light");
    let gt = read_sequence(dir.join("gt.txt")).unwrap();
    let hyp = read_sequence(dir.join("hyp.txt")).unwrap();
    let mut text = Vec::new();
    write_sequence(&mut text, &hyp).unwrap();
    let back: MotSequence = parse_sequence(std::str::from_utf8(&text).unwrap(), "written").unwrap();
    assert_eq!(back, hyp);
    assert_eq!(evaluate(&gt, &back), evaluate(&gt, &hyp));
}
