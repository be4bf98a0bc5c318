//! The runs of a store: listing them with how each ended, reading one's call times, and
//! deleting them.
//!
//! A run is every object under `ml-training/outputs/<run-id>/` and its model,
//! `ml-training/models/<run-id>.model`. How it ended ([`Status`]) is read from what it left:
//!
//! - **published**: its model exists. Validation writes the model last, so a model means a
//!   validated run, whatever else happened.
//! - **failed** or **interrupted**: no model, and an [`Outcome`] at `<run>/outcome.json`,
//!   which `mltrain run` writes when the driver returns an error or on Ctrl-C.
//! - **unfinished**: no model and no outcome: the process was killed without a word, the
//!   run was driven by something that does not write outcomes (a served driver, the event
//!   flow), or it is still running. Nothing in the store tells these apart, so nothing
//!   deletes such a run unless asked to.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use mltrain_store::Store;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::html::CallTime;
use crate::layout::{MODELS, ROOT, RunLayout};
use crate::params::Params;
use crate::report::Report;

/// Store requests in flight when reading many runs' small objects.
const CONCURRENCY: usize = 16;

/// How a run ended, as far as the store can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Validated, and its model published.
    Published,
    /// Stopped on an error; its outcome says which.
    Failed,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// No model and no outcome: killed, driven by a driver that records no outcome, or
    /// still running.
    Unfinished,
}

impl Status {
    /// `published`, `failed`, `interrupted` or `unfinished`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Published => "published",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::Unfinished => "unfinished",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run that did not publish ended, written by the process that ran it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// [`Status::Failed`] or [`Status::Interrupted`].
    pub status: Status,
    /// What stopped it: the error, or that it was interrupted.
    pub message: String,
    /// When, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

/// One run of a store, as [`list`] finds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id.
    pub run_id: String,
    /// When it started (UTC, from its id: `2026-11-21T23:59:59.123Z`); `None` for an id
    /// [`crate::layout::new_run_id`] did not make.
    pub started: Option<String>,
    /// How it ended.
    pub status: Status,
    /// Its parameters (`params.json`); `None` when they are gone or do not read.
    pub params: Option<Params>,
    /// The test accuracy, when it has a report.
    pub accuracy: Option<f64>,
    /// Its model's key, when published.
    pub model_key: Option<String>,
    /// Why it failed or that it was interrupted, from its outcome.
    pub message: Option<String>,
    /// Objects it holds, its model included.
    pub objects: usize,
    /// Bytes of those objects.
    pub bytes: u64,
}

/// The start time encoded in a run id made by [`crate::layout::new_run_id`]
/// (`20261121T235959.123Z-abcdef` → `2026-11-21T23:59:59.123Z`).
pub fn started(run_id: &str) -> Option<String> {
    let stamp = run_id.split('-').next()?;
    let b = stamp.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shaped = b.len() == 20
        && digits(0..8)
        && b[8] == b'T'
        && digits(9..15)
        && b[15] == b'.'
        && digits(16..19)
        && b[19] == b'Z';
    shaped.then(|| {
        format!(
            "{}-{}-{}T{}:{}:{}",
            &stamp[0..4],
            &stamp[4..6],
            &stamp[6..8],
            &stamp[9..11],
            &stamp[11..13],
            &stamp[13..]
        )
    })
}

/// The folder that holds every run's outputs.
fn outputs() -> String {
    format!("{ROOT}/outputs")
}

/// Every run of `store`, newest first (run ids sort by start time): those with outputs and
/// those with only a model left.
pub async fn list(store: &Store) -> Result<Vec<RunInfo>> {
    let mut found: BTreeMap<String, (usize, u64, bool)> = BTreeMap::new();
    let prefix = format!("{}/", outputs());
    for object in store.list(&outputs()).await? {
        let Some(id) = object
            .key
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('/').next())
        else {
            continue;
        };
        let entry = found.entry(id.to_string()).or_default();
        entry.0 += 1;
        entry.1 += object.size;
    }
    for object in store.list(MODELS).await? {
        let Some(id) = object
            .key
            .strip_prefix(&format!("{MODELS}/"))
            .and_then(|name| name.strip_suffix(".model"))
        else {
            continue;
        };
        let entry = found.entry(id.to_string()).or_default();
        entry.0 += 1;
        entry.1 += object.size;
        entry.2 = true;
    }
    let mut runs: Vec<RunInfo> = futures::stream::iter(found.into_iter().map(
        |(id, (objects, bytes, published))| async move {
            describe(store, id, objects, bytes, published).await
        },
    ))
    .buffered(CONCURRENCY)
    .try_collect()
    .await?;
    runs.reverse();
    Ok(runs)
}

