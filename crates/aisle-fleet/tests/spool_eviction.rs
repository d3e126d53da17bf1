//! Bounded size: oldest-first eviction, counted, and disk use that stays under `max_bytes`
//! through many appends and acks (segment deletion works).

mod common;

use aisle_fleet::spool::{ENTRY_OVERHEAD, SEGMENT_HEADER};
use aisle_fleet::{Seq, Spool, SpoolOptions};
use common::*;

const OPTS: SpoolOptions = SpoolOptions {
    max_bytes: 4096,
    segment_bytes: 512,
};

fn fixed_payload(i: u64) -> Vec<u8> {
    format!("{{\"n\":{i:040}}}").into_bytes()
}

const TOPIC: &str = "t/x";

fn fixed_record_len() -> u64 {
    ENTRY_OVERHEAD + TOPIC.len() as u64 + fixed_payload(0).len() as u64
}

#[test]
fn a_full_spool_evicts_oldest_first_counts_it_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), OPTS).unwrap();
    let n = 600u64;
    for i in 0..n {
        assert_eq!(spool.append(TOPIC, &fixed_payload(i)).unwrap(), Seq(i));
        let stats = spool.stats();
        let on_disk = disk_bytes(dir.path());
        assert!(
            on_disk <= OPTS.max_bytes,
            "after {i}: {on_disk} bytes on disk"
        );
        assert_eq!(stats.bytes, on_disk, "after {i}");
        assert_eq!(stats.segments, segments(dir.path()).len());
        assert_eq!(stats.entries as u64 + stats.evicted_entries, i + 1);
    }
    let stats = spool.stats();
    // The spool uses its space: less than a segment's worth is free, and what is held is at
    // least what fits in all but two segments.
    assert!(
        stats.bytes > OPTS.max_bytes - OPTS.segment_bytes,
        "{stats:?}"
    );
    let rec = fixed_record_len();
    assert!(
        stats.entries as u64 >= (OPTS.max_bytes - 2 * OPTS.segment_bytes) / rec,
        "{stats:?}"
    );
    assert!(stats.entries as u64 <= (OPTS.max_bytes - SEGMENT_HEADER) / rec);
    assert_eq!(
        stats.evicted_bytes,
        stats.evicted_entries * fixed_record_len()
    );
    // What is left is the newest entries, contiguous, in order.
    let seqs = pending_seqs(&spool);
    let first = n - seqs.len() as u64;
    assert_eq!(seqs, (first..n).collect::<Vec<_>>());
    assert_eq!(first, stats.evicted_entries);
    for e in pending(&spool) {
        assert_eq!(e.payload, fixed_payload(e.seq.0));
    }
    // Acks of evicted entries are no-ops.
    assert!(!spool.ack(Seq(0)).unwrap());
    drop(spool);
    let (spool, rec) = Spool::open(dir.path(), OPTS).unwrap();
    assert_eq!(pending_seqs(&spool), (first..n).collect::<Vec<_>>());
    assert_eq!(rec.evicted_entries, 0);
    assert_eq!(
        rec.lost_entries, 0,
        "evicted entries are not reported as lost"
    );
}

#[test]
fn with_acks_keeping_up_nothing_is_evicted_and_old_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), OPTS).unwrap();
    let mut in_flight = std::collections::VecDeque::new();
    let mut max_disk = 0;
    for i in 0..1200u64 {
        in_flight.push_back(spool.append(TOPIC, &fixed_payload(i)).unwrap());
        // Up to 10 in flight, acknowledged out of order in pairs.
        if in_flight.len() == 10 {
            let a = in_flight.pop_front().unwrap();
            let b = in_flight.pop_front().unwrap();
            assert!(spool.ack(b).unwrap());
            assert!(spool.ack(a).unwrap());
        }
        max_disk = max_disk.max(disk_bytes(dir.path()));
    }
    let stats = spool.stats();
    assert_eq!(stats.evicted_entries, 0, "{stats:?}");
    assert_eq!(stats.entries, in_flight.len());
    // 10 entries and their acks span at most two segments, three while one is being closed.
    assert!(max_disk <= 3 * OPTS.segment_bytes, "{max_disk}");
    assert!(stats.segments <= 3, "{stats:?}");
}

#[test]
fn reopening_with_a_smaller_limit_evicts_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let big = SpoolOptions {
        max_bytes: 1 << 20,
        segment_bytes: 512,
    };
    {
        let (mut spool, _) = Spool::open(dir.path(), big).unwrap();
        for i in 0..200 {
            spool.append(TOPIC, &fixed_payload(i)).unwrap();
        }
    }
    let (spool, rec) = Spool::open(dir.path(), OPTS).unwrap();
    assert!(rec.evicted_entries > 0);
    assert_eq!(rec.evicted_entries + rec.entries as u64, 200);
    assert_eq!(spool.stats().evicted_entries, rec.evicted_entries);
    assert!(disk_bytes(dir.path()) <= OPTS.max_bytes);
    assert_eq!(
        pending_seqs(&spool),
        (rec.evicted_entries..200).collect::<Vec<_>>()
    );
}
