//! [`AnnexBFileSource`]: access units from a raw H.264 elementary stream (`.h264`, `.264`) in
//! the byte stream format of ITU-T H.264 Annex B (NAL units separated by the start codes
//! `00 00 01` / `00 00 00 01`, §B.1).
//!
//! The file is read in chunks of 64 KiB; NAL units are cut at start codes and grouped into
//! access units by the rule of H.264 §7.4.1.2.3: a new access unit begins at an access unit
//! delimiter, at an SPS / PPS / SEI (or NAL unit type 14 to 18) that follows a slice, or at a
//! slice whose `first_mb_in_slice` (the `ue(v)` right after the NAL header, §7.3.3) is 0.
//! (The full first-slice test of §7.4.1.2.4 compares `frame_num`, PPS id and more; streams with
//! arbitrary slice order may be split wrongly.)
//!
//! A raw stream carries no timestamps: access unit `n` (in decode order) gets
//! `pts = dts = n / fps` seconds at timescale 90 000, with `fps` given by the caller. Decoders
//! hand each output frame the smallest pending timestamp, so the frames still get evenly spaced
//! presentation times when the stream reorders pictures (B-frames).
//!
//! SPS/PPS seen anywhere in the stream are remembered and written in front of IDR access units
//! that do not carry their own, so every sync access unit can start decoding.
//!
//! Raw H.265 streams (`.h265`, `.hevc`, ITU-T H.265 Annex B) are told from H.264 by their first
//! NAL unit ([`crate::h265::looks_like_stream_start`]) and read the same way with the H.265
//! rules (H.265 §7.4.2.4.4): a new access unit begins at an AUD, at a VPS / SPS / PPS / prefix
//! SEI that follows a slice, or at a slice segment with `first_slice_segment_in_pic_flag` set;
//! IRAP pictures (types 16 to 23) are sync, and VPS/SPS/PPS are remembered and re-inserted.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use aisle_types::MediaTime;
use tracing::{debug, warn};

use crate::error::open_error;
use crate::h264::{
    first_mb_in_slice, is_vcl, nal_type, nal_unit_type, parameter_set_id, parse_sps,
    starts_new_au_after_vcl, trim_trailing_zeros, START_CODE,
};
use crate::h265;
use crate::source::{AccessUnit, AccessUnitSource, Codec, StreamInfo};
use crate::VideoError;

/// Timescale of synthesised timestamps (the MPEG 90 kHz clock).
pub const ANNEXB_TIMESCALE: u32 = 90_000;
/// Frame rate assumed for raw streams when the caller has no better idea.
pub const DEFAULT_ANNEXB_FPS: f64 = 10.0;

const CHUNK: usize = 64 << 10;
/// NAL units larger than this mean the data is not an H.264 stream (or is corrupt).
const MAX_NAL_BYTES: usize = 32 << 20;
/// How far [`AnnexBFileSource::open`] looks for the first SPS.
const SPS_SEARCH_AUS: usize = 600;

/// One NAL unit (without start code) and the file offset of its header byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nal {
    pub data: Vec<u8>,
    pub offset: u64,
}

/// Cuts a byte stream into NAL units at start codes, reading it in chunks.
pub(crate) struct NalReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_offset: u64,
    /// Start of the current NAL unit's payload in `buf` (valid once `started`).
    pos: usize,
    /// Where to continue searching for the next start code.
    scan: usize,
    started: bool,
    eof: bool,
}

fn find_start_code(d: &[u8]) -> Option<usize> {
    d.windows(3).position(|w| w == [0, 0, 1])
}

/// Failure of [`NalReader::next_nal`].
pub(crate) enum NalReadError {
    Io(std::io::Error),
    TooLarge { offset: u64 },
}

