//! The only place in klag that touches librdkafka's C API, with its consumer
//! side in `records.rs` (assign, poll) for `--time-lag`.
//!
//! rdkafka's safe API has no ListOffsets, ListConsumerGroups,
//! DescribeConsumerGroups or ListConsumerGroupOffsets, so they are reached
//! through `rdkafka::bindings`. Every object librdkafka hands out is owned by
//! an RAII wrapper here; everything read back from librdkafka (and so from the
//! network) is copied into owned Rust values with null pointers and non-UTF-8
//! text tolerated. Nothing in here panics on remote data.
//!
//! Error codes are read as plain integers, never as the bindings'
//! `rd_kafka_resp_err_t` enum: a broker newer than this librdkafka may send a
//! code the enum does not have, and materializing it would be undefined
//! behaviour.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;

use super::{CommittedOffset, GroupDescription, GroupListing, Member, PerGroup};

/// ListConsumerGroups: listings and per-broker errors (code, text).
pub(crate) type Listings = (Vec<GroupListing>, Vec<(i32, String)>);
/// DescribeConsumerGroups: per group, its description or error (code, text).
pub(crate) type Described = (String, Result<GroupDescription, (i32, String)>);

pub(crate) use rd::rd_kafka_admin_op_t as AdminOp;

/// `RD_KAFKA_RESP_ERR__TIMED_OUT`.
pub(crate) const ERR_TIMED_OUT: i32 = rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__TIMED_OUT as i32;

/// `RD_KAFKA_RESP_ERR__NOENT`.
pub(crate) const ERR_NOENT: i32 = rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__NOENT as i32;

/// `RD_KAFKA_OFFSET_INVALID`: "no offset".
pub(crate) const OFFSET_INVALID: i64 = rd::RD_KAFKA_OFFSET_INVALID as i64;

/// Offset spec for ListOffsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spec {
    Earliest,
    Latest,
}

impl Spec {
    fn value(self) -> i64 {
        match self {
            Spec::Earliest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_EARLIEST as i64,
            Spec::Latest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_LATEST as i64,
        }
    }
}

extern "C" {
    // The same symbols as `rdkafka::bindings::rd_kafka_event_error` and
    // `rd_kafka_error_code`, declared with a plain int return so an unknown
    // code cannot become an invalid enum value.
    #[link_name = "rd_kafka_event_error"]
    fn rd_kafka_event_error_code(rkev: *mut rd::rd_kafka_event_t) -> c_int;
    #[link_name = "rd_kafka_error_code"]
    fn rd_kafka_error_code_raw(error: *const rd::rd_kafka_error_t) -> c_int;
}

// ---------------------------------------------------------------------------
// Conversions

/// Copies a C string, replacing invalid UTF-8; `None` for a null pointer.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string valid for the call.
pub(crate) unsafe fn lossy(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    let s = unsafe { CStr::from_ptr(p) };
    Some(s.to_string_lossy().into_owned())
}

/// Like [`lossy`] but an empty string for null.
///
/// # Safety
/// As for [`lossy`].
unsafe fn lossy_or_empty(p: *const c_char) -> String {
    // SAFETY: forwarded contract.
    unsafe { lossy(p) }.unwrap_or_default()
}

/// Views a librdkafka `(array, count)` pair as a slice; empty for null.
///
/// # Safety
/// `p` must be null or point to `n` initialized pointers that stay valid for `'a`.
unsafe fn ptr_slice<'a, T>(p: *mut *const T, n: usize) -> &'a [*const T] {
    if p.is_null() || n == 0 {
        return &[];
    }
    // SAFETY: non-null, `n` elements, lifetime guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(p.cast_const(), n) }
}

/// Human-readable text for a librdkafka or broker error code, for any code,
/// including ones this librdkafka does not know.
pub(crate) fn err_text(code: i32) -> String {
    let mut descs: *const rd::rd_kafka_err_desc = ptr::null();
    let mut cnt: usize = 0;
    // SAFETY: both out-pointers are valid; librdkafka stores a pointer to its
    // static table and its length.
    unsafe { rd::rd_kafka_get_err_descs(&mut descs, &mut cnt) };
    if !descs.is_null() {
        for i in 0..cnt {
            // SAFETY: `i < cnt` entries of a static table. Fields are read
            // through raw pointers (the `code` field as a plain i32) so no
            // enum value is materialized.
            let (c, name, desc) = unsafe {
                let e = descs.add(i);
                (
                    ptr::addr_of!((*e).code).cast::<i32>().read(),
                    ptr::addr_of!((*e).name).read(),
                    ptr::addr_of!((*e).desc).read(),
                )
            };
            if c == code && !name.is_null() {
                // SAFETY: static NUL-terminated strings (or null).
                if let Some(d) = unsafe { lossy(desc) } {
                    return d;
                }
            }
        }
    }
    format!("Broker: unknown error code {code}")
}

