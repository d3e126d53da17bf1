//! `CameraAnalytics::new`: the camera's zones and lines, checked and converted to pixels, and
//! the settings, checked. The config crate validates files too; this is the engine's own
//! defence (a bad zone must never panic or silently count nonsense).

use aisle_config::{AnalyticsConfig, Anchor, LineConfig, LineSide, ZoneConfig};
use aisle_types::metrics::ZoneKind;
use aisle_types::polygon;

use crate::AnalyticsError;

/// Most zones per camera (a person's open visits fit a `u64` mask).
pub const MAX_ZONES: usize = 64;
/// Most counting lines per camera.
pub const MAX_LINES: usize = 32;
/// Largest heatmap side.
pub const MAX_HEATMAP_SIDE: u32 = 64;
/// A polygon with a smaller area (normalised units) is degenerate.
const MIN_AREA: f64 = 1e-6;
/// A line shorter than this (normalised units) has no direction.
const MIN_LINE_LENGTH: f64 = 1e-6;

/// One zone in pixels.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    pub anchor: Anchor,
    pub polygon: Vec<[f64; 2]>,
    pub capacity: Option<u32>,
    /// What shoppers face when they look at the zone's display, pixels: the configured
    /// `attention_target`, else the polygon's centroid.
    pub attention_target: [f64; 2],
}

impl Zone {
    pub fn is_staff(&self) -> bool {
        self.kind == ZoneKind::Staff
    }
}

/// One counting line in pixels.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub name: String,
    pub from: [f64; 2],
    pub to: [f64; 2],
    pub length: f64,
    pub in_side: LineSide,
    pub anchor: Anchor,
}

/// The settings, once checked by [`check_settings`].
pub(crate) type Settings = AnalyticsConfig;

/// Everything `new` needs, checked.
pub(crate) struct Setup {
    pub width: f64,
    pub height: f64,
    pub zones: Vec<Zone>,
    pub lines: Vec<Line>,
    pub settings: Settings,
}

fn invalid(
    camera: &str,
    path: impl Into<String>,
    value: impl Into<String>,
    reason: &str,
) -> AnalyticsError {
    AnalyticsError::Invalid {
        camera: camera.to_string(),
        path: path.into(),
        value: value.into(),
        reason: reason.to_string(),
    }
}

fn point_ok(p: [f64; 2]) -> bool {
    p.iter().all(|c| c.is_finite() && (0.0..=1.0).contains(c))
}

fn check_settings(camera: &str, s: &AnalyticsConfig) -> Result<Settings, AnalyticsError> {
    if s.window_s == 0 || !3600u32.is_multiple_of(s.window_s) {
        return Err(invalid(
            camera,
            "analytics.window_s",
            s.window_s.to_string(),
            "must be > 0 and divide 3600",
        ));
    }
    if s.report_window_s == 0
        || !s.report_window_s.is_multiple_of(s.window_s)
        || !86_400u32.is_multiple_of(s.report_window_s)
    {
        return Err(invalid(
            camera,
            "analytics.report_window_s",
            s.report_window_s.to_string(),
            "must be a multiple of window_s that divides 86400",
        ));
    }
    for (key, v) in [
        ("analytics.min_visit_s", s.min_visit_s),
        ("analytics.bounce_s", s.bounce_s),
        ("analytics.engaged_s", s.engaged_s),
        ("analytics.reentry_gap_s", s.reentry_gap_s),
        ("analytics.lost_grace_s", s.lost_grace_s),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(invalid(
                camera,
                key,
                v.to_string(),
                "must be a finite number >= 0",
            ));
        }
    }
    if !(s.staff_share > 0.0 && s.staff_share <= 1.0) {
        return Err(invalid(
            camera,
            "analytics.staff_share",
            s.staff_share.to_string(),
            "must be in (0, 1]",
        ));
    }
    for (key, v) in [
        ("analytics.heatmap_cols", s.heatmap_cols),
        ("analytics.heatmap_rows", s.heatmap_rows),
    ] {
        if v == 0 || v > MAX_HEATMAP_SIDE {
            return Err(invalid(camera, key, v.to_string(), "must be 1 to 64"));
        }
    }
    Ok(s.clone())
}

