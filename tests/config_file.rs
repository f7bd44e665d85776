//! The configuration file through the real binary: named clusters, the
//! default XDG path, and precedence command line > environment > file, with
//! a real Kafka group whose lag decides the exit code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = klag();
    cmd.env("XDG_CONFIG_HOME", dir).env("HOME", dir);
    for k in ["KLAG_CONFIG", "KLAG_CLUSTER", "KLAG_WARN", "KLAG_CRIT", "KLAG_TIMEOUT"] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).timeout(Duration::from_secs(60)).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn clusters_and_precedence_command_line_then_environment_then_file() {
    let Some(b) = service("KLAG_TEST_KAFKA39") else { return };
    let topic = unique("cfg");
    let group = unique("cfg-g");
    create_topic(&b, &topic, 1);
    produce(&b, &topic, &[50]);
    commit(&b, &group, &[(&topic, 0, 30)]); // lag 20
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klag.toml");
    std::fs::write(
        &file,
        format!(
            "cluster = \"dead\"\n[defaults]\ntimeout = \"20s\"\nwarn = 10\n\
             [clusters.prod]\nbootstrap_server = \"{b}\"\ncrit = 1000\n\
             [clusters.dead]\nbootstrap_server = \"127.0.0.1:1\"\ntimeout = \"2s\"\n"
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let g = format!("^{group}$");
    let base = ["--config", f, "--group", &g, "--format", "nagios"];
    // The file's cluster and its thresholds: lag 20 >= warn 10.
    let (code, out, err) = run(dir.path(), &[&base[..], &["--cluster", "prod"]].concat(), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&format!("'{group} max_lag'=20;10;1000;0")), "{out}");
    // The environment beats the file...
    let (code, out, _) = run(dir.path(), &base, &[("KLAG_CLUSTER", "prod"), ("KLAG_WARN", "100")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("=20;100;1000;0"), "{out}");
    // ...and the command line beats the environment.
    let (code, out, _) =
        run(dir.path(), &[&base[..], &["--cluster", "prod", "--warn", "5"]].concat(), &[("KLAG_WARN", "100")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("=20;5;1000;0"), "{out}");
    // --bootstrap-server on the command line beats the file's default cluster.
    let (code, out, _) = run(dir.path(), &[&base[..], &["-b", &b]].concat(), &[]);
    assert_eq!(code, 1, "{out}");
    // The file's default cluster is unreachable: its own 2 s timeout applies.
    let start = std::time::Instant::now();
    let (code, out, _) = run(dir.path(), &base, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(start.elapsed() < Duration::from_secs(4), "{:?}", start.elapsed());
}

/// The file's security table reaches the client: a wrong CA through the
/// file fails the TLS handshake; the same file without it is a usage error
/// only for contradicting settings.
#[test]
fn security_settings_come_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klag.toml");
    std::fs::write(
        &file,
        "[clusters.x]\nbootstrap_server = \"127.0.0.1:1\"\ntimeout = \"2s\"\n\
         security = { protocol = \"sasl-plaintext\", sasl_mechanism = \"scram-sha-512\" }\n",
    )
    .unwrap();
    // SASL from the file but no username: the security check names it.
    let (code, _, err) = run(dir.path(), &["--config", file.to_str().unwrap(), "--cluster", "x"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("username"), "{err}");
    std::fs::write(&file, "[clusters.x]\nsecurity = { protocol = \"smoke-signals\" }\n").unwrap();
    let (code, _, err) = run(dir.path(), &["--config", file.to_str().unwrap(), "--cluster", "x"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("security.protocol"), "{err}");
}

#[test]
fn the_default_path_is_under_xdg_config_home() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("klag")).unwrap();
    std::fs::write(
        dir.path().join("klag/config.toml"),
        "[defaults]\nbootstrap_server = \"127.0.0.1:1\"\ntimeout = \"1s\"\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &["--format", "json"], &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    // No file at all: the usual error for a missing source.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(empty.path(), &["--format", "json"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no source given"), "{err}");
}

#[test]
fn bad_files_are_usage_errors_that_name_the_file_and_never_echo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klag.toml");
    let f = file.to_str().unwrap().to_string();
    let check = |text: &str, args: &[&str], expect: &str| {
        std::fs::write(&file, text).unwrap();
        let (code, out, err) = run(dir.path(), args, &[]);
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(expect), "{text}: {err}");
        assert!(!out.contains("canary-3141") && !err.contains("canary-3141"), "{err}");
    };
    check(
        "[clusters.a]\nbootstrap_server = \"x:1\"\n",
        &["--config", &f, "--cluster", "b"],
        "no cluster \"b\" (defined: a)",
    );
    check("[clusters.a]\nbootstrap = \"x:1\"\n", &["--config", &f], "unknown field `bootstrap`");
    check("[clusters.a]\nbootstrap = \"x:1\"\n", &["--config", &f], "(line 2)");
    check("[clusters.a\n", &["--config", &f], &f);
    check(
        "[clusters.a.security]\nsasl_password = \"canary-3141\"\n",
        &["--config", &f, "--cluster", "a"],
        "secrets never go in the configuration file",
    );
    check("[defaults]\nwarn = \"canary-3141\"\n", &["--config", &f], &f);
    check(
        "[defaults]\nproperties = { \"sasl.password\" = \"canary-3141\" }\n",
        &["--config", &f],
        &format!("{f}: properties.sasl.password: secrets never go in the configuration file"),
    );
    check("[defaults]\ntimeout = \"soon\"\nbootstrap_server = \"x:1\"\n", &["--config", &f], &format!("{f}: timeout"));
    let (code, _, err) = run(dir.path(), &["--config", "/nonexistent/klag.toml"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read --config /nonexistent/klag.toml"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(empty.path(), &["--cluster", "prod"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--cluster \"prod\" given but no configuration file was found"), "{err}");
}
