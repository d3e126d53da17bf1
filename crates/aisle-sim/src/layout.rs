//! The floor plan: zones, shelves, the walk graph shoppers follow, displays and the checkout.

use crate::camera::{Camera, Projector};
use crate::geom::{
    point_in_polygon, polygon_area2, project_on_segment, segment_crosses_rect, Rect, V2,
};
use crate::SimError;

/// What a zone is for: the same kinds as the device's config (`staff` is not simulated).
pub use aisle_types::metrics::ZoneKind;

/// A named floor zone (a simple polygon in metres; zones may overlap, e.g. a display zone
/// inside an aisle).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSpec {
    pub name: String,
    pub kind: ZoneKind,
    pub polygon: Vec<[f64; 2]>,
}

/// A display shoppers stop at.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplaySpec {
    /// Index into [`FloorPlan::zones`] of the zone in front of the display.
    pub zone: usize,
    /// Where shoppers stand while looking (a spot is drawn in here for each visit); inside the
    /// zone.
    pub stand: Rect,
    /// Walk-graph edges (indices into [`FloorPlan::edges`]) shoppers leave the walkway from to
    /// reach the stand; the nearest point on the nearest of them is used.
    pub access_edges: Vec<usize>,
    /// Relative chance of being on a shopper's list.
    pub attraction: f64,
    /// Multiplies the drawn dwell time (a quick promo table < 1, an engaging display > 1).
    pub dwell_scale: f64,
}

/// A stretch of a walk-graph edge, from `from_t` to `to_t` (0 = the edge's first node, 1 =
/// its second), where shoppers stop briefly to look at the shelves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrowseSpan {
    pub edge: usize,
    pub from_t: f64,
    pub to_t: f64,
}

/// Tills and their single queue.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutSpec {
    /// Where a customer stands while being served, one per till.
    pub till_spots: Vec<[f64; 2]>,
    /// Walk-graph edges a served customer rejoins the walkway from.
    pub till_edges: Vec<usize>,
    /// The queue's centre line as a polyline, from the head (next to be served) to the entry
    /// where shoppers join.
    pub queue_line: Vec<[f64; 2]>,
    /// Walk-graph edges shoppers reach the queue entry from.
    pub queue_entry_edges: Vec<usize>,
    /// Distance between consecutive people in the queue, metres.
    pub slot_spacing_m: f64,
}

/// A store floor plan. Shoppers walk along the graph (`nodes`, `edges`), which must not pass
/// through `shelves`; they leave it only to reach display stands, tills and the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorPlan {
    pub width_m: f64,
    pub depth_m: f64,
    /// Obstacles (gondolas, counters); used to check the walk graph, and returned in the output
    /// for drawing.
    pub shelves: Vec<Rect>,
    /// Walk-graph nodes, floor metres.
    pub nodes: Vec<[f64; 2]>,
    /// Walk-graph edges as node index pairs.
    pub edges: Vec<[usize; 2]>,
    /// Where shoppers appear and disappear: outside the store and outside the camera's view.
    pub door: [f64; 2],
    pub door_edges: Vec<usize>,
    pub zones: Vec<ZoneSpec>,
    pub displays: Vec<DisplaySpec>,
    /// Where shoppers make short browsing stops at shelves.
    pub browse_spans: Vec<BrowseSpan>,
    pub checkout: CheckoutSpec,
    /// How far a walker strays sideways from the graph's centre lines (lane keeping plus
    /// wander), metres. Keep it under half the narrowest aisle minus a body radius.
    pub lane_half_width_m: f64,
}

fn rect_zone(name: &str, kind: ZoneKind, r: Rect) -> ZoneSpec {
    ZoneSpec {
        name: name.to_string(),
        kind,
        polygon: r.polygon(),
    }
}

