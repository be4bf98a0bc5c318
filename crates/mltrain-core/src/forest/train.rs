//! Training: [`ForestParams::fit`] checks the data, bins it and grows the trees, each from its
//! own seeded generator; a [`TreeBuilder`] grows one tree at a time, depth first, and
//! partitions each node's samples between its children.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[cfg(feature = "rayon")]
use rayon::prelude::*;

use super::binning::{Binned, MAX_BINS, midpoint};
use super::split::{BinSample, NodeStats};
use super::tree::{LEAF, Node, Tree};
use super::{Forest, ForestParams};
use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// The most rows a forest trains on: a count fits a `u32` and its square an `i64`.
const MAX_ROWS: usize = (1 << 31) - 1;

/// A node fills a `bins × classes` histogram from this many samples per class on: below,
/// sweeping all classes of up to 256 bins costs more than counting-sorting the samples.
const HISTOGRAM_FROM_SAMPLES_PER_CLASS: usize = 32;

/// Weighted node counts up to this have their reciprocal tabulated (512 KiB of `f64` per
/// tree builder at most); larger ones are divided out.
const RECIPROCALS_UP_TO: usize = 1 << 16;

impl ForestParams {
    /// Trains a forest on the rows of `x` with labels `y` in `0..n_classes`.
    pub fn fit(&self, x: &Matrix, y: &[u32], n_classes: usize) -> Result<Forest> {
        self.check()?;
        let (n, d) = (x.rows(), x.cols());
        if y.len() != n {
            return Err(Error::Shape {
                expected: format!("{n} labels, one per row of x"),
                found: format!("{} labels", y.len()),
            });
        }
        if n == 0 {
            return Err(Error::NotEnoughData {
                reason: "a forest needs at least 1 sample, got 0".into(),
            });
        }
        // Sample and feature indices are stored as u32 (half the memory traffic of usize),
        // and split scans square weighted counts in i64: n² must stay below 2^63.
        if n > MAX_ROWS {
            return Err(Error::InvalidParameter {
                name: "x",
                reason: format!("{n} rows exceed the limit of {MAX_ROWS}"),
            });
        }
        if d >= u32::MAX as usize {
            return Err(Error::InvalidParameter {
                name: "x",
                reason: format!("{d} columns exceed the limit of 2^32 - 2"),
            });
        }
        if n_classes == 0 {
            return Err(Error::InvalidParameter {
                name: "n_classes",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(&label) = y.iter().find(|&&l| l as usize >= n_classes) {
            return Err(Error::LabelOutOfRange { label, n_classes });
        }
        if let Some(pos) = x.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "x",
                reason: format!(
                    "row {}, column {} is {}; features must be finite",
                    pos / d,
                    pos % d,
                    x.as_slice()[pos]
                ),
            });
        }
        let max_features = self.max_features.resolve(d);
        if max_features > d {
            return Err(Error::InvalidParameter {
                name: "max_features",
                reason: format!("{max_features} features asked, but the data has only {d}"),
            });
        }

        let binned = Binned::new(x);
        // One builder (and its buffers) serves many trees; each tree has its own generator.
        let builder = || TreeBuilder::new(&binned, y, n_classes, self, max_features);
        let grow = |b: &mut TreeBuilder<'_>, t: usize| {
            b.grow(ChaCha8Rng::seed_from_u64(tree_seed(self.seed, t as u64)))
        };
        #[cfg(feature = "rayon")]
        let trees = (0..self.n_trees)
            .into_par_iter()
            .map_init(builder, grow)
            .collect();
        #[cfg(not(feature = "rayon"))]
        let trees = {
            let mut b = builder();
            (0..self.n_trees).map(|t| grow(&mut b, t)).collect()
        };

        Ok(Forest::from_checked(d, n_classes, trees))
    }
}

/// SplitMix64's finaliser: neighbouring tree indices get unrelated seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn tree_seed(seed: u64, tree: u64) -> u64 {
    mix(seed ^ mix(tree))
}

/// A drawn row with its label and bootstrap multiplicity alongside, so split searches
/// read them sequentially; only the feature's bin code is a random access.
#[derive(Clone, Copy, Default)]
pub(super) struct Sample {
    pub(super) row: u32,
    pub(super) class: u32,
    pub(super) weight: u32,
}

