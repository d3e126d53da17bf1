//! [`Mp4FileSource`]: H.264 / H.265 access units from an MP4 / ISO base media file.
//!
//! The box structure (ISO/IEC 14496-12: `ftyp`, `moov` with the sample tables `stsd`, `stts`,
//! `ctts`, `stss`, `stsc`, `stsz`, `stco`/`co64`, `mdat`, and `moof` fragments) is parsed by
//! the `re_mp4` crate; this module picks the first H.264 (`avc1`) or H.265 (`hvc1` / `hev1`,
//! parameter sets from the `hvcC`, ISO/IEC 14496-15 §8.3.3) video track, takes the NAL
//! length size and the parameter sets from its `AVCDecoderConfigurationRecord` (`avcC`,
//! ISO/IEC 14496-15 §5.3.2), and reads each sample by seeking in the file — the media data is
//! never loaded as a whole. Samples (length-prefixed NAL units, ISO/IEC 14496-15 §5.3.3) are
//! rewritten as ITU-T H.264 Annex B byte strings, with SPS/PPS in front of every sync sample.
//!
//! Timestamps are the track's composition (presentation) and decoding times, shifted by
//! `re_mp4` so that the first presentation time is 0; edit lists (`elst`) are not applied.
//!
//! Truncated files fail at [`Mp4FileSource::open`], before anything is decoded: a file cut
//! before its `moov` (written at the end by most recorders) gives [`VideoError::NoMoov`]; a
//! file whose `moov` is intact but whose media data is cut gives [`VideoError::Truncated`]
//! naming the first sample that lies beyond the end of the file. Reading re-checks this, in
//! case the file shrinks while open.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use aisle_types::MediaTime;
use re_mp4::{Mp4, StsdBoxContent};
use tracing::{debug, warn};

use crate::error::open_error;
use crate::h264::{avcc_to_annexb, parse_sps};
use crate::h265;
use crate::source::{AccessUnit, AccessUnitSource, Codec, StreamInfo};
use crate::VideoError;

/// Samples larger than this are treated as corrupt (a 4K intra frame is a few MiB).
const MAX_SAMPLE_BYTES: u64 = 64 << 20;

/// Where a sample's bytes are and how it is timed (decode order).
#[derive(Debug, Clone, Copy)]
struct SampleRef {
    offset: u64,
    size: u64,
    is_sync: bool,
    cts: i64,
    dts: i64,
}

