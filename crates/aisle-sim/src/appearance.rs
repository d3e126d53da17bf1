//! What the on-device appearance descriptor (`aisle_types::Appearance`: colour-name histograms
//! of the torso and legs regions of a detection box) reads for each simulated detection.
//!
//! Each shopper wears a top and trousers whose colours are drawn from store-crowd palettes
//! (many black, grey, white and blue garments, so colour alone is often ambiguous). A
//! detection's region is painted like the camera sees it: people nearer the camera cover
//! farther ones, every visible person contributes the garment at that height of their body
//! (hair, top or trousers), the floor and shelves fill the rest. Pose and lighting change a
//! person's colours slowly (a per-person multiplicative drift), and a region of few pixels
//! gives a noisy histogram (Dirichlet sampling noise whose concentration grows with the
//! region's area).

use aisle_types::{Appearance, APPEARANCE_DIM, COLOURS, REGION_BOUNDS};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};

use crate::geom::{uncovered, Bx};
use crate::SimError;

/// Parameters of the simulated appearance descriptors.
#[derive(Debug, Clone, PartialEq)]
pub struct AppearanceModel {
    /// Whether detections carry descriptors at all. Default true.
    pub enabled: bool,
    /// How often each colour class (`aisle_types::COLOUR_NAMES` order) is a top's main colour.
    /// Default: black 0.38, grey 0.16, white 0.12, red 0.05, warm 0.10, green 0.04, blue 0.11,
    /// purple 0.04.
    pub top_palette: [f64; COLOURS],
    /// The same for trousers and skirts. Default: black 0.46, grey 0.12, white 0.03, red 0.02,
    /// warm 0.08, green 0.01, blue 0.27, purple 0.01.
    pub bottom_palette: [f64; COLOURS],
    /// Share of a garment's pixels in its main colour, uniform in `[min, max]`; the rest are
    /// shading (darker and greyer tones, 80 %) and prints (20 %). Defaults 0.25 and 0.90.
    pub purity_min: f64,
    pub purity_max: f64,
    /// Share of a person's torso and legs regions that is background between arms and legs.
    /// Defaults 0.25 and 0.40.
    pub torso_background: f64,
    pub legs_background: f64,
    /// Colour histogram of the floor and shelves. Default mostly grey, white and warm.
    pub background: [f64; COLOURS],
    /// Pose and lighting drift: each person's colour weights are multiplied by
    /// `exp(sigma x e)` with `e` an AR(1) process per bin (correlation per frame). Defaults
    /// 0.30 and 0.95.
    pub drift_sigma: f64,
    pub drift_correlation: f64,
    /// Sampling noise: the descriptor is Dirichlet-distributed around its mean with
    /// concentration `region area in px / pixels_per_count`, clamped to
    /// `[concentration_min, concentration_max]`. Defaults 25, 12 and 200. (These defaults are
    /// calibrated on real video; see the crate documentation.)
    pub pixels_per_count: f64,
    pub concentration_min: f64,
    pub concentration_max: f64,
}

impl Default for AppearanceModel {
    fn default() -> Self {
        Self {
            enabled: true,
            top_palette: [0.38, 0.16, 0.12, 0.05, 0.10, 0.04, 0.11, 0.04],
            bottom_palette: [0.46, 0.12, 0.03, 0.02, 0.08, 0.01, 0.27, 0.01],
            purity_min: 0.25,
            purity_max: 0.90,
            torso_background: 0.25,
            legs_background: 0.40,
            background: [0.08, 0.40, 0.22, 0.02, 0.22, 0.02, 0.03, 0.01],
            drift_sigma: 0.30,
            drift_correlation: 0.95,
            pixels_per_count: 25.0,
            concentration_min: 12.0,
            concentration_max: 200.0,
        }
    }
}

