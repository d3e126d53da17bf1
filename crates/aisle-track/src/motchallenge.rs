//! MOTChallenge text files in and out: detections (`det.txt`), ground truth (`gt.txt`) and
//! tracker output, one box per line:
//!
//! ```text
//! frame, id, bb_left, bb_top, bb_width, bb_height, conf, x, y, z      (MOT15)
//! frame, id, bb_left, bb_top, bb_width, bb_height, flag, class, visibility   (MOT16/17/20 gt)
//! ```
//!
//! Fields are separated by commas (optionally with spaces) or by whitespace, as py-motmetrics
//! reads them; blank lines are skipped. Only the first six columns are required. Coordinates
//! are kept as written (MOTChallenge files count pixels from 1; IoU-based metrics do not
//! care, and tracks written back keep the input's convention).
//!
//! Which rows of a ground-truth file are read ([`RowFilter::MotGroundTruth`], the default of
//! [`read_sequence`]): a row whose column 7 is exactly 0 is dropped (MOT16+ "ignore" flag;
//! tracker files carry a confidence there, which is never exactly 0 in practice), and on a
//! 9-column row (the MOT16/17/20 ground-truth layout `..., flag, class, visibility`) a class
//! other than 1 (pedestrian) or -1 (unset) is dropped, so distractors, vehicles, static persons
//! and reflections are not ground truth. 10-column rows (MOT15 ground truth, detections and
//! tracker output: `..., conf, x, y, z`) carry world coordinates there, not a class, and are
//! kept. On their own, tracker boxes on the dropped rows count as false positives;
//! [`read_ground_truth`] also returns the distractors ([`DISTRACTOR_CLASSES`]) so that
//! [`crate::metrics::remove_ignored`] can remove the tracker boxes on them first, as TrackEval's
//! MOTChallenge evaluation (the benchmark server's) does. [`RowFilter::KeepAll`] reads every
//! row.
//!
//! Errors never panic: each malformed line gives a [`MotError`] naming the file, the 1-based
//! line number and the offending value. The `*_lossy` parsers keep every valid line and
//! return the errors of the others.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::Path;

use aisle_types::{BBox, Detection};

use crate::metrics::MotSequence;

/// Detections per frame, as read from a MOTChallenge `det.txt`.
pub type FrameDetections = BTreeMap<u32, Vec<Detection>>;

/// Largest id read from a sequence file (ids are exact in the `f64` the columns are read as).
pub const MAX_ID: u64 = 1 << 53;

/// Column names (1-based columns) used in error messages.
const COLUMN_NAMES: [&str; 10] = [
    "frame",
    "id",
    "bb_left",
    "bb_top",
    "bb_width",
    "bb_height",
    "conf",
    "class or x",
    "visibility or y",
    "z",
];

#[derive(Debug, thiserror::Error)]
pub enum MotError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}:{line}: {found} column(s), a MOTChallenge line needs at least 6 (frame,id,bb_left,bb_top,bb_width,bb_height)")]
    TooFewColumns {
        file: String,
        line: usize,
        found: usize,
    },
    #[error("{file}:{line}: column {column} ({name}): {value:?} is not a finite number")]
    BadNumber {
        file: String,
        line: usize,
        column: usize,
        name: &'static str,
        value: String,
    },
    #[error("{file}:{line}: column {column} ({name}): {value:?} must be a whole number from {min} to {max}")]
    BadInteger {
        file: String,
        line: usize,
        column: usize,
        name: &'static str,
        value: String,
        min: i64,
        max: u64,
    },
    #[error("{file}:{line}: column {column} ({name}): {value:?} is negative")]
    Negative {
        file: String,
        line: usize,
        column: usize,
        name: &'static str,
        value: String,
    },
    #[error("{file}:{line}: the box {value:?} does not fit in 32-bit floating point")]
    OutOfRange {
        file: String,
        line: usize,
        value: String,
    },
    #[error("{file}:{line}: id {id} appears twice in frame {frame} (first on line {first_line})")]
    DuplicateId {
        file: String,
        line: usize,
        frame: u32,
        id: u64,
        first_line: usize,
    },
    #[error("{file}:{line}: not valid UTF-8 text")]
    NotText { file: String, line: usize },
}

