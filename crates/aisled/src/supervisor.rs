//! The configuration of a running `aisle run`, and the commands that change it.
//!
//! [`Shared`] holds the configuration in effect behind an `RwLock<Arc<Config>>` with a
//! generation counter. Camera threads compare the generation between frames (one atomic load);
//! when it moved they take the new snapshot and, if their own zones, lines or `[analytics]`
//! changed, close the open windows of their analytics (emitting them as partial records, so
//! nothing already counted is lost) and start new analytics on the new layout. Cameras whose
//! layout did not change keep running untouched.
//!
//! [`supervise`] executes the commands the MQTT link hands over (`config/set`, `zones/set`,
//! `restart`), one at a time. A change is applied only once it is known to be good, in this
//! order, and each failure replies with an error and changes nothing:
//!
//! 1. the new configuration is built (`config/set`: the whole of it, secrets left as
//!    `<redacted>` keep their value; `zones/set`: the current one with new zones and lines) and
//!    `if_hash`, when given, must be the hash of the configuration in effect (`conflict`);
//! 2. it is validated like a config file (`invalid_config`, with the path of the bad value) and
//!    the analytics of every running camera is set up from it (`invalid_config`);
//! 3. what cannot change while running (`[[cameras]]`, `[runtime]`, `[models]`, `[detector]`,
//!    `[tracker]`, `[mqtt]`) must be unchanged unless the request says `"restart": true`
//!    (`restart_required`, naming the first difference);
//! 4. it is written to the config file `aisle run --config` was started with, atomically
//!    (`persist_failed`: the old file stays);
//! 5. it is published to the cameras (next frame) and to the link (retained `config`, birth with
//!    the new hash); with `"restart": true` the process restarts instead.
//!
//! `restart` (and a change with `"restart": true`) replies first, then asks every camera to
//! stop; `aisle run` closes the open windows, lets the link deliver and say `stopped`, and exits
//! with [`RESTART_EXIT_CODE`] so that systemd starts it again, reading the persisted file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aisle_config::{AnalyticsConfig, Config, LineConfig, ZoneConfig};
pub use aisle_fleet::command::RESTART_EXIT_CODE;
use aisle_fleet::command::{
    self, Action, Authorizer, ConfigSetRequest, EffectiveConfig, ErrorCode, Reply, ReplyError,
    Verb, ZonesSetRequest,
};
use serde_json::Value;

/// The configuration in effect, shared by the camera threads and the command thread.
pub struct Shared {
    current: RwLock<Arc<Config>>,
    generation: AtomicU64,
    /// Every camera should stop (restart requested).
    stop: AtomicBool,
    /// A restart was requested: exit with [`RESTART_EXIT_CODE`].
    restart: AtomicBool,
    /// Every camera is done: the command thread ends.
    finished: AtomicBool,
    /// Held while a change is checked and applied (MQTT commands and SIGHUP reloads).
    change: Mutex<()>,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        Self {
            current: RwLock::new(Arc::new(config)),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            restart: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            change: Mutex::new(()),
        }
    }

    /// The generation of the configuration in effect (changes with every applied change).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The configuration in effect and its generation.
    pub fn snapshot(&self) -> (u64, Arc<Config>) {
        let c = self.current.read().unwrap_or_else(|e| e.into_inner());
        (self.generation(), Arc::clone(&c))
    }

    /// Puts `config` in effect.
    fn publish(&self, config: Config) {
        let mut c = self.current.write().unwrap_or_else(|e| e.into_inner());
        *c = Arc::new(config);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub fn restart_requested(&self) -> bool {
        self.restart.load(Ordering::Acquire)
    }

    /// Every camera should stop at its next frame (SIGTERM), without a restart.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Every camera is done ([`finish`](Self::finish) was called).
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn request_restart(&self) {
        self.restart.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Release);
    }

    /// Every camera is done.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// What a camera's analytics is built from: its zones, its lines and `[analytics]`.
