//! The driver: runs partition → pca (fan-out) → rf (fan-out) → validation (fan-in) through a
//! [`Functions`] backend, with bounded concurrency, and returns the report.

use std::future::Future;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use crate::error::Result;
use crate::params::Params;
use crate::report::{Report, StageTimes};
use crate::stages::{
    self, Ctx, ForestRef, PartitionInput, PartitionOutput, PcaInput, PcaOutput, RfInput, RfOutput,
    ValidationInput, ValidationOutput,
};

/// Where the stages run: in this process ([`Local`]) or behind some transport.
pub trait Functions: Send + Sync {
    fn partition(
        &self,
        input: PartitionInput,
    ) -> impl Future<Output = Result<PartitionOutput>> + Send;
    fn pca(&self, input: PcaInput) -> impl Future<Output = Result<PcaOutput>> + Send;
    fn rf(&self, input: RfInput) -> impl Future<Output = Result<RfOutput>> + Send;
    fn validation(
        &self,
        input: ValidationInput,
    ) -> impl Future<Output = Result<ValidationOutput>> + Send;
}

/// Runs every stage in this process.
#[derive(Debug, Clone)]
pub struct Local {
    pub ctx: Ctx,
}

impl Functions for Local {
    async fn partition(&self, input: PartitionInput) -> Result<PartitionOutput> {
        stages::partition(&self.ctx, input).await
    }
    async fn pca(&self, input: PcaInput) -> Result<PcaOutput> {
        stages::pca(&self.ctx, input).await
    }
    async fn rf(&self, input: RfInput) -> Result<RfOutput> {
        stages::rf(&self.ctx, input).await
    }
    async fn validation(&self, input: ValidationInput) -> Result<ValidationOutput> {
        stages::validation(&self.ctx, input).await
    }
}

/// The four stages, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Partition,
    Pca,
    Rf,
    Validation,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Partition => "partition",
            Stage::Pca => "pca",
            Stage::Rf => "rf",
            Stage::Validation => "validation",
        }
    }
}

/// Hears about the run as it goes; every method defaults to doing nothing.
pub trait Progress: Send + Sync {
    fn stage_started(&self, _stage: Stage, _tasks: usize) {}
    fn task_finished(&self, _stage: Stage) {}
    fn stage_finished(&self, _stage: Stage, _seconds: f64) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;
impl Progress for Quiet {}

/// Runs the whole workflow as run `run_id`, at most `concurrency` functions of a stage at once.
pub async fn run<F: Functions>(
    functions: &F,
    params: &Params,
    run_id: &str,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<Report> {
    params.check()?;
    let started = Instant::now();
    let concurrency = concurrency.max(1);
    let mut times = StageTimes::default();

    let t = Instant::now();
    progress.stage_started(Stage::Partition, 1);
    let part = functions
        .partition(PartitionInput {
            run_id: run_id.to_string(),
            params: params.clone(),
        })
        .await
        .map_err(|e| e.in_stage("partition"))?;
    times.partition = t.elapsed().as_secs_f64();
    progress.task_finished(Stage::Partition);
    progress.stage_finished(Stage::Partition, times.partition);

    let t = Instant::now();
    progress.stage_started(Stage::Pca, params.num_pca);
    let mut pcas: Vec<PcaOutput> =
        futures::stream::iter(part.partitions.iter().enumerate().map(|(index, key_list)| {
            let input = PcaInput {
                run_id: run_id.to_string(),
                index,
                key_list: key_list.clone(),
                params: params.clone(),
            };
            async move {
                let out = functions
                    .pca(input)
                    .await
                    .map_err(|e| e.in_stage(format!("pca-{index}")))?;
                progress.task_finished(Stage::Pca);
                Ok::<_, crate::Error>(out)
            }
        }))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    pcas.sort_by_key(|p| p.index);
    times.pca = t.elapsed().as_secs_f64();
    progress.stage_finished(Stage::Pca, times.pca);

    let t = Instant::now();
    progress.stage_started(Stage::Rf, params.num_rf);
    let jobs: Vec<RfInput> = pcas
        .iter()
        .flat_map(|p| {
            p.shares
                .iter()
                .enumerate()
                .map(|(share_index, share)| RfInput {
                    run_id: run_id.to_string(),
                    pca_index: p.index,
                    share_index,
                    share: share.clone(),
                    n_classes: part.classes.len(),
                    params: params.clone(),
                })
        })
        .collect();
    let mut forests: Vec<RfOutput> = futures::stream::iter(jobs.into_iter().map(|input| {
        let name = format!("rf-{}-{}", input.pca_index, input.share_index);
        async move {
            let out = functions.rf(input).await.map_err(|e| e.in_stage(name))?;
            progress.task_finished(Stage::Rf);
            Ok::<_, crate::Error>(out)
        }
    }))
    .buffer_unordered(concurrency)
    .try_collect()
    .await?;
    forests.sort_by_key(|f| (f.pca_index, f.share_index));
    times.rf = t.elapsed().as_secs_f64();
    progress.stage_finished(Stage::Rf, times.rf);

    progress.stage_started(Stage::Validation, 1);
    let input = ValidationInput {
        run_id: run_id.to_string(),
        params: params.clone(),
        test_list: part.test_list.clone(),
        bases: pcas.iter().map(|p| p.basis.clone()).collect(),
        forests: forests
            .iter()
            .map(|f| ForestRef {
                basis: f.pca_index,
                forest: f.forest.clone(),
            })
            .collect(),
        train_images: part.train_images,
        stages: times.clone(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        explained_variance_ratio: pcas.iter().map(|p| p.explained_variance_ratio).collect(),
    };
    let mut report = functions
        .validation(input)
        .await
        .map_err(|e| e.in_stage("validation"))?
        .report;
    progress.task_finished(Stage::Validation);
    progress.stage_finished(Stage::Validation, report.stages.validation);
    report.total_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
