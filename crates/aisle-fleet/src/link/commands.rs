//! The link's side of commands ([`crate::command`] is the pure part): subscribing to
//! `<base>/cmd/#` on every connection, checking each request, answering `ping` and `config/get`
//! itself, handing the verbs that change the device to the application ([`CommandQueue`]), and
//! publishing replies on the request's response topic with its correlation data.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, ClientError};
use tokio::sync::mpsc;

use super::state::LinkState;
use super::{Command, LinkConfig};
use crate::command::{
    self, Action, Authorizer, EffectiveConfig, ErrorCode, Reply, ReplyError, TOKEN_PROPERTY,
};

/// Requests for the application that may wait in the [`CommandQueue`]; more get an
/// `unavailable` reply.
const QUEUE_DEPTH: usize = 4;

/// What the link needs to answer commands.
#[derive(Debug, Clone)]
pub struct CommandSetup {
    pub authorizer: Authorizer,
    /// The configuration in effect (published retained on `config`).
    pub config: EffectiveConfig,
    /// When the process started (`ping` reports the uptime).
    pub started: Instant,
}

/// Where a reply goes: the request's response topic and correlation data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub topic: String,
    pub correlation: Option<Vec<u8>>,
}

/// A checked request for the application (`config/set`, `zones/set`, `restart`). Answer it with
/// [`CommandRequest::reply`]; one dropped unanswered gets an `unavailable` reply.
pub struct CommandRequest {
    pub action: Action,
    reply_to: Option<ReplyTo>,
    tx: mpsc::Sender<Command>,
    replied: bool,
}

impl std::fmt::Debug for CommandRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRequest")
            .field("verb", &self.action.verb())
            .field("reply_to", &self.reply_to)
            .finish()
    }
}

impl CommandRequest {
    /// Whether the requester asked for a reply (gave a response topic).
    pub fn wants_reply(&self) -> bool {
        self.reply_to.is_some()
    }

    /// Publishes `reply` on the response topic (QoS 1, not retained, correlation data echoed);
    /// only logged when the request had no response topic.
    pub fn reply(mut self, reply: &Reply) {
        self.replied = true;
        self.send(reply);
    }

    fn send(&self, reply: &Reply) {
        log_outcome(self.action.verb().as_str(), reply, self.reply_to.is_some());
        let Some(to) = self.reply_to.clone() else {
            return;
        };
        let cmd = Command::Reply {
            to,
            payload: reply.to_json(),
        };
        // Never block inside an async runtime (where `blocking_send` would panic).
        let sent = if tokio::runtime::Handle::try_current().is_ok() {
            self.tx.try_send(cmd).is_ok()
        } else {
            self.tx.blocking_send(cmd).is_ok()
        };
        if !sent {
            tracing::warn!(
                verb = self.action.verb().as_str(),
                "mqtt: command reply dropped (the link has stopped)"
            );
        }
    }
}

impl Drop for CommandRequest {
    fn drop(&mut self) {
        if !self.replied {
            self.send(&Reply::error(
                Some(self.action.verb().as_str()),
                ReplyError::new(ErrorCode::Unavailable, "the request was not executed"),
            ));
        }
    }
}

fn log_outcome(verb: &str, reply: &Reply, has_response_topic: bool) {
    match &reply.error {
        None => tracing::info!(verb, replied = has_response_topic, "mqtt: command executed"),
        Some(e) => tracing::warn!(
            verb,
            code = ?e.code,
            path = e.path.as_deref().unwrap_or(""),
            replied = has_response_topic,
            "mqtt: command refused: {}",
            e.message
        ),
    }
}

/// The application's end: checked requests that change the device.
pub struct CommandQueue {
    rx: std::sync::mpsc::Receiver<CommandRequest>,
}

impl CommandQueue {
    /// The next request, waiting at most `timeout`; `None` on timeout or when the link is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<CommandRequest> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next request if one is waiting.
    pub fn try_recv(&self) -> Option<CommandRequest> {
        self.rx.try_recv().ok()
    }
}

/// The command state of the link's thread.
pub(super) struct CmdShell {
    setup: CommandSetup,
    queue: std::sync::mpsc::SyncSender<CommandRequest>,
    tx: mpsc::Sender<Command>,
    /// Replies queued in the state machine (`Out::Reply(id)`), by id.
    replies: HashMap<u64, (ReplyTo, Vec<u8>)>,
    next_id: u64,
}

impl CmdShell {
    pub(super) fn new(setup: CommandSetup, tx: mpsc::Sender<Command>) -> (Self, CommandQueue) {
        let (queue, rx) = std::sync::mpsc::sync_channel(QUEUE_DEPTH);
        (
            Self {
                setup,
                queue,
                tx,
                replies: HashMap::new(),
                next_id: 0,
            },
            CommandQueue { rx },
        )
    }

    pub(super) fn config(&self) -> &EffectiveConfig {
        &self.setup.config
    }

