//! The workflow on data that is not MNIST: colour, transparency, wide images, and data with
//! too little variance to learn from. Every data set is generated here, seeded.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::io::Cursor;
use std::time::Duration;

use mltrain_core::image::Channels;
use mltrain_store::Store;
use mltrain_workflow::driver::{self, Local, Quiet};
use mltrain_workflow::params::{ChannelMode, Params};
use mltrain_workflow::report::Report;
use mltrain_workflow::stages::Ctx;
use mltrain_workflow::{Error, layout};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use common::{error_chain, memory};

/// Red and green of the same ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B = 93.8 for
/// both), so that grey levels cannot tell them apart.
const RED: [u8; 3] = [220, 40, 40];
const GREEN: [u8; 3] = [33, 137, 31];

fn png(img: image::DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

/// `n` images per class of a disc of the class's colour, at a random place and size, on a
/// noisy grey background of about the same brightness.
async fn put_red_and_green(store: &Store, prefix: &str, n: usize, side: u32) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for i in 0..2 * n {
        let (class, colour) = if i % 2 == 0 {
            ("red", RED)
        } else {
            ("green", GREEN)
        };
        let s = side as f32;
        let (cx, cy) = (
            rng.random_range(0.3..0.7) * s,
            rng.random_range(0.3..0.7) * s,
        );
        let r = rng.random_range(0.2..0.3) * s;
        let img = image::RgbImage::from_fn(side, side, |x, y| {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            if dx * dx + dy * dy < r * r {
                image::Rgb(colour)
            } else {
                let v = rng.random_range(80..110);
                image::Rgb([v, v, v])
            }
        });
        let key = format!("{prefix}/{class}/{i:04}.png");
        store.put(&key, png(img.into()).into()).await.unwrap();
    }
}

fn params(prefix: &str) -> Params {
    Params {
        prefix: prefix.into(),
        num_pca: 2,
        num_rf: 4,
        trees: 40,
        ..Params::default()
    }
}

async fn run(store: &Store, params: &Params, run_id: &str) -> Result<Report, Error> {
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    // No degenerate input may hang a run: each must end, one way or the other, in seconds.
    tokio::time::timeout(
        Duration::from_secs(60),
        driver::run(&local, params, run_id, 4, &Quiet),
    )
    .await
    .expect("the run ends")
}

/// Red against green of equal brightness: with default options the run reads the images
/// as RGB (they have colour) and tells them apart; read as grey, it cannot.
#[tokio::test]
async fn colour_only_classes_are_told_apart_by_default() {
    let store = memory();
    put_red_and_green(&store, "rg", 120, 32).await;
    let report = run(&store, &params("rg"), "rgb").await.unwrap();
    assert_eq!(report.channels, Channels::Rgb);
    assert!(report.accuracy >= 0.95, "accuracy {}", report.accuracy);
    let model = mltrain_workflow::objects::load_model(&store, &report.model_key)
        .await
        .unwrap();
    assert_eq!(model.channels, Channels::Rgb);
    assert_eq!(model.ensemble.n_features(), 32 * 32 * 3);

    let grey = Params {
        channels: ChannelMode::Grey,
        ..params("rg")
    };
    let report = run(&store, &grey, "grey").await.unwrap();
    assert_eq!(report.channels, Channels::Grey);
    assert!(report.accuracy < 0.8, "grey accuracy {}", report.accuracy);
}

