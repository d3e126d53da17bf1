//! Tracker settings study on the synthetic store: IDF1, HOTA and ID switches of the production
//! tracker over several seeds of the standard scenarios, for the default settings or changed
//! ones. A development tool (the product's table is `aisle eval tracking`).
//!
//! `cargo run --release -p aisle-track --example sweep -- [--scenario NAME]... [--seeds N]
//! [--first-seed K] [--per-seed] [--export DIR] [--distinct-clothes] [--perfect-detector] [--noise MODEL]
//! [FIELD=VALUE]...`
//! where FIELD is a numeric `TrackerConfig` setting (e.g. `appearance_gate=0.35
//! max_lost_still_s=15`) or `noise.FIELD` a detector noise setting (e.g. `noise.miss_prob=0`),
//! applied on top of `--noise MODEL` (`default`, `centernet`, `nanodet`, `perfect`).
//! `--export` writes each seed's ground truth, detections and tracks in MOTChallenge text
//! (`DIR/<scenario>-<k>/{gt/gt.txt,det/det.txt,aisle.txt}`) for study with other tools;
//! `--distinct-clothes` and `--perfect-detector` replace the appearance model or the detector
//! to find what limits identity (docs/tracking.md, "Not good enough yet").
#![allow(clippy::print_stdout)]

use aisle_sim::Scenario;
use aisle_track::metrics::{evaluate, remove_ignored, MotSequence};
use aisle_track::motchallenge::write_sequence;
use aisle_track::{Tracker, TrackerConfig};

/// True boxes less visible than this are not expected from the tracker (as `aisle eval`).
const MIN_VISIBILITY: f32 = 0.3;

fn set(cfg: &mut TrackerConfig, field: &str, v: f64) -> Result<(), String> {
    let f = v as f32;
    match field {
        "high_score" => cfg.high_score = f,
        "low_score" => cfg.low_score = f,
        "new_track_score" => cfg.new_track_score = f,
        "match_iou" => cfg.match_iou = f,
        "low_match_iou" => cfg.low_match_iou = f,
        "recovery_iou" => cfg.recovery_iou = f,
        "momentum_weight" => cfg.momentum_weight = f,
        "confirm_hits" => cfg.confirm_hits = v as u32,
        "max_lost_s" => cfg.max_lost_s = v,
        "coast_s" => cfg.coast_s = v,
        "max_lost_still_s" => cfg.max_lost_still_s = v,
        "max_lost_at_edge_s" => cfg.max_lost_at_edge_s = v,
        "appearance_weight" => cfg.appearance_weight = f,
        "appearance_gate" => cfg.appearance_gate = f,
        "reid_distance" => cfg.reid_distance = f,
        "reid_speed" => cfg.reid_speed = f,
        "max_lost_reid_s" => cfg.max_lost_reid_s = v,
        "appearance_momentum" => cfg.appearance_momentum = f,
        "appearance_gate_partial" => cfg.appearance_gate_partial = f,
        _ => return Err(format!("unknown setting {field:?}")),
    }
    Ok(())
}

