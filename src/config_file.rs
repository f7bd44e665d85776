//! The TOML configuration file: named clusters and defaults.
//!
//! ```toml
//! cluster = "prod"                 # used when --cluster is not given
//!
//! [defaults]                       # any cluster setting, for every cluster
//! timeout = "10s"
//! warn = 1000
//!
//! [clusters.prod]
//! bootstrap_server = "kafka1:9092,kafka2:9092"
//! zookeeper = "zk1:2181/kafka"
//! storm_root = ["/kafkastorm"]
//! crit = 100000
//! warn_seconds = "5m"
//! ```
//!
//! A cluster's settings override `[defaults]`; the command line and `KLAG_*`
//! variables override both (`main.rs` applies that order). Secrets are never
//! written in the file: only the paths of files holding them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One cluster's settings; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    pub bootstrap_server: Option<String>,
    pub zookeeper: Option<String>,
    pub storm_zookeeper: Option<String>,
    pub zk_auth_file: Option<PathBuf>,
    pub storm_root: Option<Vec<String>>,
    pub trident: Option<String>,
    pub classic: Option<bool>,
    pub listener: Option<String>,
    /// `read-uncommitted` or `read-committed`.
    pub isolation: Option<String>,
    /// A duration: `10s`, `500ms`, `2m`.
    pub timeout: Option<String>,
    pub warn: Option<u64>,
    pub crit: Option<u64>,
    pub warn_total: Option<u64>,
    pub crit_total: Option<u64>,
    pub warn_seconds: Option<String>,
    pub crit_seconds: Option<String>,
    /// librdkafka properties, as with -X.
    pub properties: Option<BTreeMap<String, String>>,
    pub security: Option<SecuritySettings>,
}

/// Kafka security; passwords only through files.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub protocol: Option<String>,
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password_file: Option<PathBuf>,
    pub ssl_ca: Option<PathBuf>,
    pub ssl_cert: Option<PathBuf>,
    pub ssl_key: Option<PathBuf>,
    pub ssl_key_password_file: Option<PathBuf>,
    pub ssl_skip_hostname_verification: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The cluster used when --cluster is not given.
    pub cluster: Option<String>,
    #[serde(default)]
    pub defaults: ClusterSettings,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSettings>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigFileError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: no cluster {name:?} (defined: {defined})")]
    NoSuchCluster { path: String, name: String, defined: String },
    #[error("--cluster {name:?} given but no configuration file was found (looked for {path})")]
    NoFile { name: String, path: String },
}

/// Keys that would hold a secret in clear text, and what to use instead.
const SECRET_KEYS: &[(&str, &str)] = &[
    ("sasl_password", "sasl_password_file (or KLAG_SASL_PASSWORD)"),
    ("ssl_key_password", "ssl_key_password_file (or KLAG_SSL_KEY_PASSWORD)"),
    ("password", "a *_password_file key"),
];

impl ConfigFile {
    /// Parses a file's text; `path` names it in errors. The message never
    /// quotes the file's text (a misplaced secret must not be echoed).
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigFileError> {
        let invalid = |message: String| ConfigFileError::Invalid { path: path.display().to_string(), message };
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            let secret = SECRET_KEYS.iter().find(|(k, _)| message.contains(&format!("unknown field `{k}`")));
            let at = e.span().map(|s| format!(" (line {})", line_of(text, s.start))).unwrap_or_default();
            match secret {
                Some((key, instead)) => invalid(format!(
                    "`{key}` is not allowed: secrets never go in the configuration file; use {instead}{at}"
                )),
                None => invalid(format!("{}{at}", redact_quoted(first_line(&message)))),
            }
        })?;
        Ok(file)
    }

    /// The settings of `name` (or of the file's default cluster) over
    /// `[defaults]`.
    pub fn settings(&self, name: Option<&str>, path: &Path) -> Result<ClusterSettings, ConfigFileError> {
        let Some(name) = name.or(self.cluster.as_deref()) else { return Ok(self.defaults.clone()) };
        let cluster = self.clusters.get(name).ok_or_else(|| ConfigFileError::NoSuchCluster {
            path: path.display().to_string(),
            name: name.to_string(),
            defined: if self.clusters.is_empty() {
                "none".to_string()
            } else {
                self.clusters.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })?;
        Ok(cluster.clone().over(&self.defaults))
    }
}

