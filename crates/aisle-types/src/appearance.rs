//! A person's appearance as a compact colour descriptor: what the tracker uses to tell two
//! people apart when motion alone cannot (crossings, occlusions of a few seconds).
//!
//! The descriptor is two normalised colour-name histograms: the **torso** (rows 20-50 % of the
//! box height, the middle half of its width) and the **legs** (rows 55-90 %, the middle 40 %),
//! each over [`COLOUR_NAMES`] classes. It is computed on the device from the decoded frame
//! (`aisle_vision::appearance`), lives only in the memory of one camera's tracker and zone
//! analytics (which remember a vanished person's colours for their grace period) and is never
//! stored or published: it describes clothing colours coarsely enough that it identifies nobody
//! outside the few seconds it is used for.

use serde::{Deserialize, Serialize};

/// The colour classes of each region's histogram, in bin order.
pub const COLOUR_NAMES: [&str; 8] = [
    "black", "grey", "white", "red", "warm", "green", "blue", "purple",
];
/// Colour classes per region.
pub const COLOURS: usize = COLOUR_NAMES.len();
/// Body regions described (torso, legs).
pub const REGIONS: usize = 2;
/// Length of the descriptor.
pub const APPEARANCE_DIM: usize = COLOURS * REGIONS;
/// The regions within a detection box, as fractions `[x0, y0, x1, y1]` of its width and
/// height from its top-left corner: torso, then legs.
pub const REGION_BOUNDS: [[f32; 4]; REGIONS] = [[0.25, 0.20, 0.75, 0.50], [0.30, 0.55, 0.70, 0.90]];

/// Region `r` ([`REGION_BOUNDS`]) of a detection box, in the box's coordinates.
pub fn region_bbox(bbox: &crate::BBox, r: usize) -> crate::BBox {
    let f = REGION_BOUNDS[r];
    crate::BBox::new(
        bbox.x1 + f[0] * bbox.width(),
        bbox.y1 + f[1] * bbox.height(),
        bbox.x1 + f[2] * bbox.width(),
        bbox.y1 + f[3] * bbox.height(),
    )
}

/// Two colour histograms (torso, legs). Each region's bins are non-negative and sum to 1, or
/// are all zero when the region had no usable pixels (then it takes no part in distances).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Appearance {
    pub bins: [f32; APPEARANCE_DIM],
}

impl Appearance {
    /// From per-region counts or weights (any non-negative scale); each region is normalised.
    /// Non-finite or negative entries count as zero.
    pub fn from_counts(counts: &[f32; APPEARANCE_DIM]) -> Self {
        let mut bins = [0.0; APPEARANCE_DIM];
        for r in 0..REGIONS {
            let part = &counts[r * COLOURS..(r + 1) * COLOURS];
            let clean = |v: f32| if v.is_finite() && v > 0.0 { v } else { 0.0 };
            let sum: f32 = part.iter().map(|&v| clean(v)).sum();
            if sum > 0.0 {
                for (c, &v) in part.iter().enumerate() {
                    bins[r * COLOURS + c] = clean(v) / sum;
                }
            }
        }
        Self { bins }
    }

    /// The histogram of region `r` (0 torso, 1 legs).
    pub fn region(&self, r: usize) -> &[f32] {
        &self.bins[r * COLOURS..(r + 1) * COLOURS]
    }

    /// Empties region `r` (it shows something else than this person, e.g. somebody in front).
    pub fn clear_region(&mut self, r: usize) {
        if r < REGIONS {
            self.bins[r * COLOURS..(r + 1) * COLOURS].fill(0.0);
        }
    }

    /// Whether region `r` has pixels.
    pub fn region_present(&self, r: usize) -> bool {
        self.region(r).iter().any(|&v| v > 0.0)
    }

    /// Whether any region has pixels.
    pub fn is_empty(&self) -> bool {
        !(0..REGIONS).any(|r| self.region_present(r))
    }

    /// Hellinger distance in `[0, 1]`, averaged over the regions both descriptors have
    /// (0: same colours, 1: no colour in common). `None` when they share no region.
    pub fn distance(&self, other: &Appearance) -> Option<f32> {
        let mut sum = 0.0;
        let mut n = 0;
        for r in 0..REGIONS {
            if !self.region_present(r) || !other.region_present(r) {
                continue;
            }
            let bc: f32 = self
                .region(r)
                .iter()
                .zip(other.region(r))
                .map(|(&p, &q)| (p * q).sqrt())
                .sum();
            sum += (1.0 - bc.min(1.0)).max(0.0).sqrt();
            n += 1;
        }
        (n > 0).then(|| sum / n as f32)
    }

    /// Moves this descriptor towards `new` by `weight` (0: unchanged, 1: replaced), region by
    /// region; a region this one lacks is taken from `new`, one `new` lacks is kept.
    pub fn blend(&mut self, new: &Appearance, weight: f32) {
        let w = weight.clamp(0.0, 1.0);
        for r in 0..REGIONS {
            if !new.region_present(r) {
                continue;
            }
            let keep = if self.region_present(r) { 1.0 - w } else { 0.0 };
            for c in 0..COLOURS {
                let i = r * COLOURS + c;
                self.bins[i] = keep * self.bins[i] + (1.0 - keep) * new.bins[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(torso: usize, legs: usize) -> Appearance {
        let mut c = [0.0; APPEARANCE_DIM];
        c[torso] = 1.0;
        c[COLOURS + legs] = 1.0;
        Appearance::from_counts(&c)
    }

    #[test]
    fn distance_is_zero_for_equal_and_one_for_disjoint_colours() {
        let a = hist(0, 6);
        assert_eq!(a.distance(&a), Some(0.0));
        assert!((a.distance(&hist(3, 5)).unwrap() - 1.0).abs() < 1e-6);
        // Same torso, other legs: half-way.
        assert!((a.distance(&hist(0, 5)).unwrap() - 0.5).abs() < 1e-6);
        assert_eq!(a.distance(&Appearance::default()), None);
    }

    #[test]
    fn from_counts_normalises_each_region_and_ignores_garbage() {
        let mut c = [0.0; APPEARANCE_DIM];
        c[1] = 3.0;
        c[2] = 1.0;
        c[3] = f32::NAN;
        c[4] = -2.0;
        let a = Appearance::from_counts(&c);
        assert_eq!(&a.region(0)[..5], &[0.0, 0.75, 0.25, 0.0, 0.0]);
        assert!(a.region(1).iter().all(|&v| v == 0.0));
        assert!(!a.is_empty());
        // Only the torso is compared when the legs are missing on one side.
        assert_eq!(a.distance(&a), Some(0.0));
    }

    #[test]
    fn blend_moves_towards_the_new_descriptor_and_fills_missing_regions() {
        let mut torso_only = Appearance::from_counts(&{
            let mut c = [0.0; APPEARANCE_DIM];
            c[0] = 1.0;
            c
        });
        torso_only.blend(&hist(2, 6), 0.25);
        assert!((torso_only.bins[0] - 0.75).abs() < 1e-6);
        assert!((torso_only.bins[2] - 0.25).abs() < 1e-6);
        assert!((torso_only.bins[COLOURS + 6] - 1.0).abs() < 1e-6);
    }
}
