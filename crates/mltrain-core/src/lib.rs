//! Pure compute for mltrain: bytes and matrices in, models and matrices out.
//!
//! - [`image`] decodes PNG/JPEG bytes into grey rows: `f32` features of a [`Matrix`], or
//!   a byte per pixel ([`image::ImageLevels`]), which PCA and prediction also take.
//! - [`pca`] fits a principal component basis ([`pca::Pca`]) with `faer` and projects rows.
//! - [`forest`] trains a multiclass random forest ([`forest::Forest`]) with class probabilities.
//! - [`ensemble`] combines (basis, forest) pairs into one soft-voting [`ensemble::Ensemble`].
//! - [`metrics`] scores predictions: accuracy, per-class precision and recall, confusion.
//! - [`format`](mod@format) wraps every object the workflow stores in a versioned, checksummed envelope.
//!
//! Nothing here touches files, the network or async runtimes; parallelism is `rayon`
//! behind the default-on `rayon` feature, so the crate builds single-threaded too.
//!
//! ```
//! use mltrain_core::{forest::ForestParams, pca::PcaParams, Matrix};
//!
//! // Two well separated classes in 3 dimensions.
//! let rows: Vec<Vec<f32>> = (0..40)
//!     .map(|i| { let c = (i % 2) as f32; vec![c * 10.0 + (i as f32) * 0.01, c * 5.0, 1.0] })
//!     .collect();
//! let labels: Vec<u32> = (0..40).map(|i| i % 2).collect();
//! let x = Matrix::from_rows(&rows).unwrap();
//!
//! let pca = PcaParams::new(2).fit(&x).unwrap();
//! let z = pca.transform(&x).unwrap();
//! let forest = ForestParams::new().n_trees(10).seed(7).fit(&z, &labels, 2).unwrap();
//! assert_eq!(forest.predict(&z).unwrap(), labels);
//! ```

pub mod ensemble;
pub mod error;
pub mod forest;
pub mod format;
pub mod image;
pub mod matrix;
pub mod metrics;
pub mod pca;
#[cfg(feature = "unchecked")]
pub mod unchecked;

pub use error::{Error, Result};
pub use matrix::Matrix;
