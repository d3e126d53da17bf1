//! What every video source hands on: [`AccessUnit`]s (one coded picture each, as an H.264
//! Annex B byte string) described by a [`StreamInfo`], through the [`AccessUnitSource`] trait.
//!
//! An access unit is "a set of NAL units that always contain exactly one primary coded picture"
//! (ITU-T H.264 §3.1, §7.4.1.2.3). Its bytes use the Annex B byte stream format (ITU-T H.264
//! Annex B: every NAL unit preceded by the start code `00 00 00 01`), whatever the container
//! stored, so decoders see one format; for sync samples the sequence and picture parameter sets
//! are written in front so that decoding can start (or restart) there. MP4 timestamps follow
//! ISO/IEC 14496-12 §8.6 (decoding time `stts`, composition offset `ctts`).

use aisle_types::MediaTime;

use crate::VideoError;

/// A compressed video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// ITU-T H.264 / MPEG-4 AVC.
    H264,
    /// ITU-T H.265 / HEVC: MP4 `hvc1` / `hev1` tracks and raw H.265 Annex B streams; decoded
    /// by `FfmpegDecoder` (the `ffmpeg` feature).
    H265,
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Codec::H264 => "H.264",
            Codec::H265 => "H.265",
        })
    }
}

/// One coded picture, ready for a [`crate::Decoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Annex B bytes: every NAL unit preceded by `00 00 00 01`; on sync samples the parameter
    /// sets (SPS, PPS) come first (after an access unit delimiter, if any).
    pub data: Vec<u8>,
    /// Presentation time.
    pub pts: MediaTime,
    /// Decoding time (equal to `pts` where the source has no reordering information).
    pub dts: MediaTime,
    /// Decoding can start here: an IDR picture (MP4: listed in `stss`, or every sample when the
    /// track has no `stss`).
    pub is_sync: bool,
    /// Position in decode order, from 0 (for MP4, the sample index in the track).
    pub index: u64,
}

/// What a source knows about its video stream before decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub codec: Codec,
    /// Picture width in pixels (MP4: from the sample entry; Annex B: from the first SPS).
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Ticks per second of the access units' timestamps.
    pub timescale: u32,
    /// Number of access units, when the container says (MP4); `None` for streams.
    pub frame_count: Option<u64>,
    /// Nominal frame rate: MP4 from the decode timestamps' average spacing, Annex B the rate the
    /// caller gave for synthesising timestamps. `None` when it cannot be told (one sample).
    pub nominal_fps: Option<f64>,
}

/// A source of H.264 access units in decode order: an MP4 file, a raw Annex B file, and later
/// RTSP (retina) sessions.
pub trait AccessUnitSource: Send {
    /// The stream's description; available as soon as the source is open.
    fn info(&self) -> &StreamInfo;

    /// The next access unit in decode order; `Ok(None)` at the end of the stream.
    ///
    /// After an `Err` the source may or may not be able to continue; file sources return
    /// further errors or `Ok(None)`, never garbage.
    fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, VideoError>;
}

impl<S: AccessUnitSource + ?Sized> AccessUnitSource for Box<S> {
    fn info(&self) -> &StreamInfo {
        (**self).info()
    }

    fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, VideoError> {
        (**self).next_access_unit()
    }
}
