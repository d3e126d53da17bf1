//! `aisle eval tracking`: the tracker against ground truth on the synthetic store's scenarios;
//! `aisle eval analytics` ([`analytics`]): the zone analytics against the store's true visits.
//!
//! Each scenario of `aisle-sim` is simulated (seeded, deterministic), the per-frame detections go
//! through the production tracker and through the IoU-greedy baseline, and both outputs are
//! scored against the true boxes with the MOT metrics of `aisle-track` (MOTA, IDF1, HOTA, ID
//! switches). `--export DIR` also writes each scenario in the MOTChallenge layout
//! (`SCENARIO/seqinfo.ini`, `det/det.txt`, `gt/gt.txt`, and the outputs `aisle.txt`, `greedy.txt`)
//! so other tools can score the same sequences and `aisle track` can re-run them.

mod analytics;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use aisle_sim::{Scenario, SimOutput};
use aisle_track::baseline::{GreedyConfig, GreedyTracker};
use aisle_track::metrics::{MotMetrics, MotSequence};
use aisle_track::motchallenge::GroundTruth;
use aisle_track::{Tracker, TrackerConfig};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    what: EvalWhat,
}

#[derive(Debug, Subcommand)]
enum EvalWhat {
    /// Score the tracker and the IoU-greedy baseline on the synthetic store's scenarios.
    Tracking(TrackingArgs),
    /// Score the zone analytics (visitors, dwell, occupancy, transitions) against the synthetic
    /// store's true zone visits.
    Analytics(analytics::AnalyticsArgs),
}

#[derive(Debug, Args)]
pub struct TrackingArgs {
    /// Scenario to run (repeatable): quiet, moderate, busy, crowded. Default: all of them.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Override the scenarios' random seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the scenarios' length in seconds of store time.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// True boxes less visible than this (occluded by nearer people or cut by the image edge)
    /// are not expected from the tracker: a box on one is neither a match nor a false positive.
    #[arg(long, value_name = "FRACTION", default_value_t = DEFAULT_MIN_VISIBILITY)]
    min_visibility: f32,
    /// Run this many seeds per scenario (from the scenario's seed, or --seed, upwards) and print
    /// the mean and standard deviation of each metric.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seeds: u64,
    /// Detections without appearance descriptors (the tracker on motion alone, as for
    /// MOTChallenge detection files).
    #[arg(long)]
    no_appearance: bool,
    /// The simulated detector: `default` (the generic detector model of the acceptance
    /// figures), `centernet` or `nanodet` (the product's detectors, as measured on real video),
    /// or `perfect`.
    #[arg(long, value_name = "MODEL", default_value = "default")]
    noise: String,
    /// Print JSON instead of the table (one object per scenario and seed).
    #[arg(long)]
    json: bool,
    /// Write each scenario in the MOTChallenge layout under this folder (seqinfo.ini, det/det.txt,
    /// gt/gt.txt, and the tracks of both trackers: aisle.txt, greedy.txt).
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
}

/// Ground truth boxes at least this visible are scored (see `--min-visibility`).
pub const DEFAULT_MIN_VISIBILITY: f32 = 0.3;

#[derive(Debug, Serialize)]
pub struct Row {
    pub mota: f64,
    pub idf1: f64,
    pub hota: f64,
    pub deta: f64,
    pub assa: f64,
    pub motp: f64,
    pub id_switches: u64,
    pub fragmentations: u64,
    pub false_positives: u64,
    pub misses: u64,
}

