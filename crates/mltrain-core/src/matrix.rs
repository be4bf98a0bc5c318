//! A dense row-major `f32` matrix, the currency between image decoding, PCA and the forest,
//! and [`FeatureRows`], the rows PCA and prediction read: a matrix, or images kept as bytes.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use stored::MatrixData;

/// One stored feature value: an `f32` itself, or a grey level (`u8`) standing for
/// `level / 255`, as [`FeatureDecoder::decode_features`](crate::image::FeatureDecoder::decode_features)
/// gives it.
pub trait Feature: Copy + PartialEq + Send + Sync + 'static {
    /// The feature as the `f32` PCA and the forest compute with (a grey level in `0.0..=1.0`).
    fn value(self) -> f32;
    /// Whether the value is neither NaN nor infinite (a grey level always is).
    fn is_finite(self) -> bool;
    /// The features as 8-bit levels, when they are (a level `x` is the value `x / 255`):
    /// PCA then sums their products exactly, as integers.
    fn levels(values: &[Self]) -> Option<&[u8]> {
        let _ = values;
        None
    }
}

impl Feature for f32 {
    #[inline]
    fn value(self) -> f32 {
        self
    }

    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Feature for u8 {
    #[inline]
    fn value(self) -> f32 {
        crate::image::GREY_LEVELS[usize::from(self)]
    }

    #[inline]
    fn is_finite(self) -> bool {
        true
    }

    fn levels(values: &[Self]) -> Option<&[u8]> {
        Some(values)
    }
}

/// Rows of features, held as `f32` ([`Matrix`]) or in a compact form converted where they
/// are read ([`ImageLevels`](crate::image::ImageLevels)): what PCA and prediction take.
pub trait FeatureRows: Sync {
    /// How one feature is stored: `f32`, or `u8` grey levels.
    type Value: Feature;
    /// Number of rows (samples).
    fn rows(&self) -> usize;
    /// Number of features in every row.
    fn cols(&self) -> usize;
    /// Every row, one after the other.
    fn values(&self) -> &[Self::Value];
    /// Rows `rows` as `f32`, row-major: borrowed when stored so, else converted into `buf`.
    fn block<'a>(&'a self, rows: Range<usize>, buf: &'a mut Vec<f32>) -> &'a [f32] {
        let d = self.cols();
        buf.clear();
        buf.extend(
            self.values()[rows.start * d..rows.end * d]
                .iter()
                .map(|v| v.value()),
        );
        buf
    }
}

impl FeatureRows for Matrix {
    type Value = f32;

    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn values(&self) -> &[f32] {
        &self.data
    }

    fn block<'a>(&'a self, rows: Range<usize>, _buf: &'a mut Vec<f32>) -> &'a [f32] {
        &self.data[rows.start * self.cols..rows.end * self.cols]
    }
}

/// Dense row-major matrix of `f32`, one sample per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MatrixData")]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

pub(crate) mod stored {
    use serde::{Deserialize, Serialize};

    /// A matrix as stored, before its shape is checked: decoded bytes are never trusted to
    /// say `rows × cols == data.len()`. Public only as `unchecked::MatrixData`, with the
    /// `unchecked` feature.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct MatrixData {
        /// Number of rows.
        pub rows: usize,
        /// Number of columns.
        pub cols: usize,
        /// The values, row-major; [`Matrix`](crate::Matrix) needs `rows × cols` of them.
        pub data: Vec<f32>,
    }
}

impl TryFrom<MatrixData> for Matrix {
    type Error = Error;

    fn try_from(m: MatrixData) -> Result<Self> {
        Matrix::from_vec(m.rows, m.cols, m.data)
    }
}

impl Matrix {
    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Wraps row-major `data`; its length must be `rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::Shape {
                expected: format!("{rows}x{cols} = {} values", rows.saturating_mul(cols)),
                found: format!("{} values", data.len()),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// Builds a matrix from equally long rows.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(Error::Shape {
                    expected: format!("{cols} columns in every row"),
                    found: format!("{} columns in row {i}", r.len()),
                });
            }
            data.extend_from_slice(r);
        }
        Ok(Self {
            rows: rows.len(),
            cols,
            data,
        })
    }

    /// Number of rows (samples).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features) in every row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `i` as a slice. Panics if `i >= rows` (an internal indexing bug, not user input).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i` to write into. Panics if `i >= rows`, as [`Matrix::row`] does.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The value in row `i`, column `j`. Panics if either is out of range.
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.cols + j]
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// All values, row-major, to write into; the shape stays as it is.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// The values, row-major, without copying; the inverse of [`Matrix::from_vec`].
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Iterator over rows.
    pub fn iter_rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        // `chunks_exact(0)` panics, so a zero-column matrix yields `rows` empty slices instead.
        (0..self.rows).map(move |i| self.row(i))
    }

    /// A new matrix made of the given rows, in that order.
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: indices.len(),
            cols: self.cols,
            data,
        }
    }
}
