//! Runs a function on an event's data: the one adapter the server, the job runner and the
//! flow share, so every transport runs exactly the same stage code.

use cloudevents::Event;
use mltrain_workflow::driver;
use mltrain_workflow::stages::{self, Ctx};

use crate::client::Backend;
use crate::error::Result;
use crate::events;
use crate::function::{DriverInput, Function};

/// What functions run with: the store, and the backend the driver function chains through.
#[derive(Debug, Clone)]
pub struct Runner {
    pub ctx: Ctx,
    /// Where the driver function sends the stages: this process, or other services.
    pub backend: Backend,
    /// Functions of one stage the driver function runs at once.
    pub concurrency: usize,
}

/// A function's output, ready to become a reply event.
#[derive(Debug, Clone)]
pub struct Output {
    pub run_id: String,
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
        let ctx = &self.ctx;
        let (run_id, data) = match function {
            Function::Partition => {
                let input: stages::PartitionInput = events::data_of(event)?;
                let run_id = input.run_id.clone();
                (run_id, to_value(stages::partition(ctx, input).await?)?)
            }
            Function::Pca => {
                let input: stages::PcaInput = events::data_of(event)?;
                let run_id = input.run_id.clone();
                (run_id, to_value(stages::pca(ctx, input).await?)?)
            }
            Function::Rf => {
                let input: stages::RfInput = events::data_of(event)?;
                let run_id = input.run_id.clone();
                (run_id, to_value(stages::rf(ctx, input).await?)?)
            }
            Function::Validation => {
                let input: stages::ValidationInput = events::data_of(event)?;
                let run_id = input.run_id.clone();
                (run_id, to_value(stages::validation(ctx, input).await?)?)
            }
            Function::Driver => {
                let input: DriverInput = events::data_of(event)?;
                let run_id = input
                    .run_id
                    .unwrap_or_else(mltrain_workflow::layout::new_run_id);
                let concurrency = input.concurrency.unwrap_or(self.concurrency);
                let report = self
                    .drive(input.params, run_id.clone(), concurrency)
                    .await?;
                (run_id, to_value(report)?)
            }
        };
        Ok(Output { run_id, data })
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
