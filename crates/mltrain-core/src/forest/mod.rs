//! A multiclass random forest of Gini decision trees with class probabilities.
//!
//! [`ForestParams`] is the builder: set the hyperparameters, [`check`](ForestParams::check)
//! them, then [`fit`](ForestParams::fit) on a [`Matrix`] of features and `u32` labels to get a
//! [`Forest`], whose [`predict_proba`](Forest::predict_proba) is the mean of the trees' leaf
//! class distributions (as in scikit-learn) and [`predict`](Forest::predict) its argmax.
//!
//! Training is histogram based: every feature is binned once per fit into at most 256
//! quantile bins, so a large node's split search is one pass over its samples into a
//! `bins × classes` histogram and one scan of that histogram; a small node counting-sorts
//! its samples by bin instead and sweeps them. Bin edges are midpoints between
//! neighbouring distinct training values. A split between bins `lo` and `hi` stores as its
//! `f32` threshold the midpoint of the largest training value of `lo` and the smallest of
//! `hi`, as scikit-learn's midpoint between the values it sees, so prediction runs on raw
//! features with `x <= threshold` going left.
//!
//! Prediction takes blocks of 64 rows through one tree at a time. A tree of at most 64
//! leaves (the 2k workflow's 250-row forests grow 26 to 51) is evaluated by leaf masks: each
//! split is tested against the whole block in SIMD (`pulp` picks AVX2 or plain code at run
//! time), and each row's leaf is the lowest bit its failed splits leave. A bigger tree is
//! walked, from a copy laid out for it: a node's two children are indexed by the comparison
//! and a leaf loops to itself, so every row takes the tree's depth in steps without a
//! branch, and 16 rows walk in lockstep, their loads overlapping.
//!
//! Each tree draws from its own RNG seeded from `(seed, tree index)`, so a seed fixes the
//! forest whether trees are built in parallel (feature `rayon`) or not, on any thread count.
//!
//! One file per concern: `params.rs` holds the hyperparameters; `train.rs` fits a forest on
//! the bins of `binning.rs`, choosing each node's split in `split.rs` (by `gini_score`);
//! `tree.rs` holds a tree as grown and its reference predictor, `predict.rs` the layouts
//! prediction runs on (walks, leaf masks, SIMD) and `storage.rs` the byte format.

mod binning;
mod params;
mod predict;
mod split;
pub(crate) mod storage;
#[cfg(test)]
mod testdata;
mod train;
mod tree;

use std::sync::OnceLock;

#[cfg(feature = "rayon")]
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matrix::Matrix;

pub use params::{ForestParams, MaxFeatures};
use predict::{Masks, PREDICT_BLOCK_ROWS, VoteBlock, Walks, add_leaf};
use storage::ForestData;
use tree::Tree;
pub use tree::TreeNode;

/// A trained random forest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "ForestData<Tree>")]
pub struct Forest {
    n_features: usize,
    n_classes: usize,
    trees: Vec<Tree>,
    /// The trees laid out for prediction, derived from `trees` on first use (not stored:
    /// a forest that is only trained and written never needs them): leaf masks for trees
    /// of up to 64 leaves, walks for the others.
    #[serde(skip)]
    walks: OnceLock<Walks>,
    #[serde(skip)]
    masks: OnceLock<Masks>,
}

/// Forests are equal when their trees are; the prediction layouts are derived from them.
impl PartialEq for Forest {
    fn eq(&self, other: &Self) -> bool {
        (self.n_features, self.n_classes, &self.trees)
            == (other.n_features, other.n_classes, &other.trees)
    }
}

impl Forest {
    /// A forest from trees that passed [`ForestData`]'s checks or were just grown.
    fn from_checked(n_features: usize, n_classes: usize, trees: Vec<Tree>) -> Self {
        Forest {
            n_features,
            n_classes,
            trees,
            walks: OnceLock::new(),
            masks: OnceLock::new(),
        }
    }