/// Copies an `rd_kafka_error_t`'s code and text.
///
/// # Safety
/// `e` must be null or a valid error object.
pub(super) unsafe fn error_info(e: *const rd::rd_kafka_error_t) -> Option<(i32, String)> {
    if e.is_null() {
        return None;
    }
    // SAFETY: valid error object per the contract; the string it returns
    // lives as long as the object.
    let (code, text) = unsafe { (rd_kafka_error_code_raw(e), lossy(rd::rd_kafka_error_string(e))) };
    Some((code, text.unwrap_or_else(|| err_text(code))))
}

/// Copies an `rd_kafka_error_t`'s text.
///
/// # Safety
/// `e` must be null or a valid error object.
unsafe fn error_text(e: *const rd::rd_kafka_error_t) -> Option<String> {
    // SAFETY: forwarded contract.
    unsafe { error_info(e) }.map(|(_, t)| t)
}

/// Milliseconds for a librdkafka timeout: at least 1, at most `i32::MAX`.
pub(crate) fn timeout_ms(d: Duration) -> c_int {
    let ms = d.as_millis().max(1);
    c_int::try_from(ms).unwrap_or(c_int::MAX)
}

fn cstring(what: &str, s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} {s:?} contains a NUL byte"))
}

// ---------------------------------------------------------------------------
// Client

/// Non-fatal client errors (connection refused, broker down, ...) collected by
/// librdkafka's error callback, to explain timeouts.
#[derive(Default)]
struct ErrorLog {
    recent: Mutex<Vec<String>>,
    /// The latest SASL authentication or TLS handshake failure.
    auth: Mutex<Option<String>>,
}

/// Error codes of a failed SASL authentication or TLS handshake: librdkafka
/// retries these forever, but without new credentials they never succeed.
const AUTH_ERRORS: [i32; 3] = [
    rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__AUTHENTICATION as i32,
    rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__SSL as i32,
    rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED as i32,
];

const ERROR_LOG_KEEP: usize = 8;

impl ErrorLog {
    fn push(&self, text: String) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.retain(|t| *t != text);
        recent.push(text);
        if recent.len() > ERROR_LOG_KEEP {
            let excess = recent.len() - ERROR_LOG_KEEP;
            recent.drain(..excess);
        }
    }

    fn recent(&self) -> Vec<String> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// librdkafka error callback; only ever called from `rd_kafka_poll` on a
/// thread of ours. Must not unwind (it cannot: no panicking operations).
unsafe extern "C" fn on_error(_rk: *mut rd::rd_kafka_t, err: c_int, reason: *const c_char, opaque: *mut c_void) {
    if opaque.is_null() {
        return;
    }
    // SAFETY: `opaque` is the `ErrorLog` boxed in `Client::new`, which is
    // freed only after `rd_kafka_destroy` returned (see `Client::drop`).
    let log = unsafe { &*opaque.cast::<ErrorLog>() };
    // SAFETY: librdkafka passes a NUL-terminated string valid for the call.
    let text = unsafe { lossy(reason) }.unwrap_or_else(|| err_text(err));
    if AUTH_ERRORS.contains(&err) {
        *log.auth.lock().unwrap_or_else(PoisonError::into_inner) = Some(text.clone());
    }
    log.push(text);
}

/// Owns a `rd_kafka_conf_t` until `rd_kafka_new` takes it.
struct Conf(NonNull<rd::rd_kafka_conf_t>);

impl Conf {
    fn new() -> Result<Conf, String> {
        // SAFETY: plain constructor, no preconditions.
        let p = unsafe { rd::rd_kafka_conf_new() };
        NonNull::new(p).map(Conf).ok_or_else(|| "rd_kafka_conf_new failed".to_string())
    }

    /// Sets one property. The error names the key and, unless `hide_value`,
    /// includes librdkafka's message (which may quote the value).
    fn set(&mut self, key: &str, value: &str, hide_value: bool) -> Result<(), String> {
        let k = cstring("property name", key)?;
        let v = CString::new(value).map_err(|_| format!("value of property {key} contains a NUL byte"))?;
        let mut errbuf = [0 as c_char; 512];
        // SAFETY: valid conf, NUL-terminated key and value, errbuf of the given size.
        let res = unsafe {
            rd::rd_kafka_conf_set(self.0.as_ptr(), k.as_ptr(), v.as_ptr(), errbuf.as_mut_ptr(), errbuf.len())
        };
        if res == rd::rd_kafka_conf_res_t::RD_KAFKA_CONF_OK {
            return Ok(());
        }
        if hide_value {
            return Err(format!("invalid value for property {key} (value hidden)"));
        }
        // SAFETY: librdkafka NUL-terminates errbuf (zero-initialized anyway).
        let msg = unsafe { lossy(errbuf.as_ptr()) }.unwrap_or_default();
        Err(if msg.is_empty() { format!("invalid property {key}") } else { msg })
    }
}

