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

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[cfg(feature = "rayon")]
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// The most rows a forest trains on: a count fits a `u32` and its square an `i64`.
const MAX_ROWS: usize = (1 << 31) - 1;

/// Features are binned into at most this many bins, so a bin code fits a `u8`.
const MAX_BINS: usize = 256;

/// A node fills a `bins × classes` histogram from this many samples per class on: below,
/// sweeping all classes of up to 256 bins costs more than counting-sorting the samples
/// (measured on 8000 × 10 features, 10 classes; 8 to 256 are within a few percent).
const HISTOGRAM_FROM_SAMPLES_PER_CLASS: usize = 32;

/// A node whose samples are fewer than its bin range over this finds its occupied bins
/// from a bitmap rather than by walking the range (see `split_counting_sort`).
const SPARSE_BINS_RATIO: usize = 4;

/// Weighted node counts up to this have their reciprocal tabulated (512 KiB of `f64` per
/// tree builder at most); larger ones are divided out.
const RECIPROCALS_UP_TO: usize = 1 << 16;

/// Rows predicted together: a unit of work for rayon, and the rows that go through one tree
/// while it stays in cache.
const PREDICT_BLOCK_ROWS: usize = 64;

/// SIMD vectors of rows whose leaf masks stay in registers while a tree's splits are tested.
const ACC_VECTORS: usize = 8;

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
    fn resolve(self, n_features: usize) -> usize {
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
    n_trees: usize,
    max_depth: usize,
    min_samples_split: usize,
    max_features: MaxFeatures,
    bootstrap: bool,
    seed: u64,
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

    pub fn max_features(mut self, m: MaxFeatures) -> Self {
        self.max_features = m;
        self
    }

    /// Whether each tree trains on `n` draws with replacement (`true`) or on all rows.
    pub fn bootstrap(mut self, b: bool) -> Self {
        self.bootstrap = b;
        self
    }

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

/// Every feature quantised once per fit: column-major `u8` bin codes plus, per feature,
/// the edge between bin `b` and `b + 1` as `thresholds[f][b]`.
struct Binned {
    n_rows: usize,
    codes: Vec<u8>,
    thresholds: Vec<Vec<f32>>,
    /// Smallest and largest training value in each bin, per feature: a split between bins
    /// `lo` and `hi` puts its threshold midway between `max[lo]` and `min[hi]`, as
    /// scikit-learn does between the values it sees.
    bin_min: Vec<Vec<f32>>,
    bin_max: Vec<Vec<f32>>,
}

impl Binned {
    fn new(x: &Matrix) -> Self {
        let (n, d) = (x.rows(), x.cols());
        let bin_feature = |f: usize| {
            let mut column: Vec<f32> = (0..n).map(|i| x.get(i, f)).collect();
            let thresholds = bin_edges(&mut column);
            // Bin code = number of edges below the value, so `code <= b` iff `value <= edge b`.
            let codes: Vec<u8> = (0..n)
                .map(|i| thresholds.partition_point(|&t| t < x.get(i, f)) as u8)
                .collect();
            let mut bin_min = vec![f32::INFINITY; thresholds.len() + 1];
            let mut bin_max = vec![f32::NEG_INFINITY; thresholds.len() + 1];
            for (i, &c) in codes.iter().enumerate() {
                let v = x.get(i, f);
                bin_min[usize::from(c)] = bin_min[usize::from(c)].min(v);
                bin_max[usize::from(c)] = bin_max[usize::from(c)].max(v);
            }
            (codes, thresholds, bin_min, bin_max)
        };
        #[cfg(feature = "rayon")]
        let per_feature: Vec<_> = (0..d).into_par_iter().map(bin_feature).collect();
        #[cfg(not(feature = "rayon"))]
        let per_feature: Vec<_> = (0..d).map(bin_feature).collect();

        let mut codes = Vec::with_capacity(n * d);
        let mut thresholds = Vec::with_capacity(d);
        let (mut bin_min, mut bin_max) = (Vec::with_capacity(d), Vec::with_capacity(d));
        for (c, t, lo, hi) in per_feature {
            codes.extend_from_slice(&c);
            thresholds.push(t);
            bin_min.push(lo);
            bin_max.push(hi);
        }
        Self {
            n_rows: n,
            codes,
            thresholds,
            bin_min,
            bin_max,
        }
    }

    fn column(&self, f: usize) -> &[u8] {
        &self.codes[f * self.n_rows..(f + 1) * self.n_rows]
    }
}

/// At most `MAX_BINS - 1` increasing edges for one (finite) column, which is sorted in place.
/// With few distinct values every gap gets an edge; otherwise edges sit at sample quantiles,
/// moved to the end of a run of equal values so no value straddles two bins.
fn bin_edges(column: &mut [f32]) -> Vec<f32> {
    column.sort_unstable_by(f32::total_cmp);
    let mut distinct: Vec<(f32, usize)> = Vec::new(); // (value, number of samples <= value)
    for (i, &v) in column.iter().enumerate() {
        match distinct.last_mut() {
            Some((last, cum)) if *last == v => *cum = i + 1,
            _ => distinct.push((v, i + 1)),
        }
    }
    let n = column.len();
    let mut edges = Vec::new();
    if distinct.len() <= MAX_BINS {
        edges.extend(distinct.windows(2).map(|w| midpoint(w[0].0, w[1].0)));
    } else {
        let mut last = usize::MAX;
        for k in 1..MAX_BINS {
            let target = (k * n).div_ceil(MAX_BINS);
            // The distinct value holding the target-th sample ends its bin.
            let j = distinct.partition_point(|&(_, cum)| cum < target);
            if j + 1 < distinct.len() && j != last {
                edges.push(midpoint(distinct[j].0, distinct[j + 1].0));
                last = j;
            }
        }
    }
    edges
}

/// A threshold `t` with `a <= t < b`, so `a` goes left and `b` right even when the exact
/// midpoint rounds up to `b` in `f32`.
fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if m < b { m } else { a }
}

/// Marks a leaf in [`Node::feature`].
const LEAF: u32 = u32::MAX;

/// One node of a tree, stored in depth-first preorder so a split's left child is the next
/// node and only the right child needs an index.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    /// Feature compared at a split, or [`LEAF`].
    feature: u32,
    /// Rows with `x[feature] <= threshold` go left; unused (0) at a leaf.
    threshold: f32,
    /// Split: index of the right child. Leaf: index of its class distribution.
    next: u32,
}

