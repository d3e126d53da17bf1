//! Append, ack and reopen: order, out-of-order acks, acks surviving restarts, locking, limits.

mod common;

use aisle_fleet::{Seq, Spool, SpoolError, SpoolOptions};
use common::*;

fn small() -> SpoolOptions {
    // Small segments so that every test crosses many segment boundaries.
    SpoolOptions {
        max_bytes: 1 << 20,
        segment_bytes: 1024,
    }
}

#[test]
fn append_ack_reopen_keeps_order_and_acks() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, rec) = Spool::open(dir.path(), small()).unwrap();
        assert_eq!(rec.entries, 0);
        for i in 0..10 {
            assert_eq!(spool.append(&topic(i), &payload(i)).unwrap(), Seq(i));
        }
        let all = pending(&spool);
        assert_eq!(all.len(), 10);
        for (i, e) in all.iter().enumerate() {
            assert_entry(e, i as u64);
        }
        // Out of order acks, a double ack and an unknown seq.
        assert!(spool.ack(Seq(7)).unwrap());
        assert!(spool.ack(Seq(3)).unwrap());
        assert!(spool.ack(Seq(0)).unwrap());
        assert!(!spool.ack(Seq(3)).unwrap());
        assert!(!spool.ack(Seq(99)).unwrap());
        assert_eq!(pending_seqs(&spool), [1, 2, 4, 5, 6, 8, 9]);
        let stats = spool.stats();
        assert_eq!((stats.appended, stats.acked, stats.entries), (10, 3, 7));
    }
    let (mut spool, rec) = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(rec.entries, 7);
    assert_eq!(rec.torn_tail_bytes, 0);
    assert_eq!(rec.corrupt_regions, 0);
    let again = pending(&spool);
    assert_eq!(
        again.iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        [1, 2, 4, 5, 6, 8, 9]
    );
    for e in &again {
        assert_entry(e, e.seq.0);
    }
    // Numbering goes on after the restart; acked entries stay acked.
    assert_eq!(spool.append(&topic(10), &payload(10)).unwrap(), Seq(10));
    assert!(!spool.ack(Seq(7)).unwrap());
    assert_eq!(
        spool
            .pending_from(Seq(6))
            .map(|e| e.unwrap().seq.0)
            .collect::<Vec<_>>(),
        [6, 8, 9, 10]
    );
    assert_entry(&spool.get(Seq(8)).unwrap().unwrap(), 8);
    assert!(spool.get(Seq(7)).unwrap().is_none());
}

/// A tiny deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn random_acks_across_many_segments_and_restarts_match_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Lcg(42);
    let mut model = std::collections::BTreeSet::new();
    let mut next = 0u64;
    for round in 0..6 {
        let (mut spool, rec) = Spool::open(dir.path(), small()).unwrap();
        assert_eq!(rec.entries, model.len(), "round {round}");
        assert_eq!(
            pending_seqs(&spool),
            model.iter().copied().collect::<Vec<_>>()
        );
        for e in pending(&spool) {
            assert_entry(&e, e.seq.0);
        }
        for _ in 0..150 {
            if !rng.next().is_multiple_of(3) || model.is_empty() {
                assert_eq!(
                    spool.append(&topic(next), &payload(next)).unwrap(),
                    Seq(next)
                );
                model.insert(next);
                next += 1;
            } else {
                // Ack a random pending entry, mostly old ones (as a broker would).
                let k = (rng.next() as usize % model.len()).min(rng.next() as usize % 4);
                let seq = *model.iter().nth(k).unwrap();
                assert!(spool.ack(Seq(seq)).unwrap());
                model.remove(&seq);
            }
        }
        assert!(spool.stats().segments > 1);
    }
    // Ack everything: every segment but the newest goes, and numbering still goes on.
    {
        let (mut spool, _) = Spool::open(dir.path(), small()).unwrap();
        for &s in model.iter().rev() {
            assert!(spool.ack(Seq(s)).unwrap());
        }
        assert!(spool.is_empty());
        assert!(spool.stats().segments <= 2, "{:?}", spool.stats());
        assert!(disk_bytes(dir.path()) <= 2 * small().segment_bytes);
    }
    let (mut spool, rec) = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(rec.entries, 0);
    assert_eq!(spool.append("t", b"{}").unwrap(), Seq(next));
}

#[test]
fn sequence_numbers_never_go_back_even_when_every_entry_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SpoolOptions {
        max_bytes: 2048,
        segment_bytes: 256,
    };
    {
        let (mut spool, _) = Spool::open(dir.path(), opts).unwrap();
        for i in 0..20 {
            let s = spool.append("t", format!("{i:0100}").as_bytes()).unwrap();
            assert!(spool.ack(s).unwrap());
        }
        assert_eq!(spool.stats().segments, 1);
    }
    let (mut spool, _) = Spool::open(dir.path(), opts).unwrap();
    assert_eq!(spool.next_seq(), Seq(20));
    assert_eq!(spool.append("t", b"x").unwrap(), Seq(20));
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), small()).unwrap();
    match Spool::open(dir.path(), small()) {
        Err(e @ SpoolError::Locked { .. }) => {
            assert!(e.to_string().contains(&dir.path().display().to_string()));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(spool);
    Spool::open(dir.path(), small()).unwrap();
}

#[test]
fn limits_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let bad = SpoolOptions {
        max_bytes: 1000,
        segment_bytes: 600,
    };
    assert!(matches!(
        Spool::open(dir.path(), bad),
        Err(SpoolError::InvalidOptions { .. })
    ));
    for opts in [
        SpoolOptions::default(),
        SpoolOptions::with_max_bytes(4096),
        SpoolOptions::with_max_bytes(1 << 30),
    ] {
        let sub = dir.path().join(format!("{}", opts.max_bytes));
        let (spool, _) = Spool::open(&sub, opts).unwrap();
        assert_eq!(spool.options(), opts);
    }
    let (mut spool, _) = Spool::open(dir.path(), small()).unwrap();
    let err = spool.append("t", &[b'x'; 1024]).unwrap_err();
    assert!(matches!(err, SpoolError::TooLarge { .. }), "{err}");
    // The largest entry that fits does.
    let max_payload = (small().segment_bytes
        - aisle_fleet::spool::SEGMENT_HEADER
        - aisle_fleet::spool::ENTRY_OVERHEAD
        - 1) as usize;
    let s = spool.append("t", &vec![b'y'; max_payload]).unwrap();
    assert_eq!(spool.get(s).unwrap().unwrap().payload.len(), max_payload);
    assert!(spool.append(&"t".repeat(70_000), b"").is_err());
}
