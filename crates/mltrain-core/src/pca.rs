//! Principal component analysis: covariance as one matrix product, then a self-adjoint
//! eigendecomposition, both with `faer`.
//!
//! [`PcaParams::fit`] returns a [`Pca`] holding the mean and the top `k` principal axes;
//! [`Pca::transform`] projects rows onto them.

use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matrix::Matrix;

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
    pub fn fit(&self, x: &Matrix) -> Result<Pca> {
        self.check()?;
        let (n, d) = (x.rows(), x.cols());
        if n < 2 {
            return Err(Error::NotEnoughData {
                reason: format!("PCA needs at least 2 samples, got {n}"),
            });
        }
        if self.components > d {
            return Err(Error::InvalidParameter {
                name: "components",
                reason: format!(
                    "{} components asked, but the data has only {d} features",
                    self.components
                ),
            });
        }
        if x.as_slice().iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "x",
                reason: "contains NaN or infinite values".into(),
            });
        }

        // Mean in f64: a sum of thousands of f32 pixels loses digits otherwise.
        let mut mean = vec![0.0f64; d];
        for row in x.iter_rows() {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);

        // Centre once, then C = Xcᵀ·Xc / (n − 1) as one product.
        let centred = Mat::<f64>::from_fn(n, d, |i, j| f64::from(x.get(i, j)) - mean[j]);
        let cov = centred.transpose() * &centred * (1.0 / (n - 1) as f64);

        let eigen = cov
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| Error::NotEnoughData {
                reason: format!("the covariance eigendecomposition did not converge: {e:?}"),
            })?;
        // Eigenvalues come in nondecreasing order: the top k are the last k columns.
        let (u, s) = (eigen.U(), eigen.S());
        let k = self.components;
        let mut components = Matrix::zeros(k, d);
        let mut explained_variance = Vec::with_capacity(k);
        for c in 0..k {
            let col = d - 1 - c;
            explained_variance.push(s[col].max(0.0) as f32);
            // Eigenvectors have no intrinsic sign; fix it (largest |entry| positive) so the same
            // data always gives the same basis on every machine.
            let pivot = (0..d)
                .max_by(|&a, &b| u[(a, col)].abs().total_cmp(&u[(b, col)].abs()))
                .unwrap_or(0);
            let sign = if u[(pivot, col)] < 0.0 { -1.0 } else { 1.0 };
            for (j, out) in components.row_mut(c).iter_mut().enumerate() {
                *out = (sign * u[(j, col)]) as f32;
            }
        }
        let total_variance: f64 = (0..d).map(|i| s[i].max(0.0)).sum();
        Ok(Pca {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            components,
            explained_variance,
            total_variance: total_variance as f32,
        })
    }
}

/// A fitted PCA basis: `components` is `k × d`, one unit-length principal axis per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    mean: Vec<f32>,
    components: Matrix,
    explained_variance: Vec<f32>,
    total_variance: f32,
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
    pub fn transform(&self, x: &Matrix) -> Result<Matrix> {
        let d = self.n_features();
        if x.cols() != d {
            return Err(Error::Shape {
                expected: format!("{d} features"),
                found: format!("{} features", x.cols()),
            });
        }
        let k = self.n_components();
        // x·Cᵀ − C·mean: no centred copy of x is needed.
        let xs = MatRef::from_row_major_slice(x.as_slice(), x.rows(), d);
        let cs = MatRef::from_row_major_slice(self.components.as_slice(), k, d);
        let projected = xs * cs.transpose();
        let offset: Vec<f32> = self
            .components
            .iter_rows()
            .map(|c| c.iter().zip(&self.mean).map(|(a, b)| a * b).sum())
            .collect();
        let mut out = Matrix::zeros(x.rows(), k);
        for i in 0..x.rows() {
            for (j, o) in out.row_mut(i).iter_mut().enumerate() {
                *o = projected[(i, j)] - offset[j];
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
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

    fn gaussian(rng: &mut impl Rng) -> f32 {
        // Box–Muller; enough for tests.
        let u1: f32 = rng.random::<f32>().max(1e-12);
        let u2: f32 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}
