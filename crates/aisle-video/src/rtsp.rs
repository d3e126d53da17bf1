//! RTSP camera input with [`retina`] (pure Rust, tokio): [`RtspSource`] connects to a camera
//! (RFC 2326 / RFC 7826 `DESCRIBE`, `SETUP`, `PLAY`), picks its first H.264 or H.265 video
//! stream and yields [`RtspFrame`]s: an [`AccessUnit`] in Annex B like every other source, plus
//! the raw RTP timestamp and the packet loss that retina measured.
//!
//! - Transport: RTP interleaved on the RTSP TCP connection (RFC 2326 §10.12; the default, and
//!   what works through NAT and firewalls) or RTP over UDP ([`RtspTransport`]).
//! - Credentials: given apart from the URL ([`RtspCredentials`]) or as `user:pass@` in it; they
//!   are never sent to retina inside the URL, and every message and log line shows the URL with
//!   the credentials replaced ([`redact_url`]). Retina answers a `401` with Basic or Digest
//!   authentication as the server asks.
//! - Depacketization (RFC 6184 for H.264, RFC 7798 for H.265) is retina's; frames come as
//!   4-byte length-prefixed NAL units (ISO/IEC 14496-15 framing) without in-band parameter sets,
//!   and are converted here to Annex B with [`crate::h264::avcc_to_annexb`] (H.265:
//!   [`crate::h265::hvcc_to_annexb`]): the parameter sets
//!   (H.264 SPS, PPS; H.265 VPS, SPS, PPS) from the stream's current parameters are written in
//!   front of every random access point and of every frame that brought new parameters, after a
//!   leading access unit delimiter.
//! - Timing: `pts` is the RTP timestamp (extended to 64 bits by retina, counted from the
//!   `RTP-Info` start of the `PLAY` response) in the stream's clock rate (90 kHz for video,
//!   RFC 6184 §8.2.1). RTP carries no decode timestamp; `dts` equals `pts`.
//! - Random access points: retina's flag (IDR pictures), and for H.265 also CRA / BLA pictures
//!   (what x265 and many cameras write as keyframes), told from the NAL unit types.
//! - Start and loss: access units before the first random access point are dropped, and after a
//!   packet loss everything up to the next random access point is dropped too (unless
//!   [`RtspOptions::resync_on_loss`] is off), so a decoder never sees a picture whose references
//!   are missing. The next emitted frame reports what was lost and dropped.
//!
//! Reconnection and backoff are not here: a caller (the camera state machine) calls
//! [`RtspSource::connect`] again after an error. Both `connect` and [`RtspSource::next`] are
//! cancel-safe: dropping their futures (e.g. in `tokio::select!` or `tokio::time::timeout`)
//! loses at most the frame being received, and dropping the source closes the session.
//! Nothing here panics on what a server sends.

use std::num::NonZeroU32;
use std::time::Duration;

use aisle_types::MediaTime;
use futures_util::StreamExt;
use retina::client::{
    Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoFrame, VideoParametersCodec};
use tracing::{debug, info, warn};

use crate::h264::avcc_to_annexb;
use crate::source::{AccessUnit, Codec, StreamInfo};

/// How RTP packets travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtspTransport {
    /// Interleaved on the RTSP TCP connection (default).
    #[default]
    Tcp,
    /// RTP/RTCP over UDP (LAN only: retina has no reorder buffer).
    Udp,
}

impl RtspTransport {
    pub fn as_str(&self) -> &'static str {
        match self {
            RtspTransport::Tcp => "tcp",
            RtspTransport::Udp => "udp",
        }
    }
}

impl std::fmt::Display for RtspTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RtspTransport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(RtspTransport::Tcp),
            "udp" => Ok(RtspTransport::Udp),
            _ => Err(format!(
                "unknown RTSP transport {s:?}: use \"tcp\" or \"udp\""
            )),
        }
    }
}