impl FloorPlan {
    /// A 12 m x 12 m convenience store, entered through a door in the middle-left of the front
    /// wall (under the camera):
    ///
    /// ```text
    ///  y=12 +------------------------------------------------+
    ///       |   [bakery]                   [wine]            |  back wall displays
    ///       |            back-aisle                     (Q)  |
    ///  y=9.5|   | G1 |       | G2 |       | G3 |       | G4 | Q |
    ///       |cos| .. |snacks |    |aisle-2|    |  coffee| .. | U |  four gondolas,
    ///       |   |    |aisle-1|    |       |    | aisle-3|    | E |  aisles along the view
    ///  y=5  |   |    | [promo]    |  [seasonal]       |    | U |
    ///       |             front-aisle                   | E |
    ///  y=3  |       [entrance]           (checkout: 2 tills) |
    ///       |       (door)   counter                        |
    ///  y=0  +------------------------------------------------+  camera above the front wall
    /// ```
    ///
    /// Zones: `entrance`, aisles `front-aisle`, `wall-aisle`, `aisle-1..3`, `back-aisle`;
    /// displays `promo-endcap`, `seasonal-endcap`, `bakery`, `wine`, `snacks`, `coffee`,
    /// `cosmetics`; `queue` (a single line along the right wall, joined from the back) and
    /// `checkout` (two tills near the door).
    pub fn standard() -> Self {
        let nodes = vec![
            [4.0, -1.2],  // 0 door (outside, out of view)
            [4.0, 1.5],   // 1 inside the entrance
            [6.6, 2.8],   // 2 checkout exit
            [0.9, 3.5],   // 3 front, wall lane
            [3.3, 3.5],   // 4 front, aisle 1
            [6.0, 3.5],   // 5 front, aisle 2
            [8.7, 3.5],   // 6 front, aisle 3
            [0.9, 7.25],  // 7 middle of the wall lane
            [3.3, 7.25],  // 8 middle of aisle 1
            [6.0, 7.25],  // 9 middle of aisle 2
            [8.7, 7.25],  // 10 middle of aisle 3
            [0.9, 10.5],  // 11 back, wall lane
            [3.3, 10.5],  // 12 back, aisle 1
            [6.0, 10.5],  // 13 back, aisle 2
            [8.7, 10.5],  // 14 back, aisle 3
            [11.0, 10.5], // 15 back, above the queue
        ];
        let edges = vec![
            [0, 1],   // 0 door
            [1, 4],   // 1
            [1, 5],   // 2
            [1, 2],   // 3 entrance - checkout exit
            [3, 4],   // 4 front
            [4, 5],   // 5 front
            [5, 6],   // 6 front
            [3, 7],   // 7 wall lane
            [7, 11],  // 8
            [4, 8],   // 9 aisle 1
            [8, 12],  // 10
            [5, 9],   // 11 aisle 2
            [9, 13],  // 12
            [6, 10],  // 13 aisle 3
            [10, 14], // 14
            [11, 12], // 15 back
            [12, 13], // 16
            [13, 14], // 17
            [14, 15], // 18
        ];
        let zones = vec![
            rect_zone(
                "entrance",
                ZoneKind::Entrance,
                Rect::new(2.6, 0.0, 5.4, 3.0),
            ),
            rect_zone(
                "front-aisle",
                ZoneKind::Aisle,
                Rect::new(0.0, 3.0, 10.4, 5.0),
            ),
            rect_zone("wall-aisle", ZoneKind::Aisle, Rect::new(0.0, 5.0, 1.5, 9.5)),
            rect_zone("aisle-1", ZoneKind::Aisle, Rect::new(2.4, 5.0, 4.2, 9.5)),
            rect_zone("aisle-2", ZoneKind::Aisle, Rect::new(5.1, 5.0, 6.9, 9.5)),
            rect_zone("aisle-3", ZoneKind::Aisle, Rect::new(7.8, 5.0, 9.6, 9.5)),
            rect_zone(
                "back-aisle",
                ZoneKind::Aisle,
                Rect::new(0.0, 9.5, 12.0, 12.0),
            ),
            rect_zone(
                "promo-endcap",
                ZoneKind::Display,
                Rect::new(4.0, 4.5, 5.3, 5.0),
            ),
            rect_zone(
                "seasonal-endcap",
                ZoneKind::Display,
                Rect::new(6.7, 4.5, 8.0, 5.0),
            ),
            rect_zone("bakery", ZoneKind::Display, Rect::new(0.2, 11.3, 4.5, 12.0)),
            rect_zone("wine", ZoneKind::Display, Rect::new(6.5, 11.3, 11.8, 12.0)),
            rect_zone("snacks", ZoneKind::Display, Rect::new(2.4, 6.0, 2.9, 8.5)),
            rect_zone("coffee", ZoneKind::Display, Rect::new(9.1, 6.0, 9.6, 8.5)),
            rect_zone(
                "cosmetics",
                ZoneKind::Display,
                Rect::new(0.0, 5.5, 0.5, 9.0),
            ),
            rect_zone("queue", ZoneKind::Queue, Rect::new(10.5, 3.1, 12.0, 10.0)),
            rect_zone(
                "checkout",
                ZoneKind::Checkout,
                Rect::new(7.0, 1.4, 10.4, 3.0),
            ),
        ];
        let display = |zone, stand, access_edges: &[usize], attraction, dwell_scale| DisplaySpec {
            zone,
            stand,
            access_edges: access_edges.to_vec(),
            attraction,
            dwell_scale,
        };
        let displays = vec![
            display(7, Rect::new(4.3, 4.6, 5.0, 4.85), &[5], 1.5, 0.7),
            display(8, Rect::new(7.0, 4.6, 7.7, 4.85), &[6], 1.2, 0.9),
            display(9, Rect::new(0.6, 11.45, 4.2, 11.75), &[15, 16], 1.0, 1.0),
            display(10, Rect::new(6.9, 11.45, 11.4, 11.75), &[17, 18], 0.8, 1.4),
            display(11, Rect::new(2.55, 6.3, 2.75, 8.2), &[9, 10], 1.0, 1.0),
            display(12, Rect::new(9.25, 6.3, 9.45, 8.2), &[13, 14], 1.0, 1.0),
            display(13, Rect::new(0.2, 5.8, 0.35, 8.7), &[7, 8], 0.7, 1.3),
        ];
        Self {
            width_m: 12.0,
            depth_m: 12.0,
            shelves: vec![
                Rect::new(1.5, 5.0, 2.4, 9.5),
                Rect::new(4.2, 5.0, 5.1, 9.5),
                Rect::new(6.9, 5.0, 7.8, 9.5),
                Rect::new(9.6, 5.0, 10.4, 9.5),
                Rect::new(7.0, 0.6, 10.4, 1.2), // checkout counter
            ],
            nodes,
            edges,
            door: [4.0, -1.2],
            door_edges: vec![0],
            zones,
            displays,
            // Along the gondolas (y 5.45 to 9.05), away from the aisle ends.
            browse_spans: [7, 9, 11, 13]
                .iter()
                .map(|&edge| BrowseSpan {
                    edge,
                    from_t: 0.52,
                    to_t: 0.93,
                })
                .chain([8, 10, 12, 14].iter().map(|&edge| BrowseSpan {
                    edge,
                    from_t: 0.05,
                    to_t: 0.55,
                }))
                .collect(),
            checkout: CheckoutSpec {
                till_spots: vec![[7.8, 2.3], [9.2, 2.3]],
                till_edges: vec![3],
                queue_line: vec![[10.9, 4.4], [10.9, 9.9]],
                queue_entry_edges: vec![18],
                slot_spacing_m: 0.7,
            },
            lane_half_width_m: 0.3,
        }
    }

