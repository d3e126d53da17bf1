//! Small planar geometry: floor vectors, rectangles, polygons, and the visible part of a box
//! behind other boxes.

use std::ops::{Add, Mul, Sub};

/// A floor point or direction in metres.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct V2 {
    pub x: f64,
    pub y: f64,
}

impl V2 {
    pub fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    pub fn from_arr(p: [f64; 2]) -> Self {
        Self { x: p[0], y: p[1] }
    }

    pub fn dot(self, o: V2) -> f64 {
        self.x * o.x + self.y * o.y
    }

    pub fn cross(self, o: V2) -> f64 {
        self.x * o.y - self.y * o.x
    }

    pub fn len(self) -> f64 {
        self.dot(self).sqrt()
    }

    pub fn dist(self, o: V2) -> f64 {
        (self - o).len()
    }

    /// Unit vector, or `None` for a (near) zero vector.
    pub fn unit(self) -> Option<V2> {
        let l = self.len();
        (l > 1e-9).then(|| self * (1.0 / l))
    }

    /// The direction 90 degrees clockwise (to the right when walking along `self`, with x right
    /// and y forward).
    pub fn right(self) -> V2 {
        V2::new(self.y, -self.x)
    }

    pub fn lerp(self, o: V2, t: f64) -> V2 {
        self + (o - self) * t
    }
}

impl Add for V2 {
    type Output = V2;
    fn add(self, o: V2) -> V2 {
        V2::new(self.x + o.x, self.y + o.y)
    }
}

impl Sub for V2 {
    type Output = V2;
    fn sub(self, o: V2) -> V2 {
        V2::new(self.x - o.x, self.y - o.y)
    }
}

impl Mul<f64> for V2 {
    type Output = V2;
    fn mul(self, k: f64) -> V2 {
        V2::new(self.x * k, self.y * k)
    }
}

/// An axis-aligned floor rectangle in metres, `x0 <= x1`, `y0 <= y1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub const fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        Self { x0, y0, x1, y1 }
    }

    pub fn contains(&self, p: [f64; 2]) -> bool {
        p[0] >= self.x0 && p[0] <= self.x1 && p[1] >= self.y0 && p[1] <= self.y1
    }

    /// The corners, counter-clockwise, as a floor polygon.
    pub fn polygon(&self) -> Vec<[f64; 2]> {
        vec![
            [self.x0, self.y0],
            [self.x1, self.y0],
            [self.x1, self.y1],
            [self.x0, self.y1],
        ]
    }

    pub(crate) fn is_valid(&self) -> bool {
        [self.x0, self.y0, self.x1, self.y1]
            .iter()
            .all(|v| v.is_finite())
            && self.x0 < self.x1
            && self.y0 < self.y1
    }
}

/// Even-odd point in polygon test.
pub(crate) fn point_in_polygon(p: V2, poly: &[[f64; 2]]) -> bool {
    let n = poly.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = (poly[i][0], poly[i][1]);
        let (xj, yj) = (poly[j][0], poly[j][1]);
        if (yi > p.y) != (yj > p.y) {
            let x = xj + (p.y - yj) * (xi - xj) / (yi - yj);
            if p.x < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Twice the signed area (positive counter-clockwise).
pub(crate) fn polygon_area2(poly: &[[f64; 2]]) -> f64 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let a = poly[i];
            let b = poly[(i + 1) % n];
            a[0] * b[1] - b[0] * a[1]
        })
        .sum()
}

/// Whether segment `a`-`b` passes through the interior of `r` shrunk by `margin` on each side
/// (Liang-Barsky).
pub(crate) fn segment_crosses_rect(a: V2, b: V2, r: &Rect, margin: f64) -> bool {
    let (x0, y0, x1, y1) = (r.x0 + margin, r.y0 + margin, r.x1 - margin, r.y1 - margin);
    if x0 >= x1 || y0 >= y1 {
        return false;
    }
    let d = b - a;
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-d.x, a.x - x0),
        (d.x, x1 - a.x),
        (-d.y, a.y - y0),
        (d.y, y1 - a.y),
    ] {
        if p.abs() < 1e-12 {
            if q <= 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 >= t1 {
                return false;
            }
        }
    }
    t1 - t0 > 1e-9
}

