//! Distance statistics of the simulated appearance descriptors, in the same form as the
//! real-video calibration (`cargo run --release -p aisled --example appearance_calibration`):
//! the same person at lags of 0.5, 2 and 5 s, and different people in the same frame, counting
//! only confident detections (score >= 0.6) that no other detection overlaps by IoU > 0.1.
//! Detections are labelled with the true person they overlap best (IoU >= 0.5).
//!
//! `cargo run --release -p aisle-sim --example appearance_stats -- [scenario] [seed] [--distinct-clothes]`

#![allow(clippy::print_stdout)]

use aisle_sim::{simulate, Scenario};
use aisle_types::Appearance;

fn pct(v: &mut [f32], p: f64) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let all: Vec<String> = std::env::args().collect();
    let distinct = all.iter().any(|a| a == "--distinct-clothes");
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    let name = args.get(1).map_or("moderate", |a| a.as_str());
    let mut s = Scenario::by_name(name).unwrap_or_else(|| panic!("unknown scenario {name:?}"));
    if let Some(seed) = args.get(2).and_then(|v| v.parse().ok()) {
        s.seed = seed;
    }
    if distinct {
        s.appearance = aisle_sim::AppearanceModel::distinct_clothes();
    }
    let sim = simulate(&s).expect("simulate");
    // Per frame: (person id, descriptor) of clean labelled detections.
    let mut per_frame: Vec<Vec<(u32, Appearance)>> = Vec::new();
    for f in &sim.frames {
        let mut v = Vec::new();
        for (i, d) in f.detections.iter().enumerate() {
            if d.score < 0.6 {
                continue;
            }
            let overlapped = f
                .detections
                .iter()
                .enumerate()
                .any(|(j, e)| j != i && e.bbox.iou(&d.bbox) > 0.1);
            if overlapped {
                continue;
            }
            let best = f
                .truth
                .iter()
                .map(|t| (t.bbox.iou(&d.bbox), t.id))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let (Some((iou, id)), Some(a)) = (best, f.appearance.get(i)) {
                if iou >= 0.5 {
                    v.push((id, *a));
                }
            }
        }
        per_frame.push(v);
    }
    let fps = s.fps;
    let report = |label: &str, mut d: Vec<f32>| {
        let n = d.len();
        let mean = d.iter().sum::<f32>() / n.max(1) as f32;
        println!(
            "{label:<28} n {n:>7}  mean {mean:.3}  p10 {:.3}  p50 {:.3}  p90 {:.3}",
            pct(&mut d, 0.1),
            pct(&mut d, 0.5),
            pct(&mut d, 0.9)
        );
        d
    };
    let mut same2 = Vec::new();
    for lag_s in [0.5, 2.0, 5.0] {
        let lag = (lag_s * fps).round() as usize;
        let mut d = Vec::new();
        for k in lag..per_frame.len() {
            for (id, a) in &per_frame[k] {
                for (id0, b) in &per_frame[k - lag] {
                    if id == id0 {
                        d.extend(a.distance(b));
                    }
                }
            }
        }
        let d = report(&format!("same person, {lag_s} s apart"), d);
        if lag_s == 2.0 {
            same2 = d;
        }
    }
    let mut diff = Vec::new();
    for f in &per_frame {
        for (i, (id, a)) in f.iter().enumerate() {
            for (id2, b) in &f[i + 1..] {
                if id != id2 {
                    diff.extend(a.distance(b));
                }
            }
        }
    }
    let diff = report("different people, same frame", diff);
    // AUC: P(different > same).
    let mut all: Vec<(f32, bool)> = same2.iter().map(|&v| (v, true)).collect();
    all.extend(diff.iter().map(|&v| (v, false)));
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut same_seen, mut pairs) = (0.0f64, 0.0f64);
    for (_, is_same) in &all {
        if *is_same {
            same_seen += 1.0;
        } else {
            pairs += same_seen;
        }
    }
    let auc = pairs / (same2.len() as f64 * diff.len() as f64);
    let thr = pct(&mut same2.clone(), 0.95);
    let below = diff.iter().filter(|&&v| v <= thr).count() as f64 / diff.len().max(1) as f64;
    println!("AUC (same 2 s vs different) {auc:.3}; 95 % of same pairs <= {thr:.3}, and {:.1} % of different pairs", 100.0 * below);
}
