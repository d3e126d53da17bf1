//! H.265 / HEVC bitstream helpers: NAL unit types, the access unit boundary rule, `hvcC`
//! (length-prefixed) samples to Annex B, and just enough sequence parameter set parsing to learn
//! the picture size.
//!
//! References: ITU-T H.265 (V8, 08/2021) §7.3.1.2 (the two-byte NAL unit header:
//! `forbidden_zero_bit`, `nal_unit_type` (6 bits), `nuh_layer_id` (6), `nuh_temporal_id_plus1`
//! (3)), Table 7-1 (NAL unit types: VCL 0..=31, IRAP 16..=23, VPS 32, SPS 33, PPS 34, AUD 35,
//! prefix SEI 39), §7.3.2.2 (SPS syntax), §7.3.3 (`profile_tier_level`), §7.4.2.4.4 (order of
//! NAL units and the first NAL unit of an access unit), §7.3.6.1 (`first_slice_segment_in_pic_flag`
//! is the first bit of a slice segment header), Annex B (byte stream format, shared with H.264);
//! ISO/IEC 14496-15 §8.3.3 (`HEVCDecoderConfigurationRecord`, i.e. `hvcC`).
//!
//! Nothing here trusts its input: every read is bounds-checked and malformed data yields `None`
//! or an error, never a panic.

use crate::h264::{annexb_nal_units, rbsp, AvccError, BitReader};

/// NAL unit types used here (H.265 Table 7-1).
pub mod nal_type {
    /// First IRAP type (BLA_W_LP).
    pub const BLA_W_LP: u8 = 16;
    /// IDR picture with leading pictures.
    pub const IDR_W_RADL: u8 = 19;
    /// IDR picture without leading pictures.
    pub const IDR_N_LP: u8 = 20;
    /// Clean random access picture.
    pub const CRA_NUT: u8 = 21;
    /// Last (reserved) IRAP type.
    pub const RSV_IRAP_23: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
    /// Access unit delimiter.
    pub const AUD: u8 = 35;
    /// End of sequence.
    pub const EOS: u8 = 36;
    /// Prefix supplemental enhancement information.
    pub const PREFIX_SEI: u8 = 39;
    /// Suffix supplemental enhancement information.
    pub const SUFFIX_SEI: u8 = 40;
}

/// `nal_unit_type` of a NAL unit (bits 1..=6 of its two-byte header); `None` when the unit is
/// shorter than its header.
#[inline]
pub fn nal_unit_type(nal: &[u8]) -> Option<u8> {
    match nal {
        [b0, _, ..] => Some((b0 >> 1) & 0x3f),
        _ => None,
    }
}

/// Whether a NAL unit type is a coded slice segment (VCL, types 0 to 31).
#[inline]
pub fn is_vcl(t: u8) -> bool {
    t <= 31
}

/// Whether a NAL unit type is an intra random access point picture (types 16 to 23: BLA, IDR,
/// CRA), where decoding can start.
#[inline]
pub fn is_irap(t: u8) -> bool {
    (nal_type::BLA_W_LP..=nal_type::RSV_IRAP_23).contains(&t)
}

/// Whether a NAL unit of this type, seen after a VCL NAL unit, starts a new access unit
/// (H.265 §7.4.2.4.4: AUD, VPS, SPS, PPS, prefix SEI, types 41 to 44 and 48 to 55).
#[inline]
pub fn starts_new_au_after_vcl(t: u8) -> bool {
    matches!(t, 32..=35 | 39 | 41..=44 | 48..=55)
}

/// `first_slice_segment_in_pic_flag` of a VCL NAL unit: the first bit after the two-byte header
/// (H.265 §7.3.6.1). `None` when the unit is too short.
#[inline]
pub fn first_slice_segment_in_pic(nal: &[u8]) -> Option<bool> {
    nal.get(2).map(|b| b & 0x80 != 0)
}

/// Whether an Annex B access unit contains at least one VCL NAL unit (i.e. a picture).
pub fn annexb_has_vcl(data: &[u8]) -> bool {
    annexb_nal_units(data)
        .iter()
        .any(|n| nal_unit_type(n).is_some_and(is_vcl))
}

