//! The [`Decoder`] trait (access units in, NV12 frames with presentation timestamps out) and
//! its CPU implementation [`OpenH264Decoder`] on Cisco's OpenH264 (bundled C source, via the
//! `openh264` crate). Later backends (NVDEC, Jetson V4L2) implement the same trait.
//!
//! Input is ITU-T H.264 Annex B (start-code delimited NAL units, one access unit per call, as
//! every [`crate::AccessUnitSource`] produces). OpenH264 returns pictures in output
//! (presentation) order but carries no timestamps through, so the decoder keeps the
//! presentation time of every access unit that contains a picture in a min-heap and gives each
//! output frame the smallest pending one — exact whenever each access unit yields one frame,
//! reordered or not (H.264 §C.4: pictures leave the DPB in increasing picture order count).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use aisle_types::{MediaTime, Nv12Frame};
use openh264::formats::YUVSource;
use tracing::{debug, info, warn};

use crate::h264::{annexb_has_vcl, annexb_nal_units, nal_type, nal_unit_type, parse_sps};
use crate::source::AccessUnit;
use crate::VideoError;

/// Turns access units into decoded frames.
///
/// Feed access units in decode order; frames come out in presentation order with `pts` set and
/// `index` counting output frames from 0. Call [`Decoder::flush`] at the end of the stream for
/// pictures the decoder still holds.
pub trait Decoder: Send {
    /// Decodes one access unit; returns the frames that became ready (zero or more).
    fn decode(&mut self, au: &AccessUnit) -> Result<Vec<Nv12Frame>, VideoError>;

    /// Returns every picture still held, at the end of a stream.
    fn flush(&mut self) -> Result<Vec<Nv12Frame>, VideoError>;

    /// A short name of the backend, e.g. `"openh264"`.
    fn name(&self) -> &'static str;
}

impl<D: Decoder + ?Sized> Decoder for Box<D> {
    fn decode(&mut self, au: &AccessUnit) -> Result<Vec<Nv12Frame>, VideoError> {
        (**self).decode(au)
    }

    fn flush(&mut self) -> Result<Vec<Nv12Frame>, VideoError> {
        (**self).flush()
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// H.264 pictures a decoder may hold before output (H.264 Annex A: `MaxDpbFrames` <= 16), plus
/// the one being decoded. More pending timestamps than this mean pictures were lost.
const MAX_PENDING: usize = 17;

const NAME: &str = "openh264";

/// Access units larger than this are rejected before they reach OpenH264 (whose length argument
/// is a C `int`); real pictures are a few MiB at most.
const MAX_AU_BYTES: usize = 256 << 20;

/// H.264 decoding on the CPU with OpenH264.
///
/// # Errors and recovery
///
/// A corrupt access unit gives [`VideoError::Decode`] with its index and pts; nothing panics,
/// whatever the bytes. After such an error, and at the start of a stream, the decoder waits for
/// a sync access unit (IDR picture, which sources prefix with SPS/PPS): non-sync access units
/// are skipped (`Ok` with no frames, logged) until one arrives, so decoding resumes cleanly at
/// the next IDR and later pictures never reference a damaged one. The timestamps of skipped or
/// failed access units are discarded, so the frames that follow keep their own.
pub struct OpenH264Decoder {
    inner: openh264::decoder::Decoder,
    label: String,
    /// Presentation times of access units fed in whose pictures have not come out yet.
    pending: BinaryHeap<Reverse<MediaTime>>,
    next_index: u64,
    last_pts: Option<MediaTime>,
    gate: SyncGate,
}

impl std::fmt::Debug for OpenH264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenH264Decoder")
            .field("label", &self.label)
            .field("pending", &self.pending.len())
            .field("next_index", &self.next_index)
            .field("awaiting_sync", &self.gate.awaiting)
            .finish_non_exhaustive()
    }
}

impl OpenH264Decoder {
    /// A decoder whose errors name the stream `"H.264 stream"`; prefer [`Self::with_label`].
    pub fn new() -> Result<Self, VideoError> {
        Self::with_label("H.264 stream")
    }

    /// A decoder whose error messages start with `label` (the file path or camera name).
    pub fn with_label(label: impl Into<String>) -> Result<Self, VideoError> {
        let label = label.into();
        // No flushing after each decode: OpenH264 would otherwise push out pictures it holds
        // for reordering too early. Pictures are returned by `decode` as soon as they are due,
        // and by `flush` at the end.
        let config = openh264::decoder::DecoderConfig::new()
            .flush_after_decode(openh264::decoder::Flush::NoFlush);
        let inner = openh264::decoder::Decoder::with_api_config(
            openh264::OpenH264API::from_source(),
            config,
        )
        .map_err(|e| VideoError::Decoder {
            source_label: label.clone(),
            decoder: NAME,
            detail: format!("cannot create the decoder: {}", describe(&e)),
        })?;
        Ok(Self {
            inner,
            label,
            pending: BinaryHeap::new(),
            next_index: 0,
            last_pts: None,
            gate: SyncGate::default(),
        })
    }