impl Drop for Conf {
    fn drop(&mut self) {
        // SAFETY: we still own the conf (ownership moves out via `mem::forget`).
        unsafe { rd::rd_kafka_conf_destroy(self.0.as_ptr()) }
    }
}

/// Checks `(key, value, hide_value)` properties as [`Client::new`] would
/// set them, without creating a client.
pub(crate) fn check_properties(props: &[(&str, &str, bool)]) -> Result<(), String> {
    let mut conf = Conf::new()?;
    for (k, v, hide) in props {
        conf.set(k, v, *hide)?;
    }
    Ok(())
}

/// One librdkafka client handle.
pub(crate) struct Client {
    rk: NonNull<rd::rd_kafka_t>,
    /// Target of the error callback's opaque pointer: must outlive `rk`.
    errors: Box<ErrorLog>,
}

// SAFETY: librdkafka handles are thread-safe (all API calls used here may be
// made from any thread); the error log is behind a Mutex.
unsafe impl Send for Client {}
// SAFETY: as above.
unsafe impl Sync for Client {}

impl Client {
    /// Creates a client from `(key, value, hide_value)` properties. No
    /// network I/O happens here. librdkafka's own log callback stays in place,
    /// so `debug=...` output goes straight to stderr from its threads.
    pub(crate) fn new(props: &[(&str, &str, bool)]) -> Result<Client, String> {
        let mut conf = Conf::new()?;
        for (k, v, hide) in props {
            conf.set(k, v, *hide)?;
        }
        let errors = Box::<ErrorLog>::default();
        let opaque: *const ErrorLog = &*errors;
        // SAFETY: valid conf; the callback matches librdkafka's signature and
        // the opaque outlives the handle (see the `errors` field).
        unsafe {
            rd::rd_kafka_conf_set_error_cb(conf.0.as_ptr(), Some(on_error));
            rd::rd_kafka_conf_set_opaque(conf.0.as_ptr(), opaque.cast_mut().cast());
        }
        let mut errbuf = [0 as c_char; 512];
        // SAFETY: valid conf and errbuf. On success librdkafka owns the conf.
        let rk = unsafe {
            rd::rd_kafka_new(rd::rd_kafka_type_t::RD_KAFKA_CONSUMER, conf.0.as_ptr(), errbuf.as_mut_ptr(), errbuf.len())
        };
        match NonNull::new(rk) {
            Some(rk) => {
                std::mem::forget(conf);
                Ok(Client { rk, errors })
            }
            None => {
                // SAFETY: librdkafka NUL-terminates errbuf on failure.
                let msg = unsafe { lossy(errbuf.as_ptr()) }.unwrap_or_default();
                Err(if msg.is_empty() { "could not create the Kafka client".to_string() } else { msg })
            }
        }
    }

    pub(super) fn ptr(&self) -> *mut rd::rd_kafka_t {
        self.rk.as_ptr()
    }

    /// Serves the main queue without blocking: runs the error callback (and
    /// any other callbacks) for whatever librdkafka queued.
    pub(crate) fn serve(&self) {
        // SAFETY: valid handle; timeout 0 never blocks.
        unsafe { rd::rd_kafka_poll(self.ptr(), 0) };
    }

    /// True once any broker answered a Metadata request.
    pub(crate) fn has_metadata(&self) -> bool {
        // SAFETY: valid handle; timeout 0 only reads the cached controller id.
        unsafe { rd::rd_kafka_controllerid(self.ptr(), 0) >= 0 }
    }

    /// The most recent distinct client errors, oldest first.
    pub(crate) fn recent_errors(&self) -> Vec<String> {
        self.errors.recent()
    }

    /// librdkafka's message for a failed SASL authentication or TLS
    /// handshake, while no broker has answered (with one answering, the
    /// others' failures are per-partition problems, reported as such).
    pub(crate) fn auth_failure(&self) -> Option<String> {
        if self.has_metadata() {
            return None;
        }
        self.errors.auth.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.serve();
        // SAFETY: we own the handle; every Queue/Event/Options borrows the
        // Client, so none is alive. No consumer group is joined, so skip the
        // consumer close. `errors` is dropped only after this returns.
        unsafe { rd::rd_kafka_destroy_flags(self.ptr(), rd::RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE) }
    }
}

// ---------------------------------------------------------------------------
// Queues, options, events

/// A dedicated result queue.
pub(crate) struct Queue<'c> {
    q: NonNull<rd::rd_kafka_queue_t>,
    client: &'c Client,
}

