//! Presentation timestamps as they come from the container (ticks of a timescale).

use serde::{Deserialize, Serialize};

/// A media timestamp: `ticks / timescale` seconds since the start of the stream.
///
/// Kept as an exact rational so that container timestamps survive round trips; convert to
/// seconds only for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MediaTime {
    pub ticks: i64,
    /// Ticks per second; never zero for values built with [`MediaTime::new`].
    pub timescale: u32,
}

impl MediaTime {
    /// `None` when `timescale` is zero.
    pub fn new(ticks: i64, timescale: u32) -> Option<Self> {
        (timescale != 0).then_some(Self { ticks, timescale })
    }

    pub fn as_secs_f64(&self) -> f64 {
        if self.timescale == 0 {
            return 0.0;
        }
        self.ticks as f64 / f64::from(self.timescale)
    }

    /// Milliseconds, rounded towards negative infinity.
    pub fn as_millis(&self) -> i64 {
        if self.timescale == 0 {
            return 0;
        }
        (i128::from(self.ticks) * 1000).div_euclid(i128::from(self.timescale)) as i64
    }
}

impl PartialOrd for MediaTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MediaTime {
    /// Compares the instants exactly (cross-multiplied), whatever the timescales.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let a = i128::from(self.ticks) * i128::from(other.timescale);
        let b = i128::from(other.ticks) * i128::from(self.timescale);
        a.cmp(&b).then(self.timescale.cmp(&other.timescale))
    }
}

impl std::fmt::Display for MediaTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}s", self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_timescale_is_rejected() {
        assert!(MediaTime::new(5, 0).is_none());
    }

    #[test]
    fn compares_across_timescales() {
        let a = MediaTime::new(1, 10).unwrap();
        let b = MediaTime::new(1536, 12800).unwrap();
        assert!(a < b);
        assert_eq!(b.as_millis(), 120);
        assert_eq!(MediaTime::new(-1, 3).unwrap().as_millis(), -334);
    }
}
