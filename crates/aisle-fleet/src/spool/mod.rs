//! The durable spool: metric records wait on disk from before their first publication until the
//! broker acknowledges them (MQTT QoS 1 PUBACK).
//!
//! # Guarantees
//!
//! - **Durable before published.** [`Spool::append`] returns only after the entry's bytes and
//!   the file length are on stable storage (`fdatasync`, and a directory `fsync` whenever a
//!   segment file is created or deleted). The pipeline publishes an entry only after `append`
//!   returned its [`Seq`]; from then on neither a crash (`kill -9`) nor a power cut loses it,
//!   short of eviction or media failure.
//! - **Removed only on PUBACK.** [`Spool::ack`] writes and syncs an ack record before it returns:
//!   an acknowledged entry never comes back after a restart. Acks may come in any order. An ack
//!   torn by a crash is simply not there: the entry is replayed once more, which the stable
//!   record id makes harmless (at-least-once delivery, never zero).
//! - **Replay in order.** [`Spool::pending`] yields the unacknowledged entries in append order,
//!   across restarts; sequence numbers only grow over the life of a spool directory (the one
//!   exception: the number of an append torn by a crash, which was never returned, is given to
//!   the next append).
//! - **Bounded.** The segment files never add up to more than [`SpoolOptions::max_bytes`]. When
//!   an append (or an ack record) would exceed it, the oldest segment is deleted, oldest first,
//!   with the entries still pending in it: every evicted entry and byte is counted in
//!   [`SpoolStats`] and logged (`tracing::warn`).
//! - **Crash-safe and self-repairing.** A write cut short by a crash leaves a torn tail in the
//!   newest segment; [`Spool::open`] finds it by checksum, truncates it and counts it in
//!   [`Recovery`]. The torn entry had not been acknowledged to the pipeline (its `append` had not
//!   returned), so nothing acknowledged is lost. A corrupt record anywhere else (media bit rot)
//!   is skipped, reported with its segment and offset, and the records after it survive (the
//!   scan resynchronises on the next record magic whose checksum holds). The last complete
//!   record of the newest segment cannot be told apart from a torn write when it is corrupt: it
//!   is discarded and counted as a torn tail.
//! - **One process at a time.** The directory is locked (`flock` on `LOCK`) while open; the
//!   kernel drops the lock when the process dies, however it dies.
//! - **Errors are sticky after a failed fsync.** After an `fsync` error the kernel may have
//!   dropped the dirty pages it could not write (the "fsyncgate" lesson of PostgreSQL); the spool
//!   then refuses every further write ([`SpoolError::Poisoned`]) until it is reopened, which
//!   re-reads what actually is on disk.
//!
//! # Why a checksummed append-only segment log, not an embedded store
//!
//! The candidates were `redb` (well kept, crash-safe copy-on-write B-tree with checksummed
//! commits; `sled` is unmaintained and its on-disk format unstable) and a log of our own.
//!
//! - **Fit.** The access pattern is a FIFO queue: append at the head, acknowledge near the tail,
//!   replay in order. A log is exactly that; a B-tree adds random-access structure nobody uses.
//! - **Write amplification on eMMC.** Appending a 1 KiB record to the log writes ~1 KiB of data
//!   plus, per `fdatasync`, the file system's journal commit for the new file length; an ack
//!   record is 21 bytes. A redb commit rewrites the copy-on-write B-tree path from leaf to root
//!   (several 4 KiB pages), its allocator state and a commit slot in the header: several times
//!   more flash writes per record, on an appliance that writes records around the clock for
//!   years. (Preallocating segments with `fallocate` would also remove the journal commit from
//!   most appends; not done yet.)
//! - **Bounded size and eviction.** Deleting the oldest segment file frees its space at once,
//!   with no compaction and no rewrite. A B-tree database file does not shrink when keys are
//!   deleted (freed pages are reused, the file stays at its high-water mark), and eviction would
//!   be one delete per record.
//! - **Crash semantics we can test.** The log's recovery rule is small (checksum every record,
//!   truncate the torn tail, resynchronise after corruption) and is tested byte by byte in this
//!   crate, including a real `kill -9`. With redb we would rely on its own (good) tests, and a
//!   corrupt page is an error at open that the firmware could only answer by discarding the
//!   whole database; the log loses only the damaged records.
//! - **Dependency size.** The log needs `crc32fast` (a few hundred lines, no transitive
//!   dependencies besides `cfg-if`); redb is a complete storage engine.
//!
//! The cost: this is code we own. It is kept small and its format is documented in
//! `spool/record.rs`.
//!
//! # On disk
//!
//! A directory with a `LOCK` file and segment files `<segment id, 20 decimal digits>.seg`, the
//! newest (highest id) being the one appended to. A segment starts with a 20-byte header:
//! `AISPOOL\x01` (magic and format version), the first sequence number it may hold (`u64` LE,
//! which keeps sequence numbers growing even when every older segment is gone) and a CRC-32 of
//! those 16 bytes. Records follow (see `record.rs`): entry records (sequence number, topic,
//! payload) and ack records (the sequence number acknowledged). A new segment starts when the
//! next record would make the current one larger than [`SpoolOptions::segment_bytes`]. A segment
//! is deleted when every entry in it and in all older segments is acknowledged (segments are
//! only ever deleted oldest first: an ack record is always in the same segment as its entry or
//! a newer one, so it is deleted together with or after that entry, and an entry never outlives
//! its ack), or when it is evicted.
//!
//! A restart costs one read of every segment (bounded by `max_bytes`); the index kept in memory
//! is about 40 bytes per pending entry (a `BTreeMap` of locations); payloads stay on disk and are
//! read back on replay.

