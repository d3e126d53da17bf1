//! The appliance's MQTT link to the fleet: the topic tree, payloads, the on-disk spool, commands,
//! birth/Last Will and health (see `shared/design/ARCHITECTURE.md`, "MQTT (v5) topic tree").
//!
//! This first part is the **spool** ([`spool`]): every metric record is written to disk, durably,
//! before it is published, and removed only when the broker acknowledges it (QoS 1 PUBACK). After
//! a broker outage, a crash or a power cut the pending records are replayed in their original
//! order, marked `historical: true` ([`mark_historical`]) and carrying their stable record id, so
//! subscribers can de-duplicate. The spool is bounded: when full, the oldest records are evicted
//! first, and every eviction is counted and reported.
//!
//! Commands (`cmd/<verb>`, MQTT 5 request/response) and the retained `config` message are
//! [`command`] (the pure part: checks, replies, redaction, config hash) and
//! [`Link::spawn_with_commands`].
//!
//! The topic tree is [`topics`]; the MQTT 5 client is [`link`]: a pure state machine
//! ([`link::state::LinkState`]: birth, replay, packet id to spool entry, PUBACK to spool ack,
//! clean shutdown) driven by a thin tokio + `rumqttc` shell ([`Link::spawn`]). TLS, mutual TLS
//! and credentials are [`security`]; [`watch`] is the model and rendering of `aisle watch`'s
//! table; `embedded` (feature `embedded-broker`) is the broker of `mqtt.broker = "embedded"`.
//!
//! **No video leaves the device.** This crate sees only aggregates (`aisle_types::metrics`) and
//! must never depend, directly or transitively, on `aisle-video`, `aisle-gpu`, `aisle-infer` or
//! `aisle-vision`; `tests/no_video_deps.rs` checks it from `cargo metadata`.
//!
//! Libraries never print: diagnostics go through `tracing`.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod command;
#[cfg(feature = "embedded-broker")]
pub mod embedded;
pub mod historical;
pub mod link;
pub mod payload;
pub mod security;
pub mod spool;
pub mod topics;
pub mod watch;

pub use historical::{mark_historical, HistoricalError};
pub use link::{
    CommandQueue, CommandRequest, CommandSetup, Link, LinkConfig, LinkError, LinkHandle,
    LinkStatus, LIVE_EXPIRY_S, LIVE_REFRESH_S,
};
pub use security::{Credentials, FileSetting, MqttSecurity, SecurityError, SecurityFiles};
pub use spool::{Entry, Recovery, Seq, Spool, SpoolError, SpoolOptions, SpoolStats};
