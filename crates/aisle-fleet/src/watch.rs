//! The model of `aisle watch`: MQTT messages of the topic tree ([`crate::topics`]) in, a table of
//! the latest figures per device, camera and zone out. No I/O: [`WatchState::apply`] takes a
//! topic and a payload, [`WatchState::render`] returns the table as text, so both are tested
//! without a broker or a terminal.
//!
//! Messages are read leniently (as JSON values, not the strict record types), so a newer schema
//! with more fields still shows; anything that cannot be read (not UTF-8, not JSON, no window, a
//! topic level the tree does not allow) is counted and the last one described, never a panic.
//! An empty retained message (a cleared topic) removes its row.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::topics::ROOT;

/// A device, by site and device name.
pub type DeviceKey = (String, String);

/// What a device last said on `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    /// `online`, `offline` (Last Will), `stopped`, or what the device sent.
    pub state: String,
    pub version: Option<String>,
}

/// The latest record of one camera's zone, line or camera-wide figures, for one period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// `zone`, `line` or `camera`.
    pub kind: String,
    /// `window` or `report`.
    pub period: String,
    pub window_end: String,
    pub historical: bool,
    pub suppressed: bool,
    pub visitors: Option<u64>,
    pub occupancy_now: Option<u64>,
    pub occupancy_mean: Option<f64>,
    pub occupancy_max: Option<u64>,
    pub dwell_p50_s: Option<f64>,
    pub dwell_p90_s: Option<f64>,
    pub bounces: Option<u64>,
    pub engaged: Option<u64>,
    /// Lines: crossings in and out.
    pub crossings_in: Option<u64>,
    pub crossings_out: Option<u64>,
}

/// Key of a [`Row`]: site, device, camera, subject (zone, line or `camera`), period.
pub type RowKey = (String, String, String, String, String);

/// What [`WatchState::apply`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A device's status changed.
    Status,
    /// A row was added, updated or removed.
    Metrics,
    /// An older record than the one shown (e.g. replayed from a spool): kept out.
    Stale,
    /// A topic the table does not show (health, config, commands, live, other trees).
    Ignored,
    /// Could not be read; the reason.
    Malformed(String),
}

/// The table's state.
#[derive(Debug, Clone, Default)]
pub struct WatchState {
    pub devices: BTreeMap<DeviceKey, DeviceRow>,
    pub rows: BTreeMap<RowKey, Row>,
    /// Messages applied, by outcome.
    pub messages: u64,
    pub malformed: u64,
    /// The last malformed message: topic and reason.
    pub last_malformed: Option<String>,
}

/// Longest piece of a broker's message quoted in the table.
const QUOTE_MAX: usize = 80;

fn quote(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() > QUOTE_MAX {
        let cut: String = clean.chars().take(QUOTE_MAX).collect();
        format!("{cut}...")
    } else {
        clean
    }
}