impl MotError {
    /// The 1-based line the error is about (`None` for I/O errors).
    pub fn line(&self) -> Option<usize> {
        match self {
            MotError::Io { .. } => None,
            MotError::TooFewColumns { line, .. }
            | MotError::BadNumber { line, .. }
            | MotError::BadInteger { line, .. }
            | MotError::Negative { line, .. }
            | MotError::OutOfRange { line, .. }
            | MotError::DuplicateId { line, .. }
            | MotError::NotText { line, .. } => Some(*line),
        }
    }
}

/// The classes of MOT16/17 ground truth that TrackEval's MOTChallenge evaluation treats as
/// distractors (a tracker box on one is removed, not counted): person on vehicle (2), static
/// person (7), distractor (8) and reflection (12). (TrackEval adds non-MOT vehicle, 6, for MOT20.)
pub const DISTRACTOR_CLASSES: [f64; 4] = [2.0, 7.0, 8.0, 12.0];

/// Which rows of a sequence file are kept (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowFilter {
    /// Drop rows flagged 0 in column 7, and 9-column rows whose class is neither 1 nor -1.
    #[default]
    MotGroundTruth,
    /// Only 9-column rows of a [`DISTRACTOR_CLASSES`] class, whatever their flag.
    MotDistractors,
    /// Every row except those of [`RowFilter::MotDistractors`].
    NotDistractors,
    /// Keep every row.
    KeepAll,
}

/// A ground-truth file split as TrackEval's MOTChallenge evaluation uses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroundTruth {
    /// What the tracker is scored against ([`RowFilter::MotGroundTruth`]).
    pub scored: MotSequence,
    /// Distractors: tracker boxes on them are removed before scoring
    /// ([`RowFilter::MotDistractors`]).
    pub distractors: MotSequence,
    /// Every other row, which competes with the distractors for tracker boxes
    /// ([`RowFilter::NotDistractors`]).
    pub others: MotSequence,
}

impl GroundTruth {
    /// Scores `hyp` as TrackEval's MOTChallenge evaluation does: tracker boxes on distractors
    /// removed ([`crate::metrics::remove_ignored`]), then [`crate::metrics::evaluate`].
    pub fn evaluate(&self, hyp: &MotSequence) -> crate::metrics::MotMetrics {
        let kept = crate::metrics::remove_ignored(&self.others, &self.distractors, hyp);
        crate::metrics::evaluate(&self.scored, &kept)
    }
}

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotRow {
    pub frame: u32,
    /// Column 2 as written (-1 in detection files, which may hold any number there).
    pub id: f64,
    pub bbox: BBox,
    /// Column 7 (detection score, tracker confidence or gt flag); 1 when absent.
    pub conf: f32,
    /// Column 8 of a 9-column row (the class in MOT16/17/20 ground truth); `None` otherwise.
    pub class: Option<f64>,
}

/// One tracker output row: what [`write_tracks`] writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackRow {
    pub id: u64,
    pub bbox: BBox,
    pub score: f32,
}

struct LineCtx<'a> {
    file: &'a str,
    line: usize,
}