/// Access units from the first H.264 or H.265 video track of an MP4 file.
pub struct Mp4FileSource {
    path: PathBuf,
    file: File,
    file_size: u64,
    track: ParsedTrack,
    next: usize,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Mp4FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4FileSource")
            .field("path", &self.path)
            .field("info", &self.track.info)
            .field("track_id", &self.track.track_id)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// Top-level boxes found by [`scan_top_level`].
struct TopLevel {
    /// End of the last complete top-level box: what `re_mp4` may parse.
    parse_end: u64,
    has_moov: bool,
    /// A box that runs past the end of the file: (type, offset, declared end).
    cut: Option<([u8; 4], u64, u64)>,
}

fn fourcc_str(t: &[u8; 4]) -> String {
    t.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// Walks the top-level boxes (ISO/IEC 14496-12 §4.2: 32-bit size, type, optional 64-bit
/// `largesize`; size 0 = to the end of the file) without reading their contents.
fn scan_top_level(path: &Path, file: &mut File, size: u64) -> Result<TopLevel, VideoError> {
    let io_err = |source: std::io::Error| VideoError::Io {
        path: path.to_path_buf(),
        action: "read the MP4 box headers".into(),
        source,
    };
    let mut top = TopLevel {
        parse_end: 0,
        has_moov: false,
        cut: None,
    };
    let mut pos = 0u64;
    while pos < size {
        if size - pos < 8 {
            top.cut = Some((*b"????", pos, pos + 8));
            break;
        }
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(pos)).map_err(io_err)?;
        let header_len = if size - pos >= 16 { 16 } else { 8 };
        file.read_exact(&mut header[..header_len]).map_err(io_err)?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = [header[4], header[5], header[6], header[7]];
        let box_size = match size32 {
            0 => size - pos,
            1 => {
                if header_len < 16 {
                    top.cut = Some((kind, pos, pos + 16));
                    break;
                }
                let large = u64::from_be_bytes([
                    header[8], header[9], header[10], header[11], header[12], header[13],
                    header[14], header[15],
                ]);
                if large < 16 {
                    return invalid_box(path, &top, kind, pos, large);
                }
                large
            }
            2..=7 => return invalid_box(path, &top, kind, pos, u64::from(size32)),
            n => u64::from(n),
        };
        let end = pos.saturating_add(box_size);
        if end > size {
            top.cut = Some((kind, pos, end));
            break;
        }
        if &kind == b"moov" {
            top.has_moov = true;
        }
        top.parse_end = end;
        pos = end;
    }
    Ok(top)
}

fn invalid_box(
    path: &Path,
    top: &TopLevel,
    kind: [u8; 4],
    pos: u64,
    size: u64,
) -> Result<TopLevel, VideoError> {
    if top.has_moov {
        // Everything needed was before it; the damage only matters if samples point there.
        warn!(path = %path.display(), offset = pos, "ignoring an invalid top-level box after the moov");
        return Ok(TopLevel {
            parse_end: top.parse_end,
            has_moov: true,
            cut: None,
        });
    }
    Err(VideoError::Mp4Parse {
        path: path.to_path_buf(),
        detail: format!(
            "top-level box '{}' at byte offset {pos} has an invalid size {size}",
            fourcc_str(&kind)
        ),
    })
}

fn describe_track(contents: &StsdBoxContent) -> String {
    match contents {
        StsdBoxContent::Unknown(fourcc) => fourcc.to_string(),
        StsdBoxContent::Mp4a(_) => "mp4a (AAC audio)".into(),
        StsdBoxContent::Tx3g(_) => "tx3g (subtitles)".into(),
        other => other.codec_string().unwrap_or_else(|| "unknown".into()),
    }
}

impl Mp4FileSource {
    /// Opens `path`, parses its `moov`, picks the first H.264 video track and checks that every
    /// sample lies inside the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, VideoError> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(|e| open_error(path, e))?;
        let file_size = file
            .metadata()
            .map_err(|source| VideoError::Io {
                path: path.to_path_buf(),
                action: "read the file's metadata".into(),
                source,
            })?
            .len();
        if file_size == 0 {
            return Err(VideoError::Empty {
                path: path.to_path_buf(),
            });
        }

        let top = scan_top_level(path, &mut file, file_size)?;
        if !top.has_moov {
            let detail = match top.cut {
                Some((kind, offset, end)) => format!(
                    ": the file ends at byte {file_size} inside the '{}' box that starts at byte offset {offset} and should end at {end}",
                    fourcc_str(&kind)
                ),
                None => format!(": none of the top-level boxes in its {file_size} bytes is a moov"),
            };
            return Err(VideoError::NoMoov {
                path: path.to_path_buf(),
                detail,
            });
        }
        if let Some((kind, offset, end)) = top.cut {
            debug!(
                path = %path.display(),
                box_type = %fourcc_str(&kind),
                offset,
                declared_end = end,
                file_size,
                "top-level box after the moov runs past the end of the file"
            );
        }

        let mp4 = parse_mp4(path, &file, top.parse_end)?;
        let parsed = select_track(path, &mp4)?;
        drop(mp4);

        // Fail before decoding anything if the media data was cut short.
        if let Some((i, s)) = parsed
            .samples
            .iter()
            .enumerate()
            .find(|(_, s)| s.offset.checked_add(s.size).is_none_or(|e| e > file_size))
        {
            return Err(VideoError::Truncated {
                path: path.to_path_buf(),
                sample: i as u64,
                offset: s.offset,
                size: s.size,
                file_size,
            });
        }

        debug!(
            path = %path.display(),
            track = parsed.track_id,
            samples = parsed.samples.len(),
            width = parsed.info.width,
            height = parsed.info.height,
            fps = ?parsed.info.nominal_fps,
            "opened MP4"
        );
        Ok(Self {
            path: path.to_path_buf(),
            file,
            file_size,
            track: parsed,
            next: 0,
            buf: Vec::new(),
        })
    }

    /// The file this source reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The MP4 track ID of the video track in use.
    pub fn track_id(&self) -> u32 {
        self.track.track_id
    }

    /// Number of samples (access units) in the track.
    pub fn sample_count(&self) -> u64 {
        self.track.samples.len() as u64
    }

