//! Kafka security: SASL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) and TLS against
//! the real Kafka 3.9 broker's SASL_PLAINTEXT and SSL listeners
//! (scripts/services: KLAG_TEST_KAFKA39_SASL, KLAG_TEST_KAFKA39_SSL,
//! KLAG_TEST_KAFKA39_CA, with the password and client certificate beside the
//! CA), and the promise that a password never appears in klag's output: the
//! real one on success and with `-X debug=all`, a canary on every error path.
//! The tests without a broker always run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The SASL user scripts/services creates.
const USER: &str = "klag";

/// The secured listeners, the plaintext bootstrap for setting up data, and
/// the folder of the CA, SASL password and client certificate.
struct Secured {
    plain: String,
    sasl: String,
    ssl: String,
    secrets: PathBuf,
}

impl Secured {
    fn get() -> Option<Secured> {
        let plain = service("KLAG_TEST_KAFKA39")?;
        let sasl = service("KLAG_TEST_KAFKA39_SASL")?;
        let ssl = service("KLAG_TEST_KAFKA39_SSL")?;
        let ca = PathBuf::from(service("KLAG_TEST_KAFKA39_CA")?);
        let secrets = ca.parent().expect("CA folder").to_path_buf();
        Some(Secured { plain, sasl, ssl, secrets })
    }

    fn file(&self, name: &str) -> String {
        self.secrets.join(name).to_string_lossy().into_owned()
    }

    fn password(&self) -> String {
        std::fs::read_to_string(self.secrets.join("sasl-password")).unwrap().trim_end().to_string()
    }

    fn key_password(&self) -> String {
        std::fs::read_to_string(self.secrets.join("client-key-password")).unwrap().trim_end().to_string()
    }

    /// A topic with partitions of 5 and 3 records and a group committed at 2
    /// and 1 (lags 3 and 2), set up over PLAINTEXT.
    fn group(&self, prefix: &str) -> (String, String) {
        let (topic, group) = (unique(&format!("{prefix}-t")), unique(&format!("{prefix}-g")));
        create_topic(&self.plain, &topic, 2);
        produce(&self.plain, &topic, &[5, 3]);
        commit(&self.plain, &group, &[(&topic, 0, 2), (&topic, 1, 1)]);
        (topic, group)
    }
}

/// A random string no output may contain.
fn canary() -> String {
    unique("canary-7f3a")
}

/// Runs klag with `args` and `env`, nothing security-related inherited.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = klag();
    cmd.args(args).timeout(Duration::from_secs(60));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run klag")
}

fn text(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[track_caller]
fn assert_hidden(out: &Output, secret: &str) {
    assert!(!secret.is_empty());
    let all = text(out);
    assert!(!all.contains(secret), "the secret appears in klag's output:\n{all}");
}

#[track_caller]
fn assert_lags(out: &Output, group: &str, topic: &str) {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {}", text(out)));
    for (partition, committed, end, lag) in [(0, 2, 5, 3), (1, 1, 3, 2)] {
        let r = row(&doc, group, topic, partition);
        assert_eq!((&r["committed"], &r["log_end"], &r["lag"]), (&committed.into(), &end.into(), &lag.into()), "{r}");
    }
    assert_eq!(common::group(&doc, group)["total_lag"], 5);
}

fn exact(group: &str) -> String {
    format!("^{}$", regex_escape(group))
}

fn regex_escape(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_ascii_alphanumeric() { vec![c] } else { vec!['\\', c] }).collect()
}

// ---------------------------------------------------------------------------
// Against the broker

#[test]
fn scram_sha_256_and_512_and_plain_read_exact_lag() {
    let Some(k) = Secured::get() else { return };
    let (topic, group) = k.group("sec-scram");
    let password = k.password();
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] {
        let out = run(
            &[
                "-b",
                &k.sasl,
                "--sasl-mechanism",
                mechanism,
                "--sasl-username",
                USER,
                "-g",
                &exact(&group),
                "-f",
                "json",
            ],
            &[("KLAG_SASL_PASSWORD", &password)],
        );
        assert_lags(&out, &group, &topic);
        assert_hidden(&out, &password);
    }
    // The same from environment variables only, and from a password file.
    let out = run(
        &["-g", &exact(&group), "-f", "json"],
        &[
            ("KLAG_BOOTSTRAP_SERVER", &k.sasl),
            ("KLAG_SECURITY_PROTOCOL", "sasl-plaintext"),
            ("KLAG_SASL_MECHANISM", "scram-sha-512"),
            ("KLAG_SASL_USERNAME", USER),
            ("KLAG_SASL_PASSWORD", &password),
        ],
    );
    assert_lags(&out, &group, &topic);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let out = run(
        &[
            "-b",
            &k.sasl,
            "--sasl-mechanism",
            "SCRAM-SHA-256",
            "--sasl-username",
            USER,
            "--sasl-password-file",
            file.to_str().unwrap(),
            "-g",
            &exact(&group),
            "-f",
            "json",
        ],
        // The file wins over the environment.
        &[("KLAG_SASL_PASSWORD", &canary())],
    );
    assert_lags(&out, &group, &topic);
    assert_hidden(&out, &password);
}

