//! The on-device appearance extractor: a detected person's box in an NV12 frame ->
//! [`Appearance`] (colour-name histograms of the torso and the legs).
//!
//! 1. **Regions.** Relative to the box as detected: the torso is rows 20-50 % of the box height
//!    and columns 25-75 % of its width; the legs are rows 55-90 % and columns 30-70 %
//!    ([`REGION_BOUNDS`], shared with the simulator). Each region is then clipped to the frame, so a box partly outside the frame
//!    keeps its regions where the body is (a region wholly outside is empty). A pixel belongs to
//!    a region when its centre `(x + 0.5, y + 0.5)` lies inside it.
//! 2. **Sampling.** A square grid with the smallest step (at least 1) that reads at most
//!    [`MAX_SAMPLES`] pixels of the region, centred in it. Each sample is converted with
//!    [`yuv_to_rgb`] (BT.601 limited range, chroma at `(x / 2, y / 2)`), the same arithmetic as
//!    the preprocessing reference.
//! 3. **Naming.** [`colour_class`] names each sample's colour (HSV thresholds below); the counts
//!    go to [`Appearance::from_counts`]. A region with fewer than [`MIN_SAMPLES`] samples (a tiny
//!    box, or one clipped away) is left empty (all zero) and takes no part in distances.
//!
//! Any box (NaN, inverted, empty, outside the frame) and any frame that fails
//! [`Nv12Frame::validate`] gives an empty descriptor; nothing here panics or allocates.

use aisle_types::{Appearance, BBox, Detection, Nv12Frame, APPEARANCE_DIM, COLOURS, REGION_BOUNDS};

use crate::preprocess::yuv_to_rgb;

/// Colour class indices, in [`aisle_types::COLOUR_NAMES`] order.
pub const BLACK: usize = 0;
pub const GREY: usize = 1;
pub const WHITE: usize = 2;
pub const RED: usize = 3;
/// Orange, yellow, brown and skin tones.
pub const WARM: usize = 4;
pub const GREEN: usize = 5;
pub const BLUE: usize = 6;
pub const PURPLE: usize = 7;

/// Below this value (`V = max(R, G, B) / 255`) a pixel is black, whatever its hue.
pub const BLACK_MAX_VALUE: f32 = 0.22;
/// Below this saturation (`S = (max - min) / max`) a pixel is achromatic: white or grey.
pub const ACHROMATIC_MAX_SATURATION: f32 = 0.18;
/// Above this value an achromatic pixel is white, otherwise grey.
pub const WHITE_MIN_VALUE: f32 = 0.78;
/// Hue boundaries in degrees: red is `[PURPLE_HUE_END, 360) + [0, RED_HUE_END)`, warm
/// `[RED_HUE_END, WARM_HUE_END)`, green up to [`GREEN_HUE_END`], blue up to [`BLUE_HUE_END`],
/// purple up to [`PURPLE_HUE_END`].
pub const RED_HUE_END: f32 = 15.0;
pub const WARM_HUE_END: f32 = 70.0;
pub const GREEN_HUE_END: f32 = 170.0;
pub const BLUE_HUE_END: f32 = 260.0;
pub const PURPLE_HUE_END: f32 = 330.0;

/// Most pixels read per region (the grid step grows to stay within it).
pub const MAX_SAMPLES: usize = 400;
/// Fewest samples for a region to count; below it the region is left empty.
pub const MIN_SAMPLES: usize = 16;

/// The colour name (index into [`aisle_types::COLOUR_NAMES`]) of one RGB pixel.
pub fn colour_class(r: u8, g: u8, b: u8) -> usize {
    let (rf, gf, bf) = (f32::from(r), f32::from(g), f32::from(b));
    let max = rf.max(gf).max(bf);
    let min = rf.min(gf).min(bf);
    let value = max / 255.0;
    if value < BLACK_MAX_VALUE {
        return BLACK;
    }
    let delta = max - min;
    // max > 0 here (value >= BLACK_MAX_VALUE).
    let saturation = delta / max;
    if saturation < ACHROMATIC_MAX_SATURATION {
        return if value > WHITE_MIN_VALUE { WHITE } else { GREY };
    }
    let sector = if max == rf {
        (gf - bf) / delta
    } else if max == gf {
        (bf - rf) / delta + 2.0
    } else {
        (rf - gf) / delta + 4.0
    };
    let mut hue = 60.0 * sector;
    if hue < 0.0 {
        hue += 360.0;
    }
    if !(RED_HUE_END..PURPLE_HUE_END).contains(&hue) {
        RED
    } else if hue < WARM_HUE_END {
        WARM
    } else if hue < GREEN_HUE_END {
        GREEN
    } else if hue < BLUE_HUE_END {
        BLUE
    } else {
        PURPLE
    }
}

