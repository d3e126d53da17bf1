//! Shoppers on the floor: arrivals, plans, walking, dwelling, queueing, leaving.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};

use crate::geom::V2;
use crate::layout::{Anchor, FloorPlan, Router};
use crate::scenario::Scenario;

/// Time constant of the sideways wander, seconds.
const WANDER_TAU_S: f64 = 2.0;
/// Distance over which a walker's sideways offset follows its target, metres (relaxing per
/// distance walked, not per second, so a blocked walker does not drift backwards at a corner).
const OFFSET_RELAX_M: f64 = 0.8;
/// Time constant with which a standing shopper settles onto the spot, and sway fades once
/// walking, seconds.
const OFFSET_TAU_S: f64 = 0.5;
/// Standing sway: stationary sd (metres) and time constant (s).
const SWAY_SD_M: f64 = 0.03;
const SWAY_TAU_S: f64 = 1.5;
/// Offsets fade in and out over this distance at the ends of a walk, metres.
const OFFSET_RAMP_M: f64 = 0.8;
/// Queue walking speed, m/s.
const QUEUE_SPEED_MPS: f64 = 0.7;
/// Following: the walker ahead within this lateral distance slows you (metres) ...
const FOLLOW_LATERAL_M: f64 = 0.45;
/// ... to a stop at this gap, full speed at `FOLLOW_STOP_M + FOLLOW_RAMP_M`.
const FOLLOW_STOP_M: f64 = 0.5;
const FOLLOW_RAMP_M: f64 = 0.5;
/// A walker blocked this long squeezes past for `SQUEEZE_S`.
const BLOCKED_MAX_S: f64 = 3.0;
/// Walkers speed up and slow down to a stop at these rates, m/s^2; the last few centimetres
/// before a stop are walked at `CREEP_MPS`.
const ACCEL_MPS2: f64 = 0.8;
const DECEL_MPS2: f64 = 0.8;
const CREEP_MPS: f64 = 0.15;
/// How far before and after a corner a walker starts and ends turning, metres.
const CORNER_CUT_M: f64 = 0.5;
const SQUEEZE_S: f64 = 1.5;

#[derive(Debug, Clone, Copy)]
enum Target {
    Display(usize),
    Browse { edge: usize, t: f64 },
    Checkout,
}

#[derive(Debug, Clone, Copy)]
enum Arrive {
    Dwell { secs: f64 },
    Pause { secs: f64 },
    QueueEntry,
    Till { till: usize, secs: f64 },
    Door,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Walk(Arrive),
    Dwell { until: f64 },
    Pause { until: f64 },
    Queue { s: f64 },
    Serve { till: usize, until: f64 },
    Done,
}

#[derive(Debug, Clone)]
pub(crate) struct Shopper {
    /// Where the shopper stands (foot centre), metres.
    pub pos: V2,
    pub height: f64,
    pub width: f64,
    /// Nominal position: on the path while walking, the spot while standing.
    base: V2,
    heading: V2,
    speed: f64,
    /// Current walking speed, m/s.
    cur_speed: f64,
    lane: f64,
    wander: f64,
    offset: V2,
    sway: V2,
    queue_lat: f64,
    anchor: Anchor,
    plan: VecDeque<Target>,
    state: State,
    path: Vec<V2>,
    /// Index of the next path point.
    path_i: usize,
    path_done_m: f64,
    path_left_m: f64,
    blocked_s: f64,
    squeeze_s: f64,
    spot: Option<(usize, V2)>,
}

impl Shopper {
    pub fn active(&self) -> bool {
        !matches!(self.state, State::Done)
    }

    fn walking(&self) -> bool {
        matches!(self.state, State::Walk(_))
    }

    fn on_path(&self) -> bool {
        matches!(self.state, State::Walk(_) | State::Pause { .. })
    }
}