/// Grey data stays grey under `auto`: the digits' features are one level per pixel.
#[tokio::test]
async fn grey_data_stays_grey() {
    let store = memory();
    common::put_digits(&store, "digits", 0..300).await;
    let report = run(&store, &params("digits"), "digits").await.unwrap();
    assert_eq!(report.channels, Channels::Grey);
    assert_eq!(report.components, [10, 10]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

/// Icons whose picture is only in the alpha channel (black everywhere, opaque where the
/// shape is): composited over white, a square and a ring are told apart.
#[tokio::test]
async fn pictures_drawn_in_alpha_are_seen() {
    let store = memory();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for i in 0..120 {
        let ring = i % 2 == 1;
        let (ox, oy) = (rng.random_range(-3i32..=3), rng.random_range(-3i32..=3));
        let img = image::RgbaImage::from_fn(24, 24, |x, y| {
            let (dx, dy) = (x as i32 - 12 - ox, y as i32 - 12 - oy);
            let inside = if ring {
                (25..=64).contains(&(dx * dx + dy * dy))
            } else {
                dx.abs() <= 5 && dy.abs() <= 5
            };
            image::Rgba([0, 0, 0, if inside { 255 } else { 0 }])
        });
        let class = if ring { "ring" } else { "square" };
        let key = format!("icons/{class}/{i:03}.png");
        store.put(&key, png(img.into()).into()).await.unwrap();
    }
    let report = run(&store, &params("icons"), "icons").await.unwrap();
    assert_eq!(report.channels, Channels::Grey);
    assert!(report.accuracy >= 0.95, "accuracy {}", report.accuracy);
}

/// Identical images have nothing to learn from: the run fails at once as bad input,
/// naming the reason, and publishes nothing.
#[tokio::test]
async fn identical_images_fail_clearly() {
    let store = memory();
    let black = png(image::GrayImage::new(16, 16).into());
    for i in 0..40 {
        let class = if i % 2 == 0 { "a" } else { "b" };
        store
            .put(&format!("same/{class}/{i}.png"), black.clone().into())
            .await
            .unwrap();
    }
    let err = run(&store, &params("same"), "same").await.unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(!err.is_retryable(), "{err}");
    let chain = error_chain(&err);
    assert!(chain.contains("all the same"), "{chain}");
    assert!(
        !store
            .exists(&layout::RunLayout::new("same").model())
            .await
            .unwrap()
    );
}

/// Rank-one images (one pattern at different strengths) and more components than the
/// rows of a partition: the run keeps the informative components only, says so, and the
/// model holds no NaN.
#[tokio::test]
async fn low_rank_data_keeps_the_informative_components() {
    let store = memory();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // Integer levels `a · p`, so that the images are exactly rank one once centred.
    let pattern: Vec<u8> = (0..400).map(|_| rng.random_range(1..=12)).collect();
    for i in 0..60 {
        let bright = i % 2 == 1;
        let a: u8 = if bright {
            rng.random_range(12..=20)
        } else {
            rng.random_range(1..=8)
        };
        let levels: Vec<u8> = pattern.iter().map(|p| a * p).collect();
        let img = image::GrayImage::from_raw(20, 20, levels).unwrap();
        let class = if bright { "bright" } else { "dark" };
        let key = format!("rank1/{class}/{i:03}.png");
        store.put(&key, png(img.into()).into()).await.unwrap();
    }
    let report = run(&store, &params("rank1"), "rank1").await.unwrap();
    assert!(report.accuracy >= 0.9, "accuracy {}", report.accuracy);
    assert_eq!(report.components, [1, 1]);
    assert!(
        report.warnings.iter().any(|w| w.contains("informative")),
        "{:?}",
        report.warnings
    );

    // 30 components asked of partitions of 24 images.
    let many = Params {
        components: 30,
        ..params("rank1")
    };
    let report = run(&store, &many, "many").await.unwrap();
    assert!(
        report.components.iter().all(|&k| k < 24),
        "{:?}",
        report.components
    );
    let model = mltrain_workflow::objects::load_model(&store, &report.model_key)
        .await
        .unwrap();
    for basis in model.ensemble.bases() {
        assert!(basis.components().as_slice().iter().all(|v| v.is_finite()));
        assert!(basis.explained_variance().iter().all(|v| v.is_finite()));
    }
}

/// Over the memory budget, the run stops before any PCA function allocates, as bad input,
/// naming the function, what it would need and what to change.
#[tokio::test]
async fn a_run_over_the_memory_budget_stops_with_advice() {
    let store = memory();
    put_red_and_green(&store, "rg", 20, 64).await;
    let mut ctx = Ctx::new(store.clone());
    ctx.limits.memory_budget = 1 << 20;
    let local = Local { ctx };
    let err = driver::run(&local, &params("rg"), "tight", 4, &Quiet)
        .await
        .unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    let chain = error_chain(&err);
    for needle in ["pca-0", "MiB", "--resize", "--memory-budget"] {
        assert!(chain.contains(needle), "{needle} in {chain}");
    }
    assert!(
        store
            .list(&layout::RunLayout::new("tight").dir())
            .await
            .unwrap()
            .iter()
            .all(|o| !o.key.contains("pca-0/")),
        "no PCA output"
    );
}
