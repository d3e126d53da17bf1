//! [`FfmpegDecoder`]: H.265 and H.264 decoding on the CPU with FFmpeg's libavcodec (Debian's
//! shared libraries, bound by `ffmpeg-next`; the `ffmpeg` feature of this crate).
//!
//! Only the decoding API is used (`avcodec_send_packet` / `avcodec_receive_frame`); demuxing
//! stays in this crate's sources, which hand over Annex B access units. Each access unit goes in
//! as one `AVPacket` whose `pts` is a sequence number; libavcodec copies the `pts` of the packet
//! that carried a picture onto the `AVFrame` it outputs (in presentation order), and the number
//! is mapped back to the access unit's [`MediaTime`] — exact whatever the reordering, and robust
//! to pictures the decoder drops.
//!
//! Sources without reordering information (raw Annex B streams: `pts == dts`, synthesised in
//! decode order) need what [`crate::OpenH264Decoder`] does instead: each output frame gets the
//! smallest pending presentation time, so that B-frames still come out evenly spaced. The
//! decoder does that as long as every access unit so far had `pts == dts`, and passes the
//! access units' own times through from the first one with `pts != dts` (MP4 with `ctts`).
//!
//! Frames come out as NV12: `yuv420p` / `yuvj420p` pictures (8-bit 4:2:0, what H.264 High /
//! H.265 Main streams decode to) are interleaved directly; other formats (10-bit, 4:2:2, 4:4:4,
//! monochrome) are converted with libswscale, which drops the extra precision / chroma.
//!
//! FFmpeg's own log output is switched off (`AV_LOG_QUIET`) when the first decoder is created:
//! libraries in this workspace never print, and every failure comes back as a [`VideoError`].

use std::collections::BTreeMap;
use std::sync::Once;

use aisle_types::{MediaTime, Nv12Frame};
use ff::format::Pixel;
use ffmpeg_next as ff;
use tracing::{debug, info, warn};

use crate::decoder::SyncGate;
use crate::source::{AccessUnit, Codec};
use crate::{Decoder, VideoError};

const NAME: &str = "ffmpeg";

/// Access units larger than this are rejected before they reach libavcodec (packet sizes are C
/// `int`s); real pictures are a few MiB at most.
const MAX_AU_BYTES: usize = 256 << 20;

/// Timestamps of access units whose pictures have not come out yet, kept at most. Access units
/// without a picture (parameter sets only, pictures the decoder dropped) leave entries that are
/// dropped oldest first beyond this, and once [`MAX_REORDER`] newer pictures came out.
const MAX_PENDING: usize = 64;

/// How many access units a picture can come out after a later one: H.264 and H.265 hold at
/// most 16 pictures for reordering (plus the one being decoded).
const MAX_REORDER: i64 = 17;

static QUIET: Once = Once::new();

/// The libswscale context for one input format and size. `SwsContext` is used only through
/// `&mut` and keeps no thread-bound state, so it can move between threads with its decoder.
struct Scaler {
    ctx: ff::software::scaling::Context,
    format: Pixel,
    width: u32,
    height: u32,
    out: ff::frame::Video,
}

// SAFETY: see the type's docs; `ffmpeg-next` marks frames and codec contexts `Send` for the
// same reason but not scaling contexts.
unsafe impl Send for Scaler {}

/// H.265 / H.264 decoding on the CPU with FFmpeg's libavcodec.
///
/// # Errors and recovery
///
/// As for [`crate::OpenH264Decoder`]: a corrupt access unit gives [`VideoError::Decode`] naming
/// the label, access unit index and pts; nothing panics, whatever the bytes. At the start and
/// after an error the decoder waits for a sync access unit (IDR / IRAP picture, which sources
/// prefix with the parameter sets): non-sync access units are skipped (`Ok` with no frames,
/// logged) until one arrives.
pub struct FfmpegDecoder {
    inner: ff::decoder::Video,
    codec: Codec,
    label: String,
    frame: ff::frame::Video,
    scaler: Option<Scaler>,
    /// Packet sequence number -> presentation time of the access unit it carried.
    pending: BTreeMap<i64, MediaTime>,
    next_seq: i64,
    next_index: u64,
    last_pts: Option<MediaTime>,
    /// Some access unit had `pts != dts`: the source gives presentation times.
    reordered_times: bool,
    gate: SyncGate,
    converted_warned: bool,
}

impl std::fmt::Debug for FfmpegDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfmpegDecoder")
            .field("codec", &self.codec)
            .field("label", &self.label)
            .field("pending", &self.pending.len())
            .field("next_index", &self.next_index)
            .field("awaiting_sync", &self.gate.awaiting)
            .finish_non_exhaustive()
    }
}