pub fn camera_layout<'c>(
    config: &'c Config,
    camera: &str,
) -> (
    Vec<&'c ZoneConfig>,
    Vec<&'c LineConfig>,
    &'c AnalyticsConfig,
) {
    (
        config.zones.iter().filter(|z| z.camera == camera).collect(),
        config.lines.iter().filter(|l| l.camera == camera).collect(),
        &config.analytics,
    )
}

/// The first thing that differs between `old` and `new` among what a running process cannot
/// change, as a config path (`cameras[0].url`, `detector`), or `None`.
pub fn needs_restart(old: &Config, new: &Config) -> Option<String> {
    if old.cameras != new.cameras {
        if old.cameras.len() != new.cameras.len() {
            return Some("cameras".into());
        }
        for (i, (a, b)) in old.cameras.iter().zip(&new.cameras).enumerate() {
            let field = if a.id != b.id {
                "id"
            } else if a.url != b.url {
                "url"
            } else if a.transport != b.transport {
                "transport"
            } else {
                "credentials"
            };
            if a != b {
                return Some(format!("cameras[{i}].{field}"));
            }
        }
    }
    let sections = [
        ("runtime", old.runtime == new.runtime),
        ("models", old.models == new.models),
        ("detector", old.detector == new.detector),
        ("tracker", old.tracker == new.tracker),
        ("faces", old.faces == new.faces),
        ("mqtt", old.mqtt == new.mqtt),
    ];
    sections
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(name, _)| name.to_string())
}

/// The outcome of a change that passed every check (see the module documentation).
#[derive(Debug)]
pub struct Checked {
    pub config: Config,
    pub authorizer: Authorizer,
    /// The request asked for a restart to apply it.
    pub restart: bool,
}

/// `invalid_config` from a validation error of the configuration sent with `origin` (the verb),
/// without the "config file <origin>: " prefix of file errors.
fn invalid(e: &aisle_config::ConfigError, origin: &str) -> ReplyError {
    let text = e.to_string();
    let prefix = format!("config file {origin}: ");
    let message = text.strip_prefix(&prefix).unwrap_or(&text).to_string();
    ReplyError::at(ErrorCode::InvalidConfig, e.path(), message)
}

/// Steps 1 to 3: the new configuration from `action`, checked against `current`. `cameras` are
/// the running cameras, whose analytics must set up.
pub fn check_change(
    current: &Config,
    action: &Action,
    cameras: &[String],
) -> Result<Checked, ReplyError> {
    let current_hash = || EffectiveConfig::new(current).hash;
    let (new, if_hash, restart) = match action {
        Action::ConfigSet(ConfigSetRequest {
            config,
            if_hash,
            restart,
        }) => {
            let mut value = config.clone();
            let unredacted = serde_json::to_value(current).unwrap_or(Value::Null);
            command::restore_redacted(&mut value, &unredacted);
            let new: Config = serde_json::from_value(value).map_err(|e| {
                ReplyError::new(ErrorCode::InvalidConfig, format!("config/set: {e}"))
            })?;
            (new, if_hash, *restart)
        }
        Action::ZonesSet(ZonesSetRequest {
            zones,
            lines,
            if_hash,
        }) => {
            let mut new = current.clone();
            new.zones = parse_list(zones, "zones")?;
            new.lines = parse_list(lines, "lines")?;
            (new, if_hash, false)
        }
        other => {
            return Err(ReplyError::new(
                ErrorCode::Malformed,
                format!("`{}` is not a configuration change", other.verb().as_str()),
            ))
        }
    };
    if let Some(want) = if_hash {
        let have = current_hash();
        if *want != have {
            return Err(ReplyError::new(
                ErrorCode::Conflict,
                format!("the configuration in effect has hash {have}, not {want}"),
            ));
        }
    }
    check_new(current, new, action.verb().as_str(), restart, cameras)
}