/// Builds trees one at a time ([`grow`](Self::grow)); owns every buffer and reuses it from
/// node to node and tree to tree, so growing a tree allocates only the tree itself.
pub(super) struct TreeBuilder<'a> {
    pub(super) binned: &'a Binned,
    pub(super) y: &'a [u32],
    pub(super) bootstrap: bool,
    pub(super) n_classes: usize,
    pub(super) max_depth: usize,
    pub(super) min_samples_split: usize,
    pub(super) max_features: usize,
    /// At and above this many samples a node's split search fills a `bins × classes`
    /// histogram; below it, counting-sorts the samples by bin, which costs no per-class
    /// work per bin.
    pub(super) histogram_from: usize,
    pub(super) rng: ChaCha8Rng,
    /// Bootstrap multiplicity of each row, while drawing.
    pub(super) weight: Vec<u32>,
    /// Drawn rows (duplicates weigh instead of repeating); each node owns a contiguous
    /// range, partitioned in place when it splits.
    pub(super) samples: Vec<Sample>,
    pub(super) features: Vec<u32>,
    /// `MAX_BINS × n_classes` weighted counts and `MAX_BINS` per-bin sample counts, all
    /// zero between uses.
    pub(super) hist: Vec<u32>,
    pub(super) bin_count: Vec<u32>,
    /// Per bin, the index in the node of the sample last seen there (read only for bins
    /// that hold a single sample).
    pub(super) slots: Vec<u32>,
    /// The current node's class counts, and what its split sweeps start from.
    pub(super) stats: NodeStats,
    pub(super) codes: Vec<u8>,
    /// Scratch for the right side while partitioning.
    pub(super) right: Vec<Sample>,
    pub(super) sorted: Vec<BinSample>,
    pub(super) tree: Tree,
}

impl<'a> TreeBuilder<'a> {
    /// A builder for trees on `binned` and `y`; [`grow`](Self::grow) builds one tree at a
    /// time, reusing every buffer.
    fn new(
        binned: &'a Binned,
        y: &'a [u32],
        n_classes: usize,
        params: &ForestParams,
        max_features: usize,
    ) -> Self {
        Self {
            binned,
            y,
            bootstrap: params.bootstrap,
            n_classes,
            max_depth: params.max_depth,
            min_samples_split: params.min_samples_split,
            max_features,
            histogram_from: HISTOGRAM_FROM_SAMPLES_PER_CLASS * n_classes,
            // Replaced by each tree's own generator in `grow`.
            rng: ChaCha8Rng::seed_from_u64(0),
            weight: Vec::new(),
            samples: Vec::new(),
            features: Vec::new(),
            hist: vec![0; MAX_BINS * n_classes],
            bin_count: vec![0; MAX_BINS],
            slots: vec![0; MAX_BINS],
            stats: NodeStats {
                totals: vec![0; n_classes],
                n: 0,
                sq: 0,
                left: vec![0; n_classes],
                reciprocals: (0..=binned.n_rows.min(RECIPROCALS_UP_TO))
                    .map(|m| 1.0 / m as f64)
                    .collect(),
            },
            right: Vec::new(),
            codes: Vec::new(),
            sorted: Vec::new(),
            tree: Tree::default(),
        }
    }

    /// Grows one tree drawing from `rng`: its bootstrap sample, then its nodes.
    fn grow(&mut self, mut rng: ChaCha8Rng) -> Tree {
        let n = self.binned.n_rows;
        self.samples.clear();
        if self.bootstrap {
            self.weight.clear();
            self.weight.resize(n, 0);
            for _ in 0..n {
                self.weight[rng.random_range(0..n as u32) as usize] += 1;
            }
            // Branch-free: whether a row was drawn is a coin flip, so every row is written
            // and the cursor moves past the drawn ones only.
            self.samples.resize(n, Sample::default());
            let mut drawn = 0;
            for (i, (&w, &class)) in self.weight.iter().zip(self.y).enumerate() {
                self.samples[drawn] = Sample {
                    row: i as u32,
                    class,
                    weight: w,
                };
                drawn += usize::from(w > 0);
            }
            self.samples.truncate(drawn);
        } else {
            let y = self.y;
            self.samples.extend((0..n).map(|i| Sample {
                row: i as u32,
                class: y[i],
                weight: 1,
            }));
        }
        self.rng = rng;
        self.features.clear();
        self.features.extend(0..self.binned.thresholds.len() as u32);
        self.build();
        let tree = std::mem::take(&mut self.tree);
        // Trees of one forest are of similar sizes: the next one starts with room for this
        // one's nodes instead of doubling its way up from nothing.
        self.tree.nodes.reserve(tree.nodes.len());
        self.tree.values.reserve(tree.values.len());
        tree
    }

