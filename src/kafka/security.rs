//! TLS and SASL settings for every librdkafka client klag creates.
//!
//! [`Security`] is plain data: `main.rs` fills it from the command line and the
//! environment (a configuration file may fill the same fields), then calls
//! [`Security::validate`]. Passwords are held in [`Secret`], whose `Debug`
//! prints `[redacted]` and which has no `Display`, so a `{:?}` of the whole
//! configuration cannot leak them.

use std::path::PathBuf;

/// A password. Read it with [`Secret::expose`], only to hand it to librdkafka.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    /// librdkafka's spelling, e.g. `sasl_ssl`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Plaintext => "plaintext",
            Protocol::Ssl => "ssl",
            Protocol::SaslPlaintext => "sasl_plaintext",
            Protocol::SaslSsl => "sasl_ssl",
        }
    }

    /// SASL authentication.
    pub fn sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }

    /// TLS encryption.
    pub fn tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::SaslSsl)
    }
}

/// librdkafka's `sasl.mechanisms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    /// Kerberos; needs the `gssapi` build feature.
    Gssapi,
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Gssapi => "GSSAPI",
        }
    }
}

/// How to authenticate to the brokers and protect the connections.
/// `Default` is plaintext without authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    /// `None`: inferred, see [`Security::protocol`].
    pub protocol: Option<Protocol>,
    pub sasl_mechanism: Option<SaslMechanism>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// CA certificate(s) (PEM) that broker certificates must chain to.
    pub ssl_ca: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that ask for one.
    pub ssl_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub ssl_key: Option<PathBuf>,
    pub ssl_key_password: Option<Secret>,
    /// Accept a broker certificate that does not name the address klag
    /// connected to (it must still chain to the CA).
    pub ssl_skip_hostname_verification: bool,
}

impl Security {
    /// Passwords do not count: they come from environment variables that may
    /// be set for other clusters too.
    fn sasl_given(&self) -> bool {
        self.sasl_mechanism.is_some() || self.sasl_username.is_some()
    }

    fn tls_given(&self) -> bool {
        self.ssl_ca.is_some()
            || self.ssl_cert.is_some()
            || self.ssl_key.is_some()
            || self.ssl_skip_hostname_verification
    }

    /// The protocol: the explicit one, else inferred from the other settings:
    /// a SASL mechanism or username means SASL, a CA, client certificate, key
    /// or skipping hostname verification means TLS; both mean sasl_ssl,
    /// neither plaintext. Passwords do not count.
    pub fn protocol(&self) -> Protocol {
        self.protocol.unwrap_or(match (self.sasl_given(), self.tls_given()) {
            (true, true) => Protocol::SaslSsl,
            (true, false) => Protocol::SaslPlaintext,
            (false, true) => Protocol::Ssl,
            (false, false) => Protocol::Plaintext,
        })
    }

    /// Checks that the settings fit together. Messages never contain a secret.
    pub fn validate(&self) -> Result<(), String> {
        let protocol = self.protocol();
        if (self.sasl_given() || self.sasl_password.is_some()) && !protocol.sasl() {
            return Err(format!(
                "SASL settings (--sasl-mechanism, --sasl-username, --sasl-password-file) need --security-protocol \
                 sasl-plaintext or sasl-ssl, not {}",
                cli_name(protocol)
            ));
        }
        if self.tls_given() && !protocol.tls() {
            return Err(format!(
                "TLS settings (--ssl-*) need --security-protocol ssl or sasl-ssl, not {}",
                cli_name(protocol)
            ));
        }
        if self.ssl_cert.is_some() != self.ssl_key.is_some() {
            return Err("--ssl-cert and --ssl-key go together: give both or neither".to_string());
        }
        if self.ssl_key_password.is_some() && self.ssl_key.is_none() {
            return Err("a TLS key password (KLAG_SSL_KEY_PASSWORD or --ssl-key-password-file) needs --ssl-key".into());
        }
        if !protocol.sasl() {
            return Ok(());
        }
        match self.sasl_mechanism {
            None => Err(format!(
                "--security-protocol {} needs --sasl-mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI)",
                cli_name(protocol)
            )),
            Some(SaslMechanism::Gssapi) if !cfg!(feature = "gssapi") => Err(
                "--sasl-mechanism GSSAPI needs a klag built with the `gssapi` feature (cargo build --features gssapi)"
                    .to_string(),
            ),
            Some(SaslMechanism::Gssapi) if self.sasl_password.is_some() => {
                Err("--sasl-mechanism GSSAPI authenticates with Kerberos, not a password: set the keytab with \
                 -X sasl.kerberos.keytab=FILE and the principal with -X sasl.kerberos.principal=NAME"
                    .to_string())
            }
            Some(SaslMechanism::Gssapi) => Ok(()),
            Some(m) if self.sasl_username.is_none() || self.sasl_password.is_none() => Err(format!(
                "--sasl-mechanism {} needs a username (--sasl-username or KLAG_SASL_USERNAME) and a password \
                 (KLAG_SASL_PASSWORD or --sasl-password-file)",
                m.name()
            )),
            Some(_) => Ok(()),
        }
    }