/// A user name and password for the camera. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RtspCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RtspCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspCredentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// What [`RtspSource::connect`] needs.
#[derive(Debug, Clone)]
pub struct RtspOptions {
    /// The camera's name in errors and logs (the config `id`, or the redacted URL).
    pub camera: String,
    /// `rtsp://host[:port]/path`, optionally with `user:pass@` (then used as credentials unless
    /// [`Self::credentials`] is set).
    pub url: String,
    pub transport: RtspTransport,
    pub credentials: Option<RtspCredentials>,
    /// Limit for connecting and the `DESCRIBE` / `SETUP` / `PLAY` exchange together.
    pub connect_timeout: Duration,
    /// [`RtspSource::next`] fails with [`RtspError::Timeout`] when it cannot hand out an access
    /// unit for this long; `None` waits forever (the caller may still cancel).
    pub frame_timeout: Option<Duration>,
    /// After packet loss, drop access units up to the next random access point (default on).
    pub resync_on_loss: bool,
}

impl RtspOptions {
    /// Options with defaults: TCP, no credentials, 10 s connect and frame timeouts.
    pub fn new(camera: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            camera: camera.into(),
            url: url.into(),
            transport: RtspTransport::Tcp,
            credentials: None,
            connect_timeout: Duration::from_secs(10),
            frame_timeout: Some(Duration::from_secs(10)),
            resync_on_loss: true,
        }
    }
}

/// Everything that can go wrong with an RTSP camera. Every message names the camera and its URL
/// with credentials redacted; no message contains a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtspError {
    /// The URL is not a usable `rtsp://` URL.
    #[error("{}: invalid RTSP URL: {detail}", who(camera, url))]
    InvalidUrl {
        camera: String,
        url: String,
        detail: String,
    },

    /// The server answered `401 Unauthorized`: credentials missing or wrong.
    #[error(
        "{}: authentication failed (RTSP 401 Unauthorized){}",
        who(camera, url),
        if *had_credentials { "; the user name or password is wrong, check the camera's credentials" }
        else { "; the camera requires a user name and password: configure `credentials` for it" }
    )]
    Auth {
        camera: String,
        url: String,
        had_credentials: bool,
    },

    /// No TCP connection (refused, no route, DNS failure, ...).
    #[error(
        "{}: cannot connect: {detail}; check the address and port, and that the camera is powered and reachable from this machine",
        who(camera, url)
    )]
    Unreachable {
        camera: String,
        url: String,
        detail: String,
    },

    /// The server did not answer (or sent no video) in time.
    #[error("{}: timed out after {:.1} s {stage}", who(camera, url), after.as_secs_f64())]
    Timeout {
        camera: String,
        url: String,
        /// What was being waited for, e.g. "connecting (DESCRIBE/SETUP/PLAY)".
        stage: &'static str,
        after: Duration,
    },

    /// The server answered a request with an error status other than 401.
    #[error("{}: the server answered RTSP {status}: {detail}{}",
        who(camera, url),
        match status { 404 => "; check the stream path of the URL", 461 => "; try the other transport (tcp/udp)", _ => "" })]
    Server {
        camera: String,
        url: String,
        status: u16,
        detail: String,
    },

    /// No H.264 or H.265 video stream is offered.
    #[error(
        "{}: no H.264 or H.265 video stream (the camera offers: {found}); set the camera's encoder to H.264 or H.265",
        who(camera, url)
    )]
    UnsupportedCodec {
        camera: String,
        url: String,
        found: String,
    },

    /// A protocol or transport error during the session (connection reset, malformed
    /// RTSP/RTP, bad frame data).
    #[error("{}: {detail}", who(camera, url))]
    Stream {
        camera: String,
        url: String,
        detail: String,
    },
}

/// "camera NAME (URL)", or "camera URL" when the name is the URL.
fn who(camera: &str, url: &str) -> String {
    if camera == url {
        format!("camera {url}")
    } else {
        format!("camera {camera} ({url})")
    }
}