impl FfmpegDecoder {
    /// A single-threaded decoder for `codec` whose errors name the stream `"H.265 stream"` (or
    /// H.264); prefer [`Self::with_label`].
    pub fn new(codec: Codec) -> Result<Self, VideoError> {
        Self::with_label(codec, format!("{codec} stream"))
    }

    /// A single-threaded decoder whose error messages start with `label` (the file path or
    /// camera name).
    pub fn with_label(codec: Codec, label: impl Into<String>) -> Result<Self, VideoError> {
        Self::with_threads(codec, label, 1)
    }

    /// Like [`Self::with_label`], decoding with `threads` threads (frame threading; 0 lets
    /// FFmpeg pick one per core). Frame threading delays output by one picture per thread.
    pub fn with_threads(
        codec: Codec,
        label: impl Into<String>,
        threads: usize,
    ) -> Result<Self, VideoError> {
        let label = label.into();
        QUIET.call_once(|| ff::util::log::set_level(ff::util::log::Level::Quiet));
        let fail = |detail: String| VideoError::Decoder {
            source_label: label.clone(),
            decoder: NAME,
            detail,
        };
        let id = match codec {
            Codec::H264 => ff::codec::Id::H264,
            Codec::H265 => ff::codec::Id::HEVC,
        };
        let found = ff::decoder::find(id).ok_or_else(|| {
            fail(format!(
                "this FFmpeg (libavcodec) has no {codec} decoder; install Debian's libavcodec59 (scripts/setup.sh)"
            ))
        })?;
        let mut ctx = ff::codec::Context::new_with_codec(found);
        ctx.set_threading(ff::threading::Config {
            kind: if threads == 1 {
                ff::threading::Type::None
            } else {
                ff::threading::Type::Frame
            },
            count: threads,
            ..Default::default()
        });
        let inner = ctx
            .decoder()
            .open()
            .and_then(|d| d.video())
            .map_err(|e| fail(format!("cannot open the {codec} decoder: {e}")))?;
        Ok(Self {
            inner,
            codec,
            label,
            frame: ff::frame::Video::empty(),
            scaler: None,
            pending: BTreeMap::new(),
            next_seq: 0,
            next_index: 0,
            last_pts: None,
            reordered_times: false,
            gate: SyncGate::default(),
            converted_warned: false,
        })
    }

    /// The label errors start with.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The codec this decoder was made for.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    fn decode_error(&self, au: &AccessUnit, detail: String) -> VideoError {
        VideoError::Decode {
            source_label: self.label.clone(),
            decoder: NAME,
            index: au.index,
            pts: au.pts,
            detail,
        }
    }

    /// Takes every frame libavcodec has ready. `Err` only when none came out before a failure.
    fn receive_all(&mut self, fallback_timescale: u32) -> Result<Vec<Nv12Frame>, String> {
        let mut out = Vec::new();
        loop {
            match self.inner.receive_frame(&mut self.frame) {
                Ok(()) => match self.take_frame(fallback_timescale) {
                    Ok(f) => out.push(f),
                    Err(e) => {
                        if out.is_empty() {
                            return Err(e);
                        }
                        warn!(label = %self.label, error = %e, "dropping an unusable decoded picture");
                    }
                },
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => break,
                Err(ff::Error::Eof) => break,
                Err(e) => {
                    if out.is_empty() {
                        return Err(e.to_string());
                    }
                    self.gate.awaiting = true;
                    warn!(label = %self.label, error = %e, "decode error after some pictures came out; waiting for the next sync sample");
                    break;
                }
            }
        }
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_first();
        }
        Ok(out)
    }

    /// Converts `self.frame` into an NV12 frame with its presentation time.
    fn take_frame(&mut self, fallback_timescale: u32) -> Result<Nv12Frame, String> {
        let index = self.next_index;
        self.next_index += 1;
        let seq = self.frame.pts();
        if let Some(seq) = seq {
            // Older entries cannot belong to pictures still in the decoder.
            while let Some(entry) = self.pending.first_entry() {
                if *entry.key() >= seq.saturating_sub(MAX_REORDER) {
                    break;
                }
                entry.remove();
            }
        }
        let own = seq.and_then(|seq| self.pending.remove(&seq));
        let pts = match own {
            Some(own) if !self.reordered_times => {
                // Decode-order timestamps: hand out the smallest pending one, keeping `own`
                // for a later picture.
                match self.pending.iter().min_by_key(|(_, t)| **t) {
                    Some((&key, &smallest)) if smallest < own => {
                        self.pending.insert(key, own);
                        smallest
                    }
                    _ => own,
                }
            }
            Some(t) => t,
            None => {
                let t = self.last_pts.unwrap_or(MediaTime {
                    ticks: 0,
                    timescale: fallback_timescale,
                });
                warn!(label = %self.label, frame = index, pts = %t, "decoder output a picture without a known timestamp; reusing the previous one");
                t
            }
        };
        self.last_pts = Some(pts);
        let frame = &self.frame;
        let (w, h, format) = (frame.width(), frame.height(), frame.format());
        if w == 0 || h == 0 {
            return Err(format!("empty picture size {w}x{h}"));
        }
        match format {
            Pixel::YUV420P | Pixel::YUVJ420P => {
                let [y, u, v] = planes::<3>(frame)?;
                Nv12Frame::from_i420(w, h, pts, index, y, u, v).map_err(|e| e.0)
            }
            Pixel::NV12 => {
                let [y, uv] = planes::<2>(frame)?;
                Nv12Frame::from_nv12(w, h, pts, index, y, uv).map_err(|e| e.0)
            }
            other => {
                if !self.converted_warned {
                    self.converted_warned = true;
                    info!(label = %self.label, format = ?other, "converting decoded pictures to 8-bit NV12 with libswscale");
                }
                let scaler = match self.scaler.take() {
                    Some(s) if s.format == other && s.width == w && s.height == h => s,
                    _ => Scaler {
                        ctx: ff::software::scaling::Context::get(
                            other,
                            w,
                            h,
                            Pixel::NV12,
                            w,
                            h,
                            ff::software::scaling::Flags::POINT,
                        )
                        .map_err(|e| {
                            format!("libswscale cannot convert {other:?} {w}x{h} to NV12: {e}")
                        })?,
                        format: other,
                        width: w,
                        height: h,
                        out: ff::frame::Video::empty(),
                    },
                };
                let scaler = self.scaler.insert(scaler);
                scaler
                    .ctx
                    .run(&self.frame, &mut scaler.out)
                    .map_err(|e| format!("libswscale failed converting {other:?} to NV12: {e}"))?;
                let [y, uv] = planes::<2>(&scaler.out)?;
                Nv12Frame::from_nv12(w, h, pts, index, y, uv).map_err(|e| e.0)
            }
        }
    }
}

