//! PNG decoding of real digits into a feature matrix, as the PCA and validation stages do.

#![allow(
    missing_docs,
    reason = "criterion_group! defines an undocumented pub fn"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mltrain_core::image::{FeatureDecoder, ImageSize, decode_batch};

fn decode(c: &mut Criterion) {
    let d = mltrain_dataset::bundled_mnist().expect("bundled digits");
    let pngs: Vec<Vec<u8>> = (0..2000)
        .map(|i| mltrain_dataset::encode_png(d.width, d.height, d.image(i)).expect("png"))
        .collect();
    let size = ImageSize::new(d.width, d.height);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let one_thread = |pngs: &[Vec<u8>]| {
        pool.install(|| decode_batch(pngs, size, &FeatureDecoder::new()).expect("decode"))
    };
    let mut group = c.benchmark_group("png_decode");
    group.throughput(Throughput::Elements(pngs.len() as u64));
    group.bench_function("2000_digits_one_thread", |b| b.iter(|| one_thread(&pngs)));
    group.bench_function("2000_digits_all_threads", |b| {
        b.iter(|| decode_batch(&pngs, size, &FeatureDecoder::new()).expect("decode"))
    });
    // The same digits written by zlib (the `png` crate's default level) instead of
    // `fdeflate`'s fast mode: every image has its own Huffman codes, so the fast path's
    // decoder cannot reuse its tables.
    let zlib_pngs: Vec<Vec<u8>> = (0..2000)
        .map(|i| {
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, d.width, d.height);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(png::Compression::Balanced);
            let mut w = enc.write_header().expect("header");
            w.write_image_data(d.image(i)).expect("pixels");
            w.finish().expect("png");
            out
        })
        .collect();
    group.bench_function("2000_zlib_digits_one_thread", |b| {
        b.iter(|| one_thread(&zlib_pngs))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
