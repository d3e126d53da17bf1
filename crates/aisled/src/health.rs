//! What `aisle run` reports about itself over MQTT: the periodic `health` message (per camera
//! state, frame rate, drops, outages and stage latencies; the spool and the link) and the `live`
//! occupancy of each zone.
//!
//! Camera threads write their counters into a [`Board`] (one lock per analysed frame); a
//! reporter thread turns the board into an [`aisle_fleet::payload::Health`] every
//! `mqtt.health_interval_s` and hands it to the link. Interval figures (fps, latencies) cover the
//! time since the previous report; the others count since the start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aisle_analytics::CameraAnalytics;
use aisle_fleet::payload::{
    CameraHealth, CameraState, Health, Latency, Live, SpoolHealth, StageLatencies, HEALTH_SCHEMA,
    LIVE_SCHEMA,
};
use aisle_fleet::{LinkHandle, LIVE_REFRESH_S};
use aisle_types::metrics::rfc3339_utc;

/// A pipeline stage, for its latency.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Decode,
    Preprocess,
    Infer,
    Postprocess,
    Track,
    Analytics,
}

/// Sum and maximum of a stage's times over the interval.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    n: u64,
    sum_ms: f64,
    max_ms: f64,
}

impl Acc {
    fn add(&mut self, d: Duration) {
        let ms = d.as_secs_f64() * 1e3;
        self.n += 1;
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    fn latency(&self) -> Option<Latency> {
        (self.n > 0).then(|| Latency {
            mean: round3(self.sum_ms / self.n as f64),
            max: round3(self.max_ms),
        })
    }
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// The counters of one camera.
#[derive(Debug, Clone)]
pub struct CameraCounters {
    pub state: CameraState,
    pub frames_decoded: u64,
    pub frames_analysed: u64,
    pub frames_dropped: u64,
    pub outages: u64,
    pub tracks: u32,
    pub error: Option<String>,
    /// Frames analysed in the interval.
    interval_frames: u64,
    stages: [Acc; 6],
}

impl Default for CameraCounters {
    fn default() -> Self {
        Self {
            state: CameraState::Starting,
            frames_decoded: 0,
            frames_analysed: 0,
            frames_dropped: 0,
            outages: 0,
            tracks: 0,
            error: None,
            interval_frames: 0,
            stages: [Acc::default(); 6],
        }
    }
}

impl CameraCounters {
    /// A stage time outside [`analysed`](Self::analysed) (reading the frame).
    pub fn stage(&mut self, stage: Stage, d: Duration) {
        self.stages[stage as usize].add(d);
    }

    /// One analysed frame with `tracks` people and its stage times.
    pub fn analysed(&mut self, tracks: u32, times: &[(Stage, Duration)]) {
        self.state = CameraState::Running;
        self.error = None;
        self.frames_analysed += 1;
        self.interval_frames += 1;
        self.tracks = tracks;
        for &(stage, d) in times {
            self.stages[stage as usize].add(d);
        }
    }
}

/// The counters of every camera of the run.
#[derive(Debug)]
pub struct Board {
    started: Instant,
    version: String,
    cameras: Vec<(String, Mutex<CameraCounters>)>,
    /// Start of the current interval.
    interval_start: Mutex<Instant>,
    done: AtomicBool,
}

impl Board {
    pub fn new(camera_ids: &[String], version: &str) -> Self {
        Self {
            started: Instant::now(),
            version: version.to_string(),
            cameras: camera_ids
                .iter()
                .map(|id| (id.clone(), Mutex::new(CameraCounters::default())))
                .collect(),
            interval_start: Mutex::new(Instant::now()),
            done: AtomicBool::new(false),
        }
    }

    /// Updates camera `id`'s counters (nothing for an unknown id).
    pub fn update(&self, id: &str, f: impl FnOnce(&mut CameraCounters)) {
        if let Some((_, c)) = self.cameras.iter().find(|(c, _)| c == id) {
            // A poisoned lock only means a camera thread panicked mid-update: keep counting.
            f(&mut c.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// The state of every camera, in the run's order.
    pub fn states(&self) -> Vec<CameraState> {
        self.cameras
            .iter()
            .map(|(_, c)| c.lock().unwrap_or_else(|e| e.into_inner()).state)
            .collect()
    }

    /// The report of the interval that ends now (and starts the next one).
    pub fn report(&self, link: Option<&LinkHandle>, spool_max_bytes: u64) -> Health {
        let now = Instant::now();
        let interval_s = {
            let mut start = self
                .interval_start
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let s = now.duration_since(*start).as_secs_f64();
            *start = now;
            s
        };
        let cameras = self
            .cameras
            .iter()
            .map(|(id, c)| {
                let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
                let s = &c.stages;
                let h = CameraHealth {
                    camera: id.clone(),
                    state: c.state,
                    fps: round3(c.interval_frames as f64 / interval_s.max(1e-3)),
                    frames_decoded: c.frames_decoded,
                    frames_analysed: c.frames_analysed,
                    frames_dropped: c.frames_dropped,
                    outages: c.outages,
                    tracks: c.tracks,
                    latency_ms: StageLatencies {
                        decode: s[Stage::Decode as usize].latency(),
                        preprocess: s[Stage::Preprocess as usize].latency(),
                        infer: s[Stage::Infer as usize].latency(),
                        postprocess: s[Stage::Postprocess as usize].latency(),
                        track: s[Stage::Track as usize].latency(),
                        analytics: s[Stage::Analytics as usize].latency(),
                    },
                    error: c.error.clone(),
                };
                c.interval_frames = 0;
                c.stages = [Acc::default(); 6];
                h
            })
            .collect();
        let (spool, link_health) = match link {
            Some(l) => {
                let st = l.status();
                (
                    SpoolHealth::new(&st.spool, spool_max_bytes),
                    aisle_fleet::payload::LinkHealth::new(st.connected, &st.counters),
                )
            }
            None => Default::default(),
        };
        Health {
            schema: HEALTH_SCHEMA.into(),
            at: rfc3339_ms(aisle_video::camera::unix_ms(SystemTime::now())),
            version: self.version.clone(),
            uptime_s: round3(self.started.elapsed().as_secs_f64()),
            interval_s: round3(interval_s),
            cameras,
            spool,
            link: link_health,
        }
    }

    /// Ends [`report_every`].
    pub fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }

    /// Publishes a report on `link` every `interval` until [`finish`](Self::finish) (checked
    /// every 100 ms).
    pub fn report_every(&self, link: &LinkHandle, interval: Duration, spool_max_bytes: u64) {
        let expiry = u32::try_from(2 * interval.as_secs()).unwrap_or(u32::MAX);
        let mut next = Instant::now() + interval;
        while !self.done.load(Ordering::Acquire) {
            let left = next.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                std::thread::sleep(left.min(Duration::from_millis(100)));
                continue;
            }
            next += interval;
            let health = self.report(Some(link), spool_max_bytes);
            match link.publish_health(&health, expiry) {
                Ok(true) => {}
                Ok(false) => tracing::debug!("health report dropped: the MQTT link is busy"),
                Err(e) => tracing::warn!("health report: {e}"),
            }
        }
    }
}

/// `2026-11-25T19:44:00.250Z` for Unix milliseconds.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let s = rfc3339_utc(unix_ms.div_euclid(1000));
    let ms = unix_ms.rem_euclid(1000);
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}.{ms:03}Z"),
        None => s,
    }
}