impl RtspError {
    /// True for errors that a retry may cure (network, timeouts, server trouble); false for
    /// configuration problems (bad URL, wrong credentials, unsupported codec).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            RtspError::InvalidUrl { .. }
                | RtspError::Auth { .. }
                | RtspError::UnsupportedCodec { .. }
        )
    }
}

/// Counters of an [`RtspSource`] since it connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtspStats {
    /// Access units handed out by [`RtspSource::next`].
    pub emitted: u64,
    /// Access units dropped (before the first keyframe, or resynchronising after loss).
    pub dropped: u64,
    /// RTP packets lost (sequence number gaps).
    pub packets_lost: u64,
}

/// One access unit from the camera, with what RTP said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspFrame {
    /// Annex B data, `pts` from the RTP timestamp, `is_sync` = random access point, `index`
    /// counting emitted access units from 0.
    pub au: AccessUnit,
    /// The RTP timestamp as in the packet header (32 bits, wraps).
    pub rtp_timestamp: u32,
    /// RTP packets lost (sequence number gaps, per retina) since the previous emitted frame.
    pub loss: u64,
    /// Access units dropped since the previous emitted frame (before the first random access
    /// point, or while resynchronising after loss).
    pub dropped: u64,
    /// The stream's parameters (SPS/PPS...) changed with this frame.
    pub new_parameters: bool,
}

/// `url` with any `user:pass@` replaced by `***@` (for messages and logs). Text that does not
/// parse as a URL has everything before its last `@` redacted, if it has one.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_password(None);
                let _ = u.set_username("***");
            }
            u.to_string()
        }
        Err(_) => match url.rfind('@') {
            Some(at) => match url.find("://") {
                Some(s) if s < at => format!("{}***{}", &url[..s + 3], &url[at..]),
                _ => format!("***{}", &url[at..]),
            },
            None => url.to_string(),
        },
    }
}

/// Decodes `%XX` escapes (RFC 3986 §2.1) of a URL's user or password; invalid escapes stay as
/// they are, and bytes that do not form UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An open RTSP session producing access units of one video stream.
pub struct RtspSource {
    camera: String,
    url: String,
    secret: Option<String>,
    /// `Some` until dropped: see the `Drop` impl.
    demuxed: Option<Demuxed>,
    /// The runtime the session was opened on: retina's session destructor spawns its
    /// `TEARDOWN` there, which needs a runtime context wherever the source is dropped.
    runtime: tokio::runtime::Handle,
    stream_i: usize,
    codec: Codec,
    info: StreamInfo,
    clock_rate: NonZeroU32,
    frame_timeout: Option<Duration>,
    resync_on_loss: bool,
    parameter_sets: Vec<Vec<u8>>,
    awaiting_sync: bool,
    pending_loss: u64,
    pending_dropped: u64,
    next_index: u64,
    ended: bool,
    scratch: Vec<u8>,
    stats: RtspStats,
}

