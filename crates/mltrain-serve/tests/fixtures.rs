//! Real wire payloads under `fixtures/`, read and written back: what Knative, curl and the
//! driver send must keep meaning what it means.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use cloudevents::{AttributesReader, Event};
use mltrain_serve::{DriverInput, EventKind, Function, Problem, events};
use mltrain_workflow::stages::PcaInput;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Splits a raw HTTP/1.1 request into its path, headers and body.
fn parse_http(raw: &[u8]) -> (String, HeaderMap, Vec<u8>) {
    let text = std::str::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let path = lines.next().unwrap().split(' ').nth(1).unwrap().to_string();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(": ").unwrap();
        headers.insert(
            HeaderName::try_from(k).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    (path, headers, body.as_bytes().to_vec())
}

#[test]
fn structured_driver_request_round_trips() {
    let raw = fixture("driver-request.structured.json");
    let event = events::from_json(&raw).unwrap();
    assert_eq!(
        EventKind::parse(event.ty()),
        Some(EventKind::Request(Function::Driver))
    );
    let input: DriverInput = events::data_of(&event).unwrap();
    input.params.check().unwrap();
    // Written back, the event is the same JSON document.
    let back: serde_json::Value = serde_json::to_value(&event).unwrap();
    let original: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(back, original);
    let rebuilt = events::new_event(Function::Driver, event.ty(), event.subject(), &input).unwrap();
    assert_eq!(
        serde_json::to_value(events::data_of::<DriverInput>(&rebuilt).unwrap()).unwrap(),
        original["data"]
    );
}

#[test]
fn binary_pca_request_round_trips() {
    let (path, headers, body) = parse_http(&fixture("pca-request.binary.http"));
    assert_eq!(path, Function::Pca.path());
    let event = events::from_http(&headers, &body).unwrap();
    assert_eq!(event.ty(), Function::Pca.request_type());
    let input: PcaInput = events::data_of(&event).unwrap();
    assert_eq!(input.index, 0);
    // Our own binary encoding of the same data carries the same body.
    let ours = events::new_event(Function::Driver, event.ty(), event.subject(), &input).unwrap();
    let response = events::to_response(ours, false);
    assert_eq!(response.headers()["ce-type"], headers["ce-type"]);
    assert_eq!(response.headers()["ce-subject"], headers["ce-subject"]);
    let body_json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(serde_json::to_value(&input).unwrap(), body_json);
}

#[test]
fn jobsink_event_file_round_trips() {
    let raw = fixture("jobsink-event.json");
    let event: Event = events::from_json(&raw).unwrap();
    assert_eq!(
        EventKind::parse(event.ty()),
        Some(EventKind::Flow(Function::Pca))
    );
    let input: PcaInput = events::data_of(&event).unwrap();
    assert_eq!((input.index, input.params.num_pca), (1, 2));
    let back: serde_json::Value = serde_json::to_value(&event).unwrap();
    assert_eq!(
        back,
        serde_json::from_slice::<serde_json::Value>(&raw).unwrap()
    );
}

#[test]
fn error_reply_round_trips() {
    let raw = fixture("error-reply.json");
    let problem = Problem::from_reply(Function::Partition, 422, &raw);
    assert_eq!(
        serde_json::to_value(&problem).unwrap(),
        serde_json::from_slice::<serde_json::Value>(&raw).unwrap()
    );
    let err = problem.into_remote();
    assert!(err.is_bad_input() && !err.is_retryable());
}
