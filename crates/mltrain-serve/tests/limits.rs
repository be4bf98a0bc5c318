//! An event body over the limit is refused before it is read into memory.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mltrain_serve::app;
use mltrain_store::Store;
use tower::ServiceExt;

mod common;
use common::state;

#[tokio::test]
async fn an_event_body_over_the_limit_gets_413() {
    let state = state(Store::from_url("memory://").unwrap());
    let body = vec![b' '; 17 << 20];
    let request = Request::post("/pca")
        .header("ce-specversion", "1.0")
        .header("ce-id", "big-1")
        .header("ce-source", "/tests")
        .header("ce-type", "dev.mltrain.pca")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let reply = app(state).oneshot(request).await.unwrap();
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
