//! RTP time: unwrapping the 32-bit RTP timestamp into a monotonic 64-bit tick count, and
//! mapping it onto the local monotonic clock and the wall clock.
//!
//! RFC 3550 §5.1: the RTP timestamp is a 32-bit count of a media clock (90 kHz for video, RFC
//! 6184 §5.1 / RFC 7798 §4.1) starting at a random value, so it wraps about every 13.25 hours
//! at 90 kHz, and tells nothing about wall-clock time by itself (only RTCP sender reports pair
//! it with NTP time, RFC 3550 §6.4.1). [`RtpUnwrapper`] extends it with the signed 32-bit
//! difference from the previous value (serial-number arithmetic, as RFC 1982), which also keeps
//! the small backward steps of B-frames (transmission order is decoding order).
//!
//! [`TimeMapper`] anchors the unwrapped count at the arrival time of the first access unit of a
//! session and predicts the local time of later ones from their RTP distance to the anchor. It
//! re-anchors when an access unit arrives more than a threshold *before* its predicted time
//! (impossible unless the camera's RTP clock jumped forward or runs fast) or persistently more
//! than the threshold *after* it (the RTP clock jumped back, or runs slow; a short network
//! stall that delivers late access units in a burst catches up and does not re-anchor).

use std::time::{Duration, SystemTime};

use aisle_types::MediaTime;

use super::clock::Stamp;

/// Extends 32-bit RTP timestamps to a monotonic `i64` tick count.
#[derive(Debug, Clone, Default)]
pub struct RtpUnwrapper {
    last: Option<(u32, i64)>,
}

impl RtpUnwrapper {
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `ts`: the first value as is, later ones the previous extended
    /// value plus the signed 32-bit difference (so a step of less than 2^31 ticks either way
    /// is taken as such, across the wrap at 2^32).
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(ts),
            Some((prev, prev_ext)) => {
                prev_ext.saturating_add(i64::from(ts.wrapping_sub(prev) as i32))
            }
        };
        self.last = Some((ts, ext));
        ext
    }

    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Times of one access unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedTime {
    /// Unwrapped RTP ticks of this session (from the camera's random starting value).
    pub rtp_ticks: i64,
    /// RTP clock rate (ticks per second).
    pub clock_rate: u32,
    /// Predicted capture time on the local monotonic clock (as [`super::Clock::now`]).
    pub local: Duration,
    /// [`Self::local`] in RTP ticks, exact relative to the anchor: use it as the access unit's
    /// presentation time. It keeps increasing across reconnects (each session anchors later).
    pub pts: MediaTime,
    /// Capture time on the wall clock (for labelling analytics windows).
    pub wall: SystemTime,
    /// The mapping was (re-)anchored at this access unit because of a jump or drift.
    pub reanchored: bool,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    ext: i64,
    /// Local time at the anchor, in RTP ticks (floor).
    local_ticks: i64,
    wall: SystemTime,
}

/// Maps unwrapped RTP ticks to local monotonic and wall-clock time.
#[derive(Debug, Clone)]
pub struct TimeMapper {
    clock_rate: u32,
    threshold: Duration,
    confirm: Duration,
    anchor: Option<Anchor>,
    late_since: Option<Duration>,
    reanchors: u64,
}

fn dur_to_ticks(d: Duration, rate: u32) -> i64 {
    i64::try_from(d.as_nanos() * u128::from(rate) / 1_000_000_000).unwrap_or(i64::MAX)
}

fn ticks_to_nanos(ticks: i64, rate: u32) -> i128 {
    i128::from(ticks) * 1_000_000_000 / i128::from(rate.max(1))
}

fn nanos_to_dur(n: i128) -> Duration {
    let n = n.max(0);
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (n % 1_000_000_000) as u32)
}

fn wall_offset(wall: SystemTime, nanos: i128) -> SystemTime {
    let d = nanos_to_dur(nanos.abs());
    if nanos >= 0 {
        wall.checked_add(d).unwrap_or(wall)
    } else {
        wall.checked_sub(d).unwrap_or(wall)
    }
}