    fn truncated(&self, index: usize, s: &SampleRef, file_size: u64) -> VideoError {
        VideoError::Truncated {
            path: self.path.clone(),
            sample: index as u64,
            offset: s.offset,
            size: s.size,
            file_size,
        }
    }
}

/// The chosen track: what the source reads and converts.
struct ParsedTrack {
    info: StreamInfo,
    track_id: u32,
    samples: Vec<SampleRef>,
    timescale: u32,
    length_size: u8,
    /// Parameter-set NAL units from the `avcC` (SPS, PPS) or `hvcC` (VPS, SPS, PPS), written
    /// before sync samples.
    parameter_sets: Vec<Vec<u8>>,
}

/// Runs `re_mp4` over the first `parse_end` bytes. `re_mp4` indexes its sample tables without
/// checks in places, so a panic on malformed tables is caught and reported as a parse error.
fn parse_mp4(path: &Path, file: &File, parse_end: u64) -> Result<Mp4, VideoError> {
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            action: "seek to the start".into(),
            source,
        })?;
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        Mp4::read(reader, parse_end)
    }));
    match parsed {
        Ok(Ok(mp4)) => Ok(mp4),
        Ok(Err(e)) => Err(VideoError::Mp4Parse {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
        Err(_) => Err(VideoError::Mp4Parse {
            path: path.to_path_buf(),
            detail: "inconsistent sample tables (the MP4 parser gave up on them)".into(),
        }),
    }
}

fn select_track(path: &Path, mp4: &Mp4) -> Result<ParsedTrack, VideoError> {
    let mut seen = Vec::new();
    let mut other_video = Vec::new();
    for track in mp4.tracks().values() {
        let Some(trak) = mp4
            .moov
            .traks
            .iter()
            .find(|t| t.tkhd.track_id == track.track_id)
        else {
            continue;
        };
        let contents = &trak.mdia.minf.stbl.stsd.contents;
        let handler = trak.mdia.hdlr.handler_type.to_string();
        let is_video =
            handler == "vide" || trak.mdia.minf.stbl.stsd.kind() == Some(re_mp4::TrackKind::Video);
        let desc = describe_track(contents);
        seen.push(format!(
            "track {} {} {desc}",
            track.track_id,
            if is_video { "video" } else { handler.as_str() }
        ));
        // (codec, NAL length size, parameter sets, sample entry size, size from the first SPS)
        let (codec, length_size, parameter_sets, entry_size, sps_size) = match contents {
            StsdBoxContent::Avc1(avc1) => {
                let avcc = &avc1.avcc.contents;
                let mut parameter_sets: Vec<Vec<u8>> = avcc
                    .sequence_parameter_sets
                    .iter()
                    .map(|n| n.bytes.clone())
                    .collect();
                parameter_sets.extend(avcc.picture_parameter_sets.iter().map(|n| n.bytes.clone()));
                let sps_size = avcc
                    .sequence_parameter_sets
                    .first()
                    .and_then(|n| parse_sps(&n.bytes))
                    .map(|s| (s.width, s.height));
                (
                    Codec::H264,
                    avcc.length_size_minus_one + 1,
                    parameter_sets,
                    (avc1.width, avc1.height),
                    sps_size,
                )
            }
            StsdBoxContent::Hvc1(hevc) | StsdBoxContent::Hev1(hevc) => {
                // hvcC arrays (ISO/IEC 14496-15 §8.3.3): VPS, SPS, PPS and SEI, written in
                // front of sync samples in that order.
                let hvcc = &hevc.hvcc.contents;
                let mut parameter_sets: Vec<Vec<u8>> = Vec::new();
                for t in [
                    h265::nal_type::VPS,
                    h265::nal_type::SPS,
                    h265::nal_type::PPS,
                    h265::nal_type::PREFIX_SEI,
                ] {
                    for a in hvcc.arrays.iter().filter(|a| a.nal_unit_type == t) {
                        parameter_sets.extend(a.nalus.iter().map(|n| n.data.clone()));
                    }
                }
                let sps_size = parameter_sets
                    .iter()
                    .find_map(|n| h265::parse_sps(n))
                    .map(|s| (s.width, s.height));
                (
                    Codec::H265,
                    hvcc.length_size_minus_one + 1,
                    parameter_sets,
                    (hevc.width, hevc.height),
                    sps_size,
                )
            }
            _ => {
                if is_video {
                    other_video.push(format!("{desc} (track {})", track.track_id));
                }
                continue;
            }
        };

        let timescale = u32::try_from(track.timescale)
            .ok()
            .filter(|&t| t != 0)
            .ok_or_else(|| VideoError::Mp4Parse {
                path: path.to_path_buf(),
                detail: format!(
                    "track {} has an invalid timescale {} in its mdhd",
                    track.track_id, track.timescale
                ),
            })?;

        let (mut width, mut height) = (u32::from(entry_size.0), u32::from(entry_size.1));
        if width == 0 || height == 0 {
            if let Some(size) = sps_size {
                (width, height) = size;
            } else {
                (width, height) = (u32::from(track.width), u32::from(track.height));
            }
        }

        let samples: Vec<SampleRef> = track
            .samples
            .iter()
            .map(|s| SampleRef {
                offset: s.offset,
                size: s.size,
                is_sync: s.is_sync,
                cts: s.composition_timestamp,
                dts: s.decode_timestamp,
            })
            .collect();
        let nominal_fps = match (samples.first(), samples.last()) {
            (Some(first), Some(last)) if samples.len() >= 2 && last.dts > first.dts => {
                let span = (last.dts - first.dts) as f64 / f64::from(timescale);
                Some((samples.len() - 1) as f64 / span)
            }
            _ => None,
        };
        return Ok(ParsedTrack {
            info: StreamInfo {
                codec,
                width,
                height,
                timescale,
                frame_count: Some(samples.len() as u64),
                nominal_fps,
            },
            track_id: track.track_id,
            samples,
            timescale,
            length_size,
            parameter_sets,
        });
    }
    if other_video.is_empty() {
        Err(VideoError::NoVideoTrack {
            path: path.to_path_buf(),
            found: if seen.is_empty() {
                "none".into()
            } else {
                seen.join(", ")
            },
        })
    } else {
        Err(VideoError::UnsupportedCodec {
            path: path.to_path_buf(),
            codec: other_video.join(", "),
        })
    }
}

impl AccessUnitSource for Mp4FileSource {
    fn info(&self) -> &StreamInfo {
        &self.track.info
    }

    fn next_access_unit(&mut self) -> Result<Option<AccessUnit>, VideoError> {
        let i = self.next;
        let Some(&s) = self.track.samples.get(i) else {
            return Ok(None);
        };
        self.next += 1;
        let index = i as u64;
        if s.size > MAX_SAMPLE_BYTES {
            return Err(VideoError::BadSample {
                path: self.path.clone(),
                sample: index,
                offset: s.offset,
                detail: format!(
                    "the sample table gives it {} bytes, more than any {} picture needs",
                    s.size, self.track.info.codec
                ),
            });
        }
        if s.offset
            .checked_add(s.size)
            .is_none_or(|e| e > self.file_size)
        {
            return Err(self.truncated(i, &s, self.file_size));
        }
        self.buf.resize(s.size as usize, 0);
        let read = self
            .file
            .seek(SeekFrom::Start(s.offset))
            .and_then(|_| self.file.read_exact(&mut self.buf));
        if let Err(source) = read {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                // The file shrank after it was opened.
                let now = self.file.metadata().map_or(0, |m| m.len());
                return Err(self.truncated(i, &s, now));
            }
            return Err(VideoError::Io {
                path: self.path.clone(),
                action: format!(
                    "read sample {index} at byte offset {} (+{} bytes)",
                    s.offset, s.size
                ),
                source,
            });
        }

        let mut data = Vec::with_capacity(self.buf.len() + 64);
        let params = s.is_sync.then_some(self.track.parameter_sets.as_slice());
        let convert = match self.track.info.codec {
            Codec::H264 => avcc_to_annexb,
            Codec::H265 => h265::hvcc_to_annexb,
        };
        convert(&self.buf, self.track.length_size, params, &mut data).map_err(|e| {
            VideoError::BadSample {
                path: self.path.clone(),
                sample: index,
                offset: s.offset + e.offset as u64,
                detail: e.detail,
            }
        })?;
        let time = |ticks: i64| MediaTime {
            ticks,
            timescale: self.track.timescale,
        };
        Ok(Some(AccessUnit {
            data,
            pts: time(s.cts),
            dts: time(s.dts),
            is_sync: s.is_sync,
            index,
        }))
    }
}
