//! Counting lines: a settled side per (person, line) with hysteresis, and the per-period
//! crossing counters.
//!
//! Sides: the signed distance of the anchor from the infinite line, `cross(from, to, p) /
//! length`. With image `y` pointing down, a negative value is on the left-hand side of someone
//! walking from `from` to `to` (for a line drawn left to right: the top of the image).

use aisle_config::LineSide;
use aisle_types::polygon::{cross, segments_intersect};

use crate::bits::SlotSet;
use crate::setup::Line;

/// One person's settled side of one line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineState {
    /// `None` until the anchor was once clear of the margin.
    pub side: Option<LineSide>,
    /// Where the anchor last was, clear of the margin on `side`.
    pub at: [f64; 2],
}

impl LineState {
    pub const NONE: LineState = LineState {
        side: None,
        at: [0.0, 0.0],
    };
}

/// Which side of `line` the point `p` is on, when at least `margin` pixels from the line.
pub(crate) fn side_of(line: &Line, p: [f64; 2], margin: f64) -> Option<LineSide> {
    let d = cross(line.from, line.to, p) / line.length;
    if !d.is_finite() || d.abs() < margin {
        None
    } else if d < 0.0 {
        Some(LineSide::Left)
    } else {
        Some(LineSide::Right)
    }
}

/// Moves the person's state to `p`; the side crossed into when this is a crossing.
pub(crate) fn step(
    state: &mut LineState,
    line: &Line,
    p: [f64; 2],
    margin: f64,
) -> Option<LineSide> {
    let side = side_of(line, p, margin)?;
    let crossed = match state.side {
        Some(old) if old != side => {
            segments_intersect(state.at, p, line.from, line.to).then_some(side)
        }
        _ => None,
    };
    state.side = Some(side);
    state.at = p;
    crossed
}

/// One line over one period.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineAcc {
    pub crossings_in: u32,
    pub crossings_out: u32,
    pub crossers: SlotSet,
    pub departed: u32,
}

impl LineAcc {
    pub fn reset(&mut self) {
        *self = LineAcc::default();
    }

    pub fn count(&mut self, slot: usize, into: LineSide, in_side: LineSide) {
        if into == in_side {
            self.crossings_in += 1;
        } else {
            self.crossings_out += 1;
        }
        self.crossers.insert(slot);
    }

    pub fn crosser_count(&self) -> u32 {
        self.crossers.len() + self.departed
    }

    pub fn fold_slot(&mut self, slot: usize) {
        if self.crossers.remove(slot) {
            self.departed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_config::Anchor;

    fn horizontal() -> Line {
        Line {
            name: "l".into(),
            from: [0.0, 50.0],
            to: [100.0, 50.0],
            length: 100.0,
            in_side: LineSide::Left,
            anchor: Anchor::BottomCentre,
        }
    }

    #[test]
    fn left_of_a_left_to_right_line_is_the_top_of_the_image() {
        let l = horizontal();
        assert_eq!(side_of(&l, [50.0, 10.0], 1.0), Some(LineSide::Left));
        assert_eq!(side_of(&l, [50.0, 90.0], 1.0), Some(LineSide::Right));
        assert_eq!(side_of(&l, [50.0, 50.5], 1.0), None);
    }

    #[test]
    fn crossing_needs_the_path_to_cut_the_segment() {
        let l = horizontal();
        let mut s = LineState::NONE;
        assert_eq!(step(&mut s, &l, [50.0, 90.0], 1.0), None);
        assert_eq!(step(&mut s, &l, [50.0, 50.2], 1.0), None); // within the margin
        assert_eq!(step(&mut s, &l, [50.0, 10.0], 1.0), Some(LineSide::Left));
        // Around the end of the segment: a side change but no crossing.
        assert_eq!(step(&mut s, &l, [150.0, 10.0], 1.0), None);
        assert_eq!(step(&mut s, &l, [150.0, 90.0], 1.0), None);
        assert_eq!(s.side, Some(LineSide::Right));
    }
}