mod record;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use record::Record;

/// Size of a segment header: magic (8), base sequence number (8), CRC-32 (4).
pub const SEGMENT_HEADER: u64 = 20;
/// Smallest accepted [`SpoolOptions::segment_bytes`].
pub const MIN_SEGMENT_BYTES: u64 = 256;
/// Bytes a record adds to an entry's topic and payload (header, kind, seq, topic length).
pub const ENTRY_OVERHEAD: u64 = record::ENTRY_OVERHEAD as u64;
/// Bytes of one ack record.
pub const ACK_RECORD_BYTES: u64 = record::ACK_RECORD_LEN as u64;

const LOCK_FILE: &str = "LOCK";
const SEGMENT_SUFFIX: &str = ".seg";

/// Size limits of a spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolOptions {
    /// Upper bound of the spool's disk use (segment files, headers included). At least twice
    /// `segment_bytes`. Default 64 MiB: at one 2 KiB record per zone per minute, 10 zones fill
    /// it in about two days of broker outage.
    pub max_bytes: u64,
    /// Size at which a segment is closed and a new one started; also the granularity of
    /// eviction (a full spool evicts one segment, the oldest, at a time) and the largest record
    /// (topic + payload + [`ENTRY_OVERHEAD`] + [`SEGMENT_HEADER`]). Default 4 MiB.
    pub segment_bytes: u64,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            segment_bytes: 4 << 20,
        }
    }
}

impl SpoolOptions {
    /// `max_bytes` with segments of a sixteenth of it (between [`MIN_SEGMENT_BYTES`] and 4 MiB),
    /// so that eviction drops at most ~6 % of the spool at a time.
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            segment_bytes: (max_bytes / 16).clamp(MIN_SEGMENT_BYTES, 4 << 20),
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            return Err(format!(
                "segment_bytes {} is below the minimum {MIN_SEGMENT_BYTES}",
                self.segment_bytes
            ));
        }
        if self.segment_bytes > record::MAX_BODY as u64 {
            return Err(format!(
                "segment_bytes {} is above the maximum {}",
                self.segment_bytes,
                record::MAX_BODY
            ));
        }
        if self.max_bytes < 2 * self.segment_bytes {
            return Err(format!(
                "max_bytes {} is less than twice segment_bytes {}",
                self.max_bytes, self.segment_bytes
            ));
        }
        Ok(())
    }
}

/// Sequence number of an entry: assigned by [`Spool::append`], strictly increasing in append
/// order over the life of the spool directory (also across restarts). Internal to the device:
/// subscribers de-duplicate on the record's own stable id, not on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A pending entry read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: Seq,
    /// The MQTT topic it is to be published on.
    pub topic: String,
    /// The serialised record, as given to [`Spool::append`].
    pub payload: Vec<u8>,
}

