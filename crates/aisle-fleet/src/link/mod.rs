//! The MQTT 5 link: a thin tokio + `rumqttc` shell around [`state::LinkState`].
//!
//! [`Link::spawn`] starts a thread (`aisle-mqtt`) with its own single-threaded tokio runtime,
//! which owns the [`Spool`]; fsyncs never block the caller's runtime, and the
//! [`LinkHandle`] is a plain blocking API usable from pipeline threads.
//!
//! - [`LinkHandle::publish_record`] returns once the record is durable in the spool; it is then
//!   published on its `metrics` topic, QoS 1, retained, with the configured message expiry, and
//!   acknowledged in the spool on PUBACK.
//! - Every connection publishes the retained birth `{"state":"online",...}` on `status`, then
//!   replays every pending spool entry in order with `"historical":true`. The Last Will is the
//!   retained `{"state":"offline"}` on `status`.
//! - [`LinkHandle::shutdown`] publishes the retained `{"state":"stopped"}`, waits for its PUBACK
//!   (bounded by [`LinkConfig::shutdown_timeout`]) and disconnects cleanly.
//!
//! Each connection gets a fresh `rumqttc` client and event loop with a clean start: packets in
//! flight when a connection drops are not retransmitted by rumqttc; the state machine replays
//! them from the spool, which is the single source of truth. Reconnection backs off from
//! [`LinkConfig::reconnect_min`] to [`LinkConfig::reconnect_max`].
//!
//! Commands ([`Link::spawn_with_commands`]): the link subscribes to `<base>/cmd/#` on every
//! connection, answers `ping` and `config/get` itself and hands the verbs that change the device
//! to the application through a [`CommandQueue`]; it publishes the retained effective
//! configuration on `config` after the birth of every connection and again after
//! [`LinkHandle::set_config`], and the birth then carries the config hash. See
//! [`crate::command`].
//!
//! [`LinkHandle::publish_health`] and [`LinkHandle::publish_live`] send QoS 0 messages with a
//! message expiry, never blocking the caller and never spooled: a lost one is superseded by the
//! next. The latest `live` message of every zone is kept and published again (retained) after
//! each birth.
//!
//! TLS (`mqtts://`, with a CA file or the system's roots, and a client certificate for mutual
//! TLS) and a user name and password come from [`crate::security`], loaded once at start-up by
//! [`LinkConfig::from_config`]. A connection that fails (refused, TLS handshake, bad credentials)
//! is logged (a warning when the reason changes), shown in [`LinkStatus::last_error`] and retried
//! with the back-off; records stay spooled meanwhile.

pub mod commands;
pub mod state;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aisle_types::metrics::MetricRecord;
use rumqttc::v5::mqttbytes::v5::{LastWill, PubAckReason, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, ClientError, ConnectionError, Event, MqttOptions};
use rumqttc::{Outgoing, TlsConfiguration, Transport};
use tokio::sync::{mpsc, oneshot};

use crate::command::{Authorizer, EffectiveConfig};
use crate::payload::{Health, Live, Status, StatusState};
use crate::security::{MqttSecurity, SecurityError};
use crate::spool::{Seq, Spool, SpoolError, SpoolStats};
use crate::topics::{TopicError, Topics};
use commands::CmdShell;
pub use commands::{CommandQueue, CommandRequest, CommandSetup, ReplyTo};
use state::{Acked, LinkCounters, LinkState, Out};

/// Settings of the link (from `[mqtt]`, see [`LinkConfig::from_config`]).
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub keep_alive: Duration,
    pub topics: Topics,
    /// MQTT 5 message expiry of `metrics` messages, seconds.
    pub metrics_expiry_s: u32,
    /// Firmware version in the birth message.
    pub version: String,
    /// Camera ids in the birth message.
    pub cameras: Vec<String>,
    /// Models the device runs (manifest names), in the birth message when not empty.
    pub models: Vec<String>,
    /// `[faces]` on: what the birth says of it.
    pub faces: Option<crate::payload::FacesStatus>,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Longest wait for the PUBACK of `stopped` at shutdown.
    pub shutdown_timeout: Duration,
    /// TLS and credentials (default: plain TCP, anonymous).
    pub security: MqttSecurity,
}