    /// Number of classes; labels and predictions are `0..n_classes`.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of features every row must have.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of trees that vote.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Every tree's nodes in depth-first preorder, tree by tree: for code that writes the
    /// forest in another format (an ONNX exporter).
    pub fn trees(
        &self,
    ) -> impl ExactSizeIterator<Item = impl ExactSizeIterator<Item = TreeNode<'_>>> {
        let n_classes = self.n_classes;
        self.trees.iter().map(move |t| t.view(n_classes))
    }

    /// Class probabilities, `x.rows() × n_classes`: the mean of the trees' leaf distributions.
    pub fn predict_proba(&self, x: &Matrix) -> Result<Matrix> {
        self.check_cols(x)?;
        let (c, d) = (self.n_classes, self.n_features);
        let mut out = Matrix::zeros(x.rows(), c);
        let xs = x.as_slice();
        // Blocks of rows, trees in the outer loop: one tree stays in cache for the whole
        // block instead of every row going through all trees; blocks also feed rayon.
        let arch = pulp::Arch::new();
        let fill = |(k, block): (usize, &mut [f32])| {
            let first = k * PREDICT_BLOCK_ROWS;
            let rows = block.len() / c;
            arch.dispatch(VoteBlock {
                forest: self,
                x: &xs[first * d..(first + rows) * d],
                out: block,
            });
            block.chunks_exact_mut(c).for_each(normalise);
        };
        #[cfg(feature = "rayon")]
        out.as_mut_slice()
            .par_chunks_mut(PREDICT_BLOCK_ROWS * c)
            .enumerate()
            .for_each(fill);
        #[cfg(not(feature = "rayon"))]
        out.as_mut_slice()
            .chunks_mut(PREDICT_BLOCK_ROWS * c)
            .enumerate()
            .for_each(fill);
        Ok(out)
    }

    /// Overwrites `out` with the class probabilities of one row.
    ///
    /// Panics if `row.len() != n_features()` or `out.len() != n_classes()`: this is the
    /// allocation-free building block, callers with untrusted shapes use `predict_proba`.
    pub fn predict_proba_row(&self, row: &[f32], out: &mut [f32]) {
        assert_eq!(
            row.len(),
            self.n_features,
            "row length must be the number of features"
        );
        assert_eq!(
            out.len(),
            self.n_classes,
            "output length must be the number of classes"
        );
        out.fill(0.0);
        for tree in &self.trees {
            add_leaf(out, tree.leaf(row, self.n_classes));
        }
        normalise(out);
    }

    /// The most probable class of each row; ties go to the lowest class.
    pub fn predict(&self, x: &Matrix) -> Result<Vec<u32>> {
        let proba = self.predict_proba(x)?;
        Ok(proba.iter_rows().map(argmax).collect())
    }

    fn check_cols(&self, x: &Matrix) -> Result<()> {
        if x.cols() != self.n_features {
            return Err(Error::Shape {
                expected: format!("{} features per row", self.n_features),
                found: format!("{} features", x.cols()),
            });
        }
        Ok(())
    }
}

/// Sums of leaf distributions to their mean. Dividing by the sum rather than the tree count
/// keeps rows summing to 1 despite f32 rounding accumulated over hundreds of trees.
fn normalise(sums: &mut [f32]) {
    let total: f32 = sums.iter().sum();
    sums.iter_mut().for_each(|p| *p /= total);
}