/// What [`Spool::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files read.
    pub segments: usize,
    /// Entries still pending (to be replayed).
    pub entries: usize,
    /// Bytes at the end of the newest segment that were not a complete, intact record (a write
    /// cut short by a crash) and were truncated away.
    pub torn_tail_bytes: u64,
    /// Byte ranges that failed their checksum but were followed by intact records (or ended an
    /// older segment): media corruption, skipped. Each is logged with its segment and offset.
    pub corrupt_regions: usize,
    /// Bytes in those ranges.
    pub corrupt_bytes: u64,
    /// Entries known to have been in corrupt regions (from gaps in the sequence numbers; a lower
    /// bound: some of them may have been acknowledged already).
    pub lost_entries: u64,
    /// Entries evicted at open because the spool was larger than `max_bytes` (a smaller limit
    /// than the one it was written with).
    pub evicted_entries: u64,
}

/// Counters of a spool since it was opened, and its current size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Pending (unacknowledged) entries.
    pub entries: usize,
    /// Disk use of the segment files.
    pub bytes: u64,
    /// Segment files.
    pub segments: usize,
    /// Entries appended since open.
    pub appended: u64,
    /// Entries acknowledged since open.
    pub acked: u64,
    /// Pending entries deleted by eviction since open (open's own eviction included).
    pub evicted_entries: u64,
    /// Record bytes of those entries.
    pub evicted_bytes: u64,
    /// Torn tails repaired at open (0 or 1).
    pub torn_tails_repaired: u64,
    /// Bytes of the torn tail truncated at open.
    pub torn_bytes: u64,
    /// Corrupt regions skipped at open.
    pub corrupt_regions: u64,
    /// Bytes in them.
    pub corrupt_bytes: u64,
}

/// Errors of the spool; each names the spool directory or the segment file (and the offset
/// where it matters).
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {}: invalid options: {reason}", dir.display())]
    InvalidOptions { dir: PathBuf, reason: String },
    #[error("spool {}: already open (locked by another process or handle)", dir.display())]
    Locked { dir: PathBuf },
    #[error("spool {}: {op}{}: {source}", path.display(), at(*offset))]
    Io {
        path: PathBuf,
        op: &'static str,
        offset: Option<u64>,
        source: io::Error,
    },
    #[error("spool segment {}: format version {version} is not supported (this build reads 1)", path.display())]
    UnsupportedVersion { path: PathBuf, version: u8 },
    #[error("spool {}: an entry of {record_bytes} bytes (topic {topic_bytes} bytes) does not fit a segment of {segment_bytes} bytes", dir.display())]
    TooLarge {
        dir: PathBuf,
        record_bytes: u64,
        topic_bytes: usize,
        segment_bytes: u64,
    },
    #[error("spool segment {} at offset {offset}: record of seq {seq} fails its checksum on read-back", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        seq: u64,
    },
    #[error("spool {}: an earlier fsync failed, durability of later writes is unknown; reopen the spool", dir.display())]
    Poisoned { dir: PathBuf },
}

fn at(offset: Option<u64>) -> String {
    offset
        .map(|o| format!(" at offset {o}"))
        .unwrap_or_default()
}

fn io_err(
    path: &Path,
    op: &'static str,
    offset: Option<u64>,
) -> impl FnOnce(io::Error) -> SpoolError {
    let path = path.to_path_buf();
    move |source| SpoolError::Io {
        path,
        op,
        offset,
        source,
    }
}

/// Where a pending entry's record is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    path: PathBuf,
    file: File,
    /// File length (everything before it is synced and intact).
    len: u64,
    /// Pending entries in this segment.
    live: usize,
}

/// The spool: see the module documentation. Not `Sync`-shared: one owner (the MQTT link's
/// task) appends, acks and replays.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    dir_handle: File,
    _lock: File,
    opts: SpoolOptions,
    /// Oldest first; the last one is appended to. Never empty.
    segments: VecDeque<Segment>,
    /// Pending entries by sequence number.
    index: BTreeMap<u64, Loc>,
    next_seq: u64,
    total_bytes: u64,
    stats: SpoolStats,
    poisoned: bool,
    buf: Vec<u8>,
}

