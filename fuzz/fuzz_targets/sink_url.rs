//! `--send` URLs (`SinkSpec::parse`) and the other command-line values parsed
//! by hand (`--timeout` durations, `--spool-max` sizes), with arbitrary text.
//! Besides "no panic": credentials from the environment never show in a
//! spec's Debug or Display, a password in the URL never shows in the error,
//! and spool keys are plain file names.
#![no_main]

use klag::cli::{parse_duration, parse_size};
use klag::output::MetricsOptions;
use klag::sinks::{SinkKind, SinkSpec};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "Env-Secret-Password-1";
const TOKEN: &str = "Env-Secret-Token-2";

fn env(name: &str) -> Option<String> {
    match name {
        "KLAG_INFLUX_USERNAME" => Some("env-user".to_string()),
        "KLAG_INFLUX_PASSWORD" => Some(PASSWORD.to_string()),
        "KLAG_INFLUX_TOKEN" => Some(TOKEN.to_string()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let raw = raw.as_ref();
    for lookup in [env as fn(&str) -> Option<String>, no_env] {
        match SinkSpec::parse(raw, &lookup) {
            Ok(spec) => {
                assert!(!spec.host.is_empty());
                // What the URL itself put there (host, database, org, bucket)
                // may spell anything, even a secret (the URL parser drops tabs
                // and line feeds, so `raw` need not contain it literally): cut
                // it out, then no secret may be left.
                let mut shown = format!("{spec} {spec:?}");
                let mut from_url = vec![spec.host.clone()];
                match &spec.kind {
                    SinkKind::InfluxV1 { db, .. } => from_url.push(db.clone()),
                    SinkKind::InfluxV2 { org, bucket, .. } => from_url.extend([org.clone(), bucket.clone()]),
                    SinkKind::GraphiteTcp | SinkKind::GraphiteUdp => {}
                }
                // Longest first, Debug forms included, so that cutting a short
                // field (the host) cannot break up a longer one (the org).
                let mut cut: Vec<String> =
                    from_url.iter().filter(|f| !f.is_empty()).map(|f| format!("{f:?}")).collect();
                cut.extend(from_url.iter().filter(|f| !f.is_empty()).cloned());
                cut.sort_by_key(|c| std::cmp::Reverse(c.len()));
                for c in &cut {
                    shown = shown.replace(c.as_str(), "");
                }
                for secret in [PASSWORD, TOKEN] {
                    assert!(!shown.contains(secret), "secret shown: {shown}");
                }
                let key = spec.spool_key(&MetricsOptions::default());
                assert!(!key.is_empty());
                assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{key:?}");
                let _ = spec.format();
            }
            Err(e) => {
                let msg = e.to_string();
                if let Ok(url) = url::Url::parse(raw) {
                    if let Some(p) = url.password().filter(|p| p.len() >= 4 && raw.matches(*p).count() == 1) {
                        assert!(!msg.contains(p), "URL password {p:?} shown in {msg:?}");
                    }
                }
            }
        }
    }

    if let Ok(d) = parse_duration(raw) {
        assert!(!d.is_zero() && d.as_secs() < 1_000_000_000, "{d:?}");
    }
    if let Ok(n) = parse_size(raw) {
        assert!(n > 0);
    }
});
