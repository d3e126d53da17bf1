//! How the device proves who it is to the broker and checks the broker: TLS (RFC 8446/5246
//! through rustls, always with the `ring` provider passed explicitly, never a process-wide
//! default), mutual TLS with a client certificate, and an MQTT user name and password read from a
//! file (MQTT 5.0 §3.1.3.5-6).
//!
//! Files are loaded once, at start-up, by [`MqttSecurity::load`]; every error names the setting
//! (`mqtt.ca_file`, or `--ca-file` for `aisle watch`) and the file's path, and never contains a
//! secret: [`Credentials`]' `Debug` hides the password, and key files are never quoted.
//!
//! PEM files hold `CERTIFICATE` blocks (`ca_file`, `client_cert_file`: the device's certificate
//! first, then intermediates) or one private key (`client_key_file`: `PRIVATE KEY` (PKCS#8),
//! `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1)). Without a CA file the broker is checked
//! against the system's trust store (`rustls-native-certs`: `/etc/ssl/certs` on Debian/L4T).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// A setting that names a file, and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSetting {
    /// How the operator set it: `mqtt.ca_file`, `--ca-file`, ...
    pub key: String,
    pub path: PathBuf,
}

impl FileSetting {
    pub fn new(key: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            key: key.into(),
            path: path.into(),
        }
    }
}

/// The files of [`MqttSecurity::load`]; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityFiles {
    /// TLS at all (`mqtts://`).
    pub tls: bool,
    pub ca_file: Option<FileSetting>,
    pub client_cert_file: Option<FileSetting>,
    pub client_key_file: Option<FileSetting>,
    pub credentials_file: Option<FileSetting>,
}

/// A file could not be used; the message names the setting and the path, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("{key}: cannot read {}: {source}", path.display())]
    Read {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{key}: {}: {reason}", path.display())]
    Invalid {
        key: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Setting(String),
    #[error("no CA certificates in the system's trust store ({0}): install Debian's ca-certificates or set mqtt.ca_file")]
    NoSystemRoots(String),
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
}

/// An MQTT user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// TLS and credentials of a connection; the default is plain TCP, anonymous.
#[derive(Clone, Default)]
pub struct MqttSecurity {
    /// `Some`: TLS with this client configuration (ring provider, roots, client certificate).
    pub tls: Option<Arc<ClientConfig>>,
    pub credentials: Option<Credentials>,
}

impl std::fmt::Debug for MqttSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSecurity")
            .field("tls", &self.tls.is_some())
            .field("client_certificate", &self.has_client_certificate())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl MqttSecurity {
    /// Reads and checks every file of `files` (start-up: all errors come now, not at connect).
    pub fn load(files: &SecurityFiles) -> Result<Self, SecurityError> {
        let credentials = files
            .credentials_file
            .as_ref()
            .map(load_credentials)
            .transpose()?;
        if !files.tls {
            if let Some(f) = [
                &files.ca_file,
                &files.client_cert_file,
                &files.client_key_file,
            ]
            .into_iter()
            .flatten()
            .next()
            {
                return Err(SecurityError::Setting(format!(
                    "{} needs a TLS broker (mqtts://)",
                    f.key
                )));
            }
            return Ok(Self {
                tls: None,
                credentials,
            });
        }
        let roots = match &files.ca_file {
            Some(ca) => load_roots(ca)?,
            None => system_roots()?,
        };
        let client = match (&files.client_cert_file, &files.client_key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(cert), None) => {
                return Err(SecurityError::Setting(format!(
                    "{} needs a private key file as well",
                    cert.key
                )))
            }
            (None, Some(key)) => {
                return Err(SecurityError::Setting(format!(
                    "{} needs a client certificate file as well",
                    key.key
                )))
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = load_certs(cert)?;
                let private = load_key(key)?;
                builder.with_client_auth_cert(chain, private).map_err(|e| {
                    SecurityError::Invalid {
                        key: key.key.clone(),
                        path: key.path.clone(),
                        reason: format!(
                            "not usable with the certificate of {} ({}): {e}",
                            cert.key,
                            cert.path.display()
                        ),
                    }
                })?
            }
        };
        Ok(Self {
            tls: Some(Arc::new(config)),
            credentials,
        })
    }

    /// Whether a client certificate is presented (mutual TLS).
    pub fn has_client_certificate(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|c| c.client_auth_cert_resolver.has_certs())
    }
}