impl<'c> Queue<'c> {
    pub(crate) fn new(client: &'c Client) -> Result<Queue<'c>, String> {
        // SAFETY: valid handle.
        let q = unsafe { rd::rd_kafka_queue_new(client.ptr()) };
        NonNull::new(q).map(|q| Queue { q, client }).ok_or_else(|| "rd_kafka_queue_new failed".to_string())
    }

    fn ptr(&self) -> *mut rd::rd_kafka_queue_t {
        self.q.as_ptr()
    }

    /// Waits for the next event until `deadline`, serving the client's main
    /// queue meanwhile so errors are collected. `None` once the deadline
    /// passed, or at once when authentication failed ([`Client::auth_failure`]).
    pub(crate) fn next(&self, deadline: Instant) -> Option<Event<'c>> {
        const SLICE: Duration = Duration::from_millis(100);
        loop {
            self.client.serve();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.client.auth_failure().is_some() {
                return None;
            }
            // SAFETY: valid queue; the returned event (if any) is ours to destroy.
            let ev = unsafe { rd::rd_kafka_queue_poll(self.ptr(), timeout_ms(left.min(SLICE))) };
            if let Some(ev) = NonNull::new(ev) {
                return Some(Event { ev, _client: PhantomData });
            }
        }
    }
}

impl Drop for Queue<'_> {
    fn drop(&mut self) {
        // SAFETY: we own this reference to the queue. Results of requests
        // still in flight are discarded by librdkafka once it is gone.
        unsafe { rd::rd_kafka_queue_destroy(self.ptr()) }
    }
}

/// `rd_kafka_AdminOptions_t` for one request.
pub(crate) struct Options<'c> {
    o: NonNull<rd::rd_kafka_AdminOptions_t>,
    _client: PhantomData<&'c Client>,
}

impl<'c> Options<'c> {
    /// Options for `op` whose request (and, where the API has one, operation)
    /// timeout is `timeout`.
    pub(crate) fn new(client: &'c Client, op: AdminOp, timeout: Duration) -> Result<Options<'c>, String> {
        // SAFETY: valid handle and admin op.
        let o = unsafe { rd::rd_kafka_AdminOptions_new(client.ptr(), op) };
        let o = NonNull::new(o).ok_or_else(|| "rd_kafka_AdminOptions_new failed".to_string())?;
        let opts = Options { o, _client: PhantomData };
        // librdkafka accepts at most one hour.
        let ms = timeout_ms(timeout).min(3_600_000);
        let mut errbuf = [0 as c_char; 256];
        // SAFETY: valid options and errbuf.
        let err =
            unsafe { rd::rd_kafka_AdminOptions_set_request_timeout(o.as_ptr(), ms, errbuf.as_mut_ptr(), errbuf.len()) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: NUL-terminated by librdkafka.
            return Err(unsafe { lossy_or_empty(errbuf.as_ptr()) });
        }
        // Only some APIs have an operation timeout; setting it on others fails.
        if matches!(op, AdminOp::RD_KAFKA_ADMIN_OP_LISTOFFSETS) {
            // SAFETY: valid options and errbuf.
            let err = unsafe {
                rd::rd_kafka_AdminOptions_set_operation_timeout(o.as_ptr(), ms, errbuf.as_mut_ptr(), errbuf.len())
            };
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                // SAFETY: NUL-terminated by librdkafka.
                return Err(unsafe { lossy_or_empty(errbuf.as_ptr()) });
            }
        }
        Ok(opts)
    }

    /// Tags the result event with `tag` (read back by [`Event::tag`]).
    pub(crate) fn set_tag(&mut self, tag: usize) {
        // SAFETY: valid options; the opaque is an integer, never dereferenced.
        unsafe { rd::rd_kafka_AdminOptions_set_opaque(self.o.as_ptr(), ptr::without_provenance_mut(tag)) }
    }

    /// ListOffsets only: read_committed (last stable offset) or not (high watermark).
    pub(crate) fn set_read_committed(&mut self, read_committed: bool) -> Result<(), String> {
        let level = if read_committed {
            rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED
        } else {
            rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_UNCOMMITTED
        };
        // SAFETY: valid options; a returned error object is ours to destroy.
        let e = unsafe { rd::rd_kafka_AdminOptions_set_isolation_level(self.o.as_ptr(), level) };
        if e.is_null() {
            return Ok(());
        }
        // SAFETY: non-null error object, destroyed right after copying its text.
        let text = unsafe {
            let t = error_text(e);
            rd::rd_kafka_error_destroy(e);
            t
        };
        Err(text.unwrap_or_default())
    }

    fn ptr(&self) -> *const rd::rd_kafka_AdminOptions_t {
        self.o.as_ptr()
    }
}

