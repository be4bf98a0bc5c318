//! PCA fit on real digits: one PCA function's share of the 2k and 10k runs.

#![allow(
    missing_docs,
    reason = "criterion_group! defines an undocumented pub fn"
)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mltrain_core::Matrix;
use mltrain_core::image::ImageLevels;
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

/// The same digits as the workflow holds them: a byte per pixel.
fn digit_levels(n: usize) -> ImageLevels {
    let d = mltrain_dataset::bundled_mnist().expect("bundled digits");
    let px = (d.width * d.height) as usize;
    ImageLevels::from_vec(n, px, d.pixels[..n * px].to_vec()).expect("shape")
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
    let mut group = c.benchmark_group("pca_fit_transform_levels");
    group.sample_size(20);
    for n in [1000, 5000] {
        let x = digit_levels(n);
        group.bench_with_input(BenchmarkId::new("10_components", n), &x, |b, x| {
            b.iter(|| PcaParams::new(10).fit_transform(x).expect("fit"))
        });
    }
    group.finish();
}

criterion_group!(benches, pca_fit);
criterion_main!(benches);