/// Steps 2 and 3 for a new configuration `new` from `origin` (a verb, or the config file of a
/// SIGHUP reload); `restart`: the change may need a restart.
pub fn check_new(
    current: &Config,
    new: Config,
    origin: &str,
    restart: bool,
    cameras: &[String],
) -> Result<Checked, ReplyError> {
    new.validate(origin).map_err(|e| invalid(&e, origin))?;
    for camera in cameras {
        if new.camera(camera).is_none() {
            continue; // removed: needs a restart, reported below
        }
        aisle_analytics::CameraAnalytics::new(
            camera,
            1920,
            1080,
            &new.zones,
            &new.lines,
            &new.analytics,
            0,
        )
        .map_err(|e| {
            ReplyError::new(
                ErrorCode::InvalidConfig,
                format!("camera `{camera}`: analytics set-up: {e}"),
            )
        })?;
    }
    let authorizer = Authorizer::from_config(&new).map_err(|e| invalid(&e, origin))?;
    if !restart {
        if let Some(path) = needs_restart(current, &new) {
            return Err(ReplyError::at(
                ErrorCode::RestartRequired,
                Some(path.clone()),
                format!("`{path}` cannot change while running: send the change again with \"restart\": true to persist it and restart"),
            ));
        }
    }
    Ok(Checked {
        config: new,
        authorizer,
        restart,
    })
}

/// `zones` or `lines` entries from JSON; an error names the entry (`zones[2]`).
fn parse_list<T: serde::de::DeserializeOwned>(
    items: &[Value],
    what: &str,
) -> Result<Vec<T>, ReplyError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v.clone()).map_err(|e| {
                ReplyError::at(
                    ErrorCode::InvalidConfig,
                    Some(format!("{what}[{i}]")),
                    format!("{what}[{i}]: {e}"),
                )
            })
        })
        .collect()
}

/// Step 4: writes `config` to `path` atomically.
pub fn persist(config: &Config, path: &Path) -> Result<(), ReplyError> {
    let text = config.to_toml().map_err(|e| {
        ReplyError::new(
            ErrorCode::PersistFailed,
            format!("cannot write the configuration as TOML: {e}"),
        )
    })?;
    let header = "# Written by `aisle run` after a config/set or zones/set command (MQTT).\n";
    aisle_config::write_file_atomically(path, format!("{header}{text}").as_bytes()).map_err(|e| {
        ReplyError::new(
            ErrorCode::PersistFailed,
            format!(
                "cannot write {}: {e}; the old configuration stays in effect",
                path.display()
            ),
        )
    })
}

/// Step 5 without a restart: puts `checked` in effect for the cameras (next frame) and announces
/// it on the link (retained `config`, birth with the new hash).
fn apply(shared: &Shared, link: Option<&aisle_fleet::LinkHandle>, checked: Checked) {
    let effective = EffectiveConfig::new(&checked.config);
    let ids = checked
        .config
        .cameras
        .iter()
        .map(|c| c.id.clone())
        .collect();
    shared.publish(checked.config);
    if let Some(link) = link {
        if let Err(e) = link.set_config(effective.clone(), Some(checked.authorizer), ids) {
            tracing::warn!(error = %e, "cannot announce the new configuration");
        }
    }
    tracing::info!(hash = %effective.hash, "configuration applied");
}

/// What a SIGHUP reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The new configuration is in effect.
    Applied,
    /// The file says what is already in effect.
    Unchanged,
    /// The file could not be read, is invalid, or changes what needs a restart: the
    /// configuration in effect stays (the error is logged).
    Refused,
}