impl Drop for Options<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the options; requests keep their own copy.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.o.as_ptr()) }
    }
}

/// A topic partition list we own.
pub(crate) struct PartitionList(NonNull<rd::rd_kafka_topic_partition_list_t>);

impl PartitionList {
    pub(crate) fn new(capacity: usize) -> Result<PartitionList, String> {
        let cap = c_int::try_from(capacity).unwrap_or(c_int::MAX);
        // SAFETY: plain constructor.
        let l = unsafe { rd::rd_kafka_topic_partition_list_new(cap) };
        NonNull::new(l).map(PartitionList).ok_or_else(|| "rd_kafka_topic_partition_list_new failed".to_string())
    }

    /// Adds `topic`/`partition` with `offset` (an offset spec for ListOffsets).
    pub(crate) fn add(&mut self, topic: &CStr, partition: i32, offset: i64) {
        // SAFETY: valid list and NUL-terminated topic (copied by librdkafka).
        let p = unsafe { rd::rd_kafka_topic_partition_list_add(self.0.as_ptr(), topic.as_ptr(), partition) };
        if !p.is_null() {
            // SAFETY: `p` points to the element just added, owned by the list.
            unsafe { (*p).offset = offset };
        }
    }

    pub(super) fn as_ptr(&self) -> *mut rd::rd_kafka_topic_partition_list_t {
        self.0.as_ptr()
    }

    #[cfg(test)]
    fn entries(&self) -> Vec<PartEntry> {
        // SAFETY: the list is valid while `self` lives.
        unsafe { partition_entries(self.0.as_ptr()) }
    }
}

impl Drop for PartitionList {
    fn drop(&mut self) {
        // SAFETY: we own the list.
        unsafe { rd::rd_kafka_topic_partition_list_destroy(self.0.as_ptr()) }
    }
}

/// One element of a topic partition list, copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Raw error code, 0 for none.
    pub err: i32,
}

/// Copies every element of a topic partition list.
///
/// # Safety
/// `l` must be null or a valid list for the duration of the call.
unsafe fn partition_entries(l: *const rd::rd_kafka_topic_partition_list_t) -> Vec<PartEntry> {
    if l.is_null() {
        return Vec::new();
    }
    // SAFETY: valid list per the contract.
    let (cnt, elems) = unsafe { ((*l).cnt, (*l).elems) };
    let cnt = usize::try_from(cnt).unwrap_or(0);
    if elems.is_null() {
        return Vec::new();
    }
    (0..cnt)
        .map(|i| {
            // SAFETY: `i < cnt` elements of a valid list. The `err` field is
            // read as a plain i32 (see the module docs).
            unsafe {
                let e = elems.add(i);
                PartEntry {
                    topic: lossy_or_empty(ptr::addr_of!((*e).topic).read()),
                    partition: ptr::addr_of!((*e).partition).read(),
                    offset: ptr::addr_of!((*e).offset).read(),
                    err: ptr::addr_of!((*e).err).cast::<i32>().read(),
                }
            }
        })
        .collect()
}

/// `rd_kafka_ListConsumerGroupOffsets_t` for one group.
struct GroupOffsetsRequest(NonNull<rd::rd_kafka_ListConsumerGroupOffsets_t>);

impl Drop for GroupOffsetsRequest {
    fn drop(&mut self) {
        // SAFETY: we own it; librdkafka copied it when the request was made.
        unsafe { rd::rd_kafka_ListConsumerGroupOffsets_destroy(self.0.as_ptr()) }
    }
}

/// A result event.
pub(crate) struct Event<'c> {
    ev: NonNull<rd::rd_kafka_event_t>,
    _client: PhantomData<&'c Client>,
}

impl Drop for Event<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the event; everything borrowed from it was copied.
        unsafe { rd::rd_kafka_event_destroy(self.ev.as_ptr()) }
    }
}