pub(crate) struct World<'a> {
    sc: &'a Scenario,
    plan: &'a FloorPlan,
    router: Router,
    rng: ChaCha8Rng,
    pub shoppers: Vec<Shopper>,
    queue: VecDeque<usize>,
    tills: Vec<Option<usize>>,
    /// Claimed stand spots per display.
    spots: Vec<Vec<(usize, V2)>>,
    next_arrival: f64,
    door_anchor: Anchor,
    queue_len_m: f64,
    queue_cap: usize,
}

/// People do not turn on the spot: every interior corner of a walk is cut by up to
/// `CORNER_CUT_M` along each leg (never more than a third of the leg), through a point halfway
/// between the cut and the corner.
fn round_corners(p: &[V2]) -> Vec<V2> {
    if p.len() < 3 {
        return p.to_vec();
    }
    let mut out = Vec::with_capacity(p.len() * 3);
    out.push(p[0]);
    for w in p.windows(3) {
        let (a, v, b) = (w[0], w[1], w[2]);
        let (la, lb) = (v.dist(a), v.dist(b));
        let c = CORNER_CUT_M.min(la / 3.0).min(lb / 3.0);
        match ((a - v).unit(), (b - v).unit()) {
            (Some(ua), Some(ub)) if c > 1e-3 && ua.dot(ub) > -0.999 => {
                let p1 = v + ua * c;
                let p2 = v + ub * c;
                out.push(p1);
                out.push(p1.lerp(p2, 0.5).lerp(v, 0.5));
                out.push(p2);
            }
            _ => out.push(v),
        }
    }
    out.push(p[p.len() - 1]);
    out
}

fn polyline_len(p: &[V2]) -> f64 {
    p.windows(2).map(|w| w[0].dist(w[1])).sum()
}

impl<'a> World<'a> {
    pub fn new(sc: &'a Scenario, mut rng: ChaCha8Rng, t0: f64) -> Self {
        let plan = &sc.floor;
        let first = Self::interarrival(sc, &mut rng);
        let door_anchor = plan.anchor(V2::from_arr(plan.door), &plan.door_edges);
        Self {
            sc,
            plan,
            router: Router::new(plan),
            rng,
            shoppers: Vec::new(),
            queue: VecDeque::new(),
            tills: vec![None; sc.checkout.tills as usize],
            spots: vec![Vec::new(); plan.displays.len()],
            next_arrival: t0 + first,
            door_anchor,
            queue_len_m: plan.queue_length_m(),
            queue_cap: (sc.checkout.max_queue as usize).min(plan.queue_capacity()),
        }
    }

    fn interarrival(sc: &Scenario, rng: &mut ChaCha8Rng) -> f64 {
        let rate = sc.arrivals_per_min / 60.0;
        if rate <= 0.0 {
            return f64::INFINITY;
        }
        Exp::new(rate).map_or(f64::INFINITY, |d| d.sample(rng))
    }

    /// Advance the world from `t` by `dt` seconds.
    pub fn step(&mut self, t: f64, dt: f64) {
        while self.next_arrival <= t + dt {
            let at = self.next_arrival;
            self.spawn();
            self.next_arrival = at + Self::interarrival(self.sc, &mut self.rng);
        }
        let now = t + dt;
        // Following: decide speeds from positions at the start of the step.
        let factors: Vec<f64> = (0..self.shoppers.len())
            .map(|i| self.follow_factor(i))
            .collect();
        for (i, factor) in factors.into_iter().enumerate() {
            if self.shoppers[i].active() {
                self.update(i, now, dt, factor);
            }
        }
        self.update_queue(dt);
    }

