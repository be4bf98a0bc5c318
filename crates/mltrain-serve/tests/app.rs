//! The service without a socket (`oneshot`), one test over a real socket, and the event
//! flow run step by step as Knative would.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cloudevents::{AttributesReader, Event};
use mltrain_serve::{
    AppState, Backend, ClientConfig, DriverInput, Endpoints, Function, HttpFunctions, Problem,
    Runner, Secrets, app, events,
};
use mltrain_store::Store;
use mltrain_workflow::driver::{self, Functions};
use mltrain_workflow::params::Params;
use mltrain_workflow::report::Report;
use mltrain_workflow::stage;
use mltrain_workflow::stages::{Ctx, PcaInput};
use tower::ServiceExt;

mod common;
use common::{local_report, params, state, tiny_store};

/// A binary-mode request: `ce-*` headers, the data as the JSON body.
fn binary(path: &str, ty: &str, data: &serde_json::Value) -> Request<Body> {
    Request::post(path)
        .header("ce-specversion", "1.0")
        .header("ce-id", "test-1")
        .header("ce-source", "/tests")
        .header("ce-type", ty)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(data).unwrap()))
        .unwrap()
}

async fn send(
    app: axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, body.to_vec())
}

#[tokio::test]
async fn driver_runs_a_whole_run_in_binary_mode() {
    let app = app(state(tiny_store().await));
    let input = DriverInput {
        params: params(),
        run_id: Some("svc-run".into()),
        concurrency: None,
    };
    let req = binary(
        "/driver",
        "dev.mltrain.driver.request",
        &serde_json::to_value(&input).unwrap(),
    );
    let (status, headers, body) = send(app, req).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["ce-type"], "dev.mltrain.driver.response");
    assert_eq!(headers["ce-subject"], "svc-run");
    assert_eq!(headers["ce-source"], "/mltrain/driver");
    let report: Report = serde_json::from_slice(&body).unwrap();
    assert_eq!(report.accuracy, 1.0);
    assert_eq!(report.forests, 3);
}

#[tokio::test]
async fn structured_requests_get_structured_replies() {
    let store = tiny_store().await;
    let app = app(state(store));
    let input = mltrain_workflow::stages::PartitionInput {
        run_id: "structured".into(),
        params: params(),
    };
    let event = events::new_event(
        Function::Partition,
        "dev.mltrain.partition.request",
        None,
        &input,
    )
    .unwrap();
    let req = Request::post("/partition")
        .header("content-type", events::STRUCTURED)
        .body(Body::from(serde_json::to_vec(&event).unwrap()))
        .unwrap();
    let (status, headers, body) = send(app, req).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with(events::STRUCTURED)
    );
    let reply: Event = serde_json::from_slice(&body).unwrap();
    assert_eq!(reply.ty(), "dev.mltrain.partition.response");
    let out: mltrain_workflow::stages::PartitionOutput = events::data_of(&reply).unwrap();
    assert_eq!(out.partitions.len(), 2);
}

