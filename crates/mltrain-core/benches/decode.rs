//! PNG decoding of real digits into a feature matrix, as the PCA and validation stages do.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mltrain_core::image::{FeatureDecoder, ImageSize, decode_batch};

fn decode(c: &mut Criterion) {
    let d = mltrain_dataset::bundled_mnist().expect("bundled digits");
    let pngs: Vec<Vec<u8>> = (0..2000)
        .map(|i| mltrain_dataset::encode_png(d.width, d.height, d.image(i)).expect("png"))
        .collect();
    let size = ImageSize::new(d.width, d.height);
    let mut group = c.benchmark_group("png_decode");
    group.throughput(Throughput::Elements(pngs.len() as u64));
    group.bench_function("2000_digits_one_thread", |b| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        b.iter(|| {
            pool.install(|| decode_batch(&pngs, size, &FeatureDecoder::new()).expect("decode"))
        })
    });
    group.bench_function("2000_digits_all_threads", |b| {
        b.iter(|| decode_batch(&pngs, size, &FeatureDecoder::new()).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
