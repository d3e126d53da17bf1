//! Commands and the retained `config` against a real `mosquitto` (one per test, on a free
//! loopback port): MQTT 5 request/response with correlation data, the checks that refuse a
//! request (malformed, unknown verb, oversize, unauthorised, forbidden), the hand-over of
//! changing verbs to the application, and re-subscription after a reconnection.

mod broker;
mod requester;
mod schemas;

use std::time::{Duration, Instant};

use aisle_config::{CommandMode, Config};
use aisle_fleet::command::{
    Action, Authorizer, EffectiveConfig, ErrorCode, Reply, MAX_COMMAND_BYTES,
};
use aisle_fleet::topics::Topics;
use aisle_fleet::{CommandQueue, CommandSetup, Link, LinkConfig, LinkHandle, Spool, SpoolOptions};
use broker::{json, topic, wait_until, Mosquitto, Subscriber, TIMEOUT};
use requester::Requester;
use rumqttc::v5::mqttbytes::QoS;

const BASE: &str = "aisle/v1/s1/dev1";
const TOKEN: &str = "test-token-0123456789";

fn link_config(port: u16) -> LinkConfig {
    LinkConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: format!("aisle-cmd-test-{port}"),
        keep_alive: Duration::from_secs(5),
        topics: Topics::new("s1", "dev1").unwrap(),
        metrics_expiry_s: 600,
        version: "9.9.9-test".into(),
        cameras: vec!["cam1".into()],
        models: Vec::new(),
        faces: None,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(5),
        security: Default::default(),
    }
}

fn site_config(window_s: u32) -> Config {
    Config::parse(
        &format!(
            "[[cameras]]\nid = \"cam1\"\nurl = \"/dev/null\"\n[analytics]\nwindow_s = {window_s}\n"
        ),
        "test",
    )
    .unwrap()
}

fn spawn(
    port: u16,
    dir: &std::path::Path,
    auth: Authorizer,
    config: &Config,
) -> (LinkHandle, CommandQueue) {
    let (spool, _) = Spool::open(dir, SpoolOptions::with_max_bytes(1 << 20)).unwrap();
    let setup = CommandSetup {
        authorizer: auth,
        config: EffectiveConfig::new(config),
        started: Instant::now(),
    };
    Link::spawn_with_commands(link_config(port), spool, setup).unwrap()
}

#[test]
fn a_late_subscriber_sees_the_retained_birth_with_the_config_hash_and_the_config() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(30);
    let (link, _queue) = spawn(
        broker.port,
        dir.path(),
        Authorizer::new(CommandMode::ReadOnly, None),
        &config,
    );
    wait_until("the link to connect", || link.status().connected);
    let effective = EffectiveConfig::new(&config);
    let mut sub = Subscriber::connect(broker.port, &format!("{BASE}/#"), None);
    let birth = sub.wait_for("birth", |p| topic(p) == format!("{BASE}/status"));
    assert!(birth.retain);
    assert_eq!(json(&birth)["state"], "online");
    assert_eq!(json(&birth)["config_hash"], effective.hash.as_str());
    let cfg = sub.wait_for("config", |p| topic(p) == format!("{BASE}/config"));
    assert!(cfg.retain, "config is retained");
    assert_eq!(cfg.qos, QoS::AtLeastOnce);
    assert_eq!(json(&cfg)["hash"], effective.hash.as_str());
    assert_eq!(json(&cfg)["config"], effective.json);
    assert_eq!(json(&cfg)["config"]["analytics"]["window_s"], 30);
    assert_eq!(
        aisle_fleet::command::config_hash(&json(&cfg)["config"]),
        effective.hash,
        "the hash can be checked from the message"
    );

    // A new configuration: `config` and the birth are published again with the new hash.
    let changed = site_config(60);
    let new = EffectiveConfig::new(&changed);
    link.set_config(new.clone(), None, vec!["cam1".into()])
        .unwrap();
    let cfg = sub.wait_for("the new config", |p| {
        topic(p) == format!("{BASE}/config") && json(p)["hash"] == new.hash.as_str()
    });
    assert_eq!(json(&cfg)["config"]["analytics"]["window_s"], 60);
    assert!(
        sub.seen
            .iter()
            .any(|p| topic(p) == format!("{BASE}/status")
                && json(p)["config_hash"] == new.hash.as_str()),
        "the birth with the new hash comes before the new config"
    );
    link.shutdown();
}

#[test]
fn ping_and_config_get_are_answered_with_the_correlation_data() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(30);
    let (link, queue) = spawn(
        broker.port,
        dir.path(),
        Authorizer::new(CommandMode::ReadOnly, None),
        &config,
    );
    wait_until("the link to connect", || link.status().connected);
    let mut req = Requester::connect(broker.port, BASE);
    let effective = EffectiveConfig::new(&config);
    // The subscription follows the CONNACK: retry the first ping until it is in place.
    let pong = req.request_until_answered("ping", b"", None);
    assert!(pong.ok, "{pong:?}");
    assert_eq!(pong.verb.as_deref(), Some("ping"));
    assert_eq!(pong.version.as_deref(), Some("9.9.9-test"));
    assert!(pong.uptime_s.is_some());
    assert_eq!(pong.config_hash.as_deref(), Some(effective.hash.as_str()));
    let got = req.request("config/get", b"{}", None);
    assert!(got.ok, "{got:?}");
    assert_eq!(got.config.as_ref(), Some(&effective.json));
    assert_eq!(got.config_hash.as_deref(), Some(effective.hash.as_str()));
    assert!(queue.try_recv().is_none(), "answered by the link itself");
    link.shutdown();
}

