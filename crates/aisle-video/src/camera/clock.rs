//! Injected time: the [`Clock`] trait with a monotonic reading (a [`Duration`] since the
//! clock's origin, never going back) and a wall-clock reading (for labelling analytics
//! windows), [`SystemClock`] for production and [`ManualClock`] for tests, which advance it by
//! hand so that no test sleeps.
//!
//! The camera state machine never reads a clock itself: the shell reads one [`Stamp`] per event
//! and passes it in, so every decision is a function of its inputs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One reading of a [`Clock`]: monotonic time and wall-clock time taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Monotonic time since the clock's origin.
    pub mono: Duration,
    /// Wall-clock time (may jump when NTP steps the system clock).
    pub wall: SystemTime,
}

impl Stamp {
    pub fn new(mono: Duration, wall: SystemTime) -> Self {
        Self { mono, wall }
    }

    /// Milliseconds since the Unix epoch (negative before 1970).
    pub fn unix_ms(&self) -> i64 {
        unix_ms(self.wall)
    }
}

/// Milliseconds since the Unix epoch of a wall-clock time (negative before 1970, saturating).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// A source of time. Implementations must keep [`Clock::now`] monotonic (never decreasing).
pub trait Clock: Send + Sync {
    /// Monotonic time since this clock's origin.
    fn now(&self) -> Duration;

    /// Wall-clock time.
    fn wall_now(&self) -> SystemTime;

    /// Both readings at once, as the state machine takes them.
    fn stamp(&self) -> Stamp {
        Stamp {
            mono: self.now(),
            wall: self.wall_now(),
        }
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }

    fn wall_now(&self) -> SystemTime {
        (**self).wall_now()
    }
}

/// The operating system's clocks: [`Instant`] (monotonic) since construction and
/// [`SystemTime`].
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[derive(Debug)]
struct ManualInner {
    mono: Duration,
    wall: SystemTime,
}

/// A clock that moves only when told to. Clones share the same time, so a test can keep one
/// handle and give another to the code under test.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualInner>>,
}

impl ManualClock {
    /// Monotonic time 0, wall clock at `wall_start`.
    pub fn new(wall_start: SystemTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ManualInner {
                mono: Duration::ZERO,
                wall: wall_start,
            })),
        }
    }

    /// Monotonic time 0, wall clock at 2026-01-01T00:00:00Z.
    pub fn at_2026() -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualInner> {
        // A panic in another test thread cannot leave the two fields inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves both clocks forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut g = self.lock();
        g.mono += d;
        g.wall += d;
    }

    /// Moves both clocks forward so that the monotonic reading is `mono`; earlier values are
    /// ignored (the monotonic clock never goes back).
    pub fn advance_to(&self, mono: Duration) {
        let mut g = self.lock();
        if mono > g.mono {
            let d = mono - g.mono;
            g.mono = mono;
            g.wall += d;
        }
    }

    /// Steps only the wall clock (as NTP does), leaving monotonic time alone.
    pub fn set_wall(&self, wall: SystemTime) {
        self.lock().wall = wall;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.lock().mono
    }

    fn wall_now(&self) -> SystemTime {
        self.lock().wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_2026();
        let shared = c.clone();
        assert_eq!(c.now(), Duration::ZERO);
        let w0 = c.wall_now();
        c.advance(Duration::from_millis(1500));
        assert_eq!(shared.now(), Duration::from_millis(1500));
        assert_eq!(shared.wall_now(), w0 + Duration::from_millis(1500));
        c.advance_to(Duration::from_secs(1));
        assert_eq!(c.now(), Duration::from_millis(1500), "never goes back");
        c.set_wall(w0);
        assert_eq!(c.stamp().wall, w0);
        assert_eq!(c.stamp().unix_ms(), 1_767_225_600_000);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), -1000);
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = SystemClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
    }
}