/// One tree: nodes plus the leaves' class distributions, `n_classes` values per leaf.
///
/// Stored as two byte strings, the nodes as 12-byte records (feature, threshold, next; each
/// little-endian) and the values as little-endian `f32`s, converted in bulk: serde's one
/// call per number made encoding a 2k run's model (half a million numbers) about a
/// millisecond of one thread, at the end of the run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "TreeData")]
struct Tree {
    nodes: Vec<Node>,
    values: Vec<f32>,
}

/// The size of one stored [`Node`].
const NODE_BYTES: usize = 12;

impl Serialize for Tree {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut nodes = Vec::with_capacity(self.nodes.len() * NODE_BYTES);
        for n in &self.nodes {
            nodes.extend_from_slice(&n.feature.to_le_bytes());
            nodes.extend_from_slice(&n.threshold.to_le_bytes());
            nodes.extend_from_slice(&n.next.to_le_bytes());
        }
        let values: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut tree = serializer.serialize_struct("Tree", 2)?;
        tree.serialize_field("nodes", serde_bytes::Bytes::new(&nodes))?;
        tree.serialize_field("values", serde_bytes::Bytes::new(&values))?;
        tree.end()
    }
}

/// A [`Tree`] as stored.
#[derive(Deserialize)]
struct TreeData {
    nodes: serde_bytes::ByteBuf,
    values: serde_bytes::ByteBuf,
}

impl TryFrom<TreeData> for Tree {
    type Error = Error;

    /// Only the record sizes are checked here; what the nodes point at is checked with the
    /// forest ([`ForestData`]).
    fn try_from(data: TreeData) -> Result<Self> {
        if data.nodes.len() % NODE_BYTES != 0 || data.values.len() % 4 != 0 {
            return Err(Error::Format {
                kind: "forest",
                reason: format!(
                    "a tree of {} node bytes and {} value bytes: not whole nodes and values",
                    data.nodes.len(),
                    data.values.len()
                ),
            });
        }
        let word = |b: &[u8]| [b[0], b[1], b[2], b[3]];
        let nodes = data
            .nodes
            .chunks_exact(NODE_BYTES)
            .map(|r| Node {
                feature: u32::from_le_bytes(word(&r[0..4])),
                threshold: f32::from_le_bytes(word(&r[4..8])),
                next: u32::from_le_bytes(word(&r[8..12])),
            })
            .collect();
        let values = data
            .values
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(word(b)))
            .collect();
        Ok(Tree { nodes, values })
    }
}

impl Tree {
    /// The class distribution of the leaf `row` falls into.
    #[inline]
    fn leaf(&self, row: &[f32], n_classes: usize) -> &[f32] {
        let mut i = 0;
        loop {
            let node = self.nodes[i];
            if node.feature == LEAF {
                let start = node.next as usize * n_classes;
                return &self.values[start..start + n_classes];
            }
            // A NaN fails `<=` and goes right.
            i = if row[node.feature as usize] <= node.threshold {
                i + 1
            } else {
                node.next as usize
            };
        }
    }
}

/// One node of a [`Walk`]: 16 bytes, so a node is one aligned load.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(16))]
struct Step {
    /// Feature compared at a split; 0 at a leaf.
    feature: u32,
    threshold: f32,
    /// The next node for `x[feature] <= threshold` (0) and otherwise (1, NaN included); a
    /// leaf's are itself. Indexing by the comparison keeps the walk free of branches.
    next: [u32; 2],
}

impl Step {
    /// Padding after a tree's nodes; no node leads to it.
    const UNREACHABLE: Step = Step {
        feature: 0,
        threshold: 0.0,
        next: [0; 2],
    };
}

/// Every tree of a forest laid out for branch-free prediction, in one allocation: a leaf
/// loops to itself, so every row takes exactly a tree's depth in steps and the walks of
/// several rows interleave without a test for the end of any of them.
///
/// Each tree's nodes are padded with unreachable ones to a power-of-two length: an index
/// masked with the tree's mask is provably in bounds, so a step costs an `and`, not a
/// compare and branch. One allocation for the forest instead of two per tree also spares
/// the allocator hundreds of heap extensions when a model's 800 trees are laid out.
#[derive(Debug, Clone)]
struct Walks {
    steps: Vec<Step>,
    /// Per node: where a leaf's class distribution starts in the tree's values. Derivable
    /// from the tree's leaf nodes, but reading it there (12-byte nodes, one multiply) makes
    /// prediction 2–11% slower (criterion).
    values: Vec<u32>,
    /// Where each tree's nodes start in `steps` and `values`, its mask (padded length − 1)
    /// and its depth.
    trees: Vec<(usize, usize, usize)>,
}

impl Walks {
    /// Lays out trees whose children come after their parent (as [`Forest`] checks).
    fn new(trees: &[Tree], n_classes: usize) -> Self {
        let total = trees
            .iter()
            .map(|t| t.nodes.len().next_power_of_two())
            .sum();
        let mut steps = Vec::with_capacity(total);
        let mut values = Vec::with_capacity(total);
        let mut spans = Vec::with_capacity(trees.len());
        let mut depth = Vec::new();
        for tree in trees {
            let start = steps.len();
            depth.clear();
            depth.resize(tree.nodes.len(), 0usize);
            for (i, node) in tree.nodes.iter().enumerate() {
                if node.feature == LEAF {
                    steps.push(Step {
                        feature: 0,
                        threshold: 0.0,
                        next: [i as u32; 2],
                    });
                    values.push(node.next * n_classes as u32);
                } else {
                    // Parents precede children, so `depth[i]` is final here.
                    let child = depth[i] + 1;
                    depth[i + 1] = depth[i + 1].max(child);
                    depth[node.next as usize] = depth[node.next as usize].max(child);
                    steps.push(Step {
                        feature: node.feature,
                        threshold: node.threshold,
                        next: [i as u32 + 1, node.next],
                    });
                    values.push(0);
                }
            }
            let len = tree.nodes.len().next_power_of_two();
            steps.resize(start + len, Step::UNREACHABLE);
            values.resize(start + len, 0);
            spans.push((start, len - 1, depth.iter().copied().max().unwrap_or(0)));
        }
        Walks {
            steps,
            values,
            trees: spans,
        }
    }

