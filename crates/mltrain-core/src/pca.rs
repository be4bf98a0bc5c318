//! Principal component analysis with `faer`: the covariance as `f32` products over the
//! lower triangle of blocks of centred rows (constant columns left out), then its top `k`
//! eigenpairs from a partial (Krylov–Schur) self-adjoint eigensolver, with the full `f64`
//! decomposition as the fallback.
//!
//! [`PcaParams::fit`] returns a [`Pca`] holding the mean and the top `k` principal axes;
//! [`Pca::transform`] projects rows onto them.

use std::ops::Range;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::matrix_free::eigen::{
    PartialEigenParams, partial_self_adjoint_eigen, partial_self_adjoint_eigen_scratch,
};
use faer::{Accum, Col, Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matrix::{Feature, FeatureRows, Matrix};

/// How many principal components to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcaParams {
    components: usize,
}

impl PcaParams {
    pub fn new(components: usize) -> Self {
        Self { components }
    }

    pub fn components(&self) -> usize {
        self.components
    }

    /// Validates the parameters on their own (data-dependent limits are checked in `fit`).
    pub fn check(&self) -> Result<()> {
        if self.components == 0 {
            return Err(Error::InvalidParameter {
                name: "components",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// Fits the basis on the rows of `x` (one sample per row).
    pub fn fit<R: FeatureRows + ?Sized>(&self, x: &R) -> Result<Pca> {
        self.fit_transform(x).map(|(pca, _)| pca)
    }

    /// Fits the basis on the rows of `x` and returns it with the projected rows.
    ///
    /// `x` is read a block of rows at a time, each block centred into one reused buffer:
    /// images kept as bytes ([`GreyImages`](crate::image::GreyImages)) are never held as a
    /// whole `f32` matrix.
    pub fn fit_transform<R: FeatureRows + ?Sized>(&self, x: &R) -> Result<(Pca, Matrix)> {
        self.check()?;
        let (n, d) = (x.rows(), x.cols());
        if n < 2 {
            return Err(Error::NotEnoughData {
                reason: format!("PCA needs at least 2 samples, got {n}"),
            });
        }
        let k = self.components;
        if k > d {
            return Err(Error::InvalidParameter {
                name: "components",
                reason: format!("{k} components asked, but the data has only {d} features"),
            });
        }

        // One pass: finiteness, the column sums for the mean (in f64: a sum of thousands of
        // f32 pixels loses digits otherwise), and which columns differ from the first row.
        let values = x.values();
        if !values.iter().all(|v| v.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "x",
                reason: "contains NaN or infinite values".into(),
            });
        }
        let mut sums = vec![0.0f64; d];
        let mut varies = vec![false; d];
        let first = &values[..d];
        for row in values.chunks_exact(d) {
            for (((s, nz), &v), &f) in sums.iter_mut().zip(&mut varies).zip(row).zip(first) {
                *s += f64::from(v.value());
                *nz |= v != f;
            }
        }
        let mean32: Vec<f32> = sums.iter().map(|&s| (s / n as f64) as f32).collect();

        // A constant column (the blank border of every digit) is zero once centred: it adds
        // nothing to the covariance and has a zero weight on every axis. Leaving such columns
        // out shrinks both the product and the eigenproblem (784 → about 620 columns on
        // MNIST) and changes neither result.
        let kept: Vec<usize> = (0..d).filter(|&j| varies[j]).collect();
        // Every column stays when fewer than k vary: the axes beyond them are then arbitrary
        // zero-variance directions, which the full problem still provides.
        let kept = if kept.len() >= k {
            kept
        } else {
            (0..d).collect()
        };
        let dk = kept.len();
        // A block of rows, centred, over the kept columns, converted from how they are
        // stored on the way.
        let mut centred = Vec::new();
        let centre = |rows: Range<usize>, centred: &mut Vec<f32>| {
            centred.clear();
            for row in values[rows.start * d..rows.end * d].chunks_exact(d) {
                centred.extend(kept.iter().map(|&j| row[j].value() - mean32[j]));
            }
        };

        // C = Xcᵀ·Xc / (n − 1), one f32 product per block, accumulated (the bulk of the
        // work, SIMD and parallel). Only the lower triangle is computed (half the work of a
        // general product) and mirrored afterwards.
        let mut cov = Mat::<f32>::zeros(dk, dk);
        for (b, rows) in blocks(n).enumerate() {
            let m = rows.len();
            centre(rows, &mut centred);
            let xc = MatRef::from_row_major_slice(&centred, m, dk);
            triangular::matmul(
                cov.as_mut(),
                BlockStructure::TriangularLower,
                if b == 0 { Accum::Replace } else { Accum::Add },
                xc.transpose(),
                BlockStructure::Rectangular,
                xc,
                BlockStructure::Rectangular,
                (1.0 / (n - 1) as f64) as f32,
                faer::get_global_parallelism(),
            );
        }
        for j in 1..dk {
            for i in 0..j {
                cov[(i, j)] = cov[(j, i)];
            }
        }
        let total_variance: f64 = (0..dk).map(|i| f64::from(cov[(i, i)].max(0.0))).sum();

        let (vectors, values) = top_eigen(&cov, k)?;
        drop(cov);
        // The axes over the kept columns; a dropped column's weight is zero.
        let mut components = Matrix::zeros(k, d);
        let mut reduced = Matrix::zeros(k, dk);
        let mut explained_variance = Vec::with_capacity(k);
        for (c, &value) in values.iter().enumerate().take(k) {
            explained_variance.push(value.max(0.0) as f32);
            // Eigenvectors have no intrinsic sign; fix it (largest |entry| positive) so the same
            // data always gives the same basis on every machine.
            let col = vectors.col(c);
            let pivot = (0..dk)
                .max_by(|&a, &b| col[a].abs().total_cmp(&col[b].abs()))
                .unwrap_or(0);
            let sign = if col[pivot] < 0.0 { -1.0 } else { 1.0 };
            for (t, &j) in kept.iter().enumerate() {
                let v = (sign * col[t]) as f32;
                components.row_mut(c)[j] = v;
                reduced.row_mut(c)[t] = v;
            }
        }
        // The projection of the centred rows, over the kept columns only since the others
        // are zero: each block is centred again rather than kept, except the last, which
        // the buffer still holds (all of them when there is only one).
        let mut projected = Matrix::zeros(n, k);
        let last = blocks(n).last();
        for rows in blocks(n).rev() {
            let out = &mut projected.as_mut_slice()[rows.start * k..rows.end * k];
            if Some(&rows) != last.as_ref() {
                centre(rows, &mut centred);
            }
            project_into(&centred, &reduced, None, out);
        }
        let pca = Pca {
            mean: mean32,
            components,
            explained_variance,
            total_variance: total_variance as f32,
        };
        Ok((pca, projected))
    }
}

/// Rows per block when reading a [`FeatureRows`]: enough for efficient products, few enough
/// that a centred block of 784 `f32` features (1.6 MB) stays near the cores.
const BLOCK_ROWS: usize = 512;

/// `0..n` in blocks of [`BLOCK_ROWS`].
fn blocks(n: usize) -> impl DoubleEndedIterator<Item = Range<usize>> {
    (0..n)
        .step_by(BLOCK_ROWS)
        .map(move |start| start..(start + BLOCK_ROWS).min(n))
}

/// Below this many features, or when more than a quarter of the spectrum is asked for, the
/// full eigendecomposition is as cheap as a partial one and simpler.
const PARTIAL_FROM_FEATURES: usize = 128;

/// The `k` largest eigenpairs of the symmetric positive semi-definite `cov`, largest first.
///
/// A partial (Krylov–Schur) eigensolver from faer finds them with matrix–vector products
/// only, in `f32` like the covariance itself: on 784 × 784 image covariances it is several
/// times cheaper than the full decomposition, and the matrix streamed through each product
/// half the size of an `f64` one. The full decomposition, in `f64`, is the fallback if it
/// does not converge.
fn top_eigen(cov: &Mat<f32>, k: usize) -> Result<(Mat<f64>, Vec<f64>)> {
    let d = cov.nrows();
    if d >= PARTIAL_FROM_FEATURES && 4 * k <= d {
        let par = faer::get_global_parallelism();
        let params = PartialEigenParams::default();
        let mut vectors = Mat::<f32>::zeros(d, k);
        let mut values = vec![0.0f32; k];
        // A fixed start vector keeps the result reproducible; its irregular entries avoid
        // being orthogonal to any eigenvector of real data.
        let start = |i: usize| 1.0 + ((i * 7919) % 101) as f32 / 101.0;
        let norm = (0..d).map(|i| start(i) * start(i)).sum::<f32>().sqrt();
        let v0 = Col::<f32>::from_fn(d, |i| start(i) / norm);
        let mut mem = MemBuffer::new(partial_self_adjoint_eigen_scratch(
            &cov.as_ref(),
            k,
            par,
            params,
        ));
        let info = partial_self_adjoint_eigen(
            vectors.as_mut(),
            &mut values,
            &cov.as_ref(),
            v0.as_ref(),
            f32::EPSILON * 128.0,
            par,
            MemStack::new(&mut mem),
            params,
        );
        if info.n_converged_eigen >= k {
            let vectors = Mat::<f64>::from_fn(d, k, |i, c| f64::from(vectors[(i, c)]));
            return Ok((vectors, values.into_iter().map(f64::from).collect()));
        }
    }
    let cov = Mat::<f64>::from_fn(d, d, |i, j| f64::from(cov[(i, j)]));
    let eigen = cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::NotEnoughData {
            reason: format!("the covariance eigendecomposition did not converge: {e:?}"),
        })?;
    // Eigenvalues come in nondecreasing order: the top k are the last k columns.
    let (u, s) = (eigen.U(), eigen.S());
    let vectors = Mat::<f64>::from_fn(d, k, |i, c| u[(i, d - 1 - c)]);
    let values = (0..k).map(|c| s[d - 1 - c]).collect();
    Ok((vectors, values))
}

/// `(x − offset) · componentsᵀ` into `out` (row-major, `k` per row) for the rows of `x`
/// (row-major, `components.cols()` per row), with `offset = components · mean` precomputed
/// by the caller (`None` when `x` is centred already).
fn project_into(x: &[f32], components: &Matrix, offset: Option<&[f32]>, out: &mut [f32]) {
    let (k, d) = (components.rows(), components.cols());
    let xs = MatRef::from_row_major_slice(x, x.len() / d, d);
    let cs = MatRef::from_row_major_slice(components.as_slice(), k, d);
    let projected = xs * cs.transpose();
    for (i, row) in out.chunks_exact_mut(k).enumerate() {
        for (j, o) in row.iter_mut().enumerate() {
            *o = projected[(i, j)] - offset.map_or(0.0, |off| off[j]);
        }
    }
}

/// A fitted PCA basis: `components` is `k × d`, one unit-length principal axis per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PcaData")]
pub struct Pca {
    mean: Vec<f32>,
    components: Matrix,
    explained_variance: Vec<f32>,
    total_variance: f32,
}

/// A basis as stored, before its shape is checked.
#[derive(Deserialize)]
struct PcaData {
    mean: Vec<f32>,
    components: Matrix,
    explained_variance: Vec<f32>,
    total_variance: f32,
}

impl TryFrom<PcaData> for Pca {
    type Error = Error;

