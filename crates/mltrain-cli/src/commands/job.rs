//! `mltrain job`: one function run from a Knative JobSink event file.

use anyhow::{Context, Result};
use mltrain_serve::Runner;
use mltrain_serve::flow::Sink;
use mltrain_workflow::stages::Ctx;

use crate::cli::{Global, JobArgs};
use crate::exit::BadInput;

pub fn job(global: &Global, args: JobArgs) -> Result<()> {
    let store = super::open_store(global)?;
    let sink = match &args.sink {
        Some(url) => {
            let url = url::Url::parse(url).map_err(|e| BadInput(format!("--sink `{url}`: {e}")))?;
            Some(Sink::new(url)?)
        }
        None => None,
    };
    let runner = Runner::local(Ctx::new(store));
    let outcome = super::runtime()?
        .block_on(mltrain_serve::job::run_file(
            &runner,
            &args.event_file,
            sink.as_ref(),
        ))
        .context("job failed")?;
    if !outcome.posted {
        // No sink: the follow-ups go to stdout, one structured event per line.
        for event in &outcome.follow_ups {
            println!("{}", serde_json::to_string(event)?);
        }
    }
    eprintln!(
        "job done: {} follow-up event(s){}",
        outcome.follow_ups.len(),
        sink.map(|s| format!(" posted to {}", s.url()))
            .unwrap_or_default()
    );
    Ok(())
}
