//! Aisle's video input: file sources demuxed in Rust and H.264 decoded on the CPU with
//! OpenH264, behind traits that later NVDEC / Jetson V4L2 decoders and RTSP sources implement.
//!
//! - [`AccessUnitSource`] yields [`AccessUnit`]s: one coded picture each, as an ITU-T H.264
//!   Annex B byte string with its presentation / decoding timestamps. Implemented by
//!   [`Mp4FileSource`] (ISO/IEC 14496-12 files with an H.264 track per ISO/IEC 14496-15) and
//!   [`AnnexBFileSource`] (raw `.h264` streams, ITU-T H.264 Annex B).
//! - [`Decoder`] turns access units into [`Nv12Frame`]s stamped with their presentation time;
//!   [`OpenH264Decoder`] is the CPU implementation for H.264; with the `ffmpeg` feature,
//!   `FfmpegDecoder` (Debian's libavcodec) decodes H.265 (and H.264). MP4 `hvc1` / `hev1`
//!   tracks and raw H.265 Annex B streams give H.265 access units ([`h265`]).
//! - [`camera`]: the per-camera live ingest state machine (connect, keyframe gating,
//!   backoff, stall watchdog, RTP timestamp mapping, outages), I/O-free, driven by an RTSP shell.
//! - [`open_file`] picks the source from the file's content; [`VideoFile`] adds the decoder and
//!   iterates frames.
//! - [`read_y4m`]: raw 4:2:0 pictures from a YUV4MPEG2 file (the face tests' photos).
//!
//! Nothing in this crate panics on malformed input: every problem is a [`VideoError`] whose
//! message names the file, the sample / access unit and byte offset where known, and the fix.

mod annexb;
pub mod camera;
mod decoder;
mod error;
#[cfg(feature = "ffmpeg")]
mod ffmpeg;
mod file;
pub mod h264;
pub mod h265;
mod mp4;
pub mod rtsp;
mod source;
pub mod y4m;

pub use aisle_types::{MediaTime, Nv12Frame};
pub use annexb::{AnnexBFileSource, ANNEXB_TIMESCALE, DEFAULT_ANNEXB_FPS};
pub use decoder::{Decoder, OpenH264Decoder};
pub use error::VideoError;
#[cfg(feature = "ffmpeg")]
pub use ffmpeg::FfmpegDecoder;
pub use file::{cpu_decoder, open_file, sniff, ContainerKind, Frames, VideoFile};
pub use mp4::Mp4FileSource;
pub use rtsp::{
    redact_url, RtspCredentials, RtspError, RtspFrame, RtspOptions, RtspSource, RtspStats,
    RtspTransport,
};
pub use source::{AccessUnit, AccessUnitSource, Codec, StreamInfo};
pub use y4m::read_y4m;
