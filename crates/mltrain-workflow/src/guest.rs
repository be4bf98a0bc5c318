//! The call ABI of the stages' computes as a sandboxed module (WebAssembly, `docs/wasm.md`):
//! one call's job and objects in as bytes, its output and writes out as bytes.
//!
//! A host writes a [`Call`] ([`Call::encode`]) to the module's stdin; the module runs
//! [`handle`] on it and writes the [`Reply`] to its stdout. All integers are little-endian
//! `u32`; a string or blob is its length then its bytes.
//!
//! ```text
//! call:  "MLTC" version task-name job-json env-json count (key bytes)*
//! reply: "MLTR" version 0 output-json count (key bytes)*       the compute's result
//!        "MLTR" version 1 error-json                           the compute refused
//! ```

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::objects::KeyList;
use crate::stage::{self, Stage, StageId};
use crate::stages::{Computed, Env, Fetched, Predicted, ValidationJob, ValidationPart};

/// The version of the ABI a call and its reply carry.
pub const VERSION: u32 = 2;
const CALL_MAGIC: &[u8; 4] = b"MLTC";
const REPLY_MAGIC: &[u8; 4] = b"MLTR";

/// What a call asks the module to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A stage's compute: the job is the stage's [`Stage::Job`], the output its
    /// [`Stage::Output`].
    Stage(StageId),
    /// One part of validation's prediction ([`validation_parts`]): the job is a
    /// [`ValidationPart`], the output [`Predicted`], and it writes nothing.
    ValidationPart,
}

impl Task {
    /// The task's name in a call: the stage's, or `validation-part`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Stage(stage) => stage.name(),
            Task::ValidationPart => "validation-part",
        }
    }

    /// The task called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "validation-part" => Some(Task::ValidationPart),
            name => StageId::from_name(name).map(Task::Stage),
        }
    }
}

/// One call of a compute, as a host hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// What the module computes.
    pub task: Task,
    /// The stage's job ([`Stage::Job`]), as JSON.
    pub job: Vec<u8>,
    /// Where the compute runs, as JSON ([`Env`]).
    pub env: Vec<u8>,
    /// Every object the compute may read: `(key, bytes)`.
    pub objects: Vec<(String, Bytes)>,
}

/// What a call's compute handed back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The output, as JSON, and the objects to write, the last after all the others.
    Done {
        /// The stage's output ([`Stage::Output`]), as JSON.
        output: Vec<u8>,
        /// `(key, bytes)` to write, in order.
        writes: Vec<(String, Bytes)>,
    },
    /// The compute refused its input or data.
    Refused(Refusal),
}

/// Why a compute refused, as it crosses the sandbox's edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The error and its causes, on one line.
    pub message: String,
    /// Whether the user's input or data is at fault (exit code 2), not the machinery.
    pub bad_input: bool,
    /// The images that do not decode, `(key, why)`, when that is the error: the host
    /// rebuilds [`Error::BadImages`] from them, to merge with other functions' lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bad_images: Vec<(String, String)>,
}

impl Refusal {
    /// The refusal of `err`.
    pub fn of(err: &Error) -> Self {
        let message = crate::stages::error_text(err);
        let bad_images = match err {
            Error::BadImages { bad } => bad.clone(),
            _ => Vec::new(),
        };
        Self {
            message,
            bad_input: err.is_bad_input(),
            bad_images,
        }
    }

    /// The error the host reports for this refusal by `function` (`pca-1`).
    pub fn into_error(self, function: &str) -> Error {
        if !self.bad_images.is_empty() {
            return Error::BadImages {
                bad: self.bad_images,
            };
        }
        Error::Remote {
            function: function.to_string(),
            status: 0,
            message: self.message,
            bad_input: self.bad_input,
            retryable: false,
        }
    }
}

/// An ABI message that does not parse.
fn malformed(what: &str) -> Error {
    Error::InvalidArgument {
        name: "call",
        reason: format!("malformed module message: {what}"),
    }
}