/// Whether the first NAL unit of a raw stream looks like H.265 rather than H.264: a two-byte
/// header with `forbidden_zero_bit` 0, `nuh_layer_id` 0 and `nuh_temporal_id_plus1` 1, of a
/// type a stream starts with (VPS, SPS, PPS, AUD, prefix SEI, or an IRAP slice). In H.264 these
/// byte pairs would be reserved types, SEI with a non-zero `nal_ref_idc`, or unlikely headers.
pub fn looks_like_stream_start(nal: &[u8]) -> bool {
    let [b0, b1, ..] = nal else { return false };
    let t = (b0 >> 1) & 0x3f;
    b0 & 0x81 == 0
        && *b1 == 0x01
        && (matches!(t, 32..=35 | 39) || (nal_type::BLA_W_LP..=nal_type::CRA_NUT).contains(&t))
}

/// Largest picture side accepted from an SPS: `sqrt(8 * MaxLumaPs)` for level 6.2 (H.265
/// Table A.8, §A.4.1).
const MAX_SIDE: u32 = 16_888;

/// The fields of an H.265 sequence parameter set this crate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub vps_id: u32,
    pub sps_id: u32,
    /// `general_profile_idc` (1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions).
    pub profile_idc: u8,
    /// `general_level_idc` (30 x the level number).
    pub level_idc: u8,
    /// 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u32,
    pub bit_depth_luma: u32,
    pub bit_depth_chroma: u32,
    /// Coded size (`pic_width_in_luma_samples`, `pic_height_in_luma_samples`).
    pub coded_width: u32,
    pub coded_height: u32,
    /// Displayed size: the coded size less the conformance window.
    pub width: u32,
    pub height: u32,
}

/// Skips `profile_tier_level(1, max_sub_layers_minus1)` (H.265 §7.3.3), returning
/// (`general_profile_idc`, `general_level_idc`).
fn profile_tier_level(r: &mut BitReader<'_>, max_sub_layers_minus1: u32) -> Option<(u8, u8)> {
    r.bits(2)?; // general_profile_space
    r.bit()?; // general_tier_flag
    let profile_idc = r.bits(5)? as u8;
    r.bits(32)?; // general_profile_compatibility_flag[32]
    r.bits(4)?; // progressive, interlaced, non_packed, frame_only
    r.bits(32)?; // 43 reserved / constraint bits ...
    r.bits(11)?;
    r.bit()?; // ... and general_inbld_flag / reserved
    let level_idc = r.bits(8)? as u8;
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(max_sub_layers_minus1 as usize) {
        *p = (r.bit()? == 1, r.bit()? == 1);
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.bits(2)?; // reserved_zero_2bits
        }
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1 as usize) {
        if profile {
            // sub_layer profile space .. inbld flag: 2 + 1 + 5 + 32 + 4 + 43 + 1 = 88 bits.
            r.bits(32)?;
            r.bits(32)?;
            r.bits(24)?;
        }
        if level {
            r.bits(8)?;
        }
    }
    Some((profile_idc, level_idc))
}

/// Parses the start of an SPS NAL unit (header included) up to the bit depths (H.265
/// §7.3.2.2.1). `None` for anything malformed or out of range.
pub fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    if nal_unit_type(nal)? != nal_type::SPS {
        return None;
    }
    let rbsp = rbsp(nal.get(2..)?, 256);
    let mut r = BitReader::new(&rbsp);
    let vps_id = r.bits(4)?;
    let max_sub_layers_minus1 = r.bits(3)?;
    if max_sub_layers_minus1 > 6 {
        return None;
    }
    r.bit()?; // sps_temporal_id_nesting_flag
    let (profile_idc, level_idc) = profile_tier_level(&mut r, max_sub_layers_minus1)?;
    let sps_id = r.ue()?;
    if sps_id > 15 {
        return None;
    }
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return None;
    }
    let separate_colour_planes = chroma_format_idc == 3 && r.bit()? == 1;
    let coded_width = r.ue()?;
    let coded_height = r.ue()?;
    if coded_width == 0 || coded_height == 0 || coded_width > MAX_SIDE || coded_height > MAX_SIDE {
        return None;
    }
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
    }
    let bit_depth_luma = r.ue()?.checked_add(8)?;
    let bit_depth_chroma = r.ue()?.checked_add(8)?;
    if bit_depth_luma > 16 || bit_depth_chroma > 16 {
        return None;
    }
    // Conformance window offsets are in chroma samples (H.265 Table 6-1, eq. 7-1 / 7-2).
    let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_planes) {
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    };
    let crop_w = left.checked_add(right)?.checked_mul(sub_w)?;
    let crop_h = top.checked_add(bottom)?.checked_mul(sub_h)?;
    let width = coded_width.checked_sub(crop_w).filter(|&w| w > 0)?;
    let height = coded_height.checked_sub(crop_h).filter(|&h| h > 0)?;
    Some(SpsInfo {
        vps_id,
        sps_id,
        profile_idc,
        level_idc,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        coded_width,
        coded_height,
        width,
        height,
    })
}

