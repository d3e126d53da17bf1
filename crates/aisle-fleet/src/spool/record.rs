//! The on-disk format of spool segments: encoding one record, and scanning a segment's bytes into
//! good records, corrupt regions and a torn tail. Pure functions on byte slices; no I/O.
//!
//! ```text
//! segment  = SEGMENT_MAGIC (8 bytes: "AISPOOL" + format version 0x01) record*
//! record   = magic u32 | body_len u32 | crc u32 | body          (little-endian)
//! magic    = FF A1 5E 0D   (0xFF never occurs in UTF-8, so never in a JSON payload)
//! crc      = CRC-32 (IEEE) of the 4 body_len bytes followed by the body
//! body     = kind u8 | seq u64 | rest
//!   kind 1 (entry): rest = topic_len u16 | topic (UTF-8) | payload
//!   kind 2 (ack):   rest = empty; `seq` is the acknowledged entry
//! ```
//!
//! A record is good only if its magic, length, checksum and structure all hold. A scan that meets
//! a bad record looks for the next offset where a good record starts (a magic followed by a
//! record whose checksum holds) and reports the bytes in between as one corrupt region; with no
//! good record after it, the rest of the segment is the tail. A false resynchronisation needs a
//! forged magic *and* a matching CRC-32 inside a payload: impossible for UTF-8 payloads (the
//! magic's 0xFF), about 2^-32 per candidate for arbitrary bytes.

/// First 8 bytes of every segment file: `AISPOOL` and the format version.
pub const SEGMENT_MAGIC: [u8; 8] = *b"AISPOOL\x01";
/// First 4 bytes of every record.
pub const RECORD_MAGIC: [u8; 4] = [0xFF, 0xA1, 0x5E, 0x0D];
/// magic + body_len + crc.
pub const RECORD_HEADER: usize = 12;
/// kind + seq.
const BODY_FIXED: usize = 9;
/// Bytes a record adds around an entry's topic and payload.
pub const ENTRY_OVERHEAD: usize = RECORD_HEADER + BODY_FIXED + 2;
/// Size of an ack record.
pub const ACK_RECORD_LEN: usize = RECORD_HEADER + BODY_FIXED;
/// Largest body accepted when scanning (guards against a corrupt length field asking for
/// gigabytes); [`crate::SpoolOptions`] keeps segments, hence records, below it.
pub const MAX_BODY: usize = 1 << 30;

const KIND_ENTRY: u8 = 1;
const KIND_ACK: u8 = 2;

/// A decoded record, borrowing from the scanned buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    Entry {
        seq: u64,
        topic: &'a str,
        payload: &'a [u8],
    },
    Ack {
        seq: u64,
    },
}

/// Encoded length of an entry record.
pub fn entry_record_len(topic: &str, payload: &[u8]) -> usize {
    ENTRY_OVERHEAD + topic.len() + payload.len()
}

/// Appends the encoding of an entry record to `out`. The caller checks `topic.len() <= u16::MAX`
/// and that the record fits a segment.
pub fn encode_entry(out: &mut Vec<u8>, seq: u64, topic: &str, payload: &[u8]) {
    let topic_len = u16::try_from(topic.len()).expect("topic length checked by the caller");
    let mut body = Vec::with_capacity(BODY_FIXED + 2 + topic.len() + payload.len());
    body.push(KIND_ENTRY);
    body.extend_from_slice(&seq.to_le_bytes());
    body.extend_from_slice(&topic_len.to_le_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(payload);
    frame(out, &body);
}

/// Appends the encoding of an ack record to `out`.
pub fn encode_ack(out: &mut Vec<u8>, seq: u64) {
    let mut body = [0u8; BODY_FIXED];
    body[0] = KIND_ACK;
    body[1..].copy_from_slice(&seq.to_le_bytes());
    frame(out, &body);
}

fn frame(out: &mut Vec<u8>, body: &[u8]) {
    let len = u32::try_from(body.len()).expect("record body below MAX_BODY");
    let len_bytes = len.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len_bytes);
    crc.update(body);
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(body);
}

/// Why the bytes at an offset are not a good record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Fewer bytes left than the header or the body it announces.
    Short,
    Magic,
    Length,
    Checksum,
    /// The checksum holds but the body does not parse (unknown kind, topic length past the end,
    /// topic not UTF-8): written by another format version, or a bug.
    Body,
}