    /// The label errors start with.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Output bookkeeping, apart from the OpenH264 handle so that both can be borrowed at once.
struct Output<'a> {
    label: &'a str,
    pending: &'a mut BinaryHeap<Reverse<MediaTime>>,
    next_index: &'a mut u64,
    last_pts: &'a mut Option<MediaTime>,
}

impl Output<'_> {
    /// Copies a decoded picture into an NV12 frame stamped with the smallest pending pts.
    fn frame(
        &mut self,
        yuv: &impl YUVSource,
        fallback_timescale: u32,
    ) -> Result<Nv12Frame, VideoError> {
        let index = *self.next_index;
        *self.next_index += 1;
        let pts = match self.pending.pop() {
            Some(Reverse(t)) => t,
            None => {
                // A picture nobody asked for (should not happen): keep time monotonic.
                let t = self.last_pts.unwrap_or(MediaTime {
                    ticks: 0,
                    timescale: fallback_timescale,
                });
                warn!(label = %self.label, frame = index, pts = %t, "decoder output a picture without a pending timestamp; reusing the previous one");
                t
            }
        };
        *self.last_pts = Some(pts);
        let (w, h) = yuv.dimensions();
        let (ys, us, vs) = yuv.strides();
        let bad = |detail: String| VideoError::BadFrame {
            source_label: self.label.to_string(),
            decoder: NAME,
            index,
            detail,
        };
        let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
            return Err(bad(format!("impossible picture size {w}x{h}")));
        };
        Nv12Frame::from_i420(
            w32,
            h32,
            pts,
            index,
            (yuv.y(), ys),
            (yuv.u(), us),
            (yuv.v(), vs),
        )
        .map_err(|e| bad(e.0))
    }
}

/// Describes an OpenH264 error: its `DECODING_STATE` bits in words where it has them.
fn describe(e: &openh264::Error) -> String {
    let code = e.native_code();
    if code == 0 {
        // A wrapper-level error with its own message.
        return e.to_string();
    }
    const BITS: [(i64, &str); 11] = [
        (0x01, "frame pending"),
        (0x02, "reference picture lost"),
        (0x04, "bitstream error"),
        (0x08, "dependent layer lost"),
        (0x10, "no parameter sets (SPS/PPS) yet"),
        (0x20, "data error concealed"),
        (0x40, "reference list null pointers"),
        (0x1000, "invalid argument"),
        (0x2000, "initialisation expected"),
        (0x4000, "out of memory"),
        (0x8000, "destination buffer needs expansion"),
    ];
    let words: Vec<&str> = BITS
        .iter()
        .filter(|(bit, _)| code & bit != 0)
        .map(|(_, w)| *w)
        .collect();
    if words.is_empty() {
        format!("OpenH264 error code {code:#x}")
    } else {
        format!("{} (OpenH264 state {code:#x})", words.join(", "))
    }
}

/// Decoders start, and restart after an error, at a sync sample: until one arrives, access
/// units are skipped (logged once per gap) so later pictures never reference a missing one.
#[derive(Debug)]
pub(crate) struct SyncGate {
    pub(crate) awaiting: bool,
    skipped: u64,
}

impl Default for SyncGate {
    fn default() -> Self {
        Self {
            awaiting: true,
            skipped: 0,
        }
    }
}

impl SyncGate {
    /// Whether `au` may be decoded now.
    pub(crate) fn admit(&mut self, label: &str, au: &AccessUnit) -> bool {
        if !self.awaiting {
            return true;
        }
        if !au.is_sync {
            self.skipped += 1;
            if self.skipped == 1 {
                info!(label = %label, au = au.index, pts = %au.pts, "skipping access units until the next sync sample");
            }
            return false;
        }
        if self.skipped > 0 {
            info!(label = %label, au = au.index, skipped = self.skipped, "resuming decoding at a sync sample");
        }
        self.awaiting = false;
        self.skipped = 0;
        true
    }
}