impl LineCtx<'_> {
    fn number(&self, fields: &[&str], col: usize) -> Result<f64, MotError> {
        let raw = fields[col - 1];
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(MotError::BadNumber {
                file: self.file.to_owned(),
                line: self.line,
                column: col,
                name: COLUMN_NAMES[col - 1],
                value: raw.to_owned(),
            }),
        }
    }

    fn integer(&self, fields: &[&str], col: usize, min: i64, max: u64) -> Result<i64, MotError> {
        let v = self.number(fields, col)?;
        if v.fract() != 0.0 || v < min as f64 || v > max as f64 {
            return Err(MotError::BadInteger {
                file: self.file.to_owned(),
                line: self.line,
                column: col,
                name: COLUMN_NAMES[col - 1],
                value: fields[col - 1].to_owned(),
                min,
                max,
            });
        }
        Ok(v as i64)
    }

    fn size(&self, fields: &[&str], col: usize) -> Result<f64, MotError> {
        let v = self.number(fields, col)?;
        if v < 0.0 {
            return Err(MotError::Negative {
                file: self.file.to_owned(),
                line: self.line,
                column: col,
                name: COLUMN_NAMES[col - 1],
                value: fields[col - 1].to_owned(),
            });
        }
        Ok(v)
    }
}

/// Splits a line the way py-motmetrics does (`sep='\s+|\t+|,'`, initial spaces skipped).
/// A trailing comma is tolerated (some writers end every line with one).
fn fields(line: &str) -> Vec<&str> {
    let line = line.trim();
    let line = line.strip_suffix(',').unwrap_or(line);
    if line.contains(',') {
        line.split(',').map(str::trim).collect()
    } else {
        line.split_whitespace().collect()
    }
}

/// Parses one non-blank line (`line` is 1-based).
pub fn parse_row(text: &str, file: &str, line: usize) -> Result<MotRow, MotError> {
    let ctx = LineCtx { file, line };
    let f = fields(text);
    if f.len() < 6 {
        return Err(MotError::TooFewColumns {
            file: file.to_owned(),
            line,
            found: f.len(),
        });
    }
    let frame = ctx.integer(&f, 1, 0, u32::MAX as u64)? as u32;
    let id = ctx.number(&f, 2)?;
    let x = ctx.number(&f, 3)?;
    let y = ctx.number(&f, 4)?;
    let w = ctx.size(&f, 5)?;
    let h = ctx.size(&f, 6)?;
    let conf = if f.len() >= 7 {
        ctx.number(&f, 7)?
    } else {
        1.0
    };
    // Later columns (class, visibility, world coordinates) are checked, only the class is used.
    for col in 8..=f.len().min(COLUMN_NAMES.len()) {
        ctx.number(&f, col)?;
    }
    let class = if f.len() == 9 {
        Some(ctx.number(&f, 8)?)
    } else {
        None
    };
    let (x1, y1) = (x as f32, y as f32);
    let bbox = BBox::new(x1, y1, x1 + w as f32, y1 + h as f32);
    if !bbox.is_finite() || !(conf as f32).is_finite() {
        return Err(MotError::OutOfRange {
            file: file.to_owned(),
            line,
            value: f[2..6].join(","),
        });
    }
    Ok(MotRow {
        frame,
        id,
        bbox,
        conf: conf as f32,
        class,
    })
}