    /// Structural checks; `field` names in errors are relative to the scenario (`floor.*`).
    pub(crate) fn validate(&self, scenario: &str) -> Result<(), SimError> {
        let err = |field: String, value: String, reason: &str| {
            Err(SimError::invalid(scenario, field, value, reason))
        };
        let finite_pt = |p: &[f64; 2]| p[0].is_finite() && p[1].is_finite();
        for (name, v) in [
            ("floor.width_m", self.width_m),
            ("floor.depth_m", self.depth_m),
        ] {
            if !(v.is_finite() && v > 0.5 && v <= 1000.0) {
                return err(name.into(), v.to_string(), "must be in (0.5, 1000] metres");
            }
        }
        if !(self.lane_half_width_m.is_finite() && (0.0..=2.0).contains(&self.lane_half_width_m)) {
            return err(
                "floor.lane_half_width_m".into(),
                self.lane_half_width_m.to_string(),
                "must be in [0, 2] metres",
            );
        }
        for (i, r) in self.shelves.iter().enumerate() {
            if !r.is_valid() {
                return err(
                    format!("floor.shelves[{i}]"),
                    format!("{r:?}"),
                    "needs finite x0 < x1, y0 < y1",
                );
            }
        }
        if self.nodes.is_empty() {
            return err(
                "floor.nodes".into(),
                "[]".into(),
                "the walk graph needs nodes",
            );
        }
        for (i, p) in self.nodes.iter().enumerate() {
            if !finite_pt(p) {
                return err(
                    format!("floor.nodes[{i}]"),
                    format!("{p:?}"),
                    "must be finite",
                );
            }
        }
        let n = self.nodes.len();
        for (i, e) in self.edges.iter().enumerate() {
            if e[0] >= n || e[1] >= n || e[0] == e[1] {
                return err(
                    format!("floor.edges[{i}]"),
                    format!("{e:?}"),
                    "must join two different existing nodes",
                );
            }
            let (a, b) = (
                V2::from_arr(self.nodes[e[0]]),
                V2::from_arr(self.nodes[e[1]]),
            );
            if a.dist(b) < 1e-6 {
                return err(
                    format!("floor.edges[{i}]"),
                    format!("{e:?}"),
                    "has zero length",
                );
            }
            if let Some(s) = self
                .shelves
                .iter()
                .position(|r| segment_crosses_rect(a, b, r, 0.01))
            {
                return err(
                    format!("floor.edges[{i}]"),
                    format!("{e:?}"),
                    &format!("passes through floor.shelves[{s}]"),
                );
            }
        }
        // Connected (from the first node).
        let mut seen = vec![false; n];
        let mut stack = vec![0usize];
        seen[0] = true;
        while let Some(u) = stack.pop() {
            for e in &self.edges {
                for (x, y) in [(e[0], e[1]), (e[1], e[0])] {
                    if x == u && !seen[y] {
                        seen[y] = true;
                        stack.push(y);
                    }
                }
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return err(
                format!("floor.nodes[{i}]"),
                format!("{:?}", self.nodes[i]),
                "is not connected to node 0",
            );
        }
        let check_edges = |field: &str, list: &[usize]| -> Result<(), SimError> {
            if list.is_empty() {
                return err(field.into(), "[]".into(), "needs at least one edge");
            }
            if let Some(&e) = list.iter().find(|&&e| e >= self.edges.len()) {
                return err(field.into(), e.to_string(), "is not an edge index");
            }
            Ok(())
        };
        // A short walk from `p` to its access point must not cross a shelf.
        let check_access = |field: String, p: [f64; 2], list: &[usize]| -> Result<(), SimError> {
            let a = self.anchor(V2::from_arr(p), list);
            if let Some(s) = self
                .shelves
                .iter()
                .position(|r| segment_crosses_rect(V2::from_arr(p), a.at, r, 0.01))
            {
                return err(
                    field,
                    format!("{p:?}"),
                    &format!("is reached through floor.shelves[{s}]"),
                );
            }
            Ok(())
        };
        if !finite_pt(&self.door) {
            return err(
                "floor.door".into(),
                format!("{:?}", self.door),
                "must be finite",
            );
        }
        check_edges("floor.door_edges", &self.door_edges)?;
        check_access("floor.door".into(), self.door, &self.door_edges)?;
        for (i, z) in self.zones.iter().enumerate() {
            if z.name.trim().is_empty() {
                return err(
                    format!("floor.zones[{i}].name"),
                    format!("{:?}", z.name),
                    "must not be empty",
                );
            }
            if z.polygon.len() < 3
                || !z.polygon.iter().all(finite_pt)
                || polygon_area2(&z.polygon).abs() < 1e-9
            {
                return err(
                    format!("floor.zones[{i}].polygon"),
                    format!("{:?}", z.polygon),
                    "needs at least 3 finite points enclosing an area",
                );
            }
            if let Some(j) = self.zones[..i].iter().position(|o| o.name == z.name) {
                return err(
                    format!("floor.zones[{i}].name"),
                    z.name.clone(),
                    &format!("duplicates floor.zones[{j}].name"),
                );
            }
        }
        if self.displays.is_empty() {
            return err(
                "floor.displays".into(),
                "[]".into(),
                "needs at least one display",
            );
        }
        for (i, d) in self.displays.iter().enumerate() {
            let f = |k: &str| format!("floor.displays[{i}].{k}");
            if d.zone >= self.zones.len() {
                return err(f("zone"), d.zone.to_string(), "is not a zone index");
            }
            if !d.stand.is_valid() {
                return err(
                    f("stand"),
                    format!("{:?}", d.stand),
                    "needs finite x0 < x1, y0 < y1",
                );
            }
            let poly = &self.zones[d.zone].polygon;
            let corners = [
                [d.stand.x0, d.stand.y0],
                [d.stand.x1, d.stand.y0],
                [d.stand.x1, d.stand.y1],
                [d.stand.x0, d.stand.y1],
            ];
            if !corners
                .iter()
                .all(|c| point_in_polygon(V2::from_arr(*c), poly))
            {
                return err(
                    f("stand"),
                    format!("{:?}", d.stand),
                    "must lie inside its zone",
                );
            }
            check_edges(&f("access_edges"), &d.access_edges)?;
            for c in corners {
                check_access(f("stand"), c, &d.access_edges)?;
            }
            if !(d.attraction.is_finite() && d.attraction > 0.0 && d.attraction <= 1000.0) {
                return err(
                    f("attraction"),
                    d.attraction.to_string(),
                    "must be in (0, 1000]",
                );
            }
            if !(d.dwell_scale.is_finite() && d.dwell_scale > 0.0 && d.dwell_scale <= 100.0) {
                return err(
                    f("dwell_scale"),
                    d.dwell_scale.to_string(),
                    "must be in (0, 100]",
                );
            }
        }
        for (i, b) in self.browse_spans.iter().enumerate() {
            if b.edge >= self.edges.len() {
                return err(
                    format!("floor.browse_spans[{i}].edge"),
                    b.edge.to_string(),
                    "is not an edge index",
                );
            }
            if !(b.from_t.is_finite()
                && b.to_t.is_finite()
                && 0.0 <= b.from_t
                && b.from_t <= b.to_t
                && b.to_t <= 1.0)
            {
                return err(
                    format!("floor.browse_spans[{i}]"),
                    format!("{} to {}", b.from_t, b.to_t),
                    "needs 0 <= from_t <= to_t <= 1",
                );
            }
        }
        let c = &self.checkout;
        if c.till_spots.is_empty() {
            return err(
                "floor.checkout.till_spots".into(),
                "[]".into(),
                "needs at least one till",
            );
        }
        check_edges("floor.checkout.till_edges", &c.till_edges)?;
        for (i, t) in c.till_spots.iter().enumerate() {
            if !finite_pt(t) {
                return err(
                    format!("floor.checkout.till_spots[{i}]"),
                    format!("{t:?}"),
                    "must be finite",
                );
            }
            check_access(format!("floor.checkout.till_spots[{i}]"), *t, &c.till_edges)?;
        }
        if c.queue_line.len() < 2 || !c.queue_line.iter().all(finite_pt) {
            return err(
                "floor.checkout.queue_line".into(),
                format!("{:?}", c.queue_line),
                "needs at least 2 finite points",
            );
        }
        check_edges("floor.checkout.queue_entry_edges", &c.queue_entry_edges)?;
        let entry = c.queue_line[c.queue_line.len() - 1];
        check_access(
            "floor.checkout.queue_line".into(),
            entry,
            &c.queue_entry_edges,
        )?;
        if !(c.slot_spacing_m.is_finite() && (0.3..=5.0).contains(&c.slot_spacing_m)) {
            return err(
                "floor.checkout.slot_spacing_m".into(),
                c.slot_spacing_m.to_string(),
                "must be in [0.3, 5] metres",
            );
        }
        Ok(())
    }

    /// Where a point off the graph joins it: the nearest point on the nearest listed edge.
    pub(crate) fn anchor(&self, p: V2, edges: &[usize]) -> Anchor {
        let mut best = Anchor {
            edge: edges.first().copied().unwrap_or(0),
            at: p,
        };
        let mut best_d = f64::INFINITY;
        for &e in edges {
            let Some([a, b]) = self.edges.get(e) else {
                continue;
            };
            let q = project_on_segment(
                p,
                V2::from_arr(self.nodes[*a]),
                V2::from_arr(self.nodes[*b]),
            );
            let d = q.dist(p);
            if d < best_d {
                best_d = d;
                best = Anchor { edge: e, at: q };
            }
        }
        best
    }

    /// The queue line's total length.
    pub(crate) fn queue_length_m(&self) -> f64 {
        self.checkout
            .queue_line
            .windows(2)
            .map(|w| V2::from_arr(w[0]).dist(V2::from_arr(w[1])))
            .sum()
    }

    /// The point `s` metres from the queue head along the queue line.
    pub(crate) fn queue_point(&self, s: f64) -> (V2, V2) {
        let line = &self.checkout.queue_line;
        let mut rest = s.max(0.0);
        for w in line.windows(2) {
            let (a, b) = (V2::from_arr(w[0]), V2::from_arr(w[1]));
            let l = a.dist(b);
            if rest <= l || l <= 0.0 {
                let dir = (b - a).unit().unwrap_or(V2::new(0.0, 1.0));
                return (a.lerp(b, if l > 0.0 { rest / l } else { 0.0 }), dir);
            }
            rest -= l;
        }
        let n = line.len();
        let (a, b) = (V2::from_arr(line[n - 2]), V2::from_arr(line[n - 1]));
        (b, (b - a).unit().unwrap_or(V2::new(0.0, 1.0)))
    }

    pub(crate) fn queue_capacity(&self) -> usize {
        (self.queue_length_m() / self.checkout.slot_spacing_m).floor() as usize + 1
    }
}

/// A point on a walk-graph edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor {
    pub edge: usize,
    pub at: V2,
}

