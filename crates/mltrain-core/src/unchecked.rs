//! For tests and fuzzing: build objects that skip validation.
//!
//! Each type here is the form an object is stored in, the very type decoding reads before
//! its checks turn it into a [`Matrix`](crate::Matrix), [`Pca`](crate::pca::Pca),
//! [`Forest`](crate::forest::Forest) or [`Ensemble`](crate::ensemble::Ensemble). Encoding
//! one with [`format::encode`](crate::format::encode) gives exactly the bytes of a damaged or
//! hostile object, which decoding must refuse; it cannot drift from the real layout, as a
//! copy kept in a test could. Only with the `unchecked` feature, which nothing but tests and
//! fuzz targets turns on.
//!
//! ```
//! use mltrain_core::format::{self, Kind};
//! use mltrain_core::{Error, Matrix, unchecked::MatrixData};
//!
//! // Six values promised, one held.
//! let damaged = MatrixData { rows: 2, cols: 3, data: vec![1.0] };
//! let bytes = format::encode(Kind::Rows, &damaged)?;
//! assert!(format::decode::<Matrix>(Kind::Rows, &bytes).is_err());
//! # Ok::<(), Error>(())
//! ```

pub use crate::ensemble::stored::EnsembleData;
pub use crate::forest::storage::{ForestData, TreeData};
pub use crate::matrix::stored::MatrixData;
pub use crate::pca::stored::PcaData;
