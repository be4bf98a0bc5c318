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
//! Fan-in needs no coordinator and no conditional write: every call records its output in
//! the run's `calls/` folder ([`mltrain_workflow::stage::Record`]), the same records
//! `--resume` reads, and an rf step that finds all `num_rf` forest records there builds the
//! validation input from them. Two rf steps finishing together may both do so; validation
//! is idempotent (same inputs, same report and model bytes), so running it twice is
//! harmless. (Garage ignores `If-None-Match`, so a "create if absent" election would not be
//! safe anyway.) Stage times in a flow run are each fan-out's slowest function.

use std::time::Duration;

use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{AttributesReader, Event};
use mltrain_workflow::layout::RunLayout;
use mltrain_workflow::report::StageTimes;
use mltrain_workflow::stage::{self, Record};
use mltrain_workflow::stages::{PcaInput, RfInput, ValidationInput};
use serde::Serialize;
use url::Url;

use crate::error::{Error, Result};
use crate::events;
use crate::function::{EventKind, Function};
use crate::runner::Runner;

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
    match function {
        Function::Partition => {
            let input: mltrain_workflow::stages::PartitionInput = events::data_of(event)?;
            let params = input.params.clone();
            let (run_id, output) = runner.call::<stage::Partition>(input).await?;
            follow_ups(
                function,
                Function::Pca,
                &run_id,
                stage::pca_inputs(&run_id, &params, &output),
            )
        }
        Function::Pca => {
            let input: PcaInput = events::data_of(event)?;
            let params = input.params.clone();
            let (run_id, output) = runner.call::<stage::Pca>(input).await?;
            follow_ups(
                function,
                Function::Rf,
                &run_id,
                stage::rf_inputs(&run_id, &params, &output),
            )
        }
        Function::Rf => {
            let input: RfInput = events::data_of(event)?;
            let params = input.params.clone();
            let (run_id, _) = runner.call::<stage::Rf>(input).await?;
            let next = validation_input(runner, &run_id, &params).await?;
            follow_ups(function, Function::Validation, &run_id, next)
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

/// The `flow.<next>` events, one per input, that `from` emits.
fn follow_ups(
    from: Function,
    next: Function,
    run_id: &str,
    inputs: impl IntoIterator<Item = impl Serialize>,
) -> Result<Vec<Event>> {
    inputs
        .into_iter()
        .map(|input| events::new_event(from, &next.flow_type(), Some(run_id), &input))
        .collect()
}

/// The validation input, once all `num_rf` forests of the run have recorded their outputs.
async fn validation_input(
    runner: &Runner,
    run_id: &str,
    params: &mltrain_workflow::params::Params,
) -> Result<Option<ValidationInput>> {
    let (num_pca, num_rf) = (params.num_pca, params.num_rf);
    let store = &runner.ctx.store;
    let listed = store
        .list(&RunLayout::new(run_id).records())
        .await
        .map_err(mltrain_workflow::Error::from)?;
    let rf_names: Vec<String> = listed
        .into_iter()
        .filter_map(|o| {
            let name = o.key.rsplit('/').next()?.strip_suffix(".json")?;
            name.starts_with("rf-").then(|| name.to_string())
        })
        .collect();
    if rf_names.len() < num_rf {
        return Ok(None);
    }
    let partition = read_record::<stage::Partition>(runner, run_id, "partition").await?;
    let mut pcas = Vec::with_capacity(num_pca);
    for i in 0..num_pca {
        pcas.push(read_record::<stage::Pca>(runner, run_id, &format!("pca-{i}")).await?);
    }
    let mut rfs = Vec::with_capacity(rf_names.len());
    for name in &rf_names {
        rfs.push(read_record::<stage::Rf>(runner, run_id, name).await?);
    }
    rfs.sort_by_key(|r| (r.output.pca_index, r.output.share_index));
    let slowest = |s: &mut dyn Iterator<Item = f64>| s.fold(0.0, f64::max);
    let times = StageTimes {
        partition: partition.seconds,
        pca: slowest(&mut pcas.iter().map(|p| p.seconds)),
        rf: slowest(&mut rfs.iter().map(|r| r.seconds)),
        validation: 0.0,
    };
    let elapsed = stage::unix_ms().saturating_sub(partition.started_unix_ms) as f64 / 1000.0;
    let pcas: Vec<_> = pcas.into_iter().map(|r| r.output).collect();
    let rfs: Vec<_> = rfs.into_iter().map(|r| r.output).collect();
    Ok(Some(stage::validation_input(
        run_id,
        params,
        &partition.output,
        &pcas,
        &rfs,
        times,
        elapsed,
    )))
}

async fn read_record<S: stage::Stage>(
    runner: &Runner,
    run_id: &str,
    name: &str,
) -> Result<Record<S::Output>> {
    stage::record::<S>(&runner.ctx.store, run_id, name)
        .await?
        .ok_or_else(|| Error::BadEvent {
            reason: format!("run `{run_id}` has no readable record of call `{name}`"),
        })
}

/// Where follow-up events go: a channel, broker or any CloudEvents receiver (`K_SINK`).
#[derive(Debug, Clone)]
pub struct Sink {
    client: reqwest::Client,
    url: Url,
}

impl Sink {
    /// A sink posting to `url`, each request bounded to 30 s (5 s to connect).
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

    /// Where the events go.
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
