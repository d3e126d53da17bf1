//! Shared helpers of the end-to-end tests: where the set-up put models and media.
//!
//! The test suite always runs after `scripts/setup.sh`, `scripts/fetch-models.sh` and
//! `scripts/fetch-media.sh` (`make test` does all of it); a missing file fails the test with
//! the command to run, never skips it.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn cache_dir() -> PathBuf {
    match std::env::var_os("AISLE_CACHE") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/aisle"),
    }
}

pub fn media(name: &str) -> PathBuf {
    let p = cache_dir().join("media").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-media.sh (or make test)",
        p.display()
    );
    p
}

pub fn model_file(file: &str) -> PathBuf {
    let p = cache_dir().join("models").join(file);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-models.sh (or make test)",
        p.display()
    );
    p
}

pub fn ort_library() -> PathBuf {
    let p = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => cache_dir().join("lib/libonnxruntime.so"),
    };
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh (or make test)",
        p.display()
    );
    p
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The RTSP test server (`scripts/rtsp_server.py` on the system python3 with GStreamer),
/// listening on a free 127.0.0.1 port it picks itself. Killed (by pid) when dropped.
pub struct RtspServer {
    child: std::process::Child,
    /// Held open: the server exits when it closes, even if this process dies without dropping.
    _stdin: Option<std::process::ChildStdin>,
    pub port: u16,
}

impl RtspServer {
    /// Starts the server with extra arguments (`--loop`, `--user U --password P`, ...) and waits
    /// (at most 60 s) for its `READY <port>` line.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let script = repo_root().join("scripts/rtsp_server.py");
        let video = media("vtest.mp4");
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .args(["--port", "0", "--file"])
            .arg(&video)
            .arg("--exit-on-stdin-eof")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("/usr/bin/python3 runs: install python3-gi and gir1.2-gst-rtsp-server-1.0 (scripts/setup.sh)");
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            _stdin: stdin,
            port: 0,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(p) = line.strip_prefix("READY ") {
                        server.port = p.trim().parse().expect("READY <port>");
                        return server;
                    }
                }
                Err(_) => panic!(
                    "{} did not print READY within 60 s (or exited; its stderr is above): is GStreamer installed (scripts/setup.sh)?",
                    script.display()
                ),
            }
        }
    }

    /// `rtsp://127.0.0.1:<port><mount>`.
    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to this child's pid only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