#[tokio::test]
async fn errors_map_to_statuses_once() {
    let app = app(AppState {
        functions: vec![Function::Pca, Function::Partition],
        ..state(tiny_store().await)
    });
    let problem = |body: &[u8]| serde_json::from_slice::<Problem>(body).unwrap();

    // Bad input: 422, not retryable, the culprit named.
    let mut bad = params();
    bad.prefix = "nothing-here".into();
    let input = mltrain_workflow::stages::PartitionInput {
        run_id: "r".into(),
        params: bad,
    };
    let (status, _, body) = send(
        app.clone(),
        binary("/partition", "x.y", &serde_json::to_value(&input).unwrap()),
    )
    .await;
    assert_eq!(status, 422);
    let p = problem(&body);
    assert!(
        p.bad_input && !p.retryable && p.message.contains("nothing-here"),
        "{p:?}"
    );

    // A missing key list is the machinery's failure, not the caller's: 500, no details.
    let input = PcaInput {
        run_id: "r".into(),
        index: 0,
        key_list: "no/such/list".into(),
        params: params(),
    };
    let (status, _, body) = send(
        app.clone(),
        binary(
            "/pca",
            "dev.mltrain.pca.request",
            &serde_json::to_value(&input).unwrap(),
        ),
    )
    .await;
    let p = problem(&body);
    assert!(status.is_server_error() && !p.bad_input, "{status} {p:?}");

    // Data that does not fit the function, or a malformed event: 400.
    let (status, _, _) = send(
        app.clone(),
        binary(
            "/pca",
            "dev.mltrain.pca.request",
            &serde_json::json!({"x": 1}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    let req = Request::post("/pca")
        .header("ce-specversion", "0.1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app.clone(), req).await.0, 400);

    // Another function's event type: refused, not run.
    let (status, _, body) = send(
        app.clone(),
        binary(
            "/pca",
            "dev.mltrain.rf.request",
            &serde_json::to_value(&input).unwrap(),
        ),
    )
    .await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));

    // Functions this server does not serve, and unknown paths: 404.
    let (status, _, _) = send(
        app.clone(),
        binary("/rf", "dev.mltrain.rf.request", &serde_json::json!({})),
    )
    .await;
    assert_eq!(status, 404);
    let req = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(send(app, req).await.0, 200);
}

#[tokio::test]
async fn credentials_never_reach_replies_or_debug_output() {
    let s3 = mltrain_store::test_server::S3Server::start();
    let secret = mltrain_store::test_server::SECRET_KEY;
    // Wrong credentials: every store request is refused by the server.
    let mut settings = s3.settings();
    settings.secret_access_key = Some(format!("{secret}-but-wrong"));
    let store = Store::from_object_store(settings.build().unwrap(), "s3://mltrain-test");
    let state = AppState {
        secrets: Secrets::new([format!("{secret}-but-wrong"), secret.to_string()]),
        ..state(store)
    };
    let debug = format!("{state:?}");
    assert!(!debug.contains(secret), "Debug shows the secret: {debug}");
    let app = app(state);
    for (path, data) in [
        (
            "/partition",
            serde_json::to_value(mltrain_workflow::stages::PartitionInput {
                run_id: "r".into(),
                params: params(),
            })
            .unwrap(),
        ),
        // The secret in the data itself is scrubbed from the reply too.
        (
            "/partition",
            serde_json::to_value(mltrain_workflow::stages::PartitionInput {
                run_id: "r".into(),
                params: Params {
                    prefix: format!("x/{secret}"),
                    ..params()
                },
            })
            .unwrap(),
        ),
    ] {
        let (status, _, body) = send(
            app.clone(),
            binary(path, "dev.mltrain.partition.request", &data),
        )
        .await;
        let text = String::from_utf8_lossy(&body);
        assert!(status.is_server_error() || status == 422, "{status} {text}");
        assert!(!text.contains(secret), "reply shows the secret: {text}");
        assert!(
            !text.contains("127.0.0.1"),
            "reply shows the store endpoint: {text}"
        );
    }
}

#[tokio::test]
async fn http_client_against_a_real_socket() {
    let store = tiny_store().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(mltrain_serve::serve(listener, state(store.clone())));

    let config = ClientConfig::default();
    // One URL with nothing behind it first: the driver's retry fails over to the live one.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut endpoints = Endpoints::with_base(&base).unwrap();
    for f in ["partition", "pca", "rf", "validation"] {
        endpoints
            .add(&format!("{f}={dead_url}/{f},{base}/{f}"))
            .unwrap();
    }
    let http = HttpFunctions::new(endpoints, config).unwrap();
    let over_http = driver::run(
        &Backend::Http(http),
        &params(),
        "over-http",
        4,
        &driver::Quiet,
    )
    .await
    .unwrap();
    let local = local_report(&store, "local").await;
    assert_eq!(over_http.accuracy, local.accuracy);
    assert_eq!(over_http.confusion, local.confusion);

    // Bad input comes back as a bad-input error, tried once.
    let bad = PcaInput {
        run_id: "r".into(),
        index: 9,
        key_list: "k".into(),
        params: params(),
    };
    // The client makes one request per call (retries are the driver's), so this one goes
    // to the live URL only.
    let live = HttpFunctions::new(
        Endpoints::with_base(&base).unwrap(),
        ClientConfig::default(),
    )
    .unwrap();
    let err = live.call::<stage::Pca>(bad).await.unwrap_err();
    assert!(err.is_bad_input() && !err.is_retryable(), "{err}");
    server.abort();
}

#[tokio::test]
async fn the_event_flow_reaches_the_same_model_as_the_driver() {
    let store = tiny_store().await;
    let runner = Runner::local(Ctx::new(store.clone()));
    let first = events::new_event(
        Function::Partition,
        &Function::Partition.flow_type(),
        Some("flow-run"),
        &mltrain_workflow::stages::PartitionInput {
            run_id: "flow-run".into(),
            params: params(),
        },
    )
    .unwrap();
    // Run every follow-up as its own job would, breadth first, as channels deliver them.
    let mut queue = vec![first];
    let mut ids = std::collections::HashSet::new();
    let mut reports = Vec::new();
    while let Some(event) = queue.pop() {
        assert!(ids.insert(event.id().to_string()), "an event id was reused");
        let outcome = mltrain_serve::job::run_event(&runner, event, None)
            .await
            .unwrap();
        for next in outcome.follow_ups {
            if next.ty() == "dev.mltrain.validation.response" {
                reports.push(
                    events::data_of::<mltrain_workflow::stages::ValidationOutput>(&next)
                        .unwrap()
                        .report,
                );
            } else {
                queue.insert(0, next);
            }
        }
    }
    assert_eq!(
        reports.len(),
        1,
        "validation should run once when rf steps run one by one"
    );
    let local = local_report(&store, "local").await;
    assert_eq!(reports[0].accuracy, local.accuracy);
    assert_eq!(reports[0].forests, 3);
    assert_eq!(reports[0].confusion, local.confusion);
}