/// Calls `row` for each non-blank line; stops at the first error unless `lossy`, in which
/// case errors are collected and parsing goes on.
fn for_each_row(
    text: &str,
    file: &str,
    lossy: bool,
    errors: &mut Vec<MotError>,
    mut row: impl FnMut(MotRow, usize) -> Result<(), MotError>,
) -> Result<(), MotError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_row(line, file, k + 1).and_then(|r| row(r, k + 1)) {
            Ok(()) => {}
            Err(e) if lossy => errors.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn detections_from(
    text: &str,
    file: &str,
    lossy: bool,
) -> (FrameDetections, Vec<MotError>, Result<(), MotError>) {
    let mut out = FrameDetections::new();
    let mut errors = Vec::new();
    let res = for_each_row(text, file, lossy, &mut errors, |r, _| {
        out.entry(r.frame).or_default().push(Detection {
            bbox: r.bbox,
            score: r.conf,
            class_id: 0,
        });
        Ok(())
    });
    (out, errors, res)
}

/// Parses a detection file's text (`file` names it in errors): frame -> detections, score
/// from column 7 (1 when absent), class 0 (person); the id column is ignored.
pub fn parse_detections(text: &str, file: &str) -> Result<FrameDetections, MotError> {
    let (out, _, res) = detections_from(text, file, false);
    res.map(|()| out)
}

/// As [`parse_detections`], keeping every valid line and returning the errors of the others.
pub fn parse_detections_lossy(text: &str, file: &str) -> (FrameDetections, Vec<MotError>) {
    let (out, errors, _) = detections_from(text, file, true);
    (out, errors)
}

/// Reads a MOTChallenge detection file (`det.txt`).
pub fn read_detections(path: impl AsRef<Path>) -> Result<FrameDetections, MotError> {
    let (text, file) = read_text(path.as_ref())?;
    parse_detections(&text, &file)
}

fn keep(r: &MotRow, filter: RowFilter) -> bool {
    match filter {
        RowFilter::KeepAll => true,
        RowFilter::MotGroundTruth => r.conf != 0.0 && r.class.is_none_or(|c| c == 1.0 || c == -1.0),
        RowFilter::MotDistractors => is_distractor(r),
        RowFilter::NotDistractors => !is_distractor(r),
    }
}

fn is_distractor(r: &MotRow) -> bool {
    r.class.is_some_and(|c| DISTRACTOR_CLASSES.contains(&c))
}

fn sequence_from(
    text: &str,
    file: &str,
    filter: RowFilter,
    lossy: bool,
) -> (MotSequence, Vec<MotError>, Result<(), MotError>) {
    let mut seq = MotSequence::default();
    let mut first_line: HashMap<(u32, u64), usize> = HashMap::new();
    let mut errors = Vec::new();
    let res = for_each_row(text, file, lossy, &mut errors, |r, line| {
        if r.id.fract() != 0.0 || !(0.0..=MAX_ID as f64).contains(&r.id) {
            return Err(MotError::BadInteger {
                file: file.to_owned(),
                line,
                column: 2,
                name: "id",
                value: r.id.to_string(),
                min: 0,
                max: MAX_ID,
            });
        }
        let id = r.id as u64;
        if !keep(&r, filter) {
            return Ok(());
        }
        if let Some(&first) = first_line.get(&(r.frame, id)) {
            return Err(MotError::DuplicateId {
                file: file.to_owned(),
                line,
                frame: r.frame,
                id,
                first_line: first,
            });
        }
        first_line.insert((r.frame, id), line);
        seq.push(r.frame, id, r.bbox);
        Ok(())
    });
    (seq, errors, res)
}

/// Parses ground truth or tracker output (ids must be non-negative and unique per frame).
pub fn parse_sequence_with(
    text: &str,
    file: &str,
    filter: RowFilter,
) -> Result<MotSequence, MotError> {
    let (seq, _, res) = sequence_from(text, file, filter, false);
    res.map(|()| seq)
}

/// [`parse_sequence_with`] and [`RowFilter::MotGroundTruth`].
pub fn parse_sequence(text: &str, file: &str) -> Result<MotSequence, MotError> {
    parse_sequence_with(text, file, RowFilter::MotGroundTruth)
}

/// As [`parse_sequence_with`], keeping every valid line and returning the errors of the others.
pub fn parse_sequence_lossy(
    text: &str,
    file: &str,
    filter: RowFilter,
) -> (MotSequence, Vec<MotError>) {
    let (seq, errors, _) = sequence_from(text, file, filter, true);
    (seq, errors)
}

/// Reads a `gt.txt` or a tracker output file with [`RowFilter::MotGroundTruth`].
pub fn read_sequence(path: impl AsRef<Path>) -> Result<MotSequence, MotError> {
    read_sequence_with(path, RowFilter::MotGroundTruth)
}

/// Reads a `gt.txt` or a tracker output file.
pub fn read_sequence_with(
    path: impl AsRef<Path>,
    filter: RowFilter,
) -> Result<MotSequence, MotError> {
    let (text, file) = read_text(path.as_ref())?;
    parse_sequence_with(&text, &file, filter)
}

/// Reads a MOT16/17/20 `gt.txt` (or any sequence file) split into the scored rows, the
/// distractors and the others ([`GroundTruth`]).
pub fn read_ground_truth(path: impl AsRef<Path>) -> Result<GroundTruth, MotError> {
    let (text, file) = read_text(path.as_ref())?;
    Ok(GroundTruth {
        scored: parse_sequence_with(&text, &file, RowFilter::MotGroundTruth)?,
        distractors: parse_sequence_with(&text, &file, RowFilter::MotDistractors)?,
        others: parse_sequence_with(&text, &file, RowFilter::NotDistractors)?,
    })
}

/// The file's text and its display name; invalid UTF-8 is reported with its line.
fn read_text(path: &Path) -> Result<(String, String), MotError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| MotError::Io {
        file: file.clone(),
        source,
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok((text, file)),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
            Err(MotError::NotText { file, line })
        }
    }
}