#[test]
fn tls_verifies_the_ca_and_reads_exact_lag() {
    let Some(k) = Secured::get() else { return };
    let (topic, group) = k.group("sec-tls");
    let ca = k.file("ca.pem");
    let out = run(&["-b", &k.ssl, "--ssl-ca", &ca, "-g", &exact(&group), "-f", "json"], &[]);
    assert_lags(&out, &group, &topic);

    // A client certificate whose key is encrypted: the key password from the
    // environment, then from a file.
    let key_password = k.key_password();
    let (cert, key) = (k.file("client.pem"), k.file("client.key"));
    let mtls = ["-b", &k.ssl, "--ssl-ca", &ca, "--ssl-cert", &cert, "--ssl-key", &key, "-g", &exact(&group)];
    let out = run(&[&mtls[..], &["-f", "json"]].concat(), &[("KLAG_SSL_KEY_PASSWORD", &key_password)]);
    assert_lags(&out, &group, &topic);
    assert_hidden(&out, &key_password);
    let pw_file = k.file("client-key-password");
    let out = run(&[&mtls[..], &["--ssl-key-password-file", &pw_file, "-f", "json"]].concat(), &[]);
    assert_lags(&out, &group, &topic);
    assert_hidden(&out, &key_password);

    // A wrong key password: librdkafka cannot load the key; not echoed.
    let wrong = canary();
    let out = run(&[&mtls[..], &["-f", "json"]].concat(), &[("KLAG_SSL_KEY_PASSWORD", &wrong)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ssl.key.location") && stderr.contains(&k.ssl), "{stderr}");
    assert_hidden(&out, &wrong);
}

#[test]
fn tls_with_the_wrong_ca_fails_fast_naming_the_broker() {
    let Some(k) = Secured::get() else { return };
    // The client certificate is no CA: the broker's certificate cannot chain to it.
    let started = Instant::now();
    let out = run(&["-b", &k.ssl, "--ssl-ca", &k.file("client.pem"), "--timeout", "20s", "-f", "json"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate verify failed") && stderr.contains(&format!("ssl://{}", k.ssl)), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}: should not wait for --timeout", started.elapsed());
}

#[test]
fn wrong_password_fails_fast_naming_the_broker_without_echo() {
    let Some(k) = Secured::get() else { return };
    let wrong = canary();
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let started = Instant::now();
        let out = run(
            &["-b", &k.sasl, "--sasl-mechanism", mechanism, "--sasl-username", USER, "--timeout", "20s", "-f", "json"],
            &[("KLAG_SASL_PASSWORD", &wrong)],
        );
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("sasl_plaintext://{}", k.sasl)) && stderr.contains("Authentication failed"),
            "{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}: should not wait for --timeout",
            started.elapsed()
        );
        assert_hidden(&out, &wrong);
        assert_hidden(&out, &k.password());
    }
}

#[test]
fn debug_logs_are_forwarded_and_redacted() {
    let Some(k) = Secured::get() else { return };
    let (topic, group) = k.group("sec-debug");
    let password = k.password();
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let out = run(
            &[
                "-b",
                &k.sasl,
                "--sasl-mechanism",
                mechanism,
                "--sasl-username",
                USER,
                "-X",
                "debug=all",
                "-g",
                &exact(&group),
                "-f",
                "json",
            ],
            &[("KLAG_SASL_PASSWORD", &password)],
        );
        assert_lags(&out, &group, &topic);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // librdkafka's debug lines reach stderr, configuration dump included.
        assert!(stderr.contains("|SASL") && stderr.contains("sasl.password = [redacted]"), "{stderr}");
        assert_hidden(&out, &password);
    }
}

