//! CloudEvents 1.0 adapters: stage inputs and outputs in and out of events, in binary mode
//! (`ce-*` headers, data as the body) or structured mode (`application/cloudevents+json`).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cloudevents::event::Data;
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::function::Function;

/// Content type of a structured-mode CloudEvent.
pub const STRUCTURED: &str = "application/cloudevents+json";

/// A new event of type `ty` from `function` with `data` as JSON. `subject` is the run id,
/// so a run's events can be told apart in logs and brokers. Every event gets a fresh id:
/// Knative JobSink drops a second event with the same source and id.
pub fn new_event(
    function: Function,
    ty: &str,
    subject: Option<&str>,
    data: &impl Serialize,
) -> Result<Event> {
    let value = serde_json::to_value(data).map_err(|source| Error::Encode { source })?;
    let mut builder = EventBuilderV10::new()
        .id(uuid::Uuid::new_v4().to_string())
        .source(function.source())
        .ty(ty)
        .data("application/json", value);
    if let Some(subject) = subject {
        builder = builder.subject(subject);
    }
    builder.build().map_err(|e| Error::BadEvent {
        reason: e.to_string(),
    })
}

/// The event's data as `T`, whether it came as JSON, a JSON string or JSON bytes.
pub fn data_of<T: DeserializeOwned>(event: &Event) -> Result<T> {
    let parsed = match event.data() {
        Some(Data::Json(v)) => serde_json::from_value(v.clone()),
        Some(Data::String(s)) => serde_json::from_str(s),
        Some(Data::Binary(b)) => serde_json::from_slice(b),
        None => {
            return Err(Error::BadEvent {
                reason: format!("event `{}` has no data", event.id()),
            });
        }
    };
    parsed.map_err(|e| Error::BadEvent {
        reason: format!("the data of event `{}` does not fit: {e}", event.id()),
    })
}

/// Reads an HTTP request's event, binary or structured mode.
pub fn from_http(headers: &HeaderMap, body: &[u8]) -> Result<Event> {
    cloudevents::binding::http::to_event(headers, body.to_vec()).map_err(|e| Error::BadEvent {
        reason: e.to_string(),
    })
}

/// Whether a request came in structured mode (so its reply goes back the same way).
pub fn is_structured(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(STRUCTURED))
}

/// An HTTP 200 response carrying `event`, in structured or binary mode.
pub fn to_response(event: Event, structured: bool) -> Response {
    if !structured {
        return event.into_response();
    }
    match serde_json::to_vec(&event) {
        Ok(body) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED))],
            body,
        )
            .into_response(),
        Err(_) => event.into_response(),
    }
}

/// Reads an event from a JobSink event file (structured-mode JSON).
pub fn from_json(bytes: &[u8]) -> Result<Event> {
    serde_json::from_slice(bytes).map_err(|e| Error::BadEvent {
        reason: format!("not a structured CloudEvent: {e}"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_in_both_modes() {
        let input = crate::DriverInput {
            params: mltrain_workflow::params::Params::default(),
            run_id: Some("r-1".into()),
            concurrency: None,
        };
        let event = new_event(
            Function::Driver,
            "dev.mltrain.driver.request",
            Some("r-1"),
            &input,
        )
        .unwrap();
        // Binary mode: headers + body.
        let response = to_response(event.clone(), false);
        let (parts, _) = response.into_parts();
        assert_eq!(parts.headers["ce-specversion"], "1.0");
        assert_eq!(parts.headers["ce-subject"], "r-1");
        // Structured mode: one JSON document.
        let json = serde_json::to_vec(&event).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
        assert!(is_structured(&headers));
        let back = from_http(&headers, &json).unwrap();
        assert_eq!(data_of::<crate::DriverInput>(&back).unwrap(), input);
        assert_eq!(back.id(), event.id());
    }

    #[test]
    fn ids_are_fresh() {
        let a = new_event(Function::Pca, "t", None, &1).unwrap();
        let b = new_event(Function::Pca, "t", None, &1).unwrap();
        assert_ne!(a.id(), b.id());
    }
}