    fn build(&mut self) {
        // (start, end, depth, parent whose right child this is): depth-first with the left
        // child popped first, so nodes come out in preorder.
        let mut stack = vec![(0, self.samples.len(), 0, None::<usize>)];
        while let Some((start, end, depth, parent)) = stack.pop() {
            let id = self.tree.nodes.len();
            if let Some(p) = parent {
                self.tree.nodes[p].next = id as u32;
            }
            let split = self.node_totals(start, end);
            let split = if split && depth < self.max_depth && end - start >= self.min_samples_split
            {
                self.best_split(start, end)
            } else {
                None
            };
            match split {
                Some(s) => {
                    let mid = self.partition(start, end, s.feature, s.lo);
                    // Any threshold between the node's last value going left and first
                    // going right separates its samples; the midpoint of the bins' values
                    // leaves a margin on both sides, as scikit-learn's midpoint does, even
                    // when the bins between them are empty in this node.
                    let threshold = midpoint(
                        self.binned.bin_max[s.feature][s.lo],
                        self.binned.bin_min[s.feature][s.hi],
                    );
                    self.tree.nodes.push(Node {
                        feature: s.feature as u32,
                        threshold,
                        next: 0,
                    });
                    stack.push((mid, end, depth + 1, Some(id)));
                    stack.push((start, mid, depth + 1, None));
                }
                None => {
                    let leaf = self.tree.values.len() / self.n_classes;
                    let total = self.stats.n as f32;
                    self.tree
                        .values
                        .extend(self.stats.totals.iter().map(|&t| t as f32 / total));
                    self.tree.nodes.push(Node {
                        feature: LEAF,
                        threshold: 0.0,
                        next: leaf as u32,
                    });
                }
            }
        }
    }

    /// Fills `totals` with the node's weighted class counts; false if the node is pure.
    fn node_totals(&mut self, start: usize, end: usize) -> bool {
        let stats = &mut self.stats;
        stats.totals.fill(0);
        for s in &self.samples[start..end] {
            stats.totals[s.class as usize] += i64::from(s.weight);
        }
        stats.n = stats.totals.iter().sum();
        stats.sq = stats.totals.iter().map(|t| t * t).sum();
        stats.totals.iter().filter(|&&t| t > 0).count() > 1
    }

