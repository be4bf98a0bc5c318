//! The driver: runs partition → pca (fan-out) → rf (fan-out) → validation (fan-in) through a
//! [`Functions`] backend, with bounded concurrency and retries, and returns the report.
//!
//! [`run`] starts a run; [`resume`] finishes one, re-running only the stages whose outputs
//! are missing or invalid. Both are safe because every stage is idempotent: the same input
//! rewrites the same outputs.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use mltrain_store::Store;

use crate::error::{Error, Result};
use crate::layout::RunLayout;
use crate::objects::{self, KeyList, Rows};
use crate::params::Params;
use crate::report::{Report, StageTimes};
use crate::stage::{self, Stage, StageId};
use crate::stages::{Ctx, PartitionOutput, PcaOutput, RfOutput};

/// Where the stages run: in this process ([`Local`]) or behind some transport. One
/// method, generic over the [`Stage`]: a backend moves an input to a stage and its output
/// back, whichever stage it is.
pub trait Functions: Send + Sync {
    /// Calls stage `S` once with `input`. The callee records the call's output
    /// ([`stage::call`]); retries are the driver's.
    fn call<S: Stage>(&self, input: S::Input) -> impl Future<Output = Result<S::Output>> + Send;
}

/// Runs every stage in this process.
#[derive(Debug, Clone)]
pub struct Local {
    /// The store and limits the stages run with.
    pub ctx: Ctx,
}

impl Functions for Local {
    fn call<S: Stage>(&self, input: S::Input) -> impl Future<Output = Result<S::Output>> + Send {
        stage::call::<S>(&self.ctx, input)
    }
}

/// Hears about the run as it goes; every method defaults to doing nothing.
pub trait Progress: Send + Sync {
    /// Stage `stage` starts `tasks` calls.
    fn stage_started(&self, _stage: StageId, _tasks: usize) {}
    /// One call of `stage` finished (or was already done).
    fn task_finished(&self, _stage: StageId) {}
    /// Every call of `stage` finished, `seconds` after the first started.
    fn stage_finished(&self, _stage: StageId, _seconds: f64) {}
    /// A function failed in a way that may pass on a second try; it is being retried.
    fn retrying(&self, _function: &str, _attempt: u32, _error: &Error) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;
impl Progress for Quiet {}

/// How the driver runs functions.
#[derive(Debug, Clone)]
pub struct Options {
    /// Functions of one stage running at once.
    pub concurrency: usize,
    /// Tries per function, the first included; only retryable failures are tried again.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 16,
            attempts: 4,
            backoff: Duration::from_millis(200),
        }
    }
}

/// What a run already has, found by [`inspect`]; the driver skips those functions.
#[derive(Debug, Clone, Default)]
pub struct Done {
    /// The partition's output, when its record and every key list it names read.
    pub partition: Option<PartitionOutput>,
    /// Finished PCA calls by index, each with its basis and every share intact.
    pub pca: BTreeMap<usize, PcaOutput>,
    /// Finished forests by `(pca_index, share_index)`, only those of finished PCA calls.
    pub rf: BTreeMap<(usize, usize), RfOutput>,
    /// The report of a run that already published its model.
    pub report: Option<Report>,
}

impl Done {
    /// How many functions will not run again.
    pub fn count(&self) -> usize {
        usize::from(self.partition.is_some())
            + self.pca.len()
            + self.rf.len()
            + usize::from(self.report.is_some())
    }
}