impl std::fmt::Debug for RtspSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSource")
            .field("camera", &self.camera)
            .field("url", &self.url)
            .field("stream", &self.stream_i)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl RtspSource {
    /// Connects, picks the first H.264/H.265 video stream, sets it up and starts playing.
    pub async fn connect(opts: RtspOptions) -> Result<Self, RtspError> {
        let redacted = redact_url(&opts.url);
        let camera = opts.camera.clone();
        let invalid = |detail: String| RtspError::InvalidUrl {
            camera: camera.clone(),
            url: redacted.clone(),
            detail,
        };
        let mut url = url::Url::parse(&opts.url).map_err(|e| invalid(e.to_string()))?;
        if url.scheme() != "rtsp" {
            return Err(invalid(format!(
                "the scheme is `{}`, expected rtsp:// (rtsps is not supported)",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host".into()));
        }
        let mut creds = opts.credentials.clone();
        if !url.username().is_empty() || url.password().is_some() {
            let from_url = RtspCredentials {
                username: percent_decode(url.username()),
                password: percent_decode(url.password().unwrap_or("")),
            };
            creds.get_or_insert(from_url);
            let _ = url.set_password(None);
            let _ = url.set_username("");
        }
        let secret = creds
            .as_ref()
            .map(|c| c.password.clone())
            .filter(|p| !p.is_empty());
        let ctx = ErrCtx {
            camera: &camera,
            url: &redacted,
            secret: secret.as_deref(),
            had_credentials: creds.is_some(),
        };

        let session_opts = SessionOptions::default()
            .creds(creds.map(|c| Credentials {
                username: c.username,
                password: c.password,
            }))
            .user_agent(format!("aisle/{}", env!("CARGO_PKG_VERSION")));
        let transport = match opts.transport {
            RtspTransport::Tcp => Transport::Tcp(Default::default()),
            RtspTransport::Udp => Transport::Udp(Default::default()),
        };

        let setup = async {
            let mut session = Session::describe(url, session_opts)
                .await
                .map_err(|e| ctx.map(&e, "DESCRIBE"))?;
            let streams = session.streams();
            let picked = streams
                .iter()
                .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"));
            let Some(stream_i) = picked else {
                let found = if streams.is_empty() {
                    "no streams".to_string()
                } else {
                    streams
                        .iter()
                        .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(RtspError::UnsupportedCodec {
                    camera: camera.clone(),
                    url: redacted.clone(),
                    found,
                });
            };
            let codec = if streams[stream_i].encoding_name() == "h264" {
                Codec::H264
            } else {
                Codec::H265
            };
            let clock_rate =
                NonZeroU32::new(streams[stream_i].clock_rate_hz()).ok_or_else(|| {
                    RtspError::Stream {
                        camera: camera.clone(),
                        url: redacted.clone(),
                        detail: "the SDP gives the video stream a clock rate of 0".into(),
                    }
                })?;
            session
                .setup(
                    stream_i,
                    SetupOptions::default()
                        .transport(transport)
                        .frame_format(FrameFormat::MP4),
                )
                .await
                .map_err(|e| ctx.map(&e, "SETUP"))?;
            let playing = session
                .play(PlayOptions::default())
                .await
                .map_err(|e| ctx.map(&e, "PLAY"))?;
            let demuxed = playing.demuxed().map_err(|e| ctx.map(&e, "PLAY"))?;
            Ok::<_, RtspError>((demuxed, stream_i, codec, clock_rate))
        };
        let (demuxed, stream_i, codec, clock_rate) =
            match tokio::time::timeout(opts.connect_timeout, setup).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(RtspError::Timeout {
                        camera,
                        url: redacted,
                        stage: "connecting (DESCRIBE/SETUP/PLAY)",
                        after: opts.connect_timeout,
                    })
                }
            };

        let mut source = Self {
            camera,
            url: redacted,
            secret,
            demuxed: Some(demuxed),
            runtime: tokio::runtime::Handle::current(),
            stream_i,
            codec,
            info: StreamInfo {
                codec,
                width: 0,
                height: 0,
                timescale: clock_rate.get(),
                frame_count: None,
                nominal_fps: None,
            },
            clock_rate,
            frame_timeout: opts.frame_timeout,
            resync_on_loss: opts.resync_on_loss,
            parameter_sets: Vec::new(),
            awaiting_sync: true,
            pending_loss: 0,
            pending_dropped: 0,
            next_index: 0,
            ended: false,
            scratch: Vec::new(),
            stats: RtspStats::default(),
        };
        source.refresh_parameters();
        info!(camera = %source.camera, url = %source.url, codec = %codec, transport = %opts.transport,
            width = source.info.width, height = source.info.height, "RTSP session playing");
        Ok(source)
    }

    /// The stream: codec, size (0x0 until the parameters are known, at the latest with the
    /// first frame), timescale = RTP clock rate, frame rate when the SPS states one.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The camera name given in [`RtspOptions::camera`].
    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// The URL with credentials redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Counters since the session started.
    pub fn stats(&self) -> RtspStats {
        self.stats
    }

    /// The next access unit; `Ok(None)` when the server ended the session.
    ///
    /// With [`RtspOptions::frame_timeout`] set, fails with [`RtspError::Timeout`] when no
    /// access unit could be emitted for that long: nothing arrived, or only access units that
    /// had to be dropped (waiting for a keyframe after loss).
    ///
    /// Cancel-safe: dropping the future before it completes loses no session state.
    pub async fn next(&mut self) -> Result<Option<RtspFrame>, RtspError> {
        let deadline = self
            .frame_timeout
            .map(|limit| (tokio::time::Instant::now() + limit, limit));
        loop {
            let Some(demuxed) = self.demuxed.as_mut().filter(|_| !self.ended) else {
                return Ok(None);
            };
            let item = match deadline {
                Some((at, limit)) => match tokio::time::timeout_at(at, demuxed.next()).await {
                    Ok(item) => item,
                    Err(_) => {
                        return Err(RtspError::Timeout {
                            camera: self.camera.clone(),
                            url: self.url.clone(),
                            stage: if self.pending_dropped > 0 {
                                "waiting for a keyframe (access units were dropped after packet loss)"
                            } else {
                                "waiting for video data"
                            },
                            after: limit,
                        });
                    }
                },
                None => demuxed.next().await,
            };
            let frame = match item {
                None => {
                    self.ended = true;
                    info!(camera = %self.camera, "the server ended the RTSP session");
                    return Ok(None);
                }
                Some(Err(e)) => {
                    let ctx = ErrCtx {
                        camera: &self.camera,
                        url: &self.url,
                        secret: self.secret.as_deref(),
                        had_credentials: self.secret.is_some(),
                    };
                    return Err(ctx.map(&e, "streaming"));
                }
                Some(Ok(CodecItem::VideoFrame(f))) if f.stream_id() == self.stream_i => f,
                Some(Ok(_)) => continue,
            };
            if let Some(out) = self.convert(frame)? {
                return Ok(Some(out));
            }
        }
    }

    /// Re-reads the stream's parameters (after DESCRIBE, or when a frame brought new ones).
    fn refresh_parameters(&mut self) {
        let Some(ParametersRef::Video(v)) = self
            .demuxed
            .as_ref()
            .and_then(|d| d.streams().get(self.stream_i))
            .and_then(|s| s.parameters())
        else {
            return;
        };
        self.parameter_sets = match v.codec_params() {
            VideoParametersCodec::H264 { sps, pps } => vec![sps.to_vec(), pps.to_vec()],
            VideoParametersCodec::H265 { vps, sps, pps } => {
                vec![vps.to_vec(), sps.to_vec(), pps.to_vec()]
            }
            _ => Vec::new(),
        };
        let (w, h) = v.pixel_dimensions();
        self.info.width = w;
        self.info.height = h;
        self.info.nominal_fps = v
            .frame_rate()
            .filter(|&(num, den)| num > 0 && den > 0)
            .map(|(num, den)| f64::from(den) / f64::from(num));
    }

    fn convert(&mut self, frame: VideoFrame) -> Result<Option<RtspFrame>, RtspError> {
        self.pending_loss += u64::from(frame.loss());
        self.stats.packets_lost += u64::from(frame.loss());
        if frame.loss() > 0 {
            debug!(camera = %self.camera, lost = frame.loss(), "RTP packets lost");
            if self.resync_on_loss && !self.awaiting_sync {
                warn!(camera = %self.camera, lost = frame.loss(), "RTP packet loss; dropping access units until the next keyframe");
                self.awaiting_sync = true;
            }
        }
        if frame.has_new_parameters() {
            self.refresh_parameters();
        }
        let is_sync = frame.is_random_access_point()
            || (self.codec == Codec::H265 && h265_is_irap(frame.data()));
        if self.awaiting_sync && !is_sync {
            self.pending_dropped += 1;
            self.stats.dropped += 1;
            return Ok(None);
        }
        self.awaiting_sync = false;

        let ts = frame.timestamp();
        let pts = MediaTime {
            ticks: ts.elapsed(),
            timescale: self.clock_rate.get(),
        };
        let prepend = is_sync || frame.has_new_parameters();
        self.scratch.clear();
        let params = prepend.then_some(&self.parameter_sets[..]);
        let converted = match self.codec {
            Codec::H264 => avcc_to_annexb(frame.data(), 4, params, &mut self.scratch),
            _ => crate::h265::hvcc_to_annexb(frame.data(), 4, params, &mut self.scratch),
        };
        if let Err(e) = converted {
            // retina wrote these prefixes itself; a failure means a bug, not bad input, but
            // stay safe: drop the frame and resynchronise.
            warn!(camera = %self.camera, offset = e.offset, detail = %e.detail, "cannot convert a frame to Annex B; dropping it");
            self.awaiting_sync = true;
            self.pending_dropped += 1;
            self.stats.dropped += 1;
            return Ok(None);
        }
        let index = self.next_index;
        self.next_index += 1;
        self.stats.emitted += 1;
        let out = RtspFrame {
            au: AccessUnit {
                data: std::mem::take(&mut self.scratch),
                pts,
                dts: pts,
                is_sync,
                index,
            },
            rtp_timestamp: ts.timestamp() as u32,
            loss: std::mem::take(&mut self.pending_loss),
            dropped: std::mem::take(&mut self.pending_dropped),
            new_parameters: frame.has_new_parameters(),
        };
        if out.dropped > 0 {
            debug!(camera = %self.camera, dropped = out.dropped, au = index, "resumed at a keyframe");
        }
        Ok(Some(out))
    }
}

impl Drop for RtspSource {
    fn drop(&mut self) {
        // Closing the session spawns retina's TEARDOWN task, which panics outside a runtime
        // context; enter the session's runtime so that dropping the source is fine anywhere.
        let _guard = self.runtime.enter();
        drop(self.demuxed.take());
    }
}

/// True when a 4-byte length-prefixed H.265 access unit is an IRAP picture: all its slice
/// segments are BLA, IDR or CRA (H.265 §3.73). retina flags IDR only; a CRA (what x265 and
/// many cameras write as keyframes) is a random access point too: the leading pictures a
/// decoder cannot use from there (RASL) are skipped by it (H.265 §8.1.3).
fn h265_is_irap(data: &[u8]) -> bool {
    let mut pos = 0usize;
    let mut any_vcl = false;
    while let Some(prefix) = data.get(pos..pos + 4) {
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let Some(nal) = data.get(pos + 4..).and_then(|rest| rest.get(..len)) else {
            return false;
        };
        if let Some(t) = crate::h265::nal_unit_type(nal) {
            if crate::h265::is_vcl(t) {
                if !crate::h265::is_irap(t) {
                    return false;
                }
                any_vcl = true;
            }
        }
        pos += 4 + len;
    }
    any_vcl
}

/// Context for turning retina errors into [`RtspError`]s.
struct ErrCtx<'a> {
    camera: &'a str,
    url: &'a str,
    secret: Option<&'a str>,
    had_credentials: bool,
}

impl ErrCtx<'_> {
    fn map(&self, e: &retina::Error, during: &str) -> RtspError {
        let camera = self.camera.to_string();
        let url = self.url.to_string();
        // retina's messages span lines with connection details; the first line says it.
        let full = e.to_string();
        let mut detail = full.lines().next().unwrap_or("").trim().to_string();
        if let Some(secret) = self.secret {
            detail = detail.replace(secret, "***");
        }
        match e.status_code() {
            Some(401) => RtspError::Auth {
                camera,
                url,
                had_credentials: self.had_credentials,
            },
            Some(status) => RtspError::Server {
                camera,
                url,
                status,
                detail: format!("{during}: {detail}"),
            },
            None if detail.starts_with("Unable to connect") => RtspError::Unreachable {
                camera,
                url,
                detail: detail
                    .trim_start_matches("Unable to connect to RTSP server: ")
                    .to_string(),
            },
            None => RtspError::Stream {
                camera,
                url,
                detail: format!("{during}: {detail}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/stream1"),
            "rtsp://***@10.0.0.5:554/stream1"
        );
        assert_eq!(
            redact_url("rtsp://10.0.0.5/stream1"),
            "rtsp://10.0.0.5/stream1"
        );
        assert_eq!(redact_url("rtsp://user@cam/x"), "rtsp://***@cam/x");
        // Not a URL: still nothing before the '@'.
        let r = redact_url("rtsp://a:b c@[bad/x");
        assert!(!r.contains("b c"), "{r}");
        assert_eq!(redact_url("no at sign"), "no at sign");
    }

    /// The source and its futures can move to a spawned task of a multi-threaded runtime.
    #[allow(dead_code)]
    fn source_and_futures_are_send(mut s: RtspSource) {
        fn send<T: Send>(_: &T) {}
        send(&s);
        send(&RtspSource::connect(RtspOptions::new("c", "rtsp://h/p")));
        send(&s.next());
    }

    #[test]
    fn url_userinfo_is_percent_decoded() {
        assert_eq!(percent_decode("p%40ss%3Aw+rd%zz%4"), "p@ss:w+rd%zz%4");
        assert_eq!(percent_decode(""), "");
    }

    #[test]
    fn transports_parse() {
        assert_eq!("tcp".parse::<RtspTransport>(), Ok(RtspTransport::Tcp));
        assert_eq!("udp".parse::<RtspTransport>(), Ok(RtspTransport::Udp));
        assert!("http".parse::<RtspTransport>().is_err());
        assert_eq!(RtspTransport::default().to_string(), "tcp");
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = RtspCredentials {
            username: "admin".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn h265_irap_detection() {
        // 4-byte length prefixes; H.265 NAL header type in bits 1..=6 of the first byte.
        let cra = [0, 0, 0, 3, 21 << 1, 1, 0xaf];
        let idr = [0, 0, 0, 3, 19 << 1, 1, 0xaf];
        let trail = [0, 0, 0, 3, 1 << 1, 1, 0xaf];
        let sei = [0, 0, 0, 3, 39 << 1, 1, 0x05];
        assert!(h265_is_irap(&cra));
        assert!(h265_is_irap(&[&sei[..], &idr[..]].concat()));
        assert!(!h265_is_irap(&trail));
        assert!(!h265_is_irap(&[&cra[..], &trail[..]].concat()));
        assert!(!h265_is_irap(&sei));
        // Truncated or lying prefixes are not a panic.
        assert!(!h265_is_irap(&[0, 0, 0, 9, 21 << 1]));
        assert!(!h265_is_irap(&[0xff, 0xff, 0xff, 0xff]));
        assert!(!h265_is_irap(&[]));
    }

    #[tokio::test]
    async fn bad_urls_and_refused_connections_are_named_errors() {
        let err = RtspSource::connect(RtspOptions::new("door", "http://cam/x"))
            .await
            .unwrap_err();
        assert!(matches!(err, RtspError::InvalidUrl { .. }), "{err}");
        assert!(err.to_string().contains("camera door"), "{err}");

        // A port nobody listens on: bind, learn the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = RtspSource::connect(RtspOptions::new(
            "door",
            format!("rtsp://u:topsecret@127.0.0.1:{port}/x"),
        ))
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, RtspError::Unreachable { .. }), "{msg}");
        assert!(err.is_transient());
        assert!(
            msg.contains("camera door") && msg.contains("127.0.0.1"),
            "{msg}"
        );
        assert!(!msg.contains("topsecret"), "{msg}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        // Accepts the TCP connection but never answers the DESCRIBE.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(sock);
        });
        let mut opts = RtspOptions::new("aisle-1", format!("rtsp://127.0.0.1:{port}/x"));
        opts.connect_timeout = Duration::from_millis(300);
        let err = RtspSource::connect(opts).await.unwrap_err();
        assert!(matches!(err, RtspError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("aisle-1"), "{err}");
        hold.abort();
    }
}