/// Shortest paths between all nodes of the walk graph.
#[derive(Debug, Clone)]
pub(crate) struct Router {
    nodes: Vec<V2>,
    edges: Vec<[usize; 2]>,
    dist: Vec<Vec<f64>>,
    next: Vec<Vec<usize>>,
}

impl Router {
    pub fn new(plan: &FloorPlan) -> Self {
        let nodes: Vec<V2> = plan.nodes.iter().map(|p| V2::from_arr(*p)).collect();
        let n = nodes.len();
        let mut dist = vec![vec![f64::INFINITY; n]; n];
        let mut next = vec![vec![usize::MAX; n]; n];
        for i in 0..n {
            dist[i][i] = 0.0;
            next[i][i] = i;
        }
        for e in &plan.edges {
            let d = nodes[e[0]].dist(nodes[e[1]]);
            for (a, b) in [(e[0], e[1]), (e[1], e[0])] {
                if d < dist[a][b] {
                    dist[a][b] = d;
                    next[a][b] = b;
                }
            }
        }
        for k in 0..n {
            for i in 0..n {
                if dist[i][k].is_infinite() {
                    continue;
                }
                for j in 0..n {
                    let d = dist[i][k] + dist[k][j];
                    if d < dist[i][j] {
                        dist[i][j] = d;
                        next[i][j] = next[i][k];
                    }
                }
            }
        }
        Self {
            nodes,
            edges: plan.edges.clone(),
            dist,
            next,
        }
    }

