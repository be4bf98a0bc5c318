//! The trees laid out for prediction, derived from a forest's trees on first use: leaf masks
//! tested in SIMD for trees of up to 64 leaves ([`Masks`], [`VoteBlock`]), branch-free
//! lockstep walks for bigger ones ([`Walks`]).

use super::Forest;
use super::tree::{LEAF, Tree};

/// Rows predicted together: a unit of work for rayon, and the rows that go through one tree
/// while it stays in cache.
pub(super) const PREDICT_BLOCK_ROWS: usize = 64;

/// SIMD vectors of rows whose leaf masks stay in registers while a tree's splits are tested.
const ACC_VECTORS: usize = 8;

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
pub(super) struct Walks {
    steps: Vec<Step>,
    /// Per node: where a leaf's class distribution starts in the tree's values. Derivable
    /// from the tree's leaf nodes, but reading it there (12-byte nodes, one multiply) slows
    /// prediction (BENCHMARKS.md, "Measurements behind the code").
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
pub(super) struct Masks {
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
pub(super) struct VoteBlock<'a> {
    pub(super) forest: &'a Forest,
    /// The block's rows, row-major, `n_features` each.
    pub(super) x: &'a [f32],
    /// `rows × n_classes`, overwritten with the sums.
    pub(super) out: &'a mut [f32],
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

impl Forest {
    fn walks(&self) -> &Walks {
        self.walks
            .get_or_init(|| Walks::new(&self.trees, self.n_classes))
    }

    fn masks(&self) -> &Masks {
        self.masks
            .get_or_init(|| Masks::new(&self.trees, self.n_classes))
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
}

/// Adds one leaf's class distribution to a row's sums.
#[inline]
pub(super) fn add_leaf(sums: &mut [f32], leaf: &[f32]) {
    sums.iter_mut().zip(leaf).for_each(|(s, &p)| *s += p);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::forest::ForestParams;
    use crate::forest::testdata::blobs;
    use crate::forest::tree::Node;
    use crate::matrix::Matrix;

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
}
