//! An ensemble of (PCA basis, forest) pairs voting softly: each forest sees the rows through
//! its own basis, and the class probabilities of all forests are averaged.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::forest::Forest;
use crate::matrix::{FeatureRows, Matrix};
use crate::metrics::argmax;
use crate::pca::Pca;
use stored::EnsembleData;

/// One forest with the basis its training rows were projected on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Index into [`Ensemble::bases`].
    pub basis: usize,
    /// Trained on rows projected on that basis: takes its `n_components` features.
    pub forest: Forest,
}

/// Forests over shared PCA bases, predicting by soft vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EnsembleData")]
pub struct Ensemble {
    bases: Vec<Pca>,
    members: Vec<Member>,
    n_classes: usize,
}

pub(crate) mod stored {
    use serde::{Deserialize, Serialize};

    use super::Member;
    use crate::pca::Pca;

    /// An ensemble as stored; decoding goes through [`Ensemble::new`](super::Ensemble::new)'s
    /// checks. Public only as `unchecked::EnsembleData`, with the `unchecked` feature.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct EnsembleData {
        /// The PCA bases; every member's `basis` must index one.
        pub bases: Vec<Pca>,
        /// The forests; each must take its basis's components and have `n_classes` classes.
        pub members: Vec<Member>,
        /// Number of classes; must be the forests' own.
        pub n_classes: usize,
    }
}

impl TryFrom<EnsembleData> for Ensemble {
    type Error = Error;

    fn try_from(e: EnsembleData) -> Result<Self> {
        let ensemble = Ensemble::new(e.bases, e.members).map_err(|err| Error::Format {
            kind: "ensemble",
            reason: err.to_string(),
        })?;
        if ensemble.n_classes != e.n_classes {
            return Err(Error::Format {
                kind: "ensemble",
                reason: format!(
                    "says {} classes, its forests have {}",
                    e.n_classes, ensemble.n_classes
                ),
            });
        }
        Ok(ensemble)
    }
}

impl Ensemble {
    /// Checks that every member names an existing basis whose output its forest takes, and
    /// that all forests agree on the number of classes.
    pub fn new(bases: Vec<Pca>, members: Vec<Member>) -> Result<Self> {
        let n_classes = members
            .first()
            .map(|m| m.forest.n_classes())
            .ok_or_else(|| Error::NotEnoughData {
                reason: "an ensemble needs at least one forest".into(),
            })?;
        let n_features = bases.first().map(Pca::n_features);
        for (i, m) in members.iter().enumerate() {
            let basis = bases.get(m.basis).ok_or_else(|| Error::Shape {
                expected: format!("a basis index below {}", bases.len()),
                found: format!("basis {} for forest {i}", m.basis),
            })?;
            if basis.n_components() != m.forest.n_features() || m.forest.n_classes() != n_classes {
                return Err(Error::Shape {
                    expected: format!("{} features and {n_classes} classes", basis.n_components()),
                    found: format!(
                        "forest {i} with {} features and {} classes",
                        m.forest.n_features(),
                        m.forest.n_classes()
                    ),
                });
            }
        }
        if bases.iter().any(|b| Some(b.n_features()) != n_features) {
            return Err(Error::Shape {
                expected: "bases over one image size".into(),
                found: "mixed sizes".into(),
            });
        }
        Ok(Self {
            bases,
            members,
            n_classes,
        })
    }

    /// Number of classes; every member's forest has the same.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of input features (pixels) the ensemble takes.
    pub fn n_features(&self) -> usize {
        self.bases.first().map_or(0, Pca::n_features)
    }

    /// The PCA bases, each shared by one or more members.
    pub fn bases(&self) -> &[Pca] {
        &self.bases
    }

    /// The forests, each with the index of its basis.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Mean of the members' class probabilities, `rows × n_classes`.
    pub fn predict_proba<R: FeatureRows + ?Sized + Sync>(&self, x: &R) -> Result<Matrix> {
        let projected = Pca::transform_many(&self.bases, x)?;
        let mut sum = Matrix::zeros(x.rows(), self.n_classes);
        for m in &self.members {
            let p = m.forest.predict_proba(&projected[m.basis])?;
            for (s, v) in sum.as_mut_slice().iter_mut().zip(p.as_slice()) {
                *s += v;
            }
        }
        let scale = 1.0 / self.members.len() as f32;
        sum.as_mut_slice().iter_mut().for_each(|v| *v *= scale);
        Ok(sum)
    }

    /// The most probable class of each row (ties to the lowest class).
    pub fn predict<R: FeatureRows + ?Sized + Sync>(&self, x: &R) -> Result<Vec<u32>> {
        let p = self.predict_proba(x)?;
        Ok(p.iter_rows().map(|r| argmax(r) as u32).collect())
    }
}

/// Derives an independent seed for stream `stream` of a run seeded with `seed` (SplitMix64),
/// so that every forest gets its own reproducible randomness.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;
    use crate::forest::ForestParams;
    use crate::pca::PcaParams;

    fn blobs(n: usize, offset: f32) -> (Matrix, Vec<u32>) {
        let rows: Vec<Vec<f32>> = (0..n)
            .map(|i| {
                let c = (i % 3) as f32;
                let jitter = ((i * 7919) % 100) as f32 / 100.0 + offset;
                vec![c * 4.0 + jitter, -c * 3.0 + jitter * 0.5, jitter, 1.0]
            })
            .collect();
        (
            Matrix::from_rows(&rows).unwrap(),
            (0..n).map(|i| (i % 3) as u32).collect(),
        )
    }

    #[test]
    fn soft_vote_over_two_bases() {
        let (x, y) = blobs(300, 0.0);
        let bases = vec![
            PcaParams::new(2).fit(&x).unwrap(),
            PcaParams::new(3).fit(&x).unwrap(),
        ];
        let members: Vec<Member> = (0..4)
            .map(|i| {
                let basis = i % 2;
                let z = bases[basis].transform(&x).unwrap();
                Member {
                    basis,
                    forest: ForestParams::new()
                        .n_trees(5)
                        .seed(i as u64)
                        .fit(&z, &y, 3)
                        .unwrap(),
                }
            })
            .collect();
        let e = Ensemble::new(bases, members).unwrap();
        let (tx, ty) = blobs(90, 0.005);
        assert_eq!(e.predict(&tx).unwrap(), ty);
        for r in e.predict_proba(&tx).unwrap().iter_rows() {
            approx::assert_abs_diff_eq!(r.iter().sum::<f32>(), 1.0, epsilon = 1e-5);
        }
    }

    #[test]
    fn refuses_inconsistent_members() {
        let (x, y) = blobs(60, 0.0);
        let basis = PcaParams::new(2).fit(&x).unwrap();
        let forest = ForestParams::new().n_trees(2).fit(&x, &y, 3).unwrap(); // trained on 4 raw features
        assert!(
            Ensemble::new(
                vec![basis.clone()],
                vec![Member {
                    basis: 0,
                    forest: forest.clone()
                }]
            )
            .is_err()
        );
        assert!(Ensemble::new(vec![basis], vec![Member { basis: 1, forest }]).is_err());
        assert!(Ensemble::new(vec![], vec![]).is_err());
    }

    #[test]
    fn derived_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|s| derive_seed(0, s)).collect();
        assert_eq!(seeds.len(), 1000);
        assert_ne!(derive_seed(1, 0), derive_seed(0, 0));
    }
}