impl AppearanceModel {
    /// A study model far better than colour names on real clothes: tops and trousers drawn
    /// uniformly from the eight colours, pure and steady (docs/tracking.md: what IDF1 0.90 on
    /// `moderate` takes).
    pub fn distinct_clothes() -> Self {
        Self {
            top_palette: [0.125; 8],
            bottom_palette: [0.125; 8],
            purity_min: 0.9,
            drift_sigma: 0.05,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self, scenario: &str) -> Result<(), SimError> {
        let check = |field: &str, v: f64, lo: f64, hi: f64| {
            SimError::check_range(scenario, &format!("appearance.{field}"), v, lo, hi)
        };
        for (name, p) in [
            ("top_palette", &self.top_palette),
            ("bottom_palette", &self.bottom_palette),
            ("background", &self.background),
        ] {
            for (i, &v) in p.iter().enumerate() {
                check(&format!("{name}[{i}]"), v, 0.0, 1e6)?;
            }
            let sum: f64 = p.iter().sum();
            check(&format!("{name} (sum)"), sum, 1e-9, 1e7)?;
        }
        check("purity_min", self.purity_min, 0.0, 1.0)?;
        check("purity_max", self.purity_max, self.purity_min, 1.0)?;
        check("torso_background", self.torso_background, 0.0, 1.0)?;
        check("legs_background", self.legs_background, 0.0, 1.0)?;
        check("drift_sigma", self.drift_sigma, 0.0, 5.0)?;
        check("drift_correlation", self.drift_correlation, 0.0, 0.999)?;
        check("pixels_per_count", self.pixels_per_count, 1e-3, 1e9)?;
        check("concentration_min", self.concentration_min, 0.1, 1e9)?;
        check(
            "concentration_max",
            self.concentration_max,
            self.concentration_min,
            1e9,
        )
    }
}

/// Colour histograms of one person's hair, top and trousers.
#[derive(Debug, Clone, Copy, Default)]
struct Outfit {
    parts: [[f64; COLOURS]; 3],
    drift: [f64; 3 * COLOURS],
}

/// Shading neighbours of each colour class: where a garment's off-colour pixels fall.
fn shading(main: usize) -> &'static [usize] {
    match main {
        0 => &[1],       // black: dark grey
        1 => &[0, 2],    // grey: darker, lighter
        2 => &[1],       // white: shadows
        _ => &[0, 1, 2], // colours: shadows, washed out highlights
    }
}

fn draw_index(rng: &mut ChaCha8Rng, weights: &[f64; COLOURS]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, &w) in weights.iter().enumerate() {
        if u < w {
            return i;
        }
        u -= w;
    }
    COLOURS - 1
}

/// One simulated person's (or object's) part of a body: 0 hair, 1 top, 2 trousers.
fn body_part(rel_y: f64) -> usize {
    if rel_y < 0.15 {
        0
    } else if rel_y < 0.52 {
        1
    } else {
        2
    }
}

/// Paints descriptors for the detector's outputs (own random stream, so detections do not
/// change when the appearance model does).
pub(crate) struct Painter {
    rng: ChaCha8Rng,
    people: Vec<Option<Outfit>>,
    statics: Vec<Option<Outfit>>,
}

/// Something that covers part of a region: a box with an outfit, nearest first.
#[derive(Clone, Copy)]
pub(crate) struct Layer {
    /// The full (unclipped) box of the person or object.
    pub full: Bx,
    /// What is drawn of it (clipped to the image).
    pub clipped: Bx,
    pub key: Owner,
}

#[derive(Clone, Copy)]
pub(crate) enum Owner {
    Person(usize),
    Static(usize),
}

impl Painter {
    pub fn new(rng: ChaCha8Rng) -> Self {
        Self {
            rng,
            people: Vec::new(),
            statics: Vec::new(),
        }
    }