/// Why the link could not start or a record could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("mqtt.broker: {0}")]
    Broker(String),
    #[error(transparent)]
    Security(#[from] SecurityError),
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("cannot serialise the record: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("the MQTT link has stopped")]
    Stopped,
    #[error("cannot start the MQTT link thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl LinkConfig {
    /// The link of `[mqtt]`, for the cameras of `config`; `None` when there is no `[mqtt]`.
    pub fn from_config(
        config: &aisle_config::Config,
        version: &str,
    ) -> Result<Option<Self>, LinkError> {
        let Some(m) = &config.mqtt else {
            return Ok(None);
        };
        let addr = m.broker_addr().map_err(LinkError::Broker)?;
        let security = MqttSecurity::load(&crate::security::files_of_config(config)?)?;
        if security.credentials.is_some() && security.tls.is_none() && !is_loopback(&addr.host) {
            tracing::warn!(
                broker = %m.broker,
                "mqtt: the password is sent without TLS; use an mqtts:// broker"
            );
        }
        Ok(Some(Self {
            host: addr.host,
            port: addr.port,
            client_id: m.client_id(),
            keep_alive: Duration::from_secs(u64::from(m.keep_alive_s)),
            topics: Topics::new(&m.site, &m.device)?,
            metrics_expiry_s: m.metrics_expiry_s,
            version: version.to_string(),
            cameras: config.cameras.iter().map(|c| c.id.clone()).collect(),
            models: models_of(config),
            faces: config.faces.enabled().then(|| crate::payload::FacesStatus {
                attention: config.faces.attention,
                emotion: config.faces.emotion,
                shoppers_informed: config.faces.shoppers_informed.clone(),
            }),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
            security,
        }))
    }

    fn mqtt_options(&self) -> MqttOptions {
        let mut o = client_options(&self.client_id, &self.host, self.port, &self.security);
        o.set_keep_alive(self.keep_alive.max(Duration::from_secs(5)));
        o.set_clean_start(true);
        o.set_last_will(LastWill::new(
            self.topics.status(),
            status_payload(StatusState::Offline),
            QoS::AtLeastOnce,
            true,
            None,
        ));
        o
    }

    /// The birth payload.
    pub fn birth_payload(&self) -> Vec<u8> {
        self.birth_payload_with(None)
    }

    /// The birth payload, with `config_hash` when the link publishes its configuration.
    pub fn birth_payload_with(&self, config_hash: Option<&str>) -> Vec<u8> {
        Status {
            state: StatusState::Online,
            version: Some(self.version.clone()),
            cameras: Some(self.cameras.clone()),
            models: (!self.models.is_empty()).then(|| self.models.clone()),
            config_hash: config_hash.map(str::to_string),
            faces: self.faces.clone(),
        }
        .to_json()
    }
}

/// The models a device with `config` runs: the detector, and with `[faces]` on the face
/// detector, the face mesh and (emotion on) the expression model.
fn models_of(config: &aisle_config::Config) -> Vec<String> {
    let mut m = vec![config.detector.model.clone()];
    if config.faces.enabled() {
        m.extend(["blazeface".to_string(), "face_mesh".to_string()]);
        if config.faces.emotion {
            m.push(config.faces.expression_model.clone());
        }
    }
    m
}

/// `127.0.0.1`, `::1` or `localhost`.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// MQTT 5 options of a client `client_id` of `host:port` with `security` (TLS transport,
/// user name and password); shared by the link and `aisle watch`.
pub fn client_options(
    client_id: &str,
    host: &str,
    port: u16,
    security: &MqttSecurity,
) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, host, port);
    if let Some(tls) = &security.tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::clone(tls),
        )));
    }
    if let Some(c) = &security.credentials {
        o.set_credentials(c.username.clone(), c.password.clone());
    }
    o
}

