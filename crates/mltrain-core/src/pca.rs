//! Principal component analysis with `faer`, by one of three solvers picked by the data's
//! shape ([`Solver`]), none of which ever holds a `d × d` matrix for wide images:
//!
//! - **covariance** (few features): the covariance as `f32` products over the lower triangle
//!   of blocks of centred rows, then its top `k` eigenpairs from a partial (Krylov–Schur)
//!   self-adjoint eigensolver, with the full `f64` decomposition as the fallback;
//! - **Gram** (many features, few rows): the `n × n` Gram matrix of the centred rows, whose
//!   eigenvectors map back to the principal axes through the rows themselves;
//! - **randomized** (many of both): a randomized range finder with power iterations
//!   (Halko, Martinsson and Tropp, 2011), a fixed number of passes over the rows.
//!
//! Only informative components are kept: a basis fitted on data of rank `r < k` has `r`
//! axes, and data that does not vary at all is refused. Every iterative step is bounded.
//!
//! [`PcaParams::fit`] returns a [`Pca`] holding the mean and the principal axes;
//! [`Pca::transform`] projects rows onto them. [`PcaParams::plan`] says which solver a shape
//! gets and how much memory the fit needs, before anything is allocated.

use std::ops::Range;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::matrix_free::eigen::{
    PartialEigenParams, partial_self_adjoint_eigen, partial_self_adjoint_eigen_scratch,
};
use faer::{Accum, Col, Mat, MatRef, Side};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matrix::{Feature, FeatureRows, Matrix};
use stored::PcaData;

/// How the principal axes are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Solver {
    /// Eigenvectors of the `d × d` covariance: exact, for few features.
    Covariance,
    /// Eigenvectors of the `n × n` Gram matrix, mapped back through the rows: exact, for
    /// fewer rows than features.
    Gram,
    /// A randomized range finder with power iterations: approximate, for many rows and
    /// many features.
    Randomized,
}

impl Solver {
    /// The name reports and messages use.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Covariance => "covariance",
            Solver::Gram => "gram",
            Solver::Randomized => "randomized",
        }
    }
}

impl std::fmt::Display for Solver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Up to this many features the covariance is small (16 MB at most) and its solver exact
/// and fastest.
const COVARIANCE_MAX_FEATURES: usize = 2048;
/// Up to this many rows the Gram matrix is small (16 MB at most) and its solver exact.
const GRAM_MAX_ROWS: usize = 2048;
/// Extra directions the randomized range finder samples beyond `k` (Halko et al. suggest
/// 5 to 10), and its power iterations, which sharpen a slowly decaying spectrum such as
/// images have. Together they fix the number of passes over the data: `2 · (q + 1)`.
const OVERSAMPLING: usize = 10;
const POWER_ITERATIONS: usize = 4;
/// Whether the covariance of levels comes from exact integer moments
/// ([`level_covariance`]): in the WebAssembly module with `simd128` only (see
/// [`covariance_axes`]).
const EXACT_LEVEL_MOMENTS: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
/// Restarts the partial eigensolver may take before the full decomposition takes over.
const MAX_RESTARTS: usize = 100;
/// A component whose variance is below this share of the total is noise of the arithmetic,
/// not of the data: it is not kept.
const RANK_TOLERANCE: f64 = 1e-6;

/// Which solver a fit uses and the memory it needs beyond the rows themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The solver the shape gets, or the one the parameters force.
    pub solver: Solver,
    /// Bytes the fit allocates at its peak, the rows not included.
    pub bytes: u64,
}

/// How many principal components to keep, and optionally which solver to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcaParams {
    components: usize,
    solver: Option<Solver>,
}

impl PcaParams {
    /// Keep at most `components` principal axes (fewer if the data's rank is lower), the
    /// solver picked by the data's shape.
    pub fn new(components: usize) -> Self {
        Self {
            components,
            solver: None,
        }
    }

    /// Uses `solver` whatever the shape (by default it is picked by [`plan`](Self::plan)).
    pub fn solver(mut self, solver: Solver) -> Self {
        self.solver = Some(solver);
        self
    }

    /// The most principal axes a fit keeps.
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

