//! A stage as one type: its name, its input and output, and the call that runs it.
//!
//! Every backend is generic over [`Stage`]: the driver's [`Functions`](crate::driver::Functions)
//! (in this process, over HTTP), the served functions and the event-driven flow. A stage's
//! input is built in one place ([`pca_inputs`], [`rf_inputs`], [`validation_input`]), used by
//! the driver and the flow alike. Every call, on every backend, ends by recording its output
//! ([`Record`], under the run's `calls/`): `--resume` and the flow's fan-in both read those
//! records, then check the objects they name.
//!
//! A stage is a sans-I/O core with a thin I/O shell: [`Stage::gather`] reads what a call
//! needs, [`Stage::compute`] turns its job and those objects (bytes, [`Objects`]) into its
//! output and the objects to write ([`Computed`]) without any I/O of its own, and the shell
//! writes them. [`call`] runs the compute in this process; [`call_with`] hands it to
//! another runtime (a WebAssembly sandbox) with the same bytes.

#[cfg(feature = "io")]
use std::future::Future;
#[cfg(feature = "io")]
use std::time::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[cfg(feature = "io")]
use crate::error::Error;
use crate::error::Result;
#[cfg(feature = "io")]
use crate::layout::RunLayout;
use crate::params::Params;
use crate::report::StageTimes;
#[cfg(feature = "io")]
use crate::stages::Ctx;
use crate::stages::{
    self, Computed, Env, ForestRef, Objects, PartitionInput, PartitionOutput, PcaInput, PcaOutput,
    RfInput, RfOutput, ValidationInput, ValidationOutput,
};

/// The four stages, by name: what routes, CloudEvent types, progress and records use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageId {
    /// Lists the data and deals it over the PCA functions.
    Partition,
    /// Fits one PCA basis and projects one partition (×N).
    Pca,
    /// Trains one random forest on one share of projected rows (×M).
    Rf,
    /// Scores the ensemble on the test set and publishes the model.
    Validation,
}

impl StageId {
    /// Every stage, in the order a run calls them.
    pub const ALL: [StageId; 4] = [
        StageId::Partition,
        StageId::Pca,
        StageId::Rf,
        StageId::Validation,
    ];

    /// The stage's name: `partition`, `pca`, `rf` or `validation`.
    pub fn name(self) -> &'static str {
        match self {
            StageId::Partition => "partition",
            StageId::Pca => "pca",
            StageId::Rf => "rf",
            StageId::Validation => "validation",
        }
    }

    /// The stage called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for StageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One stage of the workflow. Its calls are idempotent: the same input writes the same
/// objects, so any call may be retried or run twice.
///
/// A call is [`gather`](Stage::gather) (the shell reads), [`compute`](Stage::compute) (the
/// sans-I/O core), then the shell writes what the compute returned; [`call`] does all three
/// in this process, [`call_with`] lets another runtime do the compute.
pub trait Stage: Send + Sync + 'static {
    /// Which stage this is.
    const ID: StageId;
    /// What one call takes; small (keys and parameters), so it travels in any transport.
    type Input: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// What one call returns; small too: the keys of the objects it wrote, and counts.
    type Output: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// What the compute takes besides the objects: the input, and what the shell learnt
    /// that is not an object (the partition's listings).
    type Job: Serialize + DeserializeOwned + std::fmt::Debug + Send + 'static;

    /// The run a call belongs to.
    fn run_id(input: &Self::Input) -> &str;

    /// The call's name within its run (`partition`, `pca-3`, `rf-0-1`, `validation`): it
    /// names the call's record, its errors and its retries.
    fn call_name(input: &Self::Input) -> String;

    #[cfg(feature = "io")]
    /// The shell's first half: refuses a bad input, and reads what the compute needs.
    fn gather(
        ctx: &Ctx,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Gathered<Self::Job>>> + Send;

    /// The sans-I/O core: the job and the objects `gather` named, to the output and the
    /// objects to write. No I/O beyond `objects.get`.
    fn compute(env: &Env, job: Self::Job, objects: &dyn Objects) -> Result<Computed<Self::Output>>;

    #[cfg(feature = "io")]
    /// A compute's error, completed with what only the store can tell (the PCA stage adds
    /// the bad test images to its bad training images). As it is, by default.
    fn explain(_ctx: &Ctx, _input: &Self::Input, err: Error) -> impl Future<Output = Error> + Send {
        std::future::ready(err)
    }
}

