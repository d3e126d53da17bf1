//! The link's logic as an I/O-free state machine (the style of rumqtt's `MqttState`): the shell
//! feeds it events (connected, a record appended to the spool, a publish handed to the network
//! with its packet id, a PUBACK, disconnected, shutdown) and carries out what it asks for (the
//! next message to publish, a spool entry to acknowledge). Tests drive it directly.
//!
//! Rules:
//! - On every (re)connection: the retained birth first, then the retained `config` (when the link
//!   publishes one), then every pending spool entry in append order, all marked historical (they
//!   were all written before this connection), then whatever is appended later, live.
//! - A changed configuration is announced while connected: birth (it carries the config hash)
//!   and `config` again. Command replies are published in the order they are queued; one queued
//!   while disconnected, or not yet handed to the client when the connection drops, is dropped
//!   (the requester times out and may ask again).
//! - While disconnected, appended entries are only spooled; the next connection replays them.
//! - Each QoS 1 publish is matched to its packet id when the client sends it (the client sends
//!   in submission order), and its PUBACK to the spool entry; a successful PUBACK acknowledges
//!   the entry, a failed one (reason code >= 0x80) leaves it pending for the next connection.
//! - A connection that drops forgets everything in flight: those entries are still pending in
//!   the spool and the next connection replays them (at least once; the record id lets
//!   subscribers de-duplicate).
//! - Shutdown while connected: replay still queued is abandoned (it stays spooled), the retained
//!   `stopped` is published, and once it is acknowledged the link disconnects cleanly (which
//!   tells the broker to drop the Last Will). Shutdown while disconnected ends at once.

use std::collections::{HashMap, VecDeque};

use crate::spool::Seq;

/// The next thing the shell has to hand to the MQTT client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// The retained `online` birth on `status`.
    Birth,
    /// Spool entry `seq`, marked `historical` when replayed.
    Record { seq: Seq, historical: bool },
    /// The retained `stopped` on `status`.
    Stopped,
    /// A clean MQTT DISCONNECT.
    Disconnect,
    /// The retained effective configuration on `config`.
    Config,
    /// Command reply `id` (the shell holds its topic and payload).
    Reply(u64),
}

/// What a QoS 1 publish in flight was, to tell what its PUBACK acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Birth,
    Record(Seq),
    Stopped,
    Config,
    Reply,
}

/// What a PUBACK means for the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// Acknowledge this spool entry (it is delivered).
    Spool(Seq),
    /// The broker refused this entry (reason code >= 0x80); it stays spooled.
    Refused(Seq),
    /// The birth was acknowledged (or refused: `ok`).
    Birth { ok: bool },
    /// `stopped` was acknowledged; a DISCONNECT is now queued.
    Stopped,
    /// The `config` message was acknowledged (or refused: `ok`).
    Config { ok: bool },
    /// A command reply was acknowledged (or refused: `ok`).
    Reply { ok: bool },
}

/// Counters of the link (for the health topic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Connections accepted by the broker (CONNACK success).
    pub connections: u64,
    /// Records handed to the client (replays included).
    pub records_sent: u64,
    /// Of them, replayed ones (`historical`).
    pub records_replayed: u64,
    /// Records acknowledged by the broker.
    pub records_acked: u64,
    /// Records the broker refused with a PUBACK reason code >= 0x80.
    pub records_refused: u64,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct LinkState {
    connected: bool,
    stopping: bool,
    done: bool,
    /// The link publishes a retained `config` message.
    has_config: bool,
    outbox: VecDeque<Out>,
    /// Publishes handed to the client whose packet id is not known yet, in submission order.
    awaiting_pkid: VecDeque<Tag>,
    inflight: HashMap<u16, Tag>,
    counters: LinkCounters,
}

impl LinkState {
    pub fn new() -> Self {
        Self::default()
    }

    /// The broker accepted a connection; `pending` are the spool's pending entries in append
    /// order.
    pub fn connected(&mut self, pending: impl IntoIterator<Item = Seq>) {
        self.reset_connection();
        self.connected = true;
        self.counters.connections += 1;
        self.outbox.push_back(Out::Birth);
        if self.has_config && !self.stopping {
            self.outbox.push_back(Out::Config);
        }
        if self.stopping {
            self.outbox.push_back(Out::Stopped);
            return;
        }
        self.outbox
            .extend(pending.into_iter().map(|seq| Out::Record {
                seq,
                historical: true,
            }));
    }