/// Computes [`Appearance`] descriptors from decoded frames; reusable across frames and
/// cameras, with no allocation per call.
#[derive(Debug, Clone, Default)]
pub struct AppearanceExtractor {
    counts: [f32; APPEARANCE_DIM],
}

impl AppearanceExtractor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The descriptor of the person in `bbox` (frame pixels); empty when the frame is invalid
    /// or the box unusable (see the module docs).
    pub fn describe(&mut self, frame: &Nv12Frame, bbox: &BBox) -> Appearance {
        if frame.validate().is_err() || !bbox.is_finite() {
            return Appearance::default();
        }
        let (w, h) = (bbox.x2 - bbox.x1, bbox.y2 - bbox.y1);
        if !(w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()) {
            return Appearance::default();
        }
        self.counts = [0.0; APPEARANCE_DIM];
        for (r, spec) in REGION_BOUNDS.iter().enumerate() {
            let part = &mut self.counts[r * COLOURS..(r + 1) * COLOURS];
            count_region(frame, bbox, spec, part);
        }
        Appearance::from_counts(&self.counts)
    }

    /// The descriptors of all `detections`, in order, into `out` (cleared first).
    pub fn describe_all(
        &mut self,
        frame: &Nv12Frame,
        detections: &[Detection],
        out: &mut Vec<Appearance>,
    ) {
        out.clear();
        out.extend(detections.iter().map(|d| self.describe(frame, &d.bbox)));
    }
}

/// The pixel index range `[start, end)` whose centres lie in `[a, b)`, clipped to `[0, n)`.
/// `a` and `b` are finite.
fn pixel_span(a: f32, b: f32, n: u32) -> (usize, usize) {
    let n = f64::from(n);
    let lo = (f64::from(a) - 0.5).ceil().clamp(0.0, n);
    let hi = (f64::from(b) - 0.5).ceil().clamp(0.0, n);
    (lo as usize, (hi as usize).max(lo as usize))
}