impl WatchState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one message.
    pub fn apply(&mut self, topic: &str, payload: &[u8]) -> Applied {
        self.messages += 1;
        let outcome = self.apply_inner(topic, payload);
        if let Applied::Malformed(why) = &outcome {
            self.malformed += 1;
            self.last_malformed = Some(format!("{}: {why}", quote(topic)));
        }
        outcome
    }

    fn apply_inner(&mut self, topic: &str, payload: &[u8]) -> Applied {
        let Some(rest) = topic.strip_prefix(ROOT).and_then(|r| r.strip_prefix('/')) else {
            return Applied::Ignored;
        };
        // Names from the broker are shown: no control characters reach the terminal.
        let owned: Vec<String> = rest.split('/').map(quote).collect();
        let levels: Vec<&str> = owned.iter().map(String::as_str).collect();
        match levels.as_slice() {
            [site, device, "status"] => self.status(site, device, payload),
            [site, device, camera, subject, "metrics"] => {
                self.metrics(site, device, camera, subject, payload)
            }
            _ => Applied::Ignored,
        }
    }

    fn status(&mut self, site: &str, device: &str, payload: &[u8]) -> Applied {
        let key = (site.to_string(), device.to_string());
        if payload.is_empty() {
            self.devices.remove(&key);
            return Applied::Status;
        }
        let v = match parse(payload) {
            Ok(v) => v,
            Err(e) => return Applied::Malformed(e),
        };
        let Some(state) = v.get("state").and_then(Value::as_str) else {
            return Applied::Malformed("status without a `state` string".into());
        };
        let version = v.get("version").and_then(Value::as_str).map(quote);
        self.devices.insert(
            key,
            DeviceRow {
                state: quote(state),
                version,
            },
        );
        Applied::Status
    }

    fn metrics(
        &mut self,
        site: &str,
        device: &str,
        camera: &str,
        subject: &str,
        payload: &[u8],
    ) -> Applied {
        if payload.is_empty() {
            let before = self.rows.len();
            self.rows
                .retain(|k, _| !(k.0 == site && k.1 == device && k.2 == camera && k.3 == subject));
            return if self.rows.len() < before {
                Applied::Metrics
            } else {
                Applied::Ignored
            };
        }
        let v = match parse(payload) {
            Ok(v) => v,
            Err(e) => return Applied::Malformed(e),
        };
        let row = match row_of(&v) {
            Ok(r) => r,
            Err(e) => return Applied::Malformed(e),
        };
        let key = (
            site.to_string(),
            device.to_string(),
            camera.to_string(),
            subject.to_string(),
            row.period.clone(),
        );
        if let Some(old) = self.rows.get(&key) {
            // RFC 3339 UTC times of one form compare as strings.
            if row.window_end < old.window_end {
                return Applied::Stale;
            }
        }
        self.rows.insert(key, row);
        // The device is known even before its (retained) status arrives.
        self.devices
            .entry((site.to_string(), device.to_string()))
            .or_insert_with(|| DeviceRow {
                state: "?".into(),
                version: None,
            });
        Applied::Metrics
    }

    /// The table: one line per device, then one per camera, subject and period; the columns fit
    /// their content.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.devices.is_empty() && self.rows.is_empty() {
            out.push_str("no device has published yet\n");
        }
        for ((site, device), d) in &self.devices {
            let version = d
                .version
                .as_deref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default();
            out.push_str(&format!("device {site}/{device}: {}{version}\n", d.state));
        }
        let zone_header = [
            "SITE/DEVICE",
            "CAMERA",
            "ZONE",
            "PERIOD",
            "VISITORS",
            "OCC NOW",
            "OCC MEAN",
            "OCC MAX",
            "DWELL P50",
            "DWELL P90",
            "BOUNCES",
            "ENGAGED",
            "WINDOW END",
            "NOTE",
        ];
        let mut zones: Vec<Vec<String>> = Vec::new();
        let mut lines: Vec<Vec<String>> = Vec::new();
        for ((site, device, camera, subject, period), r) in &self.rows {
            let note = match (r.historical, r.suppressed) {
                (true, true) => "historical, suppressed (k)",
                (true, false) => "historical",
                (false, true) => "suppressed (k)",
                (false, false) => "",
            };
            let who = format!("{site}/{device}");
            if r.kind == "line" {
                lines.push(vec![
                    who,
                    camera.clone(),
                    subject.clone(),
                    period.clone(),
                    int(r.crossings_in),
                    int(r.crossings_out),
                    short_time(&r.window_end),
                    note.into(),
                ]);
                continue;
            }
            let subject = if r.kind == "camera" {
                "(whole camera)".to_string()
            } else {
                subject.clone()
            };
            zones.push(vec![
                who,
                camera.clone(),
                subject,
                period.clone(),
                int(r.visitors),
                int(r.occupancy_now),
                r.occupancy_mean.map_or("-".into(), |x| format!("{x:.2}")),
                int(r.occupancy_max),
                secs(r.dwell_p50_s),
                secs(r.dwell_p90_s),
                int(r.bounces),
                int(r.engaged),
                short_time(&r.window_end),
                note.into(),
            ]);
        }
        if !zones.is_empty() {
            out.push('\n');
            table(&mut out, &zone_header, &zones);
        }
        if !lines.is_empty() {
            out.push('\n');
            let header = [
                "SITE/DEVICE",
                "CAMERA",
                "LINE",
                "PERIOD",
                "IN",
                "OUT",
                "WINDOW END",
                "NOTE",
            ];
            table(&mut out, &header, &lines);
        }
        out.push_str(&format!(
            "\n{} messages, {} malformed",
            self.messages, self.malformed
        ));
        if let Some(m) = &self.last_malformed {
            out.push_str(&format!(" (last: {m})"));
        }
        out.push('\n');
        out
    }
}

