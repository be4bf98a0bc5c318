//! Runs a function on an event's data: the one adapter the server, the job runner and the
//! flow share, so every transport runs exactly the same stage code.

use cloudevents::Event;
use mltrain_workflow::driver;
use mltrain_workflow::stage::{self, Stage};
use mltrain_workflow::stages::Ctx;

use crate::client::Backend;
use crate::error::Result;
use crate::events;
use crate::function::{DriverInput, Function};

/// What functions run with: the store, and the backend the driver function chains through.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The store and limits every stage call runs with.
    pub ctx: Ctx,
    /// Where the driver function sends the stages: this process, or other services.
    pub backend: Backend,
    /// Functions of one stage the driver function runs at once.
    pub concurrency: usize,
}

/// A function's output, ready to become a reply event.
#[derive(Debug, Clone)]
pub struct Output {
    /// The run the call belongs to; the reply event's subject.
    pub run_id: String,
    /// The output as JSON: the stage's output, or the driver's report.
    pub data: serde_json::Value,
}

impl Runner {
    /// A runner whose driver runs every stage in this process.
    pub fn local(ctx: Ctx) -> Self {
        Self {
            backend: Backend::Local(driver::Local { ctx: ctx.clone() }),
            ctx,
            concurrency: 16,
        }
    }

    /// Runs `function` with the event's data as its input.
    pub async fn invoke(&self, function: Function, event: &Event) -> Result<Output> {
        match function {
            Function::Partition => self.run::<stage::Partition>(event).await,
            Function::Pca => self.run::<stage::Pca>(event).await,
            Function::Rf => self.run::<stage::Rf>(event).await,
            Function::Validation => self.run::<stage::Validation>(event).await,
            Function::Driver => {
                let input: DriverInput = events::data_of(event)?;
                let run_id = input
                    .run_id
                    .unwrap_or_else(mltrain_workflow::layout::new_run_id);
                let concurrency = input.concurrency.unwrap_or(self.concurrency);
                let report = self
                    .drive(input.params, run_id.clone(), concurrency)
                    .await?;
                Ok(Output {
                    run_id,
                    data: to_value(report)?,
                })
            }
        }
    }

    /// Runs one call of stage `S` on the event's data, as every backend does
    /// ([`stage::call`]: the stage, then its record).
    pub async fn run<S: Stage>(&self, event: &Event) -> Result<Output> {
        let (run_id, output) = self.call::<S>(events::data_of(event)?).await?;
        Ok(Output {
            run_id,
            data: to_value(output)?,
        })
    }

    /// Runs one call of stage `S` with `input`; returns its run id and output.
    pub async fn call<S: Stage>(&self, input: S::Input) -> Result<(String, S::Output)> {
        let run_id = S::run_id(&input).to_string();
        let output = stage::call::<S>(&self.ctx, input).await?;
        Ok((run_id, output))
    }
}

impl Runner {
    /// Runs the driver over this server's backend.
    async fn drive(
        &self,
        params: mltrain_workflow::params::Params,
        run_id: String,
        concurrency: usize,
    ) -> mltrain_workflow::Result<mltrain_workflow::report::Report> {
        driver::run(&self.backend, &params, &run_id, concurrency, &driver::Quiet).await
    }
}

pub(crate) fn to_value(v: impl serde::Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|source| crate::Error::Encode { source })
}