    /// The walk from `from_pos` (joining the graph at `from`) to `to_pos` (leaving it at `to`),
    /// as a polyline with no repeated points.
    pub fn route(&self, from_pos: V2, from: Anchor, to: Anchor, to_pos: V2) -> Vec<V2> {
        let mut pts = vec![from_pos, from.at];
        if from.edge != to.edge {
            let [a, b] = self.edges[from.edge];
            let [c, d] = self.edges[to.edge];
            let mut best = (f64::INFINITY, a, c);
            for u in [a, b] {
                for v in [c, d] {
                    let cost =
                        from.at.dist(self.nodes[u]) + self.dist[u][v] + self.nodes[v].dist(to.at);
                    if cost < best.0 {
                        best = (cost, u, v);
                    }
                }
            }
            let (_, mut u, v) = best;
            pts.push(self.nodes[u]);
            let mut guard = 0;
            while u != v && guard <= self.nodes.len() {
                u = self.next[u][v];
                if u == usize::MAX {
                    break;
                }
                pts.push(self.nodes[u]);
                guard += 1;
            }
        }
        pts.push(to.at);
        pts.push(to_pos);
        pts.dedup_by(|b, a| a.dist(*b) < 1e-6);
        pts
    }
}

/// A zone as the output reports it: floor polygon and where it appears in the image.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    /// Floor polygon, metres.
    pub floor: Vec<[f64; 2]>,
    /// The floor polygon projected into the image and clipped to it (pixels); empty when the
    /// camera does not see the zone's floor. Test a person's foot point (bottom centre of the
    /// box) against it.
    pub image: Vec<[f32; 2]>,
}