fn parse(payload: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(payload).map_err(|_| "payload is not UTF-8".to_string())?;
    let v: Value = serde_json::from_str(text).map_err(|e| format!("payload is not JSON ({e})"))?;
    if !v.is_object() {
        return Err("payload is not a JSON object".into());
    }
    Ok(v)
}

fn uint(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_u64()
}

fn float(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn row_of(v: &Value) -> Result<Row, String> {
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("record without a `type` string")?;
    if !matches!(kind, "zone" | "line" | "camera") {
        return Err(format!("unknown record type {:?}", quote(kind)));
    }
    let window_end = v
        .get("window")
        .and_then(|w| w.get("end"))
        .and_then(Value::as_str)
        .ok_or("record without `window.end`")?;
    Ok(Row {
        kind: kind.into(),
        period: quote(v.get("period").and_then(Value::as_str).unwrap_or("window")),
        window_end: quote(window_end),
        historical: v
            .get("historical")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        suppressed: v
            .get("suppressed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        visitors: uint(v, &["visitors"]),
        occupancy_now: uint(v, &["occupancy", "now"]),
        occupancy_mean: float(v, &["occupancy", "mean"]),
        occupancy_max: uint(v, &["occupancy", "max"]),
        dwell_p50_s: float(v, &["dwell", "p50_s"]),
        dwell_p90_s: float(v, &["dwell", "p90_s"]),
        bounces: uint(v, &["bounces"]),
        engaged: uint(v, &["engaged"]),
        crossings_in: uint(v, &["crossings_in"]),
        crossings_out: uint(v, &["crossings_out"]),
    })
}

fn int(x: Option<u64>) -> String {
    x.map_or("-".into(), |x| x.to_string())
}

fn secs(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.1}s"))
}

/// `2026-01-01T00:01:00Z` -> `01-01 00:01:00Z` (the year is rarely news).
fn short_time(t: &str) -> String {
    match (t.get(5..10), t.get(11..)) {
        (Some(d), Some(rest)) if t.len() >= 20 && t.as_bytes()[10] == b'T' => {
            format!("{d} {rest}")
        }
        _ => t.to_string(),
    }
}

/// Left-aligned text columns, right-aligned numbers, two spaces apart.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let numeric = |c: usize| (4..header.len() - 2).contains(&c);
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (c, (cell, w)) in cells.zip(&width).enumerate() {
            if c > 0 {
                l.push_str("  ");
            }
            let pad = w - cell.chars().count();
            if numeric(c) {
                l.push_str(&" ".repeat(pad));
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = r#"{"type":"zone","schema":"aisle.metrics.v1","id":"cam1/door/window/1767225600","camera":"cam1","period":"window","window":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z","length_s":60,"observed_s":60.0},"suppressed":false,"min_visitors":5,"zone":"door","zone_kind":"entrance","visitors":8,"entries":13,"occupancy":{"person_seconds":100.4,"mean":1.67,"max":4,"now":2},"dwell":{"count":7,"sum_s":70.0,"mean_s":10.0,"p50_s":8.25,"p90_s":21.5,"max_s":30.0,"exact":true,"histogram":[],"in_progress":1,"in_progress_s":3.0},"bounces":2,"engaged":5}"#;

    #[test]
    fn a_zone_record_and_a_status_make_a_table() {
        let mut s = WatchState::new();
        assert_eq!(
            s.apply(
                "aisle/v1/s1/dev1/status",
                br#"{"state":"online","version":"0.1.0","cameras":["cam1"]}"#
            ),
            Applied::Status
        );
        assert_eq!(
            s.apply("aisle/v1/s1/dev1/cam1/door/metrics", ZONE.as_bytes()),
            Applied::Metrics
        );
        let t = s.render();
        assert!(t.contains("device s1/dev1: online (0.1.0)"), "{t}");
        let row = t.lines().find(|l| l.contains("door")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "s1/dev1",
                "cam1",
                "door",
                "window",
                "8",
                "2",
                "1.67",
                "4",
                "8.2s",
                "21.5s",
                "2",
                "5",
                "01-01",
                "00:01:00Z"
            ],
            "{t}"
        );
        assert!(t.contains("2 messages, 0 malformed"), "{t}");

        // An older record (replayed from a spool) does not replace the newer one; a newer
        // historical one does and says so.
        let older = ZONE
            .replace("00:01:00Z", "00:00:30Z")
            .replace("\"visitors\":8", "\"visitors\":1");
        assert_eq!(
            s.apply("aisle/v1/s1/dev1/cam1/door/metrics", older.as_bytes()),
            Applied::Stale
        );
        let newer = ZONE
            .replace("00:01:00Z", "00:02:00Z")
            .replace("\"bounces\":2", "\"bounces\":3,\"historical\":true");
        s.apply("aisle/v1/s1/dev1/cam1/door/metrics", newer.as_bytes());
        let t = s.render();
        let row = t.lines().find(|l| l.contains("door")).unwrap();
        assert!(
            row.contains("00:02:00Z") && row.ends_with("historical"),
            "{t}"
        );

        // Last Will, then the retained status cleared.
        s.apply("aisle/v1/s1/dev1/status", br#"{"state":"offline"}"#);
        assert!(s.render().contains("device s1/dev1: offline\n"));
        s.apply("aisle/v1/s1/dev1/cam1/door/metrics", b"");
        assert!(!s.render().contains("door"));
    }

    #[test]
    fn lines_suppressed_and_camera_records() {
        let mut s = WatchState::new();
        let line = r#"{"type":"line","period":"window","window":{"end":"2026-01-01T00:01:00Z"},"suppressed":false,"line":"gate","crossings_in":3,"crossings_out":1}"#;
        let suppressed = r#"{"type":"zone","period":"report","window":{"end":"2026-01-01T00:15:00Z"},"suppressed":true,"zone":"till","visitors":null,"occupancy":null}"#;
        let camera = r#"{"type":"camera","period":"window","window":{"end":"2026-01-01T00:01:00Z"},"suppressed":false,"visitors":16}"#;
        assert_eq!(
            s.apply("aisle/v1/s/d/c/gate/metrics", line.as_bytes()),
            Applied::Metrics
        );
        assert_eq!(
            s.apply("aisle/v1/s/d/c/till/metrics", suppressed.as_bytes()),
            Applied::Metrics
        );
        assert_eq!(
            s.apply("aisle/v1/s/d/c/camera/metrics", camera.as_bytes()),
            Applied::Metrics
        );
        let t = s.render();
        assert!(t.contains("device s/d: ?"), "{t}");
        let gate: Vec<&str> = t
            .lines()
            .find(|l| l.contains("gate"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            gate,
            ["s/d", "c", "gate", "window", "3", "1", "01-01", "00:01:00Z"]
        );
        let till = t.lines().find(|l| l.contains("till")).unwrap();
        assert!(
            till.contains("report") && till.ends_with("suppressed (k)"),
            "{t}"
        );
        assert!(
            t.lines()
                .any(|l| l.contains("(whole camera)") && l.contains("16")),
            "{t}"
        );
    }

    #[test]
    fn mutated_messages_never_panic() {
        // Deterministic byte mutations of real payloads and topics (xorshift, fixed seed).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let status = br#"{"state":"online","version":"0.1.0","cameras":["cam1"]}"#;
        const JSON_BYTES: &[u8] = b"{}[]\",:0-e\x00";
        let mut s = WatchState::new();
        for k in 0..5000 {
            let (topic, base): (&str, &[u8]) = if k % 3 == 0 {
                ("aisle/v1/s1/dev1/status", status)
            } else {
                ("aisle/v1/s1/dev1/cam1/door/metrics", ZONE.as_bytes())
            };
            let mut payload = base.to_vec();
            let mut topic = topic.as_bytes().to_vec();
            for _ in 0..1 + next() % 4 {
                let r = next() as usize;
                match r % 4 {
                    0 if !payload.is_empty() => {
                        let at = r / 4 % payload.len();
                        payload[at] = (r >> 20) as u8;
                    }
                    0 | 1 => payload.truncate(r / 4 % (payload.len() + 1)),
                    2 => payload.insert(
                        r / 4 % (payload.len() + 1),
                        JSON_BYTES[r / 8 % JSON_BYTES.len()],
                    ),
                    _ => {
                        let at = r / 4 % topic.len();
                        topic[at] = b"/+#a\x1b"[r / 8 % 5];
                    }
                }
            }
            s.apply(&String::from_utf8_lossy(&topic), &payload);
            assert!(!s.render().contains('\u{1b}'));
        }
        assert!(
            s.malformed > 0 && s.malformed < s.messages,
            "{} of {}",
            s.malformed,
            s.messages
        );
    }

    #[test]
    fn malformed_messages_are_counted_never_fatal() {
        let mut s = WatchState::new();
        let bad: [(&str, &[u8], &str); 7] = [
            ("aisle/v1/s/d/status", b"\xff\xfe", "not UTF-8"),
            ("aisle/v1/s/d/status", b"online", "not JSON"),
            ("aisle/v1/s/d/status", b"[1]", "not a JSON object"),
            ("aisle/v1/s/d/status", b"{\"state\":1}", "`state`"),
            ("aisle/v1/s/d/c/z/metrics", b"{\"type\":\"zone\"}", "window.end"),
            ("aisle/v1/s/d/c/z/metrics", b"{\"type\":\"x\",\"window\":{\"end\":\"e\"}}", "unknown record type"),
            ("aisle/v1/s/d/c/z/metrics", b"{\"type\":\"zone\",\"window\":{\"end\":\"e\"},\"visitors\":-1,\"occupancy\":{\"mean\":\"x\"}}", ""),
        ];
        for (topic, payload, why) in bad {
            let got = s.apply(topic, payload);
            if why.is_empty() {
                // Wrong types in figures are shown as missing, not rejected.
                assert_eq!(got, Applied::Metrics);
            } else {
                assert!(
                    matches!(&got, Applied::Malformed(m) if m.contains(why)),
                    "{got:?}"
                );
            }
        }
        assert_eq!(s.malformed, 6);
        for other in [
            "aisle/v1/s/d/health",
            "aisle/v1/s/d/config",
            "aisle/v1/s/d/cmd/ping",
            "aisle/v1/s/d/c/z/live",
            "other/x",
            "aisle/v1",
        ] {
            assert_eq!(s.apply(other, b"{}"), Applied::Ignored, "{other}");
        }
        let t = s.render();
        assert!(
            t.contains("6 malformed (last: aisle/v1/s/d/c/z/metrics: unknown record type"),
            "{t}"
        );
        // A control character from the broker never reaches the terminal.
        s.apply("aisle/v1/s/d/status", b"{\"state\":\"\\u001b[2Jx\"}");
        s.apply("aisle/v1/s/d\u{1b}[2J/status", b"{\"state\":\"online\"}");
        assert!(!s.render().contains('\u{1b}'));
    }
}
