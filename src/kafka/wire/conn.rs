//! One plaintext TCP connection to one broker. Every socket operation
//! (name lookup, connect, each read and write) is bounded by the caller's
//! deadline; requests carry the v1 (classic) or v2 (flexible) header and
//! responses are matched to them by correlation id, in order, so requests
//! can be pipelined.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::codec::{Reader, Writer};
use super::messages::{self, ApiVersions, API_VERSIONS};

/// Responses above this size are refused (the largest klag asks for, an
/// OffsetFetch of every group of a coordinator, is tens of MB at a million
/// partitions).
const MAX_RESPONSE: usize = 256 << 20;

/// Read in pieces of at most this size, so memory grows only with the bytes
/// that really arrive, whatever size a frame announces.
const READ_CHUNK: usize = 1 << 20;

/// Why a connection could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConnError {
    /// The deadline passed first. The text says what was waited for.
    #[error("{0}")]
    Timeout(String),
    /// Refused, reset, closed, unresolvable: another try may work.
    #[error("{0}")]
    Io(String),
    /// The answer does not parse.
    #[error("{0}")]
    Malformed(String),
}

/// librdkafka-style protocol debug lines on stderr (`-X debug=protocol`), so
/// one log counts every request a run makes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Log {
    pub protocol: bool,
}

impl Log {
    pub(crate) fn line(&self, facility: &str, text: std::fmt::Arguments<'_>) {
        if !self.protocol {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        // librdkafka's format: %level|seconds.millis|FACILITY|client| message
        let line =
            format!("%7|{}.{:03}|{facility}|klag#wire| [thrd:wire]: {text}\n", now.as_secs(), now.subsec_millis());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// A request sent and not yet answered.
#[derive(Debug)]
struct InFlight {
    id: i32,
    key: i16,
    version: i16,
    sent: Instant,
}

/// An open connection whose ApiVersions are known.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    /// `host:port` as given (bootstrap list or FindCoordinator).
    pub(crate) addr: String,
    /// `host:port/node` (or `/bootstrap`) for logs and errors.
    pub(crate) label: String,
    pub(crate) versions: ApiVersions,
    client_id: String,
    next_id: i32,
    in_flight: VecDeque<InFlight>,
    log: Log,
}

/// `host:port`, IPv6 hosts in brackets.
pub(crate) fn addr(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Time left before `deadline`, or a timeout error saying what for.
fn left(deadline: Instant, what: impl FnOnce() -> String) -> Result<Duration, ConnError> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(ConnError::Timeout(what()))
    } else {
        Ok(d)
    }
}

/// Resolves `host` by `deadline`: an address literal at once, a name in a
/// helper thread (the system resolver has no timeout of its own; a late
/// answer is dropped with the thread).
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, ConnError> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let name = bare.to_string();
    let spawned = std::thread::Builder::new().name("klag-resolve".into()).spawn(move || {
        let _ = tx.send((name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    if let Err(e) = spawned {
        return Err(ConnError::Io(format!("{host}:{port}: cannot resolve: {e}")));
    }
    let wait = left(deadline, || format!("{host}:{port}: name lookup did not finish in time"))?;
    match rx.recv_timeout(wait) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(ConnError::Io(format!("{host}:{port}: name resolves to no address"))),
        Ok(Err(e)) => Err(ConnError::Io(format!("{host}:{port}: cannot resolve: {e}"))),
        Err(_) => Err(ConnError::Timeout(format!("{host}:{port}: name lookup did not finish in time"))),
    }
}

impl Conn {
    /// Connects to `host:port` and asks its ApiVersions.
    pub(crate) fn open(
        host: &str,
        port: u16,
        label: String,
        client_id: &str,
        deadline: Instant,
        log: Log,
    ) -> Result<Conn, ConnError> {
        let addr = addr(host, port);
        let mut last: Option<std::io::Error> = None;
        let mut stream = None;
        for a in resolve(host, port, deadline)? {
            let wait = left(deadline, || format!("{label}: connection not established in time"))?;
            match TcpStream::connect_timeout(&a, wait) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Err(ConnError::Timeout(format!("{label}: connection not established in time")))
            }
            (None, Some(e)) => return Err(ConnError::Io(format!("{label}: connect: {e}"))),
            (None, None) => return Err(ConnError::Io(format!("{label}: no address to connect to"))),
        };
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream,
            addr,
            label,
            versions: ApiVersions::default(),
            client_id: client_id.to_string(),
            next_id: 1,
            in_flight: VecDeque::new(),
            log,
        };
        conn.send(API_VERSIONS, 0, &messages::api_versions_request(), deadline)?;
        let body = conn.recv(deadline)?;
        let (error, versions) = messages::parse_api_versions(body.body()).map_err(|e| conn.malformed(e))?;
        if error != 0 {
            return Err(ConnError::Io(format!("{}: ApiVersions error {error}", conn.label)));
        }
        conn.versions = versions;
        Ok(conn)
    }

    fn malformed(&self, e: super::codec::Malformed) -> ConnError {
        ConnError::Malformed(format!("{}: {e}", self.label))
    }

    /// Sends one request; its response is read by a later [`Conn::recv`]
    /// (responses come back in the order the requests were sent).
    pub(crate) fn send(&mut self, key: i16, version: i16, body: &[u8], deadline: Instant) -> Result<(), ConnError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut w = Writer::default();
        w.i32(0); // size, set below
        w.i16(key);
        w.i16(version);
        w.i32(id);
        w.nullable_string(Some(&self.client_id));
        if key != API_VERSIONS {
            w.no_tags(); // request header v2: every other request klag sends is flexible
        }
        w.buf.extend_from_slice(body);
        let size =
            i32::try_from(w.buf.len() - 4).map_err(|_| ConnError::Io(format!("{}: request too large", self.label)))?;
        w.buf[..4].copy_from_slice(&size.to_be_bytes());
        self.write_all(&w.buf, deadline)?;
        let name = messages::api_name(key);
        self.log.line(
            "SEND",
            format_args!("{}: Sent {name}Request (v{version}, {size} bytes @ 0, CorrId {id})", self.label),
        );
        self.in_flight.push_back(InFlight { id, key, version, sent: Instant::now() });
        Ok(())
    }

