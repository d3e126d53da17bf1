//! YUV4MPEG2 (`.y4m`) files of 4:2:0 frames, read as [`Nv12Frame`]s: raw pictures with no
//! codec in between, e.g. the still photos of the face tests (`scripts/fetch-media.sh`).
//!
//! Header: `YUV4MPEG2` and space-separated parameters, of which `W` (width), `H` (height), `F`
//! (frame rate `num:den`, default 25:1) and `C` (colour space: any `420` variant; 4:2:0 is
//! assumed when absent) are read; then per frame `FRAME` (parameters ignored), a newline and the
//! I420 planes Y, U, V. Chroma planes are `ceil(W / 2) x ceil(H / 2)`. U and V are interleaved
//! into NV12's UV plane; the sample values are kept as written (limited range, as a camera's).

use std::path::Path;

use aisle_types::{MediaTime, Nv12Frame};

use crate::VideoError;

/// Largest width or height accepted.
const MAX_SIDE: usize = 16384;

/// Reads every frame of a 4:2:0 Y4M file.
///
/// # Errors
/// A missing or unreadable file, a header without a valid size or with a colour space other than
/// 4:2:0, or a truncated frame; each names the path and the bad value.
pub fn read_y4m(path: &Path) -> Result<Vec<Nv12Frame>, VideoError> {
    let data = std::fs::read(path).map_err(|source| crate::error::open_error(path, source))?;
    parse_y4m(&data).map_err(|message| VideoError::Y4m {
        path: path.to_path_buf(),
        message,
    })
}

/// [`read_y4m`] on bytes in memory; the error is the message without the path.
pub fn parse_y4m(data: &[u8]) -> Result<Vec<Nv12Frame>, String> {
    let nl = data
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line (not a YUV4MPEG2 file)")?;
    let header = std::str::from_utf8(&data[..nl]).map_err(|_| "the header is not text")?;
    let mut fields = header.split(' ');
    if fields.next() != Some("YUV4MPEG2") {
        return Err(format!(
            "not a YUV4MPEG2 file (header starts {:?})",
            &header[..header.len().min(16)]
        ));
    }
    let (mut w, mut h, mut fps) = (None, None, (25u64, 1u64));
    for f in fields.filter(|f| !f.is_empty()) {
        let (tag, value) = f.split_at(1);
        match tag {
            "W" => w = Some(side(value, "width")?),
            "H" => h = Some(side(value, "height")?),
            "F" => {
                let (n, d) = value
                    .split_once(':')
                    .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
                    .filter(|&(n, d): &(u64, u64)| n > 0 && d > 0)
                    .ok_or_else(|| format!("frame rate F{value} is not NUM:DEN"))?;
                fps = (n, d);
            }
            "C" if !value.starts_with("420") => {
                return Err(format!(
                    "colour space C{value} is not 4:2:0 (convert with ffmpeg -pix_fmt yuv420p)"
                ))
            }
            _ => {}
        }
    }
    let w = w.ok_or("the header has no width (W)")?;
    let h = h.ok_or("the header has no height (H)")?;
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let size = w * h + 2 * cw * ch;
    let mut frames = Vec::new();
    let mut at = nl + 1;
    while at < data.len() {
        let rest = &data[at..];
        if !rest.starts_with(b"FRAME") {
            return Err(format!(
                "frame {}: no FRAME marker at byte {at}",
                frames.len()
            ));
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("frame {}: FRAME line without a newline", frames.len()))?;
        let body = &rest[end + 1..];
        if body.len() < size {
            return Err(format!(
                "frame {} is truncated: {} of {size} bytes",
                frames.len(),
                body.len()
            ));
        }
        let (y, u, v) = (
            &body[..w * h],
            &body[w * h..w * h + cw * ch],
            &body[w * h + cw * ch..size],
        );
        let mut uv = Vec::with_capacity(2 * cw * ch);
        for (a, b) in u.iter().zip(v) {
            uv.extend([*a, *b]);
        }
        let index = frames.len() as u64;
        let pts = i64::try_from(index.saturating_mul(fps.1))
            .ok()
            .zip(u32::try_from(fps.0).ok())
            .and_then(|(t, s)| MediaTime::new(t, s))
            .ok_or_else(|| format!("frame rate F{}:{} is out of range", fps.0, fps.1))?;
        frames.push(Nv12Frame {
            width: w as u32,
            height: h as u32,
            pts,
            index,
            y: y.to_vec(),
            y_stride: w,
            uv,
            uv_stride: 2 * cw,
        });
        at += end + 1 + size;
    }
    if frames.is_empty() {
        return Err("no frame".into());
    }
    Ok(frames)
}

fn side(value: &str, what: &str) -> Result<usize, String> {
    value
        .parse::<usize>()
        .ok()
        .filter(|v| (1..=MAX_SIDE).contains(v))
        .ok_or_else(|| format!("{what} {value:?} is not a number in 1..={MAX_SIDE}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(w: usize, h: usize, frames: usize, header_extra: &str) -> Vec<u8> {
        let mut d =
            format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg{header_extra}\n").into_bytes();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        for f in 0..frames {
            d.extend(b"FRAME\n");
            d.extend((0..w * h).map(|i| (i + f) as u8));
            d.extend(std::iter::repeat_n(100u8, cw * ch));
            d.extend(std::iter::repeat_n(200u8, cw * ch));
        }
        d
    }

    #[test]
    fn frames_become_nv12_with_interleaved_chroma() {
        let fr = parse_y4m(&file(5, 3, 2, " XCOLORRANGE=LIMITED")).unwrap();
        assert_eq!(fr.len(), 2);
        let f = &fr[1];
        assert_eq!((f.width, f.height, f.y_stride, f.uv_stride), (5, 3, 5, 6));
        f.validate().unwrap();
        assert_eq!(f.y[0], 1);
        assert_eq!(&f.uv[..4], &[100, 200, 100, 200]);
        assert_eq!(f.pts.as_secs_f64(), 0.1);
    }

    #[test]
    fn bad_files_are_errors_naming_the_value() {
        let e = parse_y4m(b"RIFF....").unwrap_err();
        assert!(e.contains("no header") || e.contains("YUV4MPEG2"), "{e}");
        let e = parse_y4m(&file(4, 4, 1, "").replace_header("C420jpeg", "C444")).unwrap_err();
        assert!(e.contains("C444"), "{e}");
        let e = parse_y4m(&file(4, 4, 1, "").replace_header("W4", "W0")).unwrap_err();
        assert!(e.contains("width \"0\""), "{e}");
        let mut d = file(4, 4, 1, "");
        d.truncate(d.len() - 3);
        let e = parse_y4m(&d).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        assert!(parse_y4m(b"YUV4MPEG2 W4 H4\n")
            .unwrap_err()
            .contains("no frame"));
    }

    trait ReplaceHeader {
        fn replace_header(self, from: &str, to: &str) -> Vec<u8>;
    }

    impl ReplaceHeader for Vec<u8> {
        fn replace_header(self, from: &str, to: &str) -> Vec<u8> {
            let nl = self.iter().position(|&b| b == b'\n').unwrap();
            let header = String::from_utf8(self[..nl].to_vec())
                .unwrap()
                .replace(from, to);
            let mut out = header.into_bytes();
            out.extend(&self[nl..]);
            out
        }
    }
}
