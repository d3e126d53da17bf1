//! `aisle watch`: subscribe to the topic tree (`aisle/v1/<site|+>/<device|+>/#`) and show the
//! latest zone figures and device states as a table (the model and rendering are
//! `aisle_fleet::watch`). On a terminal the table is redrawn in place (ANSI: cursor home, clear);
//! otherwise one plain table is printed per update (at most one a second). Reconnects until
//! stopped; `--once` and `--for` end it, for scripts and tests.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aisle_config::BrokerAddr;
use aisle_fleet::link::client_options;
use aisle_fleet::topics::{check_level, ROOT};
use aisle_fleet::watch::WatchState;
use aisle_fleet::{FileSetting, MqttSecurity, SecurityFiles};
use anyhow::{bail, Context, Result};
use clap::Args;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event};

/// The broker when neither `--broker` nor a config's `[mqtt]` names one: the embedded broker's
/// default address.
pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Broker, `mqtt://host[:port]` or `mqtts://host[:port]`. Default: the `[mqtt]` broker of
    /// --config (with its TLS files and credentials), else mqtt://127.0.0.1:1883 (the embedded
    /// broker of `aisle run`).
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
    /// Only this site (default: every site).
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
    /// Only this device (default: every device).
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,
    /// PEM file of the CA that signs the broker's certificate (mqtts://; default: the system's
    /// trust store).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --key-file).
    #[arg(long, value_name = "FILE", requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// PEM private key of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// File with the MQTT user name and password (`user:password`, or `username=` and
    /// `password=` lines).
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// Print one table once the retained messages have arrived, then exit.
    #[arg(long, conflicts_with = "for_secs")]
    once: bool,
    /// Watch for this many seconds, print the last table and exit.
    #[arg(long = "for", value_name = "SECS")]
    for_secs: Option<f64>,
}

/// How long `--once` waits for a connection and the retained messages at most.
const ONCE_LIMIT: Duration = Duration::from_secs(15);
/// `--once`: the retained messages are in when nothing arrived for this long after the SUBACK.
const QUIET: Duration = Duration::from_millis(500);

/// The broker and the files to use: flags first, then the config's `[mqtt]`.
fn connection(config_path: Option<&Path>, args: &WatchArgs) -> Result<(String, SecurityFiles)> {
    let config = match config_path {
        Some(p) => Some(crate::pipeline::load_config(Some(p))?),
        None => None,
    };
    let from_config = config
        .as_ref()
        .and_then(|c| c.mqtt.as_ref().map(|m| (c, m)));
    let (url, mut files) = match (&args.broker, from_config) {
        (Some(url), _) => (url.clone(), SecurityFiles::default()),
        (None, Some((c, m))) => {
            let addr = m.broker_addr().map_err(anyhow::Error::msg)?;
            let url = format!(
                "{}://{}:{}",
                if addr.tls { "mqtts" } else { "mqtt" },
                if addr.host.contains(':') {
                    format!("[{}]", addr.host)
                } else {
                    addr.host.clone()
                },
                addr.port
            );
            (url, aisle_fleet::security::files_of_config(c)?)
        }
        (None, None) => (DEFAULT_BROKER.to_string(), SecurityFiles::default()),
    };
    let addr = BrokerAddr::parse(&url).map_err(|e| anyhow::anyhow!("--broker {url:?}: {e}"))?;
    files.tls = addr.tls;
    let flag = |key: &str, p: &Option<PathBuf>| p.as_ref().map(|p| FileSetting::new(key, p));
    if let Some(f) = flag("--ca-file", &args.ca_file) {
        files.ca_file = Some(f);
    }
    if let (Some(c), Some(k)) = (
        flag("--cert-file", &args.cert_file),
        flag("--key-file", &args.key_file),
    ) {
        files.client_cert_file = Some(c);
        files.client_key_file = Some(k);
    }
    if let Some(f) = flag("--credentials-file", &args.credentials_file) {
        files.credentials_file = Some(f);
    }
    Ok((url, files))
}