impl Event<'_> {
    fn ptr(&self) -> *mut rd::rd_kafka_event_t {
        self.ev.as_ptr()
    }

    /// `RD_KAFKA_EVENT_*`.
    pub(crate) fn kind(&self) -> c_int {
        // SAFETY: valid event.
        unsafe { rd::rd_kafka_event_type(self.ptr()) }
    }

    /// The tag set with [`Options::set_tag`] (0 when none).
    pub(crate) fn tag(&self) -> usize {
        // SAFETY: valid event; the opaque is only compared, never dereferenced.
        unsafe { rd::rd_kafka_event_opaque(self.ptr()) }.addr()
    }

    /// The request-level error: raw code and text.
    pub(crate) fn error(&self) -> Option<(i32, String)> {
        // SAFETY: valid event; same function as the bindings' but returning int.
        let code = unsafe { rd_kafka_event_error_code(self.ptr()) };
        if code == 0 {
            return None;
        }
        // SAFETY: valid event; the string lives as long as the event.
        let text = unsafe { lossy(rd::rd_kafka_event_error_string(self.ptr())) };
        Some((code, text.unwrap_or_else(|| err_text(code))))
    }

    /// ListConsumerGroups: listings and per-broker errors (code, text).
    pub(crate) fn group_listings(&self) -> Option<Listings> {
        // SAFETY: valid event; null unless it is a ListConsumerGroups result.
        let res = unsafe { rd::rd_kafka_event_ListConsumerGroups_result(self.ptr()) };
        if res.is_null() {
            return None;
        }
        let mut n = 0usize;
        // SAFETY: valid result; the array lives as long as the event.
        let valid = unsafe { ptr_slice(rd::rd_kafka_ListConsumerGroups_result_valid(res, &mut n), n) };
        let listings = valid
            .iter()
            .filter(|g| !g.is_null())
            .map(|&g| {
                // SAFETY: non-null listing owned by the event.
                unsafe {
                    GroupListing {
                        group_id: lossy_or_empty(rd::rd_kafka_ConsumerGroupListing_group_id(g)),
                        state: state_name(rd::rd_kafka_ConsumerGroupListing_state(g)),
                        is_simple: rd::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g) != 0,
                    }
                }
            })
            .collect();
        let mut n = 0usize;
        // SAFETY: valid result; the array lives as long as the event.
        let errs = unsafe { ptr_slice(rd::rd_kafka_ListConsumerGroups_result_errors(res, &mut n), n) };
        // SAFETY: error objects owned by the event (or null, skipped).
        let errors = errs.iter().filter_map(|&e| unsafe { error_info(e) }).collect();
        Some((listings, errors))
    }

    /// DescribeConsumerGroups: one entry per group returned.
    pub(crate) fn group_descriptions(&self) -> Option<Vec<Described>> {
        // SAFETY: valid event; null unless it is a DescribeConsumerGroups result.
        let res = unsafe { rd::rd_kafka_event_DescribeConsumerGroups_result(self.ptr()) };
        if res.is_null() {
            return None;
        }
        let mut n = 0usize;
        // SAFETY: valid result; the array lives as long as the event.
        let groups = unsafe { ptr_slice(rd::rd_kafka_DescribeConsumerGroups_result_groups(res, &mut n), n) };
        let out = groups
            .iter()
            .filter(|g| !g.is_null())
            // SAFETY: non-null description owned by the event.
            .map(|&g| unsafe { describe_one(g) })
            .collect();
        Some(out)
    }

    /// ListConsumerGroupOffsets: one entry per group returned.
    pub(crate) fn group_offsets(&self) -> Option<Vec<PerGroup<Vec<CommittedOffset>>>> {
        // SAFETY: valid event; null unless it is a ListConsumerGroupOffsets result.
        let res = unsafe { rd::rd_kafka_event_ListConsumerGroupOffsets_result(self.ptr()) };
        if res.is_null() {
            return None;
        }
        let mut n = 0usize;
        // SAFETY: valid result; the array lives as long as the event.
        let groups = unsafe { ptr_slice(rd::rd_kafka_ListConsumerGroupOffsets_result_groups(res, &mut n), n) };
        let out = groups
            .iter()
            .filter(|g| !g.is_null())
            .map(|&g| {
                // SAFETY: non-null group result owned by the event; its
                // strings, error and list live as long as the event.
                unsafe {
                    let name = lossy_or_empty(rd::rd_kafka_group_result_name(g));
                    if let Some(e) = error_text(rd::rd_kafka_group_result_error(g)) {
                        return (name, Err(e));
                    }
                    let parts = partition_entries(rd::rd_kafka_group_result_partitions(g));
                    (name, Ok(parts.into_iter().map(committed_offset).collect()))
                }
            })
            .collect();
        Some(out)
    }

    /// ListOffsets: one entry per partition (offset -1001 with no error means
    /// librdkafka got no answer for it).
    pub(crate) fn list_offsets(&self) -> Option<Vec<PartEntry>> {
        // SAFETY: valid event; null unless it is a ListOffsets result.
        let res = unsafe { rd::rd_kafka_event_ListOffsets_result(self.ptr()) };
        if res.is_null() {
            return None;
        }
        let mut n = 0usize;
        // SAFETY: valid result; the array lives as long as the event.
        let infos = unsafe { ptr_slice(rd::rd_kafka_ListOffsets_result_infos(res, &mut n), n) };
        let out = infos
            .iter()
            .filter(|i| !i.is_null())
            .filter_map(|&i| {
                // SAFETY: non-null result info owned by the event.
                let tp = unsafe { rd::rd_kafka_ListOffsetsResultInfo_topic_partition(i) };
                if tp.is_null() {
                    return None;
                }
                // SAFETY: non-null partition owned by the event; `err` read as i32.
                let entry = unsafe {
                    PartEntry {
                        topic: lossy_or_empty(ptr::addr_of!((*tp).topic).read()),
                        partition: ptr::addr_of!((*tp).partition).read(),
                        offset: ptr::addr_of!((*tp).offset).read(),
                        err: ptr::addr_of!((*tp).err).cast::<i32>().read(),
                    }
                };
                Some(entry)
            })
            .collect();
        Some(out)
    }
}

