//! [`open_file`] (container sniffing) and [`VideoFile`], a file source plus the CPU decoder.
//!
//! The format is told from the content, never from the file name: an ISO base media file
//! (ISO/IEC 14496-12 §4.2 box header, `ftyp` first) is read as MP4, a leading ITU-T H.264
//! Annex B start code (`00 00 01` or `00 00 00 01`) as a raw H.264 stream.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use aisle_types::Nv12Frame;

use crate::annexb::{AnnexBFileSource, DEFAULT_ANNEXB_FPS};
use crate::decoder::{Decoder, OpenH264Decoder};
use crate::error::open_error;
use crate::mp4::Mp4FileSource;
use crate::source::{AccessUnitSource, Codec, StreamInfo};
use crate::VideoError;

/// What [`sniff`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// ISO base media file (MP4, MOV, ...).
    Mp4,
    /// Raw H.264 Annex B byte stream.
    AnnexB,
}

/// Top-level ISO-BMFF box types that may open a file (ISO/IEC 14496-12 §4.3 recommends
/// `ftyp` first; older QuickTime-style files start with others).
const LEADING_BOXES: [&[u8; 4]; 7] = [
    b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide",
];

/// How many bytes [`sniff`] looks at.
const SNIFF_BYTES: usize = 64;

/// Tells the container from the first bytes of `path`.
pub fn sniff(path: impl AsRef<Path>) -> Result<ContainerKind, VideoError> {
    let path = path.as_ref();
    let mut file = File::open(path).map_err(|e| open_error(path, e))?;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            action: "read the first bytes".into(),
            source,
        })?;
    sniff_bytes(&head).map_err(|hint| {
        if head.is_empty() {
            VideoError::Empty {
                path: path.to_path_buf(),
            }
        } else {
            VideoError::UnknownFormat {
                path: path.to_path_buf(),
                first_bytes: describe_bytes(&head[..head.len().min(16)]),
                hint,
            }
        }
    })
}

/// The container of a file starting with `head`, or a hint (possibly empty, else starting with
/// "; ") about what it is instead.
pub(crate) fn sniff_bytes(head: &[u8]) -> Result<ContainerKind, String> {
    if let Some(kind) = head.get(4..8) {
        if LEADING_BOXES.iter().any(|b| &b[..] == kind) {
            return Ok(ContainerKind::Mp4);
        }
    }
    let zeros = head.iter().take_while(|&&b| b == 0).count();
    if zeros >= 2 && head.get(zeros) == Some(&1) {
        return match head.get(zeros + 1) {
            // forbidden_zero_bit must be 0 in an H.264 NAL unit header (§7.4.1).
            Some(&b) if b & 0x80 != 0 => Err(match b {
                0xba => "; this looks like an MPEG program stream (.mpg/.vob); remux H.264 video with `ffmpeg -i IN -c copy OUT.mp4`, or transcode other codecs with `-c:v libx264`".into(),
                0xb3 => "; this looks like MPEG-1/2 video; transcode it with `ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4`".into(),
                _ => String::new(),
            }),
            _ => Ok(ContainerKind::AnnexB),
        };
    }
    Err(format_hint(head).into())
}

fn format_hint(head: &[u8]) -> &'static str {
    let is_text = std::str::from_utf8(head).is_ok_and(|s| {
        s.chars()
            .all(|c| !c.is_control() || c.is_ascii_whitespace())
    });
    match head {
        [0xff, 0xd8, 0xff, ..] => "; this looks like a JPEG image, not a video",
        [0x89, b'P', b'N', b'G', ..] => "; this looks like a PNG image, not a video",
        [b'G', b'I', b'F', b'8', ..] => "; this looks like a GIF image, not a video",
        [0x1a, 0x45, 0xdf, 0xa3, ..] => {
            "; this looks like Matroska/WebM: remux H.264 video with `ffmpeg -i IN -c copy OUT.mp4` (or transcode with `-c:v libx264`)"
        }
        [b'R', b'I', b'F', b'F', _, _, _, _, b'A', b'V', b'I', ..] => {
            "; this looks like AVI: remux H.264 video with `ffmpeg -i IN -c copy OUT.mp4` (or transcode with `-c:v libx264`)"
        }
        _ if is_text => "; this looks like a text file",
        [0x47, ..] => {
            "; if this is an MPEG transport stream (.ts), remux H.264 video with `ffmpeg -i IN -c copy OUT.mp4`"
        }
        _ => "",
    }
}