impl TimeMapper {
    /// `clock_rate` must be non-zero (the state machine drops access units that say 0).
    pub fn new(clock_rate: u32, threshold: Duration, confirm: Duration) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            threshold,
            confirm,
            anchor: None,
            late_since: None,
            reanchors: 0,
        }
    }

    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// Re-anchors counted so far (the first anchor of a session is not one).
    pub fn reanchors(&self) -> u64 {
        self.reanchors
    }

    /// Forgets the anchor: the next access unit anchors afresh.
    pub fn reset(&mut self) {
        self.anchor = None;
        self.late_since = None;
    }

    fn set_anchor(&mut self, ext: i64, arrival: Stamp) -> Anchor {
        let a = Anchor {
            ext,
            local_ticks: dur_to_ticks(arrival.mono, self.clock_rate),
            wall: arrival.wall,
        };
        self.anchor = Some(a);
        self.late_since = None;
        a
    }

    /// The times of an access unit with unwrapped timestamp `ext` that arrived at `arrival`.
    pub fn map(&mut self, ext: i64, arrival: Stamp) -> MappedTime {
        let rate = self.clock_rate;
        let mut reanchored = false;
        let anchor = match self.anchor {
            None => self.set_anchor(ext, arrival),
            Some(a) => {
                let predicted = a.local_ticks.saturating_add(ext.saturating_sub(a.ext));
                let error_ns = i128::try_from(arrival.mono.as_nanos()).unwrap_or(i128::MAX)
                    - ticks_to_nanos(predicted, rate);
                let threshold = i128::try_from(self.threshold.as_nanos()).unwrap_or(i128::MAX);
                if error_ns < -threshold {
                    reanchored = true;
                } else if error_ns > threshold {
                    let since = *self.late_since.get_or_insert(arrival.mono);
                    reanchored = arrival.mono.saturating_sub(since) >= self.confirm;
                } else {
                    self.late_since = None;
                }
                if reanchored {
                    self.reanchors += 1;
                    tracing::debug!(
                        error_ms = (error_ns / 1_000_000) as i64,
                        "RTP-to-local mapping re-anchored"
                    );
                    self.set_anchor(ext, arrival)
                } else {
                    a
                }
            }
        };
        let pts_ticks = anchor
            .local_ticks
            .saturating_add(ext.saturating_sub(anchor.ext));
        let local_ns = ticks_to_nanos(pts_ticks, rate);
        let from_anchor_ns = ticks_to_nanos(ext.saturating_sub(anchor.ext), rate);
        MappedTime {
            rtp_ticks: ext,
            clock_rate: rate,
            local: nanos_to_dur(local_ns),
            pts: MediaTime {
                ticks: pts_ticks,
                timescale: rate,
            },
            wall: wall_offset(anchor.wall, from_anchor_ns),
            reanchored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn unwrap_across_the_wrap_and_back_steps() {
        let mut u = RtpUnwrapper::new();
        let start = u32::MAX - 5000;
        let mut prev = u.unwrap(start);
        let mut ts = start;
        for _ in 0..100 {
            ts = ts.wrapping_add(3600);
            let e = u.unwrap(ts);
            assert_eq!(e - prev, 3600);
            prev = e;
        }
        assert!(prev > i64::from(u32::MAX));
        // A B-frame style step back stays a step back.
        assert_eq!(u.unwrap(ts.wrapping_sub(7200)), prev - 7200);
        u.reset();
        assert_eq!(u.unwrap(5), 5);
    }

    #[test]
    fn mapping_follows_rtp_and_reanchors_on_jumps() {
        let wall0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |ms: u64| Stamp::new(Duration::from_millis(ms), wall0 + Duration::from_millis(ms));
        let mut m = TimeMapper::new(90_000, Duration::from_secs(2), Duration::from_secs(1));
        let t0 = m.map(1_000, at(10_000));
        assert_eq!(t0.local, Duration::from_secs(10));
        assert_eq!(
            t0.pts,
            MediaTime {
                ticks: 900_000,
                timescale: 90_000
            }
        );
        // 40 ms later in RTP, arriving 45 ms later: mapped to 40 ms.
        let t1 = m.map(1_000 + 3_600, at(10_045));
        assert_eq!(t1.local, Duration::from_millis(10_040));
        assert_eq!(t1.wall, wall0 + Duration::from_millis(10_040));
        assert!(!t1.reanchored);
        // RTP jumps an hour ahead: arrival far before prediction: re-anchor at once.
        let t2 = m.map(1_000 + 3_600 + 90_000 * 3600, at(10_085));
        assert!(t2.reanchored);
        assert_eq!(t2.local, Duration::from_millis(10_085));
        // A 3 s late burst that catches up does not re-anchor.
        let base = 1_000 + 3_600 + 90_000 * 3600;
        let mut any = false;
        for k in 1..=100i64 {
            let arrival = if k <= 75 {
                13_085
            } else {
                10_085 + 40 * k as u64
            };
            any |= m
                .map(base + 3_600 * k, at(arrival.max(10_085 + 40 * k as u64)))
                .reanchored;
        }
        assert!(!any);
        assert_eq!(m.reanchors(), 1);
    }
}