impl Call {
    /// The call's bytes, for the module's stdin.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            64 + self.job.len()
                + self.env.len()
                + self
                    .objects
                    .iter()
                    .map(|(k, v)| 8 + k.len() + v.len())
                    .sum::<usize>(),
        );
        out.extend_from_slice(CALL_MAGIC);
        put_u32(&mut out, VERSION);
        put_blob(&mut out, self.task.name().as_bytes());
        put_blob(&mut out, &self.job);
        put_blob(&mut out, &self.env);
        put_pairs(&mut out, &self.objects);
        out
    }

    /// Reads a call from the module's stdin. The objects are slices of `bytes`, not copies:
    /// a validation call carries every forest of the run.
    pub fn decode(bytes: &Bytes) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.magic(CALL_MAGIC)?;
        let name = r.string()?;
        let task =
            Task::from_name(&name).ok_or_else(|| malformed(&format!("no task called `{name}`")))?;
        let job = r.blob()?.to_vec();
        let env = r.blob()?.to_vec();
        let objects = r.pairs()?;
        r.end()?;
        Ok(Self {
            task,
            job,
            env,
            objects,
        })
    }
}

impl Reply {
    /// The reply's bytes, for the module's stdout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(REPLY_MAGIC);
        put_u32(&mut out, VERSION);
        match self {
            Reply::Done { output, writes } => {
                put_u32(&mut out, 0);
                put_blob(&mut out, output);
                put_pairs(&mut out, writes);
            }
            Reply::Refused(refusal) => {
                put_u32(&mut out, 1);
                let json = serde_json::to_vec(refusal).unwrap_or_default();
                put_blob(&mut out, &json);
            }
        }
        out
    }

    /// Reads a reply from the module's stdout; the writes are slices of `bytes`.
    pub fn decode(bytes: &Bytes) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.magic(REPLY_MAGIC)?;
        let reply = match r.u32()? {
            0 => Reply::Done {
                output: r.blob()?.to_vec(),
                writes: r.pairs()?,
            },
            1 => Reply::Refused(
                serde_json::from_slice(r.blob()?)
                    .map_err(|e| malformed(&format!("refusal: {e}")))?,
            ),
            other => return Err(malformed(&format!("status {other}"))),
        };
        r.end()?;
        Ok(reply)
    }

    /// The compute's result this reply carries, as stage `S`'s.
    pub fn into_computed<S: Stage>(self, function: &str) -> Result<Result<Computed<S::Output>>> {
        match self {
            Reply::Done { output, writes } => {
                let output = serde_json::from_slice(&output)
                    .map_err(|e| malformed(&format!("{} output: {e}", S::ID)))?;
                Ok(Ok(Computed { output, writes }))
            }
            Reply::Refused(refusal) => Ok(Err(refusal.into_error(function))),
        }
    }
}

/// Runs the call in `input` and returns the reply's bytes: all the module does.
pub fn handle(input: Vec<u8>) -> Vec<u8> {
    let reply = match Call::decode(&Bytes::from(input)).and_then(run) {
        Ok(computed) => computed,
        Err(e) => Reply::Refused(Refusal::of(&e)),
    };
    reply.encode()
}

/// Runs a decoded call: the one place a stage's name becomes its type in the module.
fn run(call: Call) -> Result<Reply> {
    match call.task {
        Task::Stage(StageId::Partition) => run_stage::<stage::Partition>(call),
        Task::Stage(StageId::Pca) => run_stage::<stage::Pca>(call),
        Task::Stage(StageId::Rf) => run_stage::<stage::Rf>(call),
        Task::Stage(StageId::Validation) => run_stage::<stage::Validation>(call),
        Task::ValidationPart => run_part(call),
    }
}

/// A call's job, environment and objects, as its compute takes them.
fn unpack<J: serde::de::DeserializeOwned>(call: Call) -> Result<(J, Env, Fetched)> {
    let job = serde_json::from_slice(&call.job)
        .map_err(|e| malformed(&format!("{} job: {e}", call.task.name())))?;
    let env = serde_json::from_slice(&call.env).map_err(|e| malformed(&format!("env: {e}")))?;
    let mut objects = Fetched::new();
    for (key, bytes) in call.objects {
        objects.insert(key, bytes);
    }
    Ok((job, env, objects))
}

fn run_part(call: Call) -> Result<Reply> {
    let (part, env, objects) = unpack::<ValidationPart>(call)?;
    match crate::stages::validation::predict_part(&env, part, &objects) {
        Ok(predicted) => Ok(Reply::Done {
            output: serde_json::to_vec(&predicted)
                .map_err(|e| malformed(&format!("validation-part output: {e}")))?,
            writes: Vec::new(),
        }),
        Err(e) => Ok(Reply::Refused(Refusal::of(&e))),
    }
}