    /// Moves the node's samples with `bin <= lo` in `feature` to the front; returns where
    /// the right child's range starts.
    fn partition(&mut self, start: usize, end: usize, feature: usize, lo: usize) -> usize {
        let column = self.binned.column(feature);
        let node = &mut self.samples[start..end];
        self.right.resize(node.len(), Sample::default());
        // Branch-free: every sample is written to both sides and only one cursor moves, as
        // which way a sample goes is unpredictable. Left-going samples are compacted in
        // place (the write cursor never passes the read one).
        let (mut l, mut r) = (0, 0);
        for i in 0..node.len() {
            let s = node[i];
            let goes_left = usize::from(column[s.row as usize] <= lo as u8);
            node[l] = s;
            self.right[r] = s;
            l += goes_left;
            r += 1 - goes_left;
        }
        node[l..].copy_from_slice(&self.right[..r]);
        start + l
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;
    use crate::forest::MaxFeatures;
    use crate::forest::testdata::{accuracy, blobs, xor};

    fn depth(tree: &Tree, i: usize) -> usize {
        let node = tree.nodes[i];
        if node.feature == LEAF {
            0
        } else {
            1 + depth(tree, i + 1).max(depth(tree, node.next as usize))
        }
    }

    #[test]
    fn fit_rejects_bad_data() {
        let (x, y) = blobs(10, 1);
        let p = ForestParams::new().n_trees(2);
        assert!(matches!(p.fit(&x, &y[1..], 3), Err(Error::Shape { .. })));
        assert!(matches!(
            p.fit(&x, &y, 2),
            Err(Error::LabelOutOfRange {
                label: 2,
                n_classes: 2
            })
        ));
        assert!(matches!(
            p.fit(&x, &y, 0),
            Err(Error::InvalidParameter {
                name: "n_classes",
                ..
            })
        ));
        assert!(matches!(
            p.fit(&Matrix::zeros(0, 4), &[], 3),
            Err(Error::NotEnoughData { .. })
        ));
        let many = p.clone().max_features(MaxFeatures::Count(5));
        assert!(matches!(
            many.fit(&x, &y, 3),
            Err(Error::InvalidParameter {
                name: "max_features",
                ..
            })
        ));
        for bad in [f32::NAN, f32::INFINITY] {
            let mut x = x.clone();
            x.as_mut_slice()[7] = bad;
            assert!(matches!(
                p.fit(&x, &y, 3),
                Err(Error::InvalidParameter { name: "x", .. })
            ));
        }
    }

    #[test]
    fn max_depth_is_respected() {
        let (x, y) = blobs(200, 1);
        for max_depth in [1, 2, 4] {
            let forest = ForestParams::new()
                .n_trees(10)
                .max_depth(max_depth)
                .fit(&x, &y, 3)
                .expect("fit");
            for tree in &forest.trees {
                assert!(depth(tree, 0) <= max_depth);
                if max_depth == 1 {
                    assert!(tree.nodes.len() <= 3);
                }
            }
            // Three noisy blobs need every level up to 2: the cap is reached, not just obeyed.
            assert!(forest.trees.iter().any(|t| depth(t, 0) == max_depth.min(2)));
        }
    }

    #[test]
    fn min_samples_split_stops_small_nodes() {
        let (x, y) = xor(200, 3);
        let p = ForestParams::new()
            .n_trees(5)
            .max_depth(30)
            .bootstrap(false)
            .max_features(MaxFeatures::All);
        let deep = p.clone().min_samples_split(2).fit(&x, &y, 2).expect("fit");
        // Without bootstrap every tree sees all 200 rows: the root splits at 200, its
        // children (< 200) do not; at 201 not even the root splits.
        let one_split = p
            .clone()
            .min_samples_split(200)
            .fit(&x, &y, 2)
            .expect("fit");
        assert!(one_split.trees.iter().all(|t| t.nodes.len() == 3));
        let no_split = p.min_samples_split(201).fit(&x, &y, 2).expect("fit");
        assert!(no_split.trees.iter().all(|t| t.nodes.len() == 1));
        assert!(deep.trees.iter().all(|t| t.nodes.len() > 3));
        // Fully grown on separable data without bootstrap: the training set is memorised.
        assert_eq!(accuracy(&deep, &x, &y), 1.0);
    }

    #[test]
    fn identical_rows_give_one_leaf_with_the_majority() {
        let x = Matrix::from_vec(6, 2, [1.0, 2.0].repeat(6)).expect("shape");
        let y = [0, 1, 1, 1, 0, 1];
        let forest = ForestParams::new()
            .n_trees(5)
            .bootstrap(false)
            .fit(&x, &y, 2)
            .expect("fit");
        for tree in &forest.trees {
            assert_eq!(tree.nodes.len(), 1);
            assert_eq!(tree.values, [2.0 / 6.0, 4.0 / 6.0]);
        }
        assert_eq!(forest.predict(&x).expect("predict"), [1; 6]);
    }

    /// A bootstrap sample may miss the values nearest the class boundary, leaving empty bins
    /// in the gap; the threshold must still sit midway between the classes' values, not at
    /// the edge of the first empty bin (which sent a dark 38 to the bright side).
    #[test]
    fn thresholds_sit_midway_across_empty_bins() {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for v in (0..=36).step_by(2) {
            rows.push(vec![v as f32]);
            y.push(0);
        }
        for v in (201..=239).step_by(2) {
            rows.push(vec![v as f32]);
            y.push(1);
        }
        let x = Matrix::from_rows(&rows).unwrap();
        let probe = Matrix::from_rows(&[[44.0f32], [190.0]]).unwrap();
        for seed in 0..16 {
            let f = ForestParams::new()
                .n_trees(5)
                .min_samples_split(2)
                .seed(seed)
                .fit(&x, &y, 2)
                .unwrap();
            assert_eq!(
                f.predict_proba(&probe).unwrap().as_slice(),
                &[1.0, 0.0, 0.0, 1.0],
                "seed {seed}"
            );
        }
    }
}