fn check_finite(values: &[f32]) -> io::Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to write a non-finite MOTChallenge value: {values:?}"),
        ))
    }
}

/// Writes one tracker output line per row of one frame:
/// `frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1`. Numbers are written in the
/// shortest form that reads back to the same `f32`; an inverted box is written with size 0.
/// Non-finite values are an `InvalidInput` error (nothing is written for that row).
pub fn write_track_rows(out: &mut impl Write, frame: u32, rows: &[TrackRow]) -> io::Result<()> {
    for r in rows {
        let b = &r.bbox;
        let (w, h) = (b.width(), b.height());
        check_finite(&[b.x1, b.y1, w, h, r.score])?;
        writeln!(
            out,
            "{frame},{},{},{},{},{},{},-1,-1,-1",
            r.id, b.x1, b.y1, w, h, r.score
        )?;
    }
    Ok(())
}

/// Writes tracker output for all frames, in frame order (see [`write_track_rows`]).
pub fn write_tracks(out: &mut impl Write, frames: &BTreeMap<u32, Vec<TrackRow>>) -> io::Result<()> {
    for (&frame, rows) in frames {
        write_track_rows(out, frame, rows)?;
    }
    Ok(())
}

/// Writes a [`MotSequence`] as tracker output with confidence 1.
pub fn write_sequence(out: &mut impl Write, seq: &MotSequence) -> io::Result<()> {
    for (&frame, boxes) in &seq.frames {
        let rows: Vec<TrackRow> = boxes
            .iter()
            .map(|b| TrackRow {
                id: b.id,
                bbox: b.bbox,
                score: 1.0,
            })
            .collect();
        write_track_rows(out, frame, &rows)?;
    }
    Ok(())
}