/// Reads what a run's status, parameters and accuracy need.
async fn describe(
    store: &Store,
    run_id: String,
    objects: usize,
    bytes: u64,
    published: bool,
) -> Result<RunInfo> {
    let layout = RunLayout::new(&run_id);
    let (params, report, outcome) = futures::try_join!(
        get_json::<Params>(store, layout.params()),
        get_json::<Report>(store, layout.report()),
        get_json::<Outcome>(store, layout.outcome()),
    )?;
    let status = match (published, &outcome) {
        (true, _) => Status::Published,
        (false, Some(o)) if matches!(o.status, Status::Failed | Status::Interrupted) => o.status,
        _ => Status::Unfinished,
    };
    Ok(RunInfo {
        started: started(&run_id),
        status,
        params,
        accuracy: report.as_ref().map(|r| r.accuracy),
        model_key: published.then(|| layout.model()),
        message: outcome.filter(|_| !published).map(|o| o.message),
        objects,
        bytes,
        run_id,
    })
}

/// The JSON object under `key`; `None` when there is none or it does not read as a `T`.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: String,
) -> Result<Option<T>> {
    match store.get(&key).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(mltrain_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The report of run `run_id`, when it has one that reads.
pub async fn report(store: &Store, run_id: &str) -> Result<Option<Report>> {
    get_json(store, RunLayout::new(run_id).report()).await
}

/// Every call run `run_id` recorded, as the timeline of its report draws them.
pub async fn calls(store: &Store, run_id: &str) -> Result<Vec<CallTime>> {
    let layout = RunLayout::new(run_id);
    let prefix = format!("{}/", layout.records());
    let keys = store.keys(&layout.records()).await?;
    let records = store.get_many(&keys, CONCURRENCY).await?;
    Ok(keys
        .iter()
        .zip(records)
        .filter_map(|(key, bytes)| {
            let name = key.strip_prefix(&prefix)?.strip_suffix(".json")?;
            CallTime::from_record(name, &bytes)
        })
        .collect())
}

/// Writes how run `run_id` ended, unless it has no parameters: a run refused before it
/// recorded them left nothing to list.
pub async fn record_outcome(
    store: &Store,
    run_id: &str,
    status: Status,
    message: &str,
) -> Result<()> {
    let layout = RunLayout::new(run_id);
    if !store.exists(&layout.params()).await? {
        return Ok(());
    }
    let outcome = Outcome {
        status,
        message: message.to_string(),
        unix_ms: crate::stage::unix_ms(),
    };
    let json = serde_json::to_vec_pretty(&outcome).map_err(|e| crate::Error::Task {
        stage: "driver",
        reason: format!("cannot encode the run's outcome: {e}"),
    })?;
    store.put(&layout.outcome(), json.into()).await?;
    Ok(())
}

/// Forgets how run `run_id` ended last time, when it is being resumed.
pub async fn clear_outcome(store: &Store, run_id: &str) -> Result<()> {
    Ok(store.delete(&RunLayout::new(run_id).outcome()).await?)
}

/// Deletes everything of run `run_id`: its outputs, then its model. Returns how many
/// objects were deleted.
pub async fn delete(store: &Store, run_id: &str) -> Result<usize> {
    let layout = RunLayout::new(run_id);
    let outputs = store.delete_prefix(&layout.dir()).await?;
    let model = layout.model();
    let published = store.exists(&model).await?;
    store.delete(&model).await?;
    Ok(outputs + usize::from(published))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn start_times_come_from_run_ids() {
        assert_eq!(
            started("20261121T235959.123Z-abcdef").as_deref(),
            Some("2026-11-21T23:59:59.123Z")
        );
        assert_eq!(started("doc-run"), None);
        assert_eq!(
            started(&crate::layout::new_run_id()).map(|s| s.len()),
            Some(24)
        );
    }
}