    /// The trees' walks, in the forest's order.
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = Walk<'_>> {
        (0..self.trees.len()).map(|t| self.get(t))
    }

    /// The walk of tree `t`.
    fn get(&self, t: usize) -> Walk<'_> {
        let (start, mask, depth) = self.trees[t];
        Walk {
            steps: &self.steps[start..],
            values: &self.values[start..],
            mask,
            depth,
        }
    }
}

/// One tree of [`Walks`]: its nodes start its slices, `mask + 1` of them.
#[derive(Debug, Clone, Copy)]
struct Walk<'a> {
    steps: &'a [Step],
    values: &'a [u32],
    mask: usize,
    /// The longest root-to-leaf path, in edges.
    depth: usize,
}

impl Walk<'_> {
    /// Walks `LANES` rows (each starting at `starts` in `x`) to their leaves in lockstep;
    /// returns where each row's leaf distribution starts in the tree's values.
    ///
    /// `x.len()` must be a power of two, and each row must fit in `x` with room for every
    /// feature: indices into `x` are then masked, like those into the steps.
    #[inline]
    fn leaves<const LANES: usize>(&self, x: &[f32], starts: [usize; LANES]) -> [usize; LANES] {
        debug_assert!(x.len().is_power_of_two());
        // Sliced to exactly `mask + 1` so the compiler sees every masked index in bounds.
        let (mask, x_mask) = (self.mask, x.len() - 1);
        let (steps, values, x) = (&self.steps[..=mask], &self.values[..=mask], &x[..=x_mask]);
        let mut at = [0usize; LANES];
        for _ in 0..self.depth {
            for (node, start) in at.iter_mut().zip(starts) {
                let step = steps[*node & mask];
                // A NaN fails `<=` and goes right, as in `Tree::leaf`.
                let left = x[(start + step.feature as usize) & x_mask] <= step.threshold;
                *node = step.next[usize::from(!left)] as usize;
            }
        }
        at.map(|node| values[node & mask] as usize)
    }
}

/// Trees of at most 64 leaves laid out for prediction by leaf masks (QuickScorer, Lucchese
/// et al., SIGIR 2015): a row's leaf is the leftmost one that no split sends it away from.
///
/// Leaves are numbered left to right, a bit each. Every split whose test a row fails (goes
/// right) rules out the leaves of its left subtree; whatever a row passes rules out
/// nothing. The row's leaf is then the lowest bit left: each leaf left of it lies in the left
/// subtree of a split on its path that sent it right, and no split rules out the leaf a row
/// reaches. Every split is tested for every row, with no walk: the tests of a split over a
/// block of rows are one SIMD comparison per few rows, in any order.
#[derive(Debug, Clone)]
struct Masks {
    /// Per split, in tree order: feature, threshold (as `f64`, exact) and the bits of the
    /// leaves it keeps when failed (all but its left subtree's).
    features: Vec<u32>,
    thresholds: Vec<f64>,
    keep: Vec<u64>,
    /// Per leaf, left to right: where its class distribution starts in `dists`.
    values: Vec<usize>,
    /// The leaves' class distributions, each padded with zeros to `stride` values: a whole
    /// number of SIMD vectors, so adding one to a row's sums is a few vector additions.
    dists: Vec<f32>,
    stride: usize,
    /// Per tree: its splits and leaves in the vectors above, or `None` when it has more than
    /// 64 leaves (such a tree is walked).
    trees: Vec<Option<(std::ops::Range<usize>, std::ops::Range<usize>)>>,
}

impl Masks {
    fn new(trees: &[Tree], n_classes: usize) -> Self {
        let stride = class_stride(n_classes);
        let mut masks = Masks {
            features: Vec::new(),
            thresholds: Vec::new(),
            keep: Vec::new(),
            values: Vec::new(),
            dists: Vec::new(),
            stride,
            trees: Vec::with_capacity(trees.len()),
        };
        let mut leaves_before = Vec::new();
        for tree in trees {
            // Leaves come left to right in preorder: a node's leaf number is the count of
            // leaves before it.
            leaves_before.clear();
            let mut count = 0;
            for node in &tree.nodes {
                leaves_before.push(count);
                count += usize::from(node.feature == LEAF);
            }
            leaves_before.push(count);
            if count > 64 {
                masks.trees.push(None);
                continue;
            }
            let (splits, leaves) = (masks.features.len(), masks.values.len());
            for (i, node) in tree.nodes.iter().enumerate() {
                if node.feature == LEAF {
                    let at = node.next as usize * n_classes;
                    masks.values.push(masks.dists.len());
                    masks
                        .dists
                        .extend_from_slice(&tree.values[at..at + n_classes]);
                    masks
                        .dists
                        .resize(masks.dists.len() + stride - n_classes, 0.0);
                } else {
                    // The left subtree is nodes `i + 1..next`; fewer than 64 leaves, since
                    // the right one has at least one.
                    let (a, b) = (leaves_before[i + 1], leaves_before[node.next as usize]);
                    let left = ((1u64 << (b - a)) - 1) << a;
                    masks.features.push(node.feature);
                    masks.thresholds.push(f64::from(node.threshold));
                    masks.keep.push(!left);
                }
            }
            masks.trees.push(Some((
                splits..masks.features.len(),
                leaves..masks.values.len(),
            )));
        }
        masks
    }
}

/// One block of rows (at most [`PREDICT_BLOCK_ROWS`]) through every tree of a forest, with
/// the widest SIMD the CPU has: each tree's leaf distribution is added to the rows' sums,
/// in tree order.
struct VoteBlock<'a> {
    forest: &'a Forest,
    /// The block's rows, row-major, `n_features` each.
    x: &'a [f32],
    /// `rows × n_classes`, overwritten with the sums.
    out: &'a mut [f32],
}

