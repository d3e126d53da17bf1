//! How well the tracker puts the feet of people whose feet are hidden (module documentation of
//! `aisle_track::tracker`, "Hidden feet"), against the synthetic store's true boxes: for every
//! reported box the tracker extended, the estimated and the detector's own bottom edge minus the
//! true one, as a share of the true height; and how straight the camera's height-on-feet line
//! is (the true boxes of people at least 90 % visible, by rows of the image).
//!
//! `cargo run --release -p aisle-track --example feet_study -- [SCENARIO] [--seeds N] [--noise MODEL]`
#![allow(clippy::print_stdout)]

use aisle_sim::Scenario;
use aisle_track::{Tracker, TrackerConfig};

fn quantiles(v: &mut [f32]) -> String {
    v.sort_by(f32::total_cmp);
    let q = |p: f32| v.get(((v.len().max(1) - 1) as f32 * p) as usize).copied();
    match (q(0.1), q(0.5), q(0.9)) {
        (Some(a), Some(b), Some(c)) => format!("{a:+.3} / {b:+.3} / {c:+.3}"),
        _ => "-".into(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut name = "moderate".to_string();
    let mut seeds = 1u64;
    let mut noise = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = args.next().ok_or("--seeds needs N")?.parse()?,
            "--noise" => {
                let n = args.next().ok_or("--noise needs a model")?;
                noise = Some(aisle_sim::NoiseModel::preset(&n).ok_or("unknown detector model")?);
            }
            s => name = s.to_string(),
        }
    }
    let base = Scenario::by_name(&name).ok_or("unknown scenario")?;
    let (mut reported, mut est, mut raw) = (0usize, Vec::new(), Vec::new());
    let mut line_pts: Vec<(f64, f64)> = Vec::new();
    for k in 0..seeds {
        let mut s = base.clone();
        s.seed = base.seed.wrapping_add(k);
        if let Some(m) = &noise {
            s.noise = m.clone();
        }
        let sim = aisle_sim::simulate(&s)?;
        let bottom = sim.image_height as f32 - 2.0;
        let mut tr = Tracker::new(TrackerConfig::default())?;
        tr.set_frame_size(sim.image_width, sim.image_height);
        for f in &sim.frames {
            for g in f.truth.iter().filter(|g| g.visibility > 0.9) {
                if g.bbox.y1 > 2.0 && g.bbox.y2 < bottom {
                    line_pts.push((f64::from(g.bbox.y2), f64::from(g.bbox.height())));
                }
            }
            for t in tr.update_with_appearance(&f.detections, &f.appearance, f.time)? {
                if !t.is_active() {
                    continue;
                }
                reported += 1;
                let (Some(di), true) = (t.detection, t.feet_estimated) else {
                    continue;
                };
                // The true person: the detection's best match (the extended box may overlap the
                // nearer person more).
                let d = f.detections[di as usize].bbox;
                let Some(g) = f
                    .truth
                    .iter()
                    .max_by(|p, q| p.bbox.iou(&d).total_cmp(&q.bbox.iou(&d)))
                else {
                    continue;
                };
                if g.bbox.iou(&d) < 0.3 || g.bbox.y2 >= bottom {
                    continue;
                }
                let h = g.bbox.height();
                est.push((t.bbox.y2 - g.bbox.y2) / h);
                raw.push((d.y2 - g.bbox.y2) / h);
            }
        }
    }
    println!(
        "{name}, {seeds} seed(s): {reported} reported boxes, {} with estimated feet",
        est.len()
    );
    println!(
        "bottom edge minus the true feet, share of the true height (p10 / p50 / p90): estimated {}, detector's {}",
        quantiles(&mut est),
        quantiles(&mut raw)
    );
    let n = line_pts.len() as f64;
    let (sx, sy) = line_pts
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    let (sxx, sxy) = line_pts
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p.0 * p.0, a.1 + p.0 * p.1));
    let b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    let a = (sy - b * sx) / n;
    println!("true heights: h = {a:.1} + {b:.3} x feet row; mean residual by rows:");
    for lo in (0..2000).step_by(80) {
        let r: Vec<f64> = line_pts
            .iter()
            .filter(|p| p.0 >= f64::from(lo) && p.0 < f64::from(lo + 80))
            .map(|p| p.1 / (a + b * p.0) - 1.0)
            .collect();
        if !r.is_empty() {
            println!(
                "  rows {lo}-{}: {:+.3} ({} boxes)",
                lo + 80,
                r.iter().sum::<f64>() / r.len() as f64,
                r.len()
            );
        }
    }
    Ok(())
}
