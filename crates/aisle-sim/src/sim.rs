//! Running a scenario: the world, the camera, the detector and the ground truth per frame.

use aisle_types::{Appearance, BBox, Detection, MediaTime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::appearance::Painter;
use crate::camera::Projector;
use crate::geom::{point_in_polygon, uncovered, Bx, V2};
use crate::layout::{StoreLayout, ZoneKind};
use crate::noise::{Detector, PersonView};
use crate::scenario::Scenario;
use crate::world::World;
use crate::SimError;

/// Ticks per second of every [`MediaTime`] in the output.
pub const TIMESCALE: u32 = 90_000;

/// Longest internal simulation step, seconds (frames are split into equal sub-steps).
const MAX_STEP_S: f64 = 0.1;

/// One true person in one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthBox {
    /// Shopper id, 1-based, stable for the whole sequence.
    pub id: u32,
    /// The full-body box (head top to feet, from the projected body cylinder), clipped to the
    /// image.
    pub bbox: BBox,
    /// Fraction of the unclipped full-body box that is inside the image and not covered by
    /// the boxes of people nearer the camera, 0..1.
    pub visibility: f32,
    /// Where the person stands on the floor (foot centre), metres.
    pub floor: [f32; 2],
}

/// One frame: what the detector reported and the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct SimFrame {
    /// 0-based.
    pub index: u32,
    /// `index / fps` seconds, at [`TIMESCALE`].
    pub time: MediaTime,
    /// Detector output (class 0 = person), highest score first.
    pub detections: Vec<Detection>,
    /// The appearance descriptor of each detection (same order), as the device's extractor
    /// would read it; empty when the scenario's appearance model is disabled.
    pub appearance: Vec<Appearance>,
    /// Every shopper with part of their box in the image and visibility > 0, by id.
    pub truth: Vec<TruthBox>,
}

/// One shopper's stay in one zone, from the first frame their foot point is inside the zone's
/// floor polygon to the first frame it is not.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub shopper: u32,
    /// Index into [`StoreLayout::zones`].
    pub zone: usize,
    pub zone_name: String,
    pub kind: ZoneKind,
    pub enter_frame: u32,
    /// The first frame outside again; `frames.len()` when still inside at the end.
    pub exit_frame: u32,
    pub enter: MediaTime,
    pub exit: MediaTime,
    /// `exit - enter`, seconds.
    pub dwell_s: f64,
    /// Already inside at the first frame (the true entry was earlier; no Enter event).
    pub entered_before_start: bool,
    /// Still inside after the last frame (no Exit event; `exit` is the end of the sequence).
    pub still_inside_at_end: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ZoneEventKind {
    Enter,
    Exit,
}

/// A zone entry or exit, at the first frame where the shopper's foot point is inside
/// (outside) the zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneEvent {
    pub frame: u32,
    pub time: MediaTime,
    pub shopper: u32,
    pub zone: usize,
    pub zone_name: String,
    pub kind: ZoneEventKind,
}

/// A simulated sequence with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOutput {
    pub scenario: String,
    pub fps: f64,
    pub image_width: u32,
    pub image_height: u32,
    pub frames: Vec<SimFrame>,
    /// Per shopper per zone, ordered by entry frame, then shopper, then zone.
    pub visits: Vec<Visit>,
    /// Zone entries and exits in time order (exits before entries within a frame).
    pub events: Vec<ZoneEvent>,
    pub layout: StoreLayout,
    /// Distinct shoppers seen in the image or in a zone during the sequence; ids are
    /// `1..=shoppers`, numbered in order of first appearance.
    pub shoppers: u32,
}

impl SimOutput {
    /// People in view per frame: truth boxes with at least this visibility.
    pub fn people_in_view(&self, min_visibility: f32) -> Vec<usize> {
        self.frames
            .iter()
            .map(|f| {
                f.truth
                    .iter()
                    .filter(|t| t.visibility >= min_visibility)
                    .count()
            })
            .collect()
    }
}

