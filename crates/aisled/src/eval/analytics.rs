//! `aisle eval analytics`: the zone analytics against the synthetic store's ground truth.
//!
//! Each scenario of `aisle-sim` is simulated; its detections go through the production tracker
//! and [`CameraAnalytics`] with the store's zones (their image polygons, normalised), exactly as
//! on the device, and the published figures are compared with the same figures computed from
//! the simulation's true zone visits (floor positions in floor polygons), taken as the device
//! defines a visit (back within `reentry_gap_s` of stepping out: the same visit; shorter than
//! `min_visit_s`: none):
//!
//! - **visitors**: distinct people per zone and 60 s window, summed over zones and windows;
//! - **visits**: visits started, summed;
//! - **dwell**: per zone with at least [`MIN_VISITS_FOR_DWELL`] completed true visits, the
//!   relative error of the median (p50) and of the mean dwell of the report window (the whole
//!   scenario), and the median of those errors over zones;
//! - **occupancy**: mean absolute error of the mean occupancy per zone and window (people);
//! - **transitions**: zone-to-zone transition counts (the rule of `aisle-analytics`: the next
//!   zone entered after leaving one), totals and the L1 error over (from, to) pairs.
//!
//! Only zones the camera sees whole are scored (a zone partly out of view cannot be measured
//! from this camera; the table lists them). Privacy is off for the measurement (k = 1): it
//! decides what is published, not what is computed. `--noise` picks the simulated detector:
//! `perfect` reports exactly the visible truth, to separate the analytics' own error from the
//! tracker's; `centernet` and `nanodet` behave as the product's detectors measured on real video.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;

use aisle_analytics::{CameraAnalytics, TrackPoint};
use aisle_config::{AnalyticsConfig, ZoneConfig};
use aisle_sim::{Scenario, SimOutput};
use aisle_track::{Tracker, TrackerConfig};
use aisle_types::metrics::{dwell_bucket, rfc3339_utc, MetricRecord, Period, DWELL_HISTOGRAM_LEN};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

/// A zone's dwell is scored when at least this many true visits to it ended.
pub const MIN_VISITS_FOR_DWELL: usize = 5;

/// 2026-01-01T00:00:00Z: media time 0 of every scenario, on an hour boundary so that the
/// one-hour report window holds the whole scenario.
const EPOCH_UNIX_S: i64 = 1_767_225_600;
const CAMERA: &str = "sim";

#[derive(Debug, Args)]
pub struct AnalyticsArgs {
    /// Scenario to run (repeatable): quiet, moderate, busy, crowded. Default: all of them.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Override the scenarios' random seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Run this many seeds per scenario (from the scenario's seed, or --seed, upwards); the
    /// table pools them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seeds: u64,
    /// Override the scenarios' length in seconds of store time.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// The simulated detector: `default` (the generic detector model of the acceptance
    /// figures), `centernet` or `nanodet` (the product's detectors, as measured on real video),
    /// or `perfect` (exactly the visible truth: isolates the analytics' own error).
    #[arg(long, value_name = "MODEL", default_value = "default")]
    noise: String,
    /// Same as `--noise perfect`.
    #[arg(long, conflicts_with = "noise")]
    perfect: bool,
    /// A study of what limits the figures: `identity` gives every track box the identity of the
    /// true person it covers (the tracker's boxes, its identity errors removed); `visible=V`
    /// feeds the analytics the true boxes and identities of everybody at least V (0..1)
    /// visible, with no detector and no tracker (a perfect tracker behind a detector that finds
    /// exactly those people).
    #[arg(long, value_name = "ORACLE", value_parser = parse_oracle)]
    oracle: Option<Oracle>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

/// What `--oracle` replaces by the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Oracle {
    /// Each track box takes the identity of the true person it overlaps most.
    Identity,
    /// The true boxes and identities of people at least this visible; no tracker.
    Visible(f32),
}