/// The store as simulated: zones with their floor and image polygons, shelves and the camera.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreLayout {
    pub width_m: f64,
    pub depth_m: f64,
    pub zones: Vec<Zone>,
    pub shelves: Vec<Rect>,
    pub camera: Camera,
}

impl StoreLayout {
    pub(crate) fn new(plan: &FloorPlan, camera: &Camera) -> Self {
        let proj = Projector::new(camera);
        let zones = plan
            .zones
            .iter()
            .map(|z| Zone {
                name: z.name.clone(),
                kind: z.kind,
                floor: z.polygon.clone(),
                image: proj
                    .floor_polygon_to_image(&z.polygon)
                    .into_iter()
                    .map(|p| [p[0] as f32, p[1] as f32])
                    .collect(),
            })
            .collect();
        Self {
            width_m: plan.width_m,
            depth_m: plan.depth_m,
            zones,
            shelves: plan.shelves.clone(),
            camera: camera.clone(),
        }
    }

    /// The zone index of a name.
    pub fn zone_index(&self, name: &str) -> Option<usize> {
        self.zones.iter().position(|z| z.name == name)
    }

    /// Indices of the zones whose floor polygon contains the floor point.
    pub fn zones_at_floor(&self, p: [f64; 2]) -> Vec<usize> {
        let v = V2::from_arr(p);
        (0..self.zones.len())
            .filter(|&i| point_in_polygon(v, &self.zones[i].floor))
            .collect()
    }