#[test]
fn discovery_through_zookeeper_uses_the_sasl_listener() {
    let Some(k) = Secured::get() else { return };
    let Some(zk) = service("KLAG_TEST_ZK") else { return };
    let (topic, group) = k.group("sec-zk");
    let password = k.password();
    let out = run(
        &[
            "-z",
            &zk,
            "--listener",
            "SASL_PLAINTEXT",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            USER,
            "-g",
            &exact(&group),
            "-f",
            "json",
        ],
        &[("KLAG_SASL_PASSWORD", &password)],
    );
    assert_lags(&out, &group, &topic);
    assert_hidden(&out, &password);

    // The SASL listener without SASL settings: a warning says why it fails.
    let out =
        run(&["-z", &zk, "--listener", "SASL_PLAINTEXT", "-g", &exact(&group), "--timeout", "3s", "-f", "json"], &[]);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listener speaks SASL_PLAINTEXT but klag connects with plaintext"), "{stderr}");
}

#[test]
fn groups_listing_through_sasl() {
    let Some(k) = Secured::get() else { return };
    let (_, group) = k.group("sec-groups");
    let password = k.password();
    let out = run(
        &["groups", "-b", &k.sasl, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", USER, "-f", "json"],
        &[("KLAG_SASL_PASSWORD", &password)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["groups"].as_array().unwrap().iter().any(|g| g["group"] == group.as_str()), "{doc:#}");
    assert_hidden(&out, &password);
}

// ---------------------------------------------------------------------------
// Without a broker

#[test]
fn help_shows_the_options_and_no_password() {
    let secret = canary();
    let out = run(
        &["--help"],
        &[("KLAG_SASL_PASSWORD", &secret), ("KLAG_SSL_KEY_PASSWORD", &secret), ("KLAG_SASL_USERNAME", "alice")],
    );
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for option in ["Kafka security:", "--security-protocol", "--sasl-mechanism", "--sasl-password-file", "--ssl-ca"] {
        assert!(help.contains(option), "{option} missing from --help");
    }
    assert!(help.contains("KLAG_SASL_PASSWORD") && !help.contains("--sasl-password <"));
    assert_hidden(&out, &secret);
}

#[test]
fn secret_properties_are_refused_without_echo() {
    let secret = canary();
    for key in ["sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret"] {
        let out = run(&["-b", "127.0.0.1:1", "-X", &format!("{key}={secret}")], &[]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key) && stderr.contains("secret"), "{stderr}");
        assert_hidden(&out, &secret);
    }
    let out = run(&["-b", "127.0.0.1:1", "-X", &format!("sasl.password={secret}")], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("KLAG_SASL_PASSWORD"));
    // No option takes a password value.
    let out = run(&["-b", "127.0.0.1:1", &format!("--sasl-password={secret}")], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_hidden(&out, &secret);
}

#[test]
fn unreadable_or_empty_password_files_are_usage_errors() {
    let secret = canary();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    for (option, file, what) in [
        ("--sasl-password-file", &missing, "No such file"),
        ("--sasl-password-file", &empty, "is empty"),
        ("--ssl-key-password-file", &missing, "No such file"),
    ] {
        let out = run(
            &["-b", "127.0.0.1:1", "--sasl-mechanism", "PLAIN", "--sasl-username", "u", "--ssl-key", "/dev/null"]
                .into_iter()
                .chain(["--ssl-cert", "/dev/null", option, file.to_str().unwrap()])
                .collect::<Vec<_>>(),
            &[("KLAG_SASL_PASSWORD", &secret), ("KLAG_SSL_KEY_PASSWORD", &secret)],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(file.to_str().unwrap()) && stderr.contains(what), "{stderr}");
        assert_hidden(&out, &secret);
    }
}

#[test]
fn inconsistent_settings_are_usage_errors() {
    let cases: [(&[&str], &str); 5] = [
        (&["--security-protocol", "plaintext", "--sasl-mechanism", "PLAIN"], "need --security-protocol"),
        (&["--security-protocol", "sasl-plaintext", "--ssl-ca", "/dev/null"], "ssl or sasl-ssl"),
        (&["--security-protocol", "sasl-ssl"], "needs --sasl-mechanism"),
        (&["--sasl-mechanism", "SCRAM-SHA-256"], "needs a username"),
        (&["--ssl-ca", "/no/such/ca.pem"], "--ssl-ca: cannot read /no/such/ca.pem"),
    ];
    for (args, message) in cases {
        let out = run(&[&["-b", "127.0.0.1:1"], args].concat(), &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(message), "{args:?}: {}", text(&out));
    }
    // A password in the environment alone turns nothing on: plaintext, no error.
    let out = run(&["-b", "127.0.0.1:1", "--timeout", "1s", "-f", "json"], &[("KLAG_SASL_PASSWORD", "x")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}
