//! The embedded MQTT broker of `mqtt.broker = "embedded"`: `rumqttd` inside the process, with
//! one MQTT 5 listener on `127.0.0.1:<port>` only (never another interface), no TLS and no
//! authentication, for demos and single-box set-ups where nothing else runs a broker.
//!
//! `rumqttd` keeps retained messages, delivers QoS 1 with PUBACK, keeps MQTT 5 properties
//! (message expiry) and publishes a client's Last Will, which is all the link needs; the tests
//! in `tests/embedded_broker.rs` check each against the real link. It has no persistence:
//! retained messages live as long as the process. Its logs go to `tracing` (targets
//! `rumqttd::*`); nothing is printed. It cannot be stopped: it lives until the process exits.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Why the embedded broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("embedded MQTT broker: cannot listen on {addr}: {source} (is another broker, e.g. mosquitto, running there? stop it, set mqtt.embedded_port, or point mqtt.broker at it)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("embedded MQTT broker: cannot start its thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("embedded MQTT broker: not listening on {addr} after {waited:?}")]
    NotListening { addr: SocketAddr, waited: Duration },
}

/// A running embedded broker (it runs until the process exits).
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

/// Largest MQTT packet the embedded broker takes (a metric record is a few KiB).
const MAX_PACKET_BYTES: usize = 1 << 20;

impl EmbeddedBroker {
    /// Starts the broker on `127.0.0.1:port` and returns once it accepts connections. Fails
    /// when the port is taken.
    pub fn start(port: u16) -> Result<Self, EmbeddedError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        // rumqttd only logs a failed bind from its listener thread: find out here first.
        drop(TcpListener::bind(addr).map_err(|source| EmbeddedError::Bind { addr, source })?);
        let config = broker_config(addr);
        std::thread::Builder::new()
            .name("aisle-broker".into())
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(config);
                if let Err(e) = broker.start() {
                    tracing::error!(error = %e, "embedded MQTT broker stopped");
                }
            })
            .map_err(EmbeddedError::Thread)?;
        let waited = Duration::from_secs(5);
        let deadline = Instant::now() + waited;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() >= deadline {
                return Err(EmbeddedError::NotListening { addr, waited });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::info!(%addr, "embedded MQTT broker listening (MQTT 5, loopback only)");
        Ok(Self { addr })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Before the process exits: waits [`CLOSE_GRACE`] so that connected subscribers receive
    /// the last messages (the `stopped` status); the broker itself ends with the process.
    pub fn close(self) {
        std::thread::sleep(CLOSE_GRACE);
    }
}

/// How long [`EmbeddedBroker::close`] lets the broker forward its last messages.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

fn broker_config(addr: SocketAddr) -> rumqttd::Config {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_PACKET_BYTES,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "aisle-v5".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 << 20,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: rumqttd::Strategy::default(),
        },
        v5: Some([("1".to_string(), server)].into_iter().collect()),
        ..rumqttd::Config::default()
    }
}
