//! Zone analytics against the synthetic store's ground truth through `aisle eval analytics`:
//! with a perfect detector the analytics themselves must meet the accuracy targets on every
//! standard scenario; with the default (noisy) detector the figures, which then carry the
//! tracker's errors, must not fall below the floors measured when they were set (2026-11-25,
//! docs/analytics.md); lower a floor only with a reason.

use std::process::Command;

use serde_json::Value;

fn eval(extra: &[&str]) -> Vec<Value> {
    let o = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["eval", "analytics", "--json"])
        .args(extra)
        .output()
        .expect("aisle runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "exit {:?}; stderr:\n{err}",
        o.status.code()
    );
    let results: Vec<Value> = serde_json::from_slice(&o.stdout).expect("JSON results");
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["quiet", "moderate", "busy", "crowded"]);
    results
}

fn err(r: &Value, key: &str) -> f64 {
    r["errors"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("errors.{key} is not a number in {}", r["errors"]))
}

/// `(key, bound)` checks on `|error|`, naming the scenario when one fails.
fn check(r: &Value, bounds: &[(&str, f64)]) {
    let name = r["scenario"].as_str().unwrap();
    assert!(
        r["zones_scored"].as_u64().unwrap() >= 10,
        "{name}: zones scored"
    );
    for &(key, bound) in bounds {
        let e = err(r, key);
        assert!(
            e.is_finite() && e.abs() <= bound,
            "{name}: {key} error {e:.4} is over {bound}; errors: {}",
            r["errors"]
        );
    }
}

#[test]
fn with_correct_tracks_the_analytics_meet_the_accuracy_targets() {
    for r in eval(&["--perfect"]) {
        // The targets: dwell 5 %, visitors 3 %, occupancy 0.2 people, transitions 5 %.
        check(
            &r,
            &[
                ("visitors", 0.03),
                ("visits", 0.03),
                ("dwell_p50", 0.05),
                ("dwell_mean", 0.05),
                ("occupancy_mae", 0.02),
                ("transitions", 0.05),
            ],
        );
    }
}

#[test]
fn with_the_default_detector_the_figures_stay_above_their_floors() {
    let results = eval(&[]);
    let floors: [&[(&str, f64)]; 4] = [
        // quiet: 28 visitors, 18 transitions.
        &[
            ("visitors", 0.06),
            ("visits", 0.08),
            ("dwell_p50", 0.05),
            ("occupancy_mae", 0.02),
            ("transitions", 0.03),
        ],
        // moderate: measured -0.5 %, +6.0 %, 8.3 %, 0.057, 0.0 %.
        &[
            ("visitors", 0.03),
            ("visits", 0.09),
            ("dwell_p50", 0.12),
            ("occupancy_mae", 0.10),
            ("transitions", 0.03),
        ],
        // busy: +4.2 %, +14.5 %, 27.6 %, 0.278, +3.0 %.
        &[
            ("visitors", 0.07),
            ("visits", 0.20),
            ("dwell_p50", 0.35),
            ("occupancy_mae", 0.35),
            ("transitions", 0.06),
        ],
        // crowded: +9.1 %, +22.1 %, 24.3 %, 0.321, +28.9 %.
        &[
            ("visitors", 0.12),
            ("visits", 0.28),
            ("dwell_p50", 0.35),
            ("occupancy_mae", 0.40),
            ("transitions", 0.35),
        ],
    ];
    for (r, bounds) in results.iter().zip(floors) {
        check(r, bounds);
    }
}

#[test]
fn unknown_scenarios_and_zero_seeds_are_clear_errors() {
    for (args, needle) in [
        (&["--scenario", "mall"][..], "unknown scenario \"mall\""),
        (&["--seeds", "0"][..], "--seeds 0"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_aisle"))
            .args(["eval", "analytics"])
            .args(args)
            .output()
            .expect("aisle runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(needle) && !err.contains("panicked"), "{err}");
    }
}