    /// The solver for `n` rows of `d` features, and the memory its fit needs at most,
    /// counting every feature as varying.
    pub fn plan(&self, n: usize, d: usize) -> Plan {
        let solver = self.solver.unwrap_or(if d <= COVARIANCE_MAX_FEATURES {
            Solver::Covariance
        } else if n <= GRAM_MAX_ROWS {
            Solver::Gram
        } else {
            Solver::Randomized
        });
        let (n64, d64) = (n as u64, d as u64);
        let k = self.components.min(n.max(1)).min(d.max(1)) as u64;
        let block = (block_rows(d) as u64) * d64 * 4;
        // The mean, column sums, kept column indices, the basis over kept and all columns,
        // and the projected rows: every solver has them.
        let common = d64 * (4 + 8 + 1 + 8) + 2 * k * d64 * 4 + n64 * k * 4 + block;
        // A square of side `s` in f32, with the f64 fallback decomposition (the matrix, its
        // eigenvectors and workspace) beside it.
        let square = |s: u64| s * s * 4 + 3 * s * s * 8;
        let work = match solver {
            // With the exact moments of levels beside it where they are summed.
            Solver::Covariance if EXACT_LEVEL_MOMENTS => {
                square(d64) + mltrain_moments::Moments::bytes(d)
            }
            Solver::Covariance => square(d64),
            Solver::Gram => {
                square(n64) + n64 * (gram_slab(n, d) as u64) * 4 + 2 * n64 * k * 8 + d64 * k * 4
            }
            Solver::Randomized => {
                let l = (k + OVERSAMPLING as u64).min(n64).min(d64);
                // The test matrix and its image, both sides, in f32, and the thin SVD in f64.
                d64 * l * 4 * 2 + n64 * l * 4 * 2 + d64 * l * 8 * 3
            }
        };
        Plan {
            solver,
            bytes: common + work,
        }
    }

    /// Fits the basis on the rows of `x` (one sample per row).
    pub fn fit<R: FeatureRows + ?Sized>(&self, x: &R) -> Result<Pca> {
        self.fit_transform(x).map(|(pca, _)| pca)
    }

    /// Fits the basis on the rows of `x` and returns it with the projected rows.
    ///
    /// `x` is read a block of rows at a time, each block centred into one reused buffer:
    /// images kept as bytes ([`ImageLevels`](crate::image::ImageLevels)) are never held as a
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
        if kept.is_empty() {
            return Err(Error::NotEnoughData {
                reason: format!(
                    "the {n} samples are all the same (no feature varies): there is nothing to learn"
                ),
            });
        }
        let dk = kept.len();
        // No more informative axes exist than varying columns, nor than rows less one.
        let k = k.min(dk).min(n - 1);
        let data = Centred {
            values,
            d,
            kept: &kept,
            mean: &mean32,
            n,
        };
        let solver = self.plan(n, dk).solver;
        // The covariance solver leaves the last block of rows centred in this buffer.
        let mut centred = Vec::new();
        let Axes {
            vectors,
            variances,
            total_variance,
        } = match solver {
            Solver::Covariance => covariance_axes(&data, k, &mut centred)?,
            Solver::Gram => gram_axes(&data, k)?,
            Solver::Randomized => randomized_axes(&data, k)?,
        };