/// `{"state":"<state>"}`.
pub fn status_payload(state: StatusState) -> Vec<u8> {
    Status::only(state).to_json()
}

/// A snapshot of the link for health reporting and tests.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus {
    pub connected: bool,
    /// Why the last connection attempt failed or the last connection was lost (cleared by the
    /// next successful connection).
    pub last_error: Option<String>,
    /// Connection attempts that failed and connections lost, since the start.
    pub connection_errors: u64,
    pub counters: LinkCounters,
    pub spool: SpoolStats,
}

enum Command {
    Record {
        topic: String,
        payload: Vec<u8>,
        reply: oneshot::Sender<Result<Seq, SpoolError>>,
    },
    Shutdown,
    /// A command reply from the application.
    Reply {
        to: ReplyTo,
        payload: Vec<u8>,
    },
    /// A `health` report (QoS 0, not retained, expiring).
    Health {
        topic: String,
        payload: Vec<u8>,
        expiry_s: u32,
    },
    /// A zone's `live` occupancy (QoS 0, retained, expiring; kept and republished on every
    /// connection).
    Live {
        topic: String,
        payload: Vec<u8>,
    },
    /// A new configuration is in effect.
    SetConfig {
        config: EffectiveConfig,
        authorizer: Option<Authorizer>,
        cameras: Vec<String>,
    },
}

/// The link's entry point.
pub struct Link;

impl Link {
    /// Starts the link on its own thread; it connects (and reconnects) in the background.
    /// Without commands: no subscription, no `config` message.
    pub fn spawn(config: LinkConfig, spool: Spool) -> Result<LinkHandle, LinkError> {
        Self::spawn_inner(config, spool, None).map(|(handle, _)| handle)
    }

    /// [`Link::spawn`] with commands: the link subscribes to `<base>/cmd/#`, publishes the
    /// retained `config`, answers `ping` and `config/get`, and passes the other verbs that pass
    /// its checks to the returned queue.
    pub fn spawn_with_commands(
        config: LinkConfig,
        spool: Spool,
        setup: CommandSetup,
    ) -> Result<(LinkHandle, CommandQueue), LinkError> {
        let (handle, queue) = Self::spawn_inner(config, spool, Some(setup))?;
        Ok((handle, queue.expect("a queue with a setup")))
    }

    fn spawn_inner(
        config: LinkConfig,
        spool: Spool,
        setup: Option<CommandSetup>,
    ) -> Result<(LinkHandle, Option<CommandQueue>), LinkError> {
        let (tx, rx) = mpsc::channel(64);
        let (cmds, queue) = match setup {
            Some(setup) => {
                let (shell, queue) = CmdShell::new(setup, tx.clone());
                (Some(shell), Some(queue))
            }
            None => (None, None),
        };
        let status = Arc::new(Mutex::new(LinkStatus {
            spool: spool.stats(),
            ..LinkStatus::default()
        }));
        let topics = config.topics.clone();
        let shared = Arc::clone(&status);
        let thread = std::thread::Builder::new()
            .name("aisle-mqtt".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime of the MQTT link");
                rt.block_on(run(config, spool, rx, shared, cmds));
            })
            .map_err(LinkError::Thread)?;
        let handle = LinkHandle {
            tx,
            thread: Some(thread),
            topics,
            status,
        };
        Ok((handle, queue))
    }
}

/// The blocking handle of a running link. Dropping it shuts the link down like
/// [`LinkHandle::shutdown`], without waiting.
pub struct LinkHandle {
    tx: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
    topics: Topics,
    status: Arc<Mutex<LinkStatus>>,
}