fn segment_name(id: u64) -> String {
    format!("{id:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn segment_header(base_seq: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut h = [0u8; SEGMENT_HEADER as usize];
    h[..8].copy_from_slice(&record::SEGMENT_MAGIC);
    h[8..16].copy_from_slice(&base_seq.to_le_bytes());
    let crc = crc32fast::hash(&h[..16]);
    h[16..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The base sequence number of a segment header, `None` if the header is not intact.
fn parse_segment_header(path: &Path, h: &[u8]) -> Result<Option<u64>, SpoolError> {
    if h.len() < SEGMENT_HEADER as usize {
        return Ok(None);
    }
    if h[..7] == record::SEGMENT_MAGIC[..7] && h[7] != record::SEGMENT_MAGIC[7] {
        let crc = u32::from_le_bytes(h[16..20].try_into().expect("4 bytes"));
        if crc == crc32fast::hash(&h[..16]) {
            return Err(SpoolError::UnsupportedVersion {
                path: path.to_path_buf(),
                version: h[7],
            });
        }
    }
    let crc = u32::from_le_bytes(h[16..20].try_into().expect("4 bytes"));
    if h[..8] != record::SEGMENT_MAGIC || crc != crc32fast::hash(&h[..16]) {
        return Ok(None);
    }
    Ok(Some(u64::from_le_bytes(
        h[8..16].try_into().expect("8 bytes"),
    )))
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, recovering what a previous run left:
    /// pending entries are indexed, a torn tail is truncated, corrupt records are skipped and
    /// reported, fully acknowledged segments are deleted, and the spool is evicted down to
    /// `opts.max_bytes` if it is larger.
    pub fn open(
        dir: impl AsRef<Path>,
        opts: SpoolOptions,
    ) -> Result<(Spool, Recovery), SpoolError> {
        let dir = dir.as_ref().to_path_buf();
        opts.check().map_err(|reason| SpoolError::InvalidOptions {
            dir: dir.clone(),
            reason,
        })?;
        fs::create_dir_all(&dir).map_err(io_err(&dir, "create directory", None))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "open", None))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked { dir }),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, "lock", None)(e)),
        }
        let dir_handle = File::open(&dir).map_err(io_err(&dir, "open directory", None))?;

        let mut ids = Vec::new();
        for item in fs::read_dir(&dir).map_err(io_err(&dir, "list", None))? {
            let item = item.map_err(io_err(&dir, "list", None))?;
            match item.file_name().to_str().and_then(parse_segment_name) {
                Some(id) => ids.push(id),
                None if item.file_name() == LOCK_FILE => {}
                None => {
                    tracing::debug!(file = ?item.path(), "spool: ignoring a file that is not a segment")
                }
            }
        }
        ids.sort_unstable();

        let mut spool = Spool {
            dir,
            dir_handle,
            _lock: lock,
            opts,
            segments: VecDeque::new(),
            index: BTreeMap::new(),
            next_seq: 0,
            total_bytes: 0,
            stats: SpoolStats::default(),
            poisoned: false,
            buf: Vec::new(),
        };
        let mut recovery = Recovery {
            segments: ids.len(),
            ..Recovery::default()
        };
        let mut acks = Vec::new();
        let mut max_seq: Option<u64> = None;
        let mut seen: Vec<SegmentSeen> = Vec::new();

        for (i, &id) in ids.iter().enumerate() {
            let newest = i + 1 == ids.len();
            let path = spool.dir.join(segment_name(id));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io_err(&path, "open", None))?;
            let bytes = fs::read(&path).map_err(io_err(&path, "read", None))?;
            let mut len = bytes.len() as u64;
            let base = parse_segment_header(&path, &bytes)?;
            let header_ok = base.is_some();
            let start = (SEGMENT_HEADER as usize).min(bytes.len());
            let scan = record::scan(&bytes[start..]);
            if newest && !header_ok && scan.records.is_empty() {
                // A segment creation cut short (header torn or never written): start it again.
                let base = spool
                    .next_seq
                    .max(max_seq.map_or(0, |s| s + 1))
                    .max(acks.iter().max().map_or(0, |s| s + 1));
                tracing::warn!(segment = %path.display(), bytes = len, "spool: rewriting a torn segment header");
                write_header(&path, &file, base)?;
                recovery.torn_tail_bytes += len;
                spool.next_seq = base;
                seen.push(SegmentSeen {
                    base: Some(base),
                    count: 0,
                    range: None,
                });
                spool.segments.push_back(Segment {
                    id,
                    path,
                    file,
                    len: SEGMENT_HEADER,
                    live: 0,
                });
                continue;
            }
            if let Some(b) = base {
                spool.next_seq = spool.next_seq.max(b);
            }
            if !header_ok {
                tracing::warn!(segment = %path.display(), "spool: segment header is corrupt");
                recovery.corrupt_regions += 1;
                recovery.corrupt_bytes += start as u64;
            }
            for &(a, b) in &scan.corrupt {
                tracing::warn!(
                    segment = %path.display(),
                    offset = start + a,
                    bytes = b - a,
                    "spool: skipping corrupt bytes (checksum mismatch)"
                );
                recovery.corrupt_regions += 1;
                recovery.corrupt_bytes += (b - a) as u64;
            }
            let mut data_seen = 0u64;
            let mut range: Option<(u64, u64)> = None;
            for &(off, rec) in &scan.records {
                match rec {
                    Record::Entry {
                        seq,
                        topic,
                        payload,
                    } => {
                        if max_seq.is_some_and(|m| seq <= m) || base.is_some_and(|b| seq < b) {
                            tracing::warn!(segment = %path.display(), offset = start + off, seq, "spool: entry out of sequence, skipped");
                            continue;
                        }
                        let rec_len = record::entry_record_len(topic, payload);
                        spool.index.insert(
                            seq,
                            Loc {
                                segment: id,
                                offset: (start + off) as u64,
                                len: rec_len as u32,
                            },
                        );
                        data_seen += 1;
                        range = Some(range.map_or((seq, seq), |(f, _)| (f, seq)));
                        max_seq = Some(seq);
                    }
                    Record::Ack { seq } => acks.push(seq),
                }
            }
            let tail = (start + scan.tail_start) as u64;
            if tail < len {
                if newest {
                    tracing::warn!(segment = %path.display(), offset = tail, bytes = len - tail, "spool: truncating a torn tail");
                    file.set_len(tail)
                        .map_err(io_err(&path, "truncate", Some(tail)))?;
                    file.sync_all()
                        .map_err(io_err(&path, "fsync", Some(tail)))?;
                    recovery.torn_tail_bytes += len - tail;
                    len = tail;
                } else {
                    tracing::warn!(segment = %path.display(), offset = tail, bytes = len - tail, "spool: skipping corrupt bytes at the end of a segment");
                    recovery.corrupt_regions += 1;
                    recovery.corrupt_bytes += len - tail;
                }
            }
            seen.push(SegmentSeen {
                base,
                count: data_seen,
                range,
            });
            spool.segments.push_back(Segment {
                id,
                path,
                file,
                len,
                live: 0,
            });
        }
        let max_ack = acks.iter().copied().max();
        for seq in acks {
            spool.index.remove(&seq);
        }
        for loc in spool.index.values() {
            if let Ok(i) = spool.segments.binary_search_by_key(&loc.segment, |s| s.id) {
                spool.segments[i].live += 1;
            }
        }
        spool.next_seq = spool
            .next_seq
            .max(max_seq.map_or(0, |s| s + 1))
            .max(max_ack.map_or(0, |s| s + 1));
        recovery.lost_entries = lost_entries(&seen);
        if spool.segments.is_empty() {
            spool.create_segment(0)?;
        }
        spool.total_bytes = spool.segments.iter().map(|s| s.len).sum();

        spool.stats.torn_tails_repaired = u64::from(recovery.torn_tail_bytes > 0);
        spool.stats.torn_bytes = recovery.torn_tail_bytes;
        spool.stats.corrupt_regions = recovery.corrupt_regions as u64;
        spool.stats.corrupt_bytes = recovery.corrupt_bytes;
        if recovery.lost_entries > 0 {
            tracing::warn!(
                spool = %spool.dir.display(),
                lost = recovery.lost_entries,
                "spool: entries lost to corruption"
            );
        }
        spool.delete_dead_prefix()?;
        spool.make_room(0)?;
        recovery.evicted_entries = spool.stats.evicted_entries;
        recovery.entries = spool.index.len();
        tracing::info!(
            spool = %spool.dir.display(),
            pending = recovery.entries,
            segments = spool.segments.len(),
            bytes = spool.total_bytes,
            torn_tail_bytes = recovery.torn_tail_bytes,
            corrupt_regions = recovery.corrupt_regions,
            "spool opened"
        );
        Ok((spool, recovery))
    }

    /// Writes an entry and returns once it is durable (see the module doc); the caller publishes
    /// it only after that. Evicts the oldest segment(s) first if the spool would exceed
    /// `max_bytes`. On an error nothing was appended.
    pub fn append(&mut self, topic: &str, payload: &[u8]) -> Result<Seq, SpoolError> {
        self.check_poisoned()?;
        let record_bytes = record::entry_record_len(topic, payload) as u64;
        if topic.len() > usize::from(u16::MAX)
            || SEGMENT_HEADER + record_bytes > self.opts.segment_bytes
        {
            return Err(SpoolError::TooLarge {
                dir: self.dir.clone(),
                record_bytes,
                topic_bytes: topic.len(),
                segment_bytes: self.opts.segment_bytes,
            });
        }
        let seq = self.next_seq;
        self.buf.clear();
        record::encode_entry(&mut self.buf, seq, topic, payload);
        let (segment, offset) = self.write_record()?;
        let segment_index = self.segments.len() - 1;
        self.segments[segment_index].live += 1;
        self.index.insert(
            seq,
            Loc {
                segment,
                offset,
                len: record_bytes as u32,
            },
        );
        self.next_seq += 1;
        self.stats.appended += 1;
        Ok(Seq(seq))
    }

    /// Removes an entry on PUBACK. Returns `false` if `seq` is not pending (acknowledged twice,
    /// evicted, or never appended). Returns once the ack is durable: the entry will not be
    /// replayed after a restart.
    pub fn ack(&mut self, seq: Seq) -> Result<bool, SpoolError> {
        self.check_poisoned()?;
        let Some(loc) = self.index.remove(&seq.0) else {
            return Ok(false);
        };
        if let Some(i) = self.segment_index(loc.segment) {
            self.segments[i].live -= 1;
        }
        self.buf.clear();
        record::encode_ack(&mut self.buf, seq.0);
        if let Err(e) = self.write_record() {
            // Not durable: the entry stays pending (unless the attempt evicted its segment).
            if let Some(i) = self.segment_index(loc.segment) {
                self.segments[i].live += 1;
                self.index.insert(seq.0, loc);
            }
            return Err(e);
        }
        self.stats.acked += 1;
        if let Err(e) = self.delete_dead_prefix() {
            // The ack is durable; the segment is retried at the next ack or eviction.
            tracing::warn!(error = %e, "spool: could not delete an acknowledged segment");
        }
        Ok(true)
    }

    /// Pending entries in append order, read from disk.
    pub fn pending(&self) -> impl Iterator<Item = Result<Entry, SpoolError>> + '_ {
        self.index
            .iter()
            .map(move |(&seq, loc)| self.read_entry(seq, loc))
    }

    /// Pending entries with a sequence number of at least `from`, in append order: the next
    /// ones to publish after `from - 1` was sent.
    pub fn pending_from(&self, from: Seq) -> impl Iterator<Item = Result<Entry, SpoolError>> + '_ {
        self.index
            .range(from.0..)
            .map(move |(&seq, loc)| self.read_entry(seq, loc))
    }

    /// Sequence numbers of the pending entries, in append order (no disk reads).
    pub fn pending_seqs(&self) -> impl Iterator<Item = Seq> + '_ {
        self.index.keys().map(|&s| Seq(s))
    }

    /// The pending entry `seq`, `None` if it is not pending.
    pub fn get(&self, seq: Seq) -> Result<Option<Entry>, SpoolError> {
        self.index
            .get(&seq.0)
            .map(|loc| self.read_entry(seq.0, loc))
            .transpose()
    }

    /// Number of pending entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No entry is pending.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> Seq {
        Seq(self.next_seq)
    }

    /// Sizes and counters (for the health topic's spool depth and eviction counts).
    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            entries: self.index.len(),
            bytes: self.total_bytes,
            segments: self.segments.len(),
            ..self.stats.clone()
        }
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was opened with.
    pub fn options(&self) -> SpoolOptions {
        self.opts
    }

    fn check_poisoned(&self) -> Result<(), SpoolError> {
        if self.poisoned {
            return Err(SpoolError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    fn segment_index(&self, id: u64) -> Option<usize> {
        self.segments.binary_search_by_key(&id, |s| s.id).ok()
    }

    fn read_entry(&self, seq: u64, loc: &Loc) -> Result<Entry, SpoolError> {
        let segment = self
            .segment_index(loc.segment)
            .map(|i| &self.segments[i])
            .expect("pending entries live in open segments");
        let mut buf = vec![0u8; loc.len as usize];
        segment
            .file
            .read_exact_at(&mut buf, loc.offset)
            .map_err(io_err(&segment.path, "read", Some(loc.offset)))?;
        match record::decode(&buf) {
            Ok((
                Record::Entry {
                    seq: s,
                    topic,
                    payload,
                },
                _,
            )) if s == seq => Ok(Entry {
                seq: Seq(seq),
                topic: topic.to_owned(),
                payload: payload.to_vec(),
            }),
            _ => Err(SpoolError::Corrupt {
                path: segment.path.clone(),
                offset: loc.offset,
                seq,
            }),
        }
    }

    /// Writes `self.buf` as one record at the end of the newest segment (starting a new segment
    /// and evicting first if needed) and syncs it. Returns the segment id and offset.
    fn write_record(&mut self) -> Result<(u64, u64), SpoolError> {
        let len = self.buf.len() as u64;
        let roll = self.active().len + len > self.opts.segment_bytes;
        self.make_room(len + if roll { SEGMENT_HEADER } else { 0 })?;
        if roll {
            let id = self.active().id + 1;
            self.create_segment(id)?;
        }
        let segment = self.segments.back().expect("never empty");
        let offset = segment.len;
        if let Err(e) = segment.file.write_all_at(&self.buf, offset) {
            // Best effort: drop the partial record (a later write overwrites it anyway, and a
            // reopen would truncate it as a torn tail).
            let _ = segment.file.set_len(offset);
            return Err(io_err(&segment.path, "write", Some(offset))(e));
        }
        if let Err(e) = segment.file.sync_data() {
            self.poisoned = true;
            return Err(io_err(&segment.path, "fsync", Some(offset))(e));
        }
        let id = segment.id;
        self.segments.back_mut().expect("never empty").len += len;
        self.total_bytes += len;
        Ok((id, offset))
    }

    fn active(&self) -> &Segment {
        self.segments.back().expect("never empty")
    }

    /// Creates segment `id` (base = the next seq), synced, and makes it the newest.
    fn create_segment(&mut self, id: u64) -> Result<(), SpoolError> {
        let path = self.dir.join(segment_name(id));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err(&path, "create", None))?;
        if let Err(e) = write_header(&path, &file, self.next_seq) {
            if matches!(&e, SpoolError::Io { op: "fsync", .. }) {
                self.poisoned = true;
            }
            return Err(e);
        }
        self.sync_dir()?;
        self.total_bytes += SEGMENT_HEADER;
        self.segments.push_back(Segment {
            id,
            path,
            file,
            len: SEGMENT_HEADER,
            live: 0,
        });
        Ok(())
    }

    fn sync_dir(&mut self) -> Result<(), SpoolError> {
        if let Err(e) = self.dir_handle.sync_all() {
            self.poisoned = true;
            return Err(io_err(&self.dir, "fsync directory", None)(e));
        }
        Ok(())
    }

    /// Evicts the oldest segments (never the newest) until `extra` more bytes fit.
    fn make_room(&mut self, extra: u64) -> Result<(), SpoolError> {
        while self.total_bytes + extra > self.opts.max_bytes && self.segments.len() > 1 {
            self.delete_oldest()?;
        }
        Ok(())
    }

    /// Deletes the oldest segments while they hold no pending entry (never the newest).
    fn delete_dead_prefix(&mut self) -> Result<(), SpoolError> {
        while self.segments.len() > 1 && self.segments[0].live == 0 {
            self.delete_oldest()?;
        }
        Ok(())
    }

    /// Deletes the oldest segment; its pending entries, if any, are evicted and counted.
    fn delete_oldest(&mut self) -> Result<(), SpoolError> {
        let oldest = &self.segments[0];
        fs::remove_file(&oldest.path).map_err(io_err(&oldest.path, "delete", None))?;
        self.sync_dir()?;
        let oldest = self.segments.pop_front().expect("checked by the callers");
        self.total_bytes -= oldest.len;
        if oldest.live > 0 {
            let mut entries = 0u64;
            let mut bytes = 0u64;
            while let Some(entry) = self.index.first_entry() {
                if entry.get().segment != oldest.id {
                    break;
                }
                bytes += u64::from(entry.get().len);
                entry.remove();
                entries += 1;
            }
            self.stats.evicted_entries += entries;
            self.stats.evicted_bytes += bytes;
            tracing::warn!(
                spool = %self.dir.display(),
                segment = %oldest.path.display(),
                entries,
                bytes,
                total_evicted = self.stats.evicted_entries,
                "spool full: evicted the oldest pending entries"
            );
        }
        Ok(())
    }
}

fn write_header(path: &Path, file: &File, base_seq: u64) -> Result<(), SpoolError> {
    file.set_len(0).map_err(io_err(path, "truncate", Some(0)))?;
    file.write_all_at(&segment_header(base_seq), 0)
        .map_err(io_err(path, "write", Some(0)))?;
    file.sync_all().map_err(io_err(path, "fsync", Some(0)))
}

/// What the scan at open saw of one segment's entries.
#[derive(Debug, Clone, Copy)]
struct SegmentSeen {
    /// Base seq from the header, if intact.
    base: Option<u64>,
    /// Entry records found.
    count: u64,
    /// First and last entry seq found.
    range: Option<(u64, u64)>,
}

/// Entries missing from the sequence: each segment should hold every seq from its base to the
/// next segment's base (the newest: to its last entry). Segments with a corrupt header borrow
/// their first seen seq or the previous segment's end.
fn lost_entries(seen: &[SegmentSeen]) -> u64 {
    let mut lost = 0;
    let mut prev_end: Option<u64> = None;
    for (i, s) in seen.iter().enumerate() {
        let start = s
            .base
            .or(prev_end)
            .or(s.range.map(|(first, _)| first))
            .unwrap_or(0);
        let end = match seen.get(i + 1) {
            Some(SegmentSeen {
                base: Some(next_base),
                ..
            }) => *next_base,
            Some(next) => next
                .range
                .map(|(first, _)| first)
                .or(s.range.map(|(_, last)| last + 1))
                .unwrap_or(start),
            None => s.range.map_or(start, |(_, last)| last + 1),
        };
        lost += end.saturating_sub(start).saturating_sub(s.count);
        prev_end = Some(end.max(start));
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: Option<u64>, count: u64, range: Option<(u64, u64)>) -> SegmentSeen {
        SegmentSeen { base, count, range }
    }

    #[test]
    fn lost_entries_from_sequence_gaps() {
        // Nothing lost: 0..5 in one segment, 5..8 in the next.
        let clean = [seg(Some(0), 5, Some((0, 4))), seg(Some(5), 3, Some((5, 7)))];
        assert_eq!(lost_entries(&clean), 0);
        // A middle entry gone, and the last entry of the older segment gone.
        let gaps = [seg(Some(0), 3, Some((0, 3))), seg(Some(5), 2, Some((5, 7)))];
        assert_eq!(lost_entries(&gaps), 1 + 1 + 1);
        // An older segment's header is corrupt: its start is the previous end.
        let bad_header = [
            seg(Some(0), 2, Some((0, 1))),
            seg(None, 2, Some((2, 4))),
            seg(Some(5), 0, None),
        ];
        assert_eq!(lost_entries(&bad_header), 1);
        // An empty newest segment (acks only, or just created) loses nothing.
        assert_eq!(lost_entries(&[seg(Some(9), 0, None)]), 0);
    }

    #[test]
    fn after_a_failed_fsync_every_write_is_refused_until_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
        let seq = spool.append("t", b"{}").unwrap();
        spool.poisoned = true; // what a failed fsync in write_record or sync_dir sets
        assert!(matches!(
            spool.append("t", b"{}"),
            Err(SpoolError::Poisoned { .. })
        ));
        assert!(matches!(spool.ack(seq), Err(SpoolError::Poisoned { .. })));
        assert_eq!(spool.len(), 1, "a refused ack leaves the entry pending");
        drop(spool);
        let (mut spool, rec) = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
        assert_eq!(rec.entries, 1);
        assert!(spool.ack(seq).unwrap());
    }
}