    fn new_outfit(&mut self, m: &AppearanceModel) -> Outfit {
        let mut o = Outfit::default();
        // Hair: dark or warm (brown, blond), a little grey.
        let hair = if self.rng.random::<f64>() < 0.55 {
            0
        } else {
            4
        };
        o.parts[0][hair] = 0.8;
        o.parts[0][1] = 0.2;
        for (part, palette) in [(1, &m.top_palette), (2, &m.bottom_palette)] {
            let main = draw_index(&mut self.rng, palette);
            let purity = self.rng.random_range(m.purity_min..=m.purity_max);
            let h = &mut o.parts[part];
            h[main] += purity;
            let rest = 1.0 - purity;
            // 80 % of the rest is shading, 20 % a print or trim in a random colour.
            let shade = shading(main);
            for &s in shade {
                h[s] += 0.8 * rest / shade.len() as f64;
            }
            let trim = draw_index(&mut self.rng, palette);
            h[trim] += 0.2 * rest;
        }
        // Skin of arms and hands in the top's region.
        o.parts[1][4] += 0.06;
        for e in &mut o.drift {
            *e = StandardNormal.sample(&mut self.rng);
        }
        o
    }

    fn outfit(&mut self, m: &AppearanceModel, owner: Owner) -> Outfit {
        let (list, k) = match owner {
            Owner::Person(k) => (&self.people, k),
            Owner::Static(k) => (&self.statics, k),
        };
        if let Some(Some(o)) = list.get(k) {
            return *o;
        }
        let o = self.new_outfit(m);
        let list = match owner {
            Owner::Person(_) => &mut self.people,
            Owner::Static(_) => &mut self.statics,
        };
        if list.len() <= k {
            list.resize(k + 1, None);
        }
        list[k] = Some(o);
        o
    }

    /// One Gamma(shape, 1) draw (0 for a vanishing shape): normalised per region, these draws
    /// are the Dirichlet sampling noise of a histogram.
    fn gamma(&mut self, shape: f64) -> f32 {
        if shape > 1e-6 {
            Gamma::new(shape, 1.0).map_or(0.0, |g| g.sample(&mut self.rng)) as f32
        } else {
            0.0
        }
    }

    /// Advances every known person's drift by one frame.
    pub fn advance(&mut self, m: &AppearanceModel) {
        let rho = m.drift_correlation;
        let k = (1.0 - rho * rho).sqrt();
        for o in self.people.iter_mut().flatten() {
            for e in &mut o.drift {
                let n: f64 = StandardNormal.sample(&mut self.rng);
                *e = rho * *e + k * n;
            }
        }
    }

    /// The descriptor read from `bx` with `layers` (nearest first) in front of the
    /// background.
    pub fn paint(&mut self, m: &AppearanceModel, bx: &Bx, layers: &[Layer]) -> Appearance {
        let mut counts = [0.0f32; APPEARANCE_DIM];
        let mut covers: Vec<Bx> = Vec::with_capacity(layers.len());
        for (r, frac) in REGION_BOUNDS.iter().enumerate() {
            let frac = frac.map(f64::from);
            let region = Bx {
                x1: bx.x1 + frac[0] * bx.w(),
                y1: bx.y1 + frac[1] * bx.h(),
                x2: bx.x1 + frac[2] * bx.w(),
                y2: bx.y1 + frac[3] * bx.h(),
            };
            let area = region.area();
            if area <= 0.0 {
                continue;
            }
            let mut mean = [0.0f64; COLOURS];
            let mut painted = 0.0;
            covers.clear();
            for layer in layers {
                let part_box = region.intersect(&layer.clipped);
                if part_box.w() > 0.0 && part_box.h() > 0.0 {
                    let (a, vis) = uncovered(&part_box, &covers);
                    if let (true, Some(vis)) = (a > 0.0, vis) {
                        let cy = 0.5 * (vis.y1 + vis.y2);
                        let part = body_part((cy - layer.full.y1) / layer.full.h().max(1e-9));
                        let outfit = self.outfit(m, layer.key);
                        let bg = match part {
                            1 => m.torso_background,
                            2 => m.legs_background,
                            _ => 0.3,
                        };
                        let mut h = outfit.parts[part];
                        let mut sum = 0.0;
                        for (c, v) in h.iter_mut().enumerate() {
                            *v *= (m.drift_sigma * outfit.drift[part * COLOURS + c]).exp();
                            sum += *v;
                        }
                        for c in 0..COLOURS {
                            let body = if sum > 0.0 { h[c] / sum } else { 0.0 };
                            mean[c] += a * ((1.0 - bg) * body + bg * m.background[c]);
                        }
                        painted += a;
                    }
                }
                covers.push(layer.clipped);
            }
            let bg_sum: f64 = m.background.iter().sum();
            let rest = (area - painted).max(0.0);
            for (v, bg) in mean.iter_mut().zip(&m.background) {
                *v += rest * bg / bg_sum;
            }
            let total: f64 = mean.iter().sum();
            let conc = (area / m.pixels_per_count).clamp(m.concentration_min, m.concentration_max);
            for c in 0..COLOURS {
                counts[r * COLOURS + c] = self.gamma(conc * mean[c] / total);
            }
        }
        Appearance::from_counts(&counts)
    }