impl<R: Read> NalReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(CHUNK * 2),
            buf_offset: 0,
            pos: 0,
            scan: 0,
            started: false,
            eof: false,
        }
    }

    pub fn next_nal(&mut self) -> Result<Option<Nal>, NalReadError> {
        loop {
            if !self.started {
                if let Some(i) = find_start_code(&self.buf[self.scan..]) {
                    let at = self.scan + i;
                    if self.buf[..at].iter().any(|&b| b != 0) {
                        warn!(
                            offset = self.buf_offset,
                            skipped = at,
                            "skipping bytes before the first start code"
                        );
                    }
                    self.pos = at + 3;
                    self.scan = self.pos;
                    self.started = true;
                } else {
                    self.scan = self.buf.len().saturating_sub(2);
                }
            }
            if self.started {
                if let Some(i) = find_start_code(&self.buf[self.scan..]) {
                    let at = self.scan + i;
                    let nal = trim_trailing_zeros(&self.buf[self.pos..at]).to_vec();
                    let offset = self.buf_offset + self.pos as u64;
                    self.pos = at + 3;
                    self.scan = self.pos;
                    if !nal.is_empty() {
                        return Ok(Some(Nal { data: nal, offset }));
                    }
                    continue;
                }
                self.scan = self.buf.len().saturating_sub(2).max(self.pos);
            }
            if self.eof {
                if self.started && self.pos < self.buf.len() {
                    let nal = trim_trailing_zeros(&self.buf[self.pos..]).to_vec();
                    let offset = self.buf_offset + self.pos as u64;
                    self.pos = self.buf.len();
                    self.scan = self.pos;
                    if !nal.is_empty() {
                        return Ok(Some(Nal { data: nal, offset }));
                    }
                }
                return Ok(None);
            }
            // Need more data: drop what is consumed, then read a chunk.
            let keep_from = if self.started { self.pos } else { self.scan };
            if self.started && self.buf.len() - self.pos > MAX_NAL_BYTES {
                return Err(NalReadError::TooLarge {
                    offset: self.buf_offset + self.pos as u64,
                });
            }
            if keep_from > 0 {
                self.buf.drain(..keep_from);
                self.buf_offset += keep_from as u64;
                self.scan -= keep_from;
                self.pos = self.pos.saturating_sub(keep_from);
            }
            let old = self.buf.len();
            self.buf.resize(old + CHUNK, 0);
            let n = loop {
                match self.inner.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(NalReadError::Io(e));
                    }
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            }
        }
    }
}

/// Groups NAL units into access units (H.264 §7.4.1.2.3, H.265 §7.4.2.4.4; see the module
/// docs).
#[derive(Debug)]
pub(crate) struct AuSplitter {
    codec: Codec,
    cur: Vec<Nal>,
    has_vcl: bool,
}

impl Default for AuSplitter {
    fn default() -> Self {
        Self::new(Codec::H264)
    }
}

impl AuSplitter {
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            cur: Vec::new(),
            has_vcl: false,
        }
    }

    /// Adds a NAL unit; returns the access unit it completes, if it starts a new one.
    pub fn push(&mut self, nal: Nal) -> Option<Vec<Nal>> {
        let (starts_new, vcl) = match self.codec {
            Codec::H264 => {
                let t = nal_unit_type(&nal.data)?;
                let starts_new = match t {
                    nal_type::AUD => !self.cur.is_empty(),
                    nal_type::SLICE | nal_type::SLICE_DPA | nal_type::IDR => {
                        self.has_vcl && first_mb_in_slice(&nal.data) == Some(0)
                    }
                    t if starts_new_au_after_vcl(t) => self.has_vcl,
                    _ => false,
                };
                (starts_new, is_vcl(t))
            }
            Codec::H265 => {
                let t = h265::nal_unit_type(&nal.data)?;
                let starts_new = match t {
                    h265::nal_type::AUD => !self.cur.is_empty(),
                    t if h265::is_vcl(t) => {
                        self.has_vcl && h265::first_slice_segment_in_pic(&nal.data) == Some(true)
                    }
                    t if h265::starts_new_au_after_vcl(t) => self.has_vcl,
                    _ => false,
                };
                (starts_new, h265::is_vcl(t))
            }
        };
        let done = if starts_new { self.finish() } else { None };
        if vcl {
            self.has_vcl = true;
        }
        self.cur.push(nal);
        done
    }

    /// The access unit in progress at the end of the stream.
    pub fn finish(&mut self) -> Option<Vec<Nal>> {
        self.has_vcl = false;
        (!self.cur.is_empty()).then(|| std::mem::take(&mut self.cur))
    }
}

/// Access units from a raw H.264 Annex B file, with timestamps synthesised from a frame rate.
pub struct AnnexBFileSource {
    path: PathBuf,
    reader: NalReader<File>,
    splitter: AuSplitter,
    info: StreamInfo,
    fps: f64,
    /// Access units read ahead by `open` while looking for the first SPS.
    ahead: VecDeque<Vec<Nal>>,
    /// Latest (VPS,) SPS / PPS per id.
    vps: Vec<(u32, Vec<u8>)>,
    sps: Vec<(u32, Vec<u8>)>,
    pps: Vec<(u32, Vec<u8>)>,
    next_index: u64,
    done: bool,
}

