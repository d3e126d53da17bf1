//! Parameter sets seen on a camera's stream, tracked from the Annex B bytes of each access
//! unit, so that decoding starts only where it can (a mid-GOP RTSP join produces nothing, or
//! garbage, until an IDR with its SPS/PPS arrives) and a changed SPS (new resolution or
//! profile) is noticed.
//!
//! H.264 (ITU-T H.264 Table 7-1): SPS 7, PPS 8, IDR slice 5, AUD 9; one-byte NAL header,
//! `nal_unit_type = b0 & 0x1f`. H.265 (ITU-T H.265 Table 7-1): two-byte header,
//! `nal_unit_type = (b0 >> 1) & 0x3f`; VPS 32, SPS 33, PPS 34, AUD 35, IRAP pictures 16..=23.
//! Parameter sets may also arrive out of band in the SDP (`sprop-parameter-sets`, RFC 6184
//! §8.1; `sprop-vps/sps/pps`, RFC 7798 §7.1); [`ParameterSets::insert`] takes those.

use std::collections::BTreeMap;

use crate::h264::{self, annexb_nal_units, BitReader, START_CODE};
use crate::source::Codec;

const H265_VPS: u8 = 32;
const H265_SPS: u8 = 33;
const H265_PPS: u8 = 34;
const H265_AUD: u8 = 35;

/// A picture size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// What one access unit contained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuScan {
    pub has_vps: bool,
    pub has_sps: bool,
    pub has_pps: bool,
    /// An IDR (H.264) or IRAP (H.265) slice: decoding can start here.
    pub has_keyframe_slice: bool,
    /// Any slice (VCL NAL unit).
    pub has_picture: bool,
    /// An SPS (or VPS) whose bytes differ from the one stored under the same id.
    pub parameter_set_changed: bool,
}

/// The kind of a parameter-set NAL unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Vps,
    Sps,
    Pps,
}

/// The latest parameter sets of one stream, by kind and id.
#[derive(Debug, Clone)]
pub struct ParameterSets {
    codec: Codec,
    sets: BTreeMap<(Kind, u32), Vec<u8>>,
}

