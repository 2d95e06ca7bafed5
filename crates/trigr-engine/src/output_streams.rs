//! `output_streams`: a task writes chunks under a stream key (tokens of a model, progress
//! lines); clients read them live or after the run ended, from the start or from an index.
//!
//! Writes are fenced by the writer's lease (worker protocol §7.8). Each chunk carries its
//! index (0, 1, 2, … per run and key, numbered by the writer); an index the stream already has
//! keeps its first chunk, so a writer that sends chunks again — a resumed upload, a task
//! executed again after a retry or a resume — duplicates nothing. A chunk may not leave a gap:
//! the first index of a write is at most the stream's next one.
//!
//! Readers wait on an in-memory signal per run that every append rings; a reader on another
//! server of the same database finds new chunks on its next poll.

use serde_json::Value;
use trigr_store::{OutputChunk, Run};

use crate::journal::leased_run;
use crate::mollifier::fallback::Want;
use crate::{Engine, Error, Result, Txn};

/// Longest stream key, in characters.
pub const MAX_KEY_LEN: usize = 128;
/// Most chunks one read returns.
pub const MAX_READ: usize = 500;

/// Whose stream a writer writes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The writing run (`self`, or its own id).
    Own,
    /// Its parent run.
    Parent,
    /// The root run of its tree (itself when it has no parent).
    Root,
    /// A run named by id: the writer itself, its parent or its root.
    Run(String),
}

impl Target {
    pub fn parse(text: &str) -> Target {
        match text {
            "self" => Target::Own,
            "parent" => Target::Parent,
            "root" => Target::Root,
            id => Target::Run(id.to_string()),
        }
    }
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The run whose stream got the chunks.
    pub run_id: String,
    /// Chunks stored by this call (those already there are not counted).
    pub accepted: u64,
    /// The stream's highest index after the call.
    pub last_index: Option<i64>,
}

/// A page of a stream, and whether the run was final when it was read (then no chunk can
/// follow the ones read).
#[derive(Clone, Debug)]
pub struct OutputPage {
    pub chunks: Vec<OutputChunk>,
    pub run_final: bool,
}

/// A stream key: 1–128 characters, no control characters.
pub fn check_key(key: &str) -> Result<()> {
    let n = key.chars().count();
    if n == 0 || n > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "the stream key must be 1-{MAX_KEY_LEN} characters without control characters, got {key:?}"
        )));
    }
    Ok(())
}

/// One chunk's stored body: the text when it is one JSON value, else the text as a JSON
/// string.
pub fn chunk_body(text: &str) -> String {
    let trimmed = text.trim_end_matches('\r');
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v) => {
            if trimmed.contains('\n') {
                v.to_string()
            } else {
                trimmed.trim().to_string()
            }
        }
        Err(_) => Value::String(trimmed.to_string()).to_string(),
    }
}

impl Engine {
    /// The signal rung when chunks are added to any stream of `run_id` (and when the server
    /// closes). A reader enables its `notified()` before it reads, then waits on it.
    pub fn output_signal(&self, run_id: &str) -> std::sync::Arc<tokio::sync::Notify> {
        self.notifier.env(&signal_name(run_id))
    }

    /// Declares a stream on the target run (`PUT`): it is listed among the run's streams
    /// from now on. Returns the target run's id.
    pub async fn open_output_stream(
        &self,
        env_id: &str,
        run_id: &str,
        lease: &str,
        target: Target,
        key: &str,
    ) -> Result<String> {
        check_key(key)?;
        let now = self.now();
        let (env_id, run_id, lease, key) = (
            env_id.to_string(),
            run_id.to_string(),
            lease.to_string(),
            key.to_string(),
        );
        self.write(move |tx| {
            let writer = leased_run(tx, &env_id, &run_id, &lease)?;
            let target = target_run(tx, &env_id, &writer, &target)?;
            tx.declare_output_stream(&target, &key, now)?;
            Ok(target)
        })
        .await
    }