    fn try_from(p: PcaData) -> Result<Self> {
        let (k, d) = (p.components.rows(), p.components.cols());
        if d == 0 || k == 0 || p.mean.len() != d || p.explained_variance.len() != k {
            return Err(Error::Format {
                kind: "PCA basis",
                reason: format!(
                    "{k} components over {d} features, with {} means and {} variances",
                    p.mean.len(),
                    p.explained_variance.len()
                ),
            });
        }
        Ok(Pca {
            mean: p.mean,
            components: p.components,
            explained_variance: p.explained_variance,
            total_variance: p.total_variance,
        })
    }
}

impl Pca {
    pub fn n_components(&self) -> usize {
        self.components.rows()
    }

    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The principal axes, one per row, in order of decreasing variance.
    pub fn components(&self) -> &Matrix {
        &self.components
    }

    /// Variance along each principal axis.
    pub fn explained_variance(&self) -> &[f32] {
        &self.explained_variance
    }

    /// Share of the total variance the kept axes explain, in `0..=1`.
    pub fn explained_variance_ratio(&self) -> f32 {
        if self.total_variance > 0.0 {
            self.explained_variance.iter().sum::<f32>() / self.total_variance
        } else {
            0.0
        }
    }

    /// Projects the rows of `x` onto the basis: `(x − mean) · componentsᵀ`.
    pub fn transform<R: FeatureRows + ?Sized + Sync>(&self, x: &R) -> Result<Matrix> {
        let mut out = Self::transform_many(std::slice::from_ref(self), x)?;
        Ok(out.pop().expect("one basis, one projection"))
    }

