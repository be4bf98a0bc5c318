//! mltrain's functions as services: the same stage code as the local driver, behind HTTP and
//! CloudEvents 1.0, so they can run as separate Knative services sharing an S3 store.
//!
//! - [`app`] builds the axum [`Router`](axum::Router): `POST /<function>` takes a CloudEvent
//!   (binary or structured mode) whose data is the stage's input and answers 200 with a
//!   CloudEvent whose data is its output; `GET /healthz` answers probes. [`serve`] runs it.
//! - [`problem`] maps every failure to an HTTP status and a JSON body, once, and back.
//! - [`HttpFunctions`] is the driver's HTTP backend: bounded concurrency, timeouts, retries
//!   with backoff and jitter, failover across replicas. [`Backend`] picks local or HTTP.
//! - [`flow`] runs the workflow as a chain of events (Knative channels and JobSinks), and
//!   [`job`] runs one step from a JobSink event file.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use axum::body::Body;
//! use axum::http::Request;
//! use mltrain_serve::{AppState, Function, Runner, Secrets, app};
//! use mltrain_workflow::stages::Ctx;
//! use tower::ServiceExt;
//!
//! let store = mltrain_store::Store::from_url("memory://").unwrap();
//! let state = AppState {
//!     runner: Runner::local(Ctx::new(store)),
//!     functions: Function::ALL.to_vec(),
//!     secrets: Secrets::default(),
//!     sink: None,
//! };
//! let reply = app(state)
//!     .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(reply.status(), 200);
//! # });
//! ```

pub mod client;
mod error;
pub mod events;
pub mod flow;
mod function;
pub mod job;
pub mod problem;
mod runner;
mod server;

pub use client::{Backend, ClientConfig, EndpointError, Endpoints, HttpFunctions};
pub use error::{Error, Result};
pub use function::{
    DEFAULT_PORT, DriverInput, EventKind, Function, HEALTH_PATH, JOBSINK_EVENT_FILE, TYPE_PREFIX,
};
pub use problem::{Problem, Secrets};
pub use runner::{Output, Runner};
pub use server::{AppState, MAX_BODY, app, serve};
