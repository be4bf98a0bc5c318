//! The HTTP backend of the driver: each stage is a CloudEvent `POST` to a function's URL.
//!
//! [`HttpFunctions`] bounds the requests in flight, gives each call a timeout, and rotates
//! over the URLs given for a function. It makes one request per call and does not retry:
//! the driver does ([`mltrain_workflow::driver::Options::attempts`]), so `--attempts N`
//! means N calls on every backend. A failure that may pass (no reply, 503, a proxy's
//! 502/504) is marked retryable, and the URL after the one that failed is tried next, so a
//! dead replica costs one failed attempt, not the run. Stages are idempotent (same input,
//! same objects), so a retry after a lost reply is safe. Bad input is never retried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cloudevents::binding::reqwest::RequestBuilderExt;
use mltrain_workflow::driver::Functions;
use mltrain_workflow::stage::Stage;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use crate::events;
use crate::function::Function;
use crate::problem::Problem;

/// Where each function is served: one or more base URLs of replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    urls: BTreeMap<Function, Vec<Url>>,
}

/// A `--function-url`/`--functions-url` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid function URL `{value}`: {reason}")]
pub struct EndpointError {
    /// The value as given: a base URL, or `NAME=URL[,URL...]`.
    pub value: String,
    /// Why it cannot be used, e.g. `must be http:// or https://, without credentials`.
    pub reason: String,
}

impl Endpoints {
    /// Every function at `BASE/<function>`.
    pub fn with_base(base: &str) -> Result<Self, EndpointError> {
        let mut out = Self::default();
        for f in Function::ALL {
            let url = format!("{}/{}", base.trim_end_matches('/'), f.name());
            out.urls.insert(f, vec![parse_url(base, &url)?]);
        }
        Ok(out)
    }

    /// Adds `NAME=URL[,URL...]`; each URL is the full endpoint of the function. Replaces what
    /// a base gave for that function.
    pub fn add(&mut self, spec: &str) -> Result<(), EndpointError> {
        let bad = |reason: &str| EndpointError {
            value: spec.to_string(),
            reason: reason.to_string(),
        };
        let (name, urls) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=URL[,URL...]"))?;
        let function: Function = name.trim().parse().map_err(|e: String| bad(&e))?;
        let urls = urls
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(|u| parse_url(spec, u.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err(bad("no URL"));
        }
        self.urls.insert(function, urls);
        Ok(())
    }

    /// The URLs of `function`'s replicas, in the order given; empty when it has none.
    pub fn urls(&self, function: Function) -> &[Url] {
        self.urls
            .get(&function)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The stages (not the driver) that have no URL.
    pub fn missing_stages(&self) -> Vec<Function> {
        Function::ALL
            .into_iter()
            .filter(|f| *f != Function::Driver && self.urls(*f).is_empty())
            .collect()
    }
}

fn parse_url(value: &str, url: &str) -> Result<Url, EndpointError> {
    let parsed = Url::parse(url).map_err(|e| EndpointError {
        value: value.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() {
        return Err(EndpointError {
            value: value.to_string(),
            reason: "must be http:// or https://, without credentials".into(),
        });
    }
    Ok(parsed)
}

/// Timeouts and concurrency of [`HttpFunctions`]; retries are the driver's.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bound on one call, from connecting to the whole reply.
    pub timeout: Duration,
    /// Bound on connecting alone (default 5 s), so a dead replica fails fast and the
    /// driver's retry goes to the next.
    pub connect_timeout: Duration,
    /// Requests in flight at once, over all functions.
    pub concurrency: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(900),
            connect_timeout: Duration::from_secs(5),
            concurrency: 64,
        }
    }
}

/// The workflow's functions over HTTP; cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpFunctions {
    client: reqwest::Client,
    endpoints: Arc<Endpoints>,
    permits: Arc<Semaphore>,
    /// The next URL per function: round robin, so replicas share the load, and past one
    /// that just failed, so the driver's retry goes elsewhere.
    next: Arc<BTreeMap<Function, AtomicUsize>>,
}

impl HttpFunctions {
    /// Calls the functions at `endpoints`; fails only when the HTTP client cannot be built.
    pub fn new(endpoints: Endpoints, config: ClientConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()?;
        Ok(Self {
            client,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            next: Arc::new(Function::ALL.map(|f| (f, AtomicUsize::new(0))).into()),
            endpoints: Arc::new(endpoints),
        })
    }