/// `"ff d8 ff e0 ... (\"....\")"`: hex, then the printable-ASCII reading.
fn describe_bytes(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    let ascii: String = b
        .iter()
        .map(|&x| {
            if x.is_ascii_graphic() || x == b' ' {
                char::from(x)
            } else {
                '.'
            }
        })
        .collect();
    format!("{} (\"{ascii}\")", hex.join(" "))
}

/// Opens a video file as an access-unit source, choosing the reader from its content: MP4
/// (H.264 track) or a raw H.264 Annex B stream, whose access units get timestamps
/// `n / annexb_fps` seconds.
pub fn open_file(
    path: impl AsRef<Path>,
    annexb_fps: f64,
) -> Result<Box<dyn AccessUnitSource>, VideoError> {
    let path = path.as_ref();
    Ok(match sniff(path)? {
        ContainerKind::Mp4 => Box::new(Mp4FileSource::open(path)?),
        ContainerKind::AnnexB => Box::new(AnnexBFileSource::open(path, annexb_fps)?),
    })
}

/// The CPU decoder for `codec`, its errors starting with `label`: [`OpenH264Decoder`] for
/// H.264; for H.265 the FFmpeg decoder (`FfmpegDecoder`) when the `ffmpeg` feature is on, else
/// [`VideoError::NoDecoder`] saying to build with it.
pub fn cpu_decoder(codec: Codec, label: impl Into<String>) -> Result<Box<dyn Decoder>, VideoError> {
    let label = label.into();
    match codec {
        Codec::H264 => Ok(Box::new(OpenH264Decoder::with_label(label)?)),
        #[cfg(feature = "ffmpeg")]
        Codec::H265 => Ok(Box::new(crate::ffmpeg::FfmpegDecoder::with_label(
            codec, label,
        )?)),
        #[cfg(not(feature = "ffmpeg"))]
        Codec::H265 => Err(no_decoder(codec, label)),
    }
}

/// The error for a codec this build has no decoder for.
#[cfg_attr(feature = "ffmpeg", allow(dead_code))]
pub(crate) fn no_decoder(codec: Codec, label: String) -> VideoError {
    VideoError::NoDecoder {
        source_label: label,
        codec,
    }
}

/// A video file with a decoder: the easy way to get frames.
///
/// ```no_run
/// let mut video = aisle_video::VideoFile::open("shop.mp4")?;
/// let info = video.info().clone();
/// for frame in video.frames() {
///     let frame = frame?;
///     tracing::info!(pts = %frame.pts, w = info.width, "frame");
/// }
/// # Ok::<(), aisle_video::VideoError>(())
/// ```
pub struct VideoFile {
    path: PathBuf,
    source: Box<dyn AccessUnitSource>,
    decoder: Box<dyn Decoder>,
}

impl std::fmt::Debug for VideoFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFile")
            .field("path", &self.path)
            .field("info", self.source.info())
            .field("decoder", &self.decoder.name())
            .finish()
    }
}

impl VideoFile {
    /// Opens an MP4 or raw H.264 / H.265 file (raw streams are timed at [`DEFAULT_ANNEXB_FPS`])
    /// with the CPU decoder for its codec (see [`cpu_decoder`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, VideoError> {
        Self::open_with_fps(path, DEFAULT_ANNEXB_FPS)
    }

    /// Like [`VideoFile::open`], timing raw H.264 streams at `annexb_fps`.
    pub fn open_with_fps(path: impl AsRef<Path>, annexb_fps: f64) -> Result<Self, VideoError> {
        let path = path.as_ref();
        let source = open_file(path, annexb_fps)?;
        let decoder = cpu_decoder(source.info().codec, path.display().to_string())?;
        Ok(Self::from_parts(path, source, decoder))
    }

    /// Combines any source and decoder (e.g. a GPU decoder later).
    pub fn from_parts(
        path: impl Into<PathBuf>,
        source: Box<dyn AccessUnitSource>,
        decoder: Box<dyn Decoder>,
    ) -> Self {
        Self {
            path: path.into(),
            source,
            decoder,
        }
    }

    pub fn info(&self) -> &StreamInfo {
        self.source.info()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decoder's name, e.g. `"openh264"`.
    pub fn decoder_name(&self) -> &'static str {
        self.decoder.name()
    }

    /// Decoded frames in presentation order, the decoder flushed at the end.
    ///
    /// A decode error on one access unit is yielded as an `Err` and iteration goes on (see
    /// [`OpenH264Decoder`] for how decoding resumes). A source error (truncated file, I/O) is
    /// yielded after the frames still in the decoder, and ends the iteration.
    pub fn frames(&mut self) -> Frames<'_> {
        Frames {
            file: self,
            queue: VecDeque::new(),
            done: false,
        }
    }
}