impl pulp::WithSimd for VoteBlock<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let VoteBlock { forest, x, out } = self;
        let (c, d) = (forest.n_classes, forest.n_features);
        let rows = out.len() / c;
        let masks = forest.masks();
        // Feature-major `f64` copy, `PREDICT_BLOCK_ROWS` per feature (a multiple of every
        // SIMD width); rows past the block's end are zeros, and their leaves ignored.
        let mut xf = Vec::new();
        if masks.trees.iter().any(Option::is_some) {
            xf.resize(d * PREDICT_BLOCK_ROWS, 0.0f64);
            for (r, row) in x.chunks_exact(d).enumerate() {
                for (f, &v) in row.iter().enumerate() {
                    xf[f * PREDICT_BLOCK_ROWS + r] = f64::from(v);
                }
            }
        }
        // The row-major copy the walks need, made on the first tree that is walked.
        let mut xb = Vec::new();
        // The rows' sums, `stride` apart like the leaves' distributions in `masks.dists`.
        let stride = masks.stride;
        let mut sums = vec![0.0f32; rows * stride];
        let mut acc = [u64::MAX; PREDICT_BLOCK_ROWS];
        let ones = simd.splat_u64s(u64::MAX);
        for (t, span) in masks.trees.iter().enumerate() {
            let Some((splits, leaves)) = span else {
                forest.walk_tree(t, x, &mut xb, &mut sums, stride);
                continue;
            };
            // A few vectors of rows at a time, held in registers across all the splits.
            let (acc_simd, _) = S::as_mut_simd_u64s(&mut acc);
            let lanes = PREDICT_BLOCK_ROWS / acc_simd.len();
            for (group, acc_group) in acc_simd.chunks_exact_mut(ACC_VECTORS).enumerate() {
                let mut a = [ones; ACC_VECTORS];
                let first = group * ACC_VECTORS * lanes;
                for s in splits.clone() {
                    let f = masks.features[s] as usize;
                    let at = f * PREDICT_BLOCK_ROWS + first;
                    let (column, _) = S::as_simd_f64s(&xf[at..at + ACC_VECTORS * lanes]);
                    let threshold = simd.splat_f64s(masks.thresholds[s]);
                    let keep = simd.splat_u64s(masks.keep[s]);
                    for (a, &v) in a.iter_mut().zip(column) {
                        // `v <= threshold` is false for NaN, which goes right, as in
                        // `Tree::leaf`.
                        let passed = simd.less_than_or_equal_f64s(v, threshold);
                        *a = simd.and_u64s(*a, simd.select_u64s(passed, ones, keep));
                    }
                }
                acc_group.copy_from_slice(&a);
            }
            let values = &masks.values[leaves.clone()];
            for (bits, row) in acc.iter().zip(sums.chunks_exact_mut(stride)) {
                let at = values[bits.trailing_zeros() as usize];
                let (row, row_tail) = S::as_mut_simd_f32s(row);
                let (dist, dist_tail) = S::as_simd_f32s(&masks.dists[at..at + stride]);
                for (s, &p) in row.iter_mut().zip(dist) {
                    *s = simd.add_f32s(*s, p);
                }
                add_leaf(row_tail, dist_tail);
            }
        }
        for (o, s) in out.chunks_exact_mut(c).zip(sums.chunks_exact(stride)) {
            o.copy_from_slice(&s[..c]);
        }
    }
}

/// Values per row of class sums and per leaf distribution in [`Masks`]: `n_classes` rounded
/// up to a whole number of 8-lane (AVX2) `f32` vectors, 16 for the ten digits.
fn class_stride(n_classes: usize) -> usize {
    n_classes.next_multiple_of(8)
}

/// A trained random forest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "ForestData")]
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

/// What a stored [`Forest`] deserialises into before its invariants are checked, so a
/// corrupted model is an error when read instead of a panic or a loop when predicting.
#[derive(Deserialize)]
struct ForestData {
    n_features: usize,
    n_classes: usize,
    trees: Vec<Tree>,
}

impl TryFrom<ForestData> for Forest {
    type Error = Error;

