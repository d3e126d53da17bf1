//! Camera ingest against a real RTSP server (`scripts/rtsp_server.py`, GStreamer) on loopback:
//! outages with the server killed and restarted, memory across repeated outages, wrong
//! credentials, and four cameras at a reduced analysis rate.
//!
//! An outage has to last real time against a real server, so these tests wait on the wall
//! clock where the scenario needs it (10 s outages; the 20-outage memory test takes about four
//! and a half minutes); everything else waits on events with a deadline. The state machine's timing rules themselves are tested with a manual clock in
//! `crates/aisle-video/tests/camera.rs`.

mod common;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aisle_video::camera::{
    CameraIngest, CameraStats, CameraTimings, ConnectFailure, IngestOptions, IngestReport,
    StateKind, SystemClock,
};
use aisle_video::{MediaTime, RtspCredentials, RtspOptions};
use common::RtspServer;

/// How long the server stays down in the outage tests.
const OUTAGE: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Short backoff so a test recovers in seconds; the rules are the production ones.
fn test_timings() -> CameraTimings {
    CameraTimings {
        backoff_base: Duration::from_millis(250),
        backoff_cap: Duration::from_secs(2),
        stall_timeout: Duration::from_secs(3),
        ..CameraTimings::default()
    }
}

fn options(camera: &str, url: String) -> IngestOptions {
    let mut rtsp = RtspOptions::new(camera, url);
    rtsp.connect_timeout = Duration::from_secs(5);
    rtsp.frame_timeout = Some(Duration::from_secs(3));
    let mut o = IngestOptions::new(rtsp);
    o.timings = test_timings();
    o.queue_capacity = NonZeroUsize::new(16).unwrap();
    o
}

