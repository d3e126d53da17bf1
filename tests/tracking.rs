//! Tracking end to end through the `aisle` command line: the synthetic store's scenarios scored
//! against their ground truth (`aisle eval tracking`), and `aisle track` on the same sequences
//! exported as MOTChallenge files.

use std::process::{Command, Output};

use serde_json::Value;

fn aisle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(args)
        .output()
        .expect("aisle runs")
}

fn ok_stdout(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "exit {:?}; stderr:\n{err}",
        o.status.code()
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn assert_clean_failure(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr:\n{err}");
    assert!(!err.contains("panicked"), "panicked:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

fn f(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

#[test]
fn tracker_beats_the_greedy_baseline_on_every_standard_scenario() {
    let out = ok_stdout(&aisle(&["eval", "tracking", "--json"]));
    let results: Vec<Value> = serde_json::from_str(&out).expect("JSON results");
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["quiet", "moderate", "busy", "crowded"]);
    for r in &results {
        let name = r["scenario"].as_str().unwrap();
        for key in ["mota", "idf1", "hota", "deta", "assa"] {
            for who in ["tracker", "baseline"] {
                let x = f(r, &[who, key]);
                assert!((-1.0..=1.0).contains(&x), "{name} {who} {key} = {x}");
            }
        }
        let (ours, base) = (
            f(r, &["tracker", "id_switches"]),
            f(r, &["baseline", "id_switches"]),
        );
        assert!(
            ours < base,
            "{name}: {ours} ID switches, the greedy baseline {base}"
        );
        let (ours, base) = (f(r, &["tracker", "idf1"]), f(r, &["baseline", "idf1"]));
        assert!(
            ours > base + 0.05,
            "{name}: IDF1 {ours} vs the greedy baseline {base}"
        );
        assert!(
            f(r, &["gt_boxes"]) > 1000.0,
            "{name}: too little ground truth"
        );
    }
    // Regression floors: a little under what this tracker measures today (docs/tracking.md).
    // The goal is IDF1 0.90 / HOTA 0.75 on `moderate` (HOTA reached, IDF1 not yet).
    let floors = [
        ("quiet", 0.92, 0.84),
        ("moderate", 0.86, 0.79),
        ("busy", 0.63, 0.60),
        ("crowded", 0.55, 0.52),
    ];
    for (r, (name, idf1, hota)) in results.iter().zip(floors) {
        assert!(
            f(r, &["tracker", "idf1"]) >= idf1,
            "{name}: IDF1 fell below {idf1}: {r}"
        );
        assert!(
            f(r, &["tracker", "hota"]) >= hota,
            "{name}: HOTA fell below {hota}: {r}"
        );
    }
}

#[test]
fn appearance_descriptors_improve_identity_on_the_crowded_scenarios() {
    // The same detections with and without their colour descriptors, three seeds each.
    let run = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec![
            "eval",
            "tracking",
            "--scenario",
            "moderate",
            "--scenario",
            "busy",
            "--seeds",
            "3",
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok_stdout(&aisle(&args))).expect("JSON results")
    };
    let with = run(&[]);
    let without = run(&["--no-appearance"]);
    assert_eq!(with.len(), 6);
    for scenario in ["moderate", "busy"] {
        let mean = |rs: &[Value], key: &str| {
            let v: Vec<f64> = rs
                .iter()
                .filter(|r| r["scenario"] == scenario)
                .map(|r| f(r, &["tracker", key]))
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (a, m) = (mean(&with, "idf1"), mean(&without, "idf1"));
        assert!(
            a > m + 0.04,
            "{scenario}: IDF1 {a} with appearance, {m} without"
        );
        let (a, m) = (mean(&with, "hota"), mean(&without, "hota"));
        assert!(
            a > m + 0.03,
            "{scenario}: HOTA {a} with appearance, {m} without"
        );
    }
}

#[test]
fn track_reruns_an_exported_motchallenge_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let table = ok_stdout(&aisle(&[
        "eval",
        "tracking",
        "--scenario",
        "quiet",
        "--duration",
        "60",
        "--export",
        d.to_str().unwrap(),
    ]));
    assert!(table.contains("quiet") && table.contains("IDF1"), "{table}");
    let seq = d.join("quiet");
    for f in [
        "seqinfo.ini",
        "det/det.txt",
        "gt/gt.txt",
        "aisle.txt",
        "greedy.txt",
    ] {
        assert!(seq.join(f).is_file(), "{f} not exported");
    }
    let out = d.join("tracks.txt");
    let o = aisle(&[
        "track",
        "--det",
        seq.join("det/det.txt").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--gt",
        seq.join("gt/gt.txt").to_str().unwrap(),
    ]);
    ok_stdout(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    // seqinfo.ini gave the frame rate.
    assert!(err.contains("600 frames at 10 fps"), "{err}");
    let idf1: f64 = err
        .split("IDF1 ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no IDF1 in {err}"));
    assert!(idf1 > 0.8, "IDF1 {idf1} on the quiet store");
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows.len() > 500, "{} track rows", rows.len());
    for row in &rows {
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(cols.len(), 10, "{row}");
        assert!(cols[1].parse::<u64>().unwrap() >= 1, "{row}");
    }
}

#[test]
fn several_seeds_give_means_and_deviations() {
    let table = ok_stdout(&aisle(&[
        "eval",
        "tracking",
        "--scenario",
        "quiet",
        "--duration",
        "30",
        "--seeds",
        "3",
    ]));
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("quiet")).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for row in rows {
        assert!(row.contains(" 3 ") && row.contains('±'), "{row}");
    }
    let json = ok_stdout(&aisle(&[
        "eval",
        "tracking",
        "--scenario",
        "quiet",
        "--duration",
        "30",
        "--seeds",
        "3",
        "--json",
    ]));
    let v: Vec<Value> = serde_json::from_str(&json).unwrap();
    let seeds: Vec<u64> = v.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds.len(), 3);
    assert!(seeds.windows(2).all(|w| w[1] == w[0] + 1), "{seeds:?}");
}