/// Iterator returned by [`VideoFile::frames`].
pub struct Frames<'a> {
    file: &'a mut VideoFile,
    queue: VecDeque<Result<Nv12Frame, VideoError>>,
    done: bool,
}

impl Frames<'_> {
    fn flush_into_queue(&mut self) {
        match self.file.decoder.flush() {
            Ok(frames) => self.queue.extend(frames.into_iter().map(Ok)),
            Err(e) => self.queue.push_back(Err(e)),
        }
    }
}

impl Iterator for Frames<'_> {
    type Item = Result<Nv12Frame, VideoError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.file.source.next_access_unit() {
                Ok(Some(au)) => match self.file.decoder.decode(&au) {
                    Ok(frames) => self.queue.extend(frames.into_iter().map(Ok)),
                    Err(e) => return Some(Err(e)),
                },
                Ok(None) => {
                    self.done = true;
                    self.flush_into_queue();
                }
                Err(e) => {
                    self.done = true;
                    self.flush_into_queue();
                    self.queue.push_back(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_containers_from_content() {
        let mp4 = [
            0, 0, 0, 0x20, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm',
        ];
        assert_eq!(sniff_bytes(&mp4), Ok(ContainerKind::Mp4));
        assert_eq!(
            sniff_bytes(&[0, 0, 0, 1, 0x67, 0x42]),
            Ok(ContainerKind::AnnexB)
        );
        assert_eq!(
            sniff_bytes(&[0, 0, 1, 0x09, 0xf0]),
            Ok(ContainerKind::AnnexB)
        );
        assert!(sniff_bytes(&[0, 0, 1, 0xba, 0x44])
            .unwrap_err()
            .contains("program stream"));
        assert!(sniff_bytes(&[0, 1, 0x67]).is_err());
        assert!(sniff_bytes(&[]).is_err());
        assert!(sniff_bytes(&[0xff, 0xd8, 0xff, 0xe0])
            .unwrap_err()
            .contains("JPEG"));
        assert!(sniff_bytes(b"hello world\n").unwrap_err().contains("text"));
        assert!(sniff_bytes(&[0x1a, 0x45, 0xdf, 0xa3, 1])
            .unwrap_err()
            .contains("Matroska"));
        assert_eq!(describe_bytes(b"Hi\n\xff"), "48 69 0a ff (\"Hi..\")");
    }

    #[test]
    fn h265_without_a_decoder_says_to_build_with_ffmpeg() {
        let msg = no_decoder(Codec::H265, "cam.mp4".into()).to_string();
        assert!(msg.starts_with("cam.mp4: video is H.265"), "{msg}");
        assert!(msg.contains("no H.265 decoder"), "{msg}");
        assert!(msg.contains("`ffmpeg` feature"), "{msg}");
        #[cfg(not(feature = "ffmpeg"))]
        {
            let err = cpu_decoder(Codec::H265, "cam.mp4").err();
            assert!(matches!(
                err,
                Some(VideoError::NoDecoder {
                    codec: Codec::H265,
                    ..
                })
            ));
        }
        #[cfg(feature = "ffmpeg")]
        assert_eq!(
            cpu_decoder(Codec::H265, "cam.mp4").unwrap().name(),
            "ffmpeg"
        );
        assert_eq!(
            cpu_decoder(Codec::H264, "cam.mp4").unwrap().name(),
            "openh264"
        );
    }
}
