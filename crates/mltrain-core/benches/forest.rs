//! Random forest training and prediction speed on data shaped like the real workload
//! (8000 PCA rows × 10 features, 10 digit classes), on one thread: the number that matters
//! is per-thread speed, since parallelism over trees scales it by the core count.

#![allow(
    missing_docs,
    reason = "criterion_group! defines an undocumented pub fn"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use mltrain_core::Matrix;
use mltrain_core::forest::ForestParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CLASSES: usize = 10;
const FEATURES: usize = 10;

/// Overlapping Gaussian-ish clusters: each class has its own mean per feature and unit-ish
/// noise, so classes overlap and depth-10 trees grow close to full, as on real digits.
fn synthetic(rows: usize, seed: u64) -> (Matrix, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let means: Vec<f32> = (0..CLASSES * FEATURES)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let mut data = Vec::with_capacity(rows * FEATURES);
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let class = rng.random_range(0..CLASSES);
        for f in 0..FEATURES {
            // Sum of three uniforms: bell-shaped noise without a distributions crate.
            let noise: f32 = (0..3).map(|_| rng.random_range(-1.0f32..1.0)).sum();
            data.push(means[class * FEATURES + f] + noise);
        }
        labels.push(class as u32);
    }
    (
        Matrix::from_vec(rows, FEATURES, data).expect("rows × features values"),
        labels,
    )
}

fn forest(c: &mut Criterion) {
    let (x, y) = synthetic(8000, 1);
    let params = ForestParams::new().n_trees(100).max_depth(10).seed(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");

    c.bench_function("fit 100 trees 8000x10 1 thread", |b| {
        b.iter(|| pool.install(|| params.fit(&x, &y, CLASSES).expect("fit")))
    });

    let model = params.fit(&x, &y, CLASSES).expect("fit");
    let (xt, _) = synthetic(2000, 2);
    c.bench_function("predict_proba 2000 rows 1 thread", |b| {
        b.iter(|| pool.install(|| model.predict_proba(&xt).expect("predict")))
    });

    // The 2k workflow's shape: each of 8 forests learns from 250 rows, and validation
    // predicts 2000 test rows with all of them.
    let (xs, ys) = synthetic(250, 3);
    c.bench_function("fit 100 trees 250x10 1 thread", |b| {
        b.iter(|| pool.install(|| params.fit(&xs, &ys, CLASSES).expect("fit")))
    });
    let small = params.fit(&xs, &ys, CLASSES).expect("fit");
    c.bench_function(
        "predict_proba 2000 rows, forest of 250 rows, 1 thread",
        |b| b.iter(|| pool.install(|| small.predict_proba(&xt).expect("predict"))),
    );
}

criterion_group!(benches, forest);
criterion_main!(benches);