/// SIGHUP: reads `path` again and applies it through the checks of `config/set` (validation,
/// analytics set-up of every running camera, nothing that needs a restart). Cameras whose
/// zones, lines and `[analytics]` did not change keep running untouched. On any error the
/// configuration in effect stays and the error is logged with the file and the bad value's path.
/// `adjust` applies the command line's changes (`--embedded-broker`) to the file's content.
pub fn reload_file(
    shared: &Shared,
    path: &Path,
    link: Option<&aisle_fleet::LinkHandle>,
    cameras: &[String],
    adjust: &dyn Fn(&mut Config) -> anyhow::Result<()>,
) -> Reloaded {
    let file = path.display().to_string();
    let mut new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(config = %file, path = %e.path().unwrap_or_default(), "reload refused: {e}; keeping the configuration in effect");
            return Reloaded::Refused;
        }
    };
    if let Err(e) = adjust(&mut new) {
        tracing::error!(config = %file, "reload refused: {e:#}; keeping the configuration in effect");
        return Reloaded::Refused;
    }
    let _change = shared.change.lock().unwrap_or_else(|e| e.into_inner());
    let (_, current) = shared.snapshot();
    if *current == new {
        tracing::info!(config = %file, "reload: the file is unchanged");
        return Reloaded::Unchanged;
    }
    match check_new(&current, new, &file, false, cameras) {
        Ok(checked) => {
            apply(shared, link, checked);
            Reloaded::Applied
        }
        Err(e) if e.code == ErrorCode::RestartRequired => {
            let at = e.path.unwrap_or_default();
            tracing::error!(config = %file, path = %at, "reload refused: `{at}` in {file} cannot change while running; `systemctl restart aisle` applies it; keeping the configuration in effect");
            Reloaded::Refused
        }
        Err(e) => {
            let at = e.path.clone().unwrap_or_default();
            tracing::error!(config = %file, path = %at, "reload refused: {file}: {}; keeping the configuration in effect", e.message);
            Reloaded::Refused
        }
    }
}

