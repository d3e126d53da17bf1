//! Runs the standard scenarios (or the ones named) and prints people-in-view, visibility and
//! detector statistics and the run time; with `--out DIR` also writes MOTChallenge files
//! (`DIR/<scenario>/gt/gt.txt` with visibility >= 0.25 and `DIR/<scenario>/det/det.txt`).
//!
//! `cargo run --release -p aisle-sim --example simstats -- [--out DIR] [NAME...]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use aisle_sim::{simulate, to_motchallenge_det, to_motchallenge_gt, Scenario};

fn main() {
    let mut out_dir: Option<String> = None;
    let mut names: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--out" {
            out_dir = args.next();
        } else {
            names.push(a);
        }
    }
    let scenarios: Vec<Scenario> = if names.is_empty() {
        Scenario::standard()
    } else {
        names
            .iter()
            .filter_map(|n| {
                let s = Scenario::by_name(n);
                if s.is_none() {
                    eprintln!("no scenario named {n:?}");
                }
                s
            })
            .collect()
    };
    for sc in &scenarios {
        let t0 = Instant::now();
        let out = match simulate(sc) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let inview = out.people_in_view(f32::MIN_POSITIVE);
        let vis50 = out.people_in_view(0.5);
        let n = inview.len() as f64;
        let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / n;
        let truths: Vec<f32> = out
            .frames
            .iter()
            .flat_map(|f| f.truth.iter().map(|t| t.visibility))
            .collect();
        let occluded =
            truths.iter().filter(|v| **v < 0.5).count() as f64 / truths.len().max(1) as f64;
        let dets: usize = out.frames.iter().map(|f| f.detections.len()).sum();
        let low = out
            .frames
            .iter()
            .flat_map(|f| f.detections.iter())
            .filter(|d| d.score < 0.5)
            .count();
        let mut sorted = inview.clone();
        sorted.sort_unstable();
        let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        println!(
            "{:9} {:5} frames {:4} shoppers | in view min {:2} p10 {:2} mean {:5.1} p90 {:2} max {:2} | vis>=0.5 mean {:5.1} max {:2} | vis<0.5 {:4.1}% | dets/frame {:5.1} ({:4.1}% < 0.5) | visits {:5} events {:5} | {:6.1} ms",
            out.scenario,
            out.frames.len(),
            out.shoppers,
            pct(0.0),
            pct(0.1),
            mean(&inview),
            pct(0.9),
            pct(1.0),
            mean(&vis50),
            vis50.iter().max().copied().unwrap_or(0),
            occluded * 100.0,
            dets as f64 / n,
            low as f64 * 100.0 / dets.max(1) as f64,
            out.visits.len(),
            out.events.len(),
            ms
        );
        if let Some(dir) = &out_dir {
            let base = std::path::Path::new(dir).join(&out.scenario);
            let write = |sub: &str, file: &str, text: String| {
                let d = base.join(sub);
                if let Err(e) =
                    std::fs::create_dir_all(&d).and_then(|()| std::fs::write(d.join(file), text))
                {
                    eprintln!("cannot write {}: {e}", d.display());
                    std::process::exit(1);
                }
            };
            write("gt", "gt.txt", to_motchallenge_gt(&out, 0.25));
            write("det", "det.txt", to_motchallenge_det(&out));
        }
    }
}