/// The first `N` planes of a frame with their strides, checked so that nothing can panic.
fn planes<const N: usize>(frame: &ff::frame::Video) -> Result<[(&[u8], usize); N], String> {
    if frame.planes() < N {
        return Err(format!(
            "{:?} picture with {} planes, expected {N}",
            frame.format(),
            frame.planes()
        ));
    }
    let mut out = [(&[][..], 0usize); N];
    for (i, p) in out.iter_mut().enumerate() {
        let stride = frame.stride(i);
        // A negative linesize (bottom-up picture) reads as a huge usize.
        if stride == 0 || stride > i32::MAX as usize {
            return Err(format!("plane {i} has an unusable stride"));
        }
        *p = (frame.data(i), stride);
    }
    Ok(out)
}

impl Decoder for FfmpegDecoder {
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
            return Err(self.decode_error(
                au,
                format!(
                    "the access unit has {} bytes, more than any {} picture needs",
                    au.data.len(),
                    self.codec
                ),
            ));
        }

        if au.pts != au.dts && !self.reordered_times {
            debug!(label = %self.label, au = au.index, "the source gives presentation times (pts != dts); passing them through");
            self.reordered_times = true;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        // `copy` allocates the zeroed padding libavcodec's bitstream readers rely on.
        let mut packet = ff::Packet::copy(&au.data);
        packet.set_pts(Some(seq));
        if au.is_sync {
            packet.set_flags(ff::packet::Flags::KEY);
        }
        self.pending.insert(seq, au.pts);
        if let Err(e) = self.inner.send_packet(&packet) {
            self.pending.remove(&seq);
            self.gate.awaiting = true;
            debug!(label = %self.label, au = au.index, error = %e, "decode error; waiting for the next sync sample");
            return Err(self.decode_error(au, e.to_string()));
        }
        self.receive_all(au.pts.timescale).map_err(|detail| {
            self.gate.awaiting = true;
            self.decode_error(au, detail)
        })
    }

    fn flush(&mut self) -> Result<Vec<Nv12Frame>, VideoError> {
        let timescale = self.last_pts.map_or(1, |t| t.timescale);
        let result = match self.inner.send_eof() {
            Ok(()) => self.receive_all(timescale),
            Err(e) => Err(e.to_string()),
        };
        // Back to a fresh state, so that a new stream can follow (from a sync sample).
        self.inner.flush();
        self.gate.awaiting = true;
        if !self.pending.is_empty() {
            debug!(label = %self.label, left = self.pending.len(), "access units that produced no picture");
            self.pending.clear();
        }
        result.map_err(|detail| VideoError::Decoder {
            source_label: self.label.clone(),
            decoder: NAME,
            detail: format!("flushing at the end of the stream failed: {detail}"),
        })
    }

    fn name(&self) -> &'static str {
        NAME
    }
}
