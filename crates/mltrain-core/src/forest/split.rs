//! Split search: which feature and threshold split a node. Candidate features are drawn
//! at random; each is swept from its lowest bin to its highest, moving the samples of a bin
//! from the right side to the left and scoring every boundary between occupied bins with
//! [`gini_score`]. The highest score wins.

use rand::Rng;

use super::binning::MAX_BINS;
use super::train::TreeBuilder;

/// A node whose samples are fewer than its bin range over this finds its occupied bins
/// from a bitmap rather than by walking the range (see `split_counting_sort`).
const SPARSE_BINS_RATIO: usize = 4;

/// The best split found so far at a node.
#[derive(Clone, Copy)]
pub(super) struct Split {
    /// Its [`gini_score`]: the higher, the purer the children.
    pub(super) score: f64,
    pub(super) feature: usize,
    /// Last non-empty bin going left and first non-empty bin going right.
    pub(super) lo: usize,
    pub(super) hi: usize,
}

/// The Gini score of a split, `Σ_k l_k²/L + Σ_k r_k²/R`, from each side's sum of squared
/// weighted class counts (`Σ_k l_k²`, `Σ_k r_k²`) and the reciprocal of its weighted count
/// (`1/L`, `1/R`). The children's weighted Gini impurity is `1 - score / (L + R)`, so the
/// split with the highest score is the one with the purest children.
#[inline]
fn gini_score(sq_left: i64, inv_left: f64, sq_right: i64, inv_right: f64) -> f64 {
    sq_left as f64 * inv_left + sq_right as f64 * inv_right
}

/// A sample's class and weight, bucketed by its bin code for one feature.
#[derive(Clone, Copy, Default)]
pub(super) struct BinSample {
    bin: u32,
    class: u32,
    weight: u32,
}

impl TreeBuilder<'_> {
    /// Draws candidate features without replacement until `max_features` have been tried and
    /// one of them splits the node, or every feature has been tried (scikit-learn's rule).
    pub(super) fn best_split(&mut self, start: usize, end: usize) -> Option<Split> {
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
pub(super) struct NodeStats {
    pub(super) totals: Vec<i64>,
    pub(super) n: i64,
    pub(super) sq: i64,
    pub(super) left: Vec<i64>,
    /// `1 / m` for the weighted counts `m` a node of this forest can have (see
    /// [`SplitScan::consider`]).
    pub(super) reciprocals: Vec<f64>,
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
        let score = gini_score(
            self.sq_left,
            self.reciprocal(self.n_left),
            self.sq_right,
            self.reciprocal(self.n_right),
        );
        if score > self.best_score {
            (self.best_score, self.best_lo, self.best_hi) = (score, lo, hi);
        }
    }

    /// `1 / m`, from the table when it holds `m`. A scan scores a split per distinct bin,
    /// often per sample, and two divisions there cost far more than a multiply by a
    /// looked-up reciprocal. The table and the fallback give the same value, so scores do
    /// not depend on its size.
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
    use crate::forest::ForestParams;
    use crate::forest::MaxFeatures;
    use crate::matrix::Matrix;

    /// The score is `L + R` times one minus the children's weighted Gini impurity: pure
    /// children score `L + R`, and purer children score higher.
    #[test]
    fn gini_score_ranks_splits_by_weighted_impurity() {
        // Left 3 of class 0 and 1 of class 1, right 4 of class 1: weighted Gini
        // 4/8 · (1 - (9 + 1)/16) + 4/8 · 0 = 0.1875.
        let mixed = gini_score(9 + 1, 1.0 / 4.0, 16, 1.0 / 4.0);
        assert_eq!(1.0 - mixed / 8.0, 0.1875);
        let pure = gini_score(16, 1.0 / 4.0, 16, 1.0 / 4.0);
        assert_eq!(pure, 8.0);
        assert!(pure > mixed);
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
}