    fn follow_factor(&self, i: usize) -> f64 {
        let a = &self.shoppers[i];
        if !a.walking() || a.squeeze_s > 0.0 {
            return 1.0;
        }
        let mut f: f64 = 1.0;
        for (j, b) in self.shoppers.iter().enumerate() {
            if j == i || !b.active() || !b.on_path() {
                continue;
            }
            let d = b.pos - a.pos;
            let along = d.dot(a.heading);
            if along <= 0.0 || along > FOLLOW_STOP_M + FOLLOW_RAMP_M {
                continue;
            }
            if a.heading.cross(d).abs() > FOLLOW_LATERAL_M {
                continue;
            }
            if b.walking() && a.heading.dot(b.heading) < 0.3 {
                continue;
            }
            f = f.min(((along - FOLLOW_STOP_M) / FOLLOW_RAMP_M).clamp(0.0, 1.0));
        }
        f
    }

    fn spawn(&mut self) {
        let m = &self.sc.shoppers;
        let rng = &mut self.rng;
        let speed = rng.random_range(m.speed_min_mps..=m.speed_max_mps);
        let height = Normal::new(m.height_mean_m, m.height_sd_m)
            .map_or(m.height_mean_m, |d| d.sample(rng))
            .clamp(m.height_min_m, m.height_max_m);
        let width = rng.random_range(m.width_min_m..=m.width_max_m);
        let lhw = self.plan.lane_half_width_m;
        let lane = lhw * rng.random_range(0.15..0.7);
        let queue_lat = rng.random_range(-0.08..0.08);

        // The shopping list: displays (weighted, no repeats) and browsing stops, visited in a
        // noisy nearest-first order from the door.
        let n_disp = poisson(rng, m.displays_mean).min(self.plan.displays.len());
        let mut weights: Vec<f64> = self.plan.displays.iter().map(|d| d.attraction).collect();
        let mut targets: Vec<(V2, Target)> = Vec::new();
        for _ in 0..n_disp {
            let total: f64 = weights.iter().sum();
            if total <= 0.0 {
                break;
            }
            let mut u = rng.random_range(0.0..total);
            let mut pick = weights.len() - 1;
            for (k, w) in weights.iter().enumerate() {
                if u < *w {
                    pick = k;
                    break;
                }
                u -= w;
            }
            weights[pick] = 0.0;
            let st = self.plan.displays[pick].stand;
            targets.push((
                V2::new((st.x0 + st.x1) * 0.5, (st.y0 + st.y1) * 0.5),
                Target::Display(pick),
            ));
        }
        if !self.plan.browse_spans.is_empty() {
            for _ in 0..poisson(rng, m.browse_stops_mean) {
                let span =
                    self.plan.browse_spans[rng.random_range(0..self.plan.browse_spans.len())];
                let edge = span.edge;
                let t = rng.random_range(span.from_t..=span.to_t);
                let [a, b] = self.plan.edges[edge];
                let p = V2::from_arr(self.plan.nodes[a]).lerp(V2::from_arr(self.plan.nodes[b]), t);
                targets.push((p, Target::Browse { edge, t }));
            }
        }
        let mut plan = VecDeque::with_capacity(targets.len() + 1);
        let mut here = V2::from_arr(self.plan.door);
        while !targets.is_empty() {
            let mut best = (f64::INFINITY, 0);
            for (k, (p, _)) in targets.iter().enumerate() {
                let c = here.dist(*p) * rng.random_range(0.6..1.4);
                if c < best.0 {
                    best = (c, k);
                }
            }
            let (p, tg) = targets.swap_remove(best.1);
            here = p;
            plan.push_back(tg);
        }
        if rng.random::<f64>() < m.checkout_prob {
            plan.push_back(Target::Checkout);
        }
        let door = V2::from_arr(self.plan.door);
        self.shoppers.push(Shopper {
            pos: door,
            height,
            width,
            base: door,
            heading: V2::new(0.0, 1.0),
            speed,
            cur_speed: speed,
            lane,
            wander: 0.0,
            offset: V2::default(),
            sway: V2::default(),
            queue_lat,
            anchor: self.door_anchor,
            plan,
            state: State::Done,
            path: Vec::new(),
            path_i: 0,
            path_done_m: 0.0,
            path_left_m: 0.0,
            blocked_s: 0.0,
            squeeze_s: 0.0,
            spot: None,
        });
        let i = self.shoppers.len() - 1;
        self.next_leg(i);
    }

