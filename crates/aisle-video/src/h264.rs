//! H.264 bitstream helpers: NAL unit types, Annex B start codes, AVCC (length-prefixed) to
//! Annex B conversion, Exp-Golomb reading and just enough sequence parameter set parsing to learn
//! the picture size.
//!
//! References: ITU-T H.264 (08/2021) §7.3.1 (NAL unit syntax, `nal_unit_type` in Table 7-1),
//! §7.3.2.1.1 (SPS syntax), §7.4.1.2.3 (order of NAL units and start of an access unit),
//! §9.1 (Exp-Golomb codes), Annex B (byte stream format, start codes `00 00 01` /
//! `00 00 00 01`); ISO/IEC 14496-15 §5.3.2 (`AVCDecoderConfigurationRecord`, i.e. `avcC`, with
//! `lengthSizeMinusOne`) and §5.3.3 (samples as length-prefixed NAL units).
//!
//! Nothing here trusts its input: every read is bounds-checked and malformed data yields `None`
//! or an error, never a panic.

/// The 4-byte Annex B start code written before every NAL unit this crate emits.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// NAL unit types used here (H.264 Table 7-1).
pub mod nal_type {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: u8 = 1;
    /// Coded slice data partition A.
    pub const SLICE_DPA: u8 = 2;
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// `nal_unit_type` of a NAL unit (the low 5 bits of its first byte); `None` for an empty unit.
#[inline]
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// Whether a NAL unit type carries slice data of the primary coded picture (VCL, types 1 to 5).
#[inline]
pub fn is_vcl(t: u8) -> bool {
    (1..=5).contains(&t)
}

/// Whether a NAL unit of this type, seen after a VCL NAL unit, starts a new access unit
/// (H.264 §7.4.1.2.3: AUD, SPS, PPS, SEI, types 14 to 18).
#[inline]
pub fn starts_new_au_after_vcl(t: u8) -> bool {
    matches!(t, 6..=9 | 14..=18)
}

/// Splits an Annex B byte string into its NAL units (without start codes, trailing zero bytes
/// removed). Bytes before the first start code are ignored.
pub fn annexb_nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 2 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                out.push(trim_trailing_zeros(&data[s..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        if s <= data.len() {
            out.push(trim_trailing_zeros(&data[s..]));
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

/// Removes trailing zero bytes (`trailing_zero_8bits` and the leading zero of a following 4-byte
/// start code; a NAL unit never ends in a zero byte).
pub fn trim_trailing_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    &nal[..end]
}

/// Whether an Annex B access unit contains at least one VCL NAL unit (i.e. a picture).
pub fn annexb_has_vcl(data: &[u8]) -> bool {
    annexb_nal_units(data)
        .iter()
        .any(|n| nal_unit_type(n).is_some_and(is_vcl))
}

/// Why a length-prefixed sample could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvccError {
    /// Byte offset inside the sample where the problem is.
    pub offset: usize,
    pub detail: String,
}

/// Converts one MP4 sample (NAL units each preceded by a big-endian length of `length_size`
/// bytes, ISO/IEC 14496-15 §5.3.3) to Annex B, appending to `out`.
///
/// When `parameter_sets` is given (sync samples), those NAL units (SPS then PPS, from the
/// `avcC`) are written first — after a leading access unit delimiter if the sample has one, as
/// H.264 §7.4.1.2.3 orders them. Zero-length NAL units are skipped.
pub fn avcc_to_annexb(
    sample: &[u8],
    length_size: u8,
    parameter_sets: Option<&[Vec<u8>]>,
    out: &mut Vec<u8>,
) -> Result<(), AvccError> {
    length_prefixed_to_annexb(
        sample,
        length_size,
        "avcC",
        parameter_sets,
        |nal| nal_unit_type(nal) == Some(nal_type::AUD),
        out,
    )
}

/// The conversion shared by H.264 ([`avcc_to_annexb`]) and H.265
/// ([`crate::h265::hvcc_to_annexb`]): they differ only in how an access unit delimiter is
/// recognised (`is_aud`). `config_box` names the sample entry's configuration box in errors.
pub(crate) fn length_prefixed_to_annexb(
    sample: &[u8],
    length_size: u8,
    config_box: &str,
    parameter_sets: Option<&[Vec<u8>]>,
    is_aud: fn(&[u8]) -> bool,
    out: &mut Vec<u8>,
) -> Result<(), AvccError> {
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(AvccError {
            offset: 0,
            detail: format!(
                "invalid NAL length size {length_size} in {config_box} (must be 1, 2 or 4)"
            ),
        });
    }
    let ls = usize::from(length_size);
    let mut nals: Vec<&[u8]> = Vec::new();
    let mut pos = 0usize;
    while pos < sample.len() {
        let Some(prefix) = sample.get(pos..pos + ls) else {
            return Err(AvccError {
                offset: pos,
                detail: format!(
                    "{} trailing bytes cannot hold a {ls}-byte NAL length prefix",
                    sample.len() - pos
                ),
            });
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let body_start = pos + ls;
        let Some(nal) = body_start
            .checked_add(len)
            .and_then(|end| sample.get(body_start..end))
        else {
            return Err(AvccError {
                offset: pos,
                detail: format!(
                    "NAL unit length {len} exceeds the {} bytes left in the sample (bad length prefix)",
                    sample.len() - body_start
                ),
            });
        };
        if !nal.is_empty() {
            nals.push(nal);
        }
        pos = body_start + len;
    }

    let param_total: usize = parameter_sets
        .unwrap_or(&[])
        .iter()
        .map(|p| p.len() + 4)
        .sum();
    out.reserve(sample.len() + param_total + 4 * nals.len());
    let mut rest = &nals[..];
    if let Some(ps) = parameter_sets {
        if let Some((first, tail)) = nals.split_first() {
            if is_aud(first) {
                out.extend_from_slice(&START_CODE);
                out.extend_from_slice(first);
                rest = tail;
            }
        }
        for p in ps.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(p);
        }
    }
    for nal in rest {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
    Ok(())
}

/// The RBSP of a NAL unit payload (emulation prevention bytes `00 00 03` → `00 00` removed),
/// at most `max` bytes of it. `payload` excludes the NAL header byte.
pub fn rbsp(payload: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len().min(max));
    let mut zeros = 0usize;
    for &b in payload {
        if out.len() >= max {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// An MSB-first bit reader over RBSP bytes with Exp-Golomb decoding (H.264 §9.1).
pub struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    pub fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.bit / 8)?;
        let v = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Some(u32::from(v))
    }

    pub fn bits(&mut self, n: u32) -> Option<u32> {
        debug_assert!(n <= 32);
        let mut v: u32 = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }

    /// `ue(v)`; `None` past the end or for codes longer than 32 bits.
    pub fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0u32;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        // 2^zeros - 1 + rest, computed in u64 because zeros may be 31.
        u32::try_from((1u64 << zeros) - 1 + u64::from(rest)).ok()
    }

    /// `se(v)`.
    pub fn se(&mut self) -> Option<i32> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).ok()
    }
}

