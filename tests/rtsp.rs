//! RTSP input against a real server: `scripts/rtsp_server.py` (GStreamer's RTSP server, started
//! per test on a free loopback port and killed at the end) serving the sample video without
//! re-encoding. The frames decoded from the camera must be the frames decoded from the file.

mod common;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::process::Command;
use std::time::Duration;

use aisle_video::{
    h264, h265, open_file, Codec, Decoder, FfmpegDecoder, MediaTime, Nv12Frame, OpenH264Decoder,
    RtspCredentials, RtspError, RtspFrame, RtspOptions, RtspSource, RtspTransport,
    DEFAULT_ANNEXB_FPS,
};
use common::RtspServer;

const FRAMES: usize = 30;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn plane_hash(f: &Nv12Frame) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (f.width, f.height).hash(&mut h);
    for row in 0..f.height as usize {
        f.y[row * f.y_stride..][..f.width as usize].hash(&mut h);
    }
    for row in 0..f.height.div_ceil(2) as usize {
        f.uv[row * f.uv_stride..][..f.width.div_ceil(2) as usize * 2].hash(&mut h);
    }
    h.finish()
}

/// Milliseconds, exact for both 90 kHz RTP and the file's 10240 Hz timescale at 10 fps.
fn millis(t: MediaTime) -> i64 {
    t.as_millis()
}

/// Frames of the sample file up to `until_ms` (pts): pts in ms -> plane hash, and in order.
fn file_frames(codec: Codec, until_ms: i64) -> (HashMap<i64, u64>, Vec<(i64, u64)>) {
    let mut source = open_file(common::media(media_file(codec)), DEFAULT_ANNEXB_FPS).unwrap();
    let mut decoder = decoder(codec, media_file(codec));
    let mut list: Vec<(i64, u64)> = Vec::new();
    while let Some(au) = source.next_access_unit().unwrap() {
        if millis(au.pts) > until_ms + 1000 {
            break;
        }
        for f in decoder.decode(&au).unwrap() {
            list.push((millis(f.pts), plane_hash(&f)));
        }
    }
    for f in decoder.flush().unwrap() {
        list.push((millis(f.pts), plane_hash(&f)));
    }
    list.retain(|&(t, _)| t <= until_ms);
    (list.iter().copied().collect(), list)
}

fn media_file(codec: Codec) -> &'static str {
    match codec {
        Codec::H265 => "vtest_h265.mp4",
        _ => "vtest.mp4",
    }
}

/// OpenH264 for H.264 (as `aisle detect` decodes), FFmpeg for H.265.
fn decoder(codec: Codec, label: &str) -> Box<dyn Decoder> {
    match codec {
        Codec::H265 => Box::new(FfmpegDecoder::with_label(Codec::H265, label).unwrap()),
        _ => Box::new(OpenH264Decoder::with_label(label).unwrap()),
    }
}

/// The server for `codec`'s sample file and the URL of its mount.
fn server_for(codec: Codec, extra: &[&str]) -> (RtspServer, String) {
    let h265 = common::media("vtest_h265.mp4");
    let mut args: Vec<&str> = extra.to_vec();
    if codec == Codec::H265 {
        args.extend(["--h265-file", h265.to_str().unwrap()]);
    }
    let server = RtspServer::start(&args);
    let url = server.url(if codec == Codec::H265 {
        "/vtest_h265"
    } else {
        "/vtest"
    });
    (server, url)
}

/// NAL unit types of an Annex B access unit.
fn nal_types(codec: Codec, data: &[u8]) -> Vec<u8> {
    h264::annexb_nal_units(data)
        .iter()
        .filter_map(|n| match codec {
            Codec::H265 => h265::nal_unit_type(n),
            _ => h264::nal_unit_type(n),
        })
        .collect()
}

/// Receives `n` access units (fewer if the stream ends or `deadline` passes), then decodes
/// them: receiving without decoding in between keeps the UDP socket drained, as a real
/// ingest task (which hands frames to a decoder thread) does.
async fn decode_camera(
    opts: RtspOptions,
    n: usize,
    deadline: Duration,
) -> (Vec<RtspFrame>, Vec<Nv12Frame>) {
    let mut source = RtspSource::connect(opts).await.unwrap();
    let codec = source.info().codec;
    let mut aus = Vec::new();
    let end = tokio::time::Instant::now() + deadline;
    while aus.len() < n {
        match tokio::time::timeout_at(end, source.next()).await {
            Ok(f) => match f.unwrap() {
                Some(f) => aus.push(f),
                None => break,
            },
            Err(_) => break,
        }
    }
    assert_eq!(
        (source.info().width, source.info().height),
        (768, 576),
        "size from the stream's parameters"
    );
    let mut decoder = decoder(codec, source.camera());
    let mut frames = Vec::new();
    for f in &aus {
        frames.extend(decoder.decode(&f.au).unwrap());
    }
    frames.extend(decoder.flush().unwrap());
    (aus, frames)
}

