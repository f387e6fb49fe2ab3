//! The committed offsets of many groups at once, on one client: librdkafka's
//! ListConsumerGroupOffsets admin call, one request per group (librdkafka takes one group per
//! call), [`IN_FLIGHT`] of them in flight together. Blocking: call inside `spawn_blocking`.
//!
//! Before, each group had its own consumer client (OffsetFetch needs the group.id) asked in
//! turn: at 10,000 groups that was 10,000 clients, their threads and connections, and
//! 10,000 round trips one after the other. rust-rdkafka does not wrap this admin call, hence
//! the few FFI calls below, each pointer owned by a guard that frees it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_void, CStr, CString};
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Committed offsets of one group: only the partitions with a commit (see
/// `GroupSample::offsets`).
pub type Offsets = BTreeMap<(String, i32), Option<i64>>;

/// Why one group's committed offsets could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupOffsetsError {
    #[error("group id {0:?} holds a NUL")]
    NulInGroupId(String),
    /// What the broker or librdkafka answered.
    #[error("{0}")]
    Answered(String),
    #[error("unexpected answer to ListConsumerGroupOffsets")]
    UnexpectedAnswer,
    #[error("no group in the answer")]
    NoGroup,
    #[error("no answer within {0} s")]
    NoAnswer(u64),
}

/// Requests sent before the first answers are waited for: enough to hide the round trips,
/// few enough not to flood the coordinators.
const IN_FLIGHT: usize = 512;

struct Queue(*mut rd::rd_kafka_queue_t);

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: made by rd_kafka_queue_new, destroyed once; librdkafka keeps it alive for
        // the requests still referring to it.
        unsafe { rd::rd_kafka_queue_destroy(self.0) }
    }
}

struct Options(*mut rd::rd_kafka_AdminOptions_t);

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: made by rd_kafka_AdminOptions_new, destroyed once (requests copy it).
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0) }
    }
}

struct Event(*mut rd::rd_kafka_event_t);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: a non-null event from rd_kafka_queue_poll, destroyed once.
        unsafe { rd::rd_kafka_event_destroy(self.0) }
    }
}

/// The committed offsets of every group of `groups`, in the same order, kept to the
/// `watched` partitions; a group that could not be read carries the error's text.
pub fn committed_offsets(
    client: &BaseConsumer,
    groups: &[String],
    watched: &BTreeMap<&str, BTreeSet<i32>>,
    timeout: Duration,
) -> Vec<Result<Offsets, GroupOffsetsError>> {
    let mut answers: Vec<Option<Result<Offsets, GroupOffsetsError>>> = vec![None; groups.len()];
    if groups.is_empty() {
        return Vec::new();
    }
    let rk = client.client().native_ptr();
    // SAFETY: `rk` is the live client borrowed for the whole call.
    let queue = Queue(unsafe { rd::rd_kafka_queue_new(rk) });
    let options = Options(unsafe {
        rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
        )
    });
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let mut errstr = [0 as std::ffi::c_char; 256];
    // SAFETY: valid options, and a buffer of the size given.
    unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.0,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
    }
    let (mut sent, mut outstanding) = (0, 0);
    // Every request times out on its own; this only bounds a client that stopped answering.
    let mut deadline = Instant::now() + timeout + Duration::from_secs(1);
    while sent < groups.len() || outstanding > 0 {
        while sent < groups.len() && outstanding < IN_FLIGHT {
            match send(rk, &options, &queue, sent, &groups[sent]) {
                Ok(()) => outstanding += 1,
                Err(e) => answers[sent] = Some(Err(e)),
            }
            sent += 1;
            deadline = Instant::now() + timeout + Duration::from_secs(1);
        }
        if outstanding == 0 {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let wait = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: a live queue; a null answer is a timeout.
        let ev = unsafe { rd::rd_kafka_queue_poll(queue.0, wait) };
        if ev.is_null() {
            continue;
        }
        let ev = Event(ev);
        outstanding -= 1;
        // SAFETY: the opaque is the index set by `send` for this request.
        let index = unsafe { rd::rd_kafka_event_opaque(ev.0) } as usize;
        if let Some(slot) = answers.get_mut(index) {
            *slot = Some(read_answer(&ev, watched));
        }
    }

    answers
        .into_iter()
        .map(|a| a.unwrap_or(Err(GroupOffsetsError::NoAnswer(timeout.as_secs()))))
        .collect()
}

/// Sends the request for one group; the answer's opaque is `index`.
fn send(
    rk: *mut rd::rd_kafka_t,
    options: &Options,
    queue: &Queue,
    index: usize,
    group: &str,
) -> Result<(), GroupOffsetsError> {
    let name =
        CString::new(group).map_err(|_| GroupOffsetsError::NulInGroupId(group.to_string()))?;
    // SAFETY: live client, options and queue; the request object is copied by the call and
    // destroyed right after; a null partition list asks for every committed partition.
    unsafe {
        rd::rd_kafka_AdminOptions_set_opaque(options.0, index as *mut c_void);
        let mut request =
            rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), std::ptr::null());
        rd::rd_kafka_ListConsumerGroupOffsets(rk, &mut request, 1, options.0, queue.0);
        rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
    }
    Ok(())
}

/// One group's answer: its committed offsets on the watched partitions, or the error.
fn read_answer(
    ev: &Event,
    watched: &BTreeMap<&str, BTreeSet<i32>>,
) -> Result<Offsets, GroupOffsetsError> {
    // SAFETY: every pointer read below belongs to the event, alive while `ev` is; strings
    // are NUL-terminated by librdkafka; `elems` has `cnt` elements.
    unsafe {
        if rd::rd_kafka_event_error(ev.0) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(GroupOffsetsError::Answered(text(
                rd::rd_kafka_event_error_string(ev.0),
            )));
        }
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(ev.0);
        if result.is_null() {
            return Err(GroupOffsetsError::UnexpectedAnswer);
        }
        let mut count = 0;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
        if groups.is_null() || count == 0 {
            return Err(GroupOffsetsError::NoGroup);
        }
        let group = *groups;
        let error = rd::rd_kafka_group_result_error(group);
        if !error.is_null() {
            return Err(GroupOffsetsError::Answered(text(
                rd::rd_kafka_error_string(error),
            )));
        }
        let list = rd::rd_kafka_group_result_partitions(group);
        let mut offsets = Offsets::new();
        if list.is_null() {
            return Ok(offsets);
        }
        let elems =
            std::slice::from_raw_parts((*list).elems, usize::try_from((*list).cnt).unwrap_or(0));
        for e in elems {
            if e.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                || e.offset < 0
                || e.topic.is_null()
            {
                continue;
            }
            let topic = CStr::from_ptr(e.topic).to_string_lossy();
            let listed = watched
                .get(topic.as_ref())
                .is_some_and(|ps| ps.contains(&e.partition));
            if listed {
                offsets.insert((topic.into_owned(), e.partition), Some(e.offset));
            }
        }
        Ok(offsets)
    }
}

/// A librdkafka string, copied.
///
/// # Safety
/// `p` is null or a NUL-terminated string alive for the call.
unsafe fn text(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        return "unknown error".into();
    }
    CStr::from_ptr(p).to_string_lossy().into_owned()
}
