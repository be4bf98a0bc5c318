//! The HTTP backend of the driver: each stage is a CloudEvent `POST` to a function's URL.
//!
//! [`HttpFunctions`] bounds the requests in flight, gives each attempt a timeout, retries
//! failures that may pass (no reply, 503, a proxy's 502/504) with exponential backoff and
//! full jitter, and rotates over the URLs given for a function, so a dead replica costs one
//! failed attempt, not the run. Stages are idempotent (same input, same objects), so a retry
//! after a lost reply is safe. Bad input is never retried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cloudevents::binding::reqwest::RequestBuilderExt;
use mltrain_workflow::driver::Functions;
use mltrain_workflow::stages::{
    PartitionInput, PartitionOutput, PcaInput, PcaOutput, RfInput, RfOutput, ValidationInput,
    ValidationOutput,
};
use rand::Rng;
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
    pub value: String,
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

/// Timeouts, retries and concurrency of [`HttpFunctions`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bound on one attempt, from connecting to the whole reply.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// Backoff before the second attempt; doubles each time, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Requests in flight at once, over all functions.
    pub concurrency: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(900),
            connect_timeout: Duration::from_secs(5),
            attempts: 6,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            concurrency: 64,
        }
    }
}

/// The workflow's functions over HTTP; cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpFunctions {
    client: reqwest::Client,
    endpoints: Arc<Endpoints>,
    config: ClientConfig,
    permits: Arc<Semaphore>,
    /// Round-robin start per function, so replicas share the load.
    next: Arc<BTreeMap<Function, AtomicUsize>>,
}

impl HttpFunctions {
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
            config,
        })
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Calls `function` with `input`: retries, backoff and failover as the module says.
    pub async fn call<I: Serialize, O: DeserializeOwned>(
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
        let start = self.next[&function].fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            let url = &urls[(start + attempt as usize) % urls.len()];
            match self.attempt(function, url, run_id, input).await {
                Ok(out) => return Ok(out),
                Err(problem) if problem.retryable => {
                    eprintln!(
                        "{function} at {url}: attempt {} failed, retrying: {}",
                        attempt + 1,
                        problem.message
                    );
                    last = Some(problem);
                }
                Err(problem) => return Err(problem.into_remote()),
            }
        }
        let mut problem =
            last.unwrap_or_else(|| Problem::unreachable(function, "no attempt".into()));
        problem.message = format!(
            "{} (gave up after {} attempts over {} URL(s))",
            problem.message,
            self.config.attempts.max(1),
            urls.len()
        );
        Err(problem.into_remote())
    }

    /// Full jitter: a uniform wait in `[0, min(max, backoff·2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .backoff
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(self.config.max_backoff);
        cap.mul_f64(rand::rng().random::<f64>())
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
    async fn partition(&self, input: PartitionInput) -> mltrain_workflow::Result<PartitionOutput> {
        self.call(Function::Partition, &input.run_id.clone(), &input)
            .await
    }
    async fn pca(&self, input: PcaInput) -> mltrain_workflow::Result<PcaOutput> {
        self.call(Function::Pca, &input.run_id.clone(), &input)
            .await
    }
    async fn rf(&self, input: RfInput) -> mltrain_workflow::Result<RfOutput> {
        self.call(Function::Rf, &input.run_id.clone(), &input).await
    }
    async fn validation(
        &self,
        input: ValidationInput,
    ) -> mltrain_workflow::Result<ValidationOutput> {
        self.call(Function::Validation, &input.run_id.clone(), &input)
            .await
    }
}

/// In this process or over HTTP: what `mltrain run --backend` and the served driver use.
#[derive(Debug, Clone)]
pub enum Backend {
    Local(mltrain_workflow::driver::Local),
    Http(HttpFunctions),
}

impl Functions for Backend {
    async fn partition(&self, input: PartitionInput) -> mltrain_workflow::Result<PartitionOutput> {
        match self {
            Backend::Local(f) => f.partition(input).await,
            Backend::Http(f) => f.partition(input).await,
        }
    }
    async fn pca(&self, input: PcaInput) -> mltrain_workflow::Result<PcaOutput> {
        match self {
            Backend::Local(f) => f.pca(input).await,
            Backend::Http(f) => f.pca(input).await,
        }
    }
    async fn rf(&self, input: RfInput) -> mltrain_workflow::Result<RfOutput> {
        match self {
            Backend::Local(f) => f.rf(input).await,
            Backend::Http(f) => f.rf(input).await,
        }
    }
    async fn validation(
        &self,
        input: ValidationInput,
    ) -> mltrain_workflow::Result<ValidationOutput> {
        match self {
            Backend::Local(f) => f.validation(input).await,
            Backend::Http(f) => f.validation(input).await,
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

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let f = HttpFunctions::new(Endpoints::default(), ClientConfig::default()).unwrap();
        for attempt in 1..30 {
            let d = f.backoff(attempt);
            assert!(d <= f.config.max_backoff, "{attempt}: {d:?}");
        }
    }
}