fn committed_offset(e: PartEntry) -> CommittedOffset {
    CommittedOffset {
        topic: e.topic,
        partition: e.partition,
        // RD_KAFKA_OFFSET_INVALID (-1001), or the broker's -1: nothing committed.
        offset: (e.offset >= 0).then_some(e.offset),
        error: (e.err != 0).then(|| err_text(e.err)),
    }
}

fn state_name(state: rd::rd_kafka_consumer_group_state_t) -> String {
    // SAFETY: any state value librdkafka returned; the name is a static string.
    unsafe { lossy(rd::rd_kafka_consumer_group_state_name(state)) }.unwrap_or_else(|| "Unknown".to_string())
}

/// # Safety
/// `g` must be a valid group description alive for the call.
unsafe fn describe_one(g: *const rd::rd_kafka_ConsumerGroupDescription_t) -> Described {
    // SAFETY: valid description per the contract; all pointers read below are
    // owned by it (or null, handled).
    unsafe {
        let group_id = lossy_or_empty(rd::rd_kafka_ConsumerGroupDescription_group_id(g));
        if let Some(e) = error_info(rd::rd_kafka_ConsumerGroupDescription_error(g)) {
            return (group_id, Err(e));
        }
        let state = state_name(rd::rd_kafka_ConsumerGroupDescription_state(g));
        let count = rd::rd_kafka_ConsumerGroupDescription_member_count(g);
        let mut members = Vec::with_capacity(count.min(4096));
        for i in 0..count {
            let m = rd::rd_kafka_ConsumerGroupDescription_member(g, i);
            if m.is_null() {
                continue;
            }
            let a = rd::rd_kafka_MemberDescription_assignment(m);
            let parts =
                if a.is_null() { Vec::new() } else { partition_entries(rd::rd_kafka_MemberAssignment_partitions(a)) };
            members.push(Member {
                consumer_id: lossy_or_empty(rd::rd_kafka_MemberDescription_consumer_id(m)),
                client_id: lossy_or_empty(rd::rd_kafka_MemberDescription_client_id(m)),
                host: lossy_or_empty(rd::rd_kafka_MemberDescription_host(m)),
                assignment: parts.into_iter().map(|p| (p.topic, p.partition)).collect(),
            });
        }
        let desc = GroupDescription { group_id: group_id.clone(), state, members };
        (group_id, Ok(desc))
    }
}

// ---------------------------------------------------------------------------
// Requests. Each returns immediately; the result arrives on `queue`.

pub(crate) fn list_groups(client: &Client, queue: &Queue<'_>, opts: &Options<'_>) {
    // SAFETY: valid handle, options and queue; librdkafka copies the options.
    unsafe { rd::rd_kafka_ListConsumerGroups(client.ptr(), opts.ptr(), queue.ptr()) }
}

/// `groups` must be non-empty, without duplicates.
pub(crate) fn describe_groups(client: &Client, queue: &Queue<'_>, opts: &Options<'_>, groups: &[CString]) {
    let mut ptrs: Vec<*const c_char> = groups.iter().map(|g| g.as_ptr()).collect();
    // SAFETY: valid handle, options and queue; `ptrs` holds `len` valid
    // NUL-terminated strings, all copied by librdkafka before it returns.
    unsafe { rd::rd_kafka_DescribeConsumerGroups(client.ptr(), ptrs.as_mut_ptr(), ptrs.len(), opts.ptr(), queue.ptr()) }
}

/// Committed offsets of one group: of `partitions` (non-empty, no duplicates),
/// or of every partition with a commit when `None`.
pub(crate) fn list_group_offsets(
    client: &Client,
    queue: &Queue<'_>,
    opts: &Options<'_>,
    group: &CStr,
    partitions: Option<&PartitionList>,
) -> Result<(), String> {
    let parts = partitions.map_or(ptr::null(), |l| l.0.as_ptr().cast_const());
    // SAFETY: NUL-terminated group id and a valid list or NULL ("all"); both
    // are copied by librdkafka.
    let req = unsafe { rd::rd_kafka_ListConsumerGroupOffsets_new(group.as_ptr(), parts) };
    let req = GroupOffsetsRequest(
        NonNull::new(req).ok_or_else(|| "rd_kafka_ListConsumerGroupOffsets_new failed".to_string())?,
    );
    let mut arr = [req.0.as_ptr()];
    // SAFETY: valid handle, options and queue; exactly one request object,
    // which librdkafka copies (ours is destroyed when `req` drops).
    unsafe { rd::rd_kafka_ListConsumerGroupOffsets(client.ptr(), arr.as_mut_ptr(), 1, opts.ptr(), queue.ptr()) };
    Ok(())
}

