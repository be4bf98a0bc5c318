//! `mltrain job`: one function run from a Knative JobSink event file.
//!
//! JobSink starts a Kubernetes Job per event and mounts the event (structured-mode JSON) at
//! [`crate::JOBSINK_EVENT_FILE`]. It never replies, so the job posts its follow-up events
//! itself, to the sink; each has a fresh id, since JobSink drops a repeated source + id.

use std::path::Path;

use cloudevents::{AttributesReader, Event};

use crate::error::{Error, Result};
use crate::events;
use crate::flow::{self, Sink};
use crate::runner::Runner;

/// What a job did: the event it ran and the events that followed.
#[derive(Debug)]
pub struct JobOutcome {
    /// The event the job ran, as read from the file.
    pub event: Event,
    /// The events its step emitted: the next steps, or the function's response.
    pub follow_ups: Vec<Event>,
    /// Whether the follow-ups were posted to a sink.
    pub posted: bool,
}

/// Runs the event in `path` and posts its follow-ups to `sink` when there is one.
pub async fn run_file(runner: &Runner, path: &Path, sink: Option<&Sink>) -> Result<JobOutcome> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| Error::EventFile {
            path: path.to_path_buf(),
            source,
        })?;
    let event = events::from_json(&bytes)?;
    run_event(runner, event, sink).await
}

/// Runs one event and posts its follow-ups to `sink` when there is one.
pub async fn run_event(runner: &Runner, event: Event, sink: Option<&Sink>) -> Result<JobOutcome> {
    tracing::info!(
        kind = event.ty(),
        id = event.id(),
        run_id = event.subject().unwrap_or_default(),
        "job started"
    );
    let follow_ups = flow::handle(runner, &event).await?;
    let posted = match sink {
        Some(sink) => {
            sink.post(&follow_ups).await?;
            true
        }
        None => false,
    };
    Ok(JobOutcome {
        event,
        follow_ups,
        posted,
    })
}