    /// A new configuration (and authorisation) is in effect.
    pub(super) fn set_config(&mut self, config: EffectiveConfig, auth: Option<Authorizer>) {
        self.setup.config = config;
        if let Some(a) = auth {
            self.setup.authorizer = a;
        }
    }

    /// Subscribes to the command topics (after every CONNACK: the session starts clean).
    pub(super) fn subscribe(&self, client: &AsyncClient, cfg: &LinkConfig) {
        let filter = cfg.topics.cmd_filter();
        if let Err(e) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
            tracing::warn!(error = %e, %filter, "mqtt: cannot subscribe to commands");
        }
    }

    /// The connection dropped: the state machine forgot its queued replies.
    pub(super) fn disconnected(&mut self) {
        self.replies.clear();
    }

    /// Queues a reply for publishing.
    pub(super) fn queue_reply(&mut self, state: &mut LinkState, to: ReplyTo, payload: Vec<u8>) {
        let id = self.next_id;
        self.next_id += 1;
        if state.reply(id) {
            self.replies.insert(id, (to, payload));
        } else {
            tracing::warn!(topic = %to.topic, "mqtt: not connected; command reply dropped");
        }
    }

    /// Hands reply `id` to the client; `None` when it is gone (skip it).
    pub(super) fn publish_reply(
        &mut self,
        client: &AsyncClient,
        id: u64,
    ) -> Option<Result<(), ClientError>> {
        let (to, payload) = self.replies.get(&id)?.clone();
        let props = PublishProperties {
            correlation_data: to.correlation.clone().map(Into::into),
            payload_format_indicator: Some(1),
            content_type: Some("application/json".into()),
            ..PublishProperties::default()
        };
        let sent =
            client.try_publish_with_properties(to.topic, QoS::AtLeastOnce, false, payload, props);
        if sent.is_ok() {
            self.replies.remove(&id);
        }
        Some(sent)
    }

    /// An incoming PUBLISH: a command when its topic is under `<base>/cmd/`.
    pub(super) fn on_publish(&mut self, state: &mut LinkState, cfg: &LinkConfig, p: Publish) {
        let Ok(topic) = std::str::from_utf8(&p.topic) else {
            return;
        };
        let prefix = format!("{}/cmd/", cfg.topics.base());
        let Some(verb) = topic.strip_prefix(&prefix) else {
            tracing::debug!(topic, "mqtt: ignored a message outside the command topics");
            return;
        };
        let props = p.properties.as_ref();
        let reply_to = match props.and_then(|pr| pr.response_topic.as_deref()) {
            None => None,
            Some(t) if command::is_publishable_topic(t) && !t.starts_with(&prefix) => {
                Some(ReplyTo {
                    topic: t.to_string(),
                    correlation: props
                        .and_then(|pr| pr.correlation_data.as_ref().map(|b| b.to_vec())),
                })
            }
            Some(t) => {
                tracing::warn!(
                    verb,
                    response_topic = t,
                    "mqtt: unusable response topic (wildcards, or under cmd/); no reply"
                );
                None
            }
        };
        if reply_to.is_none() {
            tracing::info!(
                verb,
                "mqtt: command without a response topic: executed, no reply"
            );
        }
        let token = props.and_then(|pr| {
            pr.user_properties
                .iter()
                .find(|(k, _)| k == TOKEN_PROPERTY)
                .map(|(_, v)| v.as_str())
        });
        let checked = command::check_request(&self.setup.authorizer, verb, &p.payload, token);
        let reply = match checked {
            Err(e) => Reply::error(Some(verb), e),
            Ok(Action::Ping) => {
                let mut r = Reply::ok(command::Verb::Ping);
                r.version = Some(cfg.version.clone());
                r.uptime_s = Some(self.setup.started.elapsed().as_secs());
                r.config_hash = Some(self.setup.config.hash.clone());
                r
            }
            Ok(Action::ConfigGet) => {
                let mut r = Reply::ok(command::Verb::ConfigGet);
                r.config_hash = Some(self.setup.config.hash.clone());
                r.config = Some(self.setup.config.json.clone());
                r
            }
            Ok(action) => {
                let request = CommandRequest {
                    action,
                    reply_to: reply_to.clone(),
                    tx: self.tx.clone(),
                    replied: false,
                };
                let busy = match self.queue.try_send(request) {
                    Ok(()) => return,
                    Err(std::sync::mpsc::TrySendError::Full(mut r)) => {
                        r.replied = true;
                        "the device is busy with earlier commands; try again"
                    }
                    Err(std::sync::mpsc::TrySendError::Disconnected(mut r)) => {
                        r.replied = true;
                        "this process does not accept changes"
                    }
                };
                Reply::error(Some(verb), ReplyError::new(ErrorCode::Unavailable, busy))
            }
        };
        log_outcome(verb, &reply, reply_to.is_some());
        if let Some(to) = reply_to {
            self.queue_reply(state, to, reply.to_json());
        }
    }
}
