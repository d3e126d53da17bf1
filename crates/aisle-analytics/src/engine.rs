//! The state machine of one camera: the person table, visits, lines, time integration and
//! window closes. Record building is in `records.rs`.

use aisle_types::polygon;
use aisle_types::MediaTime;

use aisle_config::{AnalyticsConfig, LineConfig, ZoneConfig};
use aisle_types::metrics::{MetricRecord, Period, ZoneKind};

use crate::bits::SlotSet;
use crate::heatmap::cell_of;
use crate::lines::{self, LineState};
use crate::persons::{
    anchor_point, away_from_border, bbox_valid, stitch_distance, Person, SlotState, Visit,
    MAX_PERSONS, STITCH_MAX_COLOUR_DISTANCE,
};
use crate::setup::{self, Line, Settings, Zone, MAX_ZONES};
use crate::window::{window_index, window_start_media_s, ExitRing, PeriodAcc};
use crate::zones::{REPORT_SAMPLES, WINDOW_SAMPLES};
use crate::{AnalyticsError, AnalyticsStats, TrackPoint};

/// A longer gap between two updates is an outage: not integrated, not observed.
pub const MAX_GAP_S: f64 = 2.0;
/// Line hysteresis margin, share of the frame height.
const LINE_MARGIN: f64 = 0.01;
/// Least staff-zone time before the share rule can classify a person as staff, seconds.
const STAFF_MIN_S: f64 = 1.0;

pub(crate) struct Engine {
    pub camera: String,
    pub width: f64,
    pub height: f64,
    pub s: Settings,
    pub zones: Vec<Zone>,
    pub lines: Vec<Line>,
    pub epoch_unix_ms: i64,
    /// `MAX_PERSONS` slots.
    pub persons: Vec<Person>,
    /// `MAX_PERSONS * zones.len()`: slot-major.
    pub visits: Vec<Visit>,
    /// `MAX_PERSONS * lines.len()`: slot-major.
    pub line_states: Vec<LineState>,
    /// Held state (as of the latest update), per zone: customers whose anchor is inside (or
    /// who are lost within grace and were last seen inside), and customers with an open visit.
    pub occupants: Vec<SlotSet>,
    /// Per zone: occupants whose visit is confirmed (the visitors).
    pub visiting: Vec<SlotSet>,
    pub open: Vec<SlotSet>,
    /// Customers seen in the latest update.
    pub in_view: SlotSet,
    pub window: PeriodAcc,
    pub report: PeriodAcc,
    /// Queue zones only.
    pub rings: Vec<Option<ExitRing>>,
    pub last: Option<MediaTime>,
    pub last_t: f64,
    /// The latest instant integrated or observed, media seconds.
    pub clock: f64,
    pub stats: AnalyticsStats,
    /// Track ids of the latest removed persons (a ring): such an id seen again is a new person
    /// whose visits start now, not at the track's `first_seen`.
    pub removed_ids: [u32; REMOVED_IDS],
    pub removed_next: usize,
}

/// Removed track ids remembered.
const REMOVED_IDS: usize = 64;

impl Engine {
    pub fn new(
        camera: &str,
        frame_width: u32,
        frame_height: u32,
        zones: &[ZoneConfig],
        lines: &[LineConfig],
        settings: &AnalyticsConfig,
        epoch_unix_ms: i64,
    ) -> Result<Self, AnalyticsError> {
        let setup = setup::setup(camera, frame_width, frame_height, zones, lines, settings)?;
        let (nz, nl) = (setup.zones.len(), setup.lines.len());
        let s = setup.settings;
        let ring_len = (s.report_window_s / s.window_s) as usize;
        let rings = setup
            .zones
            .iter()
            .map(|z| (z.kind == ZoneKind::Queue).then(|| ExitRing::new(ring_len)))
            .collect();
        Ok(Self {
            camera: camera.to_string(),
            width: setup.width,
            height: setup.height,
            window: PeriodAcc::new(s.window_s, nz, nl, WINDOW_SAMPLES, &s),
            report: PeriodAcc::new(s.report_window_s, nz, nl, REPORT_SAMPLES, &s),
            s,
            zones: setup.zones,
            lines: setup.lines,
            epoch_unix_ms,
            persons: vec![Person::FREE; MAX_PERSONS],
            visits: vec![Visit::NONE; MAX_PERSONS * nz],
            line_states: vec![LineState::NONE; MAX_PERSONS * nl],
            occupants: vec![SlotSet::default(); nz],
            visiting: vec![SlotSet::default(); nz],
            open: vec![SlotSet::default(); nz],
            in_view: SlotSet::default(),
            rings,
            last: None,
            last_t: 0.0,
            clock: 0.0,
            stats: AnalyticsStats::default(),
            removed_ids: [u32::MAX; REMOVED_IDS],
            removed_next: 0,
        })
    }