/// ListOffsets for `partitions` (no duplicates, topics non-empty, partitions >= 0).
pub(crate) fn list_offsets(
    client: &Client,
    queue: &Queue<'_>,
    opts: &Options<'_>,
    partitions: &[(CString, i32)],
    spec: Spec,
) -> Result<(), String> {
    let mut list = PartitionList::new(partitions.len())?;
    for (topic, partition) in partitions {
        list.add(topic, *partition, spec.value());
    }
    // SAFETY: valid handle, options, queue and list; librdkafka copies the list.
    unsafe { rd::rd_kafka_ListOffsets(client.ptr(), list.0.as_ptr(), opts.ptr(), queue.ptr()) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_handles_null_and_invalid_utf8() {
        // SAFETY: null is allowed.
        assert_eq!(unsafe { lossy(ptr::null()) }, None);
        let bytes = b"ab\xffc\0";
        // SAFETY: NUL-terminated buffer.
        assert_eq!(unsafe { lossy(bytes.as_ptr().cast()) }.as_deref(), Some("ab\u{fffd}c"));
        // SAFETY: null is allowed.
        assert_eq!(unsafe { lossy_or_empty(ptr::null()) }, "");
    }

    #[test]
    fn ptr_slice_of_null_is_empty() {
        // SAFETY: null is allowed.
        let s: &[*const u8] = unsafe { ptr_slice(ptr::null_mut(), 5) };
        assert!(s.is_empty());
    }

    #[test]
    fn err_text_knows_local_broker_and_unknown_codes() {
        assert_eq!(err_text(ERR_TIMED_OUT), "Local: Timed out");
        assert_eq!(err_text(3), "Broker: Unknown topic or partition");
        assert_eq!(err_text(9999), "Broker: unknown error code 9999");
        assert_eq!(err_text(-9999), "Broker: unknown error code -9999");
    }

    #[test]
    fn timeout_ms_is_clamped() {
        assert_eq!(timeout_ms(Duration::ZERO), 1);
        assert_eq!(timeout_ms(Duration::from_micros(10)), 1);
        assert_eq!(timeout_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), c_int::MAX);
    }

    #[test]
    fn partition_list_round_trip() -> Result<(), String> {
        let mut l = PartitionList::new(2)?;
        let t = cstring("topic", "t")?;
        l.add(&t, 3, Spec::Latest.value());
        l.add(&t, 0, Spec::Earliest.value());
        let e = l.entries();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].topic.as_str(), e[0].partition, e[0].offset, e[0].err), ("t", 3, -1, 0));
        assert_eq!((e[1].partition, e[1].offset), (0, -2));
        // SAFETY: null is allowed.
        assert!(unsafe { partition_entries(ptr::null()) }.is_empty());
        Ok(())
    }

    #[test]
    fn committed_offset_maps_invalid_to_none_and_errors_to_text() {
        let c = committed_offset(PartEntry { topic: "t".into(), partition: 1, offset: -1001, err: 0 });
        assert_eq!((c.offset, c.error), (None, None));
        let c = committed_offset(PartEntry { topic: "t".into(), partition: 1, offset: 42, err: 0 });
        assert_eq!(c.offset, Some(42));
        let c = committed_offset(PartEntry { topic: "t".into(), partition: 1, offset: -1, err: 3 });
        assert_eq!(c.offset, None);
        assert_eq!(c.error.as_deref(), Some("Broker: Unknown topic or partition"));
    }

    #[test]
    fn error_log_keeps_recent_distinct() {
        let log = ErrorLog::default();
        for i in 0..20 {
            log.push(format!("e{}", i % 10));
        }
        log.push("e5".into());
        let r = log.recent();
        assert_eq!(r.len(), ERROR_LOG_KEEP);
        assert_eq!(r.last().map(String::as_str), Some("e5"));
        assert_eq!(r.iter().filter(|t| *t == "e5").count(), 1);
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name(rd::rd_kafka_consumer_group_state_t::RD_KAFKA_CONSUMER_GROUP_STATE_STABLE), "Stable");
        assert_eq!(state_name(rd::rd_kafka_consumer_group_state_t::RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY), "Empty");
    }
}