/// Adds the colour counts of the region `spec` (`[x0, y0, x1, y1]` fractions of the box, see
/// [`REGION_BOUNDS`]) of `bbox` to `counts` (left zero when it has fewer than [`MIN_SAMPLES`]
/// samples). The frame is valid and the box finite with positive size.
fn count_region(frame: &Nv12Frame, bbox: &BBox, spec: &[f32; 4], counts: &mut [f32]) {
    let (bw, bh) = (bbox.x2 - bbox.x1, bbox.y2 - bbox.y1);
    let (x0, x1) = pixel_span(bbox.x1 + spec[0] * bw, bbox.x1 + spec[2] * bw, frame.width);
    let (y0, y1) = pixel_span(bbox.y1 + spec[1] * bh, bbox.y1 + spec[3] * bh, frame.height);
    let (nx, ny) = (x1 - x0, y1 - y0);
    if nx * ny < MIN_SAMPLES {
        return;
    }
    // The smallest step whose grid has at most MAX_SAMPLES points.
    let mut step = ((nx * ny) as f64 / MAX_SAMPLES as f64)
        .sqrt()
        .floor()
        .max(1.0) as usize;
    while nx.div_ceil(step) * ny.div_ceil(step) > MAX_SAMPLES {
        step += 1;
    }
    let (sx, sy) = (nx.div_ceil(step), ny.div_ceil(step));
    if sx * sy < MIN_SAMPLES {
        return;
    }
    // Centre the grid: the unused remainder is split on both sides.
    let (ox, oy) = (
        x0 + (nx - 1 - (sx - 1) * step) / 2,
        y0 + (ny - 1 - (sy - 1) * step) / 2,
    );
    for j in 0..sy {
        let y = oy + j * step;
        for i in 0..sx {
            let x = ox + i * step;
            let (u, v) = frame.chroma(x, y);
            let [r, g, b] = yuv_to_rgb(frame.luma(x, y), u, v);
            counts[colour_class(r, g, b)] += 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_types::MediaTime;

    #[test]
    fn pure_colours_get_their_names() {
        let cases: [((u8, u8, u8), usize, &str); 16] = [
            ((0, 0, 0), BLACK, "black"),
            ((40, 10, 10), BLACK, "very dark red"),
            ((255, 255, 255), WHITE, "white"),
            ((235, 230, 225), WHITE, "off-white"),
            ((128, 128, 128), GREY, "mid grey"),
            ((220, 20, 30), RED, "red"),
            ((255, 140, 0), WARM, "orange"),
            ((250, 230, 20), WARM, "yellow"),
            ((120, 70, 30), WARM, "brown"),
            ((30, 160, 40), GREEN, "green"),
            ((20, 150, 230), BLUE, "cyan-ish blue"),
            ((10, 20, 110), BLUE, "navy"),
            ((120, 30, 160), PURPLE, "purple"),
            ((255, 0, 255), PURPLE, "magenta"),
            ((255, 182, 193), RED, "pink"),
            ((255, 105, 180), RED, "hot pink"),
        ];
        for ((r, g, b), want, name) in cases {
            assert_eq!(colour_class(r, g, b), want, "{name} ({r}, {g}, {b})");
        }
    }

    /// BT.601 limited range, the inverse of `yuv_to_rgb` up to rounding.
    fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [f32; 3] {
        let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
        [
            16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
            128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
            128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
        ]
    }

    /// An NV12 frame from an RGB function (chroma averaged over each 2x2 block).
    fn frame_from_rgb(w: u32, h: u32, rgb: impl Fn(usize, usize) -> [u8; 3]) -> Nv12Frame {
        let (wu, hu) = (w as usize, h as usize);
        let (cw, ch) = (wu.div_ceil(2), hu.div_ceil(2));
        let mut y = vec![0u8; wu * hu];
        let mut uv = vec![0u8; 2 * cw * ch];
        for cy in 0..ch {
            for cx in 0..cw {
                let (mut su, mut sv, mut n) = (0.0, 0.0, 0.0);
                for py in 2 * cy..(2 * cy + 2).min(hu) {
                    for px in 2 * cx..(2 * cx + 2).min(wu) {
                        let [yy, u, v] = rgb_to_yuv(rgb(px, py));
                        y[py * wu + px] = yy.round() as u8;
                        su += u;
                        sv += v;
                        n += 1.0;
                    }
                }
                uv[cy * 2 * cw + 2 * cx] = (su / n).round() as u8;
                uv[cy * 2 * cw + 2 * cx + 1] = (sv / n).round() as u8;
            }
        }
        let f = Nv12Frame {
            width: w,
            height: h,
            pts: MediaTime::new(0, 1).unwrap(),
            index: 0,
            y,
            y_stride: wu,
            uv,
            uv_stride: 2 * cw,
        };
        f.validate().unwrap();
        f
    }

    struct Person {
        bbox: BBox,
        shirt: [u8; 3],
        trousers: [u8; 3],
    }

    /// Grey background with each person's shirt over the top half of the box (below the head)
    /// and trousers over the bottom half.
    fn scene(w: u32, h: u32, people: &[Person]) -> Nv12Frame {
        frame_from_rgb(w, h, |x, y| {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            for p in people {
                let b = &p.bbox;
                let (bw, bh) = (b.width(), b.height());
                let inside_x = xf >= b.x1 + 0.15 * bw && xf < b.x2 - 0.15 * bw;
                if inside_x && yf >= b.y1 + 0.15 * bh && yf < b.y1 + 0.52 * bh {
                    return p.shirt;
                }
                if inside_x && yf >= b.y1 + 0.52 * bh && yf < b.y1 + 0.95 * bh {
                    return p.trousers;
                }
            }
            [128, 128, 128]
        })
    }

    const RED_RGB: [u8; 3] = [200, 30, 35];
    const BLUE_RGB: [u8; 3] = [30, 45, 180];
    const GREEN_RGB: [u8; 3] = [40, 150, 50];
    const BLACK_RGB: [u8; 3] = [20, 20, 25];

    fn test_scene() -> (Nv12Frame, [BBox; 3]) {
        let boxes = [
            BBox::new(40.0, 30.0, 100.0, 230.0),
            BBox::new(130.5, 41.3, 181.7, 211.9),
            BBox::new(220.0, 20.0, 300.0, 250.0),
        ];
        let frame = scene(
            320,
            256,
            &[
                Person {
                    bbox: boxes[0],
                    shirt: RED_RGB,
                    trousers: BLUE_RGB,
                },
                Person {
                    bbox: boxes[1],
                    shirt: RED_RGB,
                    trousers: BLUE_RGB,
                },
                Person {
                    bbox: boxes[2],
                    shirt: GREEN_RGB,
                    trousers: BLACK_RGB,
                },
            ],
        );
        (frame, boxes)
    }

    #[test]
    fn red_shirt_blue_trousers_are_described_and_told_apart() {
        let (frame, boxes) = test_scene();
        let mut ex = AppearanceExtractor::new();
        let a = ex.describe(&frame, &boxes[0]);
        assert!(a.region(0)[RED] > 0.8, "torso {:?}", a.region(0));
        assert!(a.region(1)[BLUE] > 0.8, "legs {:?}", a.region(1));
        let b = ex.describe(&frame, &boxes[1]);
        assert!(b.region(0)[RED] > 0.8 && b.region(1)[BLUE] > 0.8, "{b:?}");
        assert!(a.distance(&b).unwrap() < 0.05, "{:?}", a.distance(&b));
        let c = ex.describe(&frame, &boxes[2]);
        assert!(
            c.region(0)[GREEN] > 0.8 && c.region(1)[BLACK] > 0.8,
            "{c:?}"
        );
        assert!(a.distance(&c).unwrap() > 0.8, "{:?}", a.distance(&c));

        let dets: Vec<Detection> = boxes
            .iter()
            .map(|&bbox| Detection {
                bbox,
                score: 0.9,
                class_id: 0,
            })
            .collect();
        let mut all = vec![Appearance::default(); 7];
        ex.describe_all(&frame, &dets, &mut all);
        assert_eq!(all, vec![a, b, c]);
    }

    #[test]
    fn large_boxes_are_sampled_sparsely() {
        // A 600x1000 box: each region is far above MAX_SAMPLES pixels, and still described.
        let frame = scene(
            640,
            1080,
            &[Person {
                bbox: BBox::new(20.0, 40.0, 620.0, 1040.0),
                shirt: RED_RGB,
                trousers: BLUE_RGB,
            }],
        );
        let a = AppearanceExtractor::new().describe(&frame, &BBox::new(20.0, 40.0, 620.0, 1040.0));
        assert!(a.region(0)[RED] > 0.99 && a.region(1)[BLUE] > 0.99, "{a:?}");
    }

    #[test]
    fn degenerate_boxes_and_frames_give_empty_descriptors() {
        let (frame, _) = test_scene();
        let mut ex = AppearanceExtractor::new();
        let nan = f32::NAN;
        let inf = f32::INFINITY;
        for b in [
            BBox::new(nan, 10.0, 50.0, 100.0),
            BBox::new(10.0, 10.0, nan, nan),
            BBox::new(-inf, -inf, inf, inf),
            BBox::new(100.0, 100.0, 40.0, 30.0),       // inverted
            BBox::new(50.0, 50.0, 50.0, 150.0),        // zero width
            BBox::new(50.0, 50.0, 90.0, 50.0),         // zero height
            BBox::new(50.0, 50.0, 53.0, 56.0),         // tiny
            BBox::new(400.0, 10.0, 460.0, 200.0),      // right of the frame
            BBox::new(-300.0, -500.0, -200.0, -300.0), // above and left
            BBox::new(-1e30, -1e30, -1e29, -1e29),
            BBox::default(),
        ] {
            assert!(ex.describe(&frame, &b).is_empty(), "{b:?}");
        }
        // Huge finite boxes are clipped, not overflowed.
        let huge = ex.describe(&frame, &BBox::new(-1e30, -10.0, 1e30, 400.0));
        assert!(!huge.is_empty());

        let ok = BBox::new(40.0, 30.0, 100.0, 230.0);
        let mut bad = frame.clone();
        bad.uv.truncate(10);
        assert!(ex.describe(&bad, &ok).is_empty());
        let mut empty = frame.clone();
        empty.width = 0;
        assert!(ex.describe(&empty, &ok).is_empty());
        assert!(!ex.describe(&frame, &ok).is_empty());
    }

    #[test]
    fn a_box_partly_outside_the_frame_keeps_its_visible_regions() {
        // The person's lower half is below the frame: the torso is described, the legs are not.
        let bbox = BBox::new(100.0, 100.0, 160.0, 300.0);
        let frame = scene(
            256,
            180,
            &[Person {
                bbox,
                shirt: RED_RGB,
                trousers: BLUE_RGB,
            }],
        );
        let a = AppearanceExtractor::new().describe(&frame, &bbox);
        assert!(a.region(0)[RED] > 0.8, "{a:?}");
        assert!(a.region(1).iter().all(|&v| v == 0.0), "{a:?}");

        // Cut off on the left: both regions are partly visible and still right.
        let bbox = BBox::new(-20.0, 20.0, 40.0, 220.0);
        let frame = scene(
            128,
            240,
            &[Person {
                bbox,
                shirt: RED_RGB,
                trousers: BLUE_RGB,
            }],
        );
        let a = AppearanceExtractor::new().describe(&frame, &bbox);
        assert!(a.region(0)[RED] > 0.8 && a.region(1)[BLUE] > 0.8, "{a:?}");
    }
}
