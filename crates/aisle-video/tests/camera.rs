//! The per-camera ingest state machine driven with a `ManualClock`: no sockets, no sleeps.

use std::num::NonZeroUsize;
use std::time::Duration;

use aisle_video::camera::{
    CameraAction, CameraEvent, CameraId, CameraState, CameraStateMachine, CameraStats,
    CameraTimings, Clock, ConnectFailure, DisconnectReason, DropReason, FrameQueue, Jitter,
    ManualClock, RateDecimator, Resolution, SplitMix64, StateKind,
};
use aisle_video::h264::annexb_nal_units;
use aisle_video::{AccessUnit, Codec, MediaTime, StreamInfo};

const CAM: &str = "aisle-3";
const RATE: u32 = 90_000;
const FRAME: Duration = Duration::from_millis(40);
const FRAME_TICKS: u32 = 3_600;

/// SPS NAL units written by x264 (as in `h264.rs`' tests).
const SPS_320X240: &[u8] = &[
    0x67, 0x42, 0xc0, 0x0b, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
    0x00, 0x03, 0x01, 0x40, 0xf1, 0x42, 0xa4, 0x80,
];
const SPS_1080: &[u8] = &[
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03,
    0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x50, 0x3c, 0x60, 0xc6, 0x58,
];
const PPS: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];
const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x21];
const P_SLICE: &[u8] = &[0x41, 0x9a, 0x21, 0x4c];

fn annexb(nals: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for n in nals {
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(n);
    }
    v
}

fn nal_types(data: &[u8]) -> Vec<u8> {
    annexb_nal_units(data).iter().map(|n| n[0] & 0x1f).collect()
}

fn info(codec: Codec) -> StreamInfo {
    StreamInfo {
        codec,
        width: 320,
        height: 240,
        timescale: RATE,
        frame_count: None,
        nominal_fps: Some(25.0),
    }
}

fn timings() -> CameraTimings {
    CameraTimings::default()
}

/// A machine, a clock and the bookkeeping a shell would do.
struct Harness {
    clock: ManualClock,
    m: CameraStateMachine,
    rtp: u32,
    index: u64,
    wake: Option<Duration>,
    log: Vec<CameraAction>,
}

impl Harness {
    fn new(t: CameraTimings, seed: u64) -> Self {
        Self {
            clock: ManualClock::at_2026(),
            m: CameraStateMachine::new(CAM, t, seed).unwrap(),
            rtp: 1_234_567,
            index: 0,
            wake: None,
            log: Vec::new(),
        }
    }

    fn send(&mut self, ev: CameraEvent) -> Vec<CameraAction> {
        let out = self.m.handle_now(&self.clock, ev);
        for a in &out {
            assert_eq!(a.camera().as_str(), CAM);
            assert!(a.to_string().starts_with("camera \"aisle-3\": "), "{a}");
            if let CameraAction::ScheduleWake { at, .. } = a {
                self.wake = Some(*at);
            }
        }
        self.log.extend(out.iter().cloned());
        out
    }

    fn connect(&mut self) -> Vec<CameraAction> {
        let mut out = self.send(CameraEvent::Start);
        assert!(out
            .iter()
            .any(|a| matches!(a, CameraAction::Connect { .. })));
        out.extend(self.send(CameraEvent::ConnectSucceeded {
            info: info(Codec::H264),
            parameter_sets: vec![],
        }));
        out
    }

    /// Sends an access unit with the next RTP timestamp (one frame after the previous).
    fn au(&mut self, nals: &[&[u8]], is_sync: bool) -> Vec<CameraAction> {
        self.au_at_rtp(nals, is_sync, self.rtp.wrapping_add(FRAME_TICKS))
    }

    fn au_at_rtp(&mut self, nals: &[&[u8]], is_sync: bool, rtp: u32) -> Vec<CameraAction> {
        self.rtp = rtp;
        self.index += 1;
        let au = AccessUnit {
            data: annexb(nals),
            pts: MediaTime {
                ticks: 0,
                timescale: RATE,
            },
            dts: MediaTime {
                ticks: 0,
                timescale: RATE,
            },
            is_sync,
            index: self.index,
        };
        self.send(CameraEvent::AccessUnitReceived {
            au,
            rtp_timestamp: rtp,
            clock_rate: RATE,
        })
    }

    fn keyframe(&mut self) -> Vec<CameraAction> {
        self.au(&[SPS_320X240, PPS, IDR], true)
    }

    /// Advances to the scheduled wake and ticks.
    fn tick_at_wake(&mut self) -> Vec<CameraAction> {
        let at = self.wake.expect("a wake is scheduled");
        self.clock.advance_to(at);
        self.send(CameraEvent::Tick)
    }

