//! End-to-end checks of the simulator: determinism, validation, crowd levels, perspective,
//! ground truth consistency and the detector noise statistics.

use std::collections::{BTreeMap, BTreeSet};

use aisle_sim::{
    simulate, to_motchallenge_det, to_motchallenge_gt, NoiseModel, Scenario, SimError, SimFrame,
    SimOutput, ZoneEventKind, ZoneKind, NOISE_PRESETS, TIMESCALE,
};
use aisle_types::BBox;

fn scenario(name: &str) -> Scenario {
    Scenario::by_name(name).expect("standard scenario")
}

fn run(s: &Scenario) -> SimOutput {
    simulate(s).expect("valid scenario")
}

/// Greedy one-to-one matching of detections to truth boxes by IoU (highest first); returns
/// `(truth index, detection index, iou)` for pairs at or above `min_iou`.
fn match_frame(f: &SimFrame, min_iou: f32) -> Vec<(usize, usize, f32)> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (ti, t) in f.truth.iter().enumerate() {
        for (di, d) in f.detections.iter().enumerate() {
            let iou = t.bbox.iou(&d.bbox);
            if iou >= min_iou {
                pairs.push((iou, ti, di));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut used_t = vec![false; f.truth.len()];
    let mut used_d = vec![false; f.detections.len()];
    let mut out = Vec::new();
    for (iou, ti, di) in pairs {
        if !used_t[ti] && !used_d[di] {
            used_t[ti] = true;
            used_d[di] = true;
            out.push((ti, di, iou));
        }
    }
    out
}

/// The default detector with everything that is not about one person switched off, so the
/// per-person statistics can be measured cleanly.
fn per_person_noise() -> NoiseModel {
    NoiseModel {
        false_positives_per_frame: 0.0,
        duplicate_prob: 0.0,
        merge_prob: 0.0,
        nms_iou: 1.0,
        static_false_positives: Vec::new(),
        ..NoiseModel::default()
    }
}

fn fully_visible_inside(b: &BBox, vis: f32, w: u32, h: u32) -> bool {
    vis >= 0.999 && b.x1 > 2.0 && b.y1 > 2.0 && b.x2 < w as f32 - 2.0 && b.y2 < h as f32 - 2.0
}

#[test]
fn standard_scenarios_are_named_and_valid() {
    let names: Vec<String> = Scenario::standard().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["quiet", "moderate", "busy", "crowded"]);
    for s in Scenario::standard() {
        s.validate().expect("standard scenario is valid");
        assert_eq!(s.fps, 10.0);
        assert!(
            (120.0..=300.0).contains(&s.duration_s),
            "{}: {}",
            s.name,
            s.duration_s
        );
    }
    assert!(Scenario::by_name("moderate").is_some());
    assert!(Scenario::by_name("nope").is_none());
}

#[test]
fn same_seed_same_output_other_seed_other_output() {
    let s = scenario("moderate");
    let a = run(&s);
    let b = run(&s);
    assert!(a == b, "two runs of the same scenario differ");
    let mut other = s.clone();
    other.seed += 1;
    let c = run(&other);
    assert!(a.frames != c.frames);
    // The detector has its own random stream: changing the noise leaves the world alone.
    let mut quieter = s.clone();
    quieter.noise.false_positives_per_frame = 0.0;
    let d = run(&quieter);
    assert_eq!(a.visits, d.visits);
    let truth = |o: &SimOutput| o.frames.iter().map(|f| f.truth.clone()).collect::<Vec<_>>();
    assert!(truth(&a) == truth(&d));
    assert!(
        a.frames.iter().map(|f| f.detections.len()).sum::<usize>()
            > d.frames.iter().map(|f| f.detections.len()).sum::<usize>()
    );
}

fn field_of(e: &SimError) -> (&str, &str) {
    match e {
        SimError::InvalidParameter { field, value, .. } => (field, value),
    }
}

#[test]
fn invalid_parameters_are_named_with_their_value() {
    let base = scenario("quiet");
    type Break = Box<dyn Fn(&mut Scenario)>;
    let cases: Vec<(Break, &str, &str)> = vec![
        (Box::new(|s| s.fps = 0.0), "fps", "0"),
        (Box::new(|s| s.fps = f64::NAN), "fps", "NaN"),
        (Box::new(|s| s.duration_s = -5.0), "duration_s", "-5"),
        (Box::new(|s| s.duration_s = 1e7), "duration_s", "10000000"),
        (
            Box::new(|s| s.arrivals_per_min = f64::INFINITY),
            "arrivals_per_min",
            "inf",
        ),
        (
            Box::new(|s| s.noise.miss_prob = 1.5),
            "noise.miss_prob",
            "1.5",
        ),
        (
            Box::new(|s| s.noise.jitter_sigma = -0.1),
            "noise.jitter_sigma",
            "-0.1",
        ),
        (
            Box::new(|s| s.noise.static_false_positives[0].detect_prob = 2.0),
            "noise.static_false_positives[0].detect_prob",
            "2",
        ),
        (
            Box::new(|s| s.shoppers.speed_max_mps = 0.5),
            "shoppers.speed_max_mps",
            "0.5",
        ),
        (Box::new(|s| s.dwell.median_s = 0.0), "dwell.median_s", "0"),
        (Box::new(|s| s.checkout.tills = 3), "checkout.tills", "3"),
        (
            Box::new(|s| s.checkout.max_queue = 40),
            "checkout.max_queue",
            "40",
        ),
        (
            Box::new(|s| s.camera.hfov_deg = 200.0),
            "camera.hfov_deg",
            "200",
        ),
        (
            Box::new(|s| s.camera.image_width = 0),
            "camera.image_width",
            "0",
        ),
        (
            Box::new(|s| s.floor.edges[2] = [1, 77]),
            "floor.edges[2]",
            "[1, 77]",
        ),
        (
            Box::new(|s| s.floor.displays[0].zone = 99),
            "floor.displays[0].zone",
            "99",
        ),
    ];
    for (break_it, field, value) in cases {
        let mut s = base.clone();
        break_it(&mut s);
        let e = s.validate().expect_err(field);
        assert_eq!(field_of(&e), (field, value), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("quiet") && msg.contains(field) && msg.contains(value),
            "{msg}"
        );
        // simulate() refuses the same scenario instead of panicking.
        assert_eq!(simulate(&s).expect_err(field), e);
    }
}

#[test]
fn crowd_levels_from_quiet_to_crowded() {
    let mut peaks = BTreeMap::new();
    for s in Scenario::standard() {
        let out = run(&s);
        assert_eq!(out.frames.len(), (s.duration_s * s.fps) as usize);
        let n = out.people_in_view(f32::MIN_POSITIVE);
        let max = *n.iter().max().expect("frames");
        let mean = n.iter().sum::<usize>() as f64 / n.len() as f64;
        peaks.insert(s.name.clone(), (mean, max));
    }
    let (quiet_mean, quiet_max) = peaks["quiet"];
    assert!(
        quiet_max <= 4 && quiet_mean >= 1.0,
        "quiet {quiet_mean} {quiet_max}"
    );
    let (moderate_mean, moderate_max) = peaks["moderate"];
    assert!(
        (8.0..=15.0).contains(&moderate_mean) && moderate_max <= 20,
        "moderate {moderate_mean} {moderate_max}"
    );
    let (busy_mean, _) = peaks["busy"];
    assert!((18.0..=28.0).contains(&busy_mean), "busy {busy_mean}");
    let (crowded_mean, crowded_max) = peaks["crowded"];
    assert!(
        (30..=50).contains(&crowded_max) && crowded_mean > busy_mean,
        "crowded {crowded_mean} {crowded_max}"
    );
}

#[test]
fn far_people_are_smaller_than_near_people() {
    let out = run(&scenario("moderate"));
    let (w, h) = (out.image_width, out.image_height);
    let mut near = Vec::new();
    let mut far = Vec::new();
    for t in out.frames.iter().flat_map(|f| &f.truth) {
        if !fully_visible_inside(&t.bbox, t.visibility, w, h) {
            continue;
        }
        match t.floor[1] {
            y if y < 5.0 => near.push(t.bbox.height()),
            y if y > 9.0 => far.push(t.bbox.height()),
            _ => {}
        }
    }
    assert!(
        near.len() > 100 && far.len() > 100,
        "{} near, {} far",
        near.len(),
        far.len()
    );
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (hn, hf) = (mean(&near), mean(&far));
    assert!(hf < 0.6 * hn, "far {hf} px vs near {hn} px");
    assert!(hf > 60.0 && hn < 400.0, "far {hf} px, near {hn} px");
}

#[test]
fn truth_is_consistent() {
    let out = run(&scenario("busy"));
    let (w, h) = (out.image_width as f32, out.image_height as f32);
    let mut ids = BTreeSet::new();
    for (k, f) in out.frames.iter().enumerate() {
        assert_eq!(f.index as usize, k);
        assert_eq!(f.time.timescale, TIMESCALE);
        assert_eq!(f.time.ticks, k as i64 * i64::from(TIMESCALE) / 10);
        let mut last = 0;
        for t in &f.truth {
            assert!(t.id > last, "truth sorted by unique id");
            last = t.id;
            ids.insert(t.id);
            let b = t.bbox;
            assert!(
                b.x1 >= 0.0 && b.y1 >= 0.0 && b.x2 <= w && b.y2 <= h && b.area() > 0.0,
                "{b:?}"
            );
            assert!(t.visibility > 0.0 && t.visibility <= 1.0);
        }
        for d in &f.detections {
            assert_eq!(d.class_id, 0);
            assert!(d.score > 0.0 && d.score < 1.0);
            assert!(
                d.bbox.is_finite() && d.bbox.x1 >= 0.0 && d.bbox.x2 <= w && d.bbox.area() > 0.0
            );
        }
        assert!(
            f.detections.windows(2).all(|p| p[0].score >= p[1].score),
            "highest score first"
        );
    }
    for v in &out.visits {
        ids.insert(v.shopper);
    }
    let expected: BTreeSet<u32> = (1..=out.shoppers).collect();
    assert_eq!(ids, expected, "ids are 1..=shoppers");
}

#[test]
fn visits_and_events_agree() {
    let out = run(&scenario("busy"));
    let n = out.frames.len() as u32;
    assert!(out.visits.len() > 100);
    let mut enters = BTreeSet::new();
    let mut exits = BTreeSet::new();
    for v in &out.visits {
        assert!(v.exit >= v.enter && v.exit_frame > v.enter_frame && v.exit_frame <= n);
        let dwell = (v.exit.ticks - v.enter.ticks) as f64 / f64::from(v.exit.timescale);
        assert_eq!(v.dwell_s, dwell);
        assert_eq!(v.enter, out.frames[v.enter_frame as usize].time);
        let zone = &out.layout.zones[v.zone];
        assert_eq!(
            (zone.name.as_str(), zone.kind),
            (v.zone_name.as_str(), v.kind)
        );
        assert_eq!(v.entered_before_start, v.enter_frame == 0);
        assert_eq!(v.still_inside_at_end, v.exit_frame == n);
        if !v.entered_before_start {
            enters.insert((v.enter_frame, v.shopper, v.zone));
        }
        if !v.still_inside_at_end {
            exits.insert((v.exit_frame, v.shopper, v.zone));
        }
    }
    let ev_enters: BTreeSet<_> = out
        .events
        .iter()
        .filter(|e| e.kind == ZoneEventKind::Enter)
        .map(|e| (e.frame, e.shopper, e.zone))
        .collect();
    let ev_exits: BTreeSet<_> = out
        .events
        .iter()
        .filter(|e| e.kind == ZoneEventKind::Exit)
        .map(|e| (e.frame, e.shopper, e.zone))
        .collect();
    assert_eq!(enters, ev_enters);
    assert_eq!(exits, ev_exits);
    assert_eq!(out.events.len(), enters.len() + exits.len());
    assert!(
        out.events.windows(2).all(|p| p[0].frame <= p[1].frame),
        "time order"
    );
    for e in &out.events {
        assert_eq!(e.time, out.frames[e.frame as usize].time);
        assert_eq!(out.layout.zones[e.zone].name, e.zone_name);
    }
    // Per shopper and zone, entries and exits alternate.
    let mut inside: BTreeMap<(u32, usize), bool> = BTreeMap::new();
    for v in out.visits.iter().filter(|v| v.entered_before_start) {
        inside.insert((v.shopper, v.zone), true);
    }
    for e in &out.events {
        let was = inside
            .insert((e.shopper, e.zone), e.kind == ZoneEventKind::Enter)
            .unwrap_or(false);
        assert_eq!(was, e.kind == ZoneEventKind::Exit, "{e:?}");
    }
    // Every kind of zone is visited, and displays hold people for a while.
    let kinds: BTreeSet<ZoneKind> = out.visits.iter().map(|v| v.kind).collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    let display_dwell: Vec<f64> = out
        .visits
        .iter()
        .filter(|v| {
            v.kind == ZoneKind::Display && !v.entered_before_start && !v.still_inside_at_end
        })
        .map(|v| v.dwell_s)
        .collect();
    let mut sorted = display_dwell.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(
        (3.0..=15.0).contains(&median),
        "median display dwell {median}"
    );
    assert!(
        sorted.iter().any(|d| *d < 2.5) && sorted.iter().any(|d| *d > 20.0),
        "bounces and engaged visits"
    );
}

#[test]
fn shoppers_leave_and_the_queue_moves() {
    let mut s = scenario("moderate");
    s.duration_s = 900.0;
    let out = run(&s);
    // Everyone first seen in the first half of a 15-minute run has left by its end.
    let mut first: BTreeMap<u32, u32> = BTreeMap::new();
    for v in &out.visits {
        let e = first.entry(v.shopper).or_insert(v.enter_frame);
        *e = (*e).min(v.enter_frame);
    }
    let half = out.frames.len() as u32 / 2;
    for v in &out.visits {
        if first[&v.shopper] < half {
            assert!(
                !v.still_inside_at_end,
                "shopper {} still in {} at the end",
                v.shopper, v.zone_name
            );
        }
    }
    let served = out
        .visits
        .iter()
        .filter(|v| v.kind == ZoneKind::Checkout)
        .count();
    let queued = out
        .visits
        .iter()
        .filter(|v| v.kind == ZoneKind::Queue)
        .count();
    assert!(
        served > 20 && queued > 20,
        "{served} served, {queued} queued"
    );
}

#[test]
fn detector_noise_matches_the_model() {
    let mut s = scenario("moderate");
    s.noise = per_person_noise();
    let m = s.noise.clone();
    let out = run(&s);
    let (w, h) = (out.image_width, out.image_height);
    let mut visible = 0usize;
    let mut missed = 0usize;
    let mut errs: [Vec<f64>; 4] = Default::default();
    let mut scores = Vec::new();
    for f in &out.frames {
        let matched: BTreeMap<usize, usize> = match_frame(f, 0.5)
            .into_iter()
            .map(|(t, d, _)| (t, d))
            .collect();
        for (ti, t) in f.truth.iter().enumerate() {
            // Fully visible, well inside the image, tall enough to have no small-box penalty,
            // and nobody's box overlapping (no head occlusion either).
            if !fully_visible_inside(&t.bbox, t.visibility, w, h) || t.bbox.height() < 60.0 {
                continue;
            }
            if f.truth
                .iter()
                .any(|o| o.id != t.id && o.bbox.iou(&t.bbox) > 0.0)
            {
                continue;
            }
            visible += 1;
            match matched.get(&ti) {
                None => missed += 1,
                Some(&di) => {
                    let (d, b) = (&f.detections[di], t.bbox);
                    errs[0].push(f64::from((d.bbox.x1 - b.x1) / b.width()));
                    errs[1].push(f64::from((d.bbox.y1 - b.y1) / b.height()));
                    errs[2].push(f64::from((d.bbox.x2 - b.x2) / b.width()));
                    errs[3].push(f64::from((d.bbox.y2 - b.y2) / b.height()));
                    scores.push(f64::from(d.score));
                }
            }
        }
    }
    assert!(visible > 5000, "{visible} clean samples");
    let miss_rate = missed as f64 / visible as f64;
    assert!(
        (miss_rate - m.miss_prob).abs() < 0.015,
        "miss rate {miss_rate} vs {}",
        m.miss_prob
    );
    for (k, e) in errs.iter().enumerate() {
        let n = e.len() as f64;
        let mean = e.iter().sum::<f64>() / n;
        let sd = (e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 0.006, "edge {k} bias {mean}");
        assert!(
            (sd / m.jitter_sigma - 1.0).abs() < 0.15,
            "edge {k} sigma {sd} vs {}",
            m.jitter_sigma
        );
    }
    let mean_score = scores.iter().sum::<f64>() / scores.len() as f64;
    assert!(
        (mean_score - m.score_visible_mean).abs() < 0.02,
        "score {mean_score}"
    );
    let in_band =
        scores.iter().filter(|s| (0.6..=0.99).contains(*s)).count() as f64 / scores.len() as f64;
    assert!(
        in_band > 0.97,
        "{in_band} of visible people's scores in 0.6..0.99"
    );
}

#[test]
fn occlusion_lowers_visibility_scores_and_detections() {
    let mut s = scenario("busy");
    s.noise = per_person_noise();
    let out = run(&s);
    // (detected, total, score sum) per visibility band.
    let mut bands = [(0usize, 0usize, 0f64); 3];
    for f in &out.frames {
        let matched: BTreeMap<usize, usize> = match_frame(f, 0.3)
            .into_iter()
            .map(|(t, d, _)| (t, d))
            .collect();
        for (ti, t) in f.truth.iter().enumerate() {
            let band = match t.visibility {
                v if v < 0.3 => 0,
                v if v < 0.6 => 1,
                _ => 2,
            };
            bands[band].1 += 1;
            if let Some(&di) = matched.get(&ti) {
                bands[band].0 += 1;
                bands[band].2 += f64::from(f.detections[di].score);
            }
        }
    }
    let rate = |b: (usize, usize, f64)| b.0 as f64 / b.1 as f64;
    let score = |b: (usize, usize, f64)| b.2 / b.0 as f64;
    assert!(bands.iter().all(|b| b.1 > 500), "{bands:?}");
    assert!(rate(bands[0]) < 0.5 && rate(bands[2]) > 0.9, "{bands:?}");
    assert!(
        rate(bands[0]) < rate(bands[1]) && rate(bands[1]) < rate(bands[2]),
        "{bands:?}"
    );
    assert!(
        score(bands[0]) < score(bands[1]) && score(bands[1]) < score(bands[2]),
        "{bands:?}"
    );
    assert!(score(bands[0]) < 0.55 && score(bands[2]) > 0.7, "{bands:?}");

    // Crowds occlude more.
    let mean_vis = |o: &SimOutput| {
        let v: Vec<f32> = o
            .frames
            .iter()
            .flat_map(|f| f.truth.iter().map(|t| t.visibility))
            .collect();
        v.iter().sum::<f32>() / v.len() as f32
    };
    let quiet = run(&scenario("quiet"));
    let crowded = run(&scenario("crowded"));
    assert!(
        mean_vis(&crowded) + 0.15 < mean_vis(&quiet),
        "{} vs {}",
        mean_vis(&crowded),
        mean_vis(&quiet)
    );
}

#[test]
fn false_positives_match_the_model() {
    let mut s = scenario("moderate");
    s.noise = NoiseModel {
        false_positives_per_frame: 0.3,
        ..NoiseModel::perfect()
    };
    let out = run(&s);
    let mut fp_scores = Vec::new();
    for f in &out.frames {
        let matched: BTreeSet<usize> = match_frame(f, 0.5).into_iter().map(|(_, d, _)| d).collect();
        fp_scores.extend(
            (0..f.detections.len())
                .filter(|d| !matched.contains(d))
                .map(|d| f.detections[d].score),
        );
    }
    let rate = fp_scores.len() as f64 / out.frames.len() as f64;
    assert!(
        (rate - 0.3).abs() < 0.05,
        "false positives per frame {rate}"
    );
    let low = fp_scores
        .iter()
        .filter(|s| (0.1..=0.5).contains(*s))
        .count() as f64
        / fp_scores.len() as f64;
    assert!(low > 0.9, "{low} of false positive scores in 0.1..0.5");

    // The default detector adds persistent ones at fixed places: the mannequin.
    let s = scenario("quiet");
    let mannequin = &s.noise.static_false_positives[0];
    let out = run(&s);
    let [u, v] = out
        .layout
        .camera
        .project([
            mannequin.floor[0],
            mannequin.floor[1],
            (mannequin.bottom_m + mannequin.top_m) / 2.0,
        ])
        .expect("in front of the camera");
    let mut at_mannequin = 0;
    for f in &out.frames {
        let matched: BTreeSet<usize> = match_frame(f, 0.3).into_iter().map(|(_, d, _)| d).collect();
        at_mannequin += (0..f.detections.len())
            .filter(|d| !matched.contains(d))
            .filter(|&d| {
                let (x, y) = f.detections[d].bbox.foot_point();
                let cy = (f.detections[d].bbox.y1 + y) / 2.0;
                (x - u as f32).abs() < 15.0 && (cy - v as f32).abs() < 15.0
            })
            .count();
    }
    let expected = mannequin.detect_prob * out.frames.len() as f64;
    assert!(
        (at_mannequin as f64) > 0.7 * expected && (at_mannequin as f64) < 1.1 * expected,
        "{at_mannequin} detections of the mannequin, expected about {expected}"
    );
}

#[test]
fn perfect_detector_reports_the_truth() {
    let mut s = scenario("moderate");
    s.noise = NoiseModel::perfect();
    let out = run(&s);
    for f in &out.frames {
        let big: Vec<&BBox> = f
            .truth
            .iter()
            .map(|t| &t.bbox)
            .filter(|b| b.width() >= 2.0 && b.height() >= 2.0)
            .collect();
        assert_eq!(f.detections.len(), big.len(), "frame {}", f.index);
        for b in big {
            assert!(
                f.detections.iter().any(|d| d.bbox == *b),
                "frame {} lacks {b:?}",
                f.index
            );
        }
    }
}

#[test]
fn detector_presets_are_valid_and_ordered_by_occlusion_robustness() {
    for name in NOISE_PRESETS {
        let mut s = scenario("quiet");
        s.noise = NoiseModel::preset(name).expect("listed preset");
        s.validate()
            .unwrap_or_else(|e| panic!("preset {name}: {e}"));
    }
    assert_eq!(NoiseModel::preset("default"), Some(NoiseModel::default()));
    assert_eq!(NoiseModel::preset("perfect"), Some(NoiseModel::perfect()));
    assert_eq!(NoiseModel::preset("yolo"), None);
    // As measured on real video: a half-hidden person (detectability 0.45) is missed more often
    // by CenterNet than by NanoDet, and both score a fully visible person below the generic
    // model's 0.83.
    let (c, n) = (
        NoiseModel::preset("centernet").expect("centernet"),
        NoiseModel::preset("nanodet").expect("nanodet"),
    );
    let (pc, pn) = (
        c.miss_probability(0.45, 150.0),
        n.miss_probability(0.45, 150.0),
    );
    assert!(
        pc > 0.3 && pn < 0.2 && pc > pn,
        "miss at d = 0.45: centernet {pc}, nanodet {pn}"
    );
    assert!(c.mean_score(1.0) < n.mean_score(1.0));
    assert!(n.mean_score(1.0) < NoiseModel::default().mean_score(1.0));
    // A simulated store seen through CenterNet has fewer detections than through NanoDet.
    let count = |m: NoiseModel| {
        let mut s = scenario("moderate");
        s.duration_s = 60.0;
        s.noise = m;
        run(&s)
            .frames
            .iter()
            .map(|f| f.detections.len())
            .sum::<usize>()
    };
    let (dc, dn) = (count(c), count(n));
    assert!(dc < dn, "detections: centernet {dc}, nanodet {dn}");
}

#[test]
fn other_frame_rates() {
    for fps in [5.0, 30.0] {
        let mut s = scenario("quiet");
        s.fps = fps;
        s.duration_s = 60.0;
        let out = run(&s);
        assert_eq!(out.frames.len(), (60.0 * fps) as usize);
        let last = out.frames.last().expect("frames");
        assert!((last.time.as_secs_f64() - (out.frames.len() - 1) as f64 / fps).abs() < 1e-9);
        assert!(out.frames.iter().any(|f| !f.truth.is_empty()));
    }
}

#[test]
fn layout_projects_zones_into_the_image() {
    let out = run(&scenario("quiet"));
    let zones = &out.layout.zones;
    assert!(zones.len() >= 10);
    for z in zones {
        assert!(z.image.len() >= 3, "zone {} is out of view", z.name);
        for p in &z.image {
            assert!(
                p[0] >= -0.01 && p[0] <= 1280.01 && p[1] >= -0.01 && p[1] <= 720.01,
                "{}: {p:?}",
                z.name
            );
        }
    }
    // A fully visible person's floor point projects into the image polygon of the zones they
    // stand in.
    let cam = &out.layout.camera;
    let mut checked = 0;
    for t in out
        .frames
        .iter()
        .flat_map(|f| &f.truth)
        .filter(|t| t.visibility > 0.99)
    {
        let floor = [f64::from(t.floor[0]), f64::from(t.floor[1])];
        let Some([u, v]) = cam.project([floor[0], floor[1], 0.0]) else {
            continue;
        };
        if !(0.0..1280.0).contains(&u) || !(0.0..720.0).contains(&v) {
            continue;
        }
        let a = out.layout.zones_at_floor(floor);
        let b = out.layout.zones_at_image(u as f32, v as f32);
        assert_eq!(a, b, "{floor:?} -> ({u}, {v})");
        checked += 1;
    }
    assert!(checked > 500);
}

#[test]
fn motchallenge_exports() {
    let out = run(&scenario("quiet"));
    let gt = to_motchallenge_gt(&out, 0.5);
    let truth: Vec<_> = out.frames.iter().flat_map(|f| &f.truth).collect();
    assert_eq!(gt.lines().count(), truth.len());
    // Class 1 (scored) at visibility >= 0.5, class 8 (distractor) below, as MOT16/17 rows.
    for (row, t) in gt.lines().zip(&truth) {
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(cols.len(), 9, "{row}");
        let want = if t.visibility >= 0.5 { "1" } else { "8" };
        assert_eq!(cols[7], want, "{row}: visibility {}", t.visibility);
        let vis: f32 = cols[8].parse().expect("visibility");
        assert!((vis - t.visibility).abs() < 0.001, "{row}");
    }
    assert!(gt.lines().any(|r| r.split(',').nth(7) == Some("8")));
    let first = out
        .frames
        .iter()
        .find(|f| !f.truth.is_empty())
        .expect("someone in view");
    let t = &first.truth[0];
    let line: Vec<&str> = gt.lines().next().expect("line").split(',').collect();
    assert_eq!(line[0].parse::<u32>().expect("frame"), first.index + 1);
    assert_eq!(line[1].parse::<u32>().expect("id"), t.id);
    let x: f32 = line[2].parse().expect("x");
    let h: f32 = line[5].parse().expect("h");
    assert!((x - t.bbox.x1).abs() < 0.01 && (h - t.bbox.height()).abs() < 0.01);
    assert_eq!(line[6], "1");

    let det = to_motchallenge_det(&out);
    assert_eq!(
        det.lines().count(),
        out.frames.iter().map(|f| f.detections.len()).sum::<usize>()
    );
    for l in det.lines() {
        let c: Vec<&str> = l.split(',').collect();
        assert_eq!(c.len(), 10);
        assert_eq!(c[1], "-1");
        let score: f32 = c[6].parse().expect("score");
        assert!(score > 0.0 && score < 1.0);
        assert!(c[0].parse::<u32>().expect("frame") >= 1);
    }
}

#[test]
fn shoppers_do_not_flicker_across_zone_borders() {
    for s in Scenario::standard() {
        let out = run(&s);
        let mut last_exit: BTreeMap<(u32, usize), u32> = BTreeMap::new();
        for v in &out.visits {
            if let Some(exit) = last_exit.get(&(v.shopper, v.zone)) {
                assert!(
                    v.enter_frame >= exit + 5,
                    "{}: shopper {} back in {} {} frames after leaving it",
                    s.name,
                    v.shopper,
                    v.zone_name,
                    v.enter_frame - exit
                );
            }
            last_exit.insert((v.shopper, v.zone), v.exit_frame);
        }
    }
}