impl std::fmt::Debug for AnnexBFileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnexBFileSource")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl AnnexBFileSource {
    /// Opens a raw H.264 stream; access unit `n` gets the timestamp `n / fps` seconds.
    ///
    /// Reads ahead to the first SPS to learn the picture size (a stream without one in its
    /// first few hundred access units is rejected).
    pub fn open(path: impl AsRef<Path>, fps: f64) -> Result<Self, VideoError> {
        let path = path.as_ref();
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            return Err(VideoError::InvalidArgument {
                path: path.to_path_buf(),
                detail: format!(
                    "frame rate {fps} for the raw H.264 stream is out of range; give a rate between 0 and 1000 frames per second"
                ),
            });
        }
        let file = File::open(path).map_err(|e| open_error(path, e))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(1);
        if len == 0 {
            return Err(VideoError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut src = Self {
            path: path.to_path_buf(),
            reader: NalReader::new(file),
            splitter: AuSplitter::default(),
            info: StreamInfo {
                codec: Codec::H264,
                width: 0,
                height: 0,
                timescale: ANNEXB_TIMESCALE,
                frame_count: None,
                nominal_fps: Some(fps),
            },
            fps,
            ahead: VecDeque::new(),
            vps: Vec::new(),
            sps: Vec::new(),
            pps: Vec::new(),
            next_index: 0,
            done: false,
        };

        // The first NAL unit tells H.265 (two-byte header) from H.264; the splitter needs to
        // know before it groups anything.
        match src.reader.next_nal() {
            Ok(Some(nal)) => {
                if h265::looks_like_stream_start(&nal.data) {
                    src.splitter = AuSplitter::new(Codec::H265);
                    src.info.codec = Codec::H265;
                }
                // The first NAL unit never completes an access unit.
                let _ = src.splitter.push(nal);
            }
            Ok(None) => src.done = true,
            Err(e) => return Err(src.read_error(e)),
        }

        let codec = src.info.codec;
        let mut size = None;
        while src.ahead.len() < SPS_SEARCH_AUS {
            let Some(au) = src.next_raw_au()? else { break };
            size = au.iter().find_map(|n| match codec {
                Codec::H264 => (nal_unit_type(&n.data) == Some(nal_type::SPS))
                    .then(|| parse_sps(&n.data))
                    .flatten()
                    .map(|s| (s.width, s.height, s.profile_idc, s.level_idc)),
                Codec::H265 => h265::parse_sps(&n.data)
                    .map(|s| (s.width, s.height, s.profile_idc, s.level_idc)),
            });
            src.ahead.push_back(au);
            if size.is_some() {
                break;
            }
        }
        let Some((width, height, profile, level)) = size else {
            let fix = match codec {
                Codec::H264 => "`ffmpeg -i IN -c:v copy -bsf:v h264_mp4toannexb OUT.h264`",
                Codec::H265 => "`ffmpeg -i IN -c:v copy -bsf:v hevc_mp4toannexb OUT.h265`",
            };
            return Err(VideoError::AnnexB {
                path: path.to_path_buf(),
                offset: 0,
                detail: format!(
                    "no valid {codec} sequence parameter set (SPS) in the first {} access units: this is not an {codec} stream, or it was cut without its headers; re-export it with {fix} or use the MP4",
                    src.ahead.len()
                ),
            });
        };
        src.info.width = width;
        src.info.height = height;
        debug!(
            path = %path.display(),
            %codec,
            width,
            height,
            profile,
            level,
            fps,
            "opened Annex B stream"
        );
        Ok(src)
    }

    /// The file this source reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn next_raw_au(&mut self) -> Result<Option<Vec<Nal>>, VideoError> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.reader.next_nal() {
                Ok(Some(nal)) => {
                    if let Some(au) = self.splitter.push(nal) {
                        return Ok(Some(au));
                    }
                }
                Ok(None) => {
                    self.done = true;
                    return Ok(self.splitter.finish());
                }
                Err(e) => return Err(self.read_error(e)),
            }
        }
    }

    /// The error for a failed read; the source ends there.
    fn read_error(&mut self, e: NalReadError) -> VideoError {
        self.done = true;
        match e {
            NalReadError::Io(source) => VideoError::Io {
                path: self.path.clone(),
                action: format!(
                    "read the stream near byte offset {}",
                    self.reader.buf_offset
                ),
                source,
            },
            NalReadError::TooLarge { offset } => VideoError::AnnexB {
                path: self.path.clone(),
                offset,
                detail: format!(
                    "no start code within {} MiB: this is not an {} Annex B stream, or it is corrupt from here on",
                    MAX_NAL_BYTES >> 20,
                    self.info.codec
                ),
            },
        }
    }

    fn remember(list: &mut Vec<(u32, Vec<u8>)>, id: Option<u32>, nal: &[u8]) {
        let Some(id) = id else {
            return;
        };
        match list.iter_mut().find(|(i, _)| *i == id) {
            Some(entry) => {
                if entry.1 != nal {
                    entry.1 = nal.to_vec();
                }
            }
            None => list.push((id, nal.to_vec())),
        }
    }

    /// Turns a group of NAL units into an access unit; `None` for groups without a picture.
    fn assemble(&mut self, nals: Vec<Nal>) -> Option<AccessUnit> {
        let (mut has_vcl, mut is_sync, mut has_sps, mut has_pps) = (false, false, false, false);
        // H.264 has no VPS.
        let mut has_vps = self.info.codec == Codec::H264;
        for n in &nals {
            match self.info.codec {
                Codec::H264 => match nal_unit_type(&n.data) {
                    Some(nal_type::SPS) => {
                        has_sps = true;
                        Self::remember(&mut self.sps, parameter_set_id(&n.data), &n.data);
                    }
                    Some(nal_type::PPS) => {
                        has_pps = true;
                        Self::remember(&mut self.pps, parameter_set_id(&n.data), &n.data);
                    }
                    Some(nal_type::IDR) => {
                        has_vcl = true;
                        is_sync = true;
                    }
                    Some(t) if is_vcl(t) => has_vcl = true,
                    _ => {}
                },
                Codec::H265 => {
                    let id = || h265::parameter_set_id(&n.data);
                    match h265::nal_unit_type(&n.data) {
                        Some(h265::nal_type::VPS) => {
                            has_vps = true;
                            Self::remember(&mut self.vps, id(), &n.data);
                        }
                        Some(h265::nal_type::SPS) => {
                            has_sps = true;
                            Self::remember(&mut self.sps, id(), &n.data);
                        }
                        Some(h265::nal_type::PPS) => {
                            has_pps = true;
                            Self::remember(&mut self.pps, id(), &n.data);
                        }
                        Some(t) if h265::is_vcl(t) => {
                            has_vcl = true;
                            is_sync |= h265::is_irap(t);
                        }
                        _ => {}
                    }
                }
            }
        }
        if !has_vcl {
            debug!(
                path = %self.path.display(),
                offset = nals.first().map_or(0, |n| n.offset),
                nal_units = nals.len(),
                "dropping NAL units that belong to no picture"
            );
            return None;
        }
        let total: usize = nals.iter().map(|n| n.data.len() + 4).sum();
        let mut data = Vec::with_capacity(total + 256);
        let mut rest = &nals[..];
        if is_sync && (!has_vps || !has_sps || !has_pps) {
            if let Some((first, tail)) = nals.split_first() {
                let is_aud = match self.info.codec {
                    Codec::H264 => nal_unit_type(&first.data) == Some(nal_type::AUD),
                    Codec::H265 => h265::nal_unit_type(&first.data) == Some(h265::nal_type::AUD),
                };
                if is_aud {
                    data.extend_from_slice(&START_CODE);
                    data.extend_from_slice(&first.data);
                    rest = tail;
                }
            }
            let extra = (!has_vps)
                .then_some(&self.vps)
                .into_iter()
                .chain((!has_sps).then_some(&self.sps))
                .chain((!has_pps).then_some(&self.pps))
                .flatten();
            for (_, ps) in extra {
                data.extend_from_slice(&START_CODE);
                data.extend_from_slice(ps);
            }
        }
        for n in rest {
            data.extend_from_slice(&START_CODE);
            data.extend_from_slice(&n.data);
        }
        let index = self.next_index;
        self.next_index += 1;
        let ticks = (index as f64 * f64::from(ANNEXB_TIMESCALE) / self.fps).round() as i64;
        let t = MediaTime {
            ticks,
            timescale: ANNEXB_TIMESCALE,
        };
        Some(AccessUnit {
            data,
            pts: t,
            dts: t,
            is_sync,
            index,
        })
    }
}