    /// Whether each connection publishes the retained `config` after the birth.
    pub fn set_has_config(&mut self, has_config: bool) {
        self.has_config = has_config;
    }

    /// The configuration changed: birth (with the new hash) and `config` again, when connected.
    pub fn config_changed(&mut self) {
        if self.connected && !self.stopping {
            self.outbox.push_back(Out::Birth);
            if self.has_config {
                self.outbox.push_back(Out::Config);
            }
        }
    }

    /// Queues command reply `id`; `false` (dropped) when not connected.
    pub fn reply(&mut self, id: u64) -> bool {
        if self.connected {
            self.outbox.push_back(Out::Reply(id));
        }
        self.connected
    }

    /// The connection is gone (or never came up).
    pub fn disconnected(&mut self) {
        self.reset_connection();
        if self.stopping {
            self.done = true;
        }
    }

    fn reset_connection(&mut self) {
        self.connected = false;
        self.outbox.clear();
        self.awaiting_pkid.clear();
        self.inflight.clear();
    }

    /// Entry `seq` was durably appended to the spool: published at once when connected.
    pub fn appended(&mut self, seq: Seq) {
        if self.connected && !self.stopping {
            self.outbox.push_back(Out::Record {
                seq,
                historical: false,
            });
        }
    }

    /// What to hand to the client next, if anything.
    pub fn next_out(&self) -> Option<Out> {
        self.outbox.front().copied()
    }

    /// The shell handed [`LinkState::next_out`] to the client.
    pub fn submitted(&mut self) {
        let Some(out) = self.outbox.pop_front() else {
            return;
        };
        let tag = match out {
            Out::Birth => Tag::Birth,
            Out::Record { seq, historical } => {
                self.counters.records_sent += 1;
                self.counters.records_replayed += u64::from(historical);
                Tag::Record(seq)
            }
            Out::Stopped => Tag::Stopped,
            Out::Config => Tag::Config,
            Out::Reply(_) => Tag::Reply,
            Out::Disconnect => return,
        };
        self.awaiting_pkid.push_back(tag);
    }

    /// The entry of [`LinkState::next_out`] is no longer in the spool (evicted), or the reply is
    /// gone: skip it.
    pub fn skipped(&mut self) {
        self.outbox.pop_front();
    }

    /// The client sent a QoS 1 publish with packet id `pkid`: the oldest submitted one. Returns
    /// what it was, `None` when nothing was waiting (a publish this machine did not submit).
    pub fn sent(&mut self, pkid: u16) -> Option<Tag> {
        let tag = self.awaiting_pkid.pop_front()?;
        self.inflight.insert(pkid, tag);
        Some(tag)
    }

    /// A PUBACK for `pkid`; `ok` is a reason code below 0x80. `None` for an unknown packet id.
    pub fn puback(&mut self, pkid: u16, ok: bool) -> Option<Acked> {
        let tag = self.inflight.remove(&pkid)?;
        Some(match tag {
            Tag::Birth => Acked::Birth { ok },
            Tag::Record(seq) if ok => {
                self.counters.records_acked += 1;
                Acked::Spool(seq)
            }
            Tag::Record(seq) => {
                self.counters.records_refused += 1;
                Acked::Refused(seq)
            }
            Tag::Stopped => {
                self.outbox.push_back(Out::Disconnect);
                Acked::Stopped
            }
            Tag::Config => Acked::Config { ok },
            Tag::Reply => Acked::Reply { ok },
        })
    }

    /// Shutdown was asked for. Returns `true` when the link can end at once (not connected).
    pub fn shutdown(&mut self) -> bool {
        if self.stopping {
            return self.done;
        }
        self.stopping = true;
        if !self.connected {
            self.done = true;
            return true;
        }
        self.outbox.retain(|o| !matches!(o, Out::Record { .. }));
        self.outbox.push_back(Out::Stopped);
        false
    }