/// Runs the whole workflow as run `run_id`, at most `concurrency` functions of a stage at
/// once, with the default retries.
pub async fn run<F: Functions>(
    functions: &F,
    params: &Params,
    run_id: &str,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<Report> {
    let options = Options {
        concurrency,
        ..Options::default()
    };
    run_with(functions, params, run_id, &options, progress).await
}

/// Runs the whole workflow as run `run_id`. The partition stage records the parameters in
/// the run's folder first, so that an interrupted run can be finished with [`resume`].
pub async fn run_with<F: Functions>(
    functions: &F,
    params: &Params,
    run_id: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report> {
    execute(
        functions,
        params,
        run_id,
        options,
        progress,
        Done::default(),
    )
    .await
}

/// Finishes run `run_id` with the parameters it was started with, re-running only the
/// functions whose outputs are missing or invalid (damaged, truncated, foreign).
pub async fn resume<F: Functions>(
    functions: &F,
    store: &Store,
    run_id: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report> {
    let (params, done) = inspect(store, run_id).await?;
    execute(functions, &params, run_id, options, progress, done).await
}

/// Reads what run `run_id` has produced so far. Every object is decoded, so a corrupted one
/// counts as missing and its function runs again.
pub async fn inspect(store: &Store, run_id: &str) -> Result<(Params, Done)> {
    if !crate::layout::valid_run_id(run_id) {
        return Err(Error::InvalidArgument {
            name: "--resume",
            reason: format!("`{run_id}` is not a run id"),
        });
    }
    let layout = RunLayout::new(run_id);
    let params: Params = match store.get(&layout.params()).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::InvalidArgument {
            name: "--resume",
            reason: format!("`{}` is not a run's parameters: {e}", layout.params()),
        })?,
        Err(mltrain_store::Error::NotFound { .. }) => {
            return Err(Error::InvalidArgument {
                name: "--resume",
                reason: format!(
                    "no run `{run_id}` in {} (no {})",
                    store.url(),
                    layout.params()
                ),
            });
        }
        Err(e) => return Err(e.into()),
    };
    params.check()?;
    let mut done = Done::default();

    // A published model means validation succeeded: the run is complete.
    if objects::get::<objects::Model>(store, &layout.model())
        .await
        .is_ok()
    {
        if let Ok(bytes) = store.get(&layout.report()).await {
            if let Ok(report) = serde_json::from_slice::<Report>(&bytes) {
                done.report = Some(report);
                return Ok((params, done));
            }
        }
    }

    // Each call's record says what it wrote; a call counts as done only if every object it
    // names decodes, so a damaged one is written again.
    let Some(partition) = stage::record::<stage::Partition>(store, run_id, "partition").await?
    else {
        return Ok((params, done));
    };
    let partition = partition.output;
    let lists = partition
        .partitions
        .iter()
        .chain([&partition.test_list])
        .map(|key| objects::get::<KeyList>(store, key));
    if futures::future::try_join_all(lists).await.is_err()
        || partition.partitions.len() != params.num_pca
    {
        // Without the partition every later output is suspect: run everything again.
        return Ok((params, done));
    }
    for i in 0..params.num_pca {
        let Some(record) = stage::record::<stage::Pca>(store, run_id, &format!("pca-{i}")).await?
        else {
            continue;
        };
        let pca = record.output;
        let basis = objects::get::<mltrain_core::pca::Pca>(store, &pca.basis);
        let shares = futures::future::try_join_all(
            pca.shares
                .iter()
                .map(|key| objects::get::<Rows>(store, key)),
        );
        if pca.index == i
            && pca.shares.len() == params.forests_of(i)
            && futures::try_join!(basis, shares).is_ok()
        {
            done.pca.insert(i, pca);
        }
    }
    for (&i, _) in done.pca.iter() {
        for j in 0..params.forests_of(i) {
            let Some(record) =
                stage::record::<stage::Rf>(store, run_id, &format!("rf-{i}-{j}")).await?
            else {
                continue;
            };
            let rf = record.output;
            if (rf.pca_index, rf.share_index) == (i, j)
                && objects::get::<mltrain_core::forest::Forest>(store, &rf.forest)
                    .await
                    .is_ok()
            {
                done.rf.insert((i, j), rf);
            }
        }
    }
    done.partition = Some(partition);
    Ok((params, done))
}

/// Calls `f` until it succeeds, fails for good, or `options.attempts` are used up; waits
/// `backoff`, doubling, between tries. Only retryable errors are tried again.
async fn with_retries<T, Fut>(
    name: &str,
    options: &Options,
    progress: &dyn Progress,
    mut f: impl FnMut() -> Fut,
) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    let mut wait = options.backoff;
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(out) => return Ok(out),
            Err(e) if e.is_retryable() && attempt < options.attempts.max(1) => {
                progress.retrying(name, attempt, &e);
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => return Err(e.in_stage(name)),
        }
    }
}

/// The errors of a fan-out stage as one: when every function failed on bad images, one
/// error naming all of them, so the user fixes the data in one go; otherwise the first.
fn merge_bad_images(errors: Vec<Error>) -> Error {
    let all_bad_images = errors.iter().all(
        |e| matches!(e, Error::Stage { source, .. } if matches!(**source, Error::BadImages { .. })),
    );
    if !all_bad_images {
        return errors
            .into_iter()
            .next()
            .expect("a failed stage has an error");
    }
    let mut bad = Vec::new();
    for e in errors {
        if let Error::Stage { source, .. } = e {
            if let Error::BadImages { bad: some } = *source {
                bad.extend(some);
            }
        }
    }
    // Each function that failed also names the bad test images: once is enough.
    bad.sort();
    bad.dedup();
    Error::BadImages { bad }.in_stage("pca")
}