    fn dwell_time(&mut self, display: usize) -> f64 {
        let d = &self.sc.dwell;
        let rng = &mut self.rng;
        let secs = if rng.random::<f64>() < d.bounce_prob {
            rng.random_range(d.bounce_min_s..=d.bounce_max_s)
        } else {
            LogNormal::new(d.median_s.ln(), d.log_sigma).map_or(d.median_s, |l| l.sample(rng))
        };
        (secs * self.plan.displays[display].dwell_scale).min(d.max_s)
    }

    fn walk_to(&mut self, i: usize, to: Anchor, to_pos: V2, arrive: Arrive) {
        let s = &self.shoppers[i];
        let path = round_corners(&self.router.route(s.base, s.anchor, to, to_pos));
        let len = polyline_len(&path);
        let s = &mut self.shoppers[i];
        s.path = path;
        s.path_i = 1;
        s.path_done_m = 0.0;
        s.path_left_m = len;
        s.anchor = to;
        s.state = State::Walk(arrive);
    }

    /// Start the next leg of the shopper's plan.
    fn next_leg(&mut self, i: usize) {
        let Some(target) = self.shoppers[i].plan.pop_front() else {
            let door = V2::from_arr(self.plan.door);
            self.walk_to(i, self.door_anchor, door, Arrive::Door);
            return;
        };
        match target {
            Target::Display(d) => {
                let spot = self.choose_spot(d);
                self.spots[d].push((i, spot));
                self.shoppers[i].spot = Some((d, spot));
                let a = self.plan.anchor(spot, &self.plan.displays[d].access_edges);
                let secs = self.dwell_time(d);
                self.walk_to(i, a, spot, Arrive::Dwell { secs });
            }
            Target::Browse { edge, t } => {
                let [a, b] = self.plan.edges[edge];
                let p = V2::from_arr(self.plan.nodes[a]).lerp(V2::from_arr(self.plan.nodes[b]), t);
                let m = &self.sc.shoppers;
                let secs = self
                    .rng
                    .random_range(m.browse_pause_min_s..=m.browse_pause_max_s);
                self.walk_to(i, Anchor { edge, at: p }, p, Arrive::Pause { secs });
            }
            Target::Checkout => {
                if self.queue.len() >= self.queue_cap {
                    // The queue is full: leave without paying.
                    self.next_leg(i);
                    return;
                }
                let entry = V2::from_arr(
                    self.plan.checkout.queue_line[self.plan.checkout.queue_line.len() - 1],
                );
                let a = self
                    .plan
                    .anchor(entry, &self.plan.checkout.queue_entry_edges);
                self.walk_to(i, a, entry, Arrive::QueueEntry);
            }
        }
    }

    fn choose_spot(&mut self, d: usize) -> V2 {
        let st = self.plan.displays[d].stand;
        let mut best = (f64::NEG_INFINITY, V2::new(st.x0, st.y0));
        for _ in 0..6 {
            let p = V2::new(
                self.rng.random_range(st.x0..=st.x1),
                self.rng.random_range(st.y0..=st.y1),
            );
            let gap = self.spots[d]
                .iter()
                .map(|(_, q)| q.dist(p))
                .fold(f64::INFINITY, f64::min);
            if gap > best.0 {
                best = (gap, p);
            }
        }
        best.1
    }

    fn release_spot(&mut self, i: usize) {
        if let Some((d, _)) = self.shoppers[i].spot.take() {
            self.spots[d].retain(|(k, _)| *k != i);
        }
    }

