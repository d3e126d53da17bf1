//! Every duration the camera state machine uses ([`CameraTimings`], with documented defaults)
//! and the reconnect delay: capped exponential backoff with jitter ([`Backoff`]), as in
//! "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015): the `n`-th consecutive
//! failure waits `min(cap, base * 2^(n-1))`, jittered so that many cameras behind one switch
//! or NVR do not reconnect in lockstep after a shared outage.

use std::time::Duration;

use super::rng::SplitMix64;

/// How a backoff delay is randomised; `d` is the un-jittered delay `min(cap, base * 2^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exactly `d` (tests, or a single camera).
    None,
    /// Uniform in `[0, d]`: the widest spread; a retry may come almost at once.
    Full,
    /// Uniform in `[d/2, d]`: spread, but never less than half the delay. The default.
    #[default]
    Equal,
}

/// The durations of one camera's ingest state machine.
///
/// Defaults suit IP cameras on a store LAN: a refused or dropped RTSP session (RFC 7826) is
/// retried after about 1 s, doubling to at most 30 s; a rejected password (RTSP 401) only
/// every minute or so, so a misconfigured camera never hammers its authentication (many lock
/// accounts after a few failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraTimings {
    /// First reconnect delay (before jitter). Default 1 s.
    pub backoff_base: Duration,
    /// Largest reconnect delay (before jitter). Default 30 s.
    pub backoff_cap: Duration,
    /// How delays are randomised. Default [`Jitter::Equal`].
    pub jitter: Jitter,
    /// Least delay after an authentication failure (or an unsupported codec, which only a
    /// configuration change fixes): the jittered backoff is added to it. Default 60 s.
    pub auth_floor: Duration,
    /// A session that streamed this long resets the backoff to its first step when it ends.
    /// Default 60 s.
    pub stable_after: Duration,
    /// Longest time from `Connect` (or `ConnectStarted`) to `ConnectSucceeded` (RTSP
    /// DESCRIBE / SETUP / PLAY). Default 20 s.
    pub connect_timeout: Duration,
    /// Stall watchdog: no access unit for this long while connected means the session is
    /// dead (a camera may keep TCP open and send nothing). Default 10 s.
    pub stall_timeout: Duration,
    /// Longest wait for a decodable keyframe (with its parameter sets) after connecting or a
    /// decoder error, while access units do arrive; then reconnect (many cameras send an IDR
    /// on PLAY). Default 30 s.
    pub keyframe_timeout: Duration,
    /// RTP-to-local mapping: an access unit arriving more than this before its predicted
    /// time, or persistently more than this after it, re-anchors the mapping. Default 2 s.
    pub reanchor_threshold: Duration,
    /// How long "later than predicted by more than the threshold" must persist before
    /// re-anchoring (a network hiccup delivers late access units in a burst and catches up).
    /// Default 1 s.
    pub reanchor_confirm: Duration,
}

impl Default for CameraTimings {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(30),
            jitter: Jitter::Equal,
            auth_floor: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(20),
            stall_timeout: Duration::from_secs(10),
            keyframe_timeout: Duration::from_secs(30),
            reanchor_threshold: Duration::from_secs(2),
            reanchor_confirm: Duration::from_secs(1),
        }
    }
}

impl CameraTimings {
    /// Why these timings cannot work, if they cannot (a zero timeout would disconnect at
    /// once, a zero backoff base would retry in a tight loop).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let positive = [
            ("backoff_base", self.backoff_base),
            ("connect_timeout", self.connect_timeout),
            ("stall_timeout", self.stall_timeout),
            ("keyframe_timeout", self.keyframe_timeout),
            ("reanchor_threshold", self.reanchor_threshold),
        ];
        for (name, d) in positive {
            if d.is_zero() {
                out.push(format!("{name} must be greater than zero"));
            }
        }
        if self.backoff_cap < self.backoff_base {
            out.push(format!(
                "backoff_cap ({:?}) is below backoff_base ({:?})",
                self.backoff_cap, self.backoff_base
            ));
        }
        out
    }
}

/// Capped exponential backoff with seeded jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    rng: SplitMix64,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, jitter: Jitter, seed: u64) -> Self {
        Self {
            base,
            cap: cap.max(base),
            jitter,
            rng: SplitMix64::new(seed),
        }
    }

    /// `min(cap, base * 2^(attempt-1))` for `attempt >= 1` (attempt 0 counts as 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(63);
        let nanos = self.base.as_nanos().saturating_mul(1u128 << shift);
        let cap = self.cap.as_nanos();
        duration_from_nanos(nanos.min(cap))
    }

    /// The jittered delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let d = self.ceiling(attempt);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        match self.jitter {
            Jitter::None => d,
            Jitter::Full => Duration::from_nanos(self.rng.below_or_eq(nanos)),
            Jitter::Equal => {
                let half = nanos / 2;
                Duration::from_nanos(half + self.rng.below_or_eq(nanos - half))
            }
        }
    }
}

fn duration_from_nanos(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (n % 1_000_000_000) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_to_the_cap() {
        let b = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(30),
            Jitter::None,
            1,
        );
        let secs: Vec<u64> = (1..=8).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for jitter in [Jitter::Full, Jitter::Equal] {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), jitter, 9);
            for n in 1..200 {
                let c = b.ceiling(n);
                let d = b.delay(n);
                assert!(d <= c, "{jitter:?} {n}: {d:?} > {c:?}");
                if jitter == Jitter::Equal {
                    assert!(d >= c / 2, "{n}: {d:?} < half of {c:?}");
                }
            }
        }
    }

    #[test]
    fn timings_problems_are_named() {
        assert!(CameraTimings::default().problems().is_empty());
        let t = CameraTimings {
            backoff_base: Duration::ZERO,
            backoff_cap: Duration::ZERO,
            stall_timeout: Duration::ZERO,
            ..CameraTimings::default()
        };
        let p = t.problems().join("; ");
        assert!(
            p.contains("backoff_base") && p.contains("stall_timeout"),
            "{p}"
        );
        let t = CameraTimings {
            backoff_cap: Duration::from_millis(10),
            ..CameraTimings::default()
        };
        assert!(t.problems()[0].contains("backoff_cap"));
    }
}
