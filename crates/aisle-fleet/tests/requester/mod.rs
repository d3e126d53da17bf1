//! An MQTT 5 requester for the command tests: publishes on `<base>/cmd/<verb>` with a response
//! topic, correlation data and optionally the `token` user property, and collects the replies.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aisle_fleet::command::Reply;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event, MqttOptions};

/// How long a reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Requester {
    client: Client,
    pub replies: mpsc::Receiver<Publish>,
    pub reply_topic: String,
    base: String,
    next: u32,
}

fn unique_id() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Requester {
    /// Connects to the broker on `port` and subscribes to its own reply topic; `base` is the
    /// device's `aisle/v1/<site>/<device>`.
    pub fn connect(port: u16, base: &str) -> Self {
        let id = format!("requester-{}", unique_id());
        let reply_topic = format!("replies/{id}");
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_max_packet_size(Some(4 << 20));
        let (client, mut conn) = Client::new(opts, 16);
        client
            .subscribe(reply_topic.clone(), QoS::AtLeastOnce)
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let (subacked_tx, subacked_rx) = mpsc::channel();
        std::thread::spawn(move || loop {
            match conn.recv() {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    let _ = subacked_tx.send(());
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return,
            }
        });
        subacked_rx.recv_timeout(REPLY_TIMEOUT).expect("SUBACK");
        Self {
            client,
            replies: rx,
            reply_topic,
            base: base.to_string(),
            next: 0,
        }
    }

    /// Publishes a request on `cmd/<verb>` (with a response topic when `reply`); returns its
    /// correlation data.
    pub fn send(
        &mut self,
        verb: &str,
        payload: &[u8],
        token: Option<&str>,
        reply: bool,
    ) -> Vec<u8> {
        self.next += 1;
        let correlation = format!("corr-{}", self.next).into_bytes();
        let props = PublishProperties {
            response_topic: reply.then(|| self.reply_topic.clone()),
            correlation_data: Some(correlation.clone().into()),
            user_properties: token
                .map(|t| vec![("token".to_string(), t.to_string())])
                .unwrap_or_default(),
            ..PublishProperties::default()
        };
        self.client
            .publish_with_properties(
                format!("{}/cmd/{verb}", self.base),
                QoS::AtLeastOnce,
                false,
                payload.to_vec(),
                props,
            )
            .unwrap();
        correlation
    }

    /// Sends a request and waits for its reply, checking that it comes on the response topic,
    /// QoS 1, not retained, with the correlation data echoed.
    pub fn request(&mut self, verb: &str, payload: &[u8], token: Option<&str>) -> Reply {
        let correlation = self.send(verb, payload, token, true);
        let p = self
            .replies
            .recv_timeout(REPLY_TIMEOUT)
            .unwrap_or_else(|_| panic!("no reply to {verb}"));
        check_reply(&p, &self.reply_topic, &correlation)
    }

    /// Sends `verb` until a reply comes (the device subscribes right after it connects).
    pub fn request_until_answered(
        &mut self,
        verb: &str,
        payload: &[u8],
        token: Option<&str>,
    ) -> Reply {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let correlation = self.send(verb, payload, token, true);
            if let Ok(p) = self.replies.recv_timeout(Duration::from_millis(500)) {
                return check_reply(&p, &self.reply_topic, &correlation);
            }
            assert!(Instant::now() < deadline, "no reply to {verb}");
        }
    }

    /// Asserts that no reply arrives within `d`.
    pub fn no_reply_within(&self, d: Duration) {
        if let Ok(p) = self.replies.recv_timeout(d) {
            panic!("unexpected reply {}", String::from_utf8_lossy(&p.payload));
        }
    }
}

/// Checks the delivery of a reply and parses it.
pub fn check_reply(p: &Publish, reply_topic: &str, correlation: &[u8]) -> Reply {
    assert_eq!(std::str::from_utf8(&p.topic).unwrap(), reply_topic);
    assert_eq!(p.qos, QoS::AtLeastOnce, "replies are QoS 1");
    assert!(!p.retain, "replies are not retained");
    let echoed = p
        .properties
        .as_ref()
        .and_then(|pr| pr.correlation_data.as_ref())
        .map(|b| b.to_vec());
    assert_eq!(
        echoed.as_deref(),
        Some(correlation),
        "correlation data echoed"
    );
    super::schemas::validate_reply(&p.payload);
    serde_json::from_slice(&p.payload).expect("a JSON reply")
}
