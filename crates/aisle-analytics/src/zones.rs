//! Per-zone accumulators of one period (window or report): occupancy integral, distinct
//! visitors, entries, dwell of closed visits, transitions.

use aisle_types::metrics::{dwell_bucket, DWELL_HISTOGRAM_LEN};

use crate::bits::SlotSet;
use crate::percentile::{quantile_histogram, quantile_sorted};

/// Dwell samples kept per zone for exact percentiles: short window, report window.
pub const WINDOW_SAMPLES: usize = 512;
pub const REPORT_SAMPLES: usize = 8192;

#[derive(Debug, Clone)]
pub(crate) struct ZoneAcc {
    /// Integral of the occupancy over the observed time.
    pub person_seconds: f64,
    /// Most people at once.
    pub max: u32,
    pub entries: u32,
    /// Slots with an open (customer) visit at some moment of the period.
    pub visitors: SlotSet,
    /// Visitors whose slot was freed during the period (folded out of `visitors`).
    pub departed: u32,
    pub dwell: DwellAcc,
    /// Transitions from this zone, by destination zone index.
    pub transitions: Vec<u32>,
}

impl ZoneAcc {
    pub fn new(zones: usize, samples: usize) -> Self {
        Self {
            person_seconds: 0.0,
            max: 0,
            entries: 0,
            visitors: SlotSet::default(),
            departed: 0,
            dwell: DwellAcc::new(samples),
            transitions: vec![0; zones],
        }
    }

    pub fn reset(&mut self) {
        self.person_seconds = 0.0;
        self.max = 0;
        self.entries = 0;
        self.visitors.clear();
        self.departed = 0;
        self.dwell.reset();
        self.transitions.iter_mut().for_each(|c| *c = 0);
    }

    pub fn visitor_count(&self) -> u32 {
        self.visitors.len() + self.departed
    }

    /// The slot is freed: count it as departed if it visited, so that a reuse of the slot is a
    /// new visitor.
    pub fn fold_slot(&mut self, slot: usize) {
        if self.visitors.remove(slot) {
            self.departed += 1;
        }
    }
}

/// Dwell times of the visits that closed in the period.
#[derive(Debug, Clone)]
pub(crate) struct DwellAcc {
    pub count: u32,
    pub sum: f64,
    pub max: f64,
    pub histogram: [u32; DWELL_HISTOGRAM_LEN],
    pub bounces: u32,
    pub engaged: u32,
    /// Up to `capacity` samples (preallocated); more samples only go into the histogram.
    pub samples: Vec<f64>,
}

impl DwellAcc {
    pub fn new(capacity: usize) -> Self {
        Self {
            count: 0,
            sum: 0.0,
            max: 0.0,
            histogram: [0; DWELL_HISTOGRAM_LEN],
            bounces: 0,
            engaged: 0,
            samples: Vec::with_capacity(capacity),
        }
    }

    pub fn reset(&mut self) {
        self.count = 0;
        self.sum = 0.0;
        self.max = 0.0;
        self.histogram = [0; DWELL_HISTOGRAM_LEN];
        self.bounces = 0;
        self.engaged = 0;
        self.samples.clear();
    }

    pub fn add(&mut self, dwell_s: f64, bounce_s: f64, engaged_s: f64) {
        self.count += 1;
        self.sum += dwell_s;
        self.max = if self.count == 1 {
            dwell_s
        } else {
            self.max.max(dwell_s)
        };
        self.histogram[dwell_bucket(dwell_s)] += 1;
        if dwell_s < bounce_s {
            self.bounces += 1;
        }
        if dwell_s >= engaged_s {
            self.engaged += 1;
        }
        // Never grows the buffer: past its capacity the percentiles come from the histogram.
        if self.samples.len() < self.samples.capacity() {
            self.samples.push(dwell_s);
        }
    }

    /// All samples kept: the percentiles are exact.
    pub fn exact(&self) -> bool {
        self.samples.len() == self.count as usize
    }

    /// `(p50, p90)`; sorts the samples in place (call once, at the close of the period).
    pub fn percentiles(&mut self) -> (Option<f64>, Option<f64>) {
        if self.count == 0 {
            return (None, None);
        }
        if self.exact() {
            self.samples.sort_unstable_by(f64::total_cmp);
            (
                quantile_sorted(&self.samples, 0.5),
                quantile_sorted(&self.samples, 0.9),
            )
        } else {
            (
                quantile_histogram(&self.histogram, 0.5, self.max),
                quantile_histogram(&self.histogram, 0.9, self.max),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dwell_overflow_falls_back_to_histogram() {
        let mut d = DwellAcc::new(4);
        for s in [1.0, 3.0, 7.0, 50.0] {
            d.add(s, 2.0, 5.0);
        }
        assert!(d.exact());
        assert_eq!((d.bounces, d.engaged), (1, 2));
        let (p50, _) = d.percentiles();
        assert_eq!(p50, Some(5.0));
        d.add(100.0, 2.0, 5.0);
        assert!(!d.exact());
        assert_eq!(d.samples.len(), 4);
        assert_eq!(d.samples.capacity(), 4);
        assert_eq!(d.histogram.iter().sum::<u32>(), 5);
        let (p50, p90) = d.percentiles();
        assert!(p50.unwrap() >= 5.0 && p50.unwrap() < 10.0, "{p50:?}");
        assert!(p90.unwrap() <= 100.0);
        d.reset();
        assert_eq!(d.percentiles(), (None, None));
        assert!(d.exact());
    }
}
