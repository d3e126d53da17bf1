//! Commands over MQTT 5 request/response: the pure part (no I/O).
//!
//! A request is a PUBLISH on `aisle/v1/<site>/<device>/cmd/<verb>` whose MQTT 5 properties name a
//! **response topic** and usually carry **correlation data** (MQTT 5.0, sections 3.3.2.3.5 and
//! 3.3.2.3.6; section 4.10 "Request / Response"). The device answers on the response topic, QoS 1,
//! not retained, with the correlation data echoed. A request without a response topic is still
//! executed; its outcome is only logged.
//!
//! Verbs ([`Verb`]): `ping`, `config/get`, `config/set`, `zones/set`, `restart`. Payloads are JSON
//! ([`ConfigSetRequest`], [`ZonesSetRequest`]; the other verbs take an empty payload or `{}`),
//! replies are [`Reply`]: `{"ok":true,...}` or `{"ok":false,"error":{"code":...,"path":...,
//! "message":...}}`.
//!
//! [`check_request`] decides, in this order: size ([`MAX_COMMAND_BYTES`], `too_large`), verb
//! (`unknown_verb`), authorisation ([`Authorizer`]: `unauthorized` for a missing or wrong token,
//! `forbidden` for a verb the `[commands] mode` does not allow), payload shape (`malformed`). A
//! request refused at any step changes nothing.
//!
//! The retained `config` message ([`EffectiveConfig`]) is the configuration in effect as JSON,
//! with secrets redacted ([`redact`]), and its hash ([`config_hash`]: SHA-256 of the canonical
//! JSON, keys sorted, no spaces, in lower-case hex), which the birth message carries too.

use aisle_config::{CommandMode, Config};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest command payload executed, bytes; a larger one gets a `too_large` reply.
pub const MAX_COMMAND_BYTES: usize = 256 * 1024;

/// Largest MQTT packet the device accepts from the broker (announced as the MQTT 5 Maximum
/// Packet Size at CONNECT, so the broker drops larger ones instead of the link failing on
/// them). Larger than [`MAX_COMMAND_BYTES`] so that a moderately oversize request still gets
/// its `too_large` reply.
pub const MAX_INCOMING_PACKET_BYTES: u32 = 1024 * 1024;

/// The MQTT 5 user property that carries the command token.
pub const TOKEN_PROPERTY: &str = "token";

/// What secrets are replaced with in `config` messages and `config/get` replies.
pub const REDACTED: &str = "<redacted>";

/// The exit status of `aisle run` after a `restart` command (EX_TEMPFAIL of sysexits.h): the
/// process ended cleanly and asks its supervisor (systemd) to start it again.
pub const RESTART_EXIT_CODE: u8 = 75;

/// A command verb: the topic levels after `cmd/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Verb {
    /// Liveness: version, uptime and config hash.
    #[serde(rename = "ping")]
    Ping,
    /// The effective configuration, secrets redacted.
    #[serde(rename = "config/get")]
    ConfigGet,
    /// Replace the whole configuration.
    #[serde(rename = "config/set")]
    ConfigSet,
    /// Replace the zones and lines only.
    #[serde(rename = "zones/set")]
    ZonesSet,
    /// Reply, then end the process cleanly with [`RESTART_EXIT_CODE`].
    #[serde(rename = "restart")]
    Restart,
}

impl Verb {
    pub const ALL: [Verb; 5] = [
        Verb::Ping,
        Verb::ConfigGet,
        Verb::ConfigSet,
        Verb::ZonesSet,
        Verb::Restart,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Verb::Ping => "ping",
            Verb::ConfigGet => "config/get",
            Verb::ConfigSet => "config/set",
            Verb::ZonesSet => "zones/set",
            Verb::Restart => "restart",
        }
    }

    /// Whether the verb changes the device (refused unless `[commands] mode = "all"`).
    pub fn mutates(&self) -> bool {
        matches!(self, Verb::ConfigSet | Verb::ZonesSet | Verb::Restart)
    }
}