#[test]
fn refused_requests_get_error_replies_and_never_reach_the_application() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(30);
    let (link, queue) = spawn(
        broker.port,
        dir.path(),
        Authorizer::new(CommandMode::All, Some(TOKEN.into())),
        &config,
    );
    wait_until("the link to connect", || link.status().connected);
    let mut req = Requester::connect(broker.port, BASE);
    let first = req.request_until_answered("ping", b"", Some(TOKEN));
    assert!(first.ok, "{first:?}");

    let code = |r: &Reply| r.error.as_ref().map(|e| e.code);
    let r = req.request("config/set", b"{not json", Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::Malformed), "{r:?}");
    assert!(!r.ok);
    let r = req.request("config/set", br#"{"zones":[]}"#, Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::Malformed), "wrong shape: {r:?}");
    let r = req.request("reboot", b"{}", Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::UnknownVerb), "{r:?}");
    assert_eq!(r.verb.as_deref(), Some("reboot"));
    let big = format!(
        r#"{{"config":{{}},"pad":"{}"}}"#,
        "x".repeat(MAX_COMMAND_BYTES)
    );
    let r = req.request("config/set", big.as_bytes(), Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::TooLarge), "{r:?}");
    let r = req.request("restart", b"{}", None);
    assert_eq!(code(&r), Some(ErrorCode::Unauthorized), "{r:?}");
    let r = req.request("restart", b"{}", Some("wrong-token-0123456789"));
    assert_eq!(code(&r), Some(ErrorCode::Unauthorized), "{r:?}");
    let r = req.request("config/get", b"", None);
    assert_eq!(
        code(&r),
        Some(ErrorCode::Unauthorized),
        "even reads need the token"
    );
    assert!(r.config.is_none());
    assert!(
        queue.try_recv().is_none(),
        "nothing reached the application"
    );

    // A request without a response topic is executed, without a reply.
    req.send("restart", b"", Some(TOKEN), false);
    let got = queue
        .recv_timeout(TIMEOUT)
        .expect("the restart reaches the application");
    assert_eq!(got.action, Action::Restart);
    assert!(!got.wants_reply());
    got.reply(&Reply::ok(aisle_fleet::command::Verb::Restart));
    req.no_reply_within(Duration::from_millis(300));

    // A valid change is handed over and answered by the application.
    let payload =
        serde_json::to_vec(&serde_json::json!({"config": {"analytics": {"window_s": 60}}}))
            .unwrap();
    let correlation = req.send("config/set", &payload, Some(TOKEN), true);
    let got = queue.recv_timeout(TIMEOUT).expect("config/set handed over");
    match &got.action {
        Action::ConfigSet(set) => assert_eq!(set.config["analytics"]["window_s"], 60),
        other => panic!("{other:?}"),
    }
    let mut ok = Reply::ok(aisle_fleet::command::Verb::ConfigSet);
    ok.config_hash = Some("abc".into());
    got.reply(&ok);
    let p = req
        .replies
        .recv_timeout(TIMEOUT)
        .expect("the application's reply");
    assert_eq!(
        p.properties.as_ref().unwrap().correlation_data.as_deref(),
        Some(&correlation[..])
    );
    assert_eq!(serde_json::from_slice::<Reply>(&p.payload).unwrap(), ok);

    // A request the application drops unanswered gets `unavailable`.
    req.send("restart", b"", Some(TOKEN), true);
    drop(queue.recv_timeout(TIMEOUT).expect("handed over"));
    let p = req.replies.recv_timeout(TIMEOUT).expect("a reply");
    let r: Reply = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(code(&r), Some(ErrorCode::Unavailable));
    link.shutdown();
}

#[test]
fn read_only_and_off_refuse_what_they_do_not_allow() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(30);
    let (link, queue) = spawn(
        broker.port,
        dir.path(),
        Authorizer::new(CommandMode::ReadOnly, None),
        &config,
    );
    wait_until("the link to connect", || link.status().connected);
    let mut req = Requester::connect(broker.port, BASE);
    assert!(req.request_until_answered("ping", b"", None).ok);
    for verb in ["config/set", "zones/set", "restart"] {
        let r = req.request(verb, b"{}", None);
        assert_eq!(
            r.error.map(|e| e.code),
            Some(ErrorCode::Forbidden),
            "{verb}"
        );
    }
    assert!(queue.try_recv().is_none());
    // Commands off: even ping is refused.
    let off = EffectiveConfig::new(&config);
    link.set_config(off, Some(Authorizer::new(CommandMode::Off, None)), vec![])
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = req.request("ping", b"", None);
        if !r.ok {
            assert_eq!(r.error.map(|e| e.code), Some(ErrorCode::Forbidden));
            break;
        }
        assert!(Instant::now() < deadline);
    }
    link.shutdown();
}

#[test]
fn commands_work_again_after_the_broker_comes_back() {
    let mut broker = Mosquitto::start_on(broker::free_port(), false);
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(30);
    let (link, _queue) = spawn(
        broker.port,
        dir.path(),
        Authorizer::new(CommandMode::ReadOnly, None),
        &config,
    );
    wait_until("the link to connect", || link.status().connected);
    {
        let mut req = Requester::connect(broker.port, BASE);
        assert!(req.request_until_answered("ping", b"", None).ok);
    }
    broker.stop();
    wait_until("the link to notice", || !link.status().connected);
    broker.restart();
    wait_until("the link to reconnect", || link.status().connected);
    // The broker lost every subscription: the device subscribed again.
    let mut req = Requester::connect(broker.port, BASE);
    let pong = req.request_until_answered("ping", b"", None);
    assert!(pong.ok);
    // And the retained config was published again on the new broker.
    let mut sub = Subscriber::connect(broker.port, &format!("{BASE}/config"), None);
    let cfg = sub.wait_for("config", |_| true);
    assert!(cfg.retain);
    link.shutdown();
}
