//! The event-driven flow: the workflow without a driver, as Knative Eventing runs it.
//!
//! Each step runs one function on a `dev.mltrain.flow.<function>` event and returns the
//! events that come next, which the caller posts to its sink (the next channel):
//!
//! ```text
//! flow.partition ─▶ partition ─▶ N × flow.pca ─▶ pca i ─▶ (forests of i) × flow.rf ─▶ rf
//!   rf: when every forest of the run is done ─▶ flow.validation ─▶ validation ─▶ validation.response
//! ```
//!
//! Fan-in needs no coordinator and no conditional write: each step leaves a small JSON note
//! of its output under `<run dir>/flow/`, and an rf step that finds all `num_rf` notes there
//! assembles the validation input from them. Two rf steps finishing together may both do so;
//! validation is idempotent (same inputs, same report and model bytes), so running it twice
//! is harmless. (Garage ignores `If-None-Match`, so a "create if absent" election would not
//! be safe anyway.) Stage times in a flow run are each fan-out's slowest function.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{AttributesReader, Event};
use mltrain_workflow::layout::RunLayout;
use mltrain_workflow::report::StageTimes;
use mltrain_workflow::stages::{
    self, ForestRef, PartitionInput, PartitionOutput, PcaInput, PcaOutput, RfInput, RfOutput,
    ValidationInput,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::events;
use crate::function::{EventKind, Function};
use crate::runner::Runner;

/// Data of a `flow.pca` event: the PCA input, and what its forests will need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaStep {
    pub input: PcaInput,
    pub n_classes: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartitionNote {
    params: mltrain_workflow::params::Params,
    output: PartitionOutput,
    started_unix_ms: u64,
    seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct PcaNote {
    output: PcaOutput,
    seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RfNote {
    output: RfOutput,
    seconds: f64,
}

/// Runs the step an event asks for and returns the events that follow it. A plain
/// `<function>.request` is one step too: it is followed by its `<function>.response`.
pub async fn handle(runner: &Runner, event: &Event) -> Result<Vec<Event>> {
    match EventKind::parse(event.ty()) {
        Some(EventKind::Flow(f)) => step(runner, f, event).await,
        Some(EventKind::Request(f)) => {
            let out = runner.invoke(f, event).await?;
            Ok(vec![events::new_event(
                f,
                &f.response_type(),
                Some(&out.run_id),
                &out.data,
            )?])
        }
        _ => Err(Error::BadEvent {
            reason: format!(
                "type `{}` is not dev.mltrain.flow.<function> or dev.mltrain.<function>.request",
                event.ty()
            ),
        }),
    }
}

/// Runs `function` as a step of the flow.
pub async fn step(runner: &Runner, function: Function, event: &Event) -> Result<Vec<Event>> {
    let ctx = &runner.ctx;
    let started = Instant::now();
    match function {
        Function::Partition => {
            let input: PartitionInput = events::data_of(event)?;
            let (run_id, params) = (input.run_id.clone(), input.params.clone());
            let output = stages::partition(ctx, input).await?;
            let note = PartitionNote {
                params: params.clone(),
                output: output.clone(),
                started_unix_ms: unix_ms(),
                seconds: started.elapsed().as_secs_f64(),
            };
            put_note(runner, &run_id, "partition", &note).await?;
            output
                .partitions
                .iter()
                .enumerate()
                .map(|(index, key_list)| {
                    let data = PcaStep {
                        input: PcaInput {
                            run_id: run_id.clone(),
                            index,
                            key_list: key_list.clone(),
                            params: params.clone(),
                        },
                        n_classes: output.classes.len(),
                    };
                    events::new_event(function, &Function::Pca.flow_type(), Some(&run_id), &data)
                })
                .collect()
        }
        Function::Pca => {
            let PcaStep { input, n_classes } = events::data_of(event)?;
            let (run_id, params) = (input.run_id.clone(), input.params.clone());
            let output = stages::pca(ctx, input).await?;
            let note = PcaNote {
                output: output.clone(),
                seconds: started.elapsed().as_secs_f64(),
            };
            put_note(runner, &run_id, &format!("pca-{}", output.index), &note).await?;
            output
                .shares
                .iter()
                .enumerate()
                .map(|(share_index, share)| {
                    let data = RfInput {
                        run_id: run_id.clone(),
                        pca_index: output.index,
                        share_index,
                        share: share.clone(),
                        n_classes,
                        params: params.clone(),
                    };
                    events::new_event(function, &Function::Rf.flow_type(), Some(&run_id), &data)
                })
                .collect()
        }
        Function::Rf => {
            let input: RfInput = events::data_of(event)?;
            let (run_id, params) = (input.run_id.clone(), input.params.clone());
            let output = stages::rf(ctx, input).await?;
            let name = format!("rf-{}-{}", output.pca_index, output.share_index);
            let note = RfNote {
                output,
                seconds: started.elapsed().as_secs_f64(),
            };
            put_note(runner, &run_id, &name, &note).await?;
            match validation_input(runner, &run_id, params.num_pca, params.num_rf).await? {
                Some(input) => Ok(vec![events::new_event(
                    function,
                    &Function::Validation.flow_type(),
                    Some(&run_id),
                    &input,
                )?]),
                None => Ok(Vec::new()),
            }
        }
        Function::Validation | Function::Driver => {
            let out = runner.invoke(function, event).await?;
            Ok(vec![events::new_event(
                function,
                &function.response_type(),
                Some(&out.run_id),
                &out.data,
            )?])
        }
    }
}

/// The validation input, once all `num_rf` forests of the run have left their notes.
async fn validation_input(
    runner: &Runner,
    run_id: &str,
    num_pca: usize,
    num_rf: usize,
) -> Result<Option<ValidationInput>> {
    let store = &runner.ctx.store;
    let listed = store
        .list(&notes_dir(run_id))
        .await
        .map_err(mltrain_workflow::Error::from)?;
    let rf_keys: Vec<String> = listed
        .into_iter()
        .map(|o| o.key)
        .filter(|k| k.rsplit('/').next().is_some_and(|n| n.starts_with("rf-")))
        .collect();
    if rf_keys.len() < num_rf {
        return Ok(None);
    }
    let partition: PartitionNote = get_note(runner, &note_key(run_id, "partition")).await?;
    let mut pcas = Vec::with_capacity(num_pca);
    for i in 0..num_pca {
        let note: PcaNote = get_note(runner, &note_key(run_id, &format!("pca-{i}"))).await?;
        pcas.push(note);
    }
    let mut rfs = Vec::with_capacity(rf_keys.len());
    for key in &rf_keys {
        let note: RfNote = get_note(runner, key).await?;
        rfs.push(note);
    }
    rfs.sort_by_key(|n| (n.output.pca_index, n.output.share_index));
    let slowest = |s: &mut dyn Iterator<Item = f64>| s.fold(0.0, f64::max);
    let elapsed = unix_ms().saturating_sub(partition.started_unix_ms) as f64 / 1000.0;
    Ok(Some(ValidationInput {
        run_id: run_id.to_string(),
        params: partition.params.clone(),
        test_list: partition.output.test_list.clone(),
        bases: pcas.iter().map(|p| p.output.basis.clone()).collect(),
        forests: rfs
            .iter()
            .map(|r| ForestRef {
                basis: r.output.pca_index,
                forest: r.output.forest.clone(),
            })
            .collect(),
        train_images: partition.output.train_images,
        stages: StageTimes {
            partition: partition.seconds,
            pca: slowest(&mut pcas.iter().map(|p| p.seconds)),
            rf: slowest(&mut rfs.iter().map(|r| r.seconds)),
            validation: 0.0,
        },
        elapsed_seconds: elapsed + partition.seconds,
        explained_variance_ratio: pcas
            .iter()
            .map(|p| p.output.explained_variance_ratio)
            .collect(),
        components: pcas.iter().map(|p| p.output.components).collect(),
    }))
}

fn notes_dir(run_id: &str) -> String {
    format!("{}/flow", RunLayout::new(run_id).dir())
}

fn note_key(run_id: &str, name: &str) -> String {
    format!("{}/{name}.json", notes_dir(run_id))
}

async fn put_note(runner: &Runner, run_id: &str, name: &str, note: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec(note).map_err(|source| Error::Encode { source })?;
    runner
        .ctx
        .store
        .put(&note_key(run_id, name), bytes.into())
        .await
        .map_err(mltrain_workflow::Error::from)?;
    Ok(())
}

async fn get_note<T: serde::de::DeserializeOwned>(runner: &Runner, key: &str) -> Result<T> {
    let bytes = runner
        .ctx
        .store
        .get(key)
        .await
        .map_err(mltrain_workflow::Error::from)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::BadEvent {
        reason: format!("flow note `{key}` is unreadable: {e}"),
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Where follow-up events go: a channel, broker or any CloudEvents receiver (`K_SINK`).
#[derive(Debug, Clone)]
pub struct Sink {
    client: reqwest::Client,
    url: Url,
}

impl Sink {
    pub fn new(url: Url) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Sink {
                reason: e.to_string(),
                retryable: false,
            })?;
        Ok(Self { client, url })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Posts each event (binary mode), retrying a few times with backoff.
    pub async fn post(&self, events: &[Event]) -> Result<()> {
        for event in events {
            let mut attempt = 0u32;
            loop {
                let sent = match self.client.post(self.url.clone()).event(event.clone()) {
                    Ok(request) => request.send().await,
                    Err(e) => {
                        return Err(Error::Sink {
                            reason: e.to_string(),
                            retryable: false,
                        });
                    }
                };
                let failure = match sent {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) => format!("{} answered {}", self.url, r.status()),
                    Err(e) => format!("{} unreachable: {}", self.url, e.without_url()),
                };
                attempt += 1;
                if attempt >= 5 {
                    return Err(Error::Sink {
                        reason: failure,
                        retryable: true,
                    });
                }
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
        Ok(())
    }
}