impl LinkHandle {
    /// Writes `record` to the spool and returns its sequence number once it is durable; it is
    /// published as soon as the link is connected. Blocking: not for use inside an async task.
    pub fn publish_record(&self, record: &MetricRecord) -> Result<Seq, LinkError> {
        let topic = self.topics.record(record)?;
        let payload = serde_json::to_vec(record)?;
        let (reply, answer) = oneshot::channel();
        self.tx
            .blocking_send(Command::Record {
                topic,
                payload,
                reply,
            })
            .map_err(|_| LinkError::Stopped)?;
        Ok(answer.blocking_recv().map_err(|_| LinkError::Stopped)??)
    }

    /// A new configuration is in effect: the retained `config` and the birth (with the new hash
    /// and `cameras`) are published again; `authorizer`, when given, checks the next commands.
    pub fn set_config(
        &self,
        config: EffectiveConfig,
        authorizer: Option<Authorizer>,
        cameras: Vec<String>,
    ) -> Result<(), LinkError> {
        self.tx
            .blocking_send(Command::SetConfig {
                config,
                authorizer,
                cameras,
            })
            .map_err(|_| LinkError::Stopped)
    }

    /// Publishes a `health` report (QoS 0, not retained, expiring after `expiry_s`) if the link
    /// is connected; dropped otherwise. Never blocks: `false` when the link is busy or stopped
    /// (the report is dropped; the next one follows).
    pub fn publish_health(&self, health: &Health, expiry_s: u32) -> Result<bool, LinkError> {
        let payload = serde_json::to_vec(health)?;
        let topic = self.topics.health();
        Ok(self
            .tx
            .try_send(Command::Health {
                topic,
                payload,
                expiry_s,
            })
            .is_ok())
    }

    /// Publishes a zone's `live` occupancy (QoS 0, retained, expiring after
    /// [`LIVE_EXPIRY_S`]); the link keeps the latest per zone and publishes it again on every
    /// connection. Never blocks: `false` when the link is busy or stopped (the caller sends the
    /// next change or refresh).
    pub fn publish_live(&self, live: &Live) -> Result<bool, LinkError> {
        let topic = self.topics.live(&live.camera, &live.zone)?;
        let payload = serde_json::to_vec(live)?;
        Ok(self.tx.try_send(Command::Live { topic, payload }).is_ok())
    }

    /// The link's topics.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Connection state, counters and spool statistics.
    pub fn status(&self) -> LinkStatus {
        self.status.lock().expect("link status").clone()
    }

    /// Publishes the retained `stopped`, disconnects cleanly and waits for the link's thread.
    pub fn shutdown(mut self) {
        let _ = self.tx.blocking_send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the MQTT link thread panicked");
            }
        }
    }
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        let _ = self.tx.try_send(Command::Shutdown);
    }
}

/// What the event loop task forwards.
type Polled = Result<Event, ConnectionError>;

