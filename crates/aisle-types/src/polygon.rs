//! Plane geometry for zones and counting lines: point in polygon, area, self-intersection and
//! segment crossing. Coordinates are `[x, y]` in any consistent unit (normalised image
//! coordinates in the config, pixels in the analytics); image `y` points down.

/// Twice the signed area of a polygon (shoelace formula); positive when the vertices run
/// clockwise on screen (counter-clockwise in a y-up frame). Zero for fewer than 3 vertices.
pub fn signed_area2(poly: &[[f64; 2]]) -> f64 {
    if poly.len() < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    for i in 0..poly.len() {
        let a = poly[i];
        let b = poly[(i + 1) % poly.len()];
        s += a[0] * b[1] - b[0] * a[1];
    }
    s
}

/// The area of a simple polygon (absolute value of the shoelace formula).
pub fn area(poly: &[[f64; 2]]) -> f64 {
    signed_area2(poly).abs() / 2.0
}

/// Whether `p` is inside the polygon (even-odd rule; a point exactly on an edge counts as
/// inside for the left and top edges and outside for the others, so two polygons sharing an
/// edge never both hold a point). False for fewer than 3 vertices or non-finite input.
pub fn contains(poly: &[[f64; 2]], p: [f64; 2]) -> bool {
    if poly.len() < 3 || !p[0].is_finite() || !p[1].is_finite() {
        return false;
    }
    let (x, y) = (p[0], p[1]);
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (xi, yi) = (poly[i][0], poly[i][1]);
        let (xj, yj) = (poly[j][0], poly[j][1]);
        if (yi > y) != (yj > y) {
            let x_cross = xj + (y - yj) * (xi - xj) / (yi - yj);
            if x < x_cross {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Orientation of the turn `a -> b -> c`: `> 0`, `< 0` or `0` (collinear), as twice the signed
/// triangle area.
pub fn cross(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn on_segment(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> bool {
    p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

/// Whether the closed segments `a-b` and `c-d` share a point (touching counts).
pub fn segments_intersect(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let d1 = cross(c, d, a);
    let d2 = cross(c, d, b);
    let d3 = cross(a, b, c);
    let d4 = cross(a, b, d);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

/// The first pair of edges `(i, j)` (edge `i` runs from vertex `i` to vertex `i + 1`) that
/// cross or touch although they are not neighbours, or neighbours that fold back onto each
/// other; `None` for a simple polygon. Quadratic; zones have few vertices.
pub fn self_intersection(poly: &[[f64; 2]]) -> Option<(usize, usize)> {
    let n = poly.len();
    if n < 3 {
        return None;
    }
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        for j in (i + 1)..n {
            let (c, d) = (poly[j], poly[(j + 1) % n]);
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                // Neighbours share a vertex; they are broken only when they overlap along a
                // line (a spike folding back).
                let shared = if j == i + 1 { b } else { a };
                let (p, q) = if j == i + 1 { (a, d) } else { (b, c) };
                if cross(shared, p, q) == 0.0 {
                    let v1 = [p[0] - shared[0], p[1] - shared[1]];
                    let v2 = [q[0] - shared[0], q[1] - shared[1]];
                    if v1[0] * v2[0] + v1[1] * v2[1] > 0.0 {
                        return Some((i, j));
                    }
                }
                continue;
            }
            if segments_intersect(a, b, c, d) {
                return Some((i, j));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [[f64; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];

    #[test]
    fn area_and_containment() {
        assert_eq!(area(&SQUARE), 1.0);
        assert!(contains(&SQUARE, [0.5, 0.5]));
        assert!(!contains(&SQUARE, [1.5, 0.5]));
        assert!(!contains(&SQUARE, [f64::NAN, 0.5]));
        assert!(!contains(&SQUARE[..2], [0.5, 0.0]));
        // Concave: an L shape.
        let l = [
            [0.0, 0.0],
            [2.0, 0.0],
            [2.0, 1.0],
            [1.0, 1.0],
            [1.0, 2.0],
            [0.0, 2.0],
        ];
        assert!(contains(&l, [0.5, 1.5]));
        assert!(!contains(&l, [1.5, 1.5]));
        assert_eq!(area(&l), 3.0);
    }

    #[test]
    fn shared_edges_hold_a_point_once() {
        let left = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let right = [[1.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0]];
        for y in [0.1, 0.5, 0.9] {
            let n = [contains(&left, [1.0, y]), contains(&right, [1.0, y])]
                .iter()
                .filter(|&&b| b)
                .count();
            assert_eq!(n, 1, "y = {y}");
        }
    }

    #[test]
    fn self_intersections_are_found() {
        assert_eq!(self_intersection(&SQUARE), None);
        let bowtie = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
        assert_eq!(self_intersection(&bowtie), Some((0, 2)));
        // A spike folding back along its own edge.
        let spike = [[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 1.0]];
        assert!(self_intersection(&spike).is_some());
        // A vertex touching a non-adjacent edge.
        let touch = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [1.0, 0.0], [0.0, 2.0]];
        assert!(self_intersection(&touch).is_some());
        let triangle = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]];
        assert_eq!(self_intersection(&triangle), None);
    }

    #[test]
    fn segments() {
        assert!(segments_intersect(
            [0.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
            [1.0, 0.0]
        ));
        assert!(!segments_intersect(
            [0.0, 0.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [1.0, 1.0]
        ));
        assert!(segments_intersect(
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0]
        ));
    }
}
