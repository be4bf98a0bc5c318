//! HTTP bodies as `mltrain-serve` receives them: CloudEvents in structured mode (a POST with
//! `application/cloudevents+json`, or a JobSink event file) and in binary mode (`ce-*`
//! headers, the stage input as the body), read with `events::from_http`/`from_json`, then
//! their data as each function's input (`events::data_of`) and `params.check()`. Also the
//! error replies a client reads back (`Problem::from_reply`).
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use mltrain_serve::events::{self, STRUCTURED};
use mltrain_serve::{DriverInput, EventKind, Function, Problem};
use mltrain_workflow::stages::{PartitionInput, PcaInput, RfInput, ValidationInput};

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = events::from_json(data) {
        use_event(&event);
    }
    let mut structured = HeaderMap::new();
    structured.insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
    assert!(events::is_structured(&structured));
    if let Ok(event) = events::from_http(&structured, data) {
        use_event(&event);
    }
    for function in Function::ALL {
        if let Ok(event) = events::from_http(&binary_headers(function), data) {
            use_event(&event);
        }
    }
    let problem = Problem::from_reply(Function::Pca, 503, data);
    let _ = problem.into_remote();
});

fn binary_headers(function: Function) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        h.insert(
            name,
            HeaderValue::from_str(&value).expect("a valid header value"),
        );
    };
    set("ce-specversion", "1.0".into());
    set("ce-id", "7d1d3f8e-2b7a-4f59-9a51-6c2d1e0f4b33".into());
    set("ce-source", "/mltrain/driver".into());
    set("ce-type", function.request_type());
    set("content-type", "application/json".into());
    h
}

fn use_event(event: &cloudevents::Event) {
    use cloudevents::AttributesReader;
    let _ = EventKind::parse(event.ty());
    if let Ok(input) = events::data_of::<DriverInput>(event) {
        let _ = input.params.check();
    }
    if let Ok(input) = events::data_of::<PartitionInput>(event) {
        let _ = input.params.check();
    }
    if let Ok(input) = events::data_of::<PcaInput>(event) {
        let _ = input.params.check();
    }
    if let Ok(input) = events::data_of::<RfInput>(event) {
        let _ = input.params.check();
    }
    if let Ok(input) = events::data_of::<ValidationInput>(event) {
        let _ = input.params.check();
    }
    // What the server sends back: the event re-serialised in structured mode.
    serde_json::to_vec(event).expect("a read event serialises");
}