async fn run(
    mut cfg: LinkConfig,
    mut spool: Spool,
    mut rx: mpsc::Receiver<Command>,
    status: Arc<Mutex<LinkStatus>>,
    mut cmds: Option<CmdShell>,
) {
    let mut state = LinkState::new();
    state.set_has_config(cmds.is_some());
    // The latest `live` payload per topic, published again after every birth.
    let mut live: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut backoff = cfg.reconnect_min;
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut last_error: Option<String> = None;
    loop {
        let connections_before = state.counters().connections;
        let mut options = cfg.mqtt_options();
        if cmds.is_some() {
            // Commands up to MAX_COMMAND_BYTES get a reply; the broker drops larger packets
            // instead of sending them (rumqttc would fail the connection on them).
            options.set_max_packet_size(Some(crate::command::MAX_INCOMING_PACKET_BYTES));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (ev_tx, mut ev_rx) = mpsc::channel::<Polled>(64);
        // The event loop runs in its own task, so that polling it is never cancelled.
        let poller = tokio::spawn(async move {
            loop {
                let polled = eventloop.poll().await;
                let failed = polled.is_err();
                if ev_tx.send(polled).await.is_err() || failed {
                    break;
                }
            }
        });
        let mut live_sent_for = 0;
        loop {
            pump(&mut state, &client, &spool, &cfg, &mut cmds);
            // After this connection's birth went to the client: the retained live counts.
            if state.is_connected() && live_sent_for != state.counters().connections {
                live_sent_for = state.counters().connections;
                for (topic, payload) in &live {
                    publish_qos0(&client, topic, payload.clone(), true, LIVE_EXPIRY_S);
                }
            }
            publish_status(&status, &state, &spool);
            if state.is_done() {
                poller.abort();
                return;
            }
            let shutdown_timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                polled = ev_rx.recv() => match polled {
                    Some(Ok(event)) => {
                        if matches!(event, Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(_))) {
                            last_error = None;
                            status.lock().expect("link status").last_error = None;
                        }
                        on_event(&mut state, &mut spool, event, &client, &cfg, &mut cmds)
                    }
                    Some(Err(e)) => {
                        let error = describe_error(&e);
                        let repeated = last_error.as_deref() == Some(error.as_str());
                        if state.is_connected() {
                            tracing::warn!(%error, "mqtt: connection lost");
                        } else if repeated {
                            tracing::debug!(%error, "mqtt: cannot connect");
                        } else {
                            tracing::warn!(%error, broker = %format!("{}:{}", cfg.host, cfg.port), "mqtt: cannot connect; retrying");
                        }
                        {
                            let mut s = status.lock().expect("link status");
                            s.last_error = Some(error.clone());
                            s.connection_errors += 1;
                        }
                        last_error = Some(error);
                        state.disconnected();
                        if let Some(c) = cmds.as_mut() {
                            c.disconnected();
                        }
                        break;
                    }
                    None => {
                        state.disconnected();
                        if let Some(c) = cmds.as_mut() {
                            c.disconnected();
                        }
                        break;
                    }
                },
                cmd = rx.recv(), if !state.is_stopping() => {
                    let connected = state.is_connected().then_some(&client);
                    if let Some(cmd) = take_qos0(cmd, &mut live, connected) {
                        if on_command(&mut state, &mut spool, &status, cmd, &mut cmds, &mut cfg) {
                            deadline = Some(tokio::time::Instant::now() + cfg.shutdown_timeout);
                        }
                    }
                }
                () = shutdown_timer => {
                    tracing::warn!("mqtt: no PUBACK for `stopped` in time; closing the link");
                    poller.abort();
                    return;
                }
            }
        }
        poller.abort();
        publish_status(&status, &state, &spool);
        if state.is_done() {
            return;
        }
        if state.counters().connections > connections_before {
            backoff = cfg.reconnect_min; // the last attempt got through: start over
        }
        // Back off before reconnecting, still taking records (and a shutdown) meanwhile.
        let wake = tokio::time::Instant::now() + backoff;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break,
                cmd = rx.recv() => {
                    if let Some(cmd) = take_qos0(cmd, &mut live, None) {
                        on_command(&mut state, &mut spool, &status, cmd, &mut cmds, &mut cfg);
                    }
                    publish_status(&status, &state, &spool);
                    if state.is_done() {
                        return;
                    }
                }
            }
        }
        backoff = (backoff * 2).min(cfg.reconnect_max);
    }
}

/// Seconds a retained `live` message lives at the broker: a device that stops refreshing (it
/// refreshes every zone at least every [`LIVE_REFRESH_S`]) leaves no stale count behind.
pub const LIVE_EXPIRY_S: u32 = 120;
/// Longest time between two `live` messages of a zone (the device also publishes on change).
pub const LIVE_REFRESH_S: u32 = 30;