fn parse_oracle(s: &str) -> std::result::Result<Oracle, String> {
    if s == "identity" {
        return Ok(Oracle::Identity);
    }
    if let Some(v) = s.strip_prefix("visible=") {
        return match v.parse::<f32>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(Oracle::Visible(x)),
            _ => Err(format!(
                "`{v}` in --oracle {s}: the visibility must be a number from 0 to 1"
            )),
        };
    }
    Err(format!(
        "unknown oracle `{s}`: use `identity` or `visible=V` (V from 0 to 1)"
    ))
}

/// Overlap a track box needs with a true box to take its identity (`--oracle identity`).
const ORACLE_MIN_IOU: f32 = 0.3;
/// Identities given by an oracle: the true person's id plus this (track ids count from 1 and
/// stay far below it), and boxes on nobody keep their track id plus twice this.
const ORACLE_ID_BASE: u32 = 1 << 28;

/// Relabels `points` (one frame's track boxes) by `--oracle identity`: one-to-one, the pairs of
/// largest overlap first, each box takes the true person's identity; a box on nobody keeps its
/// track's. `first_seen` becomes when the identity was first reported.
fn oracle_identity(
    points: &mut [TrackPoint],
    truth: &[aisle_sim::TruthBox],
    now: aisle_types::MediaTime,
    first: &mut HashMap<u32, aisle_types::MediaTime>,
) {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        for (k, t) in truth.iter().enumerate() {
            let o = p.bbox.iou(&t.bbox);
            if o >= ORACLE_MIN_IOU {
                pairs.push((o, i, k));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut person: Vec<Option<u32>> = vec![None; points.len()];
    let mut taken = vec![false; truth.len()];
    for (_, i, k) in pairs {
        if person[i].is_none() && !taken[k] {
            person[i] = Some(truth[k].id);
            taken[k] = true;
        }
    }
    for (p, who) in points.iter_mut().zip(person) {
        p.id = match who {
            Some(id) => ORACLE_ID_BASE + id,
            None => 2 * ORACLE_ID_BASE + p.id,
        };
        p.first_seen = *first.entry(p.id).or_insert(now);
    }
}

/// One scenario's comparison (pooled over seeds).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AnalyticsResult {
    pub scenario: String,
    pub seeds: u64,
    /// Zones scored / zones of the store.
    pub zones_scored: usize,
    pub zones_total: usize,
    /// Visitors per zone and window, summed.
    pub visitors_true: u64,
    pub visitors_est: u64,
    /// Visits started, summed over zones.
    pub visits_true: u64,
    pub visits_est: u64,
    /// Per zone relative errors of the p50 and mean dwell (zones with enough visits).
    pub dwell_p50_errors: Vec<f64>,
    pub dwell_mean_errors: Vec<f64>,
    /// |estimated - true| mean occupancy per zone and window.
    pub occupancy_abs_errors: Vec<f64>,
    pub transitions_true: u64,
    pub transitions_est: u64,
    /// Sum over (from, to) pairs of |estimated - true|.
    pub transitions_l1: u64,
    /// The errors derived from the sums above (filled before output).
    pub errors: Errors,
    /// Per zone and seed: the figures behind the errors.
    pub zones: Vec<ZoneRow>,
}

/// A scenario's errors: relative ones signed (estimated - true) / true, except the medians of
/// absolute per-zone dwell errors and the L1 transition error.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Errors {
    pub visitors: f64,
    pub visits: f64,
    pub dwell_p50: f64,
    pub dwell_mean: f64,
    pub occupancy_mae: f64,
    pub transitions: f64,
    pub transitions_l1: f64,
}

/// One zone of one run: true and estimated figures over the whole scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ZoneRow {
    pub zone: String,
    pub seed: u64,
    pub visits_true: u64,
    pub visits_est: u64,
    pub visitors_true: u64,
    pub visitors_est: u64,
    pub dwell_p50_true: Option<f64>,
    pub dwell_p50_est: Option<f64>,
    pub dwell_mean_true: Option<f64>,
    pub dwell_mean_est: Option<f64>,
    /// Person-seconds over the scenario.
    pub person_s_true: f64,
    pub person_s_est: f64,
    /// Ended visits per dwell bucket (`DWELL_BUCKETS_S`) over the scenario.
    pub dwell_histogram_true: Vec<u32>,
    pub dwell_histogram_est: Vec<u32>,
}