fn read(f: &FileSetting) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(&f.path).map_err(|source| SecurityError::Read {
        key: f.key.clone(),
        path: f.path.clone(),
        source,
    })
}

fn invalid(f: &FileSetting, reason: impl Into<String>) -> SecurityError {
    SecurityError::Invalid {
        key: f.key.clone(),
        path: f.path.clone(),
        reason: reason.into(),
    }
}

/// Every `CERTIFICATE` block of a PEM file (at least one).
fn load_certs(f: &FileSetting) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let pem = read(f)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(f, format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            f,
            "no certificate in it (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
        ));
    }
    Ok(certs)
}

/// The trust anchors of a CA file.
fn load_roots(f: &FileSetting) -> Result<RootCertStore, SecurityError> {
    let mut roots = RootCertStore::empty();
    for (k, cert) in load_certs(f)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            invalid(
                f,
                format!("certificate {} is not usable as a CA: {e}", k + 1),
            )
        })?;
    }
    Ok(roots)
}

/// The first private key of a PEM file. The error never quotes the file.
fn load_key(f: &FileSetting) -> Result<PrivateKeyDer<'static>, SecurityError> {
    let pem = read(f)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => invalid(
            f,
            "no private key in it (expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)",
        ),
        _ => invalid(f, "not a valid PEM private key file"),
    })
}

/// The system's trust store.
fn system_roots() -> Result<RootCertStore, SecurityError> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "system trust store: a certificate source failed");
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_string(), ToString::to_string);
        return Err(SecurityError::NoSystemRoots(why));
    }
    Ok(roots)
}

/// Reads a credentials file: one line `user:password`, or the lines `username=...` and
/// `password=...` (in any order; blank lines and `#` comments ignored). A trailing newline (and
/// `\r`) is not part of the password; nothing else is trimmed.
pub fn load_credentials(f: &FileSetting) -> Result<Credentials, SecurityError> {
    let bytes = read(f)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid(f, "is not UTF-8 text"))?;
    parse_credentials(&text).map_err(|reason| invalid(f, reason))
}

/// The credentials in `text` (see [`load_credentials`]); the error never contains a secret.
pub fn parse_credentials(text: &str) -> Result<Credentials, String> {
    const FORMAT: &str =
        "expected one line `user:password`, or the two lines `username=...` and `password=...`";
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let keyed = |name: &str| -> Result<Option<String>, String> {
        let mut found = None;
        for l in &lines {
            if let Some(v) = l.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                if found.is_some() {
                    return Err(format!("`{name}=` appears twice; {FORMAT}"));
                }
                found = Some(v.to_string());
            }
        }
        Ok(found)
    };
    let (user, pass) = (keyed("username")?, keyed("password")?);
    let (username, password) = match (user, pass) {
        (Some(u), Some(p)) if lines.len() == 2 => (u, p),
        (None, None) if lines.len() == 1 => match lines[0].split_once(':') {
            Some((u, p)) => (u.to_string(), p.to_string()),
            None => return Err(FORMAT.into()),
        },
        (Some(_), None) => return Err(format!("`password=` is missing; {FORMAT}")),
        (None, Some(_)) => return Err(format!("`username=` is missing; {FORMAT}")),
        _ if lines.is_empty() => return Err(format!("the file is empty; {FORMAT}")),
        _ => return Err(format!("{} lines; {FORMAT}", lines.len())),
    };
    if username.is_empty() {
        return Err(format!("the user name is empty; {FORMAT}"));
    }
    if username.len() > 65_535 || password.len() > 65_535 {
        return Err("the user name and the password must be at most 65535 bytes each".into());
    }
    Ok(Credentials { username, password })
}