async fn execute<F: Functions>(
    functions: &F,
    params: &Params,
    run_id: &str,
    options: &Options,
    progress: &dyn Progress,
    mut done: Done,
) -> Result<Report> {
    params.check()?;
    if let Some(report) = done.report.take() {
        return Ok(report);
    }
    let started = Instant::now();
    let concurrency = options.concurrency.max(1);
    let mut times = StageTimes::default();

    let t = Instant::now();
    progress.stage_started(StageId::Partition, 1);
    let part = match done.partition.take() {
        Some(part) => part,
        None => {
            let input = stage::partition_input(run_id, params);
            with_retries("partition", options, progress, || {
                functions.call::<stage::Partition>(input.clone())
            })
            .await?
        }
    };
    times.partition = t.elapsed().as_secs_f64();
    progress.task_finished(StageId::Partition);
    progress.stage_finished(StageId::Partition, times.partition);

    let t = Instant::now();
    progress.stage_started(StageId::Pca, params.num_pca);
    let calls = stage::pca_inputs(run_id, params, &part)
        .into_iter()
        .map(|input| (done.pca.remove(&input.index), input));
    let results: Vec<Result<PcaOutput>> = futures::stream::iter(calls.map(|(known, input)| {
        fan_out::<stage::Pca, F>(functions, options, progress, known, input)
    }))
    .buffer_unordered(concurrency)
    // Every function runs to its end, so that bad images are named all at once.
    .collect()
    .await;
    let (pcas, errors): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    if !errors.is_empty() {
        return Err(merge_bad_images(
            errors.into_iter().filter_map(Result::err).collect(),
        ));
    }
    let mut pcas: Vec<PcaOutput> = pcas.into_iter().filter_map(Result::ok).collect();
    pcas.sort_by_key(|p| p.index);
    times.pca = t.elapsed().as_secs_f64();
    progress.stage_finished(StageId::Pca, times.pca);

    let t = Instant::now();
    progress.stage_started(StageId::Rf, params.num_rf);
    let calls: Vec<(Option<RfOutput>, _)> = pcas
        .iter()
        .flat_map(|p| stage::rf_inputs(run_id, params, p))
        .map(|input| (done.rf.remove(&(input.pca_index, input.share_index)), input))
        .collect();
    let mut forests: Vec<RfOutput> =
        futures::stream::iter(calls.into_iter().map(|(known, input)| {
            fan_out::<stage::Rf, F>(functions, options, progress, known, input)
        }))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    forests.sort_by_key(|f| (f.pca_index, f.share_index));
    times.rf = t.elapsed().as_secs_f64();
    progress.stage_finished(StageId::Rf, times.rf);

    progress.stage_started(StageId::Validation, 1);
    let input = stage::validation_input(
        run_id,
        params,
        &part,
        &pcas,
        &forests,
        times.clone(),
        started.elapsed().as_secs_f64(),
    );
    let mut report = with_retries("validation", options, progress, || {
        functions.call::<stage::Validation>(input.clone())
    })
    .await?
    .report;
    progress.task_finished(StageId::Validation);
    progress.stage_finished(StageId::Validation, report.stages.validation);
    report.total_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One call of a fan-out stage: `known` when resume found it done, else called with
/// retries. Owned arguments: a closure over borrowed items makes the driver's future not
/// `Send` (the compiler cannot prove the borrow for every lifetime).
async fn fan_out<S: Stage, F: Functions>(
    functions: &F,
    options: &Options,
    progress: &dyn Progress,
    known: Option<S::Output>,
    input: S::Input,
) -> Result<S::Output> {
    let out = match known {
        Some(out) => out,
        None => {
            let name = S::call_name(&input);
            with_retries(&name, options, progress, || {
                functions.call::<S>(input.clone())
            })
            .await?
        }
    };
    progress.task_finished(S::ID);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    fn bad_in(stage: &str, keys: &[&str]) -> Error {
        Error::BadImages {
            bad: keys
                .iter()
                .map(|k| (k.to_string(), "junk".into()))
                .collect(),
        }
        .in_stage(stage)
    }

    /// Bad images found by several functions (and the test images each of them checked)
    /// become one error naming each once; any other failure is reported as it is.
    #[test]
    fn bad_images_of_a_fan_out_are_merged() {
        let merged = merge_bad_images(vec![
            bad_in("pca-0", &["d/a/1.png", "d/t/9.png"]),
            bad_in("pca-1", &["d/b/2.png", "d/t/9.png"]),
        ]);
        let Error::Stage { stage, source } = merged else {
            panic!("{merged:?}")
        };
        assert_eq!(stage, "pca");
        let Error::BadImages { bad } = *source else {
            panic!("{source:?}")
        };
        let keys: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["d/a/1.png", "d/b/2.png", "d/t/9.png"]);

        let other = Error::Task {
            stage: "pca",
            reason: "died".into(),
        }
        .in_stage("pca-1");
        let first = merge_bad_images(vec![bad_in("pca-0", &["d/a/1.png"]), other]);
        assert!(
            matches!(first, Error::Stage { ref stage, .. } if stage == "pca-0"),
            "{first:?}"
        );
    }

    /// Servers spawn the driver on a multi-threaded runtime: its futures must be `Send`.
    #[test]
    fn driver_futures_are_send() {
        let local = Local {
            ctx: Ctx::new(Store::from_url("memory://").unwrap()),
        };
        let params = Params::default();
        let options = Options::default();
        let run = run_with(&local, &params, "r", &options, &Quiet);
        assert_send(&run);
        let store = local.ctx.store.clone();
        let resume = resume(&local, &store, "r", &options, &Quiet);
        assert_send(&resume);
    }
}