#[test]
fn bad_tracking_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    let out = dir.path().join("out.txt");
    let o = aisle(&[
        "track",
        "--det",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, &["nope.txt"]);

    let bad = dir.path().join("det.txt");
    std::fs::write(
        &bad,
        "1,-1,10,20,30,80,0.9,-1,-1,-1\n2,-1,10,twenty,30,80,0.9,-1,-1,-1\n",
    )
    .unwrap();
    let o = aisle(&[
        "track",
        "--det",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, &["det.txt", "2", "twenty"]);

    let good = dir.path().join("good.txt");
    std::fs::write(&good, "1,-1,10,20,30,80,0.9,-1,-1,-1\n").unwrap();
    let o = aisle(&[
        "track",
        "--det",
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--frame-size",
        "big",
    ]);
    assert_clean_failure(&o, &["--frame-size", "big"]);
    let o = aisle(&[
        "track",
        "--det",
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--fps",
        "0",
    ]);
    assert_clean_failure(&o, &["frame rate 0"]);

    let cfg = dir.path().join("aisle.toml");
    std::fs::write(&cfg, "[tracker]\nhigh_score = 0.3\nlow_score = 0.4\n").unwrap();
    let o = aisle(&[
        "--config",
        cfg.to_str().unwrap(),
        "track",
        "--det",
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_clean_failure(&o, &["aisle.toml", "tracker.low_score", "0.4"]);
    std::fs::write(&cfg, "[tracker]\nappearance_gate = 1.5\n").unwrap();
    let o = aisle(&[
        "--config",
        cfg.to_str().unwrap(),
        "eval",
        "tracking",
        "--scenario",
        "quiet",
    ]);
    assert_clean_failure(&o, &["aisle.toml", "tracker.appearance_gate", "1.5"]);

    let o = aisle(&["eval", "tracking", "--scenario", "rush-hour"]);
    assert_clean_failure(&o, &["rush-hour", "quiet, moderate, busy, crowded"]);
    let o = aisle(&["eval", "tracking", "--seeds", "0"]);
    assert_clean_failure(&o, &["--seeds 0"]);
    let o = aisle(&["eval", "tracking", "--min-visibility", "2"]);
    assert_clean_failure(&o, &["--min-visibility 2"]);
    let o = aisle(&["eval", "tracking", "--noise", "yolo"]);
    assert_clean_failure(&o, &["\"yolo\"", "default, centernet, nanodet, perfect"]);
}

#[test]
fn the_product_detectors_measured_models_rank_as_measured() {
    // NanoDet finds partly hidden people far more often than CenterNet (measured on real video,
    // docs/tracking.md), so the tracker keeps identities better behind it in a busy store.
    let mean_idf1 = |noise: &str| -> f64 {
        let out = ok_stdout(&aisle(&[
            "eval",
            "tracking",
            "--scenario",
            "busy",
            "--seeds",
            "3",
            "--noise",
            noise,
            "--json",
        ]));
        let rs: Vec<Value> = serde_json::from_str(&out).expect("JSON results");
        assert_eq!(rs.len(), 3);
        for r in &rs {
            assert_eq!(r["noise"], noise, "{r}");
        }
        rs.iter().map(|r| f(r, &["tracker", "idf1"])).sum::<f64>() / 3.0
    };
    let (centernet, nanodet, default) = (
        mean_idf1("centernet"),
        mean_idf1("nanodet"),
        mean_idf1("default"),
    );
    assert!(
        nanodet > centernet + 0.03,
        "busy IDF1: nanodet {nanodet}, centernet {centernet}"
    );
    assert!(
        default > centernet,
        "busy IDF1: default model {default}, centernet {centernet}"
    );
}