fn assert_frames_match_the_file(codec: Codec, transport: RtspTransport) {
    let (_server, url) = server_for(codec, &[]);
    let mut opts = RtspOptions::new("vtest", url);
    opts.transport = transport;
    // UDP: stop after 5 s whatever came (loss may drop whole GOPs).
    let deadline = Duration::from_secs(if transport == RtspTransport::Udp {
        5
    } else {
        10
    });
    let (aus, frames) = runtime().block_on(decode_camera(opts, FRAMES, deadline));
    assert!(!frames.is_empty(), "no frame decoded");
    let last = frames.iter().map(|f| millis(f.pts)).max().unwrap();
    let (by_pts, list) = file_frames(codec, last);

    // The first access unit is the file's first: a keyframe led by its parameter sets.
    let first = &aus[0].au;
    assert!(first.is_sync);
    let types = nal_types(codec, &first.data);
    let pos = |t: u8| types.iter().position(|&x| x == t);
    let in_order = match codec {
        Codec::H265 => {
            let idr = pos(h265::nal_type::IDR_N_LP).or(pos(h265::nal_type::IDR_W_RADL));
            let vps = pos(h265::nal_type::VPS);
            vps.is_some()
                && vps < pos(h265::nal_type::SPS)
                && pos(h265::nal_type::SPS) < pos(h265::nal_type::PPS)
                && pos(h265::nal_type::PPS) < idr
        }
        _ => {
            let sps = pos(h264::nal_type::SPS);
            sps.is_some()
                && sps < pos(h264::nal_type::PPS)
                && pos(h264::nal_type::PPS) < pos(h264::nal_type::IDR)
        }
    };
    assert!(in_order, "NAL types {types:?}");
    // Keyframes every 20 frames (H.265: CRA pictures, which retina alone does not flag).
    for f in &aus {
        assert_eq!(
            f.au.is_sync,
            millis(f.au.pts) % 2000 == 0,
            "keyframe flag at {}",
            f.au.pts
        );
    }
    // pts is the RTP time since the start of the stream (RTP-Info of the PLAY response), in the
    // 90 kHz RTP clock: the file's first frame is at 0 as in the file.
    assert_eq!(first.pts.timescale, 90_000);
    if transport == RtspTransport::Tcp {
        assert_eq!(first.pts.ticks, 0);
    }

    let loss: u64 = aus.iter().map(|f| f.loss).sum();
    if transport == RtspTransport::Tcp {
        assert_eq!(loss, 0, "no loss over TCP");
        assert_eq!(frames.len(), FRAMES);
    }
    // Over UDP, packets are lost: a keyframe of this video (~150 kB, ~110 packets sent at
    // once) overflows the default socket receive buffer (net.core.rmem_default, 208 KiB of
    // packet memory), and retina cannot enlarge its sockets' buffers. The source then drops
    // everything up to the next keyframe, so whatever comes out must still be exactly the
    // file's frames; the first GOP (keyframe ~100 kB) arrives in practice.
    assert!(
        frames.len() >= FRAMES / 3,
        "only {} frames decoded ({loss} RTP packets lost)",
        frames.len()
    );
    // Match by presentation time: both count from the stream's start.
    let (base, file_base) = (0, 0);
    let mut matched = 0;
    for (i, f) in frames.iter().enumerate() {
        let t = millis(f.pts) - base + file_base;
        let want = by_pts
            .get(&t)
            .unwrap_or_else(|| panic!("camera frame {i} at {t} ms has no file frame"));
        assert_eq!(
            plane_hash(f),
            *want,
            "camera frame {i} (pts {t} ms) differs from the file"
        );
        matched += 1;
    }
    if transport == RtspTransport::Tcp {
        assert_eq!(frames.len(), FRAMES);
        // Without loss the frames are the file's, in order, from the first.
        for (i, f) in frames.iter().enumerate() {
            assert_eq!((millis(f.pts) - base + file_base, plane_hash(f)), list[i]);
        }
    }
    // RTP timestamps advance 9000 ticks (90 kHz / 10 fps) per frame.
    for w in aus.windows(2) {
        assert_eq!(
            w[1].rtp_timestamp.wrapping_sub(w[0].rtp_timestamp) % 9000,
            0,
            "RTP timestamps {} -> {}",
            w[0].rtp_timestamp,
            w[1].rtp_timestamp
        );
    }
    assert_eq!(matched, frames.len());
}

