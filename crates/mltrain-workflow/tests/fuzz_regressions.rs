//! Inputs the fuzz targets (`fuzz/`) found, or that their checks name, kept as tests so
//! `cargo test --workspace` runs them. Each object here passes the envelope's checks and
//! decodes; using it as the workflow does must then not panic or exhaust memory.
//! Ignored tests are open bugs; the reason names the fix.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use mltrain_core::Matrix;
use mltrain_core::ensemble::{Ensemble, Member};
use mltrain_core::forest::ForestParams;
use mltrain_core::format::{self, Kind};
use mltrain_core::image::{Channels, ImageSize};
use mltrain_core::pca::PcaParams;
use mltrain_core::unchecked::MatrixData;
use mltrain_workflow::objects::{self, Model, Rows};
use mltrain_workflow::params::Params;
use serde::Serialize;

use common::error_chain;

/// A real model over 2×2 images with classes `a` and `b`, as validation publishes it.
fn real_model() -> Model {
    let rows: Vec<Vec<f32>> = (0..20)
        .map(|i| {
            let c = (i % 2) as f32;
            vec![c, c * 0.5 + i as f32 * 0.01, 0.2, 1.0 - c]
        })
        .collect();
    let labels: Vec<u32> = (0..20).map(|i| i % 2).collect();
    let (pca, z) = PcaParams::new(2)
        .fit_transform(&Matrix::from_rows(&rows).unwrap())
        .unwrap();
    let forest = ForestParams::new()
        .n_trees(2)
        .min_samples_split(2)
        .seed(3)
        .fit(&z, &labels, 2)
        .unwrap();
    Model {
        run_id: "r1".into(),
        classes: vec!["a".into(), "b".into()],
        image_size: ImageSize::new(2, 2),
        channels: Channels::Grey,
        resize: false,
        params: Params::default(),
        accuracy: 1.0,
        ensemble: Ensemble::new(vec![pca], vec![Member { basis: 0, forest }]).unwrap(),
    }
}

/// What `mltrain predict` does with a model: rows of `image_size` pixels through the
/// ensemble, then the name of the best class of each.
fn predict_names(model: &Model, images: usize) -> Vec<String> {
    let x = Matrix::zeros(images, model.image_size.features(model.channels));
    let Ok(p) = model.ensemble.predict_proba(&x) else {
        return Vec::new();
    };
    p.iter_rows()
        .map(|row| model.classes[mltrain_core::metrics::argmax(row)].clone())
        .collect()
}

fn round_trip(model: &Model) -> mltrain_workflow::Result<Model> {
    let bytes = format::encode(Kind::Model, model).unwrap();
    objects::decode::<Model>("models/m.model", &bytes)
}

#[test]
fn real_model_decodes_and_predicts() {
    let model = round_trip(&real_model()).unwrap();
    assert_eq!(predict_names(&model, 3).len(), 3);
}

/// A model with fewer class names than its forests have classes decoded, and `mltrain
/// predict` indexed `classes[best]` past the end (fuzz `object_decode`'s check of the
/// class name of each prediction).
#[test]
fn model_with_fewer_class_names_than_classes() {
    let mut model = real_model();
    model.classes.truncate(1);
    assert_refused(&model);
}

/// A model whose image size is not its ensemble's input width decoded; `mltrain predict`
/// allocates `image_size.pixels()` features per image before the ensemble refuses the
/// width: 65535×65535 is 16 GiB per image.
#[test]
fn model_with_image_size_unlike_its_ensemble() {
    let mut model = real_model();
    model.image_size = ImageSize::new(65535, 65535);
    assert_refused(&model);
    // The same for a model whose channels do not match its bases' width.
    let mut model = real_model();
    model.channels = Channels::Rgb;
    assert_refused(&model);
}

/// Decoding `model` fails as a damaged object, named by its key. (The reason its checks
/// gave is lost on the way: postcard reports a failed `try_from` as a bare
/// deserialisation error.)
fn assert_refused(model: &Model) {
    let err = round_trip(model).unwrap_err();
    let chain = error_chain(&err);
    assert!(
        matches!(err, mltrain_workflow::Error::Corrupt { ref key, .. } if key == "models/m.model"),
        "{chain}"
    );
}

/// [`Rows`] with its matrix in stored form, to hold one that `Matrix` would refuse. `Rows`
/// is this crate's own type, with no unchecked form; the test checks first that this copy
/// encodes as `Rows` does.
#[derive(Serialize)]
struct RowsData {
    features: MatrixData,
    labels: Vec<u32>,
}

/// A share of projected rows whose matrix holds fewer values than its shape decoded, and
/// the rf stage's `fit` indexed past them (fuzz `object_decode`, the core bug
/// `matrix_with_fewer_values_than_its_shape` seen through the rf stage).
#[test]
fn rows_with_fewer_values_than_their_shape() {
    let whole = Rows {
        features: Matrix::from_vec(2, 3, vec![0.5; 6]).unwrap(),
        labels: vec![0, 1],
    };
    let whole_data = RowsData {
        features: MatrixData {
            rows: 2,
            cols: 3,
            data: vec![0.5; 6],
        },
        labels: vec![0, 1],
    };
    assert_eq!(
        format::encode(Kind::Rows, &whole_data).unwrap(),
        format::encode(Kind::Rows, &whole).unwrap(),
        "RowsData no longer has the layout of Rows"
    );

    let data = RowsData {
        features: MatrixData {
            rows: 2,
            cols: 3,
            data: vec![0.5],
        },
        labels: vec![0, 1],
    };
    let bytes = format::encode(Kind::Rows, &data).unwrap();
    let err = objects::decode::<Rows>("outputs/r1/pca-0/share-0", &bytes).unwrap_err();
    assert!(
        error_chain(&err).contains("outputs/r1/pca-0/share-0"),
        "{}",
        error_chain(&err)
    );
}

/// An rf input with a fan-out of 2^60 PCA functions and forests once passed `check()`:
/// `Params::forest_index` then summed `forests_of` over every earlier PCA function, so the
/// stage spun for ~2^60 steps before it read its share. `check()` now refuses it.
#[test]
fn rf_input_with_a_huge_fan_out() {
    let json = br#"{"run_id": "r1", "pca_index": 1152921504606846974, "share_index": 0,
        "share": "s", "n_classes": 2,
        "params": {"prefix": "data", "num_pca": 1152921504606846975, "num_rf": 1152921504606846975,
            "test": {"holdout": 0.2}, "components": 10, "trees": 100, "max_depth": 10,
            "min_samples_split": 5, "seed": 0, "resize": null}}"#;
    let input: mltrain_workflow::stages::RfInput = serde_json::from_slice(json).unwrap();
    // Refused before anything is counted: the fan-out is over the limit of functions.
    let err = input.params.check().unwrap_err();
    assert!(
        matches!(
            err,
            mltrain_workflow::Error::InvalidArgument { name: "NUM_RF", .. }
        ),
        "{err}"
    );
}
