//! `[commands]`: which commands the device accepts over MQTT
//! (`aisle/v1/<site>/<device>/cmd/<verb>`) and the token a request must carry.
//!
//! The token itself never appears in the configuration: `token_file` names a file in the
//! credentials directory (like a camera's `credentials`), read when the link starts.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Which command verbs are executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandMode {
    /// No command is executed; every request gets a `forbidden` error reply.
    Off,
    /// `ping` and `config/get` only (the default): nothing can be changed remotely.
    #[default]
    ReadOnly,
    /// Every verb, including `config/set`, `zones/set` and `restart`.
    All,
}

impl CommandMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            CommandMode::Off => "off",
            CommandMode::ReadOnly => "read-only",
            CommandMode::All => "all",
        }
    }
}

/// `[commands]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// `off`, `read-only` (default) or `all`.
    pub mode: CommandMode,
    /// Name of a file in the credentials directory holding the command token (one line); when
    /// set, every request must carry it as the MQTT 5 user property `token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

/// Shortest accepted command token, bytes.
pub const MIN_TOKEN_BYTES: usize = 16;

impl CommandsConfig {
    pub(crate) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        if let Some(name) = &self.token_file {
            if !crate::is_file_name(name) {
                return Err(ConfigError::Invalid {
                    origin: origin.to_string(),
                    key: "commands.token_file",
                    value: format!("{name:?}"),
                    reason: "must be a file name in the credentials directory (letters, digits, `_ - . @`), not a path".into(),
                });
            }
        }
        Ok(())
    }
}

impl crate::Config {
    /// The command token from `commands.token_file` (its first line, at least
    /// [`MIN_TOKEN_BYTES`] long), `None` when no file is named. Errors never contain the token.
    pub fn command_token(&self) -> Result<Option<String>, ConfigError> {
        let Some(name) = &self.commands.token_file else {
            return Ok(None);
        };
        let fail = |detail: String| ConfigError::CommandToken {
            file: name.clone(),
            detail,
        };
        let Some(dir) = self.credentials_dir() else {
            return Err(fail(format!(
                "needs a credentials directory: set `runtime.credentials_dir`, or run under systemd with `LoadCredential={name}:/path/to/file` (which sets ${})",
                crate::CREDENTIALS_DIR_ENV
            )));
        };
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.len() < MIN_TOKEN_BYTES {
            return Err(fail(format!(
                "{} must hold a token of at least {MIN_TOKEN_BYTES} characters on its first line",
                path.display()
            )));
        }
        Ok(Some(token.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use crate::{CommandMode, Config};

    #[test]
    fn commands_default_to_read_only_without_token() {
        let c = Config::parse("", "t.toml").unwrap();
        assert_eq!(c.commands.mode, CommandMode::ReadOnly);
        assert_eq!(c.command_token().unwrap(), None);
        let c = Config::parse("[commands]\nmode = \"all\"\n", "t.toml").unwrap();
        assert_eq!(c.commands.mode, CommandMode::All);
        let c = Config::parse("[commands]\nmode = \"off\"\n", "t.toml").unwrap();
        assert_eq!(c.commands.mode, CommandMode::Off);
        let e = Config::parse("[commands]\nmode = \"readonly\"\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("read-only"), "{e}");
        let e = Config::parse("[commands]\ntoken_file = \"../x\"\n", "t.toml").unwrap_err();
        assert_eq!(e.path().as_deref(), Some("commands.token_file"));
    }

    #[test]
    fn the_token_comes_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cmd-token"), "0123456789abcdef-secret\n").unwrap();
        std::fs::write(dir.path().join("short"), "abc\n").unwrap();
        let text = |f: &str| {
            format!(
                "[runtime]\ncredentials_dir = \"{}\"\n[commands]\nmode = \"all\"\ntoken_file = \"{f}\"\n",
                dir.path().display()
            )
        };
        let c = Config::parse(&text("cmd-token"), "t.toml").unwrap();
        assert_eq!(
            c.command_token().unwrap().as_deref(),
            Some("0123456789abcdef-secret")
        );
        let e = Config::parse(&text("short"), "t.toml")
            .unwrap()
            .command_token()
            .unwrap_err();
        assert!(e.to_string().contains("at least 16"), "{e}");
        assert!(!e.to_string().contains("abc\n"));
        let e = Config::parse(&text("missing"), "t.toml")
            .unwrap()
            .command_token()
            .unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