    /// Projects the rows of `x` onto every basis of `bases`, one matrix each: `x` is read
    /// (and converted, if it is not `f32`) once for all of them, a block of rows at a time,
    /// blocks in parallel with the `rayon` feature.
    pub fn transform_many<R: FeatureRows + ?Sized + Sync>(
        bases: &[Pca],
        x: &R,
    ) -> Result<Vec<Matrix>> {
        for b in bases {
            let d = b.n_features();
            if x.cols() != d {
                return Err(Error::Shape {
                    expected: format!("{d} features"),
                    found: format!("{} features", x.cols()),
                });
            }
        }
        // x·Cᵀ − C·mean: no centred copy of x is needed.
        let offsets: Vec<Vec<f32>> = bases
            .iter()
            .map(|b| {
                b.components
                    .iter_rows()
                    .map(|c| c.iter().zip(&b.mean).map(|(a, m)| a * m).sum())
                    .collect()
            })
            .collect();
        let mut out: Vec<Matrix> = bases
            .iter()
            .map(|b| Matrix::zeros(x.rows(), b.n_components()))
            .collect();
        // Each block of rows gets its rows of every output, so blocks project in parallel.
        let mut jobs: Vec<(Range<usize>, Vec<&mut [f32]>)> =
            blocks(x.rows()).map(|rows| (rows, Vec::new())).collect();
        for o in &mut out {
            let k = o.cols().max(1);
            for ((_, dsts), dst) in jobs
                .iter_mut()
                .zip(o.as_mut_slice().chunks_mut(BLOCK_ROWS * k))
            {
                dsts.push(dst);
            }
        }
        let project = |(rows, dsts): (Range<usize>, Vec<&mut [f32]>)| {
            let mut buf = Vec::new();
            let block = x.block(rows, &mut buf);
            for ((b, dst), offset) in bases.iter().zip(dsts).zip(&offsets) {
                project_into(block, &b.components, Some(offset), dst);
            }
        };
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            jobs.into_par_iter().for_each(project);
        }
        #[cfg(not(feature = "rayon"))]
        jobs.into_iter().for_each(project);
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use approx::assert_abs_diff_eq;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Samples with a known covariance: independent axes of standard deviation 3, 2 and 0.5,
    /// rotated by a known orthogonal matrix. The principal axes are then the rotation's rows
    /// and the variances 9, 4 and 0.25, up to sampling error.
    #[test]
    fn recovers_a_known_rotated_covariance() {
        let (c, s) = (0.6f32, 0.8f32); // cos, sin of a rotation in the x–y plane
        let axes = [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]];
        let sd = [3.0f32, 2.0, 0.5];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Exactly symmetric samples (±) make the sample mean exactly the offset.
        let mut rows = Vec::new();
        for _ in 0..40000 {
            let z: Vec<f32> = sd.iter().map(|s| s * gaussian(&mut rng)).collect();
            for sign in [1.0f32, -1.0] {
                let mut row = [10.0f32, -5.0, 2.0];
                for (a, axis) in axes.iter().enumerate() {
                    for j in 0..3 {
                        row[j] += sign * z[a] * axis[j];
                    }
                }
                rows.push(row.to_vec());
            }
        }
        let x = Matrix::from_rows(&rows).unwrap();
        let pca = PcaParams::new(3).fit(&x).unwrap();