impl AnalyticsResult {
    pub fn visitor_error(&self) -> f64 {
        rel(self.visitors_est as f64, self.visitors_true as f64)
    }
    pub fn visit_error(&self) -> f64 {
        rel(self.visits_est as f64, self.visits_true as f64)
    }
    pub fn dwell_p50_error(&self) -> f64 {
        median(&self.dwell_p50_errors)
    }
    pub fn dwell_mean_error(&self) -> f64 {
        median(&self.dwell_mean_errors)
    }
    pub fn occupancy_mae(&self) -> f64 {
        let n = self.occupancy_abs_errors.len().max(1) as f64;
        self.occupancy_abs_errors.iter().sum::<f64>() / n
    }
    pub fn transition_error(&self) -> f64 {
        rel(self.transitions_est as f64, self.transitions_true as f64)
    }
    pub fn transition_l1_error(&self) -> f64 {
        if self.transitions_true == 0 {
            return 0.0;
        }
        self.transitions_l1 as f64 / self.transitions_true as f64
    }

    fn absorb(&mut self, o: AnalyticsResult) {
        self.seeds += o.seeds;
        self.zones_scored = o.zones_scored;
        self.zones_total = o.zones_total;
        self.visitors_true += o.visitors_true;
        self.visitors_est += o.visitors_est;
        self.visits_true += o.visits_true;
        self.visits_est += o.visits_est;
        self.dwell_p50_errors.extend(o.dwell_p50_errors);
        self.dwell_mean_errors.extend(o.dwell_mean_errors);
        self.occupancy_abs_errors.extend(o.occupancy_abs_errors);
        self.transitions_true += o.transitions_true;
        self.transitions_est += o.transitions_est;
        self.transitions_l1 += o.transitions_l1;
        self.zones.extend(o.zones);
    }
}

