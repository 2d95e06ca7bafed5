//! `read_input` and `ack_input`: how an `on` handler inside a task reads its run's input
//! stream (worker protocol §7.6). Each handler is a named *consumer* with a stored position:
//! the last message it finished with. A read returns the messages after that position
//! (long-polling until one comes); an ack moves the position forward once the handler
//! finished a message, so a re-executed run (a retry, a resume) never hands a consumer a
//! message it already finished. Both are fenced by the attempt's lease.
//!
//! The `once` and `wait` calls of a task read the stream through journaled waits instead
//! ([`crate::waits`]): their position is the journal's.

use std::time::Duration;

use trigr_store::{InputMessage, ReadTx};

use crate::input_send::check_stream_id;
use crate::journal::leased_run;
use crate::transition::check_lease;
use crate::{Engine, Error, Result};

/// Longest consumer name.
pub const MAX_CONSUMER_LEN: usize = 128;
/// Most messages one read returns.
pub const MAX_READ: usize = 100;
/// Longest long-poll of a read.
pub const MAX_READ_WAIT: Duration = Duration::from_secs(30);

/// What a consumer reads.
#[derive(Clone, Debug)]
pub struct InputRead {
    /// The last message the consumer finished with (0 for none).
    pub position: i64,
    /// The messages after it, in order.
    pub messages: Vec<InputMessage>,
}

impl Engine {
    /// The messages of `stream_id` after `consumer`'s position, waiting up to `wait` for one.
    pub async fn read_input(
        &self,
        env_id: &str,
        run_id: &str,
        lease: &str,
        stream_id: &str,
        consumer: &str,
        wait: Duration,
    ) -> Result<InputRead> {
        check_stream_id(stream_id)?;
        check_consumer(consumer)?;
        let look = || {
            let (env, run, lease, stream, consumer) = (
                env_id.to_string(),
                run_id.to_string(),
                lease.to_string(),
                stream_id.to_string(),
                consumer.to_string(),
            );
            self.read(move |tx| read_in(tx, &env, &run, &lease, &stream, &consumer))
        };
        let done = |read: &InputRead| !read.messages.is_empty();
        self.long_poll(env_id, wait.min(MAX_READ_WAIT), look, done)
            .await
    }

    /// Records that `consumer` finished with message `seq` of `stream_id`. False when its
    /// position already was there or beyond (an ack sent twice).
    pub async fn ack_input(
        &self,
        env_id: &str,
        run_id: &str,
        lease: &str,
        stream_id: &str,
        consumer: &str,
        seq: i64,
    ) -> Result<bool> {
        check_stream_id(stream_id)?;
        check_consumer(consumer)?;
        let (env_id, run_id, lease, stream_id, consumer) = (
            env_id.to_string(),
            run_id.to_string(),
            lease.to_string(),
            stream_id.to_string(),
            consumer.to_string(),
        );
        self.write(move |tx| {
            leased_run(tx, &env_id, &run_id, &lease)?;
            let last = tx.last_input_seq(&run_id, &stream_id)?;
            if seq < 1 || seq > last {
                return Err(Error::invalid(format!(
                    "seq must name a message of input stream {stream_id:?} (1-{last}), got {seq}"
                )));
            }
            let now = tx.now();
            Ok(tx.advance_input_cursor(&run_id, &stream_id, &consumer, seq, now)?)
        })
        .await
    }
}

fn read_in(
    tx: &mut dyn ReadTx,
    env_id: &str,
    run_id: &str,
    lease: &str,
    stream_id: &str,
    consumer: &str,
) -> Result<InputRead> {
    let run = tx
        .run(env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    check_lease(&run, lease)?;
    let position = tx.input_cursor(run_id, stream_id, consumer)?;
    let messages = tx.input_messages(run_id, stream_id, position, MAX_READ)?;
    Ok(InputRead { position, messages })
}

fn check_consumer(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > MAX_CONSUMER_LEN || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "consumer must be 1-{MAX_CONSUMER_LEN} characters without control characters, got {name:?}"
        )));
    }
    Ok(())
}