fn run_stage<S: Stage>(call: Call) -> Result<Reply> {
    let (job, env, objects) = unpack::<S::Job>(call)?;
    let computed = match S::compute(&env, job, &objects) {
        Ok(computed) => computed,
        Err(e) => return Ok(Reply::Refused(Refusal::of(&e))),
    };
    let output = serde_json::to_vec(&computed.output)
        .map_err(|e| malformed(&format!("{} output: {e}", S::ID)))?;
    Ok(Reply::Done {
        output,
        writes: computed.writes,
    })
}

/// A validation call split for a host with idle cores: the calls of the parts of its
/// prediction ([`Task::ValidationPart`], at most `parts`, each with the bases, the forests
/// and its own test images), to run side by side, and what makes the scoring call of
/// their findings ([`AfterParts::call`]). `None` when `call` is not a validation call or
/// one part would do.
pub fn validation_parts(call: &Call, parts: usize) -> Result<Option<(Vec<Call>, AfterParts)>> {
    if call.task != Task::Stage(StageId::Validation) || parts < 2 {
        return Ok(None);
    }
    let job: ValidationJob = serde_json::from_slice(&call.job)
        .map_err(|e| malformed(&format!("validation job: {e}")))?;
    let list = test_list(call, &job)?;
    let features = list.image_size.features(list.channels);
    let rows = crate::stages::part_rows(list.items.len(), features, parts);
    if rows.len() < 2 {
        return Ok(None);
    }
    let model: std::collections::HashSet<&str> = std::iter::once(job.input.test_list.as_str())
        .chain(job.input.bases.iter().map(String::as_str))
        .chain(job.input.forests.iter().map(|f| f.forest.as_str()))
        .collect();
    let shared: Vec<(String, Bytes)> = call
        .objects
        .iter()
        .filter(|(key, _)| model.contains(key.as_str()))
        .cloned()
        .collect();
    let by_key: std::collections::HashMap<&str, &Bytes> =
        call.objects.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let calls = rows
        .into_iter()
        .map(|rows| {
            let mut objects = shared.clone();
            // An image the host could not find stays out, for the part to name.
            objects.extend(list.items[rows.clone()].iter().filter_map(|item| {
                by_key
                    .get(item.key.as_str())
                    .map(|bytes| (item.key.clone(), (*bytes).clone()))
            }));
            let part = ValidationPart {
                input: job.input.clone(),
                rows,
            };
            Ok(Call {
                task: Task::ValidationPart,
                job: serde_json::to_vec(&part)
                    .map_err(|e| malformed(&format!("validation-part job: {e}")))?,
                env: call.env.clone(),
                objects,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((calls, AfterParts { job, list })))
}

/// What a split validation call keeps for its scoring call.
#[derive(Debug)]
pub struct AfterParts {
    job: ValidationJob,
    list: KeyList,
}

impl AfterParts {
    /// The validation call that scores what its parts predicted: `call` (the call split)
    /// with their findings, in row order, and without the test images, which it no longer
    /// reads. `seconds` is the time the parts took, added to the call's own.
    pub fn call(self, call: Call, parts: Vec<Predicted>, seconds: f64) -> Result<Call> {
        let Self { mut job, list } = self;
        let images: std::collections::HashSet<&str> =
            list.items.iter().map(|i| i.key.as_str()).collect();
        let objects = call
            .objects
            .into_iter()
            .filter(|(key, _)| key == &job.input.test_list || !images.contains(key.as_str()))
            .collect();
        job.input.stages.validation += seconds;
        job.predicted = Some(Predicted::join(parts));
        Ok(Call {
            task: call.task,
            job: serde_json::to_vec(&job)
                .map_err(|e| malformed(&format!("validation job: {e}")))?,
            env: call.env,
            objects,
        })
    }
}

/// The test list a validation call carries.
fn test_list(call: &Call, job: &ValidationJob) -> Result<KeyList> {
    let key = &job.input.test_list;
    let bytes = call
        .objects
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, bytes)| bytes)
        .ok_or_else(|| Error::Store(mltrain_store::Error::NotFound { key: key.clone() }))?;
    crate::objects::decode(key, bytes)
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    // A module's memory is at most 4 GiB: no blob can be longer than a u32 says.
    put_u32(out, u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(bytes);
}

fn put_pairs(out: &mut Vec<u8>, pairs: &[(String, Bytes)]) {
    put_u32(out, u32::try_from(pairs.len()).unwrap_or(u32::MAX));
    for (key, bytes) in pairs {
        put_blob(out, key.as_bytes());
        put_blob(out, bytes);
    }
}

/// Reads an ABI message front to back.
struct Reader<'a> {
    whole: &'a Bytes,
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(whole: &'a Bytes) -> Self {
        Self { whole, at: 0 }
    }

    fn rest(&self) -> usize {
        self.whole.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest() < n {
            return Err(malformed("cut short"));
        }
        let head = &self.whole[self.at..self.at + n];
        self.at += n;
        Ok(head)
    }

    /// The next blob as a slice of the message, sharing its buffer.
    fn shared_blob(&mut self) -> Result<Bytes> {
        let n = self.u32()? as usize;
        let start = self.at;
        self.take(n)?;
        Ok(self.whole.slice(start..start + n))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn magic(&mut self, magic: &[u8; 4]) -> Result<()> {
        if self.take(4)? != magic {
            return Err(malformed("not an mltrain call or reply"));
        }
        match self.u32()? {
            VERSION => Ok(()),
            v => Err(malformed(&format!("version {v}, expected {VERSION}"))),
        }
    }

    fn blob(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.blob()?.to_vec()).map_err(|_| malformed("a key is not UTF-8"))
    }

    fn pairs(&mut self) -> Result<Vec<(String, Bytes)>> {
        let n = self.u32()? as usize;
        // Each pair takes at least 8 bytes: a count past that is a lie, not an allocation.
        if n > self.rest() / 8 {
            return Err(malformed("more objects than bytes"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.string()?;
            out.push((key, self.shared_blob()?));
        }
        Ok(out)
    }

    fn end(&self) -> Result<()> {
        if self.rest() == 0 {
            Ok(())
        } else {
            Err(malformed("bytes after the end"))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    fn call() -> Call {
        Call {
            task: Task::Stage(StageId::Rf),
            job: b"{}".to_vec(),
            env: b"{}".to_vec(),
            objects: vec![
                ("a/b".into(), Bytes::from_static(&[1, 2, 3])),
                ("c".into(), Bytes::new()),
            ],
        }
    }

    #[test]
    fn calls_and_replies_round_trip() {
        let c = call();
        assert_eq!(Call::decode(&c.encode().into()).unwrap(), c);
        let done = Reply::Done {
            output: b"{\"x\":1}".to_vec(),
            writes: vec![("k".into(), vec![9; 5].into())],
        };
        assert_eq!(Reply::decode(&done.encode().into()).unwrap(), done);
        let refused = Reply::Refused(Refusal {
            message: "no".into(),
            bad_input: true,
            bad_images: vec![("k".into(), "junk".into())],
        });
        assert_eq!(Reply::decode(&refused.encode().into()).unwrap(), refused);
    }

    /// Every cut of a message, and a lying count, is refused as malformed, never a panic
    /// or a huge allocation.
    #[test]
    fn damaged_messages_are_refused() {
        let bytes = call().encode();
        for n in 0..bytes.len() {
            assert!(
                Call::decode(&Bytes::copy_from_slice(&bytes[..n])).is_err(),
                "cut at {n}"
            );
        }
        let mut lying = bytes.clone();
        // The object count: after the magic, the version, "rf", "{}" and "{}".
        let at = 4 + 4 + (4 + 2) + (4 + 2) + (4 + 2);
        assert_eq!(lying[at..at + 4], 2u32.to_le_bytes());
        lying[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Call::decode(&lying.into()).is_err());
        let mut long = bytes;
        long.push(0);
        assert!(Call::decode(&long.into()).is_err());
    }

    /// A call the module cannot read is answered with a refusal, not a crash.
    #[test]
    fn the_module_refuses_what_it_cannot_read() {
        let reply = Reply::decode(&handle(b"garbage".to_vec()).into()).unwrap();
        let Reply::Refused(refusal) = reply else {
            panic!("{reply:?}")
        };
        assert!(refusal.message.contains("malformed"), "{}", refusal.message);
    }
}