#[test]
fn h264_over_tcp_gives_the_files_frames() {
    assert_frames_match_the_file(Codec::H264, RtspTransport::Tcp);
}

#[test]
fn h264_over_udp_gives_the_files_frames() {
    assert_frames_match_the_file(Codec::H264, RtspTransport::Udp);
}

#[test]
fn h265_over_tcp_gives_the_files_frames() {
    assert_frames_match_the_file(Codec::H265, RtspTransport::Tcp);
}

#[test]
fn wrong_credentials_are_an_auth_error_without_the_password() {
    let server = RtspServer::start(&["--user", "aisle", "--password", "right-pass"]);
    let rt = runtime();
    let connect = |user: &str, pass: Option<&str>| {
        let mut opts = RtspOptions::new("door-1", server.url("/vtest"));
        opts.credentials = pass.map(|p| RtspCredentials {
            username: user.into(),
            password: p.into(),
        });
        opts.connect_timeout = Duration::from_secs(10);
        rt.block_on(RtspSource::connect(opts))
    };

    let err = connect("aisle", Some("wrong-secret-42")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RtspError::Auth { .. }), "{msg}");
    assert!(!err.is_transient());
    assert!(msg.contains("door-1") && msg.contains("401"), "{msg}");
    assert!(!msg.contains("wrong-secret-42") && !format!("{err:?}").contains("wrong-secret-42"));

    let err = connect("", None).unwrap_err();
    assert!(
        matches!(
            err,
            RtspError::Auth {
                had_credentials: false,
                ..
            }
        ),
        "{err}"
    );

    // Credentials in the URL work and are redacted from everything shown.
    let mut opts = RtspOptions::new(
        "door-1",
        format!("rtsp://aisle:right-pass@127.0.0.1:{}/vtest", server.port),
    );
    opts.connect_timeout = Duration::from_secs(10);
    let mut source = rt.block_on(RtspSource::connect(opts)).unwrap();
    assert!(!source.url().contains("right-pass"), "{}", source.url());
    let first = rt.block_on(source.next()).unwrap().unwrap();
    assert!(first.au.is_sync);
    // Right credentials given apart from the URL.
    assert!(connect("aisle", Some("right-pass")).is_ok());
}

#[test]
fn joining_a_live_stream_mid_gop_starts_at_a_keyframe() {
    let server = RtspServer::start(&["--loop"]);
    let rt = runtime();
    rt.block_on(async {
        // A first viewer keeps the shared live stream running; wait until it is past a
        // keyframe by a few frames, so that the second viewer joins inside a GOP.
        let mut first = RtspSource::connect(RtspOptions::new("live-a", server.url("/vtest")))
            .await
            .unwrap();
        let mut since_key = None;
        while since_key.is_none_or(|n| n < 4) {
            let f = first.next().await.unwrap().expect("live stream goes on");
            since_key = if f.au.is_sync {
                Some(0)
            } else {
                since_key.map(|n| n + 1)
            };
        }
        let mut second = RtspSource::connect(RtspOptions::new("live-b", server.url("/vtest")))
            .await
            .unwrap();
        let f = second.next().await.unwrap().expect("a frame");
        assert!(f.au.is_sync, "first emitted access unit is a keyframe");
        assert!(
            f.dropped > 0,
            "joined mid-GOP: non-keyframes were dropped first"
        );
        assert_eq!(f.au.index, 0);
        let types: Vec<u8> = h264::annexb_nal_units(&f.au.data)
            .iter()
            .filter_map(|n| h264::nal_unit_type(n))
            .collect();
        assert!(
            types.starts_with(&[h264::nal_type::SPS, h264::nal_type::PPS])
                || types.starts_with(&[
                    h264::nal_type::AUD,
                    h264::nal_type::SPS,
                    h264::nal_type::PPS
                ]),
            "parameter sets first: {types:?}"
        );
        let mut decoder = OpenH264Decoder::with_label("live-b").unwrap();
        let frames = decoder.decode(&f.au).unwrap();
        assert_eq!(frames.len(), 1, "the keyframe decodes on its own");
        let g = second.next().await.unwrap().expect("a second frame");
        assert!(!g.au.is_sync);
        assert_eq!(decoder.decode(&g.au).unwrap().len(), 1);
    });
}

fn aisle(args: &[&str]) -> std::process::Output {
    aisle_env(args, &[])
}

fn aisle_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("aisle runs")
}

