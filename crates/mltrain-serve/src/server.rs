//! The HTTP server: `POST /<function>` with a CloudEvent, `GET /healthz`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cloudevents::{AttributesReader, Event};

use crate::error::{Error, Result};
use crate::events;
use crate::flow::{self, Sink};
use crate::function::{EventKind, Function, HEALTH_PATH};
use crate::problem::{Problem, Secrets, chain};
use crate::runner::Runner;

/// Largest request body: stage inputs are key lists' keys, not images.
pub const MAX_BODY: usize = 16 << 20;

/// What the server runs and how it answers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Runs the function each request's event asks for.
    pub runner: Runner,
    /// The functions this server serves; the others answer 404.
    pub functions: Vec<Function>,
    /// Scrubbed from replies and logs.
    pub secrets: Secrets,
    /// Where flow steps post their follow-up events; without one, a step with exactly one
    /// follow-up replies with it (a Knative subscription's `reply` carries it on).
    pub sink: Option<Sink>,
}

/// The routes: one `POST` per served function and the health probe.
pub fn app(state: AppState) -> Router {
    let functions = state.functions.clone();
    let state = Arc::new(state);
    let mut router = Router::new().route(HEALTH_PATH, get(|| async { "ok\n" }));
    for function in functions {
        router = router.route(
            &function.path(),
            post(
                move |State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes| async move {
                    handle(&state, function, &headers, &body).await
                },
            ),
        );
    }
    router
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such function\n") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until SIGTERM or Ctrl-C, letting requests in flight
/// finish (Knative sends SIGTERM before it stops a pod).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> Result<()> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|source| Error::Serve { addr, source })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

enum Reply {
    Event(Box<Event>),
    Accepted,
}

async fn handle(
    state: &AppState,
    function: Function,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let started = Instant::now();
    let structured = events::is_structured(headers);
    let event = events::from_http(headers, body);
    let id = event
        .as_ref()
        .map(|e| e.id().to_string())
        .unwrap_or_default();
    // The run id travels as the event's subject.
    let run_id = event
        .as_ref()
        .ok()
        .and_then(|e| e.subject().map(str::to_string))
        .unwrap_or_default();
    tracing::info!(%function, %run_id, %id, "call started");
    let result = match event {
        Ok(event) => run(state, function, &event).await,
        Err(e) => Err(e),
    };
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(Reply::Event(reply)) => {
            tracing::info!(%function, %run_id, %id, seconds, status = 200, "call succeeded");
            events::to_response(*reply, structured)
        }
        Ok(Reply::Accepted) => {
            tracing::info!(%function, %run_id, %id, seconds, status = 202, "call accepted");
            StatusCode::ACCEPTED.into_response()
        }
        Err(err) => {
            let problem = Problem::from_error(function, &err, &state.secrets);
            // The log gets the whole chain; the reply only what Problem lets through.
            tracing::warn!(
                %function,
                %run_id,
                %id,
                seconds,
                status = problem.status,
                error = %state.secrets.scrub(&chain(&err)),
                "call failed"
            );
            problem.into_response()
        }
    }
}

async fn run(state: &AppState, function: Function, event: &Event) -> Result<Reply> {
    match EventKind::parse(event.ty()) {
        Some(EventKind::Flow(f)) if f == function => {
            let next = flow::step(&state.runner, function, event).await?;
            match (&state.sink, next.len()) {
                (Some(sink), _) => {
                    sink.post(&next).await?;
                    Ok(Reply::Accepted)
                }
                (None, 0) => Ok(Reply::Accepted),
                (None, 1) => Ok(Reply::Event(Box::new(
                    next.into_iter().next().expect("one event"),
                ))),
                (None, events) => Err(Error::NoSink { function, events }),
            }
        }
        Some(EventKind::Flow(_) | EventKind::Request(_) | EventKind::Response(_)) if !matches!(EventKind::parse(event.ty()), Some(EventKind::Request(f)) if f == function) => {
            Err(Error::WrongType {
                ty: event.ty().to_string(),
                function,
            })
        }
        // A request of this function, or a foreign type whose data is this function's input
        // (so a plain `curl` with any ce-type works).
        _ => {
            let out = state.runner.invoke(function, event).await?;
            Ok(Reply::Event(Box::new(events::new_event(
                function,
                &function.response_type(),
                Some(&out.run_id),
                &out.data,
            )?)))
        }
    }
}
