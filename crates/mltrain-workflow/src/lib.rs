//! The ml-training workflow: partition → PCA (×N) → random forests (×M) → validation,
//! orchestrated by a driver, over an object store.
//!
//! Each stage in [`stages`] is a plain `async fn(&Ctx, Input) -> Result<Output>` with serde
//! input and output, so running it in-process, over HTTP or from a job file is a thin adapter.
//! [`driver::run`] chains them through a [`driver::Functions`] backend ([`driver::Local`] runs
//! them in this process) and returns the [`report::Report`]. Every run writes below its own
//! `ml-training/outputs/<run-id>/` ([`layout`]) and publishes its model, last, at
//! `ml-training/models/<run-id>.model` ([`objects::Model`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mltrain_store::Store;
//! use mltrain_workflow::{driver, params::Params, stages::Ctx};
//!
//! let store = Store::from_url("memory://").unwrap();
//! // Two classes of tiny PNGs: dark and bright.
//! for i in 0..40u8 {
//!     let (class, level) = if i % 2 == 0 { ("dark", i) } else { ("bright", 200 + i) };
//!     let png = mltrain_dataset::encode_png(2, 2, &[level; 4]).unwrap();
//!     store.put(&format!("data/{class}/{i}.png"), png.into()).await.unwrap();
//! }
//! let params = Params { prefix: "data".into(), num_pca: 1, num_rf: 2, components: 1, trees: 5, min_samples_split: 2, ..Params::default() };
//! let local = driver::Local { ctx: Ctx::new(store) };
//! let report = driver::run(&local, &params, "doc-run", 4, &driver::Quiet).await.unwrap();
//! assert_eq!(report.accuracy, 1.0);
//! assert_eq!(report.model_key, "ml-training/models/doc-run.model");
//! # });
//! ```

#[cfg(feature = "io")]
pub mod driver;
pub mod error;
pub mod guest;
pub mod html;
pub mod layout;
pub mod memory;
pub mod notes;
pub mod objects;
pub mod params;
pub mod report;
#[cfg(feature = "io")]
pub mod runs;
pub mod stage;
pub mod stages;

pub use error::{Error, Result, SandboxFault};