        assert_abs_diff_eq!(pca.mean()[0], 10.0, epsilon = 1e-3);
        assert_abs_diff_eq!(pca.mean()[1], -5.0, epsilon = 1e-3);
        for (got, want) in pca.explained_variance().iter().zip([9.0f32, 4.0, 0.25]) {
            assert!((got - want).abs() / want < 0.02, "variance {got} vs {want}");
        }
        for (a, axis) in axes.iter().enumerate() {
            let dot: f32 = pca
                .components()
                .row(a)
                .iter()
                .zip(axis)
                .map(|(p, q)| p * q)
                .sum();
            assert_abs_diff_eq!(dot.abs(), 1.0, epsilon = 1e-3);
        }
        assert_abs_diff_eq!(pca.explained_variance_ratio(), 1.0, epsilon = 1e-5);
    }

    /// A diagonal covariance in closed form: the four points (±a, 0), (0, ±b) have variance
    /// 2a²/3 and 2b²/3 on the axes (n − 1 = 3) and no covariance.
    #[test]
    fn exact_diagonal_case() {
        let (a, b) = (3.0f32, 1.0f32);
        let x = Matrix::from_rows(&[[a, 0.0], [-a, 0.0], [0.0, b], [0.0, -b]]).unwrap();
        let pca = PcaParams::new(2).fit(&x).unwrap();
        assert_abs_diff_eq!(
            pca.explained_variance()[0],
            2.0 * a * a / 3.0,
            epsilon = 1e-5
        );
        assert_abs_diff_eq!(
            pca.explained_variance()[1],
            2.0 * b * b / 3.0,
            epsilon = 1e-5
        );
        // Sign convention: largest entry positive.
        assert_eq!(pca.components().row(0), &[1.0, 0.0]);
        assert_eq!(pca.components().row(1), &[0.0, 1.0]);
        let z = pca.transform(&x).unwrap();
        assert_eq!(z.row(1), &[-a, 0.0]);
        assert_eq!(z.row(2), &[0.0, b]);
    }