    /// The librdkafka properties for these settings: `(key, value, secret)`.
    pub fn properties(&self) -> Vec<(&'static str, String, bool)> {
        let mut props = vec![("security.protocol", self.protocol().name().to_string(), false)];
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        let optional = [
            ("sasl.mechanisms", self.sasl_mechanism.map(|m| m.name().to_string()), false),
            ("sasl.username", self.sasl_username.clone(), false),
            ("sasl.password", self.sasl_password.as_ref().map(|s| s.expose().to_string()), true),
            ("ssl.ca.location", self.ssl_ca.as_ref().map(path), false),
            ("ssl.certificate.location", self.ssl_cert.as_ref().map(path), false),
            ("ssl.key.location", self.ssl_key.as_ref().map(path), false),
            ("ssl.key.password", self.ssl_key_password.as_ref().map(|s| s.expose().to_string()), true),
            (
                "ssl.endpoint.identification.algorithm",
                self.ssl_skip_hostname_verification.then(|| "none".into()),
                false,
            ),
        ];
        props.extend(optional.into_iter().filter_map(|(k, v, secret)| v.map(|v| (k, v, secret))));
        props
    }
}

/// The protocol as `--security-protocol` spells it.
fn cli_name(p: Protocol) -> String {
    p.name().replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scram() -> Security {
        Security {
            sasl_mechanism: Some(SaslMechanism::ScramSha256),
            sasl_username: Some("alice".into()),
            sasl_password: Some(Secret::new("hunter2")),
            ..Security::default()
        }
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = format!("{:?}", scram());
        assert!(s.contains("[redacted]") && !s.contains("hunter2"), "{s}");
    }

    #[test]
    fn protocol_is_inferred() {
        assert_eq!(Security::default().protocol(), Protocol::Plaintext);
        assert_eq!(scram().protocol(), Protocol::SaslPlaintext);
        let tls = Security { ssl_ca: Some("ca.pem".into()), ..Security::default() };
        assert_eq!(tls.protocol(), Protocol::Ssl);
        let skip = Security { ssl_skip_hostname_verification: true, ..Security::default() };
        assert_eq!(skip.protocol(), Protocol::Ssl);
        let password_only = Security { sasl_password: Some(Secret::new("x")), ..Security::default() };
        assert_eq!(password_only.protocol(), Protocol::Plaintext);
        let both = Security { ssl_ca: Some("ca.pem".into()), ..scram() };
        assert_eq!(both.protocol(), Protocol::SaslSsl);
        let explicit = Security { protocol: Some(Protocol::SaslSsl), ..scram() };
        assert_eq!(explicit.protocol(), Protocol::SaslSsl);
        assert_eq!(Security { protocol: Some(Protocol::Ssl), ..Security::default() }.protocol(), Protocol::Ssl);
    }

    #[test]
    fn valid_settings() {
        assert_eq!(Security::default().validate(), Ok(()));
        assert_eq!(scram().validate(), Ok(()));
        let mtls = Security {
            ssl_cert: Some("c.pem".into()),
            ssl_key: Some("k.pem".into()),
            ssl_key_password: Some(Secret::new("pw")),
            ..scram()
        };
        assert_eq!(mtls.validate(), Ok(()));
        assert_eq!(Security { protocol: Some(Protocol::Ssl), ..Security::default() }.validate(), Ok(()));
    }

    #[test]
    fn contradictions_are_errors() {
        let e = |s: Security| s.validate().err().unwrap_or_default();
        assert!(e(Security { protocol: Some(Protocol::Plaintext), ..scram() }).contains("need --security-protocol"));
        let password_only = Security { sasl_password: Some(Secret::new("x")), ..Security::default() };
        assert!(e(password_only).contains("--sasl-password-file) need"));
        let tls_on_sasl_plaintext =
            Security { protocol: Some(Protocol::SaslPlaintext), ssl_ca: Some("ca".into()), ..scram() };
        assert!(e(tls_on_sasl_plaintext).contains("ssl or sasl-ssl, not sasl-plaintext"));
        assert!(e(Security { sasl_mechanism: None, ..scram() }).contains("needs --sasl-mechanism"));
        assert!(e(Security { sasl_password: None, ..scram() }).contains("needs a username"));
        assert!(e(Security { sasl_username: None, ..scram() }).contains("needs a username"));
        assert!(e(Security { ssl_cert: Some("c".into()), ..Security::default() }).contains("go together"));
        assert!(e(Security { ssl_key_password: Some(Secret::new("x")), ..Security::default() }).contains("--ssl-key"));
        let gssapi = Security { sasl_mechanism: Some(SaslMechanism::Gssapi), ..scram() };
        let msg = e(gssapi);
        assert!(msg.contains("GSSAPI") && !msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn properties_mark_secrets() {
        let s = Security { ssl_skip_hostname_verification: true, ..scram() };
        let props = s.properties();
        let get = |k: &str| props.iter().find(|p| p.0 == k).map(|p| (p.1.as_str(), p.2));
        assert_eq!(get("security.protocol"), Some(("sasl_ssl", false)));
        assert_eq!(get("sasl.mechanisms"), Some(("SCRAM-SHA-256", false)));
        assert_eq!(get("sasl.password"), Some(("hunter2", true)));
        assert_eq!(get("ssl.endpoint.identification.algorithm"), Some(("none", false)));
        assert_eq!(get("ssl.ca.location"), None);
        assert_eq!(Security::default().properties(), vec![("security.protocol", "plaintext".to_string(), false)]);
    }
}