/// `first_mb_in_slice` of a slice NAL unit (types 1, 2, 5): the `ue(v)` right after the NAL
/// header (H.264 §7.3.3). `None` when the NAL unit is too short or malformed.
pub fn first_mb_in_slice(nal: &[u8]) -> Option<u32> {
    let payload = nal.get(1..)?;
    let rbsp = rbsp(payload, 16);
    BitReader::new(&rbsp).ue()
}

/// The fields of a sequence parameter set this crate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub level_idc: u8,
    pub sps_id: u32,
    /// Displayed (cropped) width in pixels.
    pub width: u32,
    /// Displayed (cropped) height in pixels.
    pub height: u32,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u32,
    pub bit_depth_luma: u32,
    pub bit_depth_chroma: u32,
    /// `frame_mbs_only_flag`: false for interlaced (field / MBAFF) coding.
    pub frame_mbs_only: bool,
}

/// `seq_parameter_set_id` of an SPS NAL unit, `pic_parameter_set_id` of a PPS NAL unit.
pub fn parameter_set_id(nal: &[u8]) -> Option<u32> {
    let payload = nal.get(1..)?;
    let rbsp = rbsp(payload, 16);
    let mut r = BitReader::new(&rbsp);
    match nal_unit_type(nal)? {
        nal_type::SPS => {
            r.bits(24)?;
            r.ue()
        }
        nal_type::PPS => r.ue(),
        _ => None,
    }
}