    #[test]
    fn projection_is_centred_and_decorrelated() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let rows: Vec<Vec<f32>> = (0..500)
            .map(|_| {
                let t = gaussian(&mut rng);
                vec![
                    t,
                    2.0 * t + 0.1 * gaussian(&mut rng),
                    gaussian(&mut rng),
                    5.0,
                ]
            })
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let z = PcaParams::new(2).fit(&x).unwrap().transform(&x).unwrap();
        let n = z.rows() as f32;
        let mean0: f32 = z.iter_rows().map(|r| r[0]).sum::<f32>() / n;
        let cov01: f32 = z.iter_rows().map(|r| r[0] * r[1]).sum::<f32>() / n;
        assert_abs_diff_eq!(mean0, 0.0, epsilon = 1e-4);
        assert_abs_diff_eq!(cov01, 0.0, epsilon = 1e-3);
    }

    #[test]
    fn rejects_bad_input() {
        let x = Matrix::from_rows(&[[1.0f32, 2.0], [3.0, 4.0]]).unwrap();
        assert!(matches!(
            PcaParams::new(0).fit(&x),
            Err(Error::InvalidParameter {
                name: "components",
                ..
            })
        ));
        assert!(matches!(
            PcaParams::new(3).fit(&x),
            Err(Error::InvalidParameter {
                name: "components",
                ..
            })
        ));
        let one = Matrix::from_rows(&[[1.0f32, 2.0]]).unwrap();
        assert!(matches!(
            PcaParams::new(1).fit(&one),
            Err(Error::NotEnoughData { .. })
        ));
        let nan = Matrix::from_rows(&[[1.0f32, f32::NAN], [3.0, 4.0]]).unwrap();
        assert!(PcaParams::new(1).fit(&nan).is_err());
        let pca = PcaParams::new(1).fit(&x).unwrap();
        assert!(matches!(
            pca.transform(&Matrix::zeros(1, 3)),
            Err(Error::Shape { .. })
        ));
    }

    /// The partial eigensolver must find what the full decomposition finds: same variances,
    /// same axes (up to the fixed sign), on data with a decaying spectrum like images have.
    #[test]
    fn partial_eigensolver_agrees_with_the_full_one() {
        let (n, d) = (400, 200);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                let z: Vec<f32> = (0..d).map(|_| gaussian(&mut rng)).collect();
                // Feature j scaled by 1/(1+j/4): variances fall off smoothly, axes mixed by a
                // cheap fixed rotation (neighbouring pairs).
                (0..d)
                    .map(|j| {
                        let a = z[j] / (1.0 + j as f32 / 4.0);
                        let b = z[j ^ 1] / (1.0 + (j ^ 1) as f32 / 4.0);
                        0.8 * a + if j % 2 == 0 { 0.6 } else { -0.6 } * b
                    })
                    .collect()
            })
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let k = 20;
        let partial = PcaParams::new(k).fit(&x).unwrap();

        // Reference: the full decomposition on the same covariance.
        let xs = MatRef::from_row_major_slice(x.as_slice(), n, d);
        let mean: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| f64::from(xs[(i, j)])).sum::<f64>() / n as f64)
            .collect();
        let centred = Mat::<f64>::from_fn(n, d, |i, j| f64::from(xs[(i, j)]) - mean[j]);
        let cov = centred.transpose() * &centred * (1.0 / (n - 1) as f64);
        let eig = cov.self_adjoint_eigen(Side::Lower).unwrap();
        for c in 0..k {
            let col = d - 1 - c;
            let want = eig.S()[col];
            let got = f64::from(partial.explained_variance()[c]);
            assert!(
                (got - want).abs() / want < 1e-4,
                "variance {c}: {got} vs {want}"
            );
            let dot: f64 = (0..d)
                .map(|j| f64::from(partial.components().get(c, j)) * eig.U()[(j, col)])
                .sum();
            assert!(
                (dot.abs() - 1.0).abs() < 1e-3,
                "axis {c}: |dot| = {}",
                dot.abs()
            );
        }
    }

    #[test]
    fn fit_transform_matches_fit_then_transform() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rows: Vec<Vec<f32>> = (0..300)
            .map(|_| (0..150).map(|_| gaussian(&mut rng)).collect())
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let (pca, z) = PcaParams::new(8).fit_transform(&x).unwrap();
        let z2 = pca.transform(&x).unwrap();
        for (a, b) in z.as_slice().iter().zip(z2.as_slice()) {
            assert_abs_diff_eq!(a, b, epsilon = 1e-4);
        }
    }

    /// Grey levels are the features they stand for: fitting and projecting images kept as
    /// bytes gives exactly what the same images as `f32` give, over several row blocks.
    #[test]
    fn grey_levels_fit_and_project_as_their_features() {
        use crate::image::GreyImages;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (n, d) = (2 * BLOCK_ROWS + 37, 64);
        // A blank border (columns 0 and 63) and a smooth, noisy middle, as digits have.
        let levels: Vec<u8> = (0..n * d)
            .map(|i| match i % d {
                0 | 63 => 0,
                j => ((j * 3) as f32 + 40.0 * gaussian(&mut rng)).clamp(0.0, 255.0) as u8,
            })
            .collect();
        let grey = GreyImages::from_vec(n, d, levels).unwrap();
        let features = grey.to_features();
        let (a, za) = PcaParams::new(6).fit_transform(&grey).unwrap();
        let (b, zb) = PcaParams::new(6).fit_transform(&features).unwrap();
        assert_eq!(a, b);
        assert_eq!(za, zb);
        assert_eq!(
            a.components().get(0, 0),
            0.0,
            "a blank column weighs nothing"
        );
        let projected = Pca::transform_many(&[a.clone(), b.clone()], &grey).unwrap();
        assert_eq!(projected[0], b.transform(&features).unwrap());
        assert_eq!(projected[0], projected[1]);
        for (p, z) in projected[0].as_slice().iter().zip(za.as_slice()) {
            assert_abs_diff_eq!(p, z, epsilon = 1e-3);
        }
    }

    /// Constant columns (an image's blank border) are left out of the eigenproblem: the
    /// basis and projection are those of the data without them, with zero weights there.
    #[test]
    fn constant_columns_change_nothing() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (n, d) = (300, 150);
        let varying: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                (0..d)
                    .map(|j| gaussian(&mut rng) / (1.0 + j as f32 / 8.0))
                    .collect()
            })
            .collect();
        // Every third column of the wide data is constant (0 or 2.5).
        let is_const = |j: usize| j % 3 == 1;
        let wide: Vec<Vec<f32>> = varying
            .iter()
            .map(|row| {
                let mut it = row.iter();
                (0..d * 3 / 2)
                    .map(|j| match is_const(j) {
                        true => 2.5 * (j % 2) as f32,
                        false => *it.next().unwrap(),
                    })
                    .collect()
            })
            .collect();
        let k = 8;
        let x = Matrix::from_rows(&varying).unwrap();
        let xw = Matrix::from_rows(&wide).unwrap();
        let (narrow, z) = PcaParams::new(k).fit_transform(&x).unwrap();
        let (pca, zw) = PcaParams::new(k).fit_transform(&xw).unwrap();
        assert_eq!(pca.n_features(), d * 3 / 2);
        for c in 0..k {
            let (a, b) = (narrow.explained_variance()[c], pca.explained_variance()[c]);
            assert!((a - b).abs() / a < 1e-4, "variance {c}: {a} vs {b}");
            let row = pca.components().row(c);
            let on_varying: Vec<f32> = (0..row.len())
                .filter(|&j| !is_const(j))
                .map(|j| row[j])
                .collect();
            assert!(
                (0..row.len())
                    .filter(|&j| is_const(j))
                    .all(|j| row[j] == 0.0)
            );
            for (a, b) in on_varying.iter().zip(narrow.components().row(c)) {
                assert_abs_diff_eq!(a, b, epsilon = 1e-3);
            }
        }
        for (a, b) in z.as_slice().iter().zip(zw.as_slice()) {
            assert_abs_diff_eq!(a, b, epsilon = 1e-3);
        }
        assert_abs_diff_eq!(
            narrow.explained_variance_ratio(),
            pca.explained_variance_ratio(),
            epsilon = 1e-5
        );
        // Training rows projected afterwards land where fit_transform put them.
        let again = pca.transform(&xw).unwrap();
        for (a, b) in again.as_slice().iter().zip(zw.as_slice()) {
            assert_abs_diff_eq!(a, b, epsilon = 1e-4);
        }
    }

    /// More components than varying columns: the extra axes are zero-variance directions,
    /// and every axis is still a unit vector orthogonal to the others.
    #[test]
    fn more_components_than_varying_columns() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let rows: Vec<[f32; 6]> = (0..50)
            .map(|_| {
                let (a, b) = (gaussian(&mut rng), gaussian(&mut rng));
                [a, 1.0, b, 1.0, a + b, 0.0]
            })
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let (pca, z) = PcaParams::new(5).fit_transform(&x).unwrap();
        assert_eq!((z.rows(), z.cols()), (50, 5));
        let c = pca.components();
        for i in 0..5 {
            for j in 0..5 {
                let dot: f32 = c.row(i).iter().zip(c.row(j)).map(|(a, b)| a * b).sum();
                assert_abs_diff_eq!(dot, f32::from(u8::from(i == j)), epsilon = 1e-4);
            }
        }
        assert!(pca.explained_variance()[2..].iter().all(|&v| v < 1e-5));
    }

    fn gaussian(rng: &mut impl Rng) -> f32 {
        // Box–Muller; enough for tests.
        let u1: f32 = rng.random::<f32>().max(1e-12);
        let u2: f32 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}