/// Why a command was not executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The payload is not JSON, or not the shape the verb takes.
    Malformed,
    /// No such verb.
    UnknownVerb,
    /// The payload is larger than [`MAX_COMMAND_BYTES`].
    TooLarge,
    /// The token is missing or wrong.
    Unauthorized,
    /// `[commands] mode` does not allow this verb.
    Forbidden,
    /// The new configuration is invalid; `path` names the bad value.
    InvalidConfig,
    /// `if_hash` does not match the configuration in effect.
    Conflict,
    /// The change cannot be applied while running (`path` names what changed); send it again
    /// with `"restart": true`.
    RestartRequired,
    /// The new configuration could not be written to the config file; nothing changed.
    PersistFailed,
    /// The device cannot execute commands now (no pipeline attached, or busy).
    Unavailable,
}

/// The error of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReplyError {
    pub code: ErrorCode,
    /// Path of the bad value in the configuration, e.g. `zones[1].polygon[2]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl ReplyError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            path: None,
            message: message.into(),
        }
    }

    pub fn at(code: ErrorCode, path: Option<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            path,
            message: message.into(),
        }
    }
}

/// The payload of a reply. Fields other than `ok` and `verb` appear when they apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reply {
    /// The command was executed.
    pub ok: bool,
    /// The verb as requested (absent when the topic named no verb).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// `ping`: firmware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `ping`: seconds since the process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    /// Hash of the configuration in effect (after the change, for `config/set` and
    /// `zones/set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// `config/get`: the configuration in effect, secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// The configuration was written to the config file (`config/set`, `zones/set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persisted: Option<bool>,
    /// The process ends after this reply and is restarted by its supervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarting: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

impl Reply {
    /// A success reply to `verb`.
    pub fn ok(verb: Verb) -> Self {
        Self {
            ok: true,
            verb: Some(verb.as_str().to_string()),
            ..Self::default()
        }
    }

    /// An error reply; `verb` as requested, if any.
    pub fn error(verb: Option<&str>, error: ReplyError) -> Self {
        Self {
            ok: false,
            verb: verb.map(str::to_string),
            error: Some(error),
            ..Self::default()
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"ok":false}"#.to_vec())
    }
}

/// `config/set`: the whole new configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSetRequest {
    /// The configuration, in the shape of the `config` message (the TOML file's structure as
    /// JSON). A secret left as `"<redacted>"` keeps its current value.
    pub config: Value,
    /// Apply only if this is the hash of the configuration in effect (compare-and-set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_hash: Option<String>,
    /// Persist, reply, then restart the process to apply it: needed for changes that cannot be
    /// applied while running (cameras, detector, tracker, runtime, models, MQTT).
    #[serde(default)]
    pub restart: bool,
}

/// `zones/set`: new `[[zones]]` and `[[lines]]` (both required; `[]` removes all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZonesSetRequest {
    pub zones: Vec<Value>,
    pub lines: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_hash: Option<String>,
}

/// A request that passed every check of [`check_request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Ping,
    ConfigGet,
    ConfigSet(ConfigSetRequest),
    ZonesSet(ZonesSetRequest),
    Restart,
}

impl Action {
    pub fn verb(&self) -> Verb {
        match self {
            Action::Ping => Verb::Ping,
            Action::ConfigGet => Verb::ConfigGet,
            Action::ConfigSet(_) => Verb::ConfigSet,
            Action::ZonesSet(_) => Verb::ZonesSet,
            Action::Restart => Verb::Restart,
        }
    }
}

