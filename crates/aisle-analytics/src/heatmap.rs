//! The per-camera footfall grid of one period: person-seconds and distinct persons per cell.

use crate::bits::SlotSet;

#[derive(Debug, Clone)]
pub(crate) struct HeatAcc {
    pub cols: u32,
    pub rows: u32,
    pub seconds: Vec<f64>,
    pub persons: Vec<SlotSet>,
    pub departed: Vec<u32>,
}

impl HeatAcc {
    pub fn new(cols: u32, rows: u32) -> Self {
        let n = (cols * rows) as usize;
        Self {
            cols,
            rows,
            seconds: vec![0.0; n],
            persons: vec![SlotSet::default(); n],
            departed: vec![0; n],
        }
    }

    pub fn reset(&mut self) {
        self.seconds.iter_mut().for_each(|s| *s = 0.0);
        self.persons.iter_mut().for_each(SlotSet::clear);
        self.departed.iter_mut().for_each(|d| *d = 0);
    }

    pub fn fold_slot(&mut self, slot: usize) {
        for (p, d) in self.persons.iter_mut().zip(self.departed.iter_mut()) {
            if p.remove(slot) {
                *d += 1;
            }
        }
    }

    /// Cells: `None` where `0 < persons < k`.
    pub fn published(&self, k: u32) -> Vec<Option<f64>> {
        self.seconds
            .iter()
            .zip(self.persons.iter().zip(self.departed.iter()))
            .map(|(&s, (p, &d))| {
                let n = p.len() + d;
                (n == 0 || n >= k).then_some(crate::records::r3(s))
            })
            .collect()
    }
}

/// The cell (row-major, top row first) of a point in pixels, clamped into the frame.
pub(crate) fn cell_of(p: [f64; 2], width: f64, height: f64, cols: u32, rows: u32) -> u16 {
    let idx = |v: f64, size: f64, n: u32| -> u32 {
        let f = if v.is_finite() { v / size } else { 0.0 };
        ((f * f64::from(n)).floor().max(0.0) as u32).min(n - 1)
    };
    let c = idx(p[0], width, cols);
    let r = idx(p[1], height, rows);
    (r * cols + c) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_clamp_into_the_frame() {
        assert_eq!(cell_of([0.0, 0.0], 1600.0, 900.0, 16, 9), 0);
        assert_eq!(cell_of([1600.0, 900.0], 1600.0, 900.0, 16, 9), 143);
        assert_eq!(cell_of([-5.0, 2000.0], 1600.0, 900.0, 16, 9), 128);
        assert_eq!(cell_of([150.0, 150.0], 1600.0, 900.0, 16, 9), 17);
    }
}
