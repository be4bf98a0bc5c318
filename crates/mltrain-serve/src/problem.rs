//! Errors on the wire, in one place: how a failure becomes an HTTP status and a JSON body
//! ([`Problem::from_error`]), and how a client turns that reply back into a workflow error
//! ([`Problem::into_remote`]).
//!
//! | failure | status | retryable |
//! |---|---|---|
//! | bad event, data that does not fit, bad input to the stage | 422 (400 for a malformed event) | no |
//! | store or worker failure, sink unreachable | 503 | yes |
//! | anything else (corrupt object, ...) | 500 | no |
//!
//! Replies say what failed in the user's terms. For bad input that is the whole error chain
//! (it names the culprit); for internal failures only the top-level message, so store
//! endpoints, responses and paths of the machinery stay in the server's log. Known secrets
//! (S3 credentials) are scrubbed from both in any case.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::function::Function;

/// The JSON body of an error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The function that failed, by name (`pca`).
    pub function: String,
    /// The reply's HTTP status (see the module's table); 0 when there was no reply.
    pub status: u16,
    /// What failed. From the server: secrets scrubbed, the whole error chain for bad input,
    /// only the top-level message otherwise; made by the client: e.g. `HTTP 502 Bad Gateway`
    /// or `timed out: <url>`.
    pub message: String,
    /// Whether the caller is at fault (a bad event, bad data): never worth retrying.
    pub bad_input: bool,
    /// Whether the same request may pass later: the store, a worker or the sink failed, or
    /// no reply came.
    pub retryable: bool,
}

impl Problem {
    /// The reply for `err` raised by `function`.
    pub fn from_error(function: Function, err: &Error, secrets: &Secrets) -> Self {
        let bad_input = err.is_bad_input();
        let retryable = !bad_input && err.is_retryable();
        let status = match err {
            Error::BadEvent { .. } => StatusCode::BAD_REQUEST,
            _ if bad_input => StatusCode::UNPROCESSABLE_ENTITY,
            _ if retryable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = if bad_input {
            chain(err)
        } else {
            err.to_string()
        };
        Self {
            function: function.name().to_string(),
            status: status.as_u16(),
            message: secrets.scrub(&message),
            bad_input,
            retryable,
        }
    }

    /// The workflow error a client reports for this reply.
    pub fn into_remote(self) -> mltrain_workflow::Error {
        mltrain_workflow::Error::Remote {
            function: self.function,
            status: self.status,
            message: self.message,
            bad_input: self.bad_input,
            retryable: self.retryable,
        }
    }

    /// What a client makes of an error reply from `function`: ours when the body is a
    /// [`Problem`], otherwise (a proxy, an activator, a dying pod) judged by status alone.
    pub fn from_reply(function: Function, status: u16, body: &[u8]) -> Self {
        if let Ok(problem) = serde_json::from_slice::<Problem>(body) {
            return Self { status, ..problem };
        }
        // 408, 425, 429 and 5xx other than 501 are worth another try; 4xx are not.
        let retryable = matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504);
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected status");
        Self {
            function: function.name().to_string(),
            status,
            message: format!("HTTP {status} {reason}"),
            bad_input: false,
            retryable,
        }
    }

    /// A client-side failure with no reply (refused, reset, timed out).
    pub fn unreachable(function: Function, what: String) -> Self {
        Self {
            function: function.name().to_string(),
            status: 0,
            message: what,
            bad_input: false,
            retryable: true,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

/// `err: cause: cause`, the way the CLI prints a chain.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let msg = e.to_string();
        if !out.ends_with(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = e.source();
    }
    out
}

/// Secret values to scrub from anything leaving the process (replies) or written to logs.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

impl Secrets {
    /// The credential values in this process's environment.
    pub fn from_env() -> Self {
        let names = mltrain_store::SECRET_ENV_NAMES.iter().chain(&[
            "S3_USER",
            "AWS_ACCESS_KEY_ID",
            "AWS_SESSION_TOKEN",
        ]);
        Self::new(names.filter_map(|n| std::env::var(n).ok()))
    }

    /// The given values, but those shorter than 4 bytes, which would scrub ordinary words.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        // Very short values would scrub ordinary words; credentials are longer.
        Self(values.into_iter().filter(|v| v.len() >= 4).collect())
    }

    /// `text` with every secret replaced by `<redacted>`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.0 {
            out = out.replace(secret.as_str(), "<redacted>");
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    fn problem(err: mltrain_workflow::Error) -> Problem {
        Problem::from_error(Function::Pca, &Error::Workflow(err), &Secrets::default())
    }

    #[test]
    fn statuses_follow_the_error_kind() {
        let bad = problem(mltrain_workflow::Error::InvalidArgument {
            name: "NUM_PCA",
            reason: "must be at least 1".into(),
        });
        assert_eq!(
            (bad.status, bad.bad_input, bad.retryable),
            (422, true, false)
        );
        assert!(bad.message.contains("NUM_PCA"));

        let flaky = problem(mltrain_workflow::Error::Task {
            stage: "pca",
            reason: "worker died".into(),
        });
        assert_eq!((flaky.status, flaky.retryable), (503, true));

        let malformed = Problem::from_error(
            Function::Rf,
            &Error::BadEvent {
                reason: "no id".into(),
            },
            &Secrets::default(),
        );
        assert_eq!((malformed.status, malformed.bad_input), (400, true));
    }

    #[test]
    fn replies_round_trip_into_workflow_errors() {
        let p = problem(mltrain_workflow::Error::TooFewImages {
            reason: "3 images".into(),
        });
        let body = serde_json::to_vec(&p).unwrap_or_default();
        let back = Problem::from_reply(Function::Pca, 422, &body).into_remote();
        assert!(back.is_bad_input() && !back.is_retryable(), "{back}");
        let proxy = Problem::from_reply(Function::Pca, 502, b"<html>bad gateway</html>");
        assert!(proxy.retryable && !proxy.bad_input);
        assert!(!Problem::from_reply(Function::Pca, 404, b"").retryable);
    }

    #[test]
    fn secrets_are_scrubbed() {
        let s = Secrets::new(["hunter2-secret".to_string(), "ab".to_string()]);
        assert_eq!(s.scrub("key hunter2-secret at ab"), "key <redacted> at ab");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