/// The id of a VPS (`vps_video_parameter_set_id`, 4 bits), SPS (`sps_seq_parameter_set_id`) or
/// PPS (`pps_pic_parameter_set_id`) NAL unit; `None` for other types or malformed units.
pub fn parameter_set_id(nal: &[u8]) -> Option<u32> {
    match nal_unit_type(nal)? {
        nal_type::VPS => Some(u32::from(nal.get(2)? >> 4)),
        nal_type::SPS => parse_sps(nal).map(|s| s.sps_id),
        nal_type::PPS => {
            let rbsp = rbsp(nal.get(2..)?, 8);
            BitReader::new(&rbsp).ue().filter(|&id| id <= 63)
        }
        _ => None,
    }
}

/// Converts one MP4 sample of an `hvc1` / `hev1` track (NAL units each preceded by a big-endian
/// length of `length_size` bytes, ISO/IEC 14496-15 §8.3.2) to Annex B, appending to `out`.
///
/// When `parameter_sets` is given (sync samples), those NAL units (VPS, SPS, PPS, from the
/// `hvcC`) are written first, after a leading access unit delimiter if the sample has one
/// (H.265 §7.4.2.4.4). Zero-length NAL units are skipped.
pub fn hvcc_to_annexb(
    sample: &[u8],
    length_size: u8,
    parameter_sets: Option<&[Vec<u8>]>,
    out: &mut Vec<u8>,
) -> Result<(), AvccError> {
    crate::h264::length_prefixed_to_annexb(
        sample,
        length_size,
        "hvcC",
        parameter_sets,
        |nal| nal_unit_type(nal) == Some(nal_type::AUD),
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPS of `vtest_h265.mp4` (x265, Main, 768x576): header 42 01, then the RBSP.
    fn sps_768x576() -> Vec<u8> {
        // Built bit by bit so that the test documents the syntax.
        let mut w = BitWriter::default();
        w.put(4, 0); // vps id
        w.put(3, 0); // max_sub_layers_minus1
        w.put(1, 1); // temporal_id_nesting
        w.put(2, 0);
        w.put(1, 0);
        w.put(5, 1); // Main
        w.put(32, 0x6000_0000);
        w.put(4, 0b1001);
        w.put(32, 0);
        w.put(11, 0);
        w.put(1, 0);
        w.put(8, 93); // level 3.1
        w.ue(0); // sps id
        w.ue(1); // 4:2:0
        w.ue(768);
        w.ue(576);
        w.put(1, 0); // no conformance window
        w.ue(0);
        w.ue(0);
        w.put(1, 1);
        let mut nal = vec![0x42, 0x01];
        nal.extend(w.finish());
        nal
    }

    #[derive(Default)]
    struct BitWriter {
        bits: Vec<u8>,
    }

    impl BitWriter {
        fn put(&mut self, n: u32, v: u32) {
            for i in (0..n).rev() {
                self.bits.push((v.checked_shr(i).unwrap_or(0) & 1) as u8);
            }
        }
        fn ue(&mut self, v: u32) {
            let x = v + 1;
            let len = 32 - x.leading_zeros();
            self.put(len - 1, 0);
            self.put(len, x);
        }
        fn finish(mut self) -> Vec<u8> {
            while !self.bits.len().is_multiple_of(8) {
                self.bits.push(0);
            }
            self.bits
                .chunks(8)
                .map(|c| c.iter().fold(0u8, |a, &b| (a << 1) | b))
                .collect()
        }
    }

    #[test]
    fn parses_sps_size_and_cropping() {
        let sps = parse_sps(&sps_768x576()).unwrap();
        assert_eq!((sps.width, sps.height), (768, 576));
        assert_eq!((sps.profile_idc, sps.level_idc), (1, 93));
        assert_eq!((sps.chroma_format_idc, sps.bit_depth_luma), (1, 8));
        assert_eq!(parameter_set_id(&sps_768x576()), Some(0));

        // 1920x1088 coded, cropped by 4 chroma rows at the bottom -> 1080.
        let mut w = BitWriter::default();
        w.put(8, 0b0000_0001);
        w.put(96, 0);
        w.ue(3);
        w.ue(1);
        w.ue(1920);
        w.ue(1088);
        w.put(1, 1);
        w.ue(0);
        w.ue(0);
        w.ue(0);
        w.ue(4);
        w.ue(2);
        w.ue(2);
        let mut nal = vec![0x42, 0x01];
        nal.extend(w.finish());
        let sps = parse_sps(&nal).unwrap();
        assert_eq!((sps.coded_width, sps.coded_height), (1920, 1088));
        assert_eq!((sps.width, sps.height, sps.sps_id), (1920, 1080, 3));
        assert_eq!(sps.bit_depth_luma, 10);

        // Every truncation is None, never a panic.
        let full = sps_768x576();
        for n in 0..full.len() - 1 {
            assert!(parse_sps(&full[..n]).is_none(), "prefix {n}");
        }
        assert!(parse_sps(&[0x40, 0x01, 0xff]).is_none());
    }

    #[test]
    fn nal_header_and_boundaries() {
        assert_eq!(nal_unit_type(&[0x40, 0x01]), Some(nal_type::VPS));
        assert_eq!(
            nal_unit_type(&[0x26, 0x01, 0xaf]),
            Some(nal_type::IDR_W_RADL)
        );
        assert_eq!(nal_unit_type(&[0x26]), None);
        assert!(is_irap(19) && is_irap(21) && !is_irap(1) && !is_irap(32));
        assert_eq!(first_slice_segment_in_pic(&[0x02, 0x01, 0xd0]), Some(true));
        assert_eq!(first_slice_segment_in_pic(&[0x02, 0x01, 0x50]), Some(false));
        assert!(looks_like_stream_start(&[0x40, 0x01, 0x0c]));
        assert!(looks_like_stream_start(&[0x46, 0x01, 0x50]));
        assert!(!looks_like_stream_start(&[0x67, 0x42, 0x00]));
        assert!(!looks_like_stream_start(&[0x09, 0xf0]));
        assert!(annexb_has_vcl(&[
            0, 0, 0, 1, 0x40, 0x01, 0, 0, 1, 0x26, 0x01, 0xaf
        ]));
        assert!(!annexb_has_vcl(&[0, 0, 0, 1, 0x40, 0x01, 0x0c]));
    }

    #[test]
    fn hvcc_samples_become_annexb_with_parameter_sets_after_the_aud() {
        let sample = [0, 0, 0, 3, 0x46, 0x01, 0x50, 0, 0, 0, 3, 0x26, 0x01, 0xaf];
        let ps = vec![vec![0x40, 0x01], vec![0x42, 0x01], vec![0x44, 0x01]];
        let mut out = Vec::new();
        hvcc_to_annexb(&sample, 4, Some(&ps), &mut out).unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 0, 1, 0x40, 0x01, 0, 0, 0, 1, 0x42, 0x01, 0, 0,
                0, 1, 0x44, 0x01, 0, 0, 0, 1, 0x26, 0x01, 0xaf
            ]
        );
        let mut out = Vec::new();
        assert!(hvcc_to_annexb(&[0, 0, 0, 9, 1], 4, None, &mut out).is_err());
        assert!(hvcc_to_annexb(&[0, 0], 4, None, &mut out).is_err());
        assert!(hvcc_to_annexb(&[1], 3, None, &mut out).is_err());
    }
}
