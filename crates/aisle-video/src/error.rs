//! The one error type of this crate, [`VideoError`].
//!
//! Every message names the file (or, for a decoder fed from elsewhere, the label it was given),
//! points at the sample / access unit index and byte offset where that is known, and says what
//! to do about it. Containers are described by ISO/IEC 14496-12 (ISO base media file format) and
//! ISO/IEC 14496-15 (AVC in ISO-BMFF); raw streams by ITU-T H.264 Annex B.

use std::path::PathBuf;

use aisle_types::MediaTime;

/// The fix suggested for MP4 files whose index (`moov`) is missing or at the end.
pub(crate) const FASTSTART_FIX: &str =
    "re-copy the file or remux with `ffmpeg -i IN -c copy -movflags +faststart OUT`";

/// Everything that can go wrong while opening, demuxing or decoding a video.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// The path does not exist.
    #[error("{}: no such file; check the path (it is resolved relative to the working directory)", path.display())]
    NotFound { path: PathBuf },

    /// An I/O error other than "not found" (permissions, a directory, a failing disk, ...).
    #[error("{}: cannot {action}: {source}; check that the path names a readable video file", path.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. "open the file" or "read sample 12 at byte offset 4096".
        action: String,
        #[source]
        source: std::io::Error,
    },

    /// A zero-byte file.
    #[error("{}: the file is empty (0 bytes); it was not copied or recorded completely, re-copy it", path.display())]
    Empty { path: PathBuf },

    /// A YUV4MPEG2 (`.y4m`) file this reader cannot use.
    #[error("{}: {message}", path.display())]
    Y4m { path: PathBuf, message: String },

    /// Neither an MP4 (ISO-BMFF) file nor an H.264 Annex B stream.
    #[error(
        "{}: not a video file this build can read (expected H.264 in MP4, or an H.264 Annex B stream); first bytes: {first_bytes}{hint}",
        path.display()
    )]
    UnknownFormat {
        path: PathBuf,
        /// Hex (and printable ASCII) of the first bytes of the file.
        first_bytes: String,
        /// Extra advice when the bytes look like a known non-supported format (starts with "; ").
        hint: String,
    },

    /// An MP4 file without a `moov` box (the sample index), typically one cut short while the
    /// `moov` was still to be written at its end.
    #[error(
        "{}: has no moov box (file truncated or still being written?){detail}; {FASTSTART_FIX}",
        path.display()
    )]
    NoMoov {
        path: PathBuf,
        /// Where the file ends / which box is cut (starts with ": " or is empty).
        detail: String,
    },

    /// A sample lies (partly) beyond the end of the file: the media data was cut short.
    #[error(
        "{}: sample {sample} at byte offset {offset} (+{size} bytes) lies beyond the end of the file (size {file_size}): the file is truncated; re-copy it (samples before {sample} are readable)",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        /// Sample index in decode order, from 0.
        sample: u64,
        offset: u64,
        size: u64,
        file_size: u64,
    },

    /// The MP4 box structure is malformed.
    #[error(
        "{}: cannot parse the MP4 structure: {detail}; the file is corrupt or not an ordinary MP4, try remuxing it with `ffmpeg -i IN -c copy OUT.mp4`",
        path.display()
    )]
    Mp4Parse { path: PathBuf, detail: String },

    /// An MP4 without any video track.
    #[error(
        "{}: has no video track (tracks found: {found}); use a file that contains H.264 video",
        path.display()
    )]
    NoVideoTrack { path: PathBuf, found: String },

    /// Video is present, but not in a codec this build decodes.
    #[error(
        "{}: video is {codec}, but this build decodes only H.264 (avc1) and H.265 (hvc1, hev1); transcode with `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4`",
        path.display()
    )]
    UnsupportedCodec {
        path: PathBuf,
        /// The codec as the container names it, e.g. `hvc1.1.6.L93.B0`, `mp4v`, or "H.265 Annex B".
        codec: String,
    },

    /// A sample's or access unit's bytes are malformed (bad NAL length prefix, oversized NAL, ...).
    #[error(
        "{}: sample {sample} at byte offset {offset}: {detail}; the file is corrupt at this point, re-copy or re-encode it",
        path.display()
    )]
    BadSample {
        path: PathBuf,
        sample: u64,
        offset: u64,
        detail: String,
    },

    /// A raw H.264 stream that cannot be split into NAL units / access units.
    #[error(
        "{}: at byte offset {offset}: {detail}",
        path.display()
    )]
    AnnexB {
        path: PathBuf,
        offset: u64,
        detail: String,
    },

    /// The decoder rejected one access unit. Later access units can still be decoded; see
    /// [`crate::OpenH264Decoder`] for how decoding resumes.
    #[error(
        "{source_label}: {decoder} could not decode access unit {index} (pts {pts}): {detail}; the stream is corrupt here, decoding resumes at the next sync sample (IDR frame)"
    )]
    Decode {
        /// The file path or other label of the stream.
        source_label: String,
        decoder: &'static str,
        index: u64,
        pts: MediaTime,
        detail: String,
    },

    /// The stream uses H.264 features this decoder backend does not implement.
    #[error("{source_label}: {decoder} cannot decode access unit {index}: {detail}")]
    UnsupportedStream {
        source_label: String,
        decoder: &'static str,
        index: u64,
        detail: String,
    },

    /// The decoder produced a picture that cannot be represented as an NV12 frame.
    #[error(
        "{source_label}: {decoder} produced an unusable picture for output frame {index}: {detail}"
    )]
    BadFrame {
        source_label: String,
        decoder: &'static str,
        index: u64,
        detail: String,
    },

    /// The decoder could not be created or flushed.
    #[error("{source_label}: {decoder} failed: {detail}")]
    Decoder {
        source_label: String,
        decoder: &'static str,
        detail: String,
    },

    /// A caller-supplied parameter is out of range.
    #[error("{}: {detail}", path.display())]
    InvalidArgument { path: PathBuf, detail: String },

    /// The stream's codec has no decoder in this build (H.265 without the `ffmpeg` feature).
    #[error(
        "{source_label}: video is {codec}, but this build of Aisle has no {codec} decoder: rebuild with the `ffmpeg` feature of aisle-video (`cargo build --features aisle-video/ffmpeg`; the `aisle` binary enables it by default; needs Debian's libavcodec-dev, see scripts/setup.sh), or transcode with `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4`"
    )]
    NoDecoder {
        /// The file path or other label of the stream.
        source_label: String,
        codec: crate::source::Codec,
    },
}

/// Maps an `io::Error` from opening `path` to [`VideoError::NotFound`] or [`VideoError::Io`].
pub(crate) fn open_error(path: &std::path::Path, source: std::io::Error) -> VideoError {
    if source.kind() == std::io::ErrorKind::NotFound {
        VideoError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        VideoError::Io {
            path: path.to_path_buf(),
            action: "open the file".into(),
            source,
        }
    }
}