fn assert_probe_output(stdout: &str) {
    assert!(stdout.contains("codec: h264"), "{stdout}");
    assert!(stdout.contains("resolution: 768x576"), "{stdout}");
    let fps: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("frame rate: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no frame rate in:\n{stdout}"));
    assert!((fps - 10.0).abs() < 0.5, "fps {fps}:\n{stdout}");
    assert!(stdout.contains("GOP: 20 frames"), "{stdout}");
    assert!(stdout.contains("frame 0: decode ok, pts"), "{stdout}");
    assert!(stdout.contains("frame 24: decode ok"), "{stdout}");
    assert!(stdout.contains(", 0 errors"), "{stdout}");
}

#[test]
fn probe_reports_codec_size_rate_and_gop() {
    let server = RtspServer::start(&[]);
    let o = aisle(&["probe", &server.url("/vtest"), "--frames", "25"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_probe_output(&stdout);

    // A file is probed the same way.
    let video = common::media("vtest.mp4");
    let o = aisle(&["probe", video.to_str().unwrap(), "--frames", "25"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_probe_output(&stdout);
}

#[test]
fn probe_fails_clearly() {
    // Nobody listens on a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = aisle(&[
        "probe",
        &format!("rtsp://viewer:pw-not-shown@127.0.0.1:{port}/x"),
        "--timeout",
        "5",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(
        !stderr.contains("pw-not-shown") && !stderr.contains("panicked"),
        "{stderr}"
    );

    let o = aisle(&["probe", "--camera", "nope"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no camera `nope`"), "{stderr}");
}

#[test]
fn probe_a_configured_camera_with_credentials() {
    let server = RtspServer::start(&["--user", "aisle", "--password", "right-pass"]);
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("door"), "aisle:not-the-password\n").unwrap();
    let config = dir.path().join("aisle.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\ncredentials_dir = \"{}\"\n\
             [[cameras]]\nid = \"door-1\"\nurl = \"{url}\"\ncredentials = \"door\"\n\
             [[cameras]]\nid = \"side-2\"\nurl = \"{url}\"\n",
            creds.display(),
            url = server.url("/vtest"),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    // The credentials file has the wrong password: an authentication error naming the camera.
    let o = aisle(&["--config", config, "probe", "--camera", "door-1"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("camera door-1") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"), "{stderr}");

    // The right ones from the environment.
    let o = aisle_env(
        &[
            "--config", config, "probe", "--camera", "side-2", "--frames", "3",
        ],
        &[
            ("AISLE_CAMERA_SIDE_2_USER", "aisle"),
            ("AISLE_CAMERA_SIDE_2_PASSWORD", "right-pass"),
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("camera side-2") && stdout.contains("codec: h264"),
        "{stdout}"
    );
    assert!(stdout.contains("frame 2: decode ok"), "{stdout}");
}

#[test]
fn digest_authentication_works_and_fails_cleanly() {
    let server = RtspServer::start(&["--user", "aisle", "--password", "d1gest", "--digest"]);
    let rt = runtime();
    let connect = |pass: &str| {
        let mut opts = RtspOptions::new("till-2", server.url("/vtest"));
        opts.credentials = Some(RtspCredentials {
            username: "aisle".into(),
            password: pass.into(),
        });
        rt.block_on(RtspSource::connect(opts))
    };
    let err = connect("wrong-digest-pw").unwrap_err();
    assert!(
        matches!(
            err,
            RtspError::Auth {
                had_credentials: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-digest-pw"), "{err}");
    let mut source = connect("d1gest").unwrap();
    let first = rt.block_on(source.next()).unwrap().unwrap();
    assert!(first.au.is_sync);
    assert_eq!(source.stats().emitted, 1);
}

#[test]
fn detect_counts_people_from_a_camera() {
    // The server plays the file from its start to each client: the first analysed frame is
    // the file's frame 0, whose person count the Python reference fixed in the golden file.
    let server = RtspServer::start(&["--user", "aisle", "--password", "right-pass"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aisle.toml");
    std::fs::write(
        &config,
        format!(
            "[[cameras]]\nid = \"aisle-7\"\nurl = \"{}\"\n",
            server.url("/vtest")
        ),
    )
    .unwrap();
    let o = aisle_env(
        &[
            "--config",
            config.to_str().unwrap(),
            "detect",
            "--camera",
            "aisle-7",
            "--json",
            "--max-frames",
            "3",
        ],
        &[
            ("AISLE_CAMERA_AISLE_7_USER", "aisle"),
            ("AISLE_CAMERA_AISLE_7_PASSWORD", "right-pass"),
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("tests/golden/detect_nanodet.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(lines[0]["count"], golden["frames"][0]["count"], "{stderr}");
    // 5 analysed fps of a 10 fps camera: every other frame.
    assert_eq!(lines[1]["frame"], 2);
    assert!(
        stderr.contains("camera aisle-7") && stderr.contains("0 outages"),
        "{stderr}"
    );
    assert!(!stderr.contains("right-pass"), "{stderr}");
}