impl From<&MotMetrics> for Row {
    fn from(m: &MotMetrics) -> Self {
        Self {
            mota: m.mota,
            idf1: m.idf1,
            hota: m.hota,
            deta: m.deta,
            assa: m.assa,
            motp: m.motp,
            id_switches: m.id_switches,
            fragmentations: m.fragmentations,
            false_positives: m.false_positives,
            misses: m.misses,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub seed: u64,
    /// The simulated detector (`--noise`).
    pub noise: String,
    pub frames: usize,
    pub fps: f64,
    pub shoppers: u32,
    pub gt_boxes: u64,
    pub max_in_view: usize,
    pub mean_in_view: f64,
    pub tracker: Row,
    pub baseline: Row,
}

/// The simulated detector named by `--noise`.
pub(crate) fn noise_model(name: &str) -> Result<aisle_sim::NoiseModel> {
    match aisle_sim::NoiseModel::preset(name) {
        Some(m) => Ok(m),
        None => bail!(
            "--noise {name:?} is not a detector model; known: {}",
            aisle_sim::NOISE_PRESETS.join(", ")
        ),
    }
}

/// `config`: its `[tracker]` section tunes the tracker being scored.
pub fn run(config: Option<&std::path::Path>, args: &EvalArgs) -> Result<ExitCode> {
    let config = crate::pipeline::load_config(config)?;
    let tracker = crate::pipeline::tracker_config(&config);
    match &args.what {
        EvalWhat::Tracking(a) => tracking(a, tracker),
        EvalWhat::Analytics(a) => analytics::run(a, tracker, &config.analytics),
    }
}

fn tracking(a: &TrackingArgs, tracker: TrackerConfig) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&a.min_visibility) {
        bail!(
            "--min-visibility {} is not a fraction in [0, 1]",
            a.min_visibility
        );
    }
    let mut scenarios = Vec::new();
    if a.scenarios.is_empty() {
        scenarios = Scenario::standard();
    }
    for name in &a.scenarios {
        let Some(s) = Scenario::by_name(name) else {
            let known: Vec<String> = Scenario::standard().into_iter().map(|s| s.name).collect();
            bail!(
                "unknown scenario {name:?}; known scenarios: {}",
                known.join(", ")
            );
        };
        scenarios.push(s);
    }
    if a.seeds == 0 || (a.seeds > 1 && a.export.is_some()) {
        bail!(
            "--seeds {} is invalid: give at least 1 (and only 1 with --export)",
            a.seeds
        );
    }
    let noise = noise_model(&a.noise)?;
    let mut results = Vec::new();
    for mut s in scenarios {
        if let Some(d) = a.duration {
            s.duration_s = d;
        }
        if a.no_appearance {
            s.appearance.enabled = false;
        }
        s.noise = noise.clone();
        let first = a.seed.unwrap_or(s.seed);
        for k in 0..a.seeds {
            s.seed = first.wrapping_add(k);
            s.validate()?;
            let sim = aisle_sim::simulate(&s)
                .with_context(|| format!("simulating scenario {} (seed {})", s.name, s.seed))?;
            let r = evaluate_scenario(&s, &a.noise, &sim, a.min_visibility, tracker)?;
            if let Some(dir) = &a.export {
                export(dir, &s, &sim, a.min_visibility, tracker)?;
            }
            results.push(r);
        }
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    } else if a.seeds == 1 {
        write_table(&mut out, &results, a.min_visibility, &a.noise)?;
    } else {
        write_summary(&mut out, &results, a.seeds, a.min_visibility, &a.noise)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The ground truth: boxes at least `min_visibility` visible are scored; a tracker box on a
/// person hidden more than that is not counted (a distractor, as TrackEval's MOTChallenge
/// evaluation treats them).
pub fn ground_truth(sim: &SimOutput, min_visibility: f32) -> GroundTruth {
    let mut gt = GroundTruth::default();
    for f in &sim.frames {
        for t in &f.truth {
            let seq = if t.visibility >= min_visibility {
                &mut gt.scored
            } else {
                &mut gt.distractors
            };
            seq.push(f.index + 1, u64::from(t.id), t.bbox);
        }
    }
    gt.others = gt.scored.clone();
    gt
}

/// The production tracker's reported tracks per frame (confirmed and matched, or coasting).
pub fn run_tracker(sim: &SimOutput, cfg: TrackerConfig) -> Result<MotSequence> {
    let mut tracker = Tracker::new(cfg)?;
    tracker.set_frame_size(sim.image_width, sim.image_height);
    let mut hyp = MotSequence::default();
    for f in &sim.frames {
        for t in tracker.update_with_appearance(&f.detections, &f.appearance, f.time)? {
            if t.is_reported() {
                hyp.push(f.index + 1, u64::from(t.id.0), t.bbox);
            }
        }
    }
    Ok(hyp)
}

/// The IoU-greedy baseline's matched tracks per frame.
pub fn run_baseline(sim: &SimOutput) -> MotSequence {
    let mut tracker = GreedyTracker::new(GreedyConfig::default());
    let mut hyp = MotSequence::default();
    for f in &sim.frames {
        for t in tracker.update(&f.detections, f.time) {
            if t.matched {
                hyp.push(f.index + 1, u64::from(t.id), t.bbox);
            }
        }
    }
    hyp
}

/// `noise`: the name of the simulated detector `s` uses (reported with the result).
pub fn evaluate_scenario(
    s: &Scenario,
    noise: &str,
    sim: &SimOutput,
    min_visibility: f32,
    cfg: TrackerConfig,
) -> Result<ScenarioResult> {
    let gt = ground_truth(sim, min_visibility);
    let ours = gt.evaluate(&run_tracker(sim, cfg)?);
    let base = gt.evaluate(&run_baseline(sim));
    let in_view: Vec<usize> = sim
        .frames
        .iter()
        .map(|f| {
            f.truth
                .iter()
                .filter(|t| t.visibility >= min_visibility)
                .count()
        })
        .collect();
    Ok(ScenarioResult {
        scenario: s.name.clone(),
        seed: s.seed,
        noise: noise.to_string(),
        frames: sim.frames.len(),
        fps: s.fps,
        shoppers: sim.shoppers,
        gt_boxes: ours.num_gt,
        max_in_view: in_view.iter().copied().max().unwrap_or(0),
        mean_in_view: in_view.iter().sum::<usize>() as f64 / in_view.len().max(1) as f64,
        tracker: Row::from(&ours),
        baseline: Row::from(&base),
    })
}

fn write_table(
    out: &mut impl Write,
    results: &[ScenarioResult],
    min_visibility: f32,
    noise: &str,
) -> Result<()> {
    writeln!(
        out,
        "scenario  tracker   frames  in view (mean/max)   MOTA   IDF1   HOTA   DetA   AssA  IDSW   Frag     FP     FN"
    )?;
    for r in results {
        for (name, row) in [("aisle", &r.tracker), ("greedy", &r.baseline)] {
            writeln!(
                out,
                "{:<9} {:<8} {:>7}  {:>8.1} / {:<8} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>5} {:>6} {:>6} {:>6}",
                r.scenario,
                name,
                r.frames,
                r.mean_in_view,
                r.max_in_view,
                row.mota,
                row.idf1,
                row.hota,
                row.deta,
                row.assa,
                row.id_switches,
                row.fragmentations,
                row.false_positives,
                row.misses,
            )?;
        }
    }
    writeln!(
        out,
        "(detector: {noise} noise model; ground truth: people at least {:.0}% visible, boxes on people more hidden not counted; IoU 0.5 for MOTA/IDF1, HOTA over IoU 0.05..0.95)",
        min_visibility * 100.0
    )?;
    Ok(())
}

fn mean_sd(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = xs.collect();
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// Mean and standard deviation over seeds, per scenario and tracker.
fn write_summary(
    out: &mut impl Write,
    results: &[ScenarioResult],
    seeds: u64,
    min_visibility: f32,
    noise: &str,
) -> Result<()> {
    writeln!(
        out,
        "scenario  tracker   seeds  in view (mean)  MOTA          IDF1          HOTA          IDSW (mean)"
    )?;
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.scenario.as_str()) {
            names.push(&r.scenario);
        }
    }
    for name in names {
        let rs: Vec<&ScenarioResult> = results.iter().filter(|r| r.scenario == name).collect();
        let (view, _) = mean_sd(rs.iter().map(|r| r.mean_in_view));
        for (label, pick) in [
            (
                "aisle",
                (|r: &ScenarioResult| &r.tracker) as fn(&ScenarioResult) -> &Row,
            ),
            ("greedy", |r: &ScenarioResult| &r.baseline),
        ] {
            let (mota, mota_sd) = mean_sd(rs.iter().map(|r| pick(r).mota));
            let (idf1, idf1_sd) = mean_sd(rs.iter().map(|r| pick(r).idf1));
            let (hota, hota_sd) = mean_sd(rs.iter().map(|r| pick(r).hota));
            let (idsw, _) = mean_sd(rs.iter().map(|r| pick(r).id_switches as f64));
            writeln!(
                out,
                "{name:<9} {label:<8} {:>6}  {view:>13.1}  {mota:.3} ±{mota_sd:.3}  {idf1:.3} ±{idf1_sd:.3}  {hota:.3} ±{hota_sd:.3}  {idsw:>8.1}",
                rs.len()
            )?;
        }
    }
    writeln!(
        out,
        "({seeds} seeds per scenario: mean ± standard deviation; detector: {noise} noise model; ground truth: people at least {:.0}% visible, boxes on people more hidden not counted)",
        min_visibility * 100.0
    )?;
    Ok(())
}

fn export(
    dir: &std::path::Path,
    s: &Scenario,
    sim: &SimOutput,
    min_visibility: f32,
    tracker: TrackerConfig,
) -> Result<()> {
    // The MOTChallenge layout: SEQ/seqinfo.ini, SEQ/det/det.txt, SEQ/gt/gt.txt; the trackers'
    // outputs beside them.
    let d = dir.join(&s.name);
    let write = |name: &str, text: String| -> Result<()> {
        let p = d.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    write(
        "seqinfo.ini",
        format!(
            "[Sequence]\nname={}\nimDir=img1\nframeRate={}\nseqLength={}\nimWidth={}\nimHeight={}\nimExt=.jpg\n",
            s.name,
            s.fps,
            sim.frames.len(),
            sim.image_width,
            sim.image_height
        ),
    )?;
    write("det/det.txt", aisle_sim::to_motchallenge_det(sim))?;
    write(
        "gt/gt.txt",
        aisle_sim::to_motchallenge_gt(sim, min_visibility),
    )?;
    for (name, seq) in [
        ("aisle.txt", run_tracker(sim, tracker)?),
        ("greedy.txt", run_baseline(sim)),
    ] {
        let mut buf = Vec::new();
        aisle_track::motchallenge::write_sequence(&mut buf, &seq)?;
        write(name, String::from_utf8(buf)?)?;
    }
    Ok(())
}