impl ParameterSets {
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            sets: BTreeMap::new(),
        }
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Forgets everything (a new session may come with new parameter sets).
    pub fn clear(&mut self) {
        self.sets.clear();
    }

    /// Switches codec, forgetting the parameter sets of the old one.
    pub fn set_codec(&mut self, codec: Codec) {
        if codec != self.codec {
            self.codec = codec;
            self.sets.clear();
        }
    }

    fn nal_type(&self, nal: &[u8]) -> Option<u8> {
        match self.codec {
            Codec::H264 => h264::nal_unit_type(nal),
            Codec::H265 => (nal.len() >= 2).then(|| (nal[0] >> 1) & 0x3f),
        }
    }

    fn classify(&self, nal: &[u8]) -> Option<(Kind, u32)> {
        let t = self.nal_type(nal)?;
        match self.codec {
            Codec::H264 => {
                let kind = match t {
                    h264::nal_type::SPS => Kind::Sps,
                    h264::nal_type::PPS => Kind::Pps,
                    _ => return None,
                };
                Some((kind, h264::parameter_set_id(nal).unwrap_or(0)))
            }
            Codec::H265 => {
                let payload = nal.get(2..).unwrap_or(&[]);
                match t {
                    // vps_video_parameter_set_id: the first 4 bits (H.265 §7.3.2.1).
                    H265_VPS => Some((Kind::Vps, payload.first().map_or(0, |b| u32::from(b >> 4)))),
                    // The SPS id sits behind profile_tier_level; cameras use one SPS.
                    H265_SPS => Some((Kind::Sps, 0)),
                    H265_PPS => {
                        let rbsp = h264::rbsp(payload, 8);
                        Some((Kind::Pps, BitReader::new(&rbsp).ue().unwrap_or(0)))
                    }
                    _ => None,
                }
            }
        }
    }

    fn is_keyframe_slice(&self, t: u8) -> bool {
        match self.codec {
            Codec::H264 => t == h264::nal_type::IDR,
            Codec::H265 => (16..=23).contains(&t),
        }
    }

    fn is_picture(&self, t: u8) -> bool {
        match self.codec {
            Codec::H264 => h264::is_vcl(t),
            Codec::H265 => t < 32,
        }
    }

    /// Stores one out-of-band parameter set NAL unit (no start code); returns whether it was
    /// a parameter set of this codec.
    pub fn insert(&mut self, nal: &[u8]) -> bool {
        let nal = h264::trim_trailing_zeros(nal);
        match self.classify(nal) {
            Some(key) => {
                self.sets.insert(key, nal.to_vec());
                true
            }
            None => false,
        }
    }

    /// Scans an Annex B access unit, storing the parameter sets it carries.
    pub fn observe(&mut self, annexb: &[u8]) -> AuScan {
        let mut scan = AuScan::default();
        for nal in annexb_nal_units(annexb) {
            let Some(t) = self.nal_type(nal) else {
                continue;
            };
            if self.is_picture(t) {
                scan.has_picture = true;
                if self.is_keyframe_slice(t) {
                    scan.has_keyframe_slice = true;
                }
                continue;
            }
            let Some(key) = self.classify(nal) else {
                continue;
            };
            match key.0 {
                Kind::Vps => scan.has_vps = true,
                Kind::Sps => scan.has_sps = true,
                Kind::Pps => scan.has_pps = true,
            }
            let old = self.sets.insert(key, nal.to_vec());
            if key.0 != Kind::Pps && old.is_some_and(|o| o != nal) {
                scan.parameter_set_changed = true;
            }
        }
        scan
    }

    /// Whether every parameter set decoding needs has been seen (SPS and PPS, plus VPS for
    /// H.265).
    pub fn complete(&self) -> bool {
        let has = |k: Kind| self.sets.keys().any(|(kind, _)| *kind == k);
        has(Kind::Sps) && has(Kind::Pps) && (self.codec == Codec::H264 || has(Kind::Vps))
    }

    /// The bytes that define the picture format (every VPS and SPS), to compare sessions.
    pub fn format_key(&self) -> Vec<u8> {
        let mut key = Vec::new();
        for ((kind, _), nal) in &self.sets {
            if *kind != Kind::Pps {
                key.extend_from_slice(&START_CODE);
                key.extend_from_slice(nal);
            }
        }
        key
    }

    /// The picture size from the SPS, where this crate can parse it (H.264 only).
    pub fn resolution(&self) -> Option<Resolution> {
        if self.codec != Codec::H264 {
            return None;
        }
        self.sets
            .iter()
            .find(|((kind, _), _)| *kind == Kind::Sps)
            .and_then(|(_, nal)| h264::parse_sps(nal))
            .map(|s| Resolution {
                width: s.width,
                height: s.height,
            })
    }

    /// `annexb` with every stored parameter set written in front (after a leading access unit
    /// delimiter, which must stay first), for a keyframe whose access unit lacks them.
    pub fn prepend_to(&self, annexb: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(annexb.len() + 256);
        let nals = annexb_nal_units(annexb);
        let aud = match self.codec {
            Codec::H264 => h264::nal_type::AUD,
            Codec::H265 => H265_AUD,
        };
        let mut rest = &nals[..];
        if let Some((first, tail)) = nals.split_first() {
            if self.nal_type(first) == Some(aud) {
                out.extend_from_slice(&START_CODE);
                out.extend_from_slice(first);
                rest = tail;
            }
        }
        for nal in self.sets.values() {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        for nal in rest {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&START_CODE);
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn h264_sets_keyframes_and_changes() {
        let mut p = ParameterSets::new(Codec::H264);
        let s = p.observe(&annexb(&[&[0x41, 0x9a]]));
        assert!(s.has_picture && !s.has_keyframe_slice && !p.complete());
        let s = p.observe(&annexb(&[
            &[0x67, 0x42, 0xc0, 0x1e, 0x80],
            &[0x68, 0xce],
            &[0x65, 0x88],
        ]));
        assert!(s.has_sps && s.has_pps && s.has_keyframe_slice && !s.parameter_set_changed);
        assert!(p.complete());
        // Same SPS again: no change; another SPS with the same id: a change.
        assert!(
            !p.observe(&annexb(&[&[0x67, 0x42, 0xc0, 0x1e, 0x80]]))
                .parameter_set_changed
        );
        assert!(
            p.observe(&annexb(&[&[0x67, 0x4d, 0xc0, 0x1e, 0x80]]))
                .parameter_set_changed
        );
        p.clear();
        assert!(!p.complete());
    }

    #[test]
    fn h265_needs_vps_sps_pps_and_an_irap() {
        let mut p = ParameterSets::new(Codec::H265);
        // VPS (32<<1 = 0x40), SPS (0x42), PPS (0x44), IDR_W_RADL (19<<1 = 0x26), TRAIL_R (0x02).
        let s = p.observe(&annexb(&[
            &[0x42, 0x01, 0x01],
            &[0x44, 0x01, 0xc0],
            &[0x02, 0x01, 0xd0],
        ]));
        assert!(s.has_sps && s.has_pps && s.has_picture && !s.has_keyframe_slice);
        assert!(!p.complete(), "no VPS yet");
        let s = p.observe(&annexb(&[&[0x40, 0x01, 0x0c], &[0x26, 0x01, 0xaf]]));
        assert!(s.has_vps && s.has_keyframe_slice);
        assert!(p.complete());
        assert_eq!(p.resolution(), None);
    }

    #[test]
    fn prepend_keeps_the_aud_first() {
        let mut p = ParameterSets::new(Codec::H264);
        assert!(p.insert(&[0x67, 1, 2]));
        assert!(p.insert(&[0x68, 3]));
        assert!(!p.insert(&[0x65, 3]));
        let out = p.prepend_to(&annexb(&[&[0x09, 0xf0], &[0x65, 0x88]]));
        assert_eq!(
            out,
            annexb(&[&[0x09, 0xf0], &[0x67, 1, 2], &[0x68, 3], &[0x65, 0x88]])
        );
    }
}