/// Signed relative error `(est - truth) / truth` (0 when both are 0).
fn rel(est: f64, truth: f64) -> f64 {
    if truth == 0.0 {
        return if est == 0.0 { 0.0 } else { f64::INFINITY };
    }
    (est - truth) / truth
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub fn run(
    a: &AnalyticsArgs,
    tracker: TrackerConfig,
    settings: &AnalyticsConfig,
) -> Result<ExitCode> {
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
    if a.seeds == 0 {
        bail!("--seeds 0 is invalid: give at least 1");
    }
    let noise_name = if a.perfect {
        "perfect"
    } else {
        a.noise.as_str()
    };
    let noise = super::noise_model(noise_name)?;
    let mut results = Vec::new();
    for mut s in scenarios {
        if let Some(d) = a.duration {
            s.duration_s = d;
        }
        s.noise = noise.clone();
        let first = a.seed.unwrap_or(s.seed);
        let mut pooled = AnalyticsResult {
            scenario: s.name.clone(),
            ..Default::default()
        };
        for k in 0..a.seeds {
            s.seed = first.wrapping_add(k);
            s.validate()?;
            let sim = aisle_sim::simulate(&s)
                .with_context(|| format!("simulating scenario {} (seed {})", s.name, s.seed))?;
            let mut r = evaluate_scenario(&sim, tracker, settings, a.oracle)?;
            for z in &mut r.zones {
                z.seed = s.seed;
            }
            pooled.absorb(r);
        }
        pooled.errors = Errors {
            visitors: pooled.visitor_error(),
            visits: pooled.visit_error(),
            dwell_p50: pooled.dwell_p50_error(),
            dwell_mean: pooled.dwell_mean_error(),
            occupancy_mae: pooled.occupancy_mae(),
            transitions: pooled.transition_error(),
            transitions_l1: pooled.transition_l1_error(),
        };
        results.push(pooled);
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    } else {
        let source = match a.oracle {
            None => format!("detector: {noise_name} noise model"),
            Some(Oracle::Identity) => format!(
                "detector: {noise_name} noise model; oracle: identities from the truth"
            ),
            Some(Oracle::Visible(v)) => format!(
                "oracle: the true boxes and identities of people at least {v} visible, no detector or tracker"
            ),
        };
        write_table(&mut out, &results, &source)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The simulated shoppers' mean height and width (heights 1.5-1.95 m around 1.72, widths
/// 0.40-0.52 m).
const MEAN_HEIGHT_M: f64 = 1.72;
const MEAN_WIDTH_M: f64 = 0.46;
/// Points per zone edge when a floor polygon is mapped into the image (the mapping bends
/// straight edges).
const EDGE_STEPS: usize = 6;

/// The store's zones as an installer would draw them on the camera image, normalised to 0..1:
/// around where the bottom centre of a standing shopper's box appears when they stand on the
/// zone's floor (`aisle_sim::Camera::box_bottom_centre`). A box ends at the near edge of the
/// footprint (a body radius in front of the floor point that decides the true zone), and its
/// middle leans with the converging verticals of the tilted wide-angle camera, so the projected
/// floor polygon itself would be off by up to 20 px. Only zones whose floor the camera sees
/// whole are returned, with their sim zone index.
pub fn scored_zones(sim: &SimOutput) -> Vec<(usize, ZoneConfig)> {
    let (w, h) = (f64::from(sim.image_width), f64::from(sim.image_height));
    let cam = &sim.layout.camera;
    let mut zones = Vec::new();
    for (i, z) in sim.layout.zones.iter().enumerate() {
        let n = z.floor.len();
        let image: Option<Vec<[f64; 2]>> = (0..n * EDGE_STEPS)
            .map(|k| {
                let (a, b) = (z.floor[k / EDGE_STEPS], z.floor[(k / EDGE_STEPS + 1) % n]);
                let t = (k % EDGE_STEPS) as f64 / EDGE_STEPS as f64;
                let p = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
                cam.box_bottom_centre(p, MEAN_HEIGHT_M, MEAN_WIDTH_M)
                    .filter(|q| q[0] >= 0.0 && q[0] <= w && q[1] >= 0.0 && q[1] <= h)
                    .map(|q| [q[0] / w, q[1] / h])
            })
            .collect();
        // A zone partly out of view cannot be measured from this camera.
        let Some(polygon) = image.filter(|_| z.image.len() >= 3) else {
            continue;
        };
        zones.push((
            i,
            ZoneConfig {
                camera: CAMERA.to_string(),
                name: z.name.clone(),
                kind: z.kind,
                polygon,
                anchor: Default::default(),
                capacity: None,
                attention_target: None,
            },
        ));
    }
    zones
}

/// The records the device would publish for a simulated store (privacy off: k = 1), with the
/// one-hour report window.
pub fn run_pipeline(
    sim: &SimOutput,
    zones: &[ZoneConfig],
    tracker: TrackerConfig,
    settings: &AnalyticsConfig,
    oracle: Option<Oracle>,
) -> Result<Vec<MetricRecord>> {
    let settings = AnalyticsConfig {
        min_visitors: 1,
        report_window_s: 3600,
        window_s: 60,
        ..settings.clone()
    };
    let mut analytics = CameraAnalytics::new(
        CAMERA,
        sim.image_width,
        sim.image_height,
        zones,
        &[],
        &settings,
        EPOCH_UNIX_S * 1000,
    )?;
    let mut tracker = Tracker::new(tracker)?;
    tracker.set_frame_size(sim.image_width, sim.image_height);
    let mut records = Vec::new();
    let mut points = Vec::with_capacity(256);
    let mut first_reported = HashMap::new();
    for f in &sim.frames {
        points.clear();
        if let Some(Oracle::Visible(v)) = oracle {
            for t in f.truth.iter().filter(|t| t.visibility >= v) {
                let id = ORACLE_ID_BASE + t.id;
                points.push(TrackPoint {
                    id,
                    bbox: t.bbox,
                    first_seen: *first_reported.entry(id).or_insert(f.time),
                    appearance: None,
                });
            }
        } else {
            for t in tracker.update_with_appearance(&f.detections, &f.appearance, f.time)? {
                if t.is_active() {
                    points.push(TrackPoint {
                        id: t.id.0,
                        bbox: t.bbox,
                        first_seen: t.first_seen,
                        appearance: t.appearance,
                    });
                }
            }
            if oracle == Some(Oracle::Identity) {
                oracle_identity(&mut points, &f.truth, f.time, &mut first_reported);
            }
        }
        analytics.update(f.time, &points, &mut records)?;
    }
    analytics.finish(end_time(sim), &mut records);
    Ok(records)
}

/// The instant just after the last frame (the end of the observed time).
fn end_time(sim: &SimOutput) -> aisle_types::MediaTime {
    let last = sim.frames.last().map_or(
        aisle_types::MediaTime {
            ticks: 0,
            timescale: aisle_sim::TIMESCALE,
        },
        |f| f.time,
    );
    let step = (f64::from(aisle_sim::TIMESCALE) / sim.fps).round() as i64;
    aisle_types::MediaTime {
        ticks: last.ticks + step,
        timescale: last.timescale,
    }
}

/// One true visit, in seconds of media time: `[enter, exit)`.
#[derive(Debug, Clone, Copy)]
struct TrueVisit {
    shopper: u32,
    zone: usize,
    enter: f64,
    exit: f64,
    /// Ended before the end of the scenario (its dwell is known).
    closed: bool,
}

/// The simulation's stays in the scored zones: as the device defines visits
/// (`evaluate_scenario`), and as they are (presence, for occupancy).
fn true_visits(
    sim: &SimOutput,
    scored: &[(usize, ZoneConfig)],
    settings: &AnalyticsConfig,
    start: f64,
    end: f64,
) -> (Vec<TrueVisit>, Vec<TrueVisit>) {
    let raw: Vec<TrueVisit> = sim
        .visits
        .iter()
        .filter(|v| scored.iter().any(|(i, _)| *i == v.zone))
        .map(|v| TrueVisit {
            shopper: v.shopper,
            zone: v.zone,
            enter: v.enter.as_secs_f64().max(start),
            exit: if v.still_inside_at_end {
                end
            } else {
                v.exit.as_secs_f64()
            },
            closed: !v.still_inside_at_end,
        })
        .collect();
    let merged = as_device_visits(&raw, settings.reentry_gap_s, settings.min_visit_s);
    (merged, raw)
}

/// Stays of one shopper in one zone less than `reentry_gap_s` apart are one visit; visits
/// shorter than `min_visit_s` (ended ones) are none.
fn as_device_visits(stays: &[TrueVisit], reentry_gap_s: f64, min_visit_s: f64) -> Vec<TrueVisit> {
    let mut sorted = stays.to_vec();
    sorted.sort_by(|a, b| {
        (a.shopper, a.zone)
            .cmp(&(b.shopper, b.zone))
            .then(a.enter.total_cmp(&b.enter))
    });
    let mut merged: Vec<TrueVisit> = Vec::with_capacity(sorted.len());
    for v in sorted {
        match merged.last_mut() {
            Some(m)
                if (m.shopper, m.zone) == (v.shopper, v.zone)
                    && m.closed
                    && v.enter - m.exit < reentry_gap_s =>
            {
                m.exit = v.exit;
                m.closed = v.closed;
            }
            _ => merged.push(v),
        }
    }
    merged.retain(|v| !v.closed || v.exit - v.enter >= min_visit_s);
    merged
}

pub fn evaluate_scenario(
    sim: &SimOutput,
    tracker: TrackerConfig,
    settings: &AnalyticsConfig,
    oracle: Option<Oracle>,
) -> Result<AnalyticsResult> {
    let scored = scored_zones(sim);
    let zones: Vec<ZoneConfig> = scored.iter().map(|(_, z)| z.clone()).collect();
    let records = run_pipeline(sim, &zones, tracker, settings, oracle)?;

    let start = sim.frames.first().map_or(0.0, |f| f.time.as_secs_f64());
    let end = end_time(sim).as_secs_f64();
    // The device's definition of a visit, applied to the true visits too: a person back in the
    // zone within `reentry_gap_s` of stepping out is on the same visit, and a visit is at least
    // `min_visit_s` long (a shorter brush past a zone is none).
    let (visits, presence) = true_visits(sim, &scored, settings, start, end);

    let mut r = AnalyticsResult {
        scenario: sim.scenario.clone(),
        seeds: 1,
        zones_scored: scored.len(),
        zones_total: sim.layout.zones.len(),
        ..Default::default()
    };

    // Index the published records.
    let mut windows: HashMap<(String, String), &aisle_types::metrics::ZoneRecord> = HashMap::new();
    let mut reports: HashMap<String, &aisle_types::metrics::ZoneRecord> = HashMap::new();
    for rec in &records {
        if let MetricRecord::Zone(z) = rec {
            match z.header.period {
                Period::Window => {
                    windows.insert((z.zone.clone(), z.header.window.start.clone()), z);
                }
                Period::Report => {
                    reports.insert(z.zone.clone(), z);
                }
            }
        }
    }

    let n_windows = ((end - 1e-9) / 60.0).floor() as i64 + 1;
    for (zi, zc) in &scored {
        let zv: Vec<&TrueVisit> = visits.iter().filter(|v| v.zone == *zi).collect();
        let zp: Vec<&TrueVisit> = presence.iter().filter(|v| v.zone == *zi).collect();
        let mut row = ZoneRow {
            zone: zc.name.clone(),
            ..Default::default()
        };
        for w in 0..n_windows {
            let (w0, w1) = ((w * 60) as f64, ((w + 1) * 60) as f64);
            let (o0, o1) = (w0.max(start), w1.min(end));
            if o1 <= o0 {
                continue;
            }
            let overlapping: Vec<&&TrueVisit> =
                zv.iter().filter(|v| v.enter < o1 && v.exit > o0).collect();
            let visitors: HashSet<u32> = overlapping.iter().map(|v| v.shopper).collect();
            let person_s: f64 = zp
                .iter()
                .filter(|v| v.enter < o1 && v.exit > o0)
                .map(|v| v.exit.min(o1) - v.enter.max(o0))
                .sum();
            let entries = zv.iter().filter(|v| v.enter >= o0 && v.enter < o1).count();
            let key = (zc.name.clone(), rfc3339_utc(EPOCH_UNIX_S + w * 60));
            let est = windows.get(&key);
            row.visitors_true += visitors.len() as u64;
            row.visitors_est += u64::from(est.and_then(|z| z.visitors).unwrap_or(0));
            row.visits_true += entries as u64;
            row.visits_est += u64::from(est.and_then(|z| z.entries).unwrap_or(0));
            let occ_true = person_s / (o1 - o0);
            let occ_est = est
                .and_then(|z| z.occupancy.as_ref())
                .map_or(0.0, |o| o.mean);
            row.person_s_true += person_s;
            row.person_s_est += est
                .and_then(|z| z.occupancy.as_ref())
                .map_or(0.0, |o| o.person_seconds);
            r.occupancy_abs_errors.push((occ_est - occ_true).abs());
        }
        r.visitors_true += row.visitors_true;
        r.visitors_est += row.visitors_est;
        r.visits_true += row.visits_true;
        r.visits_est += row.visits_est;
        let closed: Vec<f64> = zv
            .iter()
            .filter(|v| v.closed)
            .map(|v| v.exit - v.enter)
            .collect();
        row.dwell_histogram_true = vec![0; DWELL_HISTOGRAM_LEN];
        for d in &closed {
            row.dwell_histogram_true[dwell_bucket(*d)] += 1;
        }
        row.dwell_histogram_est = reports
            .get(&zc.name)
            .and_then(|z| z.dwell.as_ref())
            .map_or_else(|| vec![0; DWELL_HISTOGRAM_LEN], |d| d.histogram.clone());
        if closed.len() >= MIN_VISITS_FOR_DWELL {
            let est = reports.get(&zc.name).and_then(|z| z.dwell.as_ref());
            let (p50, mean) = (
                percentile(&closed, 0.5),
                closed.iter().sum::<f64>() / closed.len() as f64,
            );
            r.dwell_p50_errors
                .push(rel(est.and_then(|d| d.p50_s).unwrap_or(0.0), p50));
            r.dwell_mean_errors
                .push(rel(est.and_then(|d| d.mean_s).unwrap_or(0.0), mean));
            row.dwell_p50_true = Some(p50);
            row.dwell_mean_true = Some(mean);
            row.dwell_p50_est = est.and_then(|d| d.p50_s);
            row.dwell_mean_est = est.and_then(|d| d.mean_s);
        }
        r.zones.push(row);
    }

    // Transitions: the true ones by the same rule, against the report records'.
    let name_of: HashMap<usize, &str> = scored.iter().map(|(i, z)| (*i, z.name.as_str())).collect();
    let mut truth: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut by_shopper: HashMap<u32, Vec<&TrueVisit>> = HashMap::new();
    for v in &visits {
        by_shopper.entry(v.shopper).or_default().push(v);
    }
    for vs in by_shopper.values() {
        for a in vs.iter().filter(|v| v.closed) {
            let next = vs
                .iter()
                .filter(|b| b.enter >= a.exit)
                .map(|b| b.enter)
                .fold(f64::INFINITY, f64::min);
            if !next.is_finite() {
                continue;
            }
            for b in vs.iter().filter(|b| b.enter == next && b.zone != a.zone) {
                *truth
                    .entry((name_of[&a.zone].to_string(), name_of[&b.zone].to_string()))
                    .or_default() += 1;
            }
        }
    }
    let mut est: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (name, z) in &reports {
        for t in z.transitions.iter().flatten() {
            *est.entry((name.clone(), t.to.clone())).or_default() += u64::from(t.count);
        }
    }
    r.transitions_true = truth.values().sum();
    r.transitions_est = est.values().sum();
    let pairs: HashSet<&(String, String)> = truth.keys().chain(est.keys()).collect();
    r.transitions_l1 = pairs
        .into_iter()
        .map(|k| {
            let (t, e) = (
                truth.get(k).copied().unwrap_or(0),
                est.get(k).copied().unwrap_or(0),
            );
            t.abs_diff(e)
        })
        .sum();
    Ok(r)
}

/// Linear interpolation between order statistics (numpy's default), as the device computes it.
fn percentile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return 0.0;
    }
    let pos = q * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

fn write_table(out: &mut impl Write, results: &[AnalyticsResult], source: &str) -> Result<()> {
    writeln!(
        out,
        "scenario  seeds zones  visitors (true/est, err)   visits (true/est, err)    dwell p50 err  dwell mean err  occupancy MAE  transitions (true/est, err, L1)"
    )?;
    for r in results {
        writeln!(
            out,
            "{:<9} {:>5} {:>2}/{:<2}  {:>6} / {:<6} {:>+7.1}%   {:>6} / {:<6} {:>+7.1}%   {:>12.1}%  {:>13.1}%  {:>13.3}  {:>5} / {:<5} {:>+6.1}% {:>5.1}%",
            r.scenario,
            r.seeds,
            r.zones_scored,
            r.zones_total,
            r.visitors_true,
            r.visitors_est,
            100.0 * r.visitor_error(),
            r.visits_true,
            r.visits_est,
            100.0 * r.visit_error(),
            100.0 * r.dwell_p50_error(),
            100.0 * r.dwell_mean_error(),
            r.occupancy_mae(),
            r.transitions_true,
            r.transitions_est,
            100.0 * r.transition_error(),
            100.0 * r.transition_l1_error(),
        )?;
    }
    writeln!(
        out,
        "({source}; zones the camera sees whole; dwell errors: median over zones with >= {MIN_VISITS_FOR_DWELL} ended visits; occupancy per zone and 60 s window)"
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: u32, x: f32) -> TrackPoint {
        TrackPoint {
            id,
            bbox: aisle_types::BBox::new(x, 100.0, x + 50.0, 250.0),
            first_seen: aisle_types::MediaTime {
                ticks: 0,
                timescale: 1000,
            },
            appearance: None,
        }
    }

    fn truth(id: u32, x: f32) -> aisle_sim::TruthBox {
        aisle_sim::TruthBox {
            id,
            bbox: aisle_types::BBox::new(x, 100.0, x + 50.0, 250.0),
            visibility: 1.0,
            floor: [0.0, 0.0],
        }
    }

    #[test]
    fn the_identity_oracle_gives_each_box_its_true_person() {
        let mut first = HashMap::new();
        let t0 = aisle_types::MediaTime {
            ticks: 5000,
            timescale: 1000,
        };
        // Track 1 sits on person 7, track 2 mostly on person 9 (also touching 7), track 3 on
        // nobody.
        let mut pts = vec![point(1, 100.0), point(2, 128.0), point(3, 600.0)];
        let truth = [truth(7, 102.0), truth(9, 130.0)];
        oracle_identity(&mut pts, &truth, t0, &mut first);
        assert_eq!(pts[0].id, ORACLE_ID_BASE + 7);
        assert_eq!(pts[1].id, ORACLE_ID_BASE + 9);
        assert_eq!(pts[2].id, 2 * ORACLE_ID_BASE + 3);
        assert!(pts.iter().all(|p| p.first_seen == t0));
        // A frame later the tracks have swapped people: the identities follow the people, and
        // keep the time they were first reported.
        let t1 = aisle_types::MediaTime {
            ticks: 5100,
            timescale: 1000,
        };
        let mut pts = vec![point(1, 130.0), point(2, 100.0)];
        oracle_identity(&mut pts, &truth, t1, &mut first);
        assert_eq!(pts[0].id, ORACLE_ID_BASE + 9);
        assert_eq!(pts[1].id, ORACLE_ID_BASE + 7);
        assert!(pts.iter().all(|p| p.first_seen == t0));
    }

    #[test]
    fn oracles_parse_and_bad_ones_are_named() {
        assert_eq!(parse_oracle("identity"), Ok(Oracle::Identity));
        assert_eq!(parse_oracle("visible=0.3"), Ok(Oracle::Visible(0.3)));
        let e = parse_oracle("visible=1.5").unwrap_err();
        assert!(e.contains("1.5"), "{e}");
        let e = parse_oracle("ids").unwrap_err();
        assert!(e.contains("`ids`"), "{e}");
    }

    fn stay(shopper: u32, zone: usize, enter: f64, exit: f64, closed: bool) -> TrueVisit {
        TrueVisit {
            shopper,
            zone,
            enter,
            exit,
            closed,
        }
    }

    #[test]
    fn true_stays_become_visits_as_the_device_counts_them() {
        let stays = [
            // Out for 2 s and back: one visit of 10 to 30 s.
            stay(1, 0, 20.0, 30.0, true),
            stay(1, 0, 10.0, 18.0, true),
            // Out for 8 s: two visits.
            stay(1, 0, 38.0, 50.0, true),
            // Another zone and another shopper are never merged with them.
            stay(1, 1, 18.5, 19.5, true),
            stay(2, 0, 31.0, 35.0, true),
            // A 0.3 s brush is no visit; one still going at the end is, however short.
            stay(3, 0, 5.0, 5.3, true),
            stay(3, 1, 59.8, 60.0, false),
            // Back within the gap into a visit still going at the end: open too.
            stay(4, 0, 40.0, 45.0, true),
            stay(4, 0, 47.0, 60.0, false),
        ];
        let v = as_device_visits(&stays, 6.0, 0.5);
        let got: Vec<(u32, usize, f64, f64, bool)> = v
            .iter()
            .map(|v| (v.shopper, v.zone, v.enter, v.exit, v.closed))
            .collect();
        assert_eq!(
            got,
            [
                (1, 0, 10.0, 30.0, true),
                (1, 0, 38.0, 50.0, true),
                (1, 1, 18.5, 19.5, true),
                (2, 0, 31.0, 35.0, true),
                (3, 1, 59.8, 60.0, false),
                (4, 0, 40.0, 60.0, false),
            ]
        );
    }
}