/// Runs the commands of `queue` until every camera is done ([`Shared::finish`]).
pub fn supervise(
    queue: aisle_fleet::CommandQueue,
    shared: &Shared,
    path: &Path,
    link: &aisle_fleet::LinkHandle,
    cameras: &[String],
) {
    while !shared.finished() {
        let Some(request) = queue.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let verb = request.action.verb();
        if shared.stopping() {
            request.reply(&Reply::error(
                Some(verb.as_str()),
                ReplyError::new(
                    ErrorCode::Unavailable,
                    if shared.restart_requested() {
                        "the device is restarting"
                    } else {
                        "the device is stopping"
                    },
                ),
            ));
            continue;
        }
        match &request.action {
            Action::Restart => {
                let mut r = Reply::ok(Verb::Restart);
                r.restarting = Some(true);
                request.reply(&r);
                tracing::warn!("restart requested over MQTT: stopping the cameras");
                shared.request_restart();
            }
            Action::ConfigSet(_) | Action::ZonesSet(_) => {
                let _change = shared.change.lock().unwrap_or_else(|e| e.into_inner());
                let (_, current) = shared.snapshot();
                let outcome = check_change(&current, &request.action, cameras)
                    .and_then(|checked| persist(&checked.config, path).map(|()| checked));
                let checked = match outcome {
                    Ok(c) => c,
                    Err(e) => {
                        request.reply(&Reply::error(Some(verb.as_str()), e));
                        continue;
                    }
                };
                let effective = EffectiveConfig::new(&checked.config);
                let mut r = Reply::ok(verb);
                r.config_hash = Some(effective.hash.clone());
                r.persisted = Some(true);
                if checked.restart {
                    r.restarting = Some(true);
                    request.reply(&r);
                    tracing::warn!(hash = %effective.hash, "configuration persisted; restarting to apply it");
                    shared.request_restart();
                    continue;
                }
                apply(shared, Some(link), checked);
                request.reply(&r);
            }
            Action::Ping | Action::ConfigGet => {
                // Answered by the link itself; not expected here.
                let mut r = Reply::ok(verb);
                r.config_hash = Some(EffectiveConfig::new(&shared.snapshot().1).hash);
                request.reply(&r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = r#"
[[cameras]]
id = "cam1"
url = "/videos/a.mp4"
[[cameras]]
id = "cam2"
url = "/videos/b.mp4"
[[zones]]
camera = "cam1"
name = "door"
kind = "entrance"
polygon = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]
[[zones]]
camera = "cam1"
name = "till"
kind = "checkout"
polygon = [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]]
[[zones]]
camera = "cam2"
name = "aisle"
kind = "aisle"
polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
"#;

    fn base() -> Config {
        Config::parse(BASE, "t").unwrap()
    }

    fn cams() -> Vec<String> {
        vec!["cam1".into(), "cam2".into()]
    }

    fn set(config: Value) -> Action {
        Action::ConfigSet(ConfigSetRequest {
            config,
            if_hash: None,
            restart: false,
        })
    }

    fn json_of(c: &Config) -> Value {
        serde_json::to_value(c).unwrap()
    }

    #[test]
    fn an_invalid_zone_is_refused_with_its_path() {
        let mut v = json_of(&base());
        v["zones"][1]["polygon"][2] = json!([1.5, 0.9]);
        let e = check_change(&base(), &set(v), &cams()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert_eq!(e.path.as_deref(), Some("zones[1].polygon[2]"), "{e:?}");
        assert!(
            e.message
                .starts_with("`zones[1].polygon[2]` = [1.5, 0.9]: coordinates must be"),
            "{e:?}"
        );
        // Unknown keys and wrong types are refused too.
        let mut v = json_of(&base());
        v["zones"][0]["colour"] = json!("red");
        let e = check_change(&base(), &set(v), &cams()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidConfig);
        assert!(e.message.contains("colour"), "{e:?}");
    }

    #[test]
    fn zones_set_replaces_zones_and_lines_only() {
        let action = Action::ZonesSet(ZonesSetRequest {
            zones: vec![json!({"camera": "cam2", "name": "new", "kind": "display",
                "polygon": [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4]]})],
            lines: vec![
                json!({"camera": "cam1", "name": "sill", "from": [0.1, 0.5], "to": [0.9, 0.5]}),
            ],
            if_hash: None,
        });
        let c = check_change(&base(), &action, &cams()).unwrap();
        assert_eq!(c.config.zones.len(), 1);
        assert_eq!(c.config.lines[0].name, "sill");
        assert_eq!(c.config.cameras, base().cameras);
        assert!(!c.restart);
        // Camera layouts: cam1 lost its zones and gained a line, cam2's zone changed.
        assert_ne!(
            camera_layout(&c.config, "cam1"),
            camera_layout(&base(), "cam1")
        );
        let bad = Action::ZonesSet(ZonesSetRequest {
            zones: vec![json!({"camera": "cam2"})],
            lines: vec![],
            if_hash: None,
        });
        let e = check_change(&base(), &bad, &cams()).unwrap_err();
        assert_eq!(e.path.as_deref(), Some("zones[0]"));
        let unknown_camera = Action::ZonesSet(ZonesSetRequest {
            zones: vec![json!({"camera": "cam9", "name": "x", "kind": "aisle",
                "polygon": [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4]]})],
            lines: vec![],
            if_hash: None,
        });
        let e = check_change(&base(), &unknown_camera, &cams()).unwrap_err();
        assert_eq!(e.path.as_deref(), Some("zones[0].camera"));
    }

    #[test]
    fn a_change_to_one_camera_leaves_the_other_untouched() {
        let mut v = json_of(&base());
        v["zones"][0]["name"] = json!("entrance");
        let c = check_change(&base(), &set(v), &cams()).unwrap();
        assert_ne!(
            camera_layout(&c.config, "cam1"),
            camera_layout(&base(), "cam1")
        );
        assert_eq!(
            camera_layout(&c.config, "cam2"),
            camera_layout(&base(), "cam2")
        );
        let mut v = json_of(&base());
        v["analytics"]["window_s"] = json!(30);
        let c = check_change(&base(), &set(v), &cams()).unwrap();
        assert_ne!(
            camera_layout(&c.config, "cam2"),
            camera_layout(&base(), "cam2")
        );
    }

    #[test]
    fn what_cannot_change_while_running_needs_a_restart() {
        let mut v = json_of(&base());
        v["cameras"][1]["url"] = json!("/videos/c.mp4");
        let e = check_change(&base(), &set(v.clone()), &cams()).unwrap_err();
        assert_eq!(e.code, ErrorCode::RestartRequired);
        assert_eq!(e.path.as_deref(), Some("cameras[1].url"));
        let restart = Action::ConfigSet(ConfigSetRequest {
            config: v,
            if_hash: None,
            restart: true,
        });
        let c = check_change(&base(), &restart, &cams()).unwrap();
        assert!(c.restart);
        let mut v = json_of(&base());
        v["detector"]["score_threshold"] = json!(0.5);
        let e = check_change(&base(), &set(v), &cams()).unwrap_err();
        assert_eq!(e.path.as_deref(), Some("detector"));
        let mut v = json_of(&base());
        v["cameras"].as_array_mut().unwrap().pop();
        v["zones"].as_array_mut().unwrap().pop();
        let e = check_change(&base(), &set(v), &cams()).unwrap_err();
        assert_eq!(e.path.as_deref(), Some("cameras"));
    }

    #[test]
    fn if_hash_is_compare_and_set() {
        let hash = EffectiveConfig::new(&base()).hash;
        let with = |h: &str| {
            Action::ConfigSet(ConfigSetRequest {
                config: json_of(&base()),
                if_hash: Some(h.into()),
                restart: false,
            })
        };
        assert!(check_change(&base(), &with(&hash), &cams()).is_ok());
        let e = check_change(&base(), &with("0000"), &cams()).unwrap_err();
        assert_eq!(e.code, ErrorCode::Conflict);
    }

    #[test]
    fn sighup_reloads_the_file_through_the_same_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, BASE).unwrap();
        let shared = Shared::new(base());
        let none = |_: &mut Config| Ok(());
        let reload = || reload_file(&shared, &path, None, &cams(), &none);
        assert_eq!(reload(), Reloaded::Unchanged);
        // A renamed zone of cam1: applied; cam2's layout is untouched.
        std::fs::write(&path, BASE.replace("\"door\"", "\"entrance\"")).unwrap();
        assert_eq!(reload(), Reloaded::Applied);
        let (g1, now) = shared.snapshot();
        assert_eq!(g1, 1);
        assert_eq!(now.zones[0].name, "entrance");
        assert_eq!(camera_layout(&now, "cam2"), camera_layout(&base(), "cam2"));
        // An invalid file, a missing one, and a change that needs a restart: refused, nothing
        // changes.
        std::fs::write(
            &path,
            BASE.replace("[0.5, 0.1], [0.5, 0.5]]", "[1.5, 0.1], [0.5, 0.5]]"),
        )
        .unwrap();
        assert_eq!(reload(), Reloaded::Refused);
        std::fs::write(&path, BASE.replace("/videos/b.mp4", "/videos/c.mp4")).unwrap();
        assert_eq!(reload(), Reloaded::Refused);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(reload(), Reloaded::Refused);
        assert_eq!(
            shared.snapshot().0,
            1,
            "nothing applied after the first change"
        );
        // The command line's changes apply to the reloaded file (and can refuse it).
        std::fs::write(&path, BASE).unwrap();
        let refuse = |_: &mut Config| Err(anyhow::anyhow!("no"));
        assert_eq!(
            reload_file(&shared, &path, None, &cams(), &refuse),
            Reloaded::Refused
        );
    }

    #[test]
    fn persisting_writes_a_file_that_reads_back_and_a_failure_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, BASE).unwrap();
        let mut v = json_of(&base());
        v["zones"][0]["name"] = json!("entrance");
        let c = check_change(&base(), &set(v), &cams()).unwrap();
        persist(&c.config, &path).unwrap();
        let back = Config::load(&path).unwrap();
        assert_eq!(back, c.config);
        assert_eq!(back.zones[0].name, "entrance");
        // A directory that does not exist: persist_failed.
        let e = persist(&c.config, &dir.path().join("gone/site.toml")).unwrap_err();
        assert_eq!(e.code, ErrorCode::PersistFailed);
        // A shared configuration is only replaced by publish.
        let shared = Shared::new(base());
        let (g0, before) = shared.snapshot();
        shared.publish(c.config.clone());
        let (g1, after) = shared.snapshot();
        assert_eq!(g1, g0 + 1);
        assert_eq!(*before, base());
        assert_eq!(*after, c.config);
    }
}
