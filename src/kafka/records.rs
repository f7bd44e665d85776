//! The consumer side of librdkafka's C API, for reading single records
//! (`--time-lag`): assign partitions at offsets, poll, drop them again.
//!
//! The same rules as in `admin`: everything read back is copied into owned
//! values, error codes are plain integers (never the bindings' enum), null
//! pointers are tolerated, nothing panics on remote data.

use std::ffi::c_int;
use std::ptr::{self, NonNull};
use std::time::Duration;

use rdkafka::bindings as rd;

use super::admin::{self, err_text, lossy, timeout_ms, Client, PartitionList};

/// `RD_KAFKA_RESP_ERR__PARTITION_EOF`: the fetch position reached the log
/// end (needs `enable.partition.eof=true`).
pub(crate) const ERR_PARTITION_EOF: i32 = rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF as i32;

/// One record, or one consumer error, copied out of a polled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Polled {
    /// `None` for errors that concern no partition (all brokers down, ...).
    pub topic: Option<String>,
    pub partition: i32,
    pub offset: i64,
    /// Raw error code; 0 for a record.
    pub err: i32,
    /// The error's text (empty for a record).
    pub text: String,
    /// The record's timestamp (CreateTime or LogAppendTime) in milliseconds
    /// since the epoch; `None` when it has none (message format v0).
    pub timestamp: Option<i64>,
}

/// A message returned by `rd_kafka_consumer_poll`, destroyed on drop.
struct Message(NonNull<rd::rd_kafka_message_t>);

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: we own the message; everything read from it was copied.
        unsafe { rd::rd_kafka_message_destroy(self.0.as_ptr()) }
    }
}

impl Message {
    fn copy(&self) -> Polled {
        let m = self.0.as_ptr();
        // SAFETY: a valid message while `self` lives. `err` is read as a plain
        // i32 (see the module docs); the topic name and error string live as
        // long as the message and are copied.
        unsafe {
            let err = ptr::addr_of!((*m).err).cast::<i32>().read();
            let rkt = ptr::addr_of!((*m).rkt).read();
            let topic = if rkt.is_null() { None } else { lossy(rd::rd_kafka_topic_name(rkt)) };
            let partition = ptr::addr_of!((*m).partition).read();
            let offset = ptr::addr_of!((*m).offset).read();
            let (text, timestamp) = if err != 0 {
                (lossy(rd::rd_kafka_message_errstr(m)).unwrap_or_else(|| err_text(err)), None)
            } else {
                // -1 when the record has no timestamp; the type is not needed.
                let ts = rd::rd_kafka_message_timestamp(m, ptr::null_mut());
                (String::new(), (ts >= 0).then_some(ts))
            };
            Polled { topic, partition, offset, err, text, timestamp }
        }
    }
}

/// Turns a returned `rd_kafka_error_t` (null for success) into a result.
///
/// # Safety
/// `e` must be null or an error object we own.
unsafe fn take_error(e: *mut rd::rd_kafka_error_t) -> Result<(), String> {
    if e.is_null() {
        return Ok(());
    }
    // SAFETY: a valid error object we own, destroyed after copying its text.
    let info = unsafe {
        let info = admin::error_info(e);
        rd::rd_kafka_error_destroy(e);
        info
    };
    Err(info.map(|(_, t)| t).unwrap_or_default())
}

impl Client {
    /// Adds `list` (partitions with the offsets to start at) to the
    /// assignment. Needs `group.id` on the client; joins no group.
    pub(crate) fn incremental_assign(&self, list: &PartitionList) -> Result<(), String> {
        // SAFETY: valid handle and list; librdkafka copies the list.
        unsafe { take_error(rd::rd_kafka_incremental_assign(self.ptr(), list.as_ptr())) }
    }

    /// Removes `list` from the assignment: fetching stops and what was
    /// prefetched for those partitions is dropped.
    pub(crate) fn incremental_unassign(&self, list: &PartitionList) -> Result<(), String> {
        // SAFETY: valid handle and list; librdkafka copies the list.
        unsafe { take_error(rd::rd_kafka_incremental_unassign(self.ptr(), list.as_ptr())) }
    }

    /// The next record or consumer error of the assigned partitions, waiting
    /// at most `timeout`; also serves the error callback.
    pub(crate) fn consumer_poll(&self, timeout: Duration) -> Option<Polled> {
        self.serve();
        let ms: c_int = if timeout.is_zero() { 0 } else { timeout_ms(timeout) };
        // SAFETY: valid handle; the returned message (if any) is ours to destroy.
        let m = unsafe { rd::rd_kafka_consumer_poll(self.ptr(), ms) };
        NonNull::new(m).map(|m| Message(m).copy())
    }
}