        // Informative axes only: those whose variance stands out of the arithmetic's noise.
        let floor = total_variance * RANK_TOLERANCE;
        let r = variances
            .iter()
            .take_while(|&&v| v.is_finite() && v > floor && v > 0.0)
            .count();
        if r == 0 {
            return Err(Error::NotEnoughData {
                reason: format!(
                    "the {n} samples have no variance above rounding noise: there is nothing to learn"
                ),
            });
        }
        // The axes over the kept columns; a dropped column's weight is zero.
        let mut components = Matrix::zeros(r, d);
        let mut reduced = Matrix::zeros(r, dk);
        let mut explained_variance = Vec::with_capacity(r);
        for (c, &value) in variances.iter().enumerate().take(r) {
            explained_variance.push(value as f32);
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
        // are zero: each block is centred again rather than kept, except the last when the
        // buffer still holds it.
        let mut projected = Matrix::zeros(n, r);
        let last = blocks(n, dk).last();
        // The exact path of levels centres no block.
        let mut holds_last = solver == Solver::Covariance && !centred.is_empty();
        for rows in blocks(n, dk).rev() {
            let out = &mut projected.as_mut_slice()[rows.start * r..rows.end * r];
            if !(holds_last && Some(&rows) == last.as_ref()) {
                data.centre(rows, &mut centred);
            }
            holds_last = false;
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

/// The rows of a [`FeatureRows`] as a solver reads them: centred, over the kept columns.
struct Centred<'a, V> {
    values: &'a [V],
    d: usize,
    kept: &'a [usize],
    mean: &'a [f32],
    n: usize,
}

impl<V: Feature> Centred<'_, V> {
    /// Rows `rows`, centred, over the kept columns, row-major into `out`.
    fn centre(&self, rows: Range<usize>, out: &mut Vec<f32>) {
        out.clear();
        for row in self.values[rows.start * self.d..rows.end * self.d].chunks_exact(self.d) {
            out.extend(self.kept.iter().map(|&j| row[j].value() - self.mean[j]));
        }
    }

    /// Every row, centred, over kept columns `cols`, row-major into `out` (`n × cols.len()`).
    fn centre_columns(&self, cols: &[usize], out: &mut Vec<f32>) {
        out.clear();
        for row in self.values.chunks_exact(self.d) {
            out.extend(cols.iter().map(|&j| row[j].value() - self.mean[j]));
        }
    }

    fn cols(&self) -> usize {
        self.kept.len()
    }
}

/// Principal axes over the kept columns (one per column of `vectors`), their variances in
/// decreasing order, and the total variance of the data.
struct Axes {
    vectors: Mat<f64>,
    variances: Vec<f64>,
    total_variance: f64,
}

/// Rows per block when reading a [`FeatureRows`] of `d` features: enough for efficient
/// products, few enough that a centred block (2 MB at 512 rows of 1,024 features) stays
/// near the cores, and that wide images never need a large one (32 rows of 65,536).
fn block_rows(d: usize) -> usize {
    ((1 << 21) / d.max(1)).clamp(1, 512)
}

/// `0..n` in blocks of [`block_rows`] for `d` features.
fn blocks(n: usize, d: usize) -> impl DoubleEndedIterator<Item = Range<usize>> {
    let step = block_rows(d);
    (0..n)
        .step_by(step)
        .map(move |start| start..(start + step).min(n))
}

/// Columns per slab when the Gram solver reads every row over some columns: 8 MB of `f32`.
fn gram_slab(n: usize, d: usize) -> usize {
    ((1 << 21) / n.max(1)).clamp(16, d.max(16))
}

/// The covariance solver: `C = Xcᵀ·Xc / (n − 1)`, then its top `k` eigenpairs. The
/// covariance is one `f32` product per block of centred rows, accumulated (the bulk of the
/// work, SIMD and parallel); only the lower triangle is computed (half the work of a
/// general product) and mirrored afterwards. In the WebAssembly module with `simd128`,
/// levels (images) take exact integer moments instead ([`level_covariance`]): there, an
/// integer dot product does twice the work per instruction of an `f32` product, which has
/// no fused multiply-add; native `f32` products (AVX2, AVX-512) are faster than both.
fn covariance_axes<V: Feature>(
    x: &Centred<'_, V>,
    k: usize,
    centred: &mut Vec<f32>,
) -> Result<Axes> {
    let (n, dk) = (x.n, x.cols());
    let mut cov = match V::levels(x.values).filter(|_| EXACT_LEVEL_MOMENTS) {
        Some(levels) => level_covariance(levels, x.d, x.kept),
        None => {
            let mut cov = Mat::<f32>::zeros(dk, dk);
            for (b, rows) in blocks(n, dk).enumerate() {
                let m = rows.len();
                x.centre(rows, centred);
                let xc = MatRef::from_row_major_slice(centred, m, dk);
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
            cov
        }
    };
    for j in 1..dk {
        for i in 0..j {
            cov[(i, j)] = cov[(j, i)];
        }
    }
    let total_variance: f64 = (0..dk).map(|i| f64::from(cov[(i, i)].max(0.0))).sum();
    let (vectors, variances) = top_eigen(&cov, k)?;
    Ok(Axes {
        vectors,
        variances,
        total_variance,
    })
}

/// The covariance (lower triangle) of the columns `kept` of rows of `d` levels, as the
/// features `level / 255`, from their exact sums and products
/// ([`mltrain_moments::Moments`]).
fn level_covariance(levels: &[u8], d: usize, kept: &[usize]) -> Mat<f32> {
    let mut moments = mltrain_moments::Moments::new(kept.len());
    moments.add_rows(levels, d, kept);
    let scale = 1.0 / 255.0;
    Mat::<f32>::from_fn(kept.len(), kept.len(), |i, j| {
        if j > i {
            return 0.0;
        }
        moments.covariance(i, j, scale).unwrap_or(0.0) as f32
    })
}

/// The Gram solver: `G = Xc·Xcᵀ / (n − 1)` (rows by rows) has the covariance's nonzero
/// eigenvalues, and an eigenvector `u` of `G` with eigenvalue `λ` gives the principal axis
/// `Xcᵀ·u / √((n − 1)·λ)`. The rows are read a slab of columns at a time, twice: once to
/// build `G`, once to map its eigenvectors back.
fn gram_axes<V: Feature>(x: &Centred<'_, V>, k: usize) -> Result<Axes> {
    let (n, dk) = (x.n, x.cols());
    let slab = gram_slab(n, dk);
    let par = faer::get_global_parallelism();
    let mut buf = Vec::new();
    let mut gram = Mat::<f32>::zeros(n, n);
    for (b, cols) in x.kept.chunks(slab).enumerate() {
        x.centre_columns(cols, &mut buf);
        let s = MatRef::from_row_major_slice(&buf, n, cols.len());
        triangular::matmul(
            gram.as_mut(),
            BlockStructure::TriangularLower,
            if b == 0 { Accum::Replace } else { Accum::Add },
            s,
            BlockStructure::Rectangular,
            s.transpose(),
            BlockStructure::Rectangular,
            (1.0 / (n - 1) as f64) as f32,
            par,
        );
    }
    for j in 1..n {
        for i in 0..j {
            gram[(i, j)] = gram[(j, i)];
        }
    }
    let total_variance: f64 = (0..n).map(|i| f64::from(gram[(i, i)].max(0.0))).sum();
    let (u, variances) = top_eigen(&gram, k)?;
    drop(gram);
    // Only axes with a variance can be mapped back; the others are dropped as noise later.
    let floor = total_variance * RANK_TOLERANCE;
    let scale: Vec<f32> = variances
        .iter()
        .map(|&v| {
            if v > floor && v > 0.0 {
                (1.0 / ((n - 1) as f64 * v).sqrt()) as f32
            } else {
                0.0
            }
        })
        .collect();
    let u32s = Mat::<f32>::from_fn(n, k, |i, c| u[(i, c)] as f32 * scale[c]);
    let mut vectors = Mat::<f64>::zeros(dk, k);
    let mut at = 0;
    for cols in x.kept.chunks(slab) {
        x.centre_columns(cols, &mut buf);
        let s = MatRef::from_row_major_slice(&buf, n, cols.len());
        let v = s.transpose() * &u32s;
        for c in 0..k {
            for t in 0..cols.len() {
                vectors[(at + t, c)] = f64::from(v[(t, c)]);
            }
        }
        at += cols.len();
    }
    normalise_columns(&mut vectors);
    Ok(Axes {
        vectors,
        variances,
        total_variance,
    })
}

/// The randomized solver (Halko, Martinsson and Tropp 2011, algorithms 4.4 and 5.1): the
/// range of `Xc` is sampled with `k + p` Gaussian directions, sharpened by `q` power
/// iterations with re-orthonormalisation, and the SVD of `Xc` projected on it gives the
/// axes. Each pass reads the rows once, a block at a time; the passes are fixed in number.
fn randomized_axes<V: Feature>(x: &Centred<'_, V>, k: usize) -> Result<Axes> {
    let (n, dk) = (x.n, x.cols());
    let l = (k + OVERSAMPLING).min(n).min(dk);
    // A fixed seed: the same data gives the same basis.
    let mut rng = ChaCha8Rng::seed_from_u64(0x5_eed0_f9ca);
    let mut omega = Mat::<f32>::from_fn(dk, l, |_, _| gaussian(&mut rng));
    let mut centred = Vec::new();
    let mut total_variance = 0.0f64;
    // Y = Xc·Ω, n × l.
    let times = |omega: &Mat<f32>, centred: &mut Vec<f32>, total: Option<&mut f64>| {
        let mut y = Mat::<f32>::zeros(n, l);
        let mut total_sq = 0.0f64;
        for rows in blocks(n, dk) {
            x.centre(rows.clone(), centred);
            if total.is_some() {
                total_sq += centred
                    .iter()
                    .map(|&v| f64::from(v) * f64::from(v))
                    .sum::<f64>();
            }
            let xc = MatRef::from_row_major_slice(centred, rows.len(), dk);
            y.as_mut()
                .subrows_mut(rows.start, rows.len())
                .copy_from(xc * omega);
        }
        if let Some(total) = total {
            *total = total_sq / (n - 1) as f64;
        }
        y
    };
    // W = Xcᵀ·Q, dk × l.
    let transposed_times = |q: &Mat<f32>, centred: &mut Vec<f32>| {
        let mut w = Mat::<f32>::zeros(dk, l);
        for (b, rows) in blocks(n, dk).enumerate() {
            x.centre(rows.clone(), centred);
            let xc = MatRef::from_row_major_slice(centred, rows.len(), dk);
            faer::linalg::matmul::matmul(
                w.as_mut(),
                if b == 0 { Accum::Replace } else { Accum::Add },
                xc.transpose(),
                q.as_ref().subrows(rows.start, rows.len()),
                1.0f32,
                faer::get_global_parallelism(),
            );
        }
        w
    };
    let mut y = times(&omega, &mut centred, Some(&mut total_variance));
    for _ in 0..POWER_ITERATIONS {
        let q = y.qr().compute_thin_Q();
        omega = transposed_times(&q, &mut centred).qr().compute_thin_Q();
        y = times(&omega, &mut centred, None);
    }
    let q = y.qr().compute_thin_Q();
    // Bᵀ = Xcᵀ·Q: its left singular vectors are the principal axes, its singular values
    // those of Xc on the sampled range.
    let bt = transposed_times(&q, &mut centred);
    let bt = Mat::<f64>::from_fn(dk, l, |i, j| f64::from(bt[(i, j)]));
    let svd = bt.thin_svd().map_err(|e| Error::NotEnoughData {
        reason: format!("the randomized PCA's SVD did not converge: {e:?}"),
    })?;
    let (u, s) = (svd.U(), svd.S());
    // Singular values come in nonincreasing order.
    let vectors = Mat::<f64>::from_fn(dk, k, |i, c| u[(i, c)]);
    let variances = (0..k).map(|c| s[c] * s[c] / (n - 1) as f64).collect();
    Ok(Axes {
        vectors,
        variances,
        total_variance,
    })
}

/// Scales every nonzero column of `m` to unit length.
fn normalise_columns(m: &mut Mat<f64>) {
    for c in 0..m.ncols() {
        let norm = (0..m.nrows())
            .map(|i| m[(i, c)] * m[(i, c)])
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for i in 0..m.nrows() {
                m[(i, c)] /= norm;
            }
        }
    }
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut impl rand::Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Below this many features, or when more than a quarter of the spectrum is asked for, the
/// full eigendecomposition is as cheap as a partial one and simpler.
const PARTIAL_FROM_FEATURES: usize = 128;

/// The `k` largest eigenpairs of the symmetric positive semi-definite `cov`, largest first.
///
/// A partial (Krylov–Schur) eigensolver from faer finds them with matrix–vector products
/// only, in `f32` like the covariance itself: on 784 × 784 image covariances it is several
/// times cheaper than the full decomposition, and the matrix streamed through each product
/// half the size of an `f64` one. It is given a bounded number of restarts; the full
/// decomposition, in `f64`, is the fallback if it does not converge in them or returns
/// anything not finite.
fn top_eigen(cov: &Mat<f32>, k: usize) -> Result<(Mat<f64>, Vec<f64>)> {
    let d = cov.nrows();
    if d >= PARTIAL_FROM_FEATURES && 4 * k <= d {
        let par = faer::get_global_parallelism();
        let params = PartialEigenParams {
            max_restarts: MAX_RESTARTS,
            ..PartialEigenParams::default()
        };
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
        let finite = values.iter().all(|v| v.is_finite())
            && (0..k).all(|c| (0..d).all(|i| vectors[(i, c)].is_finite()));
        if info.n_converged_eigen >= k && finite {
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

pub(crate) mod stored {
    use serde::{Deserialize, Serialize};

    use crate::Matrix;

    /// A basis as stored, before its shape is checked. Public only as
    /// `unchecked::PcaData`, with the `unchecked` feature.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct PcaData {
        /// One mean per input feature; a [`Pca`](super::Pca) needs `components.cols()`.
        pub mean: Vec<f32>,
        /// The principal axes, one per row; a `Pca` needs at least one row and column.
        pub components: Matrix,
        /// Variance along each axis; a `Pca` needs `components.rows()` of them.
        pub explained_variance: Vec<f32>,
        /// Total variance of the training rows, summed over features: what
        /// [`Pca::explained_variance_ratio`](super::Pca::explained_variance_ratio) divides by.
        pub total_variance: f32,
    }
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
    /// Number of principal axes kept: the number of features [`transform`](Self::transform)
    /// gives each row.
    pub fn n_components(&self) -> usize {
        self.components.rows()
    }

    /// Number of input features (pixels) the basis takes.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// The training rows' mean, one value per input feature, subtracted before projecting.
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

    /// `C·mean`, one value per component, as projection computes it: a row `x` projects to
    /// `x·Cᵀ − offset`, which is `(x − mean)·Cᵀ` without a centred copy of `x`. Exposed so
    /// that code reproducing the projection elsewhere (an ONNX graph) uses the same `f32`
    /// values, summed in the same order.
    pub fn offset(&self) -> Vec<f32> {
        self.components
            .iter_rows()
            .map(|c| c.iter().zip(&self.mean).map(|(a, m)| a * m).sum())
            .collect()
    }

    /// Projects the rows of `x` onto the basis: `(x − mean) · componentsᵀ`.
    pub fn transform<R: FeatureRows + ?Sized + Sync>(&self, x: &R) -> Result<Matrix> {
        let mut out = Self::transform_many(std::slice::from_ref(self), x)?;
        Ok(out.pop().expect("one basis, one projection"))
    }

    /// Rows per block of [`transform_many`](Self::transform_many) for `d` features. Rows
    /// projected in separate calls, each call's rows starting at a multiple of this in the
    /// whole, project bit for bit as in one call: each block is the same product.
    pub fn transform_block_rows(d: usize) -> usize {
        block_rows(d)
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
        let offsets: Vec<Vec<f32>> = bases.iter().map(Pca::offset).collect();
        let mut out: Vec<Matrix> = bases
            .iter()
            .map(|b| Matrix::zeros(x.rows(), b.n_components()))
            .collect();
        // Each block of rows gets its rows of every output, so blocks project in parallel.
        let step = block_rows(x.cols());
        let mut jobs: Vec<(Range<usize>, Vec<&mut [f32]>)> = blocks(x.rows(), x.cols())
            .map(|rows| (rows, Vec::new()))
            .collect();
        for o in &mut out {
            let k = o.cols().max(1);
            for ((_, dsts), dst) in jobs.iter_mut().zip(o.as_mut_slice().chunks_mut(step * k)) {
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
        use crate::image::ImageLevels;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (n, d) = (2 * block_rows(64) + 37, 64);
        // A blank border (columns 0 and 63) and a smooth, noisy middle, as digits have.
        let levels: Vec<u8> = (0..n * d)
            .map(|i| match i % d {
                0 | 63 => 0,
                j => ((j * 3) as f32 + 40.0 * gaussian(&mut rng)).clamp(0.0, 255.0) as u8,
            })
            .collect();
        let grey = ImageLevels::from_vec(n, d, levels).unwrap();
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

    /// The exact covariance of levels (the WebAssembly module's) is the covariance, and the
    /// `f32` product's but for its rounding.
    #[test]
    fn level_covariance_is_the_covariance() {
        use crate::image::ImageLevels;
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let (n, d) = (3 * block_rows(29) + 41, 29);
        let levels: Vec<u8> = (0..n * d)
            .map(|i| if i % 7 == 0 { 255 } else { rng.random() })
            .collect();
        let kept: Vec<usize> = (0..d).filter(|j| j % 4 != 1).collect();
        let exact = level_covariance(&levels, d, &kept);
        let grey = ImageLevels::from_vec(n, d, levels.clone()).unwrap();
        let mut sums = vec![0.0f64; d];
        for row in levels.chunks_exact(d) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += f64::from(v) / 255.0;
            }
        }
        let mean: Vec<f32> = sums.iter().map(|&s| (s / n as f64) as f32).collect();
        let centred = Centred {
            values: grey.values(),
            d,
            kept: &kept,
            mean: &mean,
            n,
        };
        let mut buf = Vec::new();
        let rounded = covariance_axes(&centred, 2, &mut buf).unwrap();
        let exact_total: f64 = (0..kept.len()).map(|i| f64::from(exact[(i, i)])).sum();
        assert!(
            (exact_total - rounded.total_variance).abs() < 1e-5 * exact_total,
            "{exact_total} against {}",
            rounded.total_variance
        );
        for i in 0..kept.len() {
            for j in 0..=i {
                let (a, b) = (levels_cov(&levels, d, kept[i], kept[j]), exact[(i, j)]);
                assert!(
                    (a - f64::from(b)).abs() < 1e-6,
                    "({i}, {j}): {a} against {b}"
                );
            }
        }
    }

    /// The sample covariance of columns `i` and `j` of levels scaled to `0..=1`, in `f64`
    /// the plain way.
    fn levels_cov(levels: &[u8], d: usize, i: usize, j: usize) -> f64 {
        let rows: Vec<&[u8]> = levels.chunks_exact(d).collect();
        let n = rows.len() as f64;
        let mean = |c: usize| rows.iter().map(|r| f64::from(r[c]) / 255.0).sum::<f64>() / n;
        let (mi, mj) = (mean(i), mean(j));
        rows.iter()
            .map(|r| (f64::from(r[i]) / 255.0 - mi) * (f64::from(r[j]) / 255.0 - mj))
            .sum::<f64>()
            / (n - 1.0)
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

    /// More components than the data's rank (two: `a` and `b`, in five varying columns):
    /// only the two informative axes are kept, unit length and orthogonal, and the
    /// projection has two columns.
    #[test]
    fn more_components_than_the_rank_keeps_the_informative_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let rows: Vec<[f32; 6]> = (0..50)
            .map(|_| {
                let (a, b) = (gaussian(&mut rng), gaussian(&mut rng));
                [a, 1.0, b, 2.0 * a - b, a + b, 0.0]
            })
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let (pca, z) = PcaParams::new(5).fit_transform(&x).unwrap();
        assert_eq!(pca.n_components(), 2);
        assert_eq!((z.rows(), z.cols()), (50, 2));
        let c = pca.components();
        for i in 0..2 {
            for j in 0..2 {
                let dot: f32 = c.row(i).iter().zip(c.row(j)).map(|(a, b)| a * b).sum();
                assert_abs_diff_eq!(dot, f32::from(u8::from(i == j)), epsilon = 1e-4);
            }
        }
        assert_abs_diff_eq!(pca.explained_variance_ratio(), 1.0, epsilon = 1e-4);
        assert!(z.as_slice().iter().all(|v| v.is_finite()));
    }

    /// Rows that do not vary at all (identical images) are refused at once, by every
    /// solver, and rank-one rows give one axis, by every solver.
    #[test]
    fn identical_and_rank_one_rows() {
        let same = Matrix::from_vec(300, 3000, vec![0.5; 300 * 3000]).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let pattern: Vec<f32> = (0..3000).map(|_| gaussian(&mut rng)).collect();
        let rank_one: Vec<f32> = (0..300)
            .flat_map(|i| {
                let t = (i as f32 - 150.0) / 50.0;
                pattern.iter().map(move |p| 1.0 + t * p)
            })
            .collect();
        let rank_one = Matrix::from_vec(300, 3000, rank_one).unwrap();
        for solver in [Solver::Covariance, Solver::Gram, Solver::Randomized] {
            let params = PcaParams::new(10).solver(solver);
            let err = params.fit(&same).unwrap_err();
            assert!(
                matches!(&err, Error::NotEnoughData { reason } if reason.contains("all the same")),
                "{solver}: {err}"
            );
            let (pca, z) = params.fit_transform(&rank_one).unwrap();
            assert_eq!(pca.n_components(), 1, "{solver}");
            let norm = pattern.iter().map(|p| p * p).sum::<f32>().sqrt();
            let dot: f32 = pca
                .components()
                .row(0)
                .iter()
                .zip(&pattern)
                .map(|(a, p)| a * p / norm)
                .sum();
            assert_abs_diff_eq!(dot.abs(), 1.0, epsilon = 1e-3);
            assert!(z.as_slice().iter().all(|v| v.is_finite()));
        }
    }

    /// Images-like data with a decaying spectrum, `n` rows of `d` features.
    fn decaying(n: usize, d: usize, seed: u64) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rank = 40;
        let basis: Vec<Vec<f32>> = (0..rank)
            .map(|_| (0..d).map(|_| gaussian(&mut rng)).collect())
            .collect();
        let data: Vec<f32> = (0..n)
            .flat_map(|_| {
                let w: Vec<f32> = (0..rank)
                    .map(|r| gaussian(&mut rng) * 4.0 / (1.0 + r as f32))
                    .collect();
                let noise: Vec<f32> = (0..d).map(|_| 0.05 * gaussian(&mut rng)).collect();
                (0..d)
                    .map(|j| {
                        0.5 + noise[j] + (0..rank).map(|r| w[r] * basis[r][j]).sum::<f32>() / 30.0
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Matrix::from_vec(n, d, data).unwrap()
    }

    /// Asserts that `b` has the axes and variances of `a` (up to sign), within `tol` for
    /// the variances' relative error and `1 − |cos|` of the axes.
    fn assert_same_basis(a: &Pca, b: &Pca, k: usize, tol: f32, what: &str) {
        assert_eq!(a.n_components(), b.n_components(), "{what}");
        for c in 0..k {
            let (va, vb) = (a.explained_variance()[c], b.explained_variance()[c]);
            assert!(
                (va - vb).abs() / va < tol,
                "{what}: variance {c}: {va} vs {vb}"
            );
            let dot: f32 = a
                .components()
                .row(c)
                .iter()
                .zip(b.components().row(c))
                .map(|(x, y)| x * y)
                .sum();
            assert!(1.0 - dot < tol, "{what}: axis {c}: cos = {dot}");
        }
    }

    /// The Gram and randomized solvers find what the covariance solver finds, where all
    /// apply: the same axes (with the same sign convention) and variances; and the
    /// projections agree with projecting afterwards.
    #[test]
    fn every_solver_finds_the_covariance_solvers_axes() {
        let x = decaying(300, 900, 12);
        let k = 10;
        let exact = PcaParams::new(k)
            .solver(Solver::Covariance)
            .fit(&x)
            .unwrap();
        for (solver, tol) in [(Solver::Gram, 1e-4), (Solver::Randomized, 2e-3)] {
            let (pca, z) = PcaParams::new(k).solver(solver).fit_transform(&x).unwrap();
            assert_same_basis(&exact, &pca, k, tol, solver.name());
            let again = pca.transform(&x).unwrap();
            for (a, b) in z.as_slice().iter().zip(again.as_slice()) {
                assert_abs_diff_eq!(a, b, epsilon = 1e-3);
            }
        }
    }

    /// The shape picks the solver, and the plan for wide images never holds a `d × d`
    /// matrix: at 256×256 RGB (196,608 features) a covariance would be 155 GB.
    #[test]
    fn the_plan_follows_the_shape() {
        let p = PcaParams::new(10);
        assert_eq!(p.plan(800, 784).solver, Solver::Covariance);
        assert_eq!(p.plan(500, 65_536).solver, Solver::Gram);
        assert_eq!(p.plan(50_000, 65_536).solver, Solver::Randomized);
        let wide = p.plan(500, 256 * 256 * 3);
        assert!(wide.bytes < 200 << 20, "{wide:?}");
        let forced = p.solver(Solver::Covariance).plan(500, 65_536);
        assert!(forced.bytes > 16 << 30, "{forced:?}");
    }

    fn gaussian(rng: &mut impl Rng) -> f32 {
        // Box–Muller; enough for tests.
        let u1: f32 = rng.random::<f32>().max(1e-12);
        let u2: f32 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}