    pub fn update(
        &mut self,
        at: MediaTime,
        tracks: &[TrackPoint],
        out: &mut Vec<MetricRecord>,
    ) -> Result<(), AnalyticsError> {
        if let Some(previous) = self.last {
            if at < previous {
                self.stats.frames_out_of_order += 1;
                return Err(AnalyticsError::TimeWentBack {
                    camera: self.camera.clone(),
                    at,
                    previous,
                });
            }
        }
        self.stats.frames += 1;
        let t = at.as_secs_f64();
        let k = window_index(self.epoch_unix_ms, at, self.s.window_s);
        if self.last.is_none() {
            self.window.reset(k);
            self.report.reset(self.report_index(k));
        } else {
            self.advance(t, k, out);
        }
        self.last = Some(at);
        self.last_t = t;
        self.clock = t;
        self.observe(t, tracks);
        self.refresh_held();
        Ok(())
    }

    pub fn finish(&mut self, at: MediaTime, out: &mut Vec<MetricRecord>) {
        let Some(previous) = self.last else {
            return;
        };
        let at = at.max(previous);
        let t = at.as_secs_f64();
        let k = window_index(self.epoch_unix_ms, at, self.s.window_s);
        self.advance(t, k, out);
        self.last = Some(at);
        self.last_t = t;
        if self.window.observed_s > 0.0 {
            self.push_rings(1);
            self.emit(Period::Window, out);
        }
        if self.report.observed_s > 0.0 {
            self.emit(Period::Report, out);
        }
        // What was emitted is not emitted again if input goes on.
        self.window.reset(self.window.index);
        self.report.reset(self.report.index);
    }

    pub(crate) fn report_index(&self, window_k: i64) -> i64 {
        (window_k * i64::from(self.s.window_s)).div_euclid(i64::from(self.s.report_window_s))
    }

    /// Integrates the held state from the previous update to `t` (window `k`), closing the
    /// windows on the way.
    fn advance(&mut self, t: f64, k: i64, out: &mut Vec<MetricRecord>) {
        let integrate = t - self.last_t <= MAX_GAP_S;
        if !integrate {
            self.stats.outages += 1;
        }
        let mut cur = self.last_t;
        while self.window.index < k {
            let end =
                window_start_media_s(self.epoch_unix_ms, self.window.index + 1, self.s.window_s);
            if integrate && end > cur {
                self.integrate(cur, end);
                cur = end;
            }
            let next = if integrate { self.window.index + 1 } else { k };
            self.close_window(next, out);
        }
        if integrate && t > cur {
            self.integrate(cur, t);
        }
    }

    fn push_rings(&mut self, windows: i64) {
        for (z, ring) in self.rings.iter_mut().enumerate() {
            if let Some(ring) = ring {
                let za = &self.window.zones[z];
                ring.push(za.dwell.count, self.window.observed_s);
                for _ in 1..windows {
                    ring.push(0, 0.0);
                }
            }
        }
    }

    /// Emits the current window (and report window when it ends) and starts window `next`.
    fn close_window(&mut self, next: i64, out: &mut Vec<MetricRecord>) {
        let ring_len = i64::from(self.s.report_window_s / self.s.window_s);
        self.push_rings((next - self.window.index).clamp(1, ring_len));
        if self.window.observed_s > 0.0 {
            self.emit(Period::Window, out);
        }
        let r = self.report_index(next);
        if r != self.report.index {
            if self.report.observed_s > 0.0 {
                self.emit(Period::Report, out);
            }
            self.report.reset(r);
        }
        self.window.reset(next);
    }

    /// Sample-and-hold: the state of the latest update holds over `[a, b)` (one window).
    fn integrate(&mut self, a: f64, b: f64) {
        let dt = b - a;
        for acc in [&mut self.window, &mut self.report] {
            acc.observed_s += dt;
            for (z, za) in acc.zones.iter_mut().enumerate() {
                let n = self.occupants[z].len();
                za.person_seconds += f64::from(n) * dt;
                za.max = za.max.max(n);
                za.visitors.union_with(&self.visiting[z]);
            }
            acc.camera_person_seconds += f64::from(self.in_view.len()) * dt;
            acc.camera_persons.union_with(&self.in_view);
            for slot in self.in_view.iter() {
                let c = usize::from(self.persons[slot].cell);
                acc.heat.seconds[c] += dt;
                acc.heat.persons[c].insert(slot);
            }
        }
        for p in self
            .persons
            .iter_mut()
            .filter(|p| p.state == SlotState::Seen)
        {
            p.total_time += dt;
            if p.in_staff_zone {
                p.staff_time += dt;
            }
        }
        self.clock = b;
    }