/// Takes the QoS 0 commands (`health`, `live`) out of the stream (`None`): published at once
/// through `client` when connected (a live count is also kept for the next connections),
/// dropped otherwise. Everything else, end of input included, is handed on (`Some`).
fn take_qos0(
    cmd: Option<Command>,
    live: &mut BTreeMap<String, Vec<u8>>,
    client: Option<&AsyncClient>,
) -> Option<Option<Command>> {
    match cmd {
        Some(Command::Health {
            topic,
            payload,
            expiry_s,
        }) => {
            if let Some(c) = client {
                publish_qos0(c, &topic, payload, false, expiry_s);
            }
            None
        }
        Some(Command::Live { topic, payload }) => {
            if let Some(c) = client {
                publish_qos0(c, &topic, payload.clone(), true, LIVE_EXPIRY_S);
            }
            live.insert(topic, payload);
            None
        }
        other => Some(other),
    }
}

/// A QoS 0 JSON publish with a message expiry; a full client queue drops it (logged).
fn publish_qos0(client: &AsyncClient, topic: &str, payload: Vec<u8>, retain: bool, expiry_s: u32) {
    let props = PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(expiry_s),
        content_type: Some("application/json".into()),
        ..PublishProperties::default()
    };
    if let Err(e) =
        client.try_publish_with_properties(topic, QoS::AtMostOnce, retain, payload, props)
    {
        tracing::debug!(topic, error = %e, "mqtt: QoS 0 message dropped");
    }
}

/// Handles a command; `true` when it started a shutdown that has to wait for the broker.
/// The status is updated before the caller hears back, so that what it reads after
/// `publish_record` returns includes its record.
fn on_command(
    state: &mut LinkState,
    spool: &mut Spool,
    status: &Mutex<LinkStatus>,
    cmd: Option<Command>,
    cmds: &mut Option<CmdShell>,
    cfg: &mut LinkConfig,
) -> bool {
    match cmd {
        Some(Command::Record {
            topic,
            payload,
            reply,
        }) => {
            let appended = spool.append(&topic, &payload);
            if let Ok(seq) = appended {
                state.appended(seq);
            }
            publish_status(status, state, spool);
            let _ = reply.send(appended);
            false
        }
        Some(Command::Reply { to, payload }) => {
            if let Some(c) = cmds.as_mut() {
                c.queue_reply(state, to, payload);
            }
            false
        }
        Some(Command::SetConfig {
            config,
            authorizer,
            cameras,
        }) => {
            if let Some(c) = cmds.as_mut() {
                c.set_config(config, authorizer);
                cfg.cameras = cameras;
                state.config_changed();
            }
            false
        }
        // Taken out by `take_qos0` before.
        Some(Command::Health { .. } | Command::Live { .. }) => false,
        Some(Command::Shutdown) | None => !state.shutdown(),
    }
}

fn on_event(
    state: &mut LinkState,
    spool: &mut Spool,
    event: Event,
    client: &AsyncClient,
    cfg: &LinkConfig,
    cmds: &mut Option<CmdShell>,
) {
    use rumqttc::v5::mqttbytes::v5::Packet;
    match event {
        Event::Incoming(Packet::ConnAck(_)) => {
            tracing::info!(pending = spool.len(), "mqtt: connected");
            state.connected(spool.pending_seqs().collect::<Vec<_>>());
            if let Some(c) = cmds.as_ref() {
                c.subscribe(client, cfg);
            }
        }
        Event::Incoming(Packet::Publish(p)) => match cmds.as_mut() {
            Some(c) => c.on_publish(state, cfg, p),
            None => tracing::debug!("mqtt: ignored an incoming message (no commands)"),
        },
        Event::Incoming(Packet::PubAck(ack)) => {
            let ok = matches!(
                ack.reason,
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers
            );
            match state.puback(ack.pkid, ok) {
                Some(Acked::Spool(seq)) => {
                    if let Err(e) = spool.ack(seq) {
                        // The entry stays pending and is replayed at the next connection.
                        tracing::warn!(error = %e, %seq, "spool: cannot acknowledge");
                    }
                }
                Some(Acked::Refused(seq)) => {
                    tracing::warn!(%seq, reason = ?ack.reason, "mqtt: broker refused a record; it stays spooled");
                }
                Some(Acked::Birth { ok: false }) => {
                    tracing::warn!(reason = ?ack.reason, "mqtt: broker refused the birth message");
                }
                Some(Acked::Config { ok: false }) => {
                    tracing::warn!(reason = ?ack.reason, "mqtt: broker refused the config message");
                }
                Some(Acked::Reply { ok: false }) => {
                    tracing::warn!(reason = ?ack.reason, "mqtt: broker refused a command reply");
                }
                Some(
                    Acked::Birth { ok: true }
                    | Acked::Stopped
                    | Acked::Config { ok: true }
                    | Acked::Reply { ok: true },
                )
                | None => {}
            }
        }
        Event::Outgoing(Outgoing::Publish(pkid)) => {
            // Packet id 0 is QoS 0, which the link never sends.
            let unknown = pkid != 0 && state.sent(pkid).is_none();
            if unknown {
                tracing::warn!(pkid, "mqtt: a publish the link did not submit");
            }
        }
        Event::Outgoing(Outgoing::Disconnect) => state.disconnect_sent(),
        _ => {}
    }
}