impl ClusterSettings {
    /// These settings, with what they leave unset taken from `base`.
    fn over(self, base: &ClusterSettings) -> ClusterSettings {
        let b = base.clone();
        ClusterSettings {
            bootstrap_server: self.bootstrap_server.or(b.bootstrap_server),
            zookeeper: self.zookeeper.or(b.zookeeper),
            storm_zookeeper: self.storm_zookeeper.or(b.storm_zookeeper),
            zk_auth_file: self.zk_auth_file.or(b.zk_auth_file),
            storm_root: self.storm_root.or(b.storm_root),
            trident: self.trident.or(b.trident),
            classic: self.classic.or(b.classic),
            listener: self.listener.or(b.listener),
            isolation: self.isolation.or(b.isolation),
            timeout: self.timeout.or(b.timeout),
            warn: self.warn.or(b.warn),
            crit: self.crit.or(b.crit),
            warn_total: self.warn_total.or(b.warn_total),
            crit_total: self.crit_total.or(b.crit_total),
            warn_seconds: self.warn_seconds.or(b.warn_seconds),
            crit_seconds: self.crit_seconds.or(b.crit_seconds),
            properties: match (self.properties, b.properties) {
                (Some(mine), Some(mut all)) => {
                    all.extend(mine);
                    Some(all)
                }
                (mine, all) => mine.or(all),
            },
            security: match (self.security, b.security) {
                (Some(mine), Some(all)) => Some(mine.over(all)),
                (mine, all) => mine.or(all),
            },
        }
    }
}

impl SecuritySettings {
    fn over(self, b: SecuritySettings) -> SecuritySettings {
        SecuritySettings {
            protocol: self.protocol.or(b.protocol),
            sasl_mechanism: self.sasl_mechanism.or(b.sasl_mechanism),
            sasl_username: self.sasl_username.or(b.sasl_username),
            sasl_password_file: self.sasl_password_file.or(b.sasl_password_file),
            ssl_ca: self.ssl_ca.or(b.ssl_ca),
            ssl_cert: self.ssl_cert.or(b.ssl_cert),
            ssl_key: self.ssl_key.or(b.ssl_key),
            ssl_key_password_file: self.ssl_key_password_file.or(b.ssl_key_password_file),
            ssl_skip_hostname_verification: self.ssl_skip_hostname_verification.or(b.ssl_skip_hostname_verification),
        }
    }
}

