//! Seeded forests are fixed by their seed: their stored bytes and their predictions are
//! pinned here as CRC-32s, so a change to training, the byte format or the prediction
//! layouts that alters a single bit fails this test. Moving or restructuring the forest's
//! code must leave every checksum as it is; a deliberate change to what a seed trains
//! updates them, and says so in its commit message.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use mltrain_core::Matrix;
use mltrain_core::forest::{Forest, ForestParams, MaxFeatures};
use mltrain_core::format::{self, Kind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` rows of `d` features in `n_classes` noisy clusters (class `i % n_classes`), from
/// `seed`; with `levels`, every feature is rounded to one of that many integer values, so
/// many rows share a value.
fn clusters(
    n: usize,
    d: usize,
    n_classes: usize,
    levels: Option<u32>,
    seed: u64,
) -> (Matrix, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..n_classes)
        .map(|_| (0..d).map(|_| rng.random_range(-4.0f32..4.0)).collect())
        .collect();
    let mut data = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % n_classes;
        for &c in &centres[k] {
            let v = c + rng.random_range(-3.0f32..3.0);
            data.push(match levels {
                Some(l) => (v.clamp(-7.0, 7.0) * (l as f32 / 14.0)).round(),
                None => v,
            });
        }
        labels.push(k as u32);
    }
    (Matrix::from_vec(n, d, data).unwrap(), labels)
}

/// CRC-32 of the forest as stored, and of the bits of its class probabilities for `x`.
fn checksums(forest: &Forest, x: &Matrix) -> (u32, u32) {
    let bytes = format::encode(Kind::Forest, forest).unwrap();
    let proba = forest.predict_proba(x).unwrap();
    let mut crc = crc32fast::Hasher::new();
    for p in proba.as_slice() {
        crc.update(&p.to_le_bytes());
    }
    (crc32fast::hash(&bytes), crc.finalize())
}

#[test]
fn seeded_forests_are_byte_identical() {
    struct Case {
        name: &'static str,
        data: (Matrix, Vec<u32>),
        n_classes: usize,
        params: ForestParams,
        /// CRC-32 of the encoded forest, and of its predictions on its training rows.
        expected: (u32, u32),
    }
    let cases = [
        // Two classes, default parameters: depth 10, sqrt features, bootstrap.
        Case {
            name: "2 classes, 300 rows, defaults",
            data: clusters(300, 4, 2, None, 1),
            n_classes: 2,
            params: ForestParams::new().n_trees(12).seed(11),
            expected: (0xec633125, 0x3d1750f3),
        },
        // The workflow's shape: ten digits, 250 rows, fully grown.
        Case {
            name: "10 classes, 250 rows, unlimited depth",
            data: clusters(250, 10, 10, None, 2),
            n_classes: 10,
            params: ForestParams::new()
                .n_trees(16)
                .max_depth(1000)
                .min_samples_split(2)
                .seed(12),
            expected: (0xdeb9535d, 0xe3a9fd4f),
        },
        // Many rows: quantile bins, histogram split search, trees of over 64 leaves (walked).
        Case {
            name: "10 classes, 3000 rows, all features, deep",
            data: clusters(3000, 6, 10, None, 3),
            n_classes: 10,
            params: ForestParams::new()
                .n_trees(4)
                .max_depth(40)
                .min_samples_split(2)
                .max_features(MaxFeatures::All)
                .seed(13),
            expected: (0x40425dba, 0xe3e8fb95),
        },
        // Few distinct values: rows share bins, without bootstrap, depth-limited.
        Case {
            name: "3 classes, 400 rows, shared values, depth 3",
            data: clusters(400, 5, 3, Some(12), 4),
            n_classes: 3,
            params: ForestParams::new()
                .n_trees(10)
                .max_depth(3)
                .bootstrap(false)
                .max_features(MaxFeatures::Count(2))
                .seed(14),
            expected: (0xdc150689, 0xce020bd1),
        },
        // Shared values, unlimited depth, two classes, more trees than the others.
        Case {
            name: "2 classes, 600 rows, shared values, unlimited depth",
            data: clusters(600, 3, 2, Some(40), 5),
            n_classes: 2,
            params: ForestParams::new()
                .n_trees(30)
                .max_depth(1000)
                .min_samples_split(2)
                .seed(15),
            expected: (0x2bc0077e, 0x4882f916),
        },
    ];
    let mut wrong = Vec::new();
    for case in &cases {
        let (x, y) = &case.data;
        let forest = case.params.fit(x, y, case.n_classes).unwrap();
        let found = checksums(&forest, x);
        if found != case.expected {
            wrong.push(format!(
                "{}: found (0x{:08x}, 0x{:08x}), expected (0x{:08x}, 0x{:08x})",
                case.name, found.0, found.1, case.expected.0, case.expected.1
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
