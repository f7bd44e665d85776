//! InfluxDB delivery over HTTP: 1.x `POST /write?db=DB&precision=..` (basic
//! auth from KLAG_INFLUX_USERNAME / KLAG_INFLUX_PASSWORD when set) and 2.x
//! `POST /api/v2/write?org=..&bucket=..&precision=..` (`Authorization: Token`
//! from KLAG_INFLUX_TOKEN). Lines go in batches of [`BATCH`]; a batch counts
//! as delivered when InfluxDB answers 2xx. Each batch is retried once after a
//! connection error, a timeout, a 5xx or a 429; a 4xx means InfluxDB rejected
//! the lines, and sending them again would not help.

use std::time::Instant;

use super::{remaining, Sent, SinkError, SinkKind, SinkSpec};
use crate::output::metrics::Precision;

/// Lines per request (InfluxDB's recommended batch size).
pub const BATCH: usize = 5000;

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The write URL and the Authorization header (if any) of a destination.
fn endpoint(spec: &SinkSpec, precision: Precision) -> Result<(url::Url, Option<String>), SinkError> {
    let what = spec.to_string();
    let host = if spec.host.contains(':') { format!("[{}]", spec.host) } else { spec.host.clone() };
    let base = format!("http://{host}:{}/", spec.port);
    let mut url =
        url::Url::parse(&base).map_err(|e| SinkError::Other { what: what.clone(), message: e.to_string() })?;
    let auth = match &spec.kind {
        SinkKind::InfluxV1 { db, username, password } => {
            url.set_path("/write");
            url.query_pairs_mut().append_pair("db", db).append_pair("precision", precision.as_v1_str());
            match (username, password) {
                (Some(u), p) => {
                    let pw = p.as_ref().map(|p| p.expose()).unwrap_or_default();
                    Some(format!("Basic {}", base64(format!("{u}:{pw}").as_bytes())))
                }
                (None, _) => None,
            }
        }
        SinkKind::InfluxV2 { org, bucket, token } => {
            url.set_path("/api/v2/write");
            url.query_pairs_mut()
                .append_pair("org", org)
                .append_pair("bucket", bucket)
                .append_pair("precision", precision.as_str());
            token.as_ref().map(|t| format!("Token {}", t.expose()))
        }
        _ => return Err(SinkError::Other { what, message: "not an InfluxDB destination".into() }),
    };
    Ok((url, auth))
}

/// Printable, short: an error body from the server, for a message.
fn excerpt(body: &str) -> String {
    let s: String = body.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().count() > 300 {
        format!("{}...", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

fn post(spec: &SinkSpec, url: &url::Url, auth: Option<&str>, body: &str, deadline: Instant) -> Result<(), SinkError> {
    let what = spec.to_string();
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(remaining(deadline, &what)?))
        .http_status_as_error(false)
        // Lines go straight to the named host: a proxy from the environment
        // would see the credentials.
        .proxy(None)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent.post(url.as_str()).header("Content-Type", "text/plain; charset=utf-8");
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = req.send(body).map_err(|e| match e {
        ureq::Error::Io(source) => SinkError::Io { what: what.clone(), source },
        ureq::Error::Timeout(t) => {
            SinkError::Other { what: what.clone(), message: format!("timed out ({t}) before the --timeout deadline") }
        }
        other => SinkError::Other { what: what.clone(), message: other.to_string() },
    })?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = resp.body_mut().with_config().limit(4096).read_to_string().unwrap_or_default();
    Err(SinkError::Http { what, status, body: excerpt(&text) })
}

/// Sends lines whose timestamps are in `precision` units.
pub fn send(spec: &SinkSpec, lines: &[String], precision: Precision, deadline: Instant) -> Sent {
    let (url, auth) = match endpoint(spec, precision) {
        Ok(x) => x,
        Err(e) => return Sent { delivered: 0, error: Some(e) },
    };
    let mut delivered = 0;
    for batch in lines.chunks(BATCH) {
        let body = batch.concat();
        let mut result = post(spec, &url, auth.as_deref(), &body, deadline);
        if matches!(&result, Err(e) if e.retryable()) && Instant::now() < deadline {
            result = post(spec, &url, auth.as_deref(), &body, deadline);
        }
        match result {
            Ok(()) => delivered += batch.len(),
            Err(e) => return Sent { delivered, error: Some(e) },
        }
    }
    Sent { delivered, error: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pa ss"), "dXNlcjpwYSBzcw==");
    }
}