    /// A descriptor for a false positive with nothing behind it: background with a random
    /// patch of colour.
    pub fn clutter(&mut self, m: &AppearanceModel, bx: &Bx) -> Appearance {
        let mut counts = [0.0f32; APPEARANCE_DIM];
        for (r, frac) in REGION_BOUNDS.iter().enumerate() {
            let frac = frac.map(f64::from);
            let area = bx.w() * bx.h() * (frac[2] - frac[0]) * (frac[3] - frac[1]);
            let patch = draw_index(&mut self.rng, &m.top_palette);
            let bg_sum: f64 = m.background.iter().sum();
            let conc = (area / m.pixels_per_count).clamp(m.concentration_min, m.concentration_max);
            for c in 0..COLOURS {
                let mean = 0.6 * m.background[c] / bg_sum + if c == patch { 0.4 } else { 0.0 };
                counts[r * COLOURS + c] = self.gamma(conc * mean);
            }
        }
        Appearance::from_counts(&counts)
    }
}

/// Blend of two descriptors (a merged detection of two people), `w` of `b`.
pub(crate) fn mix(a: &Appearance, b: &Appearance, w: f32) -> Appearance {
    let mut out = *a;
    out.blend(b, w);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn person(x: f64, key: usize) -> Layer {
        let b = Bx {
            x1: x,
            y1: 100.0,
            x2: x + 80.0,
            y2: 300.0,
        };
        Layer {
            full: b,
            clipped: b,
            key: Owner::Person(key),
        }
    }

    #[test]
    fn same_person_stays_close_and_others_differ_on_average() {
        let m = AppearanceModel::default();
        let mut p = Painter::new(ChaCha8Rng::seed_from_u64(7));
        let mut same = Vec::new();
        let mut diff = Vec::new();
        for k in 0..200 {
            let a = person(0.0, k);
            let b = person(0.0, k + 1000);
            let d1 = p.paint(&m, &a.full, &[a]);
            let d2 = p.paint(&m, &a.full, &[a]);
            let e = p.paint(&m, &b.full, &[b]);
            same.push(d1.distance(&d2).unwrap());
            diff.push(d1.distance(&e).unwrap());
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean(&same) < 0.2, "same {}", mean(&same));
        assert!(
            mean(&diff) > 1.5 * mean(&same),
            "diff {} same {}",
            mean(&diff),
            mean(&same)
        );
    }

    #[test]
    fn an_occluder_in_front_takes_over_the_descriptor() {
        let m = AppearanceModel {
            drift_sigma: 0.0,
            concentration_min: 1e6,
            concentration_max: 1e6,
            pixels_per_count: 1e-3,
            ..AppearanceModel::default()
        };
        let mut p = Painter::new(ChaCha8Rng::seed_from_u64(1));
        let back = person(0.0, 1);
        let front = person(0.0, 2);
        let alone = p.paint(&m, &back.full, &[back]);
        let hidden = p.paint(&m, &back.full, &[front, back]);
        let front_alone = p.paint(&m, &front.full, &[front]);
        assert!(hidden.distance(&front_alone).unwrap() < 0.01);
        // Half covered: in between.
        let half = person(40.0, 2);
        let partly = p.paint(&m, &back.full, &[half, back]);
        let d_alone = partly.distance(&alone).unwrap();
        assert!(d_alone > 0.0 && d_alone < alone.distance(&front_alone).unwrap() + 1e-6);
    }
}