impl Decoder for OpenH264Decoder {
    fn decode(&mut self, au: &AccessUnit) -> Result<Vec<Nv12Frame>, VideoError> {
        if !self.gate.admit(&self.label, au) {
            return Ok(Vec::new());
        }

        if au.data.is_empty() {
            debug!(label = %self.label, au = au.index, "empty access unit");
            return Ok(Vec::new());
        }
        if au.data.len() > MAX_AU_BYTES {
            self.gate.awaiting = true;
            return Err(VideoError::Decode {
                source_label: self.label.clone(),
                decoder: NAME,
                index: au.index,
                pts: au.pts,
                detail: format!(
                    "the access unit has {} bytes, more than any H.264 picture needs",
                    au.data.len()
                ),
            });
        }
        if let Some(detail) = unsupported_features(&au.data) {
            self.gate.awaiting = true;
            return Err(VideoError::UnsupportedStream {
                source_label: self.label.clone(),
                decoder: NAME,
                index: au.index,
                detail,
            });
        }

        let has_picture = annexb_has_vcl(&au.data);
        if has_picture {
            self.pending.push(Reverse(au.pts));
        }
        let timescale = au.pts.timescale;
        let mut out = Output {
            label: &self.label,
            pending: &mut self.pending,
            next_index: &mut self.next_index,
            last_pts: &mut self.last_pts,
        };
        let detail = match self.inner.decode(&au.data) {
            Ok(Some(yuv)) => {
                let frame = out.frame(&yuv, timescale)?;
                self.trim_pending();
                return Ok(vec![frame]);
            }
            Ok(None) => {
                self.trim_pending();
                return Ok(Vec::new());
            }
            Err(e) => describe(&e),
        };
        if has_picture {
            remove_one(&mut self.pending, au.pts);
        }
        self.gate.awaiting = true;
        debug!(label = %self.label, au = au.index, %detail, "decode error; waiting for the next sync sample");
        Err(VideoError::Decode {
            source_label: self.label.clone(),
            decoder: NAME,
            index: au.index,
            pts: au.pts,
            detail,
        })
    }

    fn flush(&mut self) -> Result<Vec<Nv12Frame>, VideoError> {
        let timescale = self.last_pts.map_or(1, |t| t.timescale);
        let mut out = Output {
            label: &self.label,
            pending: &mut self.pending,
            next_index: &mut self.next_index,
            last_pts: &mut self.last_pts,
        };
        let frames = match self.inner.flush_remaining() {
            Ok(pictures) => pictures
                .iter()
                .map(|yuv| out.frame(yuv, timescale))
                .collect::<Result<Vec<_>, _>>(),
            Err(e) => Err(VideoError::Decoder {
                source_label: self.label.clone(),
                decoder: NAME,
                detail: format!("flushing at the end of the stream failed: {}", describe(&e)),
            }),
        };
        if !self.pending.is_empty() {
            debug!(label = %self.label, left = self.pending.len(), "access units that produced no picture");
            self.pending.clear();
        }
        frames
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

impl OpenH264Decoder {
    /// Drops the oldest timestamps if more are pending than any decoder can hold.
    fn trim_pending(&mut self) {
        while self.pending.len() > MAX_PENDING {
            if let Some(Reverse(t)) = self.pending.pop() {
                warn!(label = %self.label, pts = %t, "a picture never came out of the decoder; dropping its timestamp");
            }
        }
    }
}

/// Why OpenH264 cannot decode a stream with the SPS in `data`, if it has one it cannot handle:
/// OpenH264 decodes 8-bit 4:2:0 progressive H.264 (Constrained Baseline, Main, High) only.
fn unsupported_features(data: &[u8]) -> Option<String> {
    for nal in annexb_nal_units(data) {
        if nal_unit_type(nal) != Some(nal_type::SPS) {
            continue;
        }
        let Some(sps) = parse_sps(nal) else { continue };
        let mut problems = Vec::new();
        if sps.chroma_format_idc != 1 {
            let name = match sps.chroma_format_idc {
                0 => "monochrome (4:0:0)",
                2 => "4:2:2 chroma",
                _ => "4:4:4 chroma",
            };
            problems.push(name.to_string());
        }
        if sps.bit_depth_luma != 8 || sps.bit_depth_chroma != 8 {
            problems.push(format!(
                "{}-bit samples",
                sps.bit_depth_luma.max(sps.bit_depth_chroma)
            ));
        }
        if !sps.frame_mbs_only {
            problems.push("interlaced (field / MBAFF) coding".into());
        }
        if !problems.is_empty() {
            return Some(format!(
                "the stream uses {} (H.264 profile_idc {}), but OpenH264 decodes only 8-bit 4:2:0 progressive H.264; transcode with `ffmpeg -i IN -vf yadif -c:v libx264 -pix_fmt yuv420p OUT.mp4` (drop `-vf yadif` for progressive video)",
                problems.join(" and "),
                sps.profile_idc
            ));
        }
    }
    None
}

/// Removes one occurrence of `t` from the heap.
fn remove_one(heap: &mut BinaryHeap<Reverse<MediaTime>>, t: MediaTime) {
    let mut items = std::mem::take(heap).into_vec();
    if let Some(i) = items.iter().position(|Reverse(x)| *x == t) {
        items.swap_remove(i);
    }
    *heap = BinaryHeap::from(items);
}