    fn try_from(data: ForestData) -> Result<Self> {
        let bad = |reason: String| {
            Err(Error::Format {
                kind: "forest",
                reason,
            })
        };
        let ForestData {
            n_features,
            n_classes,
            trees,
        } = data;
        if n_classes == 0 || trees.is_empty() {
            return bad(format!("{n_classes} classes and {} trees", trees.len()));
        }
        for (t, tree) in trees.iter().enumerate() {
            let n_leaves = tree.values.len() / n_classes;
            if tree.nodes.is_empty() || tree.values.len() % n_classes != 0 {
                return bad(format!("tree {t} has no nodes or a partial leaf"));
            }
            for (i, node) in tree.nodes.iter().enumerate() {
                let next = node.next as usize;
                let ok = if node.feature == LEAF {
                    next < n_leaves
                } else {
                    // Children after their parent: every walk moves forward and ends.
                    (node.feature as usize) < n_features && i + 1 < next && next < tree.nodes.len()
                };
                if !ok {
                    return bad(format!("tree {t}, node {i} points outside the tree"));
                }
            }
        }
        Ok(Forest::from_checked(n_features, n_classes, trees))
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

    fn walks(&self) -> &Walks {
        self.walks
            .get_or_init(|| Walks::new(&self.trees, self.n_classes))
    }

    fn masks(&self) -> &Masks {
        self.masks
            .get_or_init(|| Masks::new(&self.trees, self.n_classes))
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn n_trees(&self) -> usize {
        self.trees.len()
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

    /// Adds tree `t`'s leaf distributions for the rows of `x` (row-major, at most
    /// [`PREDICT_BLOCK_ROWS`]) to their sums in `sums`, `stride` apart, by walking it: for
    /// trees too big for [`Masks`]. `xb` is the rows' copy laid out for walking, made on
    /// first use.
    fn walk_tree(&self, t: usize, x: &[f32], xb: &mut Vec<f32>, sums: &mut [f32], stride: usize) {
        // Rows walk the tree `LANES` at a time in lockstep: their walks are independent, so
        // the loads of one row's next node overlap the others'.
        const LANES: usize = 16;
        let (c, d) = (self.n_classes, self.n_features);
        let rows = sums.len() / stride;
        // The rows are copied to a power-of-two stride in a power-of-two buffer (10
        // features: 64 × 16 values), as `Walk::leaves` needs.
        let x_stride = d.next_power_of_two();
        if xb.is_empty() {
            xb.resize(PREDICT_BLOCK_ROWS * x_stride, 0.0);
            for (to, from) in xb.chunks_exact_mut(x_stride).zip(x.chunks_exact(d)) {
                to[..d].copy_from_slice(from);
            }
        }
        let (tree, walk) = (&self.trees[t], self.walks().get(t));
        let mut add = |j: usize, value: usize| {
            add_leaf(
                &mut sums[j * stride..j * stride + c],
                &tree.values[value..value + c],
            );
        };
        let mut j = 0;
        while j + LANES <= rows {
            let starts = std::array::from_fn(|l| (j + l) * x_stride);
            for (l, value) in walk.leaves::<LANES>(xb, starts).into_iter().enumerate() {
                add(j + l, value);
            }
            j += LANES;
        }
        for j in j..rows {
            let [value] = walk.leaves::<1>(xb, [j * x_stride]);
            add(j, value);
        }
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

/// Adds one leaf's class distribution to a row's sums.
#[inline]
fn add_leaf(sums: &mut [f32], leaf: &[f32]) {
    sums.iter_mut().zip(leaf).for_each(|(s, &p)| *s += p);
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

/// The best split found so far at a node.
#[derive(Clone, Copy)]
struct Split {
    /// Gini proxy `Σ l_k²/L + Σ r_k²/R`: maximising it minimises the children's weighted Gini.
    score: f64,
    feature: usize,
    /// Last non-empty bin going left and first non-empty bin going right.
    lo: usize,
    hi: usize,
}

/// A drawn row with its label and bootstrap multiplicity alongside, so split searches
/// read them sequentially; only the feature's bin code is a random access.
#[derive(Clone, Copy, Default)]
struct Sample {
    row: u32,
    class: u32,
    weight: u32,
}

/// A sample's class and weight, bucketed by its bin code for one feature.
#[derive(Clone, Copy, Default)]
struct BinSample {
    bin: u32,
    class: u32,
    weight: u32,
}

/// Builds trees one at a time ([`grow`](Self::grow)); owns every buffer and reuses it from
/// node to node and tree to tree, so growing a tree allocates only the tree itself.
struct TreeBuilder<'a> {
    binned: &'a Binned,
    y: &'a [u32],
    bootstrap: bool,
    n_classes: usize,
    max_depth: usize,
    min_samples_split: usize,
    max_features: usize,
    /// At and above this many samples a node's split search fills a `bins × classes`
    /// histogram; below it, counting-sorts the samples by bin, which costs no per-class
    /// work per bin.
    histogram_from: usize,
    rng: ChaCha8Rng,
    /// Bootstrap multiplicity of each row, while drawing.
    weight: Vec<u32>,
    /// Drawn rows (duplicates weigh instead of repeating); each node owns a contiguous
    /// range, partitioned in place when it splits.
    samples: Vec<Sample>,
    features: Vec<u32>,
    /// `MAX_BINS × n_classes` weighted counts and `MAX_BINS` per-bin sample counts, all
    /// zero between uses.
    hist: Vec<u32>,
    bin_count: Vec<u32>,
    /// Per bin, the index in the node of the sample last seen there (read only for bins
    /// that hold a single sample).
    slots: Vec<u32>,
    /// The current node's class counts, and what its split sweeps start from.
    stats: NodeStats,
    codes: Vec<u8>,
    /// Scratch for the right side while partitioning.
    right: Vec<Sample>,
    sorted: Vec<BinSample>,
    tree: Tree,
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
        // one's nodes instead of doubling its way up from nothing (`realloc` alone was 2.7%
        // of the time of 250-row forests).
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

    /// Draws candidate features without replacement until `max_features` have been tried and
    /// one of them splits the node, or every feature has been tried (scikit-learn's rule).
    fn best_split(&mut self, start: usize, end: usize) -> Option<Split> {
        let n_features = self.features.len();
        let mut best: Option<Split> = None;
        let mut tried = 0;
        while tried < n_features && (tried < self.max_features || best.is_none()) {
            let pick = self.rng.random_range(tried as u32..n_features as u32) as usize;
            self.features.swap(tried, pick);
            let feature = self.features[tried] as usize;
            tried += 1;
            let found = if end - start >= self.histogram_from {
                self.split_histogram(start, end, feature)
            } else {
                self.split_counting_sort(start, end, feature)
            };
            if let Some(s) = found {
                if best.is_none_or(|b| s.score > b.score) {
                    best = Some(s);
                }
            }
        }
        best
    }

    /// Best split of `feature` from a `bins × classes` histogram of the node's samples.
    fn split_histogram(&mut self, start: usize, end: usize, feature: usize) -> Option<Split> {
        let c = self.n_classes;
        let column = self.binned.column(feature);
        for s in &self.samples[start..end] {
            let bin = usize::from(column[s.row as usize]);
            self.hist[bin * c + s.class as usize] += s.weight;
            self.bin_count[bin] += 1;
        }
        let n_bins = self.binned.thresholds[feature].len() + 1;
        let mut scan = self.stats.scan(feature);
        let mut prev = None;
        for bin in 0..n_bins {
            if self.bin_count[bin] == 0 {
                continue;
            }
            self.bin_count[bin] = 0;
            if let Some(prev) = prev {
                scan.consider(prev, bin);
            }
            let counts = &mut self.hist[bin * c..(bin + 1) * c];
            scan.add_bin(counts);
            counts.fill(0);
            prev = Some(bin);
        }
        scan.best()
    }

    /// Best split of `feature` without per-class work per bin: counting-sort the node's
    /// samples by bin, then sweep them.
    fn split_counting_sort(&mut self, start: usize, end: usize, feature: usize) -> Option<Split> {
        let column = self.binned.column(feature);
        let node = &self.samples[start..end];
        // Written by index, not pushed: a push reloads the length the counts' stores might
        // have changed, a chain through memory at every sample.
        self.codes.resize(node.len(), 0);
        // Gathering the codes counts them too, by absolute bin (`bin_count` has one slot
        // per possible code, all zero between uses).
        let (mut min_bin, mut max_bin) = (u8::MAX, 0);
        let mut occupied = [0u64; MAX_BINS / 64];
        let counts = &mut self.bin_count[..MAX_BINS];
        let slots = &mut self.slots[..MAX_BINS];
        // Non-zero once two samples share a bin, as they must when there are more samples
        // than bins; only then is there no need to note where each sample's bin is.
        let mut shared = u64::from(node.len() > MAX_BINS);
        if shared == 0 {
            for (i, s) in node.iter().enumerate() {
                let b = column[s.row as usize];
                (min_bin, max_bin) = (min_bin.min(b), max_bin.max(b));
                let (word, bit) = (&mut occupied[usize::from(b / 64)], 1 << (b % 64));
                shared |= *word & bit;
                *word |= bit;
                slots[usize::from(b)] = i as u32;
            }
            if shared != 0 {
                // Some bins are shared after all: count them for the sort below.
                for (s, code) in node.iter().zip(&mut self.codes) {
                    let b = column[s.row as usize];
                    counts[usize::from(b)] += 1;
                    *code = b;
                }
            }
        } else {
            for (s, code) in node.iter().zip(&mut self.codes) {
                let b = column[s.row as usize];
                (min_bin, max_bin) = (min_bin.min(b), max_bin.max(b));
                counts[usize::from(b)] += 1;
                occupied[usize::from(b / 64)] |= 1 << (b % 64);
                *code = b;
            }
        }
        let (min_bin, max_bin) = (usize::from(min_bin), usize::from(max_bin));
        if min_bin == max_bin {
            // Constant on this node: no split, and no point sorting.
            counts[min_bin] = 0;
            return None;
        }
        if shared == 0 {
            // Every sample in a bin of its own, as in forests of a few hundred rows, whose
            // distinct values each get a bin: the bitmap is already the sorted order, and
            // the sweep takes the samples straight from it, in the order sorting would.
            let mut scan = self.stats.scan(feature);
            let mut prev = None;
            for (w, &word) in occupied.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let b = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let s = &node[slots[b] as usize];
                    if let Some(prev) = prev {
                        scan.consider(prev, b);
                    }
                    scan.add(s.class as usize, s.weight);
                    prev = Some(b);
                }
            }
            return scan.best();
        }
        // Offsets over the occupied bins only: deep nodes hold a handful of samples but
        // span many of a feature's up to 256 bins. Stepping through the bitmap of occupied
        // bins costs a few instructions per bin, summing over every bin of the range one;
        // the cheaper way is taken.
        let mut at = 0;
        if node.len() * SPARSE_BINS_RATIO < max_bin - min_bin {
            for (w, &word) in occupied.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let o = &mut counts[w * 64 + bits.trailing_zeros() as usize];
                    (*o, at) = (at, at + *o);
                    bits &= bits - 1;
                }
            }
        } else {
            for o in counts[min_bin..=max_bin].iter_mut() {
                (*o, at) = (at, at + *o);
            }
        }
        self.sorted.resize(node.len(), BinSample::default());
        for (s, &b) in node.iter().zip(&self.codes) {
            let o = &mut counts[usize::from(b)];
            self.sorted[*o as usize] = BinSample {
                bin: u32::from(b),
                class: s.class,
                weight: s.weight,
            };
            *o += 1;
        }
        counts[min_bin..=max_bin].fill(0);

        let mut scan = self.stats.scan(feature);
        let mut prev = self.sorted[0].bin;
        for s in &self.sorted {
            if s.bin != prev {
                scan.consider(prev as usize, s.bin as usize);
                prev = s.bin;
            }
            scan.add(s.class as usize, s.weight);
        }
        scan.best()
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

/// Running left/right class counts while sweeping one feature's bins from low to high.
///
/// Counts are integers, so the sums of squares are kept as `i64`: exact, with one-cycle
/// additions on the sweep's dependency chain (`f64` additions take four), and converted
/// to `f64` only to score a split, where every value below 2^53 converts exactly.
struct SplitScan<'b> {
    totals: &'b [i64],
    left: &'b mut [i64],
    reciprocals: &'b [f64],
    feature: usize,
    /// Weighted sample counts and sums of squared class counts on each side.
    n_left: i64,
    n_right: i64,
    sq_left: i64,
    sq_right: i64,
    best_score: f64,
    best_lo: usize,
    best_hi: usize,
}

/// A node's weighted class counts (`i64`, as the split sweeps use them), with their sum and
/// sum of squares, and the sweeps' scratch.
struct NodeStats {
    totals: Vec<i64>,
    n: i64,
    sq: i64,
    left: Vec<i64>,
    /// `1 / m` for the weighted counts `m` a node of this forest can have (see
    /// [`SplitScan::consider`]).
    reciprocals: Vec<f64>,
}

impl NodeStats {
    /// A sweep of `feature` over the node, starting with everything right.
    fn scan(&mut self, feature: usize) -> SplitScan<'_> {
        self.left.fill(0);
        SplitScan {
            totals: &self.totals,
            left: &mut self.left,
            reciprocals: &self.reciprocals,
            feature,
            n_left: 0,
            n_right: self.n,
            sq_left: 0,
            sq_right: self.sq,
            best_score: f64::NEG_INFINITY,
            best_lo: 0,
            best_hi: 0,
        }
    }
}

impl SplitScan<'_> {
    /// Moves weight `w` of class `k` from the right side to the left.
    #[inline]
    fn add(&mut self, k: usize, w: u32) {
        let w = i64::from(w);
        let l = self.left[k];
        let r = self.totals[k] - l;
        // (l + w)² - l² and (r - w)² - r².
        self.sq_left += w * (2 * l + w);
        self.sq_right += w * (w - 2 * r);
        self.left[k] = l + w;
        self.n_left += w;
        self.n_right -= w;
    }