impl AccessUnitSource for AnnexBFileSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, VideoError> {
        loop {
            let nals = match self.ahead.pop_front() {
                Some(au) => au,
                None => match self.next_raw_au()? {
                    Some(au) => au,
                    None => return Ok(None),
                },
            };
            if let Some(au) = self.assemble(nals) {
                return Ok(Some(au));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nals_of(data: &[u8], chunked: bool) -> Vec<Nal> {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                // At most 1 byte per read: start codes straddle every chunk boundary.
                let n = self.0.len().min(out.len()).min(1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        if chunked {
            let mut r = NalReader::new(Trickle(data));
            while let Ok(Some(n)) = r.next_nal() {
                out.push(n);
            }
        } else {
            let mut r = NalReader::new(data);
            while let Ok(Some(n)) = r.next_nal() {
                out.push(n);
            }
        }
        out
    }

    #[test]
    fn nal_reader_cuts_at_start_codes_with_offsets() {
        let data = [
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 0, 1, 0x65, 0x88, 0x80, 0, 0, 0,
            1, 0x41, 0x9a, 0, 0, 3, 1,
        ];
        for chunked in [false, true] {
            let nals = nals_of(&data, chunked);
            let got: Vec<(&[u8], u64)> = nals.iter().map(|n| (&n.data[..], n.offset)).collect();
            assert_eq!(
                got,
                vec![
                    (&[0x67, 0x42][..], 4),
                    (&[0x68, 0xce][..], 9),
                    (&[0x65, 0x88, 0x80][..], 16),
                    (&[0x41, 0x9a, 0, 0, 3, 1][..], 23),
                ],
                "chunked={chunked}"
            );
        }
        assert!(nals_of(&[], false).is_empty());
        assert!(nals_of(&[0, 0, 1], false).is_empty());
        assert!(nals_of(&[1, 2, 3, 4], true).is_empty());
    }

    fn nal(bytes: &[u8]) -> Nal {
        Nal {
            data: bytes.to_vec(),
            offset: 0,
        }
    }

    fn split(units: &[&[u8]]) -> Vec<Vec<Vec<u8>>> {
        let mut s = AuSplitter::default();
        let mut aus = Vec::new();
        for u in units {
            if let Some(au) = s.push(nal(u)) {
                aus.push(au);
            }
        }
        aus.extend(s.finish());
        aus.into_iter()
            .map(|au| au.into_iter().map(|n| n.data).collect())
            .collect()
    }

    // Slice NAL units: header, then first_mb_in_slice as ue(v): 0x80 = "1" → 0, 0x40 = "010" → 1.
    const SPS: &[u8] = &[0x67, 0x42];
    const PPS: &[u8] = &[0x68, 0xce];
    const SEI: &[u8] = &[0x06, 0x05];
    const AUD: &[u8] = &[0x09, 0xf0];
    const IDR_MB0: &[u8] = &[0x65, 0x88];
    const IDR_MB1: &[u8] = &[0x65, 0x40];
    const P_MB0: &[u8] = &[0x41, 0x9a];
    const P_MB1: &[u8] = &[0x41, 0x40];

    #[test]
    fn splitter_groups_parameter_sets_with_the_following_picture() {
        let aus = split(&[SPS, PPS, SEI, IDR_MB0, IDR_MB1, P_MB0, P_MB1, P_MB0]);
        assert_eq!(
            aus,
            vec![
                vec![
                    SPS.to_vec(),
                    PPS.to_vec(),
                    SEI.to_vec(),
                    IDR_MB0.to_vec(),
                    IDR_MB1.to_vec()
                ],
                vec![P_MB0.to_vec(), P_MB1.to_vec()],
                vec![P_MB0.to_vec()],
            ]
        );
    }

    #[test]
    fn splitter_starts_new_units_at_aud_and_at_parameter_sets_after_slices() {
        let aus = split(&[AUD, IDR_MB0, AUD, P_MB0, SPS, PPS, IDR_MB0, SEI, P_MB0]);
        assert_eq!(
            aus,
            vec![
                vec![AUD.to_vec(), IDR_MB0.to_vec()],
                vec![AUD.to_vec(), P_MB0.to_vec()],
                vec![SPS.to_vec(), PPS.to_vec(), IDR_MB0.to_vec()],
                vec![SEI.to_vec(), P_MB0.to_vec()],
            ]
        );
        // A slice that is not the first of its picture never splits, even after an error in
        // its first_mb parse (too short → None).
        let aus = split(&[IDR_MB0, &[0x41], P_MB1]);
        assert_eq!(aus.len(), 1);
        assert!(split(&[]).is_empty());
    }
}