/// Hands the state machine's queued messages to the client until its channel is full.
fn pump(
    state: &mut LinkState,
    client: &AsyncClient,
    spool: &Spool,
    cfg: &LinkConfig,
    cmds: &mut Option<CmdShell>,
) {
    while let Some(out) = state.next_out() {
        let sent = match out {
            Out::Birth => {
                let hash = cmds.as_ref().map(|c| c.config().hash.as_str());
                let birth = cfg.birth_payload_with(hash);
                client.try_publish(cfg.topics.status(), QoS::AtLeastOnce, true, birth)
            }
            Out::Config => match cmds.as_ref() {
                Some(c) => {
                    let props = PublishProperties {
                        payload_format_indicator: Some(1),
                        content_type: Some("application/json".into()),
                        ..PublishProperties::default()
                    };
                    client.try_publish_with_properties(
                        cfg.topics.config(),
                        QoS::AtLeastOnce,
                        true,
                        c.config().message(),
                        props,
                    )
                }
                None => {
                    state.skipped();
                    continue;
                }
            },
            Out::Reply(id) => match cmds.as_mut().and_then(|c| c.publish_reply(client, id)) {
                Some(sent) => sent,
                None => {
                    state.skipped();
                    continue;
                }
            },
            Out::Stopped => client.try_publish(
                cfg.topics.status(),
                QoS::AtLeastOnce,
                true,
                status_payload(StatusState::Stopped),
            ),
            Out::Disconnect => client.try_disconnect(),
            Out::Record { seq, historical } => {
                let entry = match spool.get(seq) {
                    Ok(Some(entry)) => entry,
                    Ok(None) => {
                        state.skipped(); // evicted meanwhile
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %seq, "spool: cannot read an entry; skipped until the next connection");
                        state.skipped();
                        continue;
                    }
                };
                let payload = if historical {
                    crate::mark_historical(&entry.payload).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, %seq, "spool: entry not marked historical");
                        entry.payload.clone()
                    })
                } else {
                    entry.payload
                };
                let props = PublishProperties {
                    message_expiry_interval: Some(cfg.metrics_expiry_s),
                    payload_format_indicator: Some(1),
                    content_type: Some("application/json".into()),
                    ..PublishProperties::default()
                };
                client.try_publish_with_properties(
                    entry.topic,
                    QoS::AtLeastOnce,
                    true,
                    payload,
                    props,
                )
            }
        };
        match sent {
            Ok(()) => state.submitted(),
            Err(ClientError::TryRequest(_) | ClientError::Request(_)) => break,
        }
    }
}

/// A connection error with its causes (a TLS alert is a cause of an I/O error).
fn describe_error(e: &ConnectionError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn publish_status(status: &Mutex<LinkStatus>, state: &LinkState, spool: &Spool) {
    let mut s = status.lock().expect("link status");
    s.connected = state.is_connected();
    s.counters = state.counters();
    s.spool = spool.stats();
}