/// What a stage's shell read for its compute.
pub struct Gathered<J> {
    /// The compute's job.
    pub job: J,
    /// Every key the compute may read from `objects`, for a host that must hand them all
    /// over at once (the compute may read fewer: a sample stops at its first good image).
    pub keys: Vec<String>,
    /// The objects: fetched, or read from a local directory as the compute asks.
    pub objects: Box<dyn Objects>,
}

impl<J: std::fmt::Debug> std::fmt::Debug for Gathered<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gathered")
            .field("job", &self.job)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// The partition stage.
#[derive(Debug, Clone, Copy)]
pub struct Partition;
/// The PCA stage.
#[derive(Debug, Clone, Copy)]
pub struct Pca;
/// The random-forest stage.
#[derive(Debug, Clone, Copy)]
pub struct Rf;
/// The validation stage.
#[derive(Debug, Clone, Copy)]
pub struct Validation;

impl Stage for Partition {
    const ID: StageId = StageId::Partition;
    type Input = PartitionInput;
    type Output = PartitionOutput;
    type Job = stages::PartitionJob;
    fn run_id(input: &PartitionInput) -> &str {
        &input.run_id
    }
    fn call_name(_: &PartitionInput) -> String {
        "partition".into()
    }
    #[cfg(feature = "io")]
    fn gather(
        ctx: &Ctx,
        input: &PartitionInput,
    ) -> impl Future<Output = Result<Gathered<Self::Job>>> + Send {
        stages::partition::gather(ctx, input)
    }
    fn compute(
        env: &Env,
        job: Self::Job,
        objects: &dyn Objects,
    ) -> Result<Computed<PartitionOutput>> {
        stages::partition::compute(env, job, objects)
    }
}

impl Stage for Pca {
    const ID: StageId = StageId::Pca;
    type Input = PcaInput;
    type Output = PcaOutput;
    type Job = PcaInput;
    fn run_id(input: &PcaInput) -> &str {
        &input.run_id
    }
    fn call_name(input: &PcaInput) -> String {
        format!("pca-{}", input.index)
    }
    #[cfg(feature = "io")]
    fn gather(
        ctx: &Ctx,
        input: &PcaInput,
    ) -> impl Future<Output = Result<Gathered<PcaInput>>> + Send {
        stages::pca::gather(ctx, input)
    }
    fn compute(env: &Env, job: PcaInput, objects: &dyn Objects) -> Result<Computed<PcaOutput>> {
        stages::pca::compute(env, job, objects)
    }
    #[cfg(feature = "io")]
    fn explain(ctx: &Ctx, input: &PcaInput, err: Error) -> impl Future<Output = Error> + Send {
        stages::pca::explain(ctx, input, err)
    }
}

impl Stage for Rf {
    const ID: StageId = StageId::Rf;
    type Input = RfInput;
    type Output = RfOutput;
    type Job = RfInput;
    fn run_id(input: &RfInput) -> &str {
        &input.run_id
    }
    fn call_name(input: &RfInput) -> String {
        format!("rf-{}-{}", input.pca_index, input.share_index)
    }
    #[cfg(feature = "io")]
    fn gather(
        ctx: &Ctx,
        input: &RfInput,
    ) -> impl Future<Output = Result<Gathered<RfInput>>> + Send {
        stages::rf::gather(ctx, input)
    }
    fn compute(env: &Env, job: RfInput, objects: &dyn Objects) -> Result<Computed<RfOutput>> {
        stages::rf::compute(env, job, objects)
    }
}

impl Stage for Validation {
    const ID: StageId = StageId::Validation;
    type Input = ValidationInput;
    type Output = ValidationOutput;
    type Job = stages::ValidationJob;
    fn run_id(input: &ValidationInput) -> &str {
        &input.run_id
    }
    fn call_name(_: &ValidationInput) -> String {
        "validation".into()
    }
    #[cfg(feature = "io")]
    fn gather(
        ctx: &Ctx,
        input: &ValidationInput,
    ) -> impl Future<Output = Result<Gathered<Self::Job>>> + Send {
        stages::validation::gather(ctx, input)
    }
    fn compute(
        env: &Env,
        job: Self::Job,
        objects: &dyn Objects,
    ) -> Result<Computed<ValidationOutput>> {
        stages::validation::compute(env, job, objects)
    }
}

/// What a call leaves in its run's `calls/` folder once its objects are written: its output
/// and when it ran. The last write of every call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<O> {
    /// The call's output, as its caller received it.
    pub output: O,
    /// When the call started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// How long the call took, in seconds.
    pub seconds: f64,
}