fn argmax(p: &[f32]) -> u32 {
    let mut best = 0;
    for (k, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = k;
        }
    }
    best as u32
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;
    use crate::forest::testdata::{accuracy, blobs, xor};

    #[test]
    fn learns_blobs() {
        let (x, y) = blobs(200, 1);
        let (xt, yt) = blobs(200, 2);
        let forest = ForestParams::new()
            .n_trees(30)
            .seed(3)
            .fit(&x, &y, 3)
            .expect("fit");
        assert!(accuracy(&forest, &xt, &yt) >= 0.97);
    }

    #[test]
    fn learns_xor() {
        let (x, y) = xor(1000, 1);
        let (xt, yt) = xor(1000, 2);
        // With both features considered, only depth >= 2 can separate XOR.
        let params = ForestParams::new()
            .n_trees(20)
            .max_features(MaxFeatures::All)
            .seed(5);
        let forest = params.clone().fit(&x, &y, 2).expect("fit");
        let acc = accuracy(&forest, &xt, &yt);
        assert!(acc >= 0.97, "accuracy {acc}");
        let stump = params.max_depth(1).fit(&x, &y, 2).expect("fit");
        assert!(accuracy(&stump, &xt, &yt) < 0.8);
    }

    #[test]
    fn same_seed_same_forest() {
        let (x, y) = blobs(100, 1);
        let params = ForestParams::new().n_trees(10).seed(42);
        let a = params.fit(&x, &y, 3).expect("fit");
        let b = params.fit(&x, &y, 3).expect("fit");
        assert_eq!(a, b);
        assert_eq!(
            a.predict_proba(&x).expect("proba"),
            b.predict_proba(&x).expect("proba")
        );
        let c = params.seed(43).fit(&x, &y, 3).expect("fit");
        assert_ne!(a, c);
    }

    #[cfg(feature = "rayon")]
    #[test]
    fn thread_count_does_not_change_the_forest() {
        let (x, y) = blobs(100, 1);
        let params = ForestParams::new().n_trees(8).seed(9);
        let fit_on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| params.fit(&x, &y, 3).expect("fit"))
        };
        assert_eq!(fit_on(1), fit_on(3));
    }

    #[test]
    fn probabilities_are_distributions() {
        let (x, y) = blobs(100, 1);
        // More classes than labels used: unseen classes get probability 0, not a panic.
        let forest = ForestParams::new()
            .n_trees(25)
            .max_depth(3)
            .fit(&x, &y, 5)
            .expect("fit");
        let (xt, _) = blobs(50, 7);
        let proba = forest.predict_proba(&xt).expect("proba");
        assert_eq!((proba.rows(), proba.cols()), (xt.rows(), 5));
        for row in proba.iter_rows() {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "row sums to {sum}");
            assert!(row.iter().all(|&p| (0.0..=1.0).contains(&p)));
            assert_eq!(row[3..], [0.0, 0.0]);
        }
        let mut one = vec![9.0; 5];
        forest.predict_proba_row(xt.row(0), &mut one);
        assert_eq!(one, proba.row(0));
    }

    /// What an exporter reads ([`Forest::trees`]) is the forest: walking its nodes by their
    /// rule (`<=` goes to the next node) and summing the leaves gives `predict_proba`.
    #[test]
    fn the_tree_view_walks_to_the_same_leaves() {
        let (x, y) = blobs(120, 1);
        let forest = ForestParams::new()
            .n_trees(7)
            .seed(4)
            .fit(&x, &y, 3)
            .unwrap();
        assert_eq!(forest.trees().len(), 7);
        let trees: Vec<Vec<TreeNode<'_>>> = forest.trees().map(Iterator::collect).collect();
        let (xt, _) = blobs(40, 9);
        let proba = forest.predict_proba(&xt).unwrap();
        for (row, expected) in xt.iter_rows().zip(proba.iter_rows()) {
            let mut sums = vec![0.0f32; 3];
            for nodes in &trees {
                let mut i = 0;
                let leaf = loop {
                    match nodes[i] {
                        TreeNode::Split {
                            feature,
                            threshold,
                            right,
                        } => {
                            i = if row[feature] <= threshold {
                                i + 1
                            } else {
                                right
                            }
                        }
                        TreeNode::Leaf(distribution) => break distribution,
                    }
                };
                add_leaf(&mut sums, leaf);
            }
            normalise(&mut sums);
            assert_eq!(sums, expected);
        }
    }

    #[test]
    fn predict_is_argmax_with_ties_to_lowest() {
        assert_eq!(argmax(&[0.25, 0.5, 0.25]), 1);
        assert_eq!(argmax(&[0.4, 0.2, 0.4]), 0);
        assert_eq!(argmax(&[0.0, 0.5, 0.5]), 1);
    }

    #[test]
    fn predict_rejects_wrong_width() {
        let (x, y) = blobs(10, 1);
        let forest = ForestParams::new().n_trees(2).fit(&x, &y, 3).expect("fit");
        assert!(matches!(
            forest.predict_proba(&Matrix::zeros(2, 3)),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            forest.predict(&Matrix::zeros(2, 5)),
            Err(Error::Shape { .. })
        ));
    }
}