pub(crate) fn frame_time(k: i64, fps: f64) -> MediaTime {
    MediaTime {
        ticks: (k as f64 * f64::from(TIMESCALE) / fps).round() as i64,
        timescale: TIMESCALE,
    }
}

struct RawVisit {
    shopper: usize,
    zone: usize,
    enter_frame: u32,
    exit_frame: u32,
    open_start: bool,
    open_end: bool,
}

struct RawEvent {
    frame: u32,
    kind: ZoneEventKind,
    shopper: usize,
    zone: usize,
}

/// Per-shopper zone bookkeeping.
#[derive(Default, Clone)]
struct ZoneTrack {
    /// Index into the raw visits of the open visit per zone.
    open: Vec<Option<usize>>,
    any_open: bool,
}

/// Runs a scenario. Fails only when [`Scenario::validate`] does.
pub fn simulate(s: &Scenario) -> Result<SimOutput, SimError> {
    s.validate()?;
    let proj = Projector::new(&s.camera);
    let layout = StoreLayout::new(&s.floor, &s.camera);
    let mut world_rng = ChaCha8Rng::seed_from_u64(s.seed);
    world_rng.set_stream(1);
    let mut noise_rng = ChaCha8Rng::seed_from_u64(s.seed);
    noise_rng.set_stream(2);
    let mut looks_rng = ChaCha8Rng::seed_from_u64(s.seed);
    looks_rng.set_stream(3);
    let mut painter = Painter::new(looks_rng);

    let n_frames = (s.duration_s * s.fps + 1e-9).floor() as i64;
    let frame_dt = 1.0 / s.fps;
    let nsub = ((frame_dt / MAX_STEP_S) - 1e-9).ceil().max(1.0) as u32;
    let dt = frame_dt / f64::from(nsub);
    let warm_frames = (s.warmup_s * s.fps).ceil() as i64;
    let mut world = World::new(s, world_rng, -(warm_frames as f64) * frame_dt);
    let mut detector = Detector::new(noise_rng);

    let zones = &s.floor.zones;
    let mut tracks: Vec<ZoneTrack> = Vec::new();
    let mut raw_visits: Vec<RawVisit> = Vec::new();
    let mut raw_events: Vec<RawEvent> = Vec::new();
    let mut first_seen: Vec<Option<u32>> = Vec::new();
    let mut frames: Vec<SimFrame> = Vec::with_capacity(n_frames as usize);

    // Static false positives: fixed boxes.
    let statics: Vec<Option<(Bx, Bx, f64)>> = s
        .noise
        .static_false_positives
        .iter()
        .map(|sf| {
            let foot = V2::from_arr(sf.floor);
            proj.cylinder_box(foot, sf.bottom_m, sf.top_m, sf.width_m)
                .map(|full| (full, full.clamp(proj.w, proj.h), proj.ground_distance(foot)))
        })
        .collect();

    let mut views: Vec<(f64, usize, Bx, Bx)> = Vec::new();
    for k in -warm_frames..n_frames {
        if k >= 0 {
            let fi = k as u32;
            let shoppers = &world.shoppers;
            if tracks.len() < shoppers.len() {
                tracks.resize(shoppers.len(), ZoneTrack::default());
                first_seen.resize(shoppers.len(), None);
            }
            // Zones.
            for (i, sh) in shoppers.iter().enumerate() {
                let active = sh.active();
                if !active && !tracks[i].any_open {
                    continue;
                }
                let tr = &mut tracks[i];
                if tr.open.len() < zones.len() {
                    tr.open.resize(zones.len(), None);
                }
                let mut any = false;
                for (z, zone) in zones.iter().enumerate() {
                    let inside = active && point_in_polygon(sh.pos, &zone.polygon);
                    match (inside, tr.open[z]) {
                        (true, None) => {
                            tr.open[z] = Some(raw_visits.len());
                            raw_visits.push(RawVisit {
                                shopper: i,
                                zone: z,
                                enter_frame: fi,
                                exit_frame: fi,
                                open_start: fi == 0,
                                open_end: false,
                            });
                            if fi > 0 {
                                raw_events.push(RawEvent {
                                    frame: fi,
                                    kind: ZoneEventKind::Enter,
                                    shopper: i,
                                    zone: z,
                                });
                            }
                            first_seen[i].get_or_insert(fi);
                        }
                        (false, Some(v)) => {
                            raw_visits[v].exit_frame = fi;
                            tr.open[z] = None;
                            raw_events.push(RawEvent {
                                frame: fi,
                                kind: ZoneEventKind::Exit,
                                shopper: i,
                                zone: z,
                            });
                        }
                        _ => {}
                    }
                    any |= tr.open[z].is_some();
                }
                tr.any_open = any;
            }

            // People in the image, nearest first.
            views.clear();
            for (i, sh) in shoppers.iter().enumerate() {
                if !sh.active() {
                    continue;
                }
                let Some(full) = proj.cylinder_box(sh.pos, 0.0, sh.height, sh.width) else {
                    continue;
                };
                let clipped = full.clamp(proj.w, proj.h);
                if clipped.area() <= 0.0 {
                    continue;
                }
                views.push((proj.ground_distance(sh.pos), i, full, clipped));
            }
            views.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut people: Vec<PersonView> = Vec::with_capacity(views.len());
            let mut truth: Vec<TruthBox> = Vec::with_capacity(views.len());
            let mut nearer: Vec<Bx> = Vec::with_capacity(views.len());
            for &(_, i, full, clipped) in &views {
                let (area, vbb) = uncovered(&clipped, &nearer);
                let head = Bx {
                    y2: full.y1 + full.h() / 3.0,
                    ..full
                };
                let (head_area, _) = uncovered(&head.clamp(proj.w, proj.h), &nearer);
                nearer.push(clipped);
                let vis = (area / full.area()).clamp(0.0, 1.0);
                let head_vis = (head_area / head.area()).clamp(0.0, 1.0);
                let Some(vbb) = vbb else { continue };
                if vis <= 0.0 {
                    continue;
                }
                people.push(PersonView {
                    key: i,
                    full,
                    clipped,
                    visible_bb: vbb,
                    visibility: vis,
                    head_visibility: head_vis,
                });
                let p = shoppers[i].pos;
                truth.push(TruthBox {
                    id: i as u32,
                    bbox: clipped.to_bbox(),
                    visibility: vis as f32,
                    floor: [p.x as f32, p.y as f32],
                });
                first_seen[i].get_or_insert(fi);
            }
            let static_views: Vec<(Bx, Bx, f64)> = statics
                .iter()
                .map(|st| match st {
                    Some((full, clipped, depth)) => {
                        let occ: Vec<Bx> =
                            views.iter().filter(|v| v.0 < *depth).map(|v| v.3).collect();
                        let (area, _) = uncovered(clipped, &occ);
                        let vis = if full.area() > 0.0 {
                            area / full.area()
                        } else {
                            0.0
                        };
                        (*full, *clipped, vis)
                    }
                    None => (Bx::default(), Bx::default(), 0.0),
                })
                .collect();
            let (detections, appearance) = detector.detect(
                &s.noise,
                &proj,
                s.floor.width_m,
                s.floor.depth_m,
                &people,
                &static_views,
                &s.appearance,
                &mut painter,
            );
            frames.push(SimFrame {
                index: fi,
                time: frame_time(k, s.fps),
                detections,
                appearance,
                truth,
            });
        }
        for sub in 0..nsub {
            let t = k as f64 * frame_dt + f64::from(sub) * dt;
            world.step(t, dt);
        }
    }

    // Close what is still open.
    let end = n_frames as u32;
    for tr in &tracks {
        for v in tr.open.iter().flatten() {
            raw_visits[*v].exit_frame = end;
            raw_visits[*v].open_end = true;
        }
    }

    // Ids in order of first appearance.
    let mut order: Vec<(u32, usize)> = first_seen
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.map(|f| (f, i)))
        .collect();
    order.sort_unstable();
    let mut id_of = vec![0u32; first_seen.len()];
    for (n, (_, i)) in order.iter().enumerate() {
        id_of[*i] = n as u32 + 1;
    }
    for f in &mut frames {
        for t in &mut f.truth {
            t.id = id_of[t.id as usize];
        }
        f.truth.sort_by_key(|t| t.id);
    }
    let mut visits: Vec<Visit> = raw_visits
        .iter()
        .map(|v| {
            let enter = frame_time(i64::from(v.enter_frame), s.fps);
            let exit = frame_time(i64::from(v.exit_frame), s.fps);
            Visit {
                shopper: id_of[v.shopper],
                zone: v.zone,
                zone_name: zones[v.zone].name.clone(),
                kind: zones[v.zone].kind,
                enter_frame: v.enter_frame,
                exit_frame: v.exit_frame,
                enter,
                exit,
                dwell_s: (exit.ticks - enter.ticks) as f64 / f64::from(TIMESCALE),
                entered_before_start: v.open_start,
                still_inside_at_end: v.open_end,
            }
        })
        .collect();
    visits.sort_by_key(|v| (v.enter_frame, v.shopper, v.zone));
    let mut events: Vec<ZoneEvent> = raw_events
        .iter()
        .map(|e| ZoneEvent {
            frame: e.frame,
            time: frame_time(i64::from(e.frame), s.fps),
            shopper: id_of[e.shopper],
            zone: e.zone,
            zone_name: zones[e.zone].name.clone(),
            kind: e.kind,
        })
        .collect();
    events.sort_by_key(|e| (e.frame, std::cmp::Reverse(e.kind), e.shopper, e.zone));

    Ok(SimOutput {
        scenario: s.name.clone(),
        fps: s.fps,
        image_width: s.camera.image_width,
        image_height: s.camera.image_height,
        frames,
        visits,
        events,
        layout,
        shoppers: order.len() as u32,
    })
}

