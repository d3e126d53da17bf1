//! Windows on the wall clock and the accumulators of one period.
//!
//! A window of `length_s` seconds is `[k * length_s, (k + 1) * length_s)` in Unix seconds; the
//! wall clock of a media time `at` is `epoch_unix_ms + at`. Report windows are a whole number of
//! short windows, so their boundaries are short-window boundaries too.

use aisle_types::MediaTime;

use crate::bits::SlotSet;
use crate::heatmap::HeatAcc;
use crate::lines::LineAcc;
use crate::setup::Settings;
use crate::zones::ZoneAcc;

/// The index of the window of `length_s` seconds holding the media time `at`.
pub(crate) fn window_index(epoch_unix_ms: i64, at: MediaTime, length_s: u32) -> i64 {
    let ts = i128::from(at.timescale.max(1));
    let ticks = if at.timescale == 0 {
        0
    } else {
        i128::from(at.ticks)
    };
    // wall ms * ts, exactly.
    let wall = i128::from(epoch_unix_ms) * ts + ticks * 1000;
    wall.div_euclid(i128::from(length_s) * 1000 * ts) as i64
}

/// The media time (seconds) at which window `k` of `length_s` seconds starts.
pub(crate) fn window_start_media_s(epoch_unix_ms: i64, k: i64, length_s: u32) -> f64 {
    let ms = i128::from(k) * i128::from(length_s) * 1000 - i128::from(epoch_unix_ms);
    ms as f64 / 1000.0
}

/// Everything a period (a short window or a report window) accumulates.
#[derive(Debug, Clone)]
pub(crate) struct PeriodAcc {
    /// Window index (start = `index * length_s` Unix seconds).
    pub index: i64,
    pub length_s: u32,
    pub observed_s: f64,
    pub zones: Vec<ZoneAcc>,
    pub lines: Vec<LineAcc>,
    /// Customers in view at some moment, and their person-seconds.
    pub camera_persons: SlotSet,
    pub camera_departed: u32,
    pub camera_person_seconds: f64,
    pub heat: HeatAcc,
}

impl PeriodAcc {
    pub fn new(length_s: u32, zones: usize, lines: usize, samples: usize, s: &Settings) -> Self {
        Self {
            index: 0,
            length_s,
            observed_s: 0.0,
            zones: (0..zones).map(|_| ZoneAcc::new(zones, samples)).collect(),
            lines: vec![LineAcc::default(); lines],
            camera_persons: SlotSet::default(),
            camera_departed: 0,
            camera_person_seconds: 0.0,
            heat: HeatAcc::new(s.heatmap_cols, s.heatmap_rows),
        }
    }

    /// Starts window `index` empty (keeps every buffer).
    pub fn reset(&mut self, index: i64) {
        self.index = index;
        self.observed_s = 0.0;
        self.zones.iter_mut().for_each(ZoneAcc::reset);
        self.lines.iter_mut().for_each(LineAcc::reset);
        self.camera_persons.clear();
        self.camera_departed = 0;
        self.camera_person_seconds = 0.0;
        self.heat.reset();
    }

    pub fn start_unix_s(&self) -> i64 {
        self.index * i64::from(self.length_s)
    }

    pub fn camera_visitors(&self) -> u32 {
        self.camera_persons.len() + self.camera_departed
    }

    /// Slot `slot` is being freed: its distinct-person bits become departed counts.
    pub fn fold_slot(&mut self, slot: usize) {
        self.zones.iter_mut().for_each(|z| z.fold_slot(slot));
        self.lines.iter_mut().for_each(|l| l.fold_slot(slot));
        if self.camera_persons.remove(slot) {
            self.camera_departed += 1;
        }
        self.heat.fold_slot(slot);
    }
}

/// Exits and observed seconds of a queue zone over the last report window (one entry per short
/// window), for the Little's-law wait estimate.
#[derive(Debug, Clone)]
pub(crate) struct ExitRing {
    entries: Vec<(u32, f64)>,
    next: usize,
}

impl ExitRing {
    pub fn new(len: usize) -> Self {
        Self {
            entries: vec![(0, 0.0); len.max(1)],
            next: 0,
        }
    }

    pub fn push(&mut self, exits: u32, observed_s: f64) {
        self.entries[self.next] = (exits, observed_s);
        self.next = (self.next + 1) % self.entries.len();
    }

    /// Exits per observed second; `None` without exits.
    pub fn rate(&self) -> Option<f64> {
        let exits: u64 = self.entries.iter().map(|e| u64::from(e.0)).sum();
        let observed: f64 = self.entries.iter().map(|e| e.1).sum();
        (exits > 0 && observed > 0.0).then(|| exits as f64 / observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_on_the_wall_clock() {
        let epoch = 1_795_635_840_000; // on a minute
        let at = |ms: i64| MediaTime::new(ms, 1000).unwrap();
        assert_eq!(window_index(epoch, at(0), 60), 1_795_635_840 / 60);
        assert_eq!(window_index(epoch, at(59_999), 60), 1_795_635_840 / 60);
        assert_eq!(window_index(epoch, at(60_000), 60), 1_795_635_840 / 60 + 1);
        // 90 kHz ticks, 30 s before the epoch.
        let t = MediaTime::new(-30 * 90_000, 90_000).unwrap();
        assert_eq!(window_index(epoch, t, 60), 1_795_635_840 / 60 - 1);
        let k = 1_795_635_840 / 60 + 1;
        assert_eq!(window_start_media_s(epoch, k, 60), 60.0);
        assert_eq!(
            window_index(epoch + 15_000, at(0), 900),
            1_795_635_855 / 900
        );
    }

    #[test]
    fn exit_ring_forgets_old_windows() {
        let mut r = ExitRing::new(2);
        assert_eq!(r.rate(), None);
        r.push(6, 60.0);
        assert_eq!(r.rate(), Some(0.1));
        r.push(0, 60.0);
        r.push(0, 60.0);
        assert_eq!(r.rate(), None);
    }
}