/// What was last published on a zone's `live` topic.
#[derive(Debug, Clone, Copy)]
struct LiveSent {
    occupancy: u32,
    at: Instant,
}

/// Publishes the `live` occupancy of a camera's zones: on a change (at most once a second per
/// zone) and at least every [`LIVE_REFRESH_S`].
#[derive(Debug, Default)]
pub struct LivePublisher {
    sent: Vec<Option<LiveSent>>,
}

impl LivePublisher {
    /// Forgets what was sent (new zones: everything is published again).
    pub fn reset(&mut self) {
        self.sent.clear();
    }

    /// After an analytics update: the zones whose count is due.
    pub fn publish(&mut self, analytics: &CameraAnalytics, link: &LinkHandle) {
        let now = Instant::now();
        let at = analytics.last_update_unix_ms().map(rfc3339_ms);
        for (i, zone) in analytics.live().enumerate() {
            if self.sent.len() <= i {
                self.sent.resize(i + 1, None);
            }
            let due = match self.sent[i] {
                None => true,
                Some(s) => {
                    let age = now.duration_since(s.at);
                    (s.occupancy != zone.occupancy && age >= Duration::from_secs(1))
                        || age >= Duration::from_secs(u64::from(LIVE_REFRESH_S))
                }
            };
            if !due {
                continue;
            }
            let live = Live {
                schema: LIVE_SCHEMA.into(),
                camera: analytics.camera().to_string(),
                zone: zone.zone.to_string(),
                zone_kind: zone.kind,
                occupancy: zone.occupancy,
                capacity: zone.capacity,
                at: at.clone().unwrap_or_default(),
            };
            match link.publish_live(&live) {
                Ok(true) => {
                    self.sent[i] = Some(LiveSent {
                        occupancy: zone.occupancy,
                        at: now,
                    })
                }
                Ok(false) => {} // the link is busy: the next frame tries again
                Err(e) => tracing::warn!(zone = zone.zone, "live occupancy: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_in_rfc3339() {
        assert_eq!(rfc3339_ms(1_795_635_840_250), "2026-11-25T19:44:00.250Z");
        assert_eq!(rfc3339_ms(1_795_635_840_000), "2026-11-25T19:44:00.000Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn reports_count_frames_and_latencies_per_interval() {
        let board = Board::new(&["a".into(), "b".into()], "9.9.9");
        board.update("a", |c| {
            c.frames_decoded = 3;
            c.analysed(
                2,
                &[
                    (Stage::Infer, Duration::from_millis(20)),
                    (Stage::Track, Duration::from_micros(50)),
                ],
            );
            c.analysed(4, &[(Stage::Infer, Duration::from_millis(30))]);
        });
        board.update("nope", |_| panic!("unknown cameras are ignored"));
        let h = board.report(None, 0);
        assert_eq!(h.schema, HEALTH_SCHEMA);
        assert_eq!(h.version, "9.9.9");
        let a = &h.cameras[0];
        assert_eq!(
            (a.state, a.frames_analysed, a.tracks),
            (CameraState::Running, 2, 4)
        );
        let infer = a.latency_ms.infer.unwrap();
        assert_eq!((infer.mean, infer.max), (25.0, 30.0));
        assert_eq!(a.latency_ms.track.unwrap().max, 0.05);
        assert_eq!(a.latency_ms.decode, None);
        assert!(a.fps > 0.0);
        assert_eq!(h.cameras[1].state, CameraState::Starting);
        // The next interval starts empty; totals stay.
        let h = board.report(None, 0);
        assert_eq!(h.cameras[0].frames_analysed, 2);
        assert_eq!(h.cameras[0].fps, 0.0);
        assert_eq!(h.cameras[0].latency_ms.infer, None);
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["cameras"][1]["state"], "starting");
    }
}