/// Decodes the record at the start of `buf`: the record and its encoded length.
pub fn decode(buf: &[u8]) -> Result<(Record<'_>, usize), Invalid> {
    if buf.len() < RECORD_HEADER {
        return Err(if buf.len() >= 4 && buf[..4] != RECORD_MAGIC {
            Invalid::Magic
        } else {
            Invalid::Short
        });
    }
    if buf[..4] != RECORD_MAGIC {
        return Err(Invalid::Magic);
    }
    let len_bytes: [u8; 4] = buf[4..8].try_into().expect("4 bytes");
    let len = u32::from_le_bytes(len_bytes) as usize;
    if !(BODY_FIXED..=MAX_BODY).contains(&len) {
        return Err(Invalid::Length);
    }
    let total = RECORD_HEADER + len;
    if buf.len() < total {
        return Err(Invalid::Short);
    }
    let stored = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    let body = &buf[RECORD_HEADER..total];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len_bytes);
    crc.update(body);
    if crc.finalize() != stored {
        return Err(Invalid::Checksum);
    }
    let seq = u64::from_le_bytes(body[1..9].try_into().expect("8 bytes"));
    let rest = &body[BODY_FIXED..];
    let record = match body[0] {
        KIND_ACK if rest.is_empty() => Record::Ack { seq },
        KIND_ENTRY if rest.len() >= 2 => {
            let topic_len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            let rest = &rest[2..];
            if topic_len > rest.len() {
                return Err(Invalid::Body);
            }
            let topic = std::str::from_utf8(&rest[..topic_len]).map_err(|_| Invalid::Body)?;
            Record::Entry {
                seq,
                topic,
                payload: &rest[topic_len..],
            }
        }
        _ => return Err(Invalid::Body),
    };
    Ok((record, total))
}

/// What a scan of one segment's records found.
#[derive(Debug, Default)]
pub struct Scan<'a> {
    /// Good records with their offsets in the scanned buffer, in file order.
    pub records: Vec<(usize, Record<'a>)>,
    /// `[start, end)` byte ranges that are not good records but are followed by a good record.
    pub corrupt: Vec<(usize, usize)>,
    /// Where the bytes after the last good record (and its corrupt regions) start: everything
    /// from here to the end of the buffer is not a good record. Equal to the buffer length when
    /// the segment ends cleanly.
    pub tail_start: usize,
}

/// Scans `buf` (a segment's records, after its magic) into good records, corrupt regions and a
/// tail (see the module doc). Offsets are relative to `buf`.
pub fn scan(buf: &[u8]) -> Scan<'_> {
    let mut out = Scan::default();
    let mut pos = 0;
    while pos < buf.len() {
        match decode(&buf[pos..]) {
            Ok((record, len)) => {
                out.records.push((pos, record));
                pos += len;
            }
            Err(_) => match resync(buf, pos + 1) {
                Some(next) => {
                    out.corrupt.push((pos, next));
                    pos = next;
                }
                None => break,
            },
        }
    }
    out.tail_start = pos;
    out
}

/// The first offset at or after `from` where a good record starts.
fn resync(buf: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    while pos + RECORD_MAGIC.len() <= buf.len() {
        let hit = buf[pos..]
            .windows(RECORD_MAGIC.len())
            .position(|w| w == RECORD_MAGIC)?;
        pos += hit;
        if decode(&buf[pos..]).is_ok() {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, topic: &str, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_entry(&mut v, seq, topic, payload);
        assert_eq!(v.len(), entry_record_len(topic, payload));
        v
    }

    #[test]
    fn round_trip() {
        let e = entry(7, "a/b", b"{\"x\":1}");
        assert_eq!(
            decode(&e).unwrap(),
            (
                Record::Entry {
                    seq: 7,
                    topic: "a/b",
                    payload: b"{\"x\":1}"
                },
                e.len()
            )
        );
        let mut a = Vec::new();
        encode_ack(&mut a, u64::MAX);
        assert_eq!(a.len(), ACK_RECORD_LEN);
        assert_eq!(
            decode(&a).unwrap(),
            (Record::Ack { seq: u64::MAX }, ACK_RECORD_LEN)
        );
        // Empty topic and payload are fine.
        let e = entry(0, "", b"");
        assert!(decode(&e).is_ok());
    }

    #[test]
    fn every_prefix_is_short_and_every_flip_is_detected() {
        let e = entry(3, "t", b"payload bytes");
        for n in 0..e.len() {
            assert!(decode(&e[..n]).is_err(), "prefix {n}");
        }
        for i in 0..e.len() {
            for bit in 0..8 {
                let mut c = e.clone();
                c[i] ^= 1 << bit;
                assert!(decode(&c).is_err(), "flip byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn scan_resyncs_after_a_corrupt_record() {
        let mut buf = Vec::new();
        for s in 0..3 {
            buf.extend(entry(s, "t", format!("p{s}").as_bytes()));
        }
        let first = entry_record_len("t", b"p0");
        buf[first + 14] ^= 0x40; // inside the body of seq 1
        let scan = scan(&buf);
        let seqs: Vec<_> = scan
            .records
            .iter()
            .map(|(_, r)| match r {
                Record::Entry { seq, .. } => *seq,
                Record::Ack { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(seqs, [0, 2]);
        assert_eq!(scan.corrupt, [(first, 2 * first)]);
        assert_eq!(scan.tail_start, buf.len());
    }

    #[test]
    fn scan_reports_a_torn_tail() {
        let mut buf = entry(0, "t", b"x");
        let good = buf.len();
        buf.extend_from_slice(&entry(1, "t", b"y")[..10]);
        let scan = scan(&buf);
        assert_eq!(scan.records.len(), 1);
        assert!(scan.corrupt.is_empty());
        assert_eq!(scan.tail_start, good);
    }
}