/// Polls `cond` on the ingest's stats every 50 ms until it holds or `limit` passes.
async fn wait_for(
    ingest: &CameraIngest,
    limit: Duration,
    what: &str,
    cond: impl Fn(&CameraStats) -> bool,
) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let s = ingest.stats();
        if cond(&s) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; stats: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Drains frames in the background so the queue never fills; returns their timestamps (the
/// frames themselves are released at once, as analysis would).
fn consume(ingest: &Arc<CameraIngest>) -> tokio::task::JoinHandle<Vec<MediaTime>> {
    let ingest = ingest.clone();
    tokio::spawn(async move {
        let mut pts = Vec::new();
        while let Some(f) = ingest.next_frame().await {
            pts.push(f.frame.pts);
        }
        pts
    })
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[test]
fn recovers_from_a_ten_second_server_outage_and_reports_it() {
    runtime().block_on(async {
        let server = RtspServer::start(&["--loop"]);
        let port = server.port.to_string();
        let ingest = CameraIngest::spawn(
            options("door", server.url("/vtest")),
            Arc::new(SystemClock::new()),
        )
        .unwrap();
        wait_for(&ingest, Duration::from_secs(30), "streaming", |s| {
            s.decoded >= 20
        })
        .await;
        let first_frame = ingest.try_next_frame().expect("a frame is queued");
        assert!(first_frame.frame.width == 768 && first_frame.frame.height == 576);

        let killed_wall = SystemTime::now();
        drop(server);
        // The camera is down for 10 s of real time.
        tokio::time::sleep(OUTAGE).await;
        let server = RtspServer::start(&["--loop", "--port", &port]);
        let restarted = Instant::now();
        let restarted_wall = SystemTime::now();
        let recovered = wait_for(&ingest, Duration::from_secs(30), "recovery", |s| {
            s.outages >= 1
        })
        .await;
        // Bound: one backoff (cap 2 s) + connecting + the wait for the next keyframe (GOP 2 s).
        let delay = recovered - restarted;
        assert!(
            delay <= Duration::from_secs(8),
            "recovered {delay:?} after the restart"
        );

        let reports = ingest.drain_reports();
        let outage = reports
            .iter()
            .find_map(|r| match r {
                IngestReport::Outage(o) => Some(o.clone()),
                _ => None,
            })
            .expect("an outage report");
        assert_eq!(outage.camera.as_str(), "door");
        assert!(
            outage.start.wall <= killed_wall,
            "outage starts at the last frame before the kill"
        );
        assert!(
            outage.end.wall >= restarted_wall,
            "outage ends after the restart"
        );
        let secs = outage.duration.as_secs_f64();
        assert!((10.0..=10.0 + 7.5).contains(&secs), "outage of {secs} s");
        let lost = outage.frames_lost.expect("frame rate known");
        assert_eq!(
            lost,
            (secs * 10.0).round() as u64 - 1,
            "frames lost at 10 fps over {secs} s"
        );
        assert!(
            reports.iter().any(|r| matches!(
                r,
                IngestReport::StateChange {
                    to: StateKind::BackingOff,
                    ..
                }
            )),
            "{reports:?}"
        );
        eprintln!(
            "recovered {delay:?} after the restart; outage {secs:.2} s, {lost} frames lost, cause: {}",
            outage.cause
        );
        let stats = ingest.stats();
        assert_eq!(stats.state, StateKind::Streaming);
        assert!(
            stats.reconnect_attempts >= 1 && stats.outages == 1,
            "{stats:?}"
        );
        // Frames after the outage keep increasing timestamps.
        let mut last = first_frame.frame.pts;
        while let Some(f) = ingest.try_next_frame() {
            assert!(
                f.frame.pts > last,
                "pts went back: {:?} after {last:?}",
                f.frame.pts
            );
            last = f.frame.pts;
        }
        ingest.stop().await;
        drop(server);
    });
}

#[test]
fn memory_does_not_grow_across_twenty_outages() {
    runtime().block_on(async {
        let mut server = RtspServer::start(&["--loop"]);
        let port = server.port.to_string();
        let ingest = Arc::new(
            CameraIngest::spawn(
                options("aisle-3", server.url("/vtest")),
                Arc::new(SystemClock::new()),
            )
            .unwrap(),
        );
        let consumer = consume(&ingest);
        let mut baseline = 0;
        for cycle in 0..20u64 {
            let decoded = ingest.stats().decoded;
            wait_for(&ingest, Duration::from_secs(30), "frames", |s| {
                s.decoded >= decoded + 5
            })
            .await;
            if cycle == 2 {
                baseline = rss_kib();
            }
            drop(server);
            // Each outage lasts 10 s of real time, as in the single-outage test.
            tokio::time::sleep(OUTAGE).await;
            assert_ne!(
                ingest.stats().state,
                StateKind::Streaming,
                "the outage went unnoticed"
            );
            server = RtspServer::start(&["--loop", "--port", &port]);
            wait_for(&ingest, Duration::from_secs(30), "recovery", |s| {
                s.outages > cycle
            })
            .await;
        }
        let grown = rss_kib().saturating_sub(baseline);
        let stats = ingest.stats();
        assert_eq!(stats.outages, 20, "{stats:?}");
        assert!(
            grown < 16 * 1024,
            "resident memory grew by {grown} KiB over 18 outages"
        );
        eprintln!(
            "20 outages: resident memory {grown} KiB above the level after the 3rd; {stats:?}"
        );
        ingest.shutdown();
        consumer.await.unwrap();
        drop(server);
    });
}

#[test]
fn wrong_credentials_back_off_without_a_crash_loop() {
    runtime().block_on(async {
        let server = RtspServer::start(&["--user", "aisle", "--password", "right-pass"]);
        let mut opts = options("till-2", server.url("/vtest"));
        opts.rtsp.credentials = Some(RtspCredentials {
            username: "aisle".into(),
            password: "wrong-pass-123".into(),
        });
        let ingest = CameraIngest::spawn(opts, Arc::new(SystemClock::new())).unwrap();
        wait_for(&ingest, Duration::from_secs(15), "the auth failure", |s| {
            s.state == StateKind::FailedAuth
        })
        .await;
        // The auth floor is 60 s: within the next 2 s no second attempt may happen.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stats = ingest.stats();
        assert_eq!(
            (stats.connect_attempts, stats.auth_failures),
            (1, 1),
            "{stats:?}"
        );
        assert_eq!(stats.state, StateKind::FailedAuth);
        let reports = ingest.drain_reports();
        let message = reports
            .iter()
            .find_map(|r| match r {
                IngestReport::ConnectFailed {
                    kind: ConnectFailure::Auth,
                    message,
                } => Some(message.clone()),
                _ => None,
            })
            .expect("an auth failure report");
        assert!(
            message.contains("till-2") && message.contains("401"),
            "{message}"
        );
        assert!(
            !message.contains("wrong-pass-123"),
            "password leaked: {message}"
        );
        ingest.stop().await;
    });
}

#[test]
fn four_cameras_are_analysed_at_five_fps_each() {
    runtime().block_on(async {
        let server = RtspServer::start(&["--loop"]);
        let mut cams = Vec::new();
        for i in 0..4u64 {
            let mut opts = options(&format!("cam-{i}"), server.url("/vtest"));
            opts.analysis_fps = Some(5);
            opts.seed = i;
            cams.push(Arc::new(
                CameraIngest::spawn(opts, Arc::new(SystemClock::new())).unwrap(),
            ));
        }
        let consumers: Vec<_> = cams.iter().map(consume).collect();
        for cam in &cams {
            wait_for(
                cam,
                Duration::from_secs(30),
                "4 s of analysed frames",
                |s| s.analysed >= 20,
            )
            .await;
        }
        let stats: Vec<CameraStats> = cams.iter().map(|c| c.stats()).collect();
        for cam in &cams {
            cam.shutdown();
        }
        for (stats, consumer) in stats.iter().zip(consumers) {
            let pts = consumer.await.unwrap();
            assert!(pts.len() >= 20, "{}: {} frames", stats.camera, pts.len());
            // 5 of the stream's 10 fps: every other frame, 200 ms apart. The live test server
            // stamps frames with its clock when it sends them (appsrc do-timestamp), so RTP
            // timestamps jitter by a few ms under load, as a real camera's do: each gap must be
            // one of every two frames (not 100 or 300 ms), and the mean exactly the rate.
            for w in pts.windows(2) {
                let gap = w[1].as_millis() - w[0].as_millis();
                assert!(
                    (160..=240).contains(&gap),
                    "{}: {gap} ms between analysed frames",
                    stats.camera
                );
            }
            let span = pts[pts.len() - 1].as_millis() - pts[0].as_millis();
            let mean = span as f64 / (pts.len() - 1) as f64;
            assert!(
                (195.0..=205.0).contains(&mean),
                "{}: mean {mean:.1} ms between analysed frames",
                stats.camera
            );
            assert_eq!(stats.dropped_by_queue, 0, "{stats:?}");
            assert!(stats.decoded >= 2 * stats.analysed - 2, "{stats:?}");
        }
        drop(server);
    });
}

#[test]
fn an_h265_camera_is_ingested_and_decoded() {
    runtime().block_on(async {
        let h265 = common::media("vtest_h265.mp4");
        let server = RtspServer::start(&["--loop", "--h265-file", h265.to_str().unwrap()]);
        let ingest = CameraIngest::spawn(
            options("hevc", server.url("/vtest_h265")),
            Arc::new(SystemClock::new()),
        )
        .unwrap();
        wait_for(
            &ingest,
            Duration::from_secs(30),
            "decoded H.265 frames",
            |s| s.decoded >= 10,
        )
        .await;
        let f = ingest.try_next_frame().expect("a frame is queued");
        assert_eq!((f.frame.width, f.frame.height), (768, 576));
        let stats = ingest.stats();
        assert_eq!(
            (stats.decoder_errors, stats.state),
            (0, StateKind::Streaming),
            "{stats:?}"
        );
        ingest.stop().await;
    });
}
