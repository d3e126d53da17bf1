//! Camera ingest throughput: four RTSP cameras (a real GStreamer RTSP server on loopback,
//! `scripts/rtsp_server.py`, serving the 768x576 10 fps sample video as a live loop) ingested
//! by `CameraIngest` (retina depacketizing, state machine, decoder, decimation to 5 analysed fps)
//! for a fixed wall time. Reports frames decoded per CPU-second of this process (the server's
//! CPU is not counted), i.e. ingest+decode throughput per core, for H.264 and H.265.
//!
//! Run: `make bench` (or `cargo bench -p aisled --bench ingest`). Criterion is not used: the
//! cameras deliver in real time, so the measure is CPU time per frame, not wall time.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aisle_video::camera::{CameraIngest, IngestOptions, SystemClock};
use aisle_video::RtspOptions;
use common::RtspServer;

const CAMERAS: u64 = 4;
const MEASURE: Duration = Duration::from_secs(15);

/// CPU time (user + system) of this process, from /proc (USER_HZ = 100 ticks per second).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn run(label: &str, mount: &str, server: &RtspServer, rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let mut cams = Vec::new();
        for i in 0..CAMERAS {
            let mut opts = IngestOptions::new(RtspOptions::new(format!("{label}-{i}"), server.url(mount)));
            opts.analysis_fps = Some(5);
            opts.queue_capacity = NonZeroUsize::new(8).unwrap();
            opts.seed = i;
            let cam = Arc::new(CameraIngest::spawn(opts, Arc::new(SystemClock::new())).unwrap());
            let reader = cam.clone();
            tokio::spawn(async move { while reader.next_frame().await.is_some() {} });
            cams.push(cam);
        }
        // Warm up: every camera streaming.
        let deadline = Instant::now() + Duration::from_secs(30);
        while cams.iter().any(|c| c.stats().decoded < 10) {
            assert!(Instant::now() < deadline, "{label}: cameras did not start streaming");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let decoded0: u64 = cams.iter().map(|c| c.stats().decoded).sum();
        let analysed0: u64 = cams.iter().map(|c| c.stats().analysed).sum();
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        tokio::time::sleep(MEASURE).await;
        let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
        let decoded = cams.iter().map(|c| c.stats().decoded).sum::<u64>() - decoded0;
        let analysed = cams.iter().map(|c| c.stats().analysed).sum::<u64>() - analysed0;
        let dropped: u64 = cams.iter().map(|c| c.stats().dropped_by_queue).sum();
        println!(
            "ingest/{label}: {CAMERAS} cameras, {decoded} frames decoded ({:.1} fps), {analysed} analysed ({:.1} fps), \
             {dropped} dropped by the queue; CPU {:.2} s in {:.1} s wall = {:.1} % of one core; \
             {:.2} ms CPU per frame = {:.0} frames per second per core",
            decoded as f64 / wall.as_secs_f64(),
            analysed as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            1e3 * cpu.as_secs_f64() / decoded.max(1) as f64,
            decoded as f64 / cpu.as_secs_f64().max(1e-9),
        );
        for c in &cams {
            c.shutdown();
        }
    });
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no options.
    let h265 = common::media("vtest_h265.mp4");
    let server = RtspServer::start(&["--loop", "--h265-file", h265.to_str().unwrap()]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    run("h264", "/vtest", &server, &rt);
    run("h265", "/vtest_h265", &server, &rt);
}