fn check_zone(
    camera: &str,
    i: usize,
    z: &ZoneConfig,
    w: f64,
    h: f64,
) -> Result<Zone, AnalyticsError> {
    let path = format!("zones[{i}].polygon");
    if z.polygon.len() < 3 {
        return Err(invalid(
            camera,
            path,
            format!("{} vertices", z.polygon.len()),
            "a zone needs at least 3 vertices",
        ));
    }
    for (j, p) in z.polygon.iter().enumerate() {
        if !point_ok(*p) {
            return Err(invalid(
                camera,
                format!("{path}[{j}]"),
                format!("{p:?}"),
                "coordinates must be finite and within 0..1 (normalised image coordinates)",
            ));
        }
    }
    // Self-intersection first: a symmetric bow tie also has a zero (signed) area.
    if let Some((a, b)) = polygon::self_intersection(&z.polygon) {
        return Err(invalid(
            camera,
            path,
            format!("edges {a} and {b}"),
            "the polygon intersects itself",
        ));
    }
    let area = polygon::area(&z.polygon);
    if area < MIN_AREA {
        return Err(invalid(
            camera,
            path,
            format!("area {area:e}"),
            "the polygon has (almost) no area",
        ));
    }
    let polygon: Vec<[f64; 2]> = z.polygon.iter().map(|p| [p[0] * w, p[1] * h]).collect();
    let attention_target = match z.attention_target {
        Some([x, y]) => [x * w, y * h],
        None => centroid(&polygon),
    };
    Ok(Zone {
        name: z.name.clone(),
        kind: z.kind,
        anchor: z.anchor,
        polygon,
        capacity: z.capacity,
        attention_target,
    })
}

/// The area centroid of a simple polygon (the vertex mean when its area is ~0).
fn centroid(p: &[[f64; 2]]) -> [f64; 2] {
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for (i, v) in p.iter().enumerate() {
        let w = p[(i + 1) % p.len()];
        let cross = v[0] * w[1] - w[0] * v[1];
        a += cross;
        cx += (v[0] + w[0]) * cross;
        cy += (v[1] + w[1]) * cross;
    }
    if a.abs() < 1e-12 {
        let n = p.len().max(1) as f64;
        return [
            p.iter().map(|v| v[0]).sum::<f64>() / n,
            p.iter().map(|v| v[1]).sum::<f64>() / n,
        ];
    }
    [cx / (3.0 * a), cy / (3.0 * a)]
}

fn check_line(
    camera: &str,
    i: usize,
    l: &LineConfig,
    w: f64,
    h: f64,
) -> Result<Line, AnalyticsError> {
    for (key, p) in [("from", l.from), ("to", l.to)] {
        if !point_ok(p) {
            return Err(invalid(
                camera,
                format!("lines[{i}].{key}"),
                format!("{p:?}"),
                "coordinates must be finite and within 0..1 (normalised image coordinates)",
            ));
        }
    }
    let norm_len = ((l.to[0] - l.from[0]).powi(2) + (l.to[1] - l.from[1]).powi(2)).sqrt();
    if norm_len < MIN_LINE_LENGTH {
        return Err(invalid(
            camera,
            format!("lines[{i}].to"),
            format!("{:?}", l.to),
            "the line has no length (`to` equals `from`)",
        ));
    }
    let from = [l.from[0] * w, l.from[1] * h];
    let to = [l.to[0] * w, l.to[1] * h];
    Ok(Line {
        name: l.name.clone(),
        from,
        to,
        length: ((to[0] - from[0]).powi(2) + (to[1] - from[1]).powi(2)).sqrt(),
        in_side: l.in_side,
        anchor: l.anchor,
    })
}

pub(crate) fn setup(
    camera: &str,
    frame_width: u32,
    frame_height: u32,
    zones: &[ZoneConfig],
    lines: &[LineConfig],
    settings: &AnalyticsConfig,
) -> Result<Setup, AnalyticsError> {
    if frame_width == 0 {
        return Err(invalid(
            camera,
            "frame_width",
            "0",
            "the frame has no width",
        ));
    }
    if frame_height == 0 {
        return Err(invalid(
            camera,
            "frame_height",
            "0",
            "the frame has no height",
        ));
    }
    let settings = check_settings(camera, settings)?;
    let (w, h) = (f64::from(frame_width), f64::from(frame_height));
    let mut out_zones: Vec<Zone> = Vec::new();
    for (i, z) in zones.iter().enumerate().filter(|(_, z)| z.camera == camera) {
        let zone = check_zone(camera, i, z, w, h)?;
        if out_zones.iter().any(|o| o.name == zone.name) {
            return Err(invalid(
                camera,
                format!("zones[{i}].name"),
                zone.name,
                "duplicate zone name on this camera",
            ));
        }
        if out_zones.len() == MAX_ZONES {
            return Err(invalid(
                camera,
                format!("zones[{i}]"),
                zone.name,
                "more than 64 zones on this camera",
            ));
        }
        out_zones.push(zone);
    }
    let mut out_lines: Vec<Line> = Vec::new();
    for (i, l) in lines.iter().enumerate().filter(|(_, l)| l.camera == camera) {
        let line = check_line(camera, i, l, w, h)?;
        if out_lines.iter().any(|o| o.name == line.name) {
            return Err(invalid(
                camera,
                format!("lines[{i}].name"),
                line.name,
                "duplicate line name on this camera",
            ));
        }
        if out_lines.len() == MAX_LINES {
            return Err(invalid(
                camera,
                format!("lines[{i}]"),
                line.name,
                "more than 32 lines on this camera",
            ));
        }
        out_lines.push(line);
    }
    Ok(Setup {
        width: w,
        height: h,
        zones: out_zones,
        lines: out_lines,
        settings,
    })
}