/// Who may do what: `[commands] mode` and the token from `[commands] token_file`.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorizer {
    pub mode: CommandMode,
    token: Option<String>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("mode", &self.mode)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Authorizer {
    pub fn new(mode: CommandMode, token: Option<String>) -> Self {
        Self { mode, token }
    }

    /// From a configuration: its mode and the token its `token_file` holds.
    pub fn from_config(config: &Config) -> Result<Self, aisle_config::ConfigError> {
        Ok(Self::new(config.commands.mode, config.command_token()?))
    }

    /// Whether a request for `verb` carrying `presented` (the `token` user property) may run.
    pub fn check(&self, verb: Verb, presented: Option<&str>) -> Result<(), ReplyError> {
        if let Some(token) = &self.token {
            match presented {
                Some(p) if constant_time_eq(p.as_bytes(), token.as_bytes()) => {}
                Some(_) => {
                    return Err(ReplyError::new(
                        ErrorCode::Unauthorized,
                        "wrong token (MQTT 5 user property `token`)",
                    ))
                }
                None => {
                    return Err(ReplyError::new(
                        ErrorCode::Unauthorized,
                        "this device requires a token: MQTT 5 user property `token`",
                    ))
                }
            }
        }
        match self.mode {
            CommandMode::Off => Err(ReplyError::new(
                ErrorCode::Forbidden,
                "commands are off on this device ([commands] mode = \"off\")",
            )),
            CommandMode::ReadOnly if verb.mutates() => Err(ReplyError::new(
                ErrorCode::Forbidden,
                format!(
                    "`{}` changes the device and [commands] mode is \"read-only\"",
                    verb.as_str()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Byte-wise equality whose time does not depend on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every check of a request, in order (see the module documentation): the action to execute, or
/// the error to reply with.
pub fn check_request(
    auth: &Authorizer,
    verb: &str,
    payload: &[u8],
    token: Option<&str>,
) -> Result<Action, ReplyError> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(ReplyError::new(
            ErrorCode::TooLarge,
            format!(
                "the payload is {} bytes, more than {MAX_COMMAND_BYTES}",
                payload.len()
            ),
        ));
    }
    let Some(v) = Verb::parse(verb) else {
        let known: Vec<&str> = Verb::ALL.iter().map(Verb::as_str).collect();
        return Err(ReplyError::new(
            ErrorCode::UnknownVerb,
            format!("unknown verb {verb:?}; verbs: {}", known.join(", ")),
        ));
    };
    auth.check(v, token)?;
    parse_payload(v, payload)
}

/// The payload of `verb` as an [`Action`].
pub fn parse_payload(verb: Verb, payload: &[u8]) -> Result<Action, ReplyError> {
    fn json<T: serde::de::DeserializeOwned>(verb: Verb, payload: &[u8]) -> Result<T, ReplyError> {
        serde_json::from_slice(payload).map_err(|e| {
            ReplyError::new(
                ErrorCode::Malformed,
                format!("`{}` payload: {e}", verb.as_str()),
            )
        })
    }
    // An empty payload or an empty JSON object.
    let empty = |verb: Verb| -> Result<(), ReplyError> {
        if payload.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        match json::<Value>(verb, payload)? {
            Value::Object(m) if m.is_empty() => Ok(()),
            _ => Err(ReplyError::new(
                ErrorCode::Malformed,
                format!("`{}` takes an empty payload or {{}}", verb.as_str()),
            )),
        }
    };
    Ok(match verb {
        Verb::Ping => empty(verb).map(|()| Action::Ping)?,
        Verb::ConfigGet => empty(verb).map(|()| Action::ConfigGet)?,
        Verb::Restart => empty(verb).map(|()| Action::Restart)?,
        Verb::ConfigSet => Action::ConfigSet(json(verb, payload)?),
        Verb::ZonesSet => Action::ZonesSet(json(verb, payload)?),
    })
}

/// Whether `key` names a secret: `password`, `token`, `secret`, `passphrase`, `private_key`, or
/// ends in `_password`, `_token`, `_secret` or `_passphrase`. File names of secrets
/// (`token_file`, `credentials`) are not secrets; their contents never enter the configuration.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(
        k.as_str(),
        "password" | "token" | "secret" | "passphrase" | "private_key"
    ) || ["_password", "_token", "_secret", "_passphrase"]
        .iter()
        .any(|s| k.ends_with(s))
}

/// Replaces the value of every secret key ([`is_secret_key`]) that is not null by
/// [`REDACTED`], at any depth.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// In `new` (a configuration sent with `config/set`), every secret still [`REDACTED`] takes the
/// value at the same place in `current` (the unredacted configuration in effect), or is removed
/// when `current` has none.
pub fn restore_redacted(new: &mut Value, current: &Value) {
    match new {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let cur = current.get(&k);
                let is_placeholder = map.get(&k).and_then(Value::as_str) == Some(REDACTED);
                if is_secret_key(&k) && is_placeholder {
                    match cur {
                        Some(c) => {
                            map.insert(k, c.clone());
                        }
                        None => {
                            map.remove(&k);
                        }
                    }
                } else if let (Some(v), Some(c)) = (map.get_mut(&k), cur) {
                    restore_redacted(v, c);
                }
            }
        }
        Value::Array(items) => {
            if let Value::Array(cur) = current {
                for (v, c) in items.iter_mut().zip(cur) {
                    restore_redacted(v, c);
                }
            }
        }
        _ => {}
    }
}

