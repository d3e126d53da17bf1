//! A real `kill -9`: a child process (this test binary again, in "writer" mode) appends entries
//! as fast as it can and reports each sequence number once `append` has returned, and each ack
//! once `ack` has returned; the parent kills it with SIGKILL after a number of entries (no
//! wall-clock sleeps), reopens the spool and checks that every reported entry is there, intact,
//! and that no reported ack came back. Several rounds on the same directory, so recovery runs on
//! the leftovers of earlier kills too.
//!
//! This proves process-crash safety (the kernel keeps the page cache); power-cut safety rests on
//! the fsync ordering and on the byte-by-byte torn-write tests in `spool_recovery.rs`.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use aisle_fleet::{Seq, Spool, SpoolOptions};
use common::topic;

const CHILD_ENV: &str = "AISLE_FLEET_KILL9_WRITER_DIR";

fn opts() -> SpoolOptions {
    SpoolOptions {
        max_bytes: 1 << 30,
        segment_bytes: 1 << 20,
    }
}

/// Payloads of 1 to ~64 KiB, so that a kill can land in the middle of a multi-page write.
fn big_payload(seq: u64) -> Vec<u8> {
    let pad = (seq.wrapping_mul(7919) % 64_000) as usize + 1000;
    let mut p = format!(r#"{{"seq":{seq},"pad":""#).into_bytes();
    p.extend((0..pad).map(|k| b'a' + ((seq as usize + k) % 26) as u8));
    p.extend_from_slice(b"\"}");
    p
}

/// Writer mode: does nothing unless started by the parent test below with `CHILD_ENV` set.
#[test]
fn kill9_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mut spool, _) = Spool::open(&dir, opts()).expect("child opens the spool");
    let mut out = std::io::stdout().lock();
    // libtest has printed "test kill9_writer_child ... " without a newline: end that line.
    writeln!(out).expect("stdout");
    loop {
        let next = spool.next_seq().0;
        let seq = spool
            .append(&topic(next), &big_payload(next))
            .expect("append");
        // The protocol with the parent, not diagnostics: one line per durable operation.
        writeln!(out, "A {}", seq.0)
            .and_then(|()| out.flush())
            .expect("stdout");
        if seq.0 % 3 == 1 {
            assert!(spool.ack(seq).expect("ack"));
            writeln!(out, "K {}", seq.0)
                .and_then(|()| out.flush())
                .expect("stdout");
        }
    }
}

#[test]
fn kill9_loses_nothing_that_append_or_ack_returned() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut appended = BTreeSet::new();
    let mut acked = BTreeSet::new();
    // Entries a killed writer had made durable without reporting them (the kill landed between
    // `append` returning and the report): legitimately pending from then on, never acked.
    let mut unreported = BTreeSet::new();
    for round in 0..5u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kill9_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill after a number of entries that varies per round, so the kill lands at different
        // points of the append/ack cycle.
        let target = 60 + 17 * round;
        let mut seen = 0;
        let mut killed = false;
        let parse = |line: &str, appended: &mut BTreeSet<u64>, acked: &mut BTreeSet<u64>| {
            if let Some(s) = line.strip_prefix("A ") {
                assert!(
                    appended.insert(s.parse::<u64>().unwrap()),
                    "seq reused: {line}"
                );
                return true;
            }
            if let Some(s) = line.strip_prefix("K ") {
                acked.insert(s.parse::<u64>().unwrap());
            }
            false
        };
        for line in lines.by_ref() {
            let line = line.unwrap();
            if parse(&line, &mut appended, &mut acked) {
                seen += 1;
            }
            if seen >= target {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                break;
            }
        }
        // Lines the child wrote before it died are still in the pipe: those operations had
        // returned, so they count too.
        for line in lines {
            parse(&line.unwrap(), &mut appended, &mut acked);
        }
        let status = child.wait().unwrap();
        assert!(
            killed,
            "round {round}: the writer stopped by itself: {status:?}"
        );
        assert_eq!(status.signal(), Some(9), "round {round}: {status:?}");

        let (spool, rec) = Spool::open(dir.path(), opts()).unwrap();
        assert_eq!(rec.corrupt_regions, 0, "round {round}: {rec:?}");
        assert_eq!(rec.lost_entries, 0, "round {round}: {rec:?}");
        let max_reported = *appended.last().unwrap();
        // The one operation the kill may have interrupted after it took effect: the ack of the
        // last reported entry (the writer acks every entry with seq % 3 == 1 right after
        // appending it), or the append of the next one.
        let ack_in_flight = max_reported % 3 == 1 && !acked.contains(&max_reported);
        let unacked: Vec<u64> = appended.difference(&acked).copied().collect();
        for seq in unacked {
            let entry = spool
                .get(Seq(seq))
                .unwrap_or_else(|e| panic!("round {round}: seq {seq}: {e}"));
            let Some(entry) = entry else {
                assert!(
                    ack_in_flight && seq == max_reported,
                    "round {round}: durable seq {seq} is missing"
                );
                acked.insert(seq);
                continue;
            };
            assert_eq!(entry.topic, topic(seq));
            assert!(
                entry.payload == big_payload(seq),
                "round {round}: seq {seq} differs"
            );
        }
        for &seq in &acked {
            assert!(
                spool.get(Seq(seq)).unwrap().is_none(),
                "acked seq {seq} came back"
            );
        }
        // Anything else pending is the entry whose append was in progress at this kill (written,
        // not reported), or one such entry of an earlier round.
        for seq in spool.pending_seqs().map(|s| s.0) {
            if seq == max_reported + 1 {
                unreported.insert(seq);
            }
            assert!(
                appended.contains(&seq) || unreported.contains(&seq),
                "round {round}: unexpected pending seq {seq}"
            );
        }
        assert!(appended.len() as u64 >= (round + 1) * 60);
    }
}