#[cfg(feature = "io")]
/// Runs one call of stage `S` in this process and records its output: what every backend
/// ends up running, wherever the call came from.
pub async fn call<S: Stage>(ctx: &Ctx, input: S::Input) -> Result<S::Output> {
    call_with::<S, _, _>(ctx, input, |env, gathered| {
        let Gathered { job, objects, .. } = gathered;
        stages::blocking(S::ID.name(), move || S::compute(&env, job, &*objects))
    })
    .await
}

#[cfg(feature = "io")]
/// Runs one call of stage `S` with its compute done by `compute` (another runtime, a
/// sandbox): this process gathers the call's objects, hands them over, writes what comes
/// back, and records the output. `compute` returns the compute's own result inside the
/// runtime's: `Err` outside for the runtime failing, inside for the compute refusing.
pub async fn call_with<S, F, Fut>(ctx: &Ctx, input: S::Input, compute: F) -> Result<S::Output>
where
    S: Stage,
    F: FnOnce(Env, Gathered<S::Job>) -> Fut + Send,
    Fut: Future<Output = Result<Result<Computed<S::Output>>>> + Send,
{
    let started_unix_ms = unix_ms();
    let started = Instant::now();
    let gathered = S::gather(ctx, &input).await?;
    let computed = match compute(ctx.env(), gathered).await? {
        Ok(computed) => computed,
        Err(e) => return Err(S::explain(ctx, &input, e).await),
    };
    stages::commit(ctx, computed.writes).await?;
    let record = Record {
        output: computed.output,
        started_unix_ms,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec(&record).map_err(|e| Error::Task {
        stage: S::ID.name(),
        reason: format!("cannot encode the call's record: {e}"),
    })?;
    let key = RunLayout::new(S::run_id(&input)).record(&S::call_name(&input));
    ctx.store.put(&key, json.into()).await?;
    Ok(record.output)
}

#[cfg(feature = "io")]
/// The record of call `name` of stage `S` in run `run_id`; `None` when there is none or it
/// does not read (the call then counts as not done).
pub async fn record<S: Stage>(
    store: &mltrain_store::Store,
    run_id: &str,
    name: &str,
) -> Result<Option<Record<S::Output>>> {
    crate::runs::get_json(store, RunLayout::new(run_id).record(name)).await
}

/// Milliseconds since the Unix epoch (0 on a clock before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The input of run `run_id`'s partition call.
pub fn partition_input(run_id: &str, params: &Params) -> PartitionInput {
    PartitionInput {
        run_id: run_id.to_string(),
        params: params.clone(),
    }
}

/// The inputs of the PCA calls that follow `partition`, one per key list.
pub fn pca_inputs(run_id: &str, params: &Params, partition: &PartitionOutput) -> Vec<PcaInput> {
    partition
        .partitions
        .iter()
        .enumerate()
        .map(|(index, key_list)| PcaInput {
            run_id: run_id.to_string(),
            index,
            key_list: key_list.clone(),
            params: params.clone(),
        })
        .collect()
}

/// The inputs of the forests that train on `pca`'s shares, one per share.
pub fn rf_inputs(run_id: &str, params: &Params, pca: &PcaOutput) -> Vec<RfInput> {
    pca.shares
        .iter()
        .enumerate()
        .map(|(share_index, share)| RfInput {
            run_id: run_id.to_string(),
            pca_index: pca.index,
            share_index,
            share: share.clone(),
            n_classes: pca.n_classes,
            params: params.clone(),
        })
        .collect()
}

/// The validation input once every call before it is done: `pcas` in index order, `rfs` in
/// (PCA index, share index) order. `stages` and `elapsed_seconds` are the caller's
/// measurements of the run so far.
pub fn validation_input(
    run_id: &str,
    params: &Params,
    partition: &PartitionOutput,
    pcas: &[PcaOutput],
    rfs: &[RfOutput],
    stages: StageTimes,
    elapsed_seconds: f64,
) -> ValidationInput {
    ValidationInput {
        run_id: run_id.to_string(),
        params: params.clone(),
        test_list: partition.test_list.clone(),
        bases: pcas.iter().map(|p| p.basis.clone()).collect(),
        forests: rfs
            .iter()
            .map(|f| ForestRef {
                basis: f.pca_index,
                forest: f.forest.clone(),
            })
            .collect(),
        train_images: partition.train_images,
        stages,
        elapsed_seconds,
        explained_variance_ratio: pcas.iter().map(|p| p.explained_variance_ratio).collect(),
        components: pcas.iter().map(|p| p.components).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        for id in StageId::ALL {
            assert_eq!(StageId::from_name(id.name()), Some(id));
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        }
        assert_eq!(StageId::from_name("driver"), None);
    }
}
