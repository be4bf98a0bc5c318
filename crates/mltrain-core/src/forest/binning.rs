//! Features quantised once per fit: bin edges at quantiles or between distinct values, and
//! each bin's smallest and largest training value, from which split thresholds are placed.

#[cfg(feature = "rayon")]
use rayon::prelude::*;

use crate::matrix::Matrix;

/// Features are binned into at most this many bins, so a bin code fits a `u8`.
pub(super) const MAX_BINS: usize = 256;

/// Every feature quantised once per fit: column-major `u8` bin codes plus, per feature,
/// the edge between bin `b` and `b + 1` as `thresholds[f][b]`.
pub(super) struct Binned {
    pub(super) n_rows: usize,
    codes: Vec<u8>,
    pub(super) thresholds: Vec<Vec<f32>>,
    /// Smallest and largest training value in each bin, per feature: a split between bins
    /// `lo` and `hi` puts its threshold midway between `max[lo]` and `min[hi]`, as
    /// scikit-learn does between the values it sees.
    pub(super) bin_min: Vec<Vec<f32>>,
    pub(super) bin_max: Vec<Vec<f32>>,
}

impl Binned {
    pub(super) fn new(x: &Matrix) -> Self {
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

    pub(super) fn column(&self, f: usize) -> &[u8] {
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
pub(super) fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if m < b { m } else { a }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

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
}