    /// Moves one bin's weights per class (`counts[k]` of class `k`) from right to left, every
    /// class at once: no branch on which classes the bin holds, and the classes' terms are
    /// summed apart from the running totals.
    #[inline]
    fn add_bin(&mut self, counts: &[u32]) {
        let (mut dl, mut dr, mut dn) = (0i64, 0i64, 0i64);
        for ((l, &t), &w) in self.left.iter_mut().zip(self.totals).zip(counts) {
            let w = i64::from(w);
            let r = t - *l;
            dl += w * (2 * *l + w);
            dr += w * (w - 2 * r);
            *l += w;
            dn += w;
        }
        self.sq_left += dl;
        self.sq_right += dr;
        self.n_left += dn;
        self.n_right -= dn;
    }

    /// Scores the split with bins up to `lo` left and from `hi` right; both sides non-empty.
    #[inline]
    fn consider(&mut self, lo: usize, hi: usize) {
        let score = self.sq_left as f64 * self.reciprocal(self.n_left)
            + self.sq_right as f64 * self.reciprocal(self.n_right);
        if score > self.best_score {
            (self.best_score, self.best_lo, self.best_hi) = (score, lo, hi);
        }
    }

    /// `1 / m`, from the table when it holds `m`. A scan scores a split per distinct bin,
    /// often per sample: two divisions there were a fifth of the training time on small
    /// forests, where a multiply by a looked-up reciprocal costs a fraction of that. The
    /// table and the fallback give the same value, so scores do not depend on its size.
    #[inline]
    fn reciprocal(&self, m: i64) -> f64 {
        match self.reciprocals.get(m as usize) {
            Some(&r) => r,
            None => 1.0 / m as f64,
        }
    }