    pub(crate) fn find(&self, id: u32) -> Option<usize> {
        self.persons
            .iter()
            .position(|p| p.state != SlotState::Free && p.track_id == id)
    }

    /// Applies the tracks seen at `t`.
    fn observe(&mut self, t: f64, tracks: &[TrackPoint]) {
        for p in self.persons.iter_mut() {
            p.claim = u32::MAX;
            p.created_now = false;
        }
        // Known ids (the first of duplicates wins).
        for (i, tr) in tracks.iter().enumerate() {
            if !bbox_valid(&tr.bbox) {
                self.stats.tracks_invalid += 1;
                continue;
            }
            if let Some(slot) = self.find(tr.id) {
                let p = &mut self.persons[slot];
                if p.claim != u32::MAX {
                    self.stats.tracks_duplicate += 1;
                    continue;
                }
                p.seen(i, tr, t);
            }
        }
        // The unseen are lost; past their grace they are gone.
        for slot in 0..MAX_PERSONS {
            let p = &mut self.persons[slot];
            if p.state == SlotState::Free || p.claim != u32::MAX {
                continue;
            }
            p.state = SlotState::Lost;
            if t - p.last_seen > self.s.lost_grace_s {
                self.remove(slot);
            }
        }
        // New ids: a continuation of someone lost nearby, or a new person.
        for (i, tr) in tracks.iter().enumerate() {
            if !bbox_valid(&tr.bbox) {
                continue;
            }
            if let Some(slot) = self.find(tr.id) {
                let p = &self.persons[slot];
                if p.claim != i as u32 && p.created_now {
                    self.stats.tracks_duplicate += 1;
                }
                continue;
            }
            let stitched = if away_from_border(&tr.bbox, self.width, self.height) {
                self.stitch_candidate(t, tr)
            } else {
                None
            };
            let slot = if let Some(slot) = stitched {
                self.stats.stitches += 1;
                slot
            } else if let Some(slot) = self.persons.iter().position(|p| p.state == SlotState::Free)
            {
                let returning = self.removed_ids.contains(&tr.id);
                let first_seen = if returning {
                    t
                } else {
                    tr.first_seen.as_secs_f64().min(t)
                };
                self.persons[slot] = Person {
                    created_now: true,
                    first_seen,
                    ..Person::FREE
                };
                slot
            } else {
                self.stats.tracks_over_capacity += 1;
                continue;
            };
            let p = &mut self.persons[slot];
            p.track_id = tr.id;
            p.seen(i, tr, t);
        }
        for slot in 0..MAX_PERSONS {
            match self.persons[slot].state {
                SlotState::Free => {}
                SlotState::Seen => self.process_seen(slot, t),
                SlotState::Lost => self.expire_pending(slot, t),
            }
        }
    }

