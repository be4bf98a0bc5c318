//! The forest's hyperparameters: the [`ForestParams`] builder and its checks.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How many features each split considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaxFeatures {
    /// `floor(sqrt(n_features))`, at least 1 (scikit-learn's `"sqrt"`).
    Sqrt,
    /// Every feature (plain bagged trees).
    All,
    /// Exactly this many features; must not exceed the number of features.
    Count(usize),
}

impl MaxFeatures {
    pub(super) fn resolve(self, n_features: usize) -> usize {
        match self {
            // Exact for any realistic feature count: f64 holds integers up to 2^53.
            MaxFeatures::Sqrt => ((n_features as f64).sqrt().floor() as usize).max(1),
            MaxFeatures::All => n_features,
            MaxFeatures::Count(k) => k,
        }
    }
}

/// Hyperparameters of a random forest; [`fit`](Self::fit) trains one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub(super) n_trees: usize,
    pub(super) max_depth: usize,
    pub(super) min_samples_split: usize,
    pub(super) max_features: MaxFeatures,
    pub(super) bootstrap: bool,
    pub(super) seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl ForestParams {
    /// 100 trees, depth at most 10, nodes with fewer than 5 samples not split,
    /// `sqrt(n_features)` candidate features per split, bootstrap samples, seed 0.
    pub fn new() -> Self {
        Self {
            n_trees: 100,
            max_depth: 10,
            min_samples_split: 5,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            seed: 0,
        }
    }

    /// Number of trees to grow; more trees smooth the probabilities at the cost of time.
    pub fn n_trees(mut self, n: usize) -> Self {
        self.n_trees = n;
        self
    }

    /// The root is at depth 0; a node at depth `max_depth` is a leaf.
    pub fn max_depth(mut self, d: usize) -> Self {
        self.max_depth = d;
        self
    }

    /// A node with fewer (distinct) training samples than this is a leaf.
    pub fn min_samples_split(mut self, s: usize) -> Self {
        self.min_samples_split = s;
        self
    }

    /// How many randomly chosen features each split considers.
    pub fn max_features(mut self, m: MaxFeatures) -> Self {
        self.max_features = m;
        self
    }

    /// Whether each tree trains on `n` draws with replacement (`true`) or on all rows.
    pub fn bootstrap(mut self, b: bool) -> Self {
        self.bootstrap = b;
        self
    }

    /// Seeds every tree's RNG (with the tree's index): the same seed and data give the same
    /// forest, whatever the thread count.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }

    /// Validates the parameters on their own (data-dependent limits are checked in `fit`).
    pub fn check(&self) -> Result<()> {
        let invalid = |name, reason: &str| {
            Err(Error::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };
        if self.n_trees == 0 {
            return invalid("n_trees", "must be at least 1");
        }
        if self.max_depth == 0 {
            return invalid("max_depth", "must be at least 1");
        }
        if self.min_samples_split < 2 {
            return invalid("min_samples_split", "must be at least 2");
        }
        if self.max_features == MaxFeatures::Count(0) {
            return invalid("max_features", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;
    use crate::forest::testdata::blobs;

    fn param_name(result: Result<()>) -> &'static str {
        match result {
            Err(Error::InvalidParameter { name, .. }) => name,
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn check_rejects_each_bad_parameter() {
        let p = ForestParams::new();
        assert!(p.check().is_ok());
        assert_eq!(param_name(p.clone().n_trees(0).check()), "n_trees");
        assert_eq!(param_name(p.clone().max_depth(0).check()), "max_depth");
        assert_eq!(
            param_name(p.clone().min_samples_split(1).check()),
            "min_samples_split"
        );
        assert_eq!(
            param_name(p.clone().max_features(MaxFeatures::Count(0)).check()),
            "max_features"
        );
        // fit runs check first.
        let (x, y) = blobs(5, 1);
        assert!(matches!(
            p.n_trees(0).fit(&x, &y, 3),
            Err(Error::InvalidParameter {
                name: "n_trees",
                ..
            })
        ));
    }
}