    fn ou(rng: &mut ChaCha8Rng, x: f64, sd: f64, tau: f64, dt: f64) -> f64 {
        let a = (-dt / tau).exp();
        let n: f64 = rand_distr::StandardNormal.sample(rng);
        x * a + sd * (1.0 - a * a).sqrt() * n
    }

    fn update(&mut self, i: usize, now: f64, dt: f64, factor: f64) {
        let lhw = self.plan.lane_half_width_m;
        let wander_sd = self.sc.shoppers.wander_sd_m;
        // Random processes first (same draws every step whatever the state).
        let wander = Self::ou(
            &mut self.rng,
            self.shoppers[i].wander,
            wander_sd,
            WANDER_TAU_S,
            dt,
        );
        let sway_x = Self::ou(
            &mut self.rng,
            self.shoppers[i].sway.x,
            SWAY_SD_M,
            SWAY_TAU_S,
            dt,
        );
        let sway_y = Self::ou(
            &mut self.rng,
            self.shoppers[i].sway.y,
            SWAY_SD_M,
            SWAY_TAU_S,
            dt,
        );
        let state = self.shoppers[i].state;
        {
            let s = &mut self.shoppers[i];
            s.wander = wander;
            let standing = !matches!(state, State::Walk(_));
            s.sway = if standing {
                V2::new(sway_x, sway_y)
            } else {
                s.sway * (-dt / OFFSET_TAU_S).exp()
            };
        }
        match state {
            State::Walk(arrive) => {
                let s = &mut self.shoppers[i];
                if s.squeeze_s > 0.0 {
                    s.squeeze_s -= dt;
                }
                if factor <= 0.0 {
                    s.blocked_s += dt;
                    if s.blocked_s > BLOCKED_MAX_S {
                        s.blocked_s = 0.0;
                        s.squeeze_s = SQUEEZE_S;
                    }
                } else {
                    s.blocked_s = 0.0;
                }
                let stop = (2.0 * DECEL_MPS2 * s.path_left_m).sqrt().max(CREEP_MPS);
                let want = (s.speed * factor).min(if matches!(arrive, Arrive::Door) {
                    f64::INFINITY
                } else {
                    stop
                });
                s.cur_speed = if want > s.cur_speed {
                    (s.cur_speed + ACCEL_MPS2 * dt).min(want)
                } else {
                    want
                };
                let step = s.cur_speed * dt;
                let mut todo = step;
                while todo > 0.0 && s.path_i < s.path.len() {
                    let next = s.path[s.path_i];
                    let d = next - s.base;
                    let l = d.len();
                    if let Some(u) = d.unit() {
                        s.heading = u;
                    }
                    if l <= todo {
                        s.base = next;
                        todo -= l;
                        s.path_done_m += l;
                        s.path_left_m -= l;
                        s.path_i += 1;
                    } else {
                        s.base = s.base + d * (todo / l);
                        s.path_done_m += todo;
                        s.path_left_m -= todo;
                        todo = 0.0;
                    }
                }
                let ramp_in = (s.path_done_m / OFFSET_RAMP_M).clamp(0.0, 1.0);
                let ramp_out = if matches!(arrive, Arrive::Pause { .. }) {
                    1.0
                } else {
                    (s.path_left_m / OFFSET_RAMP_M).clamp(0.0, 1.0)
                };
                let lat = (s.lane + s.wander).clamp(-lhw, lhw) * ramp_in.min(ramp_out);
                let target = s.heading.right() * lat;
                let walked = step - todo;
                s.offset =
                    s.offset + (target - s.offset) * (1.0 - (-walked / OFFSET_RELAX_M).exp());
                s.pos = s.base + s.offset + s.sway;
                if s.path_i >= s.path.len() {
                    s.cur_speed = 0.0;
                    self.arrive(i, now, arrive);
                }
            }
            State::Dwell { until, .. } | State::Pause { until } | State::Serve { until, .. } => {
                {
                    let s = &mut self.shoppers[i];
                    if matches!(state, State::Dwell { .. } | State::Serve { .. }) {
                        s.offset = s.offset * (-dt / OFFSET_TAU_S).exp();
                    }
                    s.pos = s.base + s.offset + s.sway;
                }
                if now >= until {
                    match state {
                        State::Dwell { .. } => {
                            self.release_spot(i);
                            self.next_leg(i);
                        }
                        State::Serve { till, .. } => {
                            self.tills[till] = None;
                            let door = V2::from_arr(self.plan.door);
                            self.shoppers[i].plan.clear();
                            self.walk_to(i, self.door_anchor, door, Arrive::Door);
                        }
                        _ => self.next_leg(i),
                    }
                }
            }
            State::Queue { .. } | State::Done => {}
        }
    }