    /// The nearest person lost within grace whose last box `tr` plausibly continues.
    fn stitch_candidate(&self, t: f64, tr: &TrackPoint) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (slot, p) in self.persons.iter().enumerate() {
            if p.state != SlotState::Lost || t - p.last_seen > self.s.lost_grace_s {
                continue;
            }
            if let (Some(a), Some(b)) = (&p.appearance, &tr.appearance) {
                if a.distance(b)
                    .is_some_and(|d| d > STITCH_MAX_COLOUR_DISTANCE)
                {
                    continue;
                }
            }
            if let Some(d) = stitch_distance(&p.bbox, &tr.bbox, t - p.last_seen) {
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((slot, d));
                }
            }
        }
        best.map(|(slot, _)| slot)
    }

    fn zone_mask(&self) -> u64 {
        self.zones
            .iter()
            .enumerate()
            .filter(|(_, z)| !z.is_staff())
            .fold(0, |m, (z, _)| m | 1 << z)
    }

    /// Pending exits of `slot` that reached `reentry_gap_s` close, at their exit time.
    fn expire_pending(&mut self, slot: usize, t: f64) {
        let nz = self.zones.len();
        let mut closes = 0u64;
        let mut exits = [0.0f64; MAX_ZONES];
        let visits = &self.visits[slot * nz..(slot + 1) * nz];
        for (z, (v, exit)) in visits.iter().zip(exits.iter_mut()).enumerate() {
            if v.pending_exit() && t - v.outside_since >= self.s.reentry_gap_s {
                closes |= 1 << z;
                *exit = v.outside_since;
            }
        }
        self.close_visits(slot, closes, &exits, false);
    }

    fn process_seen(&mut self, slot: usize, t: f64) {
        let nz = self.zones.len();
        let bbox = self.persons[slot].bbox;
        // Staff: decided frame by frame from the time in staff zones so far.
        let in_staff = self
            .zones
            .iter()
            .any(|z| z.is_staff() && polygon::contains(&z.polygon, anchor_point(&bbox, z.anchor)));
        let share = self.s.staff_share;
        let p = &mut self.persons[slot];
        p.in_staff_zone = in_staff;
        p.seen_outside_staff |= !in_staff;
        let decided = p.staff_time >= STAFF_MIN_S && p.staff_time > share * p.total_time;
        // Someone only ever seen in a staff zone is staff until the rule can decide.
        let provisional = in_staff && !p.seen_outside_staff && p.staff_time < STAFF_MIN_S;
        p.staff = decided || provisional;
        if decided && !p.counted_staff {
            p.counted_staff = true;
            self.stats.staff_tracks += 1;
        }
        let staff = p.staff;
        let created = p.created_now;
        let first_seen = p.first_seen;
        p.cell = cell_of(
            anchor_point(&bbox, aisle_config::Anchor::BottomCentre),
            self.width,
            self.height,
            self.s.heatmap_cols,
            self.s.heatmap_rows,
        );

        self.expire_pending(slot, t);

        // Visits: open, continue (re-entry within the gap) or start a pending exit.
        let mut opens = 0u64;
        for z in 0..nz {
            let zone = &self.zones[z];
            if zone.is_staff() {
                continue;
            }
            let inside = polygon::contains(&zone.polygon, anchor_point(&bbox, zone.anchor));
            let v = &mut self.visits[slot * nz + z];
            if inside {
                if !v.open {
                    v.open = true;
                    v.confirmed = false;
                    v.start = if created { first_seen.min(t) } else { t };
                }
                v.outside_since = f64::NAN;
                if !v.confirmed && t - v.start >= self.s.min_visit_s {
                    v.confirmed = true;
                    opens |= 1 << z;
                    if !staff {
                        self.window.zones[z].entries += 1;
                        self.report.zones[z].entries += 1;
                    }
                }
            } else if v.open && v.outside_since.is_nan() {
                v.outside_since = t;
            }
            v.inside = inside;
        }
        // Transitions waiting for this person's next visit start.
        if opens != 0 {
            for a in 0..nz {
                let v = &mut self.visits[slot * nz + a];
                if v.transition_from.is_nan() {
                    continue;
                }
                v.transition_from = f64::NAN;
                if !staff {
                    self.count_transitions(a, opens & !(1 << a));
                }
            }
        }
        // Lines.
        let margin = LINE_MARGIN * self.height;
        let nl = self.lines.len();
        for l in 0..nl {
            let line = &self.lines[l];
            let pt = anchor_point(&bbox, line.anchor);
            if let Some(into) = lines::step(&mut self.line_states[slot * nl + l], line, pt, margin)
            {
                if !staff {
                    let in_side = line.in_side;
                    self.window.lines[l].count(slot, into, in_side);
                    self.report.lines[l].count(slot, into, in_side);
                }
            }
        }
    }

    fn count_transitions(&mut self, from: usize, to: u64) {
        let mut m = to;
        while m != 0 {
            let b = m.trailing_zeros() as usize;
            m &= m - 1;
            self.window.zones[from].transitions[b] += 1;
            self.report.zones[from].transitions[b] += 1;
        }
    }

    /// Closes the visits of `slot` in `closes` at `exits`: transitions first (against the
    /// person's visits before any of these closes), then the dwell figures.
    fn close_visits(&mut self, slot: usize, closes: u64, exits: &[f64; MAX_ZONES], removing: bool) {
        if closes == 0 {
            return;
        }
        let nz = self.zones.len();
        let staff = self.persons[slot].staff;
        let zone_mask = self.zone_mask();
        let mut m = closes;
        while m != 0 {
            let a = m.trailing_zeros() as usize;
            m &= m - 1;
            let exit = exits[a];
            if !self.visits[slot * nz + a].confirmed {
                continue;
            }
            // The person's next visit start at or after the exit (already open: the exit is
            // confirmed late); visits open before the exit do not count. None yet: a zone
            // entered after this visit began and before its exit, where the person still is, is
            // where they went: crossing the border between two adjacent zones, a jittering foot
            // point enters the next zone before it leaves this one for good. (A zone entered
            // before this visit began, like the aisle around a display, is where they were, not
            // where they went.)
            let start_a = self.visits[slot * nz + a].start;
            let (mut first, mut targets) = (f64::INFINITY, 0u64);
            let (mut latest, mut crossed) = (f64::NEG_INFINITY, 0u64);
            for b in 0..nz {
                let v = &self.visits[slot * nz + b];
                if b == a || zone_mask & (1 << b) == 0 || !v.open || !v.confirmed {
                    continue;
                }
                if v.start >= exit {
                    if v.start < first {
                        first = v.start;
                        targets = 1 << b;
                    } else if v.start == first {
                        targets |= 1 << b;
                    }
                } else if v.inside && v.start > start_a && v.start > latest {
                    latest = v.start;
                    crossed = 1 << b;
                }
            }
            if targets == 0 {
                targets = crossed;
            }
            if targets != 0 {
                if !staff {
                    self.count_transitions(a, targets);
                }
            } else if !removing {
                self.visits[slot * nz + a].transition_from = exit;
            }
        }
        let mut m = closes;
        while m != 0 {
            let a = m.trailing_zeros() as usize;
            m &= m - 1;
            let v = &mut self.visits[slot * nz + a];
            let dwell = (exits[a] - v.start).max(0.0);
            let confirmed = v.confirmed;
            v.open = false;
            v.confirmed = false;
            v.outside_since = f64::NAN;
            if !staff && confirmed {
                let (bounce, engaged) = (self.s.bounce_s, self.s.engaged_s);
                self.window.zones[a].dwell.add(dwell, bounce, engaged);
                self.report.zones[a].dwell.add(dwell, bounce, engaged);
                self.stats.visits_closed += 1;
            }
        }
    }

    /// The person is gone: open visits close (at the pending exit, else at the last sighting),
    /// distinct-person bits of the slot fold into departed counts, the slot is freed.
    fn remove(&mut self, slot: usize) {
        let nz = self.zones.len();
        let last_seen = self.persons[slot].last_seen;
        let mut closes = 0u64;
        let mut exits = [0.0f64; MAX_ZONES];
        let visits = &self.visits[slot * nz..(slot + 1) * nz];
        for (z, (v, exit)) in visits.iter().zip(exits.iter_mut()).enumerate() {
            if v.open {
                closes |= 1 << z;
                *exit = v.exit_at(last_seen);
            }
        }
        self.close_visits(slot, closes, &exits, true);
        self.window.fold_slot(slot);
        self.report.fold_slot(slot);
        for z in 0..nz {
            self.occupants[z].remove(slot);
            self.visiting[z].remove(slot);
            self.open[z].remove(slot);
            self.visits[slot * nz + z] = Visit::NONE;
        }
        self.in_view.remove(slot);
        let nl = self.lines.len();
        for l in 0..nl {
            self.line_states[slot * nl + l] = LineState::NONE;
        }
        self.removed_ids[self.removed_next] = self.persons[slot].track_id;
        self.removed_next = (self.removed_next + 1) % REMOVED_IDS;
        self.persons[slot] = Person::FREE;
    }

    /// Recomputes the held state after an update and marks it in the open periods.
    fn refresh_held(&mut self) {
        let nz = self.zones.len();
        self.occupants.iter_mut().for_each(SlotSet::clear);
        self.visiting.iter_mut().for_each(SlotSet::clear);
        self.open.iter_mut().for_each(SlotSet::clear);
        self.in_view.clear();
        for (slot, p) in self.persons.iter().enumerate() {
            if p.state == SlotState::Free || p.staff {
                continue;
            }
            // Held like in the zones: someone lost within grace (hidden behind others) is still
            // in view for the camera's figures, so a zone never counts more people than the
            // camera.
            self.in_view.insert(slot);
            for z in 0..nz {
                let v = &self.visits[slot * nz + z];
                if v.inside {
                    self.occupants[z].insert(slot);
                    if v.confirmed {
                        self.visiting[z].insert(slot);
                    }
                }
                if v.open {
                    self.open[z].insert(slot);
                }
            }
        }
        for acc in [&mut self.window, &mut self.report] {
            for (z, za) in acc.zones.iter_mut().enumerate() {
                za.max = za.max.max(self.occupants[z].len());
                za.visitors.union_with(&self.visiting[z]);
            }
            acc.camera_persons.union_with(&self.in_view);
            for slot in self.in_view.iter() {
                acc.heat.persons[usize::from(self.persons[slot].cell)].insert(slot);
            }
        }
    }
}