/// `value` as canonical JSON: object keys sorted (by bytes), no whitespace, numbers and strings
/// as `serde_json` writes them.
pub fn canonical_json(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// SHA-256 of [`canonical_json`] of `value`, lower-case hex (64 characters).
pub fn config_hash(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configuration in effect as published: redacted JSON and its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveConfig {
    /// The configuration as JSON, secrets redacted.
    pub json: Value,
    /// [`config_hash`] of `json`.
    pub hash: String,
}

/// The payload of the retained `config` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigMessage {
    /// [`config_hash`] of `config`; the birth message on `status` carries the same.
    pub hash: String,
    /// The configuration in effect, secrets redacted.
    pub config: Value,
}

impl EffectiveConfig {
    pub fn new(config: &Config) -> Self {
        // Through text, so that `f32` settings read as written (0.3, not 0.30000001192092896).
        let mut json = serde_json::to_string(config)
            .and_then(|text| serde_json::from_str(&text))
            .unwrap_or(Value::Null);
        redact(&mut json);
        let hash = config_hash(&json);
        Self { json, hash }
    }

    /// The payload of the retained `config` message.
    pub fn message(&self) -> Vec<u8> {
        serde_json::to_vec(&ConfigMessage {
            hash: self.hash.clone(),
            config: self.json.clone(),
        })
        .unwrap_or_default()
    }
}

/// Whether `topic` can be published to: not empty, at most 65535 bytes, no wildcard or NUL.
pub fn is_publishable_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= crate::topics::MAX_TOPIC_BYTES
        && !topic.contains(['+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all() -> Authorizer {
        Authorizer::new(CommandMode::All, None)
    }

    #[test]
    fn verbs_parse_and_say_whether_they_mutate() {
        for v in Verb::ALL {
            assert_eq!(Verb::parse(v.as_str()), Some(v));
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                json!(v.as_str()),
                "serde name"
            );
        }
        assert_eq!(Verb::parse("config"), None);
        assert_eq!(Verb::parse("PING"), None);
        assert!(!Verb::Ping.mutates() && !Verb::ConfigGet.mutates());
        assert!(Verb::ConfigSet.mutates() && Verb::ZonesSet.mutates() && Verb::Restart.mutates());
    }

    #[test]
    fn requests_are_checked_size_verb_auth_shape_in_that_order() {
        let a = all();
        assert_eq!(check_request(&a, "ping", b"", None), Ok(Action::Ping));
        assert_eq!(check_request(&a, "ping", b" {} ", None), Ok(Action::Ping));
        assert_eq!(
            check_request(&a, "restart", b"{}", None),
            Ok(Action::Restart)
        );
        let code = |verb: &str, payload: &[u8], auth: &Authorizer, token: Option<&str>| {
            check_request(auth, verb, payload, token).unwrap_err().code
        };
        let big = vec![b' '; MAX_COMMAND_BYTES + 1];
        assert_eq!(code("nope", &big, &a, None), ErrorCode::TooLarge);
        assert_eq!(code("nope", b"{}", &a, None), ErrorCode::UnknownVerb);
        assert_eq!(code("ping", b"{not json", &a, None), ErrorCode::Malformed);
        assert_eq!(code("ping", b"{\"x\":1}", &a, None), ErrorCode::Malformed);
        assert_eq!(code("ping", b"[]", &a, None), ErrorCode::Malformed);
        assert_eq!(code("config/set", b"{}", &a, None), ErrorCode::Malformed);
        assert_eq!(
            code("config/set", b"{\"config\":{},\"extra\":1}", &a, None),
            ErrorCode::Malformed
        );
        assert_eq!(
            code("zones/set", b"{\"zones\":[]}", &a, None),
            ErrorCode::Malformed,
            "lines are required too"
        );
        assert_eq!(
            code("config/set", &[0xff, 0xfe], &a, None),
            ErrorCode::Malformed
        );
        let set = check_request(
            &a,
            "config/set",
            br#"{"config":{"zones":[]},"if_hash":"ab","restart":true}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            set,
            Action::ConfigSet(ConfigSetRequest {
                config: json!({"zones": []}),
                if_hash: Some("ab".into()),
                restart: true
            })
        );
        // An unauthorised request is refused before its payload is looked at.
        let ro = Authorizer::new(CommandMode::ReadOnly, None);
        assert_eq!(
            code("config/set", b"{not json", &ro, None),
            ErrorCode::Forbidden
        );
    }

    #[test]
    fn modes_and_tokens() {
        let token = "0123456789abcdef-token".to_string();
        let off = Authorizer::new(CommandMode::Off, None);
        let ro = Authorizer::new(CommandMode::ReadOnly, None);
        let all_t = Authorizer::new(CommandMode::All, Some(token.clone()));
        for v in Verb::ALL {
            assert_eq!(off.check(v, None).unwrap_err().code, ErrorCode::Forbidden);
            assert_eq!(ro.check(v, None).is_ok(), !v.mutates(), "{v:?}");
            assert_eq!(
                all_t.check(v, None).unwrap_err().code,
                ErrorCode::Unauthorized
            );
            assert_eq!(
                all_t
                    .check(v, Some("0123456789abcdef-tokex"))
                    .unwrap_err()
                    .code,
                ErrorCode::Unauthorized
            );
            assert_eq!(
                all_t.check(v, Some("short")).unwrap_err().code,
                ErrorCode::Unauthorized
            );
            assert!(all_t.check(v, Some(&token)).is_ok());
        }
        // The token is checked before the mode: a stranger learns nothing about the mode.
        let ro_t = Authorizer::new(CommandMode::ReadOnly, Some(token.clone()));
        assert_eq!(
            ro_t.check(Verb::Restart, None).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        assert!(!format!("{all_t:?}").contains(&token));
        // Error messages never echo a presented token.
        let e = all_t
            .check(Verb::Ping, Some("guess-guess-guess"))
            .unwrap_err();
        assert!(!e.message.contains("guess"));
    }

    #[test]
    fn reply_payloads() {
        let mut r = Reply::ok(Verb::Ping);
        r.version = Some("1.2.3".into());
        r.uptime_s = Some(7);
        assert_eq!(
            serde_json::from_slice::<Value>(&r.to_json()).unwrap(),
            json!({"ok": true, "verb": "ping", "version": "1.2.3", "uptime_s": 7})
        );
        let e = Reply::error(
            Some("config/set"),
            ReplyError::at(
                ErrorCode::InvalidConfig,
                Some("zones[1].polygon[2]".into()),
                "coordinates must be in [0, 1]",
            ),
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&e.to_json()).unwrap(),
            json!({"ok": false, "verb": "config/set", "error": {
                "code": "invalid_config", "path": "zones[1].polygon[2]",
                "message": "coordinates must be in [0, 1]"}})
        );
        // The schema can be generated (for the AsyncAPI document).
        let schema = schemars::schema_for!(Reply);
        assert!(serde_json::to_string(&schema)
            .unwrap()
            .contains("restart_required"));
    }

    #[test]
    fn secrets_are_redacted_and_restored() {
        let mut v = json!({
            "mqtt": {"broker": "mqtt://x", "password": "hunter2", "client_token": "t0k",
                     "password_file": "mqtt-pass", "token": null},
            "commands": {"mode": "all", "token_file": "cmd"},
            "list": [{"secret": "s"}, {"name": "n"}],
        });
        let original = v.clone();
        redact(&mut v);
        assert_eq!(
            v,
            json!({
                "mqtt": {"broker": "mqtt://x", "password": REDACTED, "client_token": REDACTED,
                         "password_file": "mqtt-pass", "token": null},
                "commands": {"mode": "all", "token_file": "cmd"},
                "list": [{"secret": REDACTED}, {"name": "n"}],
            })
        );
        let mut back = v.clone();
        restore_redacted(&mut back, &original);
        assert_eq!(back, original);
        // A secret the current config does not have is removed, not set to the placeholder.
        let mut new = json!({"mqtt": {"password": REDACTED}});
        restore_redacted(&mut new, &json!({"mqtt": {}}));
        assert_eq!(new, json!({"mqtt": {}}));
    }

    #[test]
    fn the_hash_is_stable_and_canonical() {
        let a = json!({"b": 1, "a": {"y": [1, 2.5, "x"], "x": null}});
        let b: Value =
            serde_json::from_str(r#"{ "a": { "x": null, "y": [1, 2.5, "x"] }, "b": 1 }"#).unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,2.5,"x"]},"b":1}"#
        );
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_eq!(config_hash(&a).len(), 64);
        assert_ne!(config_hash(&a), config_hash(&json!({"b": 2})));
        // Known answer: SHA-256 of "{}".
        assert_eq!(
            config_hash(&json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        // The same configuration always hashes the same; a change changes it.
        let c1 = Config::parse("[analytics]\nwindow_s = 30\n", "t").unwrap();
        let c2 = Config::parse("[analytics]\nwindow_s = 30\n", "t").unwrap();
        assert_eq!(EffectiveConfig::new(&c1), EffectiveConfig::new(&c2));
        let c3 = Config::parse("[analytics]\nwindow_s = 60\n", "t").unwrap();
        assert_ne!(
            EffectiveConfig::new(&c1).hash,
            EffectiveConfig::new(&c3).hash
        );
        let msg: ConfigMessage =
            serde_json::from_slice(&EffectiveConfig::new(&c1).message()).unwrap();
        assert_eq!(msg.hash, EffectiveConfig::new(&c1).hash);
        assert_eq!(msg.config["analytics"]["window_s"], 30);
    }

    #[test]
    fn odd_requests_never_panic() {
        // A deterministic sweep of hostile inputs: every verb (and unknown ones) with bytes that
        // are not UTF-8, deep nesting, huge numbers, wrong types and near-miss shapes.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_obj = format!("{}{}", "{\"config\":".repeat(200), "}".repeat(200));
        let payloads: Vec<Vec<u8>> = vec![
            vec![],
            vec![0; 17],
            vec![0xff; 64],
            b"null".to_vec(),
            b"1e999999".to_vec(),
            b"\"config\"".to_vec(),
            b"{\"config\":null}".to_vec(),
            b"{\"config\":{},\"restart\":\"yes\"}".to_vec(),
            b"{\"zones\":{},\"lines\":[]}".to_vec(),
            b"{\"zones\":[1,2,3],\"lines\":[null],\"if_hash\":7}".to_vec(),
            deep.into_bytes(),
            deep_obj.into_bytes(),
        ];
        let verbs = [
            "ping",
            "config/get",
            "config/set",
            "zones/set",
            "restart",
            "",
            "/",
            "config/",
            "cmd/ping",
            "\u{0}",
            "ping/extra",
            "Ping",
        ];
        let auths = [
            all(),
            Authorizer::new(CommandMode::ReadOnly, Some("0123456789abcdef".into())),
        ];
        for auth in &auths {
            for verb in verbs {
                for p in &payloads {
                    for token in [None, Some(""), Some("0123456789abcdef")] {
                        match check_request(auth, verb, p, token) {
                            Ok(action) => {
                                assert_eq!(action.verb().as_str(), verb);
                                if let Action::ConfigSet(set) = &action {
                                    let mut v = set.config.clone();
                                    redact(&mut v);
                                    restore_redacted(&mut v, &set.config);
                                    let _ = config_hash(&v);
                                }
                            }
                            Err(e) => {
                                let reply = Reply::error(Some(verb), e);
                                assert!(!reply.to_json().is_empty());
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn response_topics() {
        assert!(is_publishable_topic("reply/abc"));
        for bad in ["", "a/+/b", "a/#", "nul\0"] {
            assert!(!is_publishable_topic(bad), "{bad:?}");
        }
    }
}