/// Closest point to `p` on segment `a`-`b`.
pub(crate) fn project_on_segment(p: V2, a: V2, b: V2) -> V2 {
    let d = b - a;
    let l2 = d.dot(d);
    if l2 < 1e-18 {
        return a;
    }
    let t = ((p - a).dot(d) / l2).clamp(0.0, 1.0);
    a + d * t
}

/// Sutherland-Hodgman: keep the part of a polygon where `inside(p) >= 0`, with `inside` affine.
pub(crate) fn clip_polygon<const N: usize>(
    poly: &[[f64; N]],
    inside: impl Fn(&[f64; N]) -> f64,
) -> Vec<[f64; N]> {
    let n = poly.len();
    let mut out = Vec::with_capacity(n + 4);
    for i in 0..n {
        let cur = poly[i];
        let prev = poly[(i + n - 1) % n];
        let (dc, dp) = (inside(&cur), inside(&prev));
        if dc >= 0.0 {
            if dp < 0.0 {
                out.push(lerp_n(&prev, &cur, dp / (dp - dc)));
            }
            out.push(cur);
        } else if dp >= 0.0 {
            out.push(lerp_n(&prev, &cur, dp / (dp - dc)));
        }
    }
    out
}

fn lerp_n<const N: usize>(a: &[f64; N], b: &[f64; N], t: f64) -> [f64; N] {
    let mut r = [0.0; N];
    for k in 0..N {
        r[k] = a[k] + (b[k] - a[k]) * t;
    }
    r
}

/// An image-space box in pixels (f64 while simulating).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Bx {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

impl Bx {
    pub fn w(&self) -> f64 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn h(&self) -> f64 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f64 {
        self.w() * self.h()
    }

    pub fn clamp(&self, w: f64, h: f64) -> Bx {
        Bx {
            x1: self.x1.clamp(0.0, w),
            y1: self.y1.clamp(0.0, h),
            x2: self.x2.clamp(0.0, w),
            y2: self.y2.clamp(0.0, h),
        }
    }

    pub fn intersect(&self, o: &Bx) -> Bx {
        Bx {
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
            x2: self.x2.min(o.x2),
            y2: self.y2.min(o.y2),
        }
    }

    pub fn union(&self, o: &Bx) -> Bx {
        Bx {
            x1: self.x1.min(o.x1),
            y1: self.y1.min(o.y1),
            x2: self.x2.max(o.x2),
            y2: self.y2.max(o.y2),
        }
    }