/// Detector noise changes (`noise.FIELD=VALUE`), for studies of what limits the tracker.
fn set_noise(m: &mut aisle_sim::NoiseModel, field: &str, v: f64) -> Result<(), String> {
    match field {
        "jitter_sigma" => m.jitter_sigma = v,
        "occluded_box_shrink" => m.occluded_box_shrink = v,
        "miss_prob" => m.miss_prob = v,
        "miss_visibility_mid" => m.miss_visibility_mid = v,
        "miss_visibility_width" => m.miss_visibility_width = v,
        "head_weight" => m.head_weight = v,
        "score_visible_mean" => m.score_visible_mean = v,
        "score_occluded_visibility" => m.score_occluded_visibility = v,
        "score_visible_visibility" => m.score_visible_visibility = v,
        "score_occluded_mean" => m.score_occluded_mean = v,
        "score_sigma" => m.score_sigma = v,
        "false_positives_per_frame" => m.false_positives_per_frame = v,
        "static_false_positives" => m.static_false_positives.clear(),
        "duplicate_prob" => m.duplicate_prob = v,
        "merge_prob" => m.merge_prob = v,
        "nms_iou" => m.nms_iou = v,
        _ => return Err(format!("unknown noise setting {field:?}")),
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = TrackerConfig::default();
    let mut names = Vec::new();
    let mut seeds = 10u64;
    let mut per_seed = false;
    let mut first = 0u64;
    let mut distinct = false;
    let mut perfect = false;
    let mut preset: Option<aisle_sim::NoiseModel> = None;
    let mut noise: Vec<(String, f64)> = Vec::new();
    let mut export: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scenario" => names.push(args.next().ok_or("--scenario needs a name")?),
            "--seeds" => seeds = args.next().ok_or("--seeds needs N")?.parse()?,
            "--per-seed" => per_seed = true,
            // Studies of what limits identity: uniformly drawn, pure, steady clothing colours
            // (an appearance model far better than colour names), or a detector that reports
            // exactly the visible truth.
            "--first-seed" => first = args.next().ok_or("--first-seed needs a number")?.parse()?,
            "--distinct-clothes" => distinct = true,
            "--perfect-detector" => perfect = true,
            // A named detector model (`aisle_sim::NOISE_PRESETS`), before any `noise.FIELD`.
            "--noise" => {
                let name = args.next().ok_or("--noise needs a model name")?;
                preset = Some(aisle_sim::NoiseModel::preset(&name).ok_or_else(|| {
                    format!(
                        "unknown detector model {name:?}; known: {}",
                        aisle_sim::NOISE_PRESETS.join(", ")
                    )
                })?);
            }
            "--export" => export = Some(args.next().ok_or("--export needs a folder")?.into()),
            kv => {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("bad argument {kv:?}"))?;
                match k.strip_prefix("noise.") {
                    Some(n) => noise.push((n.to_string(), v.parse()?)),
                    None => set(&mut cfg, k, v.parse()?)?,
                }
            }
        }
    }
    cfg.validate()?;
    if names.is_empty() {
        names.push("moderate".into());
    }
    for name in names {
        let base = Scenario::by_name(&name).ok_or_else(|| format!("unknown scenario {name}"))?;
        let (mut idf1, mut hota, mut idsw) = (0.0, 0.0, 0u64);
        let (mut idp, mut idr, mut prec, mut rec) = (0.0, 0.0, 0.0, 0.0);
        for k in 0..seeds {
            let mut s = base.clone();
            s.seed = base.seed.wrapping_add(first + k);
            if distinct {
                s.appearance = aisle_sim::AppearanceModel::distinct_clothes();
            }
            if let Some(m) = &preset {
                s.noise = m.clone();
            }
            if perfect {
                s.noise = aisle_sim::NoiseModel::perfect();
            }
            for (n, v) in &noise {
                set_noise(&mut s.noise, n, *v)?;
            }
            let sim = aisle_sim::simulate(&s)?;
            let mut gt = MotSequence::default();
            let mut ign = MotSequence::default();
            let mut hyp = MotSequence::default();
            let mut tracker = Tracker::new(cfg)?;
            tracker.set_frame_size(sim.image_width, sim.image_height);
            for f in &sim.frames {
                for t in &f.truth {
                    if t.visibility >= MIN_VISIBILITY {
                        gt.push(f.index + 1, u64::from(t.id), t.bbox);
                    } else {
                        ign.push(f.index + 1, u64::from(t.id), t.bbox);
                    }
                }
                for t in tracker.update_with_appearance(&f.detections, &f.appearance, f.time)? {
                    if t.is_reported() {
                        hyp.push(f.index + 1, u64::from(t.id.0), t.bbox);
                    }
                }
            }
            if let Some(dir) = &export {
                let sub = format!("{name}-{k}");
                write_mot(dir, &sub, &sim, &hyp)?;
            }
            // People hidden more than MIN_VISIBILITY are distractors (as `aisle eval`).
            let m = evaluate(&gt, &remove_ignored(&gt, &ign, &hyp));
            if per_seed {
                println!(
                    "{name} seed {}: IDF1 {:.3} HOTA {:.3} IDSW {}",
                    s.seed, m.idf1, m.hota, m.id_switches
                );
            }
            idf1 += m.idf1;
            hota += m.hota;
            idsw += m.id_switches;
            idp += m.idp;
            idr += m.idr;
            prec += m.precision;
            rec += m.recall;
        }
        let n = seeds as f64;
        println!(
            "{name:9} {seeds} seeds: IDF1 {:.4} HOTA {:.4} IDSW {:.1} \
             (IDP {:.3} IDR {:.3}; precision {:.3} recall {:.3})",
            idf1 / n,
            hota / n,
            idsw as f64 / n,
            idp / n,
            idr / n,
            prec / n,
            rec / n
        );
    }
    Ok(())
}

/// `DIR/NAME/{gt/gt.txt,det/det.txt,aisle.txt}` for the analysis scripts: the truth (class 8 rows:
/// people hidden more than `MIN_VISIBILITY`, not scored), the
/// detections and the tracks that were scored.
fn write_mot(
    dir: &std::path::Path,
    name: &str,
    sim: &aisle_sim::SimOutput,
    tracks: &MotSequence,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("gt"))?;
    std::fs::create_dir_all(root.join("det"))?;
    std::fs::write(
        root.join("gt/gt.txt"),
        aisle_sim::to_motchallenge_gt(sim, MIN_VISIBILITY),
    )?;
    std::fs::write(
        root.join("det/det.txt"),
        aisle_sim::to_motchallenge_det(sim),
    )?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(root.join("aisle.txt"))?);
    write_sequence(&mut out, tracks)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}
