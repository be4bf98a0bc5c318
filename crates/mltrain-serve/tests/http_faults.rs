//! Faults injected on the HTTP backend: a function whose service fails once is retried and
//! the run publishes the same model as the local backend; a function that always fails
//! ends the run with a clear error and publishes nothing.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use mltrain_serve::{Backend, ClientConfig, Endpoints, HttpFunctions, app};
use mltrain_store::Store;
use mltrain_workflow::driver;

mod common;
use common::{local_report, params, state, tiny_store};

/// Serves every function; the first `fail_first` calls of `/rf` answer 503 without running.
async fn flaky_server(
    store: Store,
    fail_first: usize,
) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let router = app(state(store)).layer(middleware::from_fn(move |req: Request, next: Next| {
        let seen = Arc::clone(&seen);
        async move {
            if req.uri().path() == "/rf" && seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            let response: Response = next.run(req).await;
            response
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (base, calls, server)
}

fn client(base: &str) -> Backend {
    let config = ClientConfig::default();
    Backend::Http(HttpFunctions::new(Endpoints::with_base(base).unwrap(), config).unwrap())
}

#[tokio::test]
async fn a_service_that_fails_once_is_retried_to_the_same_model() {
    let store = tiny_store().await;
    let (base, calls, server) = flaky_server(store.clone(), 1).await;
    let report = driver::run(&client(&base), &params(), "flaky-http", 4, &driver::Quiet)
        .await
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3 + 1,
        "three forests, one of them tried twice"
    );

    let local = local_report(&store, "local").await;
    let a = mltrain_workflow::objects::load_model(&store, &report.model_key)
        .await
        .unwrap();
    let b = mltrain_workflow::objects::load_model(&store, &local.model_key)
        .await
        .unwrap();
    assert_eq!(a.ensemble, b.ensemble);
    server.abort();
}

#[tokio::test]
async fn a_service_that_always_fails_ends_the_run_and_publishes_nothing() {
    let store = tiny_store().await;
    let (base, calls, server) = flaky_server(store.clone(), usize::MAX).await;
    // One function at a time, so the count is exact.
    let options = driver::Options {
        concurrency: 1,
        attempts: 2,
        backoff: std::time::Duration::from_millis(5),
    };
    let err = driver::run_with(
        &client(&base),
        &params(),
        "broken-http",
        &options,
        &driver::Quiet,
    )
    .await
    .unwrap_err();
    let text = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(text.contains("stage rf-") && text.contains("503"), "{text}");
    assert!(!err.is_bad_input());
    // Retries live in the driver only: two attempts are two calls, not two of the
    // client's per attempt of the driver.
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "--attempts 2 means 2 calls"
    );
    assert!(
        store
            .keys(mltrain_workflow::layout::MODELS)
            .await
            .unwrap()
            .is_empty(),
        "nothing published"
    );
    server.abort();
}
