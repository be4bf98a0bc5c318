//! Helpers shared by the workflow's integration tests.
#![allow(dead_code)]

use std::sync::OnceLock;

use mltrain_dataset::Digits;
use mltrain_store::Store;

pub fn digits() -> &'static Digits {
    static DIGITS: OnceLock<Digits> = OnceLock::new();
    DIGITS.get_or_init(|| mltrain_dataset::bundled_mnist().expect("bundled digits decode"))
}

/// Writes bundled digits `range` as `prefix/<label>/<index>.png`.
pub async fn put_digits(store: &Store, prefix: &str, range: std::ops::Range<usize>) {
    let d = digits();
    let puts = range.map(|i| {
        let png = mltrain_dataset::encode_png(d.width, d.height, d.image(i)).expect("png");
        let key = format!("{prefix}/{}/{i:05}.png", d.label(i));
        async move { store.put(&key, png.into()).await.expect("put") }
    });
    futures::future::join_all(puts).await;
}

pub fn memory() -> Store {
    Store::from_url("memory://").expect("memory store")
}

/// A `file://` store in `dir`.
pub fn local(dir: &std::path::Path) -> Store {
    Store::from_url(&format!("file://{}", dir.display())).expect("local store")
}

/// An error and its causes on one line, as the command line prints them.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Writes `per_class` seeded colour pictures of each of three classes as
/// `prefix/<class>/<i>.png|jpg`, PNG and JPEG mixed, 48×40: a red disc, a blue bar and a
/// green ring, at random places over noise. Not MNIST: colour, two formats, not square.
pub async fn put_pictures(store: &Store, prefix: &str, per_class: usize) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (w, h) = (48u32, 40u32);
    let mut puts = Vec::new();
    for i in 0..per_class {
        for (class, colour) in [
            ("bar", [40u8, 60, 210]),
            ("disc", [215, 45, 40]),
            ("ring", [40, 190, 60]),
        ] {
            let (cx, cy) = (
                rng.random_range(14.0..34.0f32),
                rng.random_range(12.0..28.0f32),
            );
            let r = rng.random_range(7.0..11.0f32);
            let noise: Vec<u8> = (0..w * h).map(|_| rng.random_range(90..140)).collect();
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let d = (dx * dx + dy * dy).sqrt();
                let inside = match class {
                    "bar" => dx.abs() < r && dy.abs() < r / 3.0,
                    "disc" => d < r,
                    _ => (r - 3.0..r).contains(&d),
                };
                if inside {
                    image::Rgb(colour)
                } else {
                    let v = noise[(y * w + x) as usize];
                    image::Rgb([v, v, v])
                }
            });
            let (ext, format) = if i % 3 == 0 {
                ("jpg", image::ImageFormat::Jpeg)
            } else {
                ("png", image::ImageFormat::Png)
            };
            let mut bytes = Vec::new();
            image::DynamicImage::from(img)
                .write_to(&mut std::io::Cursor::new(&mut bytes), format)
                .expect("encode");
            puts.push((format!("{prefix}/{class}/{i:03}.{ext}"), bytes));
        }
    }
    let puts = puts
        .into_iter()
        .map(|(key, bytes)| async move { store.put(&key, bytes.into()).await.expect("put") });
    futures::future::join_all(puts).await;
}

/// Converts `prefix` of `store` to the packed layout in shards of about `shard_size`.
pub async fn pack(store: &Store, prefix: &str, shard_size: u64) -> mltrain_store::Packed {
    store
        .pack_prefix(prefix, shard_size, 8, &|_, _| {})
        .await
        .expect("pack")
}