    /// Appends chunks (each a JSON text, see [`chunk_body`]) at indexes `start`, `start + 1`, …;
    /// `start` defaults to the stream's next index. Chunks whose index the stream has are
    /// left as they are.
    #[allow(clippy::too_many_arguments)]
    pub async fn append_output(
        &self,
        env_id: &str,
        run_id: &str,
        lease: &str,
        target: Target,
        key: &str,
        start: Option<i64>,
        bodies: Vec<String>,
    ) -> Result<Appended> {
        check_key(key)?;
        if let Some(s) = start.filter(|s| *s < 0) {
            return Err(Error::invalid(format!(
                "the first chunk index must be 0 or more, got {s}"
            )));
        }
        let limit = self.config.max_payload_bytes;
        if let Some((i, b)) = bodies.iter().enumerate().find(|(_, b)| b.len() > limit) {
            return Err(Error::TooLarge(format!(
                "chunk {i} of this call is {} bytes, over the limit of {limit}",
                b.len()
            )));
        }
        let now = self.now();
        let (env_id, run_id, lease, key) = (
            env_id.to_string(),
            run_id.to_string(),
            lease.to_string(),
            key.to_string(),
        );
        let appended = self
            .write(move |tx| {
                let writer = leased_run(tx, &env_id, &run_id, &lease)?;
                let target = target_run(tx, &env_id, &writer, &target)?;
                tx.declare_output_stream(&target, &key, now)?;
                let last = tx.last_output_chunk(&target, &key)?;
                let next = last.map_or(0, |l| l + 1);
                let start = start.unwrap_or(next);
                if start > next {
                    return Err(Error::invalid(format!(
                        "chunk {start} would leave a gap: the next chunk of stream {key:?} of run {target} is {next}"
                    )));
                }
                let chunks: Vec<OutputChunk> = bodies
                    .into_iter()
                    .enumerate()
                    .map(|(i, body)| OutputChunk {
                        run_id: target.clone(),
                        stream_key: key.clone(),
                        index: start + i as i64,
                        body,
                        created_at: now,
                    })
                    .collect();
                let accepted = tx.insert_output_chunks(&chunks)?;
                let end = chunks.last().map(|c| c.index);
                Ok(Appended {
                    run_id: target,
                    accepted,
                    last_index: last.max(end),
                })
            })
            .await?;
        if appended.accepted > 0 {
            self.notifier.wake(&signal_name(&appended.run_id));
        }
        Ok(appended)
    }

    /// The highest chunk index of a run's stream (`None`: no chunk yet).
    pub async fn last_output_chunk(
        &self,
        env_id: &str,
        run_id: &str,
        key: &str,
    ) -> Result<Option<i64>> {
        check_key(key)?;
        let (env_id, run_id, key) = (env_id.to_string(), run_id.to_string(), key.to_string());
        self.read(move |tx| {
            tx.run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            Ok(tx.last_output_chunk(&run_id, &key)?)
        })
        .await
    }

    /// The run and up to [`MAX_READ`] chunks of its stream from index `from`.
    pub async fn read_output(
        &self,
        env_id: &str,
        run_id: &str,
        key: &str,
        from: i64,
    ) -> Result<(Run, OutputPage)> {
        check_key(key)?;
        let (env_id, run_id, key) = (env_id.to_string(), run_id.to_string(), key.to_string());
        self.read(move |tx| {
            // The run first: a final run takes no more chunks, so the chunks read after it
            // in the same snapshot are all there will be.
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            let chunks = tx.output_chunks(&run_id, &key, from.max(0), MAX_READ)?;
            let run_final = run.status.is_final();
            Ok((run, OutputPage { chunks, run_final }))
        })
        .await
    }

    /// The stream keys of a run, in the order its writers opened them.
    pub async fn output_streams_of(&self, env_id: &str, run_id: &str) -> Result<Vec<String>> {
        let fetched = self.fetch_buffered(Want::Run { env_id, run_id }).await;
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            if tx.run(&env_id, &run_id)?.is_none() {
                // A buffered run (the mollifier's) has no streams yet.
                return match fetched.by_run(tx, &env_id, &run_id)? {
                    Some(_) => Ok(Vec::new()),
                    None => Err(Error::run_not_found(&run_id)),
                };
            }
            Ok(tx.output_streams(&run_id)?)
        })
        .await
    }
}

fn signal_name(run_id: &str) -> String {
    format!("output-stream:{run_id}")
}

/// The id of the run a writer's target names.
fn target_run(tx: &mut Txn<'_>, env_id: &str, writer: &Run, target: &Target) -> Result<String> {
    let root = writer
        .root_run_id
        .clone()
        .unwrap_or_else(|| writer.id.clone());
    let id = match target {
        Target::Own => writer.id.clone(),
        Target::Root => root,
        Target::Parent => writer.parent_run_id.clone().ok_or_else(|| {
            Error::invalid(format!(
                "run {} has no parent run to write a stream to",
                writer.id
            ))
        })?,
        Target::Run(id) => {
            if *id != writer.id && Some(id) != writer.parent_run_id.as_ref() && *id != root {
                return Err(Error::invalid(format!(
                    "run {} may write streams only to itself, its parent or its root run, not to {id}: use self, parent, root or one of their ids",
                    writer.id
                )));
            }
            id.clone()
        }
    };
    if id != writer.id && tx.run(env_id, &id)?.is_none() {
        return Err(Error::run_not_found(&id));
    }
    Ok(id)
}

impl Engine {
    /// Forgets the signal of a run's streams once no reader waits on it.
    pub fn release_output_signal(&self, run_id: &str) {
        self.notifier.release(&signal_name(run_id));
    }
}
