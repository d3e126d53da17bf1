//! The `aisle` command line, run as a user would: real video, real models, real ONNX Runtime.
//! Bad inputs must end in a clear error (exit status 1) naming the file and the fix, never a panic.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn aisle(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aisle"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("aisle runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr:\n{err}");
    assert!(!err.contains("panicked"), "panicked:\n{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

#[test]
fn detect_prints_json_boxes_for_the_sample_video() {
    let video = common::media("vtest.mp4");
    let o = aisle(
        &[
            "detect",
            "--input",
            video.to_str().unwrap(),
            "--json",
            "--max-frames",
            "3",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    // The default detector (`detector.model`) is NanoDet.
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("tests/golden/detect_nanodet.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(lines[0]["frame"], 0);
    assert_eq!(lines[0]["count"], golden["frames"][0]["count"]);
    assert_eq!(
        lines[0]["detections"].as_array().unwrap().len(),
        lines[0]["count"].as_u64().unwrap() as usize
    );
    assert_eq!(lines[0]["detections"][0]["class"], "person");
    assert_eq!(lines[1]["pts"], 0.1);
}

#[test]
fn detect_counts_people_with_centernet_on_the_annexb_stream() {
    let video = common::media("vtest.h264");
    let o = aisle(
        &[
            "detect",
            "--input",
            video.to_str().unwrap(),
            "--model",
            "centernet",
            "--max-frames",
            "2",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("tests/golden/detect_centernet.json"))
            .unwrap(),
    )
    .unwrap();
    let first = stdout.lines().next().unwrap();
    let want = format!("person={}", golden["frames"][0]["count"]);
    assert!(
        first.starts_with("frame     0") && first.contains(&want),
        "{first:?} lacks {want}"
    );
    assert_eq!(stdout.lines().count(), 2);
}

#[test]
fn truncated_mp4_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(common::media("vtest.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let o = aisle(&["detect", "--input", cut.to_str().unwrap()], &[]);
    assert_clean_failure(&o, &[cut.to_str().unwrap(), "truncated"]);
}

#[test]
fn non_video_file_is_a_clear_error() {
    let jpg = common::media("faces/sample1.jpg");
    let o = aisle(&["detect", "--input", jpg.to_str().unwrap()], &[]);
    assert_clean_failure(&o, &[jpg.to_str().unwrap(), "not a video"]);
    let o = aisle(&["detect", "--input", "/nonexistent/video.mp4"], &[]);
    assert_clean_failure(&o, &["/nonexistent/video.mp4"]);
}

#[test]
fn missing_model_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aisle.toml");
    std::fs::write(
        &config,
        format!("[models]\ndir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let video = common::media("vtest.mp4");
    let o = aisle(
        &[
            "--config",
            config.to_str().unwrap(),
            "detect",
            "--input",
            video.to_str().unwrap(),
        ],
        &[],
    );
    let expected = dir.path().join("human_nanodet.onnx");
    assert_clean_failure(
        &o,
        &[
            expected.to_str().unwrap(),
            "scripts/fetch-models.sh nanodet",
        ],
    );
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let video = common::media("vtest.mp4");
    let o = aisle(
        &[
            "detect",
            "--input",
            video.to_str().unwrap(),
            "--model",
            "yolo",
        ],
        &[],
    );
    assert_clean_failure(&o, &["yolo", "centernet", "nanodet"]);
}

#[test]
fn missing_or_wrong_onnxruntime_says_what_to_run() {
    let video = common::media("vtest.mp4");
    let v = video.to_str().unwrap();
    let o = aisle(
        &["detect", "--input", v],
        &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")],
    );
    assert_clean_failure(
        &o,
        &[
            "/nonexistent/libonnxruntime.so",
            "ORT_DYLIB_PATH",
            "scripts/setup.sh",
        ],
    );
    // A real shared library that is not ONNX Runtime.
    let libz = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/aarch64-linux-gnu/libz.so.1",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("libz is installed");
    let o = aisle(&["detect", "--input", v], &[("ORT_DYLIB_PATH", libz)]);
    assert_clean_failure(&o, &[libz, "OrtGetApiBase", "scripts/setup.sh"]);
}

#[test]
fn bad_config_names_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aisle.toml");
    std::fs::write(&config, "[detector]\nscore_threshold = 2.0\n").unwrap();
    let o = aisle(&["--config", config.to_str().unwrap(), "check"], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("detector.score_threshold") && out.contains(config.to_str().unwrap()),
        "{out}"
    );
}

#[test]
fn check_reports_every_part() {
    let o = aisle(&["check"], &[]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for needle in [
        "[ok  ] ONNX Runtime",
        "[ok  ] model centernet",
        "[ok  ] model nanodet",
        "numeric check passed",
        "CUDA driver",
        "NVDEC (hardware video decoder)",
        "GPU (CUDA kernels)",
    ] {
        assert!(out.contains(needle), "lacks {needle:?}:\n{out}");
    }
    // Either decoder path is accepted (nvcuvid, or V4L2 NVDEC on Orin) and named.
    assert!(
        out.contains("through the Video Codec SDK")
            || out.contains("through V4L2 (Jetson Orin)")
            || out.contains("[warn] NVDEC (hardware video decoder): neither libnvcuvid.so.1"),
        "{out}"
    );
    // Without a GPU, `preferred` (the default) warns and goes on with the CPU path.
    let no_gpu = out.contains("libcuda.so.1 not found");
    if no_gpu {
        assert!(
            out.contains("[warn] GPU (CUDA kernels): CUDA driver library libcuda.so.1 not found")
                && out.contains("preprocessing runs on the CPU"),
            "{out}"
        );
    }
    // With the GPU required, a machine without one must fail the check, naming what is missing.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gpu.toml");
    std::fs::write(&config, "[runtime]\ngpu = \"required\"\n").unwrap();
    let o = aisle(&["--config", config.to_str().unwrap(), "check"], &[]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    if out.contains("[ok  ] inference acceleration") {
        return; // a GPU build of ONNX Runtime: nothing to fail on
    }
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("[FAIL] inference acceleration"), "{out}");
    if no_gpu {
        assert!(
            out.contains("[FAIL] GPU (CUDA kernels): CUDA driver library libcuda.so.1 not found"),
            "{out}"
        );
    }
    // `off` is satisfied by the CPU.
    std::fs::write(&config, "[runtime]\ngpu = \"off\"\n").unwrap();
    let o = aisle(&["--config", config.to_str().unwrap(), "check"], &[]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("[ok  ] GPU (CUDA kernels): CPU preprocessing (runtime.gpu = \"off\")"),
        "{out}"
    );
}

#[test]
fn a_damaged_frame_is_reported_and_the_run_goes_on() {
    // Scramble the body of the 5th non-IDR slice of the Annex B stream (no zero bytes, so no
    // start codes are created): that frame fails to decode, the decoder resumes at the next IDR.
    let mut bytes = std::fs::read(common::media("vtest.h264")).unwrap();
    let starts: Vec<usize> = (0..bytes.len() - 3)
        .filter(|&i| bytes[i..i + 3] == [0, 0, 1])
        .map(|i| i + 3)
        .collect();
    let slices: Vec<(usize, usize)> = starts
        .windows(2)
        .filter(|w| bytes[w[0]] & 0x1f == 1)
        .map(|w| (w[0], w[1] - 4))
        .collect();
    let (from, to) = slices[4];
    let mut x = 0x9e37_79b9u32;
    for b in &mut bytes[from + 4..to] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = (x as u8).max(1);
    }
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.h264");
    std::fs::write(&damaged, &bytes).unwrap();
    let o = aisle(
        &[
            "detect",
            "--input",
            damaged.to_str().unwrap(),
            "--every",
            "40",
        ],
        &[],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("warning:") && err.contains("decoding error"),
        "{err}"
    );
    // Frames after the damage were still analysed (every 40th of ~780 decodable frames).
    let lines = String::from_utf8_lossy(&o.stdout).lines().count();
    assert!(
        (18..=20).contains(&lines),
        "{lines} frames analysed:\n{err}"
    );
}