pub fn run(config_path: Option<&Path>, args: &WatchArgs) -> Result<ExitCode> {
    for (what, v) in [("site", &args.site), ("device", &args.device)] {
        if let Some(v) = v {
            check_level(what, v).with_context(|| format!("--{what} {v:?}"))?;
        }
    }
    if let Some(s) = args.for_secs {
        if !(s.is_finite() && s > 0.0) {
            bail!("--for {s} must be a positive number of seconds");
        }
    }
    let (url, files) = connection(config_path, args)?;
    let addr = BrokerAddr::parse(&url).map_err(anyhow::Error::msg)?;
    let security = MqttSecurity::load(&files)?;
    let filter = format!(
        "{ROOT}/{}/{}/#",
        args.site.as_deref().unwrap_or("+"),
        args.device.as_deref().unwrap_or("+")
    );
    let mut opts = client_options(
        &format!("aisle-watch-{}", std::process::id()),
        &addr.host,
        addr.port,
        &security,
    );
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_clean_start(true);
    opts.set_max_packet_size(Some(1 << 20));
    let (client, mut conn) = Client::new(opts, 64);

    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let end = if args.once {
        Some(started + ONCE_LIMIT)
    } else {
        args.for_secs.map(|s| started + Duration::from_secs_f64(s))
    };
    let mut state = WatchState::new();
    let mut link = String::from("connecting");
    let mut ever_connected = false;
    let mut subacked: Option<Instant> = None;
    let mut last_message = started;
    let mut dirty = true;
    let mut last_print: Option<Instant> = None;
    let refresh = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let mut out = std::io::stdout().lock();
    loop {
        let now = Instant::now();
        if let Some(end) = end {
            if now >= end {
                break;
            }
        }
        if args.once {
            if let Some(at) = subacked {
                if now.duration_since(at.max(last_message)) >= QUIET {
                    break;
                }
            }
        }
        match conn.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                ever_connected = true;
                link = "connected".into();
                dirty = true;
                // Clean start: subscribe on every connection.
                client
                    .try_subscribe(filter.clone(), QoS::AtLeastOnce)
                    .context("subscribing")?;
            }
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                subacked = Some(Instant::now());
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                let topic = String::from_utf8_lossy(&p.topic);
                state.apply(&topic, &p.payload);
                last_message = Instant::now();
                dirty = true;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let why = format!("not connected ({e}); retrying");
                if why != link {
                    tracing::debug!(error = %e, "watch: connection failed");
                    link = why;
                    dirty = true;
                }
                subacked = None;
                let pause = Duration::from_millis(500);
                std::thread::sleep(match end {
                    Some(end) => pause.min(end.saturating_duration_since(Instant::now())),
                    None => pause,
                });
            }
            Err(rumqttc::v5::RecvTimeoutError::Timeout) => {}
            Err(rumqttc::v5::RecvTimeoutError::Disconnected) => break,
        }
        let due = last_print.is_none_or(|t| t.elapsed() >= refresh);
        if dirty && due && !args.once && (tty || ever_connected) {
            print(&mut out, tty, &url, &filter, &link, &state)?;
            last_print = Some(Instant::now());
            dirty = false;
        }
    }
    if !ever_connected {
        bail!("cannot reach the MQTT broker {url}: {link}");
    }
    if args.once || dirty || last_print.is_none() {
        print(&mut out, tty && !args.once, &url, &filter, &link, &state)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print(
    out: &mut impl Write,
    in_place: bool,
    url: &str,
    filter: &str,
    link: &str,
    state: &WatchState,
) -> Result<()> {
    let mut text = String::new();
    if in_place {
        // Cursor home and clear the screen, then draw.
        text.push_str("\x1b[H\x1b[2J");
    }
    text.push_str(&format!("aisle watch: {url} {filter}: {link}\n"));
    text.push_str(&state.render());
    if !in_place {
        text.push('\n');
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