    fn arrive(&mut self, i: usize, now: f64, arrive: Arrive) {
        match arrive {
            Arrive::Dwell { secs } => {
                self.shoppers[i].state = State::Dwell { until: now + secs };
            }
            Arrive::Pause { secs } => self.shoppers[i].state = State::Pause { until: now + secs },
            Arrive::QueueEntry => {
                if self.queue.len() >= self.queue_cap {
                    self.shoppers[i].plan.clear();
                    self.next_leg(i);
                } else {
                    self.queue.push_back(i);
                    self.shoppers[i].state = State::Queue {
                        s: self.queue_len_m,
                    };
                }
            }
            Arrive::Till { till, secs } => {
                self.shoppers[i].state = State::Serve {
                    till,
                    until: now + secs,
                };
            }
            Arrive::Door => {
                self.release_spot(i);
                self.shoppers[i].state = State::Done;
            }
        }
    }

    fn update_queue(&mut self, dt: f64) {
        let spacing = self.plan.checkout.slot_spacing_m;
        let mut prev_s: Option<f64> = None;
        for k in 0..self.queue.len() {
            let i = self.queue[k];
            let State::Queue { s } = self.shoppers[i].state else {
                continue;
            };
            let mut target = k as f64 * spacing;
            if let Some(p) = prev_s {
                target = target.max(p + 0.8 * spacing);
            }
            let s_new = if s > target {
                (s - QUEUE_SPEED_MPS * dt).max(target)
            } else {
                s
            };
            prev_s = Some(s_new);
            let (p, dir) = self.plan.queue_point(s_new);
            let sh = &mut self.shoppers[i];
            sh.state = State::Queue { s: s_new };
            sh.heading = dir * -1.0;
            sh.offset = sh.offset * (-dt / OFFSET_TAU_S).exp();
            sh.base = p + dir.right() * sh.queue_lat;
            sh.pos = sh.base + sh.offset + sh.sway;
        }
        // Free tills take the head of the queue once it has reached the front.
        for till in 0..self.tills.len() {
            if self.tills[till].is_some() {
                continue;
            }
            let Some(&head) = self.queue.front() else {
                break;
            };
            let State::Queue { s } = self.shoppers[head].state else {
                break;
            };
            if s > 0.3 {
                break;
            }
            self.queue.pop_front();
            self.tills[till] = Some(head);
            let c = &self.sc.checkout;
            let secs = LogNormal::new(c.service_median_s.ln(), c.service_log_sigma)
                .map_or(c.service_median_s, |l| l.sample(&mut self.rng))
                .clamp(2.0, 1800.0);
            let spot = V2::from_arr(self.plan.checkout.till_spots[till]);
            let a = self.plan.anchor(spot, &self.plan.checkout.till_edges);
            let sh = &mut self.shoppers[head];
            sh.path = vec![sh.base, spot];
            sh.path_i = 1;
            sh.path_done_m = 0.0;
            sh.path_left_m = sh.base.dist(spot);
            sh.anchor = a;
            sh.state = State::Walk(Arrive::Till { till, secs });
        }
    }
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map_or(0.0, |d| d.sample(rng)) as usize
}
