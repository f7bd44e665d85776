//! Graphite carbon plaintext delivery.
//!
//! TCP: one connection per attempt carries every line; then the write side is
//! shut down and klag reads until carbon closes the connection. A clean close
//! after our end-of-stream means carbon read every byte (a connection reset or
//! the deadline means it may not have), so only then are the lines counted as
//! delivered. A failed attempt is retried once on a new connection with all
//! lines: carbon keeps one value per timestamp, so a repeat is harmless.
//!
//! UDP: lines are packed into datagrams of at most [`DATAGRAM`] bytes, never
//! splitting a line. Nothing is confirmed; errors the kernel reports (an
//! ICMP port unreachable on a later send) still fail the delivery.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Instant;

use super::{remaining, Sent, SinkError, SinkSpec};

/// Payload bound per UDP datagram: fits a 1500-byte Ethernet frame.
pub const DATAGRAM: usize = 1400;

fn resolve(spec: &SinkSpec, what: &str) -> Result<Vec<SocketAddr>, SinkError> {
    let addrs: Vec<SocketAddr> = (spec.host.as_str(), spec.port)
        .to_socket_addrs()
        .map_err(|source| SinkError::Io { what: format!("{what}: resolving {}", spec.host), source })?
        .collect();
    if addrs.is_empty() {
        return Err(SinkError::Other { what: what.to_string(), message: format!("{} has no address", spec.host) });
    }
    Ok(addrs)
}

fn io(what: &str, step: &str, source: std::io::Error) -> SinkError {
    SinkError::Io { what: format!("{what}: {step}"), source }
}

fn attempt_tcp(spec: &SinkSpec, payload: &[u8], deadline: Instant) -> Result<(), SinkError> {
    let what = spec.to_string();
    let addrs = resolve(spec, &what)?;
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline, &what)?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut stream) = stream else {
        return Err(io(&what, "connect", last.unwrap_or_else(|| ErrorKind::NotConnected.into())));
    };
    // write_all in slices, so that the deadline is checked between them.
    for chunk in payload.chunks(64 * 1024) {
        stream.set_write_timeout(Some(remaining(deadline, &what)?)).map_err(|e| io(&what, "socket", e))?;
        stream.write_all(chunk).map_err(|e| io(&what, "write", e))?;
    }
    stream.shutdown(Shutdown::Write).map_err(|e| io(&what, "shutdown", e))?;
    // Carbon never answers; it closes once it has read our end-of-stream.
    let mut buf = [0u8; 256];
    loop {
        stream.set_read_timeout(Some(remaining(deadline, &what)?)).map_err(|e| io(&what, "socket", e))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(SinkError::Other {
                    what,
                    message: "the peer did not confirm (close the connection) before the --timeout deadline".into(),
                })
            }
            Err(e) => return Err(io(&what, "waiting for the peer to confirm", e)),
        }
    }
}

pub fn send_tcp(spec: &SinkSpec, lines: &[String], deadline: Instant) -> Sent {
    let payload = lines.concat().into_bytes();
    let mut result = attempt_tcp(spec, &payload, deadline);
    if matches!(&result, Err(e) if e.retryable()) && Instant::now() < deadline {
        result = attempt_tcp(spec, &payload, deadline);
    }
    match result {
        Ok(()) => Sent { delivered: lines.len(), error: None },
        Err(e) => Sent { delivered: 0, error: Some(e) },
    }
}

/// Datagrams of whole lines; a single line longer than the bound goes alone.
pub fn datagrams(lines: &[String]) -> Vec<(usize, Vec<u8>)> {
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut cur: (usize, Vec<u8>) = (0, Vec::new());
    for l in lines {
        if !cur.1.is_empty() && cur.1.len() + l.len() > DATAGRAM {
            out.push(std::mem::take(&mut cur));
        }
        cur.0 += 1;
        cur.1.extend_from_slice(l.as_bytes());
    }
    if !cur.1.is_empty() {
        out.push(cur);
    }
    out
}

fn attempt_udp(
    spec: &SinkSpec,
    grams: &[(usize, Vec<u8>)],
    deadline: Instant,
    sent: &mut usize,
) -> Result<(), SinkError> {
    let what = spec.to_string();
    let addrs = resolve(spec, &what)?;
    let addr = addrs[0];
    let local: SocketAddr =
        if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = UdpSocket::bind(local).map_err(|e| io(&what, "bind", e))?;
    sock.connect(addr).map_err(|e| io(&what, "connect", e))?;
    let mut done = 0;
    for (n, g) in grams {
        if done < *sent {
            done += n;
            continue;
        }
        sock.set_write_timeout(Some(remaining(deadline, &what)?)).map_err(|e| io(&what, "socket", e))?;
        sock.send(g).map_err(|e| io(&what, "send", e))?;
        done += n;
        *sent = done;
    }
    Ok(())
}

pub fn send_udp(spec: &SinkSpec, lines: &[String], deadline: Instant) -> Sent {
    let grams = datagrams(lines);
    let mut sent = 0;
    let mut result = attempt_udp(spec, &grams, deadline, &mut sent);
    if matches!(&result, Err(e) if e.retryable()) && Instant::now() < deadline {
        result = attempt_udp(spec, &grams, deadline, &mut sent);
    }
    Sent { delivered: sent, error: result.err() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_keep_lines_whole() {
        let lines: Vec<String> = (0..100).map(|i| format!("klag.group.kafka.g{i}.lag {i} 1700000000\n")).collect();
        let grams = datagrams(&lines);
        assert!(grams.len() > 1);
        assert_eq!(grams.iter().map(|(n, _)| n).sum::<usize>(), 100);
        let joined: Vec<u8> = grams.iter().flat_map(|(_, g)| g.clone()).collect();
        assert_eq!(joined, lines.concat().into_bytes());
        for (_, g) in &grams {
            assert!(g.len() <= DATAGRAM && g.ends_with(b"\n"));
        }
    }
}