/// Ground truth as MOTChallenge text in the MOT16/17 layout, every true box:
/// `frame,id,x,y,w,h,1,class,visibility` per line, frames 1-based, `x,y` the top-left corner;
/// class 1 (pedestrian, scored) for boxes at least `min_visibility` visible, class 8
/// (distractor: a tracker box on it is neither a match nor a false positive, as TrackEval's
/// MOTChallenge evaluation and `aisle_track::motchallenge::read_ground_truth` treat it) for
/// people hidden more than that.
pub fn to_motchallenge_gt(out: &SimOutput, min_visibility: f32) -> String {
    let mut s = String::new();
    for f in &out.frames {
        for t in &f.truth {
            let b = t.bbox;
            let class = if t.visibility >= min_visibility { 1 } else { 8 };
            s.push_str(&format!(
                "{},{},{:.2},{:.2},{:.2},{:.2},1,{class},{:.3}\n",
                f.index + 1,
                t.id,
                b.x1,
                b.y1,
                b.width(),
                b.height(),
                t.visibility
            ));
        }
    }
    s
}

/// Detections as MOTChallenge text: `frame,-1,x,y,w,h,score,-1,-1,-1` per line, frames 1-based.
pub fn to_motchallenge_det(out: &SimOutput) -> String {
    let mut s = String::new();
    for f in &out.frames {
        for d in &f.detections {
            let b = d.bbox;
            s.push_str(&format!(
                "{},-1,{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1\n",
                f.index + 1,
                b.x1,
                b.y1,
                b.width(),
                b.height(),
                d.score
            ));
        }
    }
    s
}