    /// The best split considered, if any was.
    fn best(&self) -> Option<Split> {
        (self.best_score > f64::NEG_INFINITY).then_some(Split {
            score: self.best_score,
            feature: self.feature,
            lo: self.best_lo,
            hi: self.best_hi,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    /// `n` points per class around well separated centres, uniform noise of radius 1.5.
    fn blobs(n: usize, seed: u64) -> (Matrix, Vec<u32>) {
        let centres = [[0.0f32, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n * centres.len() {
            let k = i % centres.len();
            // A fourth, pure-noise feature the trees must learn to ignore.
            let mut row: Vec<f32> = centres[k]
                .iter()
                .map(|&c| c + rng.random_range(-1.5..1.5))
                .collect();
            row.push(rng.random_range(-10.0..10.0));
            rows.push(row);
            labels.push(k as u32);
        }
        (Matrix::from_rows(&rows).expect("equal rows"), labels)
    }

    /// XOR of the signs of two features: no single split helps, depth 2 is needed.
    fn xor(n: usize, seed: u64) -> (Matrix, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        while rows.len() < n {
            let (a, b): (f32, f32) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
            if a.abs() < 0.05 || b.abs() < 0.05 {
                continue;
            }
            labels.push(u32::from((a > 0.0) != (b > 0.0)));
            rows.push([a, b]);
        }
        (Matrix::from_rows(&rows).expect("equal rows"), labels)
    }

    fn accuracy(forest: &Forest, x: &Matrix, y: &[u32]) -> f64 {
        let pred = forest.predict(x).expect("predict");
        pred.iter().zip(y).filter(|(p, t)| p == t).count() as f64 / y.len() as f64
    }

    fn depth(tree: &Tree, i: usize) -> usize {
        let node = tree.nodes[i];
        if node.feature == LEAF {
            0
        } else {
            1 + depth(tree, i + 1).max(depth(tree, node.next as usize))
        }
    }

    fn param_name(result: Result<()>) -> &'static str {
        match result {
            Err(Error::InvalidParameter { name, .. }) => name,
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

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

    /// A complete tree of `2^depth` leaves over feature 0: leaf `j` holds the rows with
    /// `x0` in `j - 0.5 .. j + 0.5`, and a class distribution no other leaf has.
    fn complete_tree(depth: u32) -> Tree {
        fn grow(tree: &mut Tree, lo: u32, hi: u32, n_leaves: u32) {
            if hi - lo == 1 {
                let a = (lo + 1) as f32 / (n_leaves + 1) as f32;
                tree.nodes.push(Node {
                    feature: LEAF,
                    threshold: 0.0,
                    next: lo,
                });
                tree.values.extend([a, 1.0 - a, 0.0]);
                return;
            }
            let mid = (lo + hi) / 2;
            let id = tree.nodes.len();
            tree.nodes.push(Node {
                feature: 0,
                threshold: mid as f32 - 0.5,
                next: 0,
            });
            grow(tree, lo, mid, n_leaves);
            tree.nodes[id].next = tree.nodes.len() as u32;
            grow(tree, mid, hi, n_leaves);
        }
        let mut tree = Tree::default();
        grow(&mut tree, 0, 1 << depth, 1 << depth);
        tree
    }

    /// Trees of up to 64 leaves are predicted by leaf masks, bigger ones walked; both reach
    /// the leaf the tree's own nodes do, and the sums keep the trees' order: at 1, 64 and
    /// 128 leaves, on and between every threshold, beyond them, and NaN (which goes right).
    #[test]
    fn leaf_masks_and_walks_match_the_tree() {
        let trees: Vec<Tree> = [6, 7, 0, 6, 5].into_iter().map(complete_tree).collect();
        let forest = Forest::from_checked(2, 3, trees);
        let kinds: Vec<bool> = forest.masks().trees.iter().map(Option::is_some).collect();
        assert_eq!(kinds, [true, false, true, true, true]);
        let mut values: Vec<f32> = (-2..131).map(|v| v as f32).collect();
        values.extend((-2..131).map(|v| v as f32 - 0.5));
        values.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30]);
        for n in [1, 17, 63, 64, 65, values.len()] {
            let rows: Vec<[f32; 2]> = values.iter().take(n).map(|&v| [v, -v]).collect();
            let proba = forest
                .predict_proba(&Matrix::from_rows(&rows).expect("equal rows"))
                .expect("predict");
            let mut one = [0.0f32; 3];
            for (i, row) in rows.iter().enumerate() {
                forest.predict_proba_row(row, &mut one);
                assert_eq!(proba.row(i), &one[..], "row {i} of {n}: {row:?}");
            }
        }
    }

    /// `predict_proba` reaches the same leaves as one row at a time along the tree's own
    /// nodes: for row counts around the lane and block sizes, for values beyond the
    /// training range, on thresholds, and NaN (which goes right).
    #[test]
    fn predict_proba_matches_the_tree() {
        let (x, y) = blobs(60, 4);
        let forest = ForestParams::new()
            .n_trees(20)
            .seed(5)
            .fit(&x, &y, 3)
            .expect("fit");
        for walk in forest.walks().iter() {
            assert!(walk.depth <= 10);
        }
        let thresholds: Vec<f32> = forest.trees[0]
            .nodes
            .iter()
            .filter(|n| n.feature != LEAF)
            .map(|n| n.threshold)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30];
        for n in [1, 7, 8, 9, 63, 64, 65, 200] {
            let rows: Vec<[f32; 4]> = (0..n)
                .map(|_| {
                    std::array::from_fn(|_| match rng.random_range(0..4) {
                        0 => specials[rng.random_range(0..specials.len())],
                        1 => thresholds[rng.random_range(0..thresholds.len())],
                        _ => rng.random_range(-3.0..8.0),
                    })
                })
                .collect();
            let xt = Matrix::from_rows(&rows).expect("equal rows");
            let proba = forest.predict_proba(&xt).expect("predict");
            let mut one = [0.0f32; 3];
            for (i, row) in rows.iter().enumerate() {
                forest.predict_proba_row(row, &mut one);
                assert_eq!(proba.row(i), &one[..], "row {i} of {n}: {row:?}");
            }
        }
    }

    /// A lone leaf has depth 0: no step is taken and every row gets its distribution.
    #[test]
    fn single_leaf_tree_walks_nowhere() {
        let x = Matrix::from_rows(&[[1.0f32], [1.0], [1.0]]).expect("rows");
        let forest = ForestParams::new()
            .n_trees(3)
            .fit(&x, &[1, 1, 0], 2)
            .expect("fit");
        assert!(forest.walks().iter().all(|w| w.depth == 0));
        let xt = Matrix::from_rows(&[[f32::NAN]; 9]).expect("rows");
        let proba = forest.predict_proba(&xt).expect("predict");
        assert!(proba.iter_rows().all(|r| r[1] > r[0]));
    }

    #[test]
    fn predict_is_argmax_with_ties_to_lowest() {
        assert_eq!(argmax(&[0.25, 0.5, 0.25]), 1);
        assert_eq!(argmax(&[0.4, 0.2, 0.4]), 0);
        assert_eq!(argmax(&[0.0, 0.5, 0.5]), 1);
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

    #[test]
    fn constant_feature_is_never_split_on() {
        // Feature 0 is constant; with one candidate per node the search must move on to 1.
        let rows: Vec<[f32; 2]> = (0..100).map(|i| [3.0, i as f32]).collect();
        let y: Vec<u32> = (0..100).map(|i| u32::from(i >= 50)).collect();
        let x = Matrix::from_rows(&rows).expect("rows");
        let params = ForestParams::new()
            .n_trees(10)
            .max_features(MaxFeatures::Count(1))
            .bootstrap(false);
        let forest = params.fit(&x, &y, 2).expect("fit");
        for tree in &forest.trees {
            assert!(tree.nodes.iter().all(|n| n.feature != 0));
            assert_eq!(tree.nodes[0].feature, 1);
        }
        assert_eq!(forest.predict(&x).expect("predict"), y);
    }

    #[test]
    fn thresholds_lie_between_training_values() {
        // Few distinct values: each edge is the midpoint of two neighbours.
        let mut col = vec![3.0, 1.0, 2.0, 1.0, 3.0];
        assert_eq!(bin_edges(&mut col), [1.5, 2.5]);
        // Many distinct values: at most 255 strictly increasing edges.
        let mut col: Vec<f32> = (0..10_000).map(|i| (i % 1000) as f32).collect();
        let edges = bin_edges(&mut col);
        assert!(edges.len() < MAX_BINS && edges.len() > 200);
        assert!(edges.windows(2).all(|w| w[0] < w[1]));
        assert!(edges.iter().all(|e| e.fract() == 0.5));
        // Neighbouring f32s: the midpoint must not round up onto the larger one.
        let (a, b) = (1.0f32, f32::from_bits(1.0f32.to_bits() + 1));
        assert!(a <= midpoint(a, b) && midpoint(a, b) < b);
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

    #[test]
    fn postcard_round_trip() {
        let (x, y) = blobs(100, 1);
        let forest = ForestParams::new().n_trees(5).fit(&x, &y, 3).expect("fit");
        let bytes = postcard::to_allocvec(&forest).expect("serialize");
        let back: Forest = postcard::from_bytes(&bytes).expect("deserialize");
        assert_eq!(back, forest);
        let params = ForestParams::new()
            .max_features(MaxFeatures::Count(2))
            .seed(7);
        let p_back: ForestParams =
            postcard::from_bytes(&postcard::to_allocvec(&params).expect("ser")).expect("de");
        assert_eq!(p_back, params);
    }

    /// Trees are stored as byte strings of whole 12-byte nodes and 4-byte values; a string
    /// cut anywhere else is refused, where the whole records decode and predict.
    #[test]
    fn partial_node_or_value_bytes_are_rejected() {
        use serde_bytes::Bytes;
        #[derive(Serialize)]
        struct StoredTree<'a> {
            nodes: &'a Bytes,
            values: &'a Bytes,
        }
        #[derive(Serialize)]
        struct StoredForest<'a> {
            n_features: usize,
            n_classes: usize,
            trees: Vec<StoredTree<'a>>,
        }
        let encode = |nodes: &[u8], values: &[u8]| {
            postcard::to_allocvec(&StoredForest {
                n_features: 1,
                n_classes: 2,
                trees: vec![StoredTree {
                    nodes: Bytes::new(nodes),
                    values: Bytes::new(values),
                }],
            })
            .unwrap()
        };
        // One leaf (feature LEAF, threshold 0, distribution 0) predicting class 0.
        let leaf = [LEAF.to_le_bytes(), [0; 4], [0; 4]].concat();
        let values = [1.0f32.to_le_bytes(), 0.0f32.to_le_bytes()].concat();
        let forest: Forest = postcard::from_bytes(&encode(&leaf, &values)).unwrap();
        let proba = forest.predict_proba(&Matrix::zeros(1, 1)).unwrap();
        assert_eq!(proba.as_slice(), &[1.0, 0.0]);
        assert!(postcard::from_bytes::<Forest>(&encode(&leaf[..11], &values)).is_err());
        assert!(postcard::from_bytes::<Forest>(&encode(&leaf, &values[..7])).is_err());
    }

    #[test]
    fn corrupted_forest_is_rejected_when_read() {
        let (x, y) = blobs(30, 1);
        let mut forest = ForestParams::new()
            .n_trees(2)
            .max_depth(2)
            .fit(&x, &y, 3)
            .expect("fit");
        // A right child pointing back at the root would loop forever when predicting.
        forest.trees[0].nodes[0].next = 0;
        let bytes = postcard::to_allocvec(&forest).expect("serialize");
        assert!(postcard::from_bytes::<Forest>(&bytes).is_err());
    }
}