    /// No response is owed: the connection can serve another request.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Reads the response to the oldest request not yet answered.
    pub(crate) fn recv(&mut self, deadline: Instant) -> Result<Response, ConnError> {
        let Some(req) = self.in_flight.pop_front() else {
            return Err(ConnError::Io(format!("{}: no request waits for a response", self.label)));
        };
        let name = messages::api_name(req.key);
        let label = self.label.clone();
        let what = move || format!("{label}: no {name} response in time");
        let mut size = [0u8; 4];
        self.read_exact(&mut size, deadline, &what)?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| (4..=MAX_RESPONSE).contains(&s))
            .ok_or_else(|| ConnError::Malformed(format!("{}: {name} response of size {size}", self.label)))?;
        let mut buf = Vec::with_capacity(size.min(READ_CHUNK));
        while buf.len() < size {
            let start = buf.len();
            buf.resize(start + (size - start).min(READ_CHUNK), 0);
            self.read_exact(&mut buf[start..], deadline, &what)?;
        }
        let mut r = Reader::new(&buf);
        let id = r.i32("correlation id").map_err(|e| self.malformed(e))?;
        if id != req.id {
            return Err(ConnError::Malformed(format!(
                "{}: {name} response with correlation id {id}, expected {}",
                self.label, req.id
            )));
        }
        // Response header v1 (tagged fields) for flexible requests; ApiVersions is always v0.
        if req.key != API_VERSIONS {
            r.skip_tags("response header").map_err(|e| self.malformed(e))?;
        }
        let start = buf.len() - r.remaining();
        let rtt = req.sent.elapsed().as_secs_f64() * 1000.0;
        self.log.line(
            "RECV",
            format_args!(
                "{}: Received {name}Response (v{}, {size} bytes, CorrId {}, rtt {rtt:.2}ms)",
                self.label, req.version, req.id
            ),
        );
        Ok(Response { buf, start })
    }

    fn write_all(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<(), ConnError> {
        while !bytes.is_empty() {
            let wait = left(deadline, || format!("{}: request not sent in time", self.label))?;
            self.stream.set_write_timeout(Some(wait)).map_err(|e| self.io(e))?;
            match self.stream.write(bytes) {
                Ok(0) => return Err(ConnError::Io(format!("{}: connection closed", self.label))),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    fn read_exact(
        &mut self,
        mut buf: &mut [u8],
        deadline: Instant,
        what: &dyn Fn() -> String,
    ) -> Result<(), ConnError> {
        while !buf.is_empty() {
            let wait = left(deadline, what)?;
            self.stream.set_read_timeout(Some(wait)).map_err(|e| self.io(e))?;
            match self.stream.read(buf) {
                Ok(0) => return Err(ConnError::Io(format!("{}: connection closed by the broker", self.label))),
                Ok(n) => buf = &mut buf[n..],
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    fn io(&self, e: std::io::Error) -> ConnError {
        ConnError::Io(format!("{}: {e}", self.label))
    }
}

/// A response frame; the body starts after the header.
#[derive(Debug)]
pub(crate) struct Response {
    buf: Vec<u8>,
    start: usize,
}

impl Response {
    pub(crate) fn body(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn a_refused_connection_is_an_io_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = Conn::open("127.0.0.1", port, "b".into(), "klag", soon(2000), Log::default()).unwrap_err();
        assert!(matches!(e, ConnError::Io(_)), "{e:?}");
    }

    #[test]
    fn a_silent_broker_times_out_by_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let started = Instant::now();
        let e = Conn::open("127.0.0.1", port, "silent".into(), "klag", soon(300), Log::default()).unwrap_err();
        assert!(matches!(&e, ConnError::Timeout(t) if t.contains("silent") && t.contains("ApiVersion")), "{e:?}");
        assert!(started.elapsed() < Duration::from_millis(1000));
        drop(l);
    }

    /// A fake broker that answers ApiVersions, then one FindCoordinator with
    /// `answer` (a frame body after the correlation id), checking the request.
    fn fake_broker(answer: Vec<u8>, size_override: Option<i32>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let read_frame = |s: &mut TcpStream| {
                let mut n = [0u8; 4];
                s.read_exact(&mut n).unwrap();
                let mut b = vec![0u8; i32::from_be_bytes(n) as usize];
                s.read_exact(&mut b).unwrap();
                b
            };
            let req = read_frame(&mut s);
            assert_eq!(&req[..4], &[0, 18, 0, 0]); // ApiVersions v0
            let mut w = Writer::default();
            w.buf.extend_from_slice(&req[4..8]); // correlation id
            w.i16(0);
            w.i32(1);
            w.i16(10);
            w.i16(0);
            w.i16(4);
            let mut frame = (w.buf.len() as i32).to_be_bytes().to_vec();
            frame.extend_from_slice(&w.buf);
            s.write_all(&frame).unwrap();
            let req = read_frame(&mut s);
            assert_eq!(&req[..4], &[0, 10, 0, 4]);
            let mut body = req[4..8].to_vec();
            body.push(0); // header tags
            body.extend_from_slice(&answer);
            let size = size_override.unwrap_or(body.len() as i32);
            let mut frame = size.to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            let _ = s.write_all(&frame);
            std::thread::sleep(Duration::from_millis(500));
        });
        port
    }

    #[test]
    fn versions_then_a_flexible_request_and_its_response() {
        let port = fake_broker(vec![1, 2, 3], None);
        let mut c = Conn::open("127.0.0.1", port, "fake".into(), "klag", soon(2000), Log::default()).unwrap();
        assert!(c.versions.supports(10, 4) && !c.versions.supports(9, 8));
        c.send(10, 4, &[0, 1, 0], soon(2000)).unwrap();
        assert_eq!(c.recv(soon(2000)).unwrap().body(), &[1, 2, 3]);
        assert!(c.recv(soon(2000)).is_err(), "nothing in flight");
    }

    #[test]
    fn an_absurd_frame_size_is_malformed_not_allocated() {
        let port = fake_broker(vec![1, 2, 3], Some(i32::MAX));
        let mut c = Conn::open("127.0.0.1", port, "fake".into(), "klag", soon(2000), Log::default()).unwrap();
        c.send(10, 4, &[], soon(2000)).unwrap();
        assert!(matches!(c.recv(soon(2000)), Err(ConnError::Malformed(_))));
    }

    #[test]
    fn a_short_frame_times_out_by_the_deadline() {
        // Announces 100 bytes, sends 8, then holds the connection open.
        let port = fake_broker(vec![1, 2, 3], Some(100));
        let mut c = Conn::open("127.0.0.1", port, "fake".into(), "klag", soon(2000), Log::default()).unwrap();
        c.send(10, 4, &[], soon(2000)).unwrap();
        let started = Instant::now();
        assert!(matches!(c.recv(soon(200)), Err(ConnError::Timeout(_))));
        assert!(started.elapsed() < Duration::from_millis(450));
    }

    #[test]
    fn names_are_resolved_and_unknown_names_fail() {
        assert!(resolve("localhost", 1, soon(2000)).is_ok_and(|a| !a.is_empty()));
        assert!(resolve("[::1]", 1, soon(10)).is_ok_and(|a| a[0].is_ipv6()));
        assert!(resolve("no-such-host.invalid", 1, soon(5000)).is_err());
    }
}