    pub fn iou(&self, o: &Bx) -> f64 {
        let inter = self.intersect(o).area();
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    pub fn lerp(&self, o: &Bx, t: f64) -> Bx {
        Bx {
            x1: self.x1 + (o.x1 - self.x1) * t,
            y1: self.y1 + (o.y1 - self.y1) * t,
            x2: self.x2 + (o.x2 - self.x2) * t,
            y2: self.y2 + (o.y2 - self.y2) * t,
        }
    }

    pub fn to_bbox(self) -> aisle_types::BBox {
        aisle_types::BBox::new(
            self.x1 as f32,
            self.y1 as f32,
            self.x2 as f32,
            self.y2 as f32,
        )
    }
}

/// The area of `target` not covered by any of `occluders`, and the bounding box of that
/// uncovered part (`None` when fully covered). Exact: a sweep over the x-slabs between all box
/// edges, merging the covered y-intervals in each slab.
pub(crate) fn uncovered(target: &Bx, occluders: &[Bx]) -> (f64, Option<Bx>) {
    if target.area() <= 0.0 {
        return (0.0, None);
    }
    let clipped: Vec<Bx> = occluders
        .iter()
        .map(|o| o.intersect(target))
        .filter(|o| o.w() > 0.0 && o.h() > 0.0)
        .collect();
    if clipped.is_empty() {
        return (target.area(), Some(*target));
    }
    let mut xs: Vec<f64> = Vec::with_capacity(2 * clipped.len() + 2);
    xs.push(target.x1);
    xs.push(target.x2);
    for o in &clipped {
        xs.push(o.x1);
        xs.push(o.x2);
    }
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut area = 0.0;
    let mut bb: Option<Bx> = None;
    let mut ivs: Vec<(f64, f64)> = Vec::with_capacity(clipped.len());
    for win in xs.windows(2) {
        let (xa, xb) = (win[0], win[1]);
        if xb - xa <= 0.0 {
            continue;
        }
        let mid = 0.5 * (xa + xb);
        ivs.clear();
        ivs.extend(
            clipped
                .iter()
                .filter(|o| o.x1 <= mid && o.x2 >= mid)
                .map(|o| (o.y1, o.y2)),
        );
        ivs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cur = target.y1;
        let mut free = 0.0;
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut gap = |a: f64, b: f64| {
            if b > a {
                free += b - a;
                lo = lo.min(a);
                hi = hi.max(b);
            }
        };
        for &(a, b) in &ivs {
            if a > cur {
                gap(cur, a);
            }
            cur = cur.max(b);
        }
        gap(cur, target.y2);
        if free > 0.0 {
            area += free * (xb - xa);
            let slab = Bx {
                x1: xa,
                y1: lo,
                x2: xb,
                y2: hi,
            };
            bb = Some(match bb {
                Some(b) => b.union(&slab),
                None => slab,
            });
        }
    }
    (area, bb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x1: f64, y1: f64, x2: f64, y2: f64) -> Bx {
        Bx { x1, y1, x2, y2 }
    }

    #[test]
    fn uncovered_area_and_box() {
        let t = b(0.0, 0.0, 10.0, 10.0);
        assert_eq!(uncovered(&t, &[]).0, 100.0);
        // Left half covered.
        let (a, bb) = uncovered(&t, &[b(-5.0, -5.0, 5.0, 15.0)]);
        assert!((a - 50.0).abs() < 1e-9);
        assert_eq!(bb, Some(b(5.0, 0.0, 10.0, 10.0)));
        // Two overlapping occluders: union counted once.
        let (a, _) = uncovered(&t, &[b(0.0, 0.0, 6.0, 10.0), b(4.0, 0.0, 8.0, 10.0)]);
        assert!((a - 20.0).abs() < 1e-9);
        // A hole in the middle keeps the full bounding box.
        let (a, bb) = uncovered(&t, &[b(2.0, 2.0, 8.0, 8.0)]);
        assert!((a - 64.0).abs() < 1e-9);
        assert_eq!(bb, Some(t));
        // Fully covered.
        assert_eq!(uncovered(&t, &[b(-1.0, -1.0, 11.0, 11.0)]), (0.0, None));
    }

    #[test]
    fn segment_rect_crossing() {
        let r = Rect::new(1.0, 1.0, 2.0, 2.0);
        assert!(segment_crosses_rect(
            V2::new(0.0, 1.5),
            V2::new(3.0, 1.5),
            &r,
            0.0
        ));
        assert!(!segment_crosses_rect(
            V2::new(0.0, 0.5),
            V2::new(3.0, 0.5),
            &r,
            0.0
        ));
        assert!(!segment_crosses_rect(
            V2::new(0.0, 0.0),
            V2::new(0.5, 3.0),
            &r,
            0.0
        ));
        // Touching the edge only is not crossing.
        assert!(!segment_crosses_rect(
            V2::new(0.0, 1.0),
            V2::new(3.0, 1.0),
            &r,
            0.0
        ));
    }

    #[test]
    fn polygon_tests() {
        let sq = Rect::new(0.0, 0.0, 2.0, 1.0).polygon();
        assert!(point_in_polygon(V2::new(1.0, 0.5), &sq));
        assert!(!point_in_polygon(V2::new(2.5, 0.5), &sq));
        assert!((polygon_area2(&sq) - 4.0).abs() < 1e-12);
        let half = clip_polygon(&sq, |p| 1.0 - p[0]);
        assert!((polygon_area2(&half) - 2.0).abs() < 1e-12);
    }
}