    /// `secs` seconds of 25 fps video, a keyframe every 50 frames, clock advancing per frame.
    fn stream(&mut self, secs: u64) {
        for k in 0..secs * 25 {
            self.clock.advance(FRAME);
            if k % 50 == 0 {
                self.keyframe();
            } else {
                self.au(&[P_SLICE], false);
            }
        }
    }
}

fn decodes(actions: &[CameraAction]) -> Vec<(&AccessUnit, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            CameraAction::Decode { au, keyframe, .. } => Some((au, *keyframe)),
            _ => None,
        })
        .collect()
}

fn drops(actions: &[CameraAction]) -> Vec<DropReason> {
    actions
        .iter()
        .filter_map(|a| match a {
            CameraAction::DropAccessUnit { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

fn disconnect(actions: &[CameraAction]) -> Option<&DisconnectReason> {
    actions.iter().find_map(|a| match a {
        CameraAction::Disconnect { reason, .. } => Some(reason),
        _ => None,
    })
}

#[test]
fn happy_path_connects_waits_and_streams() {
    let mut h = Harness::new(timings(), 1);
    let out = h.send(CameraEvent::Start);
    assert!(matches!(
        &out[..],
        [
            CameraAction::ReportStateChange { from: CameraState::Stopped, to: CameraState::Connecting, .. },
            CameraAction::Connect { .. },
            CameraAction::ScheduleWake { at, .. },
        ] if *at == Duration::from_secs(20)
    ));
    h.clock.advance(Duration::from_millis(300));
    let out = h.send(CameraEvent::ConnectSucceeded {
        info: info(Codec::H264),
        parameter_sets: vec![],
    });
    assert_eq!(h.m.state(), CameraState::WaitingForKeyframe);
    assert!(out.iter().any(|a| matches!(
        a,
        CameraAction::ReportStateChange {
            to: CameraState::WaitingForKeyframe,
            ..
        }
    )));

    h.clock.advance(FRAME);
    let out = h.keyframe();
    assert_eq!(h.m.state(), CameraState::Streaming);
    let d = decodes(&out);
    assert_eq!(d.len(), 1);
    assert!(d[0].1, "first decode is a keyframe");
    assert_eq!(nal_types(&d[0].0.data), [7, 8, 5]);
    // No outage: the camera streamed from the start.
    assert!(!out
        .iter()
        .any(|a| matches!(a, CameraAction::ReportOutage(_))));

    for _ in 0..99 {
        h.clock.advance(FRAME);
        let out = h.au(&[P_SLICE], false);
        assert_eq!(decodes(&out).len(), 1);
    }
    let s = h.m.stats();
    assert_eq!(s.access_units_received, 100);
    assert_eq!(s.decode_requested, 100);
    assert_eq!(s.dropped_before_keyframe, 0);
    assert_eq!(s.connect_attempts, 1);
    assert_eq!(s.reconnect_attempts, 0);
    assert_eq!(s.state, StateKind::Streaming);

    // Timestamps: 40 ms apart on the local clock, pts in RTP ticks.
    let times: Vec<_> = h
        .log
        .iter()
        .filter_map(|a| match a {
            CameraAction::Decode { au, time, .. } => Some((au.pts, time.local, time.wall)),
            _ => None,
        })
        .collect();
    for w in times.windows(2) {
        assert_eq!(w[1].0.ticks - w[0].0.ticks, i64::from(FRAME_TICKS));
        assert_eq!(w[1].1 - w[0].1, FRAME);
        assert_eq!(w[1].2.duration_since(w[0].2).unwrap(), FRAME);
    }

    let out = h.send(CameraEvent::Stop);
    assert!(matches!(disconnect(&out), Some(DisconnectReason::Stopped)));
    assert_eq!(h.m.state(), CameraState::Stopped);
    assert_eq!(h.m.next_wake(), None);
}

#[test]
fn mid_gop_join_drops_until_parameter_sets_and_idr() {
    let mut h = Harness::new(timings(), 1);
    h.connect();
    // Joined in the middle of a GOP: P slices first.
    for _ in 0..10 {
        h.clock.advance(FRAME);
        let out = h.au(&[P_SLICE], false);
        assert_eq!(drops(&out), [DropReason::WaitingForKeyframe]);
    }
    // An IDR without parameter sets ever seen: still nothing to decode with.
    h.clock.advance(FRAME);
    assert_eq!(
        drops(&h.au(&[IDR], true)),
        [DropReason::WaitingForParameterSets]
    );
    // Parameter sets alone (some cameras send them in their own packets).
    h.clock.advance(FRAME);
    assert_eq!(
        drops(&h.au(&[SPS_320X240, PPS], false)),
        [DropReason::WaitingForKeyframe]
    );
    h.clock.advance(FRAME);
    assert_eq!(
        drops(&h.au(&[P_SLICE], false)),
        [DropReason::WaitingForKeyframe]
    );
    // The IDR: decoded, with the parameter sets written in front.
    h.clock.advance(FRAME);
    let out = h.au(&[IDR], true);
    let d = decodes(&out);
    assert_eq!(d.len(), 1);
    assert!(d[0].1);
    assert_eq!(nal_types(&d[0].0.data), [7, 8, 5]);
    assert_eq!(h.m.stats().dropped_before_keyframe, 13);
    assert_eq!(h.m.state(), CameraState::Streaming);

    // A decoder error: back to waiting; the next decode is again a keyframe.
    h.send(CameraEvent::DecoderError {
        message: "corrupt slice".into(),
    });
    assert_eq!(h.m.state(), CameraState::WaitingForKeyframe);
    h.clock.advance(FRAME);
    assert_eq!(
        drops(&h.au(&[P_SLICE], false)),
        [DropReason::WaitingForKeyframe]
    );
    h.clock.advance(FRAME);
    let out = h.au(&[IDR], false); // is_sync unset by the shell: the IDR slice is found anyway
    assert_eq!(nal_types(&decodes(&out)[0].0.data), [7, 8, 5]);
    assert_eq!(h.m.stats().decoder_errors, 1);
}

#[test]
fn sdp_parameter_sets_and_h265_need_vps() {
    // Parameter sets from the SDP count as seen.
    let mut h = Harness::new(timings(), 1);
    h.send(CameraEvent::Start);
    h.send(CameraEvent::ConnectSucceeded {
        info: info(Codec::H264),
        parameter_sets: vec![SPS_320X240.to_vec(), PPS.to_vec()],
    });
    h.clock.advance(FRAME);
    let out = h.au(&[&[0x09, 0xf0], IDR], true);
    assert_eq!(
        nal_types(&decodes(&out)[0].0.data),
        [9, 7, 8, 5],
        "AUD stays first"
    );

    // H.265: VPS (32), SPS (33), PPS (34), IDR_W_RADL (19), TRAIL_R (1).
    let vps: &[u8] = &[0x40, 0x01, 0x0c];
    let sps: &[u8] = &[0x42, 0x01, 0x01];
    let pps: &[u8] = &[0x44, 0x01, 0xc0];
    let idr: &[u8] = &[0x26, 0x01, 0xaf];
    let trail: &[u8] = &[0x02, 0x01, 0xd0];
    let mut h = Harness::new(timings(), 1);
    h.send(CameraEvent::Start);
    h.send(CameraEvent::ConnectSucceeded {
        info: info(Codec::H265),
        parameter_sets: vec![],
    });
    h.clock.advance(FRAME);
    assert_eq!(
        drops(&h.au(&[trail], false)),
        [DropReason::WaitingForKeyframe]
    );
    h.clock.advance(FRAME);
    assert_eq!(
        drops(&h.au(&[sps, pps, idr], true)),
        [DropReason::WaitingForParameterSets]
    );
    h.clock.advance(FRAME);
    let out = h.au(&[vps, sps, pps, idr], true);
    assert_eq!(decodes(&out).len(), 1);
    h.clock.advance(FRAME);
    assert_eq!(decodes(&h.au(&[trail], false)).len(), 1);
}

/// Drives failed connections: every `Connect` fails with `kind`; returns (attempts, delays).
fn fail_connects(h: &mut Harness, kind: ConnectFailure, until: Duration) -> (u64, Vec<Duration>) {
    let mut attempts = 0u64;
    let mut delays = Vec::new();
    let mut pending = h.send(CameraEvent::Start);
    loop {
        let connect = pending
            .iter()
            .any(|a| matches!(a, CameraAction::Connect { .. }));
        if connect {
            attempts += 1;
            let out = h.send(CameraEvent::ConnectFailed {
                kind,
                message: "refused".into(),
            });
            match h.m.state() {
                CameraState::BackingOff { until, .. } | CameraState::FailedAuth { until, .. } => {
                    delays.push(until - h.clock.now())
                }
                s => panic!("unexpected state {s:?}"),
            }
            assert!(disconnect(&out).is_some());
        }
        if h.clock.now() >= until {
            return (attempts, delays);
        }
        pending = h.tick_at_wake();
    }
}

#[test]
fn backoff_is_capped_jittered_and_deterministic() {
    let cap = Duration::from_secs(30);
    for jitter in [Jitter::Equal, Jitter::Full] {
        let t = CameraTimings {
            jitter,
            ..timings()
        };
        let run = |seed| {
            let mut h = Harness::new(t.clone(), seed);
            fail_connects(
                &mut h,
                ConnectFailure::Unreachable,
                Duration::from_secs(3600),
            )
            .1
        };
        let a = run(42);
        assert_eq!(a, run(42), "same seed, same delays");
        assert_ne!(a, run(43), "another seed, other delays");
        for (i, d) in a.iter().enumerate() {
            let n = i as u32 + 1;
            let ceiling = Duration::from_secs(1u64 << (n - 1).min(5)).min(cap);
            assert!(*d <= ceiling, "{jitter:?} attempt {n}: {d:?} > {ceiling:?}");
            if jitter == Jitter::Equal {
                assert!(*d >= ceiling / 2, "attempt {n}: {d:?} < {:?}", ceiling / 2);
            }
        }
        // An hour of failures at a 30 s cap: more than 120 attempts with full jitter would
        // mean a loop; equal jitter averages 22.5 s.
        assert!(a.len() > 100, "{} attempts", a.len());
    }
    // Without jitter the sequence is exactly 1, 2, 4, 8, 16, 30, 30 s.
    let t = CameraTimings {
        jitter: Jitter::None,
        ..timings()
    };
    let mut h = Harness::new(t, 0);
    let delays = fail_connects(&mut h, ConnectFailure::Protocol, Duration::from_secs(120)).1;
    let secs: Vec<u64> = delays.iter().take(7).map(|d| d.as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
    assert!(h.m.stats().reconnect_attempts >= 6);
}

#[test]
fn auth_failure_backs_off_with_the_long_floor_for_1000_hours() {
    let mut h = Harness::new(timings(), 7);
    let hours = 1000u64;
    let (attempts, delays) = fail_connects(
        &mut h,
        ConnectFailure::Auth,
        Duration::from_secs(hours * 3600),
    );
    assert!(
        matches!(h.m.state(), CameraState::FailedAuth { .. })
            || h.m.state() == CameraState::Connecting
    );
    let floor = Duration::from_secs(60);
    for d in &delays {
        assert!(
            *d >= floor && *d <= floor + Duration::from_secs(30),
            "{d:?}"
        );
    }
    // At most one attempt per floor; with the backoff added, about one per 82 s.
    assert!(attempts <= hours * 3600 / 60 + 1, "{attempts} attempts");
    assert!(attempts >= hours * 3600 / 90, "{attempts} attempts");
    let s = h.m.stats();
    assert_eq!(s.auth_failures, attempts);
    assert_eq!(
        s.connect_attempts,
        attempts + u64::from(h.m.state() == CameraState::Connecting)
    );
}

#[test]
fn stall_watchdog_fires_at_exactly_n_seconds() {
    let mut h = Harness::new(timings(), 1);
    h.connect();
    h.stream(5);
    let last_au = h.clock.now();
    // Follow the wakes the machine asks for: none disconnects before the deadline.
    for _ in 0..5 {
        let at = h.wake.unwrap();
        if at >= last_au + Duration::from_secs(10) {
            break;
        }
        h.clock.advance_to(at);
        let out = h.send(CameraEvent::Tick);
        assert!(disconnect(&out).is_none());
    }
    assert_eq!(h.wake, Some(last_au + Duration::from_secs(10)));
    h.clock
        .advance_to(last_au + Duration::from_secs(10) - Duration::from_nanos(1));
    assert!(disconnect(&h.send(CameraEvent::Tick)).is_none());
    assert_eq!(h.m.state(), CameraState::Streaming);
    h.clock.advance(Duration::from_nanos(1));
    let out = h.send(CameraEvent::Tick);
    assert_eq!(
        disconnect(&out),
        Some(&DisconnectReason::Stalled {
            silent_for: Duration::from_secs(10)
        })
    );
    assert!(matches!(
        h.m.state(),
        CameraState::BackingOff { attempt: 1, .. }
    ));
    assert_eq!(h.m.stats().stalls, 1);
    assert!(h.m.stats().outage_since_ms.is_some());
}

#[test]
fn outage_report_for_a_10_second_server_restart() {
    // Retry every second exactly, so the outage is exactly 10 s.
    let t = CameraTimings {
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(1),
        jitter: Jitter::None,
        ..timings()
    };
    let mut h = Harness::new(t, 1);
    h.connect();
    h.stream(120); // long enough to be stable
                   // The server closes the connection right after its last frame.
    let last = h.clock.stamp();
    let out = h.send(CameraEvent::StreamEnded);
    assert_eq!(disconnect(&out), Some(&DisconnectReason::StreamEnded));
    assert!(matches!(
        h.m.state(),
        CameraState::BackingOff { attempt: 1, .. }
    ));
    let back_at = last.mono + Duration::from_secs(10);
    loop {
        let out = h.tick_at_wake();
        if out
            .iter()
            .any(|a| matches!(a, CameraAction::Connect { .. }))
        {
            if h.clock.now() < back_at {
                h.send(CameraEvent::ConnectFailed {
                    kind: ConnectFailure::Unreachable,
                    message: "connection refused".into(),
                });
            } else {
                break;
            }
        }
    }
    h.clock.advance_to(back_at);
    // The restarted server picks a new random RTP start (RFC 3550 §5.1).
    h.rtp = 99;
    h.send(CameraEvent::ConnectSucceeded {
        info: info(Codec::H264),
        parameter_sets: vec![],
    });
    let out = h.keyframe();
    let report = out
        .iter()
        .find_map(|a| match a {
            CameraAction::ReportOutage(r) => Some(r.clone()),
            _ => None,
        })
        .expect("outage reported when video resumes");
    assert_eq!(report.camera, CameraId::new(CAM));
    assert_eq!(report.start, last);
    assert_eq!(report.end.mono, back_at);
    assert_eq!(report.end.wall, last.wall + Duration::from_secs(10));
    assert_eq!(report.duration, Duration::from_secs(10));
    assert_eq!(report.frames_lost, Some(249));
    assert!(report.cause.contains("ended"), "{}", report.cause);
    let s = h.m.stats();
    assert_eq!(
        (s.outages, s.downtime_ms, s.outage_since_ms),
        (1, 10_000, None)
    );
    assert_eq!(s.reconnect_attempts, 10);
    assert_eq!(s.connect_failures, 9);
    // Timestamps keep increasing across the reconnect although RTP restarted at 99.
    let pts: Vec<i64> = h
        .log
        .iter()
        .filter_map(|a| match a {
            CameraAction::Decode { au, .. } => Some(au.pts.ticks),
            _ => None,
        })
        .collect();
    assert!(pts.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn rtp_wrap_keeps_timestamps_monotonic() {
    let mut h = Harness::new(timings(), 1);
    h.connect();
    h.rtp = u32::MAX - 20 * FRAME_TICKS;
    h.clock.advance(FRAME);
    h.keyframe();
    for _ in 0..100 {
        h.clock.advance(FRAME);
        h.au(&[P_SLICE], false);
    }
    let times: Vec<_> = h
        .log
        .iter()
        .filter_map(|a| match a {
            CameraAction::Decode { time, au, .. } => {
                Some((time.rtp_ticks, au.pts.ticks, time.local, time.reanchored))
            }
            _ => None,
        })
        .collect();
    assert_eq!(times.len(), 101);
    for w in times.windows(2) {
        assert_eq!(w[1].0 - w[0].0, i64::from(FRAME_TICKS));
        assert_eq!(w[1].1 - w[0].1, i64::from(FRAME_TICKS));
        assert_eq!(w[1].2 - w[0].2, FRAME);
        assert!(!w[1].3);
    }
    assert!(times.last().unwrap().0 > i64::from(u32::MAX));
    assert!(h.rtp < FRAME_TICKS * 100, "the RTP timestamp did wrap");
}

#[test]
fn reanchors_on_a_jump() {
    let mut h = Harness::new(timings(), 1);
    h.connect();
    h.stream(2);
    // The camera's RTP clock jumps an hour ahead.
    h.clock.advance(FRAME);
    let jumped = h.rtp.wrapping_add(RATE * 3600);
    let out = h.au_at_rtp(&[P_SLICE], false, jumped);
    let (time, _) = out
        .iter()
        .find_map(|a| match a {
            CameraAction::Decode { time, au, .. } => Some((*time, au.pts)),
            _ => None,
        })
        .unwrap();
    assert!(time.reanchored);
    assert_eq!(time.local, h.clock.now(), "mapped to the arrival time");
    assert_eq!(h.m.stats().reanchors, 1);
    // It goes on 40 ms a frame from there.
    h.clock.advance(FRAME);
    let out = h.au(&[P_SLICE], false);
    let t2 = out
        .iter()
        .find_map(|a| match a {
            CameraAction::Decode { time, .. } => Some(*time),
            _ => None,
        })
        .unwrap();
    assert!(!t2.reanchored);
    assert_eq!(t2.local - time.local, FRAME);
    // A jump back by a minute: re-anchored once it persists past the confirmation time.
    h.rtp = h.rtp.wrapping_sub(RATE * 60);
    let mut reanchored_after = None;
    for k in 0..50u32 {
        h.clock.advance(FRAME);
        let out = h.au(&[P_SLICE], false);
        if out
            .iter()
            .any(|a| matches!(a, CameraAction::Decode { time, .. } if time.reanchored))
        {
            reanchored_after = Some(k);
            break;
        }
    }
    // Confirmation takes 1 s = 25 frames after the first late one.
    assert_eq!(reanchored_after, Some(25));
    assert_eq!(h.m.stats().reanchors, 2);
}

#[test]
fn sps_change_is_reported_before_the_decode() {
    let mut h = Harness::new(timings(), 1);
    h.connect();
    h.stream(2);
    h.clock.advance(FRAME);
    let out = h.au(&[SPS_1080, PPS, IDR], true);
    let pos_change = out
        .iter()
        .position(|a| matches!(a, CameraAction::FormatChanged { .. }))
        .expect("format change reported");
    let pos_decode = out
        .iter()
        .position(|a| matches!(a, CameraAction::Decode { .. }))
        .unwrap();
    assert!(pos_change < pos_decode);
    match &out[pos_change] {
        CameraAction::FormatChanged {
            from, to, codec, ..
        } => {
            assert_eq!(*codec, Codec::H264);
            assert_eq!(
                *from,
                Some(Resolution {
                    width: 320,
                    height: 240
                })
            );
            assert_eq!(
                *to,
                Some(Resolution {
                    width: 1920,
                    height: 1080
                })
            );
        }
        _ => unreachable!(),
    }
    assert!(out[pos_change].to_string().contains("320x240 to 1920x1080"));
    // The same SPS again: no report.
    h.clock.advance(FRAME);
    let out = h.au(&[SPS_1080, PPS, IDR], true);
    assert!(!out
        .iter()
        .any(|a| matches!(a, CameraAction::FormatChanged { .. })));
    // An SPS change outside a keyframe: wait for the keyframe, then report.
    h.clock.advance(FRAME);
    let out = h.au(&[SPS_320X240, P_SLICE], false);
    assert_eq!(drops(&out), [DropReason::WaitingForKeyframe]);
    assert_eq!(h.m.state(), CameraState::WaitingForKeyframe);
    h.clock.advance(FRAME);
    let out = h.au(&[IDR], true);
    assert!(out
        .iter()
        .any(|a| matches!(a, CameraAction::FormatChanged { .. })));
    assert_eq!(h.m.stats().format_changes, 2);
}

#[test]
fn decimator_picks_exactly_5_of_25_per_second_with_jitter() {
    let mut rng = SplitMix64::new(5);
    // 60 s of 25 fps in 90 kHz ticks, each timestamp jittered by up to +-5 ms.
    for (target, per_second) in [(5u32, 5usize), (10, 10)] {
        let mut d = RateDecimator::new(target);
        let mut kept_per_second = vec![0usize; 60];
        let mut kept_index = Vec::new();
        for k in 0..25 * 60i64 {
            let jitter = rng.below_or_eq(900) as i64 - 450; // +-5 ms
            let pts = MediaTime {
                ticks: 10_000_000 + k * 3_600 + jitter,
                timescale: RATE,
            };
            if d.keep(pts) {
                kept_per_second[(k / 25) as usize] += 1;
                kept_index.push(k);
            }
        }
        assert!(
            kept_per_second.iter().all(|&n| n == per_second),
            "{target}: {kept_per_second:?}"
        );
        assert_eq!(d.kept() as usize, per_second * 60);
        assert_eq!(d.skipped() as usize, 25 * 60 - per_second * 60);
        let gaps: Vec<i64> = kept_index.windows(2).map(|w| w[1] - w[0]).collect();
        if target == 5 {
            assert!(gaps.iter().all(|&g| g == 5), "{gaps:?}");
        } else {
            assert!(gaps.iter().all(|&g| g == 2 || g == 3), "{gaps:?}");
        }
    }
}

#[test]
fn queue_never_exceeds_capacity_and_counts_drops() {
    let mut q = FrameQueue::new(NonZeroUsize::new(4).unwrap());
    let mut rng = SplitMix64::new(11);
    let (mut pushed, mut popped, mut evicted) = (0u64, 0u64, 0u64);
    for i in 0..10_000u64 {
        if rng.below_or_eq(2) > 0 {
            if q.push(i).is_some() {
                evicted += 1;
            }
            pushed += 1;
        } else if q.pop().is_some() {
            popped += 1;
        }
        assert!(q.len() <= 4);
    }
    assert_eq!(q.dropped(), evicted);
    assert_eq!(pushed, popped + evicted + q.len() as u64);
    assert!(evicted > 0);
}

#[test]
fn stats_serialise_and_errors_name_the_camera() {
    let mut h = Harness::new(timings(), 1);
    h.connect();
    h.stream(1);
    h.m.record_decoded(25);
    h.m.record_analysed(5);
    h.m.record_queue_drops(1);
    let json = serde_json::to_string(h.m.stats()).unwrap();
    assert!(
        json.contains("\"camera\":\"aisle-3\"") && json.contains("\"state\":\"streaming\""),
        "{json}"
    );
    let back: CameraStats = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, h.m.stats());
    assert_eq!(
        (back.decoded, back.analysed, back.dropped_by_queue),
        (25, 5, 1)
    );

    let bad = CameraTimings {
        stall_timeout: Duration::ZERO,
        ..timings()
    };
    let err = CameraStateMachine::new("loading-dock", bad, 0).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("camera \"loading-dock\"") && msg.contains("stall_timeout"),
        "{msg}"
    );
}

#[test]
fn late_events_are_harmless() {
    let mut h = Harness::new(timings(), 1);
    // Nothing happens before Start.
    assert!(h.send(CameraEvent::Tick).is_empty());
    assert_eq!(drops(&h.au(&[IDR], true)), [DropReason::NotConnected]);
    // A session reported while stopped is torn down.
    let out = h.send(CameraEvent::ConnectSucceeded {
        info: info(Codec::H264),
        parameter_sets: vec![],
    });
    assert_eq!(disconnect(&out), Some(&DisconnectReason::UnexpectedSession));
    assert_eq!(h.m.state(), CameraState::Stopped);
    // Connect timeout.
    h.send(CameraEvent::Start);
    h.send(CameraEvent::ConnectStarted);
    let out = h.tick_at_wake();
    assert!(matches!(
        disconnect(&out),
        Some(DisconnectReason::ConnectTimeout { .. })
    ));
    // A late failure of the abandoned attempt is ignored.
    let out = h.send(CameraEvent::ConnectFailed {
        kind: ConnectFailure::Auth,
        message: "late".into(),
    });
    assert!(out.is_empty());
    assert!(matches!(h.m.state(), CameraState::BackingOff { .. }));
    // Keyframe timeout: access units come, none is a keyframe.
    h.tick_at_wake();
    h.send(CameraEvent::ConnectSucceeded {
        info: info(Codec::H264),
        parameter_sets: vec![],
    });
    let mut reason = None;
    for _ in 0..25 * 31 {
        h.clock.advance(FRAME);
        let out = h.au(&[P_SLICE], false);
        if let Some(r) = disconnect(&out) {
            reason = Some(r.clone());
            break;
        }
        if h.wake.is_some_and(|w| w <= h.clock.now()) {
            if let Some(r) = disconnect(&h.send(CameraEvent::Tick)) {
                reason = Some(r.clone());
                break;
            }
        }
    }
    assert!(
        matches!(reason, Some(DisconnectReason::KeyframeTimeout { waited }) if waited == Duration::from_secs(30))
    );
}

/// A few thousand seeded random events: no panic, and the invariants hold.
#[test]
fn random_events_keep_the_invariants() {
    for seed in 0..4u64 {
        let t = CameraTimings {
            jitter: if seed % 2 == 0 {
                Jitter::Full
            } else {
                Jitter::Equal
            },
            ..timings()
        };
        let mut h = Harness::new(t.clone(), seed);
        let mut rng = SplitMix64::new(1000 + seed);
        let mut need_keyframe = true;
        let mut decodes_seen = 0u64;
        for step in 0..5_000 {
            // Time moves on by 0..3 s, occasionally a lot.
            let adv = match rng.below_or_eq(20) {
                0 => Duration::from_secs(rng.below_or_eq(120)),
                _ => Duration::from_millis(rng.below_or_eq(3_000)),
            };
            h.clock.advance(adv);
            let before = h.m.state();
            let ev = match rng.below_or_eq(19) {
                0 => CameraEvent::Start,
                1 if rng.below_or_eq(5) == 0 => CameraEvent::Stop,
                2 => CameraEvent::ConnectStarted,
                3 | 4 => CameraEvent::ConnectSucceeded {
                    info: info(if rng.below_or_eq(9) == 0 {
                        Codec::H265
                    } else {
                        Codec::H264
                    }),
                    parameter_sets: if rng.below_or_eq(1) == 0 {
                        vec![]
                    } else {
                        vec![SPS_320X240.to_vec(), PPS.to_vec()]
                    },
                },
                5 => CameraEvent::ConnectFailed {
                    kind: [
                        ConnectFailure::Auth,
                        ConnectFailure::Unreachable,
                        ConnectFailure::Protocol,
                        ConnectFailure::UnsupportedCodec,
                    ][rng.below_or_eq(3) as usize],
                    message: "x".into(),
                },
                6 => CameraEvent::DecoderError {
                    message: "bad".into(),
                },
                7 => CameraEvent::StreamEnded,
                8 => CameraEvent::StreamError {
                    message: "reset".into(),
                },
                9 | 10 => CameraEvent::Tick,
                _ => {
                    let nals: Vec<&[u8]> = match rng.below_or_eq(7) {
                        0 => vec![SPS_320X240, PPS, IDR],
                        1 => vec![IDR],
                        2 => vec![SPS_1080, PPS, IDR],
                        3 => vec![SPS_320X240, PPS],
                        4 => vec![&[0x00, 0x00, 0x01, 0xff, 0x03]],
                        5 => vec![],
                        _ => vec![P_SLICE],
                    };
                    let rtp = match rng.below_or_eq(30) {
                        0 => rng.next_u64() as u32,
                        _ => h.rtp.wrapping_add(FRAME_TICKS),
                    };
                    h.rtp = rtp;
                    h.index += 1;
                    let au = AccessUnit {
                        data: annexb(&nals),
                        pts: MediaTime {
                            ticks: 0,
                            timescale: RATE,
                        },
                        dts: MediaTime {
                            ticks: 0,
                            timescale: RATE,
                        },
                        is_sync: rng.below_or_eq(3) == 0,
                        index: h.index,
                    };
                    CameraEvent::AccessUnitReceived {
                        au,
                        rtp_timestamp: rtp,
                        clock_rate: if rng.below_or_eq(50) == 0 { 0 } else { RATE },
                    }
                }
            };
            let now = h.clock.now();
            let out = h.send(ev);
            for a in &out {
                match a {
                    CameraAction::ReportStateChange { to, from, .. } => {
                        assert_ne!(from, to);
                        if *to == CameraState::WaitingForKeyframe {
                            need_keyframe = true;
                        }
                    }
                    CameraAction::Decode { au, keyframe, .. } => {
                        decodes_seen += 1;
                        assert_eq!(
                            h.m.state(),
                            CameraState::Streaming,
                            "seed {seed} step {step}"
                        );
                        if need_keyframe {
                            assert!(
                                *keyframe,
                                "seed {seed} step {step}: first decode not a keyframe"
                            );
                            let types = nal_types(&au.data);
                            // Parameter sets in front, and an IDR slice or the shell's sync mark.
                            assert!(
                                types.contains(&7) && types.contains(&8),
                                "seed {seed} step {step}: {types:?}"
                            );
                            assert!(
                                types.contains(&5) || au.is_sync,
                                "seed {seed} step {step}: {types:?}"
                            );
                            need_keyframe = false;
                        }
                    }
                    CameraAction::ScheduleWake { at, .. } => {
                        // Always the machine's next deadline (it may be overdue when events
                        // other than ticks come late: the shell then ticks at once).
                        assert_eq!(Some(*at), h.m.next_wake(), "seed {seed} step {step}");
                    }
                    _ => {}
                }
            }
            match h.m.state() {
                CameraState::BackingOff { until, attempt }
                    if !matches!(before, CameraState::BackingOff { .. }) =>
                {
                    assert!(attempt >= 1);
                    assert!(
                        until - now <= t.backoff_cap + t.auth_floor,
                        "seed {seed} step {step}"
                    );
                }
                CameraState::FailedAuth { until, .. }
                    if !matches!(before, CameraState::FailedAuth { .. }) =>
                {
                    assert!(
                        until - now >= t.auth_floor && until - now <= t.auth_floor + t.backoff_cap
                    );
                }
                _ => {}
            }
            let s = h.m.stats();
            assert_eq!(
                s.decode_requested + s.dropped_before_keyframe + s.dropped_other,
                s.access_units_received
            );
            assert!(s.reconnect_attempts <= s.connect_attempts);
            assert_eq!(s.state, h.m.state().kind());
        }
        assert!(decodes_seen > 0, "seed {seed}: the walk never streamed");
        assert_eq!(h.m.stats().decode_requested, decodes_seen);
    }
}
