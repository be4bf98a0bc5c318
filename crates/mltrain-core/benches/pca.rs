//! PCA fit on real digits: one PCA function's share of the 2k and 10k runs.

#![allow(
    missing_docs,
    reason = "criterion_group! defines an undocumented pub fn"
)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mltrain_core::Matrix;
use mltrain_core::pca::PcaParams;

fn digits(n: usize) -> Matrix {
    let d = mltrain_dataset::bundled_mnist().expect("bundled digits");
    let px = (d.width * d.height) as usize;
    let data = d.pixels[..n * px]
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    Matrix::from_vec(n, px, data).expect("shape")
}

fn pca_fit(c: &mut Criterion) {
    let mut group = c.benchmark_group("pca_fit_transform");
    group.sample_size(20);
    for n in [1000, 5000] {
        let x = digits(n);
        for k in [10, 40] {
            group.bench_with_input(
                BenchmarkId::new(format!("{k}_components"), n),
                &x,
                |b, x| b.iter(|| PcaParams::new(k).fit_transform(x).expect("fit")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, pca_fit);
criterion_main!(benches);