/// Parses an SPS NAL unit (with its header byte) far enough to get the cropped picture size
/// (H.264 §7.3.2.1.1, §7.4.2.1.1 for the cropping rectangle). `None` if it is malformed.
pub fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    if nal_unit_type(nal)? != nal_type::SPS {
        return None;
    }
    let rbsp = rbsp(nal.get(1..)?, 4096);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)? as u8;
    r.bits(8)?; // constraint_set flags + reserved
    let level_idc = r.bits(8)? as u8;
    let sps_id = r.ue()?;
    if sps_id > 31 {
        return None;
    }
    let mut chroma_format_idc = 1u32;
    let mut separate_colour_plane = false;
    let (mut bit_depth_luma, mut bit_depth_chroma) = (8u32, 8u32);
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return None;
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()? == 1;
        }
        bit_depth_luma = r.ue()?.checked_add(8)?;
        bit_depth_chroma = r.ue()?.checked_add(8)?;
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            let delta = r.se()?;
                            next = (last + delta).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    let poc_type = r.ue()?;
    match poc_type {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        crop_l = u64::from(r.ue()?);
        crop_r = u64::from(r.ue()?);
        crop_t = u64::from(r.ue()?);
        crop_b = u64::from(r.ue()?);
    }
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (crop_unit_x, crop_unit_y) = if chroma_array_type == 0 {
        (1, 2 - frame_mbs_only)
    } else {
        (sub_w, sub_h * (2 - frame_mbs_only))
    };
    let full_w = width_mbs * 16;
    let full_h = (2 - frame_mbs_only) * height_map_units * 16;
    let width = full_w.checked_sub(crop_unit_x * (crop_l + crop_r))?;
    let height = full_h.checked_sub(crop_unit_y * (crop_t + crop_b))?;
    if width == 0 || height == 0 {
        return None;
    }
    Some(SpsInfo {
        profile_idc,
        level_idc,
        sps_id,
        width: u32::try_from(width).ok()?,
        height: u32::try_from(height).ok()?,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        frame_mbs_only: frame_mbs_only == 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_with_4_byte_lengths_becomes_annexb_with_parameter_sets() {
        // Two NAL units: an IDR slice (0x65 ..) and an SEI (0x06 ..).
        let sample = [0, 0, 0, 3, 0x65, 0xaa, 0xbb, 0, 0, 0, 2, 0x06, 0x01];
        let ps = vec![vec![0x67, 1, 2], vec![0x68, 3]];
        let mut out = Vec::new();
        avcc_to_annexb(&sample, 4, Some(&ps), &mut out).unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0xaa, 0xbb, 0, 0, 0,
                1, 0x06, 0x01
            ]
        );
        // Without parameter sets (non-sync sample).
        out.clear();
        avcc_to_annexb(&sample, 4, None, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0xaa, 0xbb, 0, 0, 0, 1, 0x06, 0x01]);
    }

    #[test]
    fn avcc_parameter_sets_go_after_a_leading_aud() {
        let sample = [0, 2, 0x09, 0xf0, 0, 2, 0x65, 0x88];
        let ps = vec![vec![0x67, 7], vec![0x68, 8]];
        let mut out = Vec::new();
        avcc_to_annexb(&sample, 2, Some(&ps), &mut out).unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 7, 0, 0, 0, 1, 0x68, 8, 0, 0, 0, 1, 0x65,
                0x88
            ]
        );
    }

    #[test]
    fn avcc_one_byte_lengths_and_zero_length_units() {
        let sample = [0, 2, 0x41, 0x9a];
        let mut out = Vec::new();
        avcc_to_annexb(&sample, 1, None, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x41, 0x9a]);
    }

    #[test]
    fn avcc_errors_point_at_the_bad_prefix() {
        let mut out = Vec::new();
        // Length 9 but only 2 bytes follow.
        let err =
            avcc_to_annexb(&[0, 0, 0, 1, 0x65, 0, 0, 0, 9, 1, 2], 4, None, &mut out).unwrap_err();
        assert_eq!(err.offset, 5);
        assert!(err.detail.contains("exceeds"), "{}", err.detail);
        // Dangling partial prefix.
        let err = avcc_to_annexb(&[0, 0, 0, 1, 0x65, 0, 0], 4, None, &mut out).unwrap_err();
        assert_eq!(err.offset, 5);
        // Huge length on a 32-bit-ish prefix must not overflow.
        let err = avcc_to_annexb(&[0xff, 0xff, 0xff, 0xff, 1], 4, None, &mut out).unwrap_err();
        assert_eq!(err.offset, 0);
        // ISO/IEC 14496-15 allows 1, 2 or 4-byte lengths only.
        out.clear();
        avcc_to_annexb(&[0, 2, 0x41, 0x9a], 2, None, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x41, 0x9a]);
        let err = avcc_to_annexb(&[0, 0, 2, 0x41, 0x9a], 3, None, &mut out).unwrap_err();
        assert!(err.detail.contains("avcC"), "{}", err.detail);
        assert!(avcc_to_annexb(&[1, 2], 0, None, &mut out).is_err());
        assert!(avcc_to_annexb(&[1, 2], 5, None, &mut out).is_err());
    }

    #[test]
    fn annexb_units_split_on_3_and_4_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 0, 1, 0x65, 3, 0, 0,
        ];
        let units = annexb_nal_units(&data);
        assert_eq!(units, vec![&[0x67, 1][..], &[0x68, 2], &[0x65, 3]]);
        assert!(annexb_has_vcl(&data));
        assert!(!annexb_has_vcl(&[0, 0, 1, 0x67, 1]));
        assert!(annexb_nal_units(&[1, 2, 3]).is_empty());
        assert!(annexb_nal_units(&[0, 0, 1]).is_empty());
    }

    #[test]
    fn exp_golomb_and_first_mb() {
        // Bits: 1 | 010 | 011 | 00100 → ue 0, 1, 2, 3
        let data = [0b1010_0110, 0b0100_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.ue(), Some(2));
        assert_eq!(r.ue(), Some(3));
        assert_eq!(BitReader::new(&[0, 0, 0, 0, 0]).ue(), None);
        // se: codes 1,2,3 → +1, -1, +2
        let mut r = BitReader::new(&[0b0100_1100, 0b1000_0000]);
        assert_eq!(r.se(), Some(1));
        assert_eq!(r.se(), Some(-1));
        assert_eq!(r.se(), Some(2));
        assert_eq!(first_mb_in_slice(&[0x65, 0x88, 0x84]), Some(0));
        assert_eq!(first_mb_in_slice(&[0x41, 0x5a]), Some(1)); // 010 → 1
        assert_eq!(first_mb_in_slice(&[0x41]), None);
        // An emulation prevention byte inside the ue(v) is skipped: 00 00 [03] 01 ff ff ff is
        // 23 zero bits, a one, then 23 one bits: 2^23 - 1 + 2^23 - 1.
        assert_eq!(
            first_mb_in_slice(&[0x41, 0x00, 0x00, 0x03, 0x01, 0xff, 0xff, 0xff]),
            Some((1 << 24) - 2)
        );
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3], 10), vec![0, 0, 1, 0, 0]);
    }

    #[test]
    fn sps_sizes_with_and_without_cropping() {
        // SPS NAL units written by x264 (ffmpeg testsrc).
        let sps_1080_high = [
            0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00,
            0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x50, 0x3c, 0x60, 0xc6, 0x58,
        ];
        let sps_322x242_baseline = [
            0x67, 0x42, 0xc0, 0x0c, 0xd9, 0x01, 0x50, 0x87, 0x88, 0x88, 0xc0, 0x44, 0x00, 0x00,
            0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x50, 0x3c, 0x50, 0xa9, 0x20,
        ];
        let sps_320x240_baseline = [
            0x67, 0x42, 0xc0, 0x0b, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
            0x10, 0x00, 0x00, 0x03, 0x01, 0x40, 0xf1, 0x42, 0xa4, 0x80,
        ];
        let info = parse_sps(&sps_1080_high).unwrap();
        assert_eq!(
            (info.width, info.height, info.profile_idc),
            (1920, 1080, 100)
        );
        assert_eq!(
            (
                info.chroma_format_idc,
                info.bit_depth_luma,
                info.frame_mbs_only
            ),
            (1, 8, true)
        );
        let info = parse_sps(&sps_322x242_baseline).unwrap();
        assert_eq!((info.width, info.height, info.profile_idc), (322, 242, 66));
        let info = parse_sps(&sps_320x240_baseline).unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(parameter_set_id(&sps_1080_high), Some(0));
        assert_eq!(parameter_set_id(&[0x68, 0xcb, 0x83, 0xcb, 0x20]), Some(0));
        // Truncated or wrong-type units are rejected, never a panic.
        for cut in 0..sps_1080_high.len() {
            let parsed = parse_sps(&sps_1080_high[..cut]);
            if cut < 8 {
                assert!(parsed.is_none(), "cut at {cut}");
            }
        }
        assert!(parse_sps(&[0x68, 0xce, 0x3c, 0x80]).is_none());
    }
}
