//! Append + fsync and ack + fsync throughput of the spool on this machine's disk.
//!
//! `cargo run --release -p aisle-fleet --example spool_throughput [DIR] [N] [PAYLOAD_BYTES]`
//! (DIR defaults to a temporary directory under $TMPDIR; put it on the device's eMMC/SSD to
//! measure that). Every operation is durable when it returns, so the figure is bounded by the
//! storage's fsync latency, not by the CPU.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use aisle_fleet::{Spool, SpoolOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let tmp;
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let n: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(800);
    let payload = {
        let mut p = b"{\"schema\":\"aisle.metrics.v1\",\"pad\":\"".to_vec();
        p.resize(size.saturating_sub(2), b'x');
        p.extend_from_slice(b"\"}");
        p
    };
    let topic = "aisle/v1/site/device/cam1/zone1/metrics";
    let (mut spool, _) = Spool::open(&dir, SpoolOptions::default())?;

    let t = Instant::now();
    let mut seqs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        seqs.push(spool.append(topic, &payload)?);
    }
    let append_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let replayed = spool.pending().count();
    let replay_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    for s in seqs {
        spool.ack(s)?;
    }
    let ack_s = t.elapsed().as_secs_f64();

    println!("spool in {}", dir.display());
    println!(
        "append+fsync: {n} x {} B in {append_s:.3} s: {:.0} appends/s, {:.2} MB/s, {:.3} ms each",
        payload.len(),
        n as f64 / append_s,
        n as f64 * payload.len() as f64 / append_s / 1e6,
        append_s * 1e3 / n as f64
    );
    println!(
        "replay (read back, checksum): {replayed} in {replay_s:.3} s: {:.0} entries/s",
        replayed as f64 / replay_s
    );
    println!(
        "ack+fsync: {n} in {ack_s:.3} s: {:.0} acks/s",
        n as f64 / ack_s
    );
    println!("after: {:?}", spool.stats());
    Ok(())
}