    /// The DISCONNECT went out: the link is finished.
    pub fn disconnect_sent(&mut self) {
        if self.stopping {
            self.done = true;
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Shutdown is complete.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Publishes sent and not acknowledged yet on this connection.
    pub fn in_flight(&self) -> usize {
        self.inflight.len() + self.awaiting_pkid.len()
    }

    pub fn counters(&self) -> LinkCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Submits everything queued, sending it with packet ids from `next_pkid` on; returns what
    /// went out.
    fn flush(s: &mut LinkState, next_pkid: &mut u16) -> Vec<(u16, Out)> {
        let mut out = Vec::new();
        while let Some(o) = s.next_out() {
            s.submitted();
            if o != Out::Disconnect {
                assert!(s.sent(*next_pkid).is_some());
                out.push((*next_pkid, o));
                *next_pkid += 1;
            } else {
                out.push((0, o));
            }
        }
        out
    }

    fn rec(seq: u64, historical: bool) -> Out {
        Out::Record {
            seq: Seq(seq),
            historical,
        }
    }

    #[test]
    fn connect_publishes_birth_then_replays_pending_in_order_as_historical() {
        let mut s = LinkState::new();
        s.appended(Seq(7)); // while disconnected: only spooled
        assert_eq!(s.next_out(), None);
        s.connected([Seq(5), Seq(6), Seq(7)]);
        s.appended(Seq(8));
        let mut pkid = 1;
        let sent: Vec<Out> = flush(&mut s, &mut pkid)
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        assert_eq!(
            sent,
            [
                Out::Birth,
                rec(5, true),
                rec(6, true),
                rec(7, true),
                rec(8, false)
            ]
        );
        assert_eq!(s.counters().records_sent, 4);
        assert_eq!(s.counters().records_replayed, 3);
    }

    #[test]
    fn pubacks_map_to_spool_entries_in_any_order() {
        let mut s = LinkState::new();
        s.connected([]);
        s.appended(Seq(1));
        s.appended(Seq(2));
        let mut pkid = 10;
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(sent[0], (10, Out::Birth));
        assert_eq!(s.puback(12, true), Some(Acked::Spool(Seq(2))));
        assert_eq!(s.puback(11, false), Some(Acked::Refused(Seq(1))));
        assert_eq!(s.puback(10, true), Some(Acked::Birth { ok: true }));
        assert_eq!(s.puback(10, true), None, "acknowledged twice");
        assert_eq!(s.puback(99, true), None, "unknown packet id");
        assert_eq!(s.in_flight(), 0);
        let c = s.counters();
        assert_eq!((c.records_acked, c.records_refused), (1, 1));
    }

    #[test]
    fn a_publish_submitted_but_not_yet_sent_gets_the_next_packet_id() {
        let mut s = LinkState::new();
        s.connected([Seq(3)]);
        s.submitted(); // birth
        s.submitted(); // 3
        assert_eq!(s.sent(1), Some(Tag::Birth));
        s.appended(Seq(4));
        s.submitted();
        assert_eq!(s.sent(2), Some(Tag::Record(Seq(3))));
        assert_eq!(s.sent(3), Some(Tag::Record(Seq(4))));
        assert_eq!(s.sent(4), None, "nothing else was submitted");
        assert_eq!(s.puback(3, true), Some(Acked::Spool(Seq(4))));
    }

    #[test]
    fn a_dropped_connection_forgets_what_was_in_flight_and_the_next_replays_it() {
        let mut s = LinkState::new();
        s.connected([]);
        s.appended(Seq(1));
        s.appended(Seq(2));
        let mut pkid = 1;
        flush(&mut s, &mut pkid);
        assert_eq!(s.puback(2, true), Some(Acked::Spool(Seq(1))));
        s.disconnected();
        assert!(!s.is_connected());
        assert_eq!(s.puback(3, true), None, "a PUBACK of the old connection");
        s.appended(Seq(3));
        assert_eq!(s.next_out(), None);
        // Packet ids start over on the new connection.
        s.connected([Seq(2), Seq(3)]);
        let mut pkid = 1;
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(
            sent,
            [(1, Out::Birth), (2, rec(2, true)), (3, rec(3, true))]
        );
        assert_eq!(s.puback(2, true), Some(Acked::Spool(Seq(2))));
        assert_eq!(s.counters().connections, 2);
    }

    #[test]
    fn evicted_entries_are_skipped() {
        let mut s = LinkState::new();
        s.connected([Seq(1), Seq(2)]);
        s.submitted();
        assert_eq!(s.next_out(), Some(rec(1, true)));
        s.skipped();
        assert_eq!(s.next_out(), Some(rec(2, true)));
        s.submitted();
        assert_eq!(s.sent(1), Some(Tag::Birth));
        assert_eq!(s.sent(2), Some(Tag::Record(Seq(2))));
    }

    #[test]
    fn shutdown_while_connected_publishes_stopped_then_disconnects() {
        let mut s = LinkState::new();
        s.connected([Seq(1), Seq(2), Seq(3)]);
        s.submitted(); // birth
        s.submitted(); // 1
        assert_eq!(s.sent(1), Some(Tag::Birth));
        assert!(!s.shutdown());
        assert!(s.is_stopping());
        s.appended(Seq(4)); // not published any more: stays spooled
        assert_eq!(s.sent(2), Some(Tag::Record(Seq(1))));
        let mut pkid = 3;
        let sent = flush(&mut s, &mut pkid);
        // The unsent replays (2, 3) are abandoned; the submitted ones keep their place.
        assert_eq!(sent, [(3, Out::Stopped)]);
        assert_eq!(s.puback(2, true), Some(Acked::Spool(Seq(1))));
        assert_eq!(
            s.next_out(),
            None,
            "no DISCONNECT before `stopped` is acknowledged"
        );
        assert_eq!(s.puback(3, true), Some(Acked::Stopped));
        assert_eq!(s.next_out(), Some(Out::Disconnect));
        s.submitted();
        assert!(!s.is_done());
        s.disconnect_sent();
        assert!(s.is_done());
    }

    #[test]
    fn shutdown_while_disconnected_ends_at_once_and_a_drop_while_stopping_ends_too() {
        let mut s = LinkState::new();
        assert!(s.shutdown());
        assert!(s.is_done());

        let mut s = LinkState::new();
        s.connected([]);
        assert!(!s.shutdown());
        s.disconnected();
        assert!(s.is_done());
    }

    #[test]
    fn config_follows_the_birth_on_every_connection_and_after_a_change() {
        let mut s = LinkState::new();
        s.set_has_config(true);
        s.config_changed(); // not connected: nothing
        assert_eq!(s.next_out(), None);
        s.connected([Seq(1)]);
        let mut pkid = 1;
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(sent, [(1, Out::Birth), (2, Out::Config), (3, rec(1, true))]);
        assert_eq!(s.puback(2, true), Some(Acked::Config { ok: true }));
        s.config_changed();
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(sent, [(4, Out::Birth), (5, Out::Config)]);
        s.disconnected();
        s.connected([]);
        let mut pkid = 1;
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(sent, [(1, Out::Birth), (2, Out::Config)]);
    }

    #[test]
    fn replies_go_out_in_order_survive_shutdown_and_are_dropped_when_disconnected() {
        let mut s = LinkState::new();
        assert!(!s.reply(1), "not connected: dropped");
        s.connected([]);
        assert!(s.reply(2));
        s.appended(Seq(1));
        assert!(s.reply(3));
        let mut pkid = 1;
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(
            sent,
            [
                (1, Out::Birth),
                (2, Out::Reply(2)),
                (3, rec(1, false)),
                (4, Out::Reply(3))
            ]
        );
        assert_eq!(s.puback(4, true), Some(Acked::Reply { ok: true }));
        // A reply queued just before shutdown (the reply to `restart`) still goes out, before
        // `stopped`.
        assert!(s.reply(4));
        assert!(!s.shutdown());
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(sent, [(5, Out::Reply(4)), (6, Out::Stopped)]);
        // A change while stopping is not announced any more.
        s.set_has_config(true);
        s.config_changed();
        assert_eq!(s.next_out(), None);
    }

    #[test]
    fn shutdown_before_the_first_connack_of_a_reconnection_still_says_stopped() {
        // Shutdown while connected, connection drops before `stopped` is acked, but the shell
        // is not done until it sees the drop; a reconnection in between republishes both.
        let mut s = LinkState::new();
        s.connected([Seq(1)]);
        assert!(!s.shutdown());
        s.reset_connection();
        s.connected([Seq(1)]);
        let mut pkid = 1;
        let sent = flush(&mut s, &mut pkid);
        assert_eq!(sent, [(1, Out::Birth), (2, Out::Stopped)]);
    }
}