/// Writes detections as a MOTChallenge `det.txt` (id -1): `frame,-1,x,y,w,h,score,-1,-1,-1`.
pub fn write_detections(out: &mut impl Write, frames: &FrameDetections) -> io::Result<()> {
    for (&frame, dets) in frames {
        for d in dets {
            let b = &d.bbox;
            let (w, h) = (b.width(), b.height());
            check_finite(&[b.x1, b.y1, w, h, d.score])?;
            writeln!(
                out,
                "{frame},-1,{},{},{},{},{},-1,-1,-1",
                b.x1, b.y1, w, h, d.score
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_err(text: &str, line: usize, needles: &[&str]) -> MotError {
        let e = parse_sequence(text, "seq/gt.txt").unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.line(), Some(line), "{msg}");
        assert!(msg.starts_with(&format!("seq/gt.txt:{line}:")), "{msg}");
        for n in needles {
            assert!(msg.contains(n), "{msg:?} lacks {n:?}");
        }
        e
    }

    #[test]
    fn parses_mot15_and_mot16_lines() {
        let text = "1,1,10,20,30,40,1,-1,-1,-1\n\n1, 2, 0.5, 0.25, 4, 8, 0.75, -1, -1, -1\n2 1 11 21 30 40\n";
        let seq = parse_sequence(text, "t").unwrap();
        assert_eq!(seq.num_boxes(), 3);
        let crlf = parse_sequence("\u{feff}1,1,10,20,30,40,\r\n1\t2\t1\t1\t2\t2\r\n", "t").unwrap();
        assert_eq!(crlf.frame(1).len(), 2);
        assert_eq!(seq.frame(1)[0].bbox, BBox::new(10.0, 20.0, 40.0, 60.0));
        assert_eq!(seq.frame(1)[1].id, 2);
        assert_eq!(seq.frame(1)[1].bbox, BBox::new(0.5, 0.25, 4.5, 8.25));
        assert_eq!(seq.frame(2)[0].bbox, BBox::new(11.0, 21.0, 41.0, 61.0));
        let dets = parse_detections("3,-1,1,2,3,4,0.5,-1,-1,-1\n3,-1,5,6,7,8\n", "d").unwrap();
        assert_eq!(dets[&3].len(), 2);
        assert_eq!(dets[&3][0].score, 0.5);
        assert_eq!(dets[&3][1].score, 1.0);
        assert_eq!(dets[&3][1].bbox, BBox::new(5.0, 6.0, 12.0, 14.0));
    }

    #[test]
    fn ground_truth_filter_drops_ignored_rows_and_other_classes() {
        let text = "1,1,0,0,10,10,1,1,1\n1,2,0,0,10,10,0,1,1\n1,3,0,0,10,10,1,7,1\n1,4,0,0,10,10,1,-1,-1\n\
                    1,5,0,0,10,10,1,4.4852,5.5016,0\n1,6,0,0,10,10,0.5,2\n";
        let ids: Vec<u64> = parse_sequence(text, "gt")
            .unwrap()
            .frame(1)
            .iter()
            .map(|b| b.id)
            .collect();
        // 5: MOT15 world coordinates, not a class; 6: 8 columns, no class layout.
        assert_eq!(ids, vec![1, 4, 5, 6]);
        let all = parse_sequence_with(text, "gt", RowFilter::KeepAll).unwrap();
        assert_eq!(all.num_boxes(), 6);
    }

    #[test]
    fn errors_name_file_line_and_value() {
        assert_err(
            "1,1,0,0,10,10\n2,1,abc,0,10,10\n",
            2,
            &["column 3", "bb_left", "\"abc\""],
        );
        assert_err("1,1,0,0,10\n", 1, &["5 column(s)", "at least 6"]);
        assert_err(
            "\n\n1,1,0,0,-3.5,10\n",
            3,
            &["column 5", "bb_width", "\"-3.5\"", "negative"],
        );
        assert_err("1,1,0,0,10,-1\n", 1, &["bb_height", "negative"]);
        assert_err("1.5,1,0,0,10,10\n", 1, &["column 1", "frame", "\"1.5\""]);
        assert_err("-1,1,0,0,10,10\n", 1, &["frame", "\"-1\""]);
        assert_err("1,-1,0,0,10,10\n", 1, &["column 2", "id", "\"-1\""]);
        assert_err("1,1,NaN,0,10,10\n", 1, &["\"NaN\"", "not a finite number"]);
        assert_err("1,1,inf,0,10,10\n", 1, &["\"inf\""]);
        assert_err("1,1,1e39,0,10,10\n", 1, &["32-bit"]);
        assert_err("1,1,0,0,10,10,1,x\n", 1, &["column 8", "\"x\""]);
        assert_err("1,1,0,0,10,10,1,1,1,zz\n", 1, &["column 10 (z)", "\"zz\""]);
        assert_err(
            "1,1,0,0,10,10\n1,1,5,5,10,10\n",
            2,
            &["id 1 appears twice in frame 1", "first on line 1"],
        );
        assert_err("1,1,,0,10,10\n", 1, &["column 3", "\"\""]);
        let e = parse_detections("1,-1,0,0,10,10,high\n", "det.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "det.txt:1: column 7 (conf): \"high\" is not a finite number"
        );
    }

    #[test]
    fn lossy_parsing_keeps_valid_lines() {
        let text = "1,1,0,0,10,10\n1,2,zero,0,10,10\n2,1,1,1,10,10\n2,2\n";
        let (seq, errors) = parse_sequence_lossy(text, "gt", RowFilter::KeepAll);
        assert_eq!(seq.num_boxes(), 2);
        assert_eq!(
            errors.iter().map(|e| e.line().unwrap()).collect::<Vec<_>>(),
            vec![2, 4]
        );
        let (dets, errors) = parse_detections_lossy("1,-1,0,0,1,1\nbad\n", "det");
        assert_eq!((dets[&1].len(), errors.len()), (1, 1));
    }

    #[test]
    fn read_reports_missing_files_and_bad_utf8() {
        let dir = std::env::temp_dir().join(format!("aisle-mot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.txt");
        let e = read_sequence(&missing).unwrap_err();
        assert!(e.to_string().contains("missing.txt"), "{e}");
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, b"1,1,0,0,1,1\n1,2,\xff,0,1,1\n").unwrap();
        let e = read_detections(&bad).unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert!(e.to_string().contains("bad.txt:2: not valid UTF-8"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tracks_roundtrip_through_text() {
        let mut frames = BTreeMap::new();
        frames.insert(
            1,
            vec![
                TrackRow {
                    id: 3,
                    bbox: BBox::new(10.25, 20.5, 40.0, 80.75),
                    score: 0.875,
                },
                TrackRow {
                    id: 7,
                    bbox: BBox::new(113.84, 274.5, 171.147, 404.55),
                    score: 0.3,
                },
            ],
        );
        frames.insert(
            5,
            vec![TrackRow {
                id: 3,
                bbox: BBox::new(0.0, 0.0, 1.0, 2.0),
                score: 1.0,
            }],
        );
        let mut out = Vec::new();
        write_tracks(&mut out, &frames).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("1,3,10.25,20.5,29.75,60.25,0.875,-1,-1,-1\n"),
            "{text}"
        );
        let seq = parse_sequence(&text, "out").unwrap();
        for (frame, rows) in &frames {
            let got = seq.frame(*frame);
            assert_eq!(got.len(), rows.len());
            for (g, r) in got.iter().zip(rows) {
                assert_eq!(g.id, r.id);
                for (a, b) in [
                    (g.bbox.x1, r.bbox.x1),
                    (g.bbox.y1, r.bbox.y1),
                    (g.bbox.x2, r.bbox.x2),
                    (g.bbox.y2, r.bbox.y2),
                ] {
                    assert!(
                        (a - b).abs() <= f32::EPSILON * b.abs().max(1.0) * 2.0,
                        "{a} vs {b}"
                    );
                }
            }
        }
        // Writing what was read gives the same text again (exact values here).
        let mut again = Vec::new();
        write_sequence(
            &mut again,
            &parse_sequence("2,4,1.5,2.5,3,4,1,-1,-1,-1\n", "x").unwrap(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(again).unwrap(),
            "2,4,1.5,2.5,3,4,1,-1,-1,-1\n"
        );
        // Detections too.
        let dets = parse_detections("4,-1,1,2,3,4,0.5,-1,-1,-1\n", "d").unwrap();
        let mut d = Vec::new();
        write_detections(&mut d, &dets).unwrap();
        assert_eq!(String::from_utf8(d).unwrap(), "4,-1,1,2,3,4,0.5,-1,-1,-1\n");
        // Non-finite values are refused.
        let bad = [TrackRow {
            id: 1,
            bbox: BBox::new(f32::NAN, 0.0, 1.0, 1.0),
            score: 1.0,
        }];
        assert!(write_track_rows(&mut Vec::new(), 1, &bad).is_err());
    }
}