/// The [`SecurityFiles`] of `[mqtt]` (paths resolved with [`aisle_config::Config::mqtt_file`]).
pub fn files_of_config(config: &aisle_config::Config) -> Result<SecurityFiles, SecurityError> {
    let Some(m) = &config.mqtt else {
        return Ok(SecurityFiles::default());
    };
    let tls = m.broker_addr().map(|a| a.tls).unwrap_or(false);
    let setting = |key: &str, p: &Option<PathBuf>| -> Result<Option<FileSetting>, SecurityError> {
        p.as_deref()
            .map(|p: &Path| {
                config
                    .mqtt_file(key, p)
                    .map(|path| FileSetting::new(key, path))
                    .map_err(SecurityError::Setting)
            })
            .transpose()
    };
    Ok(SecurityFiles {
        tls,
        ca_file: setting("mqtt.ca_file", &m.ca_file)?,
        client_cert_file: setting("mqtt.client_cert_file", &m.client_cert_file)?,
        client_key_file: setting("mqtt.client_key_file", &m.client_key_file)?,
        credentials_file: setting("mqtt.credentials_file", &m.credentials_file)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_file_formats() {
        let c = parse_credentials("device-1:s3cr:et\n").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("device-1", "s3cr:et")
        );
        let c =
            parse_credentials("# for the broker\r\npassword= p w \r\nusername=dev\r\n").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("dev", " p w "));
        assert_eq!(parse_credentials("u:").unwrap().password, "");
        for (bad, why) in [
            ("", "empty"),
            ("\n\n", "empty"),
            ("nocolon\n", "user:password"),
            (":pw\n", "user name is empty"),
            ("username=u\n", "`password=` is missing"),
            ("password=p\n", "`username=` is missing"),
            ("username=u\npassword=p\nusername=v\n", "twice"),
            ("a:b\nc:d\n", "2 lines"),
        ] {
            let e = parse_credentials(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        // No secret in errors or Debug.
        let e = parse_credentials("username=u\npassword=hunter2\nx\n").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn file_errors_name_the_setting_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = FileSetting::new("mqtt.ca_file", dir.path().join("nope.pem"));
        let e = MqttSecurity::load(&SecurityFiles {
            tls: true,
            ca_file: Some(missing),
            ..SecurityFiles::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("mqtt.ca_file: cannot read ") && e.contains("nope.pem"),
            "{e}"
        );

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = MqttSecurity::load(&SecurityFiles {
            tls: true,
            ca_file: Some(FileSetting::new("--ca-file", &junk)),
            ..SecurityFiles::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--ca-file") && e.contains("junk.pem") && e.contains("no certificate"),
            "{e}"
        );

        let secret = dir.path().join("key.pem");
        std::fs::write(
            &secret,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBtYXRlcmlhbA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        // Any PEM private key block is read here; rustls checks it against the certificate.
        assert!(load_key(&FileSetting::new("mqtt.client_key_file", &secret)).is_ok());
        std::fs::write(&secret, "c2VjcmV0\n").unwrap();
        let e = load_key(&FileSetting::new("mqtt.client_key_file", &secret))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mqtt.client_key_file") && e.contains("no private key"),
            "{e}"
        );
        assert!(!e.contains("c2VjcmV0"), "{e}");

        let creds = dir.path().join("mqtt");
        std::fs::write(&creds, "just-a-user\n").unwrap();
        let e = load_credentials(&FileSetting::new("mqtt.credentials_file", &creds))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mqtt.credentials_file") && e.contains("user:password"),
            "{e}"
        );

        let e = MqttSecurity::load(&SecurityFiles {
            tls: false,
            ca_file: Some(FileSetting::new("--ca-file", &junk)),
            ..SecurityFiles::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--ca-file needs a TLS broker"), "{e}");
    }

    #[test]
    fn plain_and_system_roots() {
        let s = MqttSecurity::load(&SecurityFiles::default()).unwrap();
        assert!(s.tls.is_none() && s.credentials.is_none());
        // The system's trust store, when the machine has one (Debian's ca-certificates).
        if Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
            let s = MqttSecurity::load(&SecurityFiles {
                tls: true,
                ..SecurityFiles::default()
            })
            .unwrap();
            assert!(s.tls.is_some() && !s.has_client_certificate());
        }
    }
}