    /// Where each function is called.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Calls `function` with `input` once, at the next of its URLs (see the module docs).
    pub async fn call_function<I: Serialize, O: DeserializeOwned>(
        &self,
        function: Function,
        run_id: &str,
        input: &I,
    ) -> mltrain_workflow::Result<O> {
        let urls = self.endpoints.urls(function);
        if urls.is_empty() {
            return Err(Problem {
                function: function.name().into(),
                status: 0,
                message: "no URL for this function (--function-url NAME=URL)".into(),
                bad_input: true,
                retryable: false,
            }
            .into_remote());
        }
        let next = &self.next[&function];
        let index = next.fetch_add(1, Ordering::Relaxed) % urls.len();
        let url = &urls[index];
        match self.attempt(function, url, run_id, input).await {
            Ok(out) => Ok(out),
            Err(problem) => {
                if problem.retryable {
                    next.store(index + 1, Ordering::Relaxed);
                }
                Err(problem.into_remote())
            }
        }
    }

    async fn attempt<I: Serialize, O: DeserializeOwned>(
        &self,
        function: Function,
        url: &Url,
        run_id: &str,
        input: &I,
    ) -> Result<O, Problem> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Problem::unreachable(function, "client is shutting down".into()))?;
        let local = |message: String| Problem {
            function: function.name().into(),
            status: 0,
            message,
            bad_input: false,
            retryable: false,
        };
        let event = events::new_event(function, &function.request_type(), Some(run_id), input)
            .map_err(|e| local(e.to_string()))?;
        let request = self
            .client
            .post(url.clone())
            .event(event)
            .map_err(|e| local(format!("cannot encode the request event: {e}")))?;
        let response = request
            .send()
            .await
            .map_err(|e| Problem::unreachable(function, describe(url, &e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(Problem::from_reply(function, status.as_u16(), &body));
        }
        let headers = response.headers().clone();
        // A reply cut short by a dying replica is worth another try.
        let body = response.bytes().await.map_err(|e| Problem {
            retryable: true,
            ..local(format!("reply cut short ({}): {url}", e.without_url()))
        })?;
        let event = cloudevents::binding::http::to_event(&headers, body.to_vec())
            .map_err(|e| local(format!("unreadable reply event from {url}: {e}")))?;
        events::data_of(&event).map_err(|e| local(format!("reply from {url}: {e}")))
    }
}

/// A transport error in a few words, naming the URL (which never holds credentials).
fn describe(url: &Url, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "reply cut short"
    } else {
        "request failed"
    };
    format!("{what}: {url}")
}

impl Functions for HttpFunctions {
    async fn call<S: Stage>(&self, input: S::Input) -> mltrain_workflow::Result<S::Output> {
        self.call_function(Function::from(S::ID), S::run_id(&input), &input)
            .await
    }
}

/// In this process or over HTTP: what `mltrain run --backend` and the served driver use.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The stages run in this process.
    Local(mltrain_workflow::driver::Local),
    /// The stages are called over HTTP.
    Http(HttpFunctions),
}

impl Functions for Backend {
    async fn call<S: Stage>(&self, input: S::Input) -> mltrain_workflow::Result<S::Output> {
        match self {
            Backend::Local(f) => f.call::<S>(input).await,
            Backend::Http(f) => f.call::<S>(input).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_base_and_specs() {
        let mut e = Endpoints::with_base("http://127.0.0.1:8080/").unwrap();
        assert_eq!(e.urls(Function::Rf)[0].as_str(), "http://127.0.0.1:8080/rf");
        e.add("pca=http://127.0.0.1:1/pca,http://127.0.0.1:2/pca")
            .unwrap();
        assert_eq!(e.urls(Function::Pca).len(), 2);
        assert!(e.missing_stages().is_empty());
        for bad in [
            "pca",
            "nope=http://x/",
            "pca=",
            "pca=ftp://x/",
            "pca=http://u:p@x/",
        ] {
            assert!(e.add(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Endpoints::default().missing_stages(),
            [
                Function::Partition,
                Function::Pca,
                Function::Rf,
                Function::Validation
            ]
        );
    }
}