/// serde quotes a mistyped value (`invalid type: string "...", expected
/// u64`, Debug-escaped): a secret in the wrong key must not reach the
/// terminal, so the quoted value is elided.
fn redact_quoted(message: &str) -> String {
    const MARK: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        let (head, tail) = rest.split_at(at + MARK.len());
        out.push_str(head);
        out.push_str("...\"");
        // Skip to the closing quote; `\\` and `\"` are escapes inside.
        let mut escaped = false;
        let close = tail.char_indices().find(|&(_, c)| {
            let end = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            end
        });
        rest = close.map_or("", |(i, _)| &tail[i + 1..]);
    }
    out.push_str(rest);
    out
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// Where the file is looked for without --config:
/// `$XDG_CONFIG_HOME/klag/config.toml`, else `$HOME/.config/klag/config.toml`.
pub fn default_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty());
    match (non_empty("XDG_CONFIG_HOME"), non_empty("HOME")) {
        (Some(x), _) => Some(PathBuf::from(x).join("klag/config.toml")),
        (None, Some(h)) => Some(PathBuf::from(h).join(".config/klag/config.toml")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigFileError> {
        ConfigFile::parse(text, Path::new("/etc/klag.toml"))
    }

    const SAMPLE: &str = r#"
cluster = "prod"
[defaults]
timeout = "5s"
warn = 10
properties = { "socket.keepalive.enable" = "true", "client.id" = "klag" }
security = { protocol = "sasl-plaintext", sasl_username = "mon" }

[clusters.prod]
bootstrap_server = "k1:9092,k2:9092"
storm_root = ["/a", "/b"]
warn = 100
crit_seconds = "5m"
properties = { "client.id" = "klag-prod" }
security = { sasl_mechanism = "SCRAM-SHA-512", sasl_password_file = "/etc/klag/pw" }

[clusters.test]
zookeeper = "zk:2181/kafka"
"#;

    #[test]
    fn a_cluster_overrides_the_defaults() {
        let f = parse(SAMPLE).unwrap();
        let p = Path::new("f");
        let prod = f.settings(None, p).unwrap();
        assert_eq!(prod.bootstrap_server.as_deref(), Some("k1:9092,k2:9092"));
        assert_eq!((prod.warn, prod.timeout.as_deref()), (Some(100), Some("5s")));
        assert_eq!(prod.storm_root, Some(vec!["/a".to_string(), "/b".to_string()]));
        let props = prod.properties.unwrap();
        assert_eq!(props["client.id"], "klag-prod");
        assert_eq!(props["socket.keepalive.enable"], "true");
        let sec = prod.security.unwrap();
        assert_eq!(sec.sasl_username.as_deref(), Some("mon"));
        assert_eq!(sec.sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
        let test = f.settings(Some("test"), p).unwrap();
        assert_eq!((test.bootstrap_server, test.warn), (None, Some(10)));
        assert_eq!(f.settings(Some("qa"), p).unwrap_err().to_string(), "f: no cluster \"qa\" (defined: prod, test)");
        assert_eq!(parse("").unwrap().settings(None, p).unwrap(), ClusterSettings::default());
    }

    #[test]
    fn errors_name_the_file_and_line_and_never_echo_secrets() {
        let e = parse("[clusters.a]\nbootstrap = \"x\"\n").unwrap_err().to_string();
        assert!(e.starts_with("/etc/klag.toml: unknown field `bootstrap`"), "{e}");
        assert!(e.ends_with("(line 2)"), "{e}");
        let e = parse("[clusters.a.security]\nsasl_password = \"hunter2-canary\"\n").unwrap_err().to_string();
        assert!(e.contains("`sasl_password` is not allowed") && e.contains("sasl_password_file"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse("warn = \"hunter2-canary\"").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse("[defaults]\nwarn = \"a\\\"hunter2\\\\\"\n").unwrap_err().to_string();
        assert!(!e.contains("hunter2") && e.contains("string \"...\""), "{e}");
        assert_eq!(redact_quoted("expected `\"`"), "expected `\"`");
        assert!(parse("[clusters.a]\nwarn = -1\n").is_err());
        assert!(parse("not toml at all [").is_err());
    }

    /// Found by the config_file fuzz target (a harness bug: its check took
    /// TOML's own `"` token for a quoted value): an unterminated string.
    #[test]
    fn fuzz_unterminated_string_is_reported_without_its_text() {
        let input = include_str!("../fuzz/regressions/config_file/harness-75fa27d9dfebd14bb0125cae9f1871171642fadc");
        let e = parse(input).unwrap_err().to_string();
        assert!(e.starts_with("/etc/klag.toml: invalid basic string") && !e.contains("x*"), "{e}");
    }

    #[test]
    fn default_path_follows_xdg() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let xdg = env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(default_path(&xdg), Some(PathBuf::from("/x/klag/config.toml")));
        let home = env(&[("XDG_CONFIG_HOME", ""), ("HOME", "/h")]);
        assert_eq!(default_path(&home), Some(PathBuf::from("/h/.config/klag/config.toml")));
        assert_eq!(default_path(&env(&[])), None);
    }
}
