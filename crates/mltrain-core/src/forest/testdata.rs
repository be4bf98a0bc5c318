//! Data the forest's unit tests train on.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Forest;
use crate::matrix::Matrix;

/// `n` points per class around well separated centres, uniform noise of radius 1.5.
pub(super) fn blobs(n: usize, seed: u64) -> (Matrix, Vec<u32>) {
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
pub(super) fn xor(n: usize, seed: u64) -> (Matrix, Vec<u32>) {
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

pub(super) fn accuracy(forest: &Forest, x: &Matrix, y: &[u32]) -> f64 {
    let pred = forest.predict(x).expect("predict");
    pred.iter().zip(y).filter(|(p, t)| p == t).count() as f64 / y.len() as f64
}