    /// Indices of the zones whose image polygon contains the pixel (e.g. a box's foot point).
    pub fn zones_at_image(&self, u: f32, v: f32) -> Vec<usize> {
        let p = V2::new(f64::from(u), f64::from(v));
        (0..self.zones.len())
            .filter(|&i| {
                let poly: Vec<[f64; 2]> = self.zones[i]
                    .image
                    .iter()
                    .map(|q| [f64::from(q[0]), f64::from(q[1])])
                    .collect();
                point_in_polygon(p, &poly)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_plan_is_valid_and_routes_avoid_shelves() {
        let plan = FloorPlan::standard();
        plan.validate("t").expect("standard plan is valid");
        let router = Router::new(&plan);
        // From the door to every display stand centre and back: no leg crosses a shelf.
        let door = V2::from_arr(plan.door);
        let door_a = plan.anchor(door, &plan.door_edges);
        for d in &plan.displays {
            let spot = V2::new(
                (d.stand.x0 + d.stand.x1) / 2.0,
                (d.stand.y0 + d.stand.y1) / 2.0,
            );
            let a = plan.anchor(spot, &d.access_edges);
            for path in [
                router.route(door, door_a, a, spot),
                router.route(spot, a, door_a, door),
            ] {
                assert_eq!(path.first().copied(), Some(path[0]));
                for w in path.windows(2) {
                    for s in &plan.shelves {
                        assert!(
                            !segment_crosses_rect(w[0], w[1], s, 0.01),
                            "{w:?} crosses {s:?}"
                        );
                    }
                }
                assert!(path.len() >= 3);
            }
        }
    }

    #[test]
    fn validation_names_the_broken_field() {
        let mut plan = FloorPlan::standard();
        plan.edges[4] = [3, 99];
        let e = plan.validate("s").expect_err("bad node index");
        assert!(e.to_string().contains("floor.edges[4]"), "{e}");
        let mut plan = FloorPlan::standard();
        plan.edges.push([7, 8]); // wall lane to aisle 1 through gondola 1
        let e = plan.validate("s").expect_err("edge through a shelf");
        assert!(
            e.to_string().contains("floor.edges[19]") && e.to_string().contains("shelves[0]"),
            "{e}"
        );
        let mut plan = FloorPlan::standard();
        plan.displays[2].stand.x1 = 50.0;
        let e = plan.validate("s").expect_err("stand outside zone");
        assert!(e.to_string().contains("floor.displays[2].stand"), "{e}");
    }
}
