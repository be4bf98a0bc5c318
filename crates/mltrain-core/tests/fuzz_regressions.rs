//! Inputs the fuzz targets (`fuzz/`) found, kept as tests so `cargo test --workspace` runs
//! them. Each stored object here passes the envelope's checks (magic, kind, version, length,
//! CRC-32), and once made a stage panic, loop or exhaust memory; the payload's own checks
//! now refuse it as a format error, which every test asserts.
//!
//! The objects are written through the stored types themselves (`mltrain_core::unchecked`,
//! this crate's `unchecked` feature), so they encode exactly what a damaged or hostile object
//! holds, whatever the stored layout becomes.
//! Ignored tests are open bugs; the reason names the fix.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use mltrain_core::ensemble::{Ensemble, Member};
use mltrain_core::forest::{Forest, ForestParams};
use mltrain_core::format::{self, Kind};
use mltrain_core::pca::{Pca, PcaParams};
use mltrain_core::unchecked::{EnsembleData, MatrixData, PcaData};
use mltrain_core::{Error, Matrix};
use serde::Serialize;

/// An object of `kind` holding `value`, decoded as `T`.
fn stored<T: serde::de::DeserializeOwned>(
    kind: Kind,
    value: &impl Serialize,
) -> mltrain_core::Result<T> {
    let bytes = format::encode(kind, value).expect("encodes");
    format::decode(kind, &bytes)
}

/// A real two-class basis (3 → 2 features) and forest (2 features), as a run makes them.
fn real_pair() -> (Pca, Forest) {
    let rows: Vec<Vec<f32>> = (0..20)
        .map(|i| {
            let c = (i % 2) as f32;
            vec![c * 4.0 + i as f32 * 0.01, c, 1.0 - (i % 3) as f32 * 0.1]
        })
        .collect();
    let labels: Vec<u32> = (0..20).map(|i| i % 2).collect();
    let x = Matrix::from_rows(&rows).unwrap();
    let (pca, z) = PcaParams::new(2).fit_transform(&x).unwrap();
    let forest = ForestParams::new()
        .n_trees(2)
        .min_samples_split(2)
        .seed(3)
        .fit(&z, &labels, 2)
        .unwrap();
    (pca, forest)
}

/// The real objects decode and work: the baseline the damaged ones below differ from.
#[test]
fn real_objects_decode_and_predict() {
    let (pca, forest) = real_pair();
    let pca: Pca = stored(Kind::PcaBasis, &pca).unwrap();
    let forest: Forest = stored(Kind::Forest, &forest).unwrap();
    let z = pca.transform(&Matrix::zeros(2, 3)).unwrap();
    assert_eq!(forest.predict_proba(&z).unwrap().cols(), 2);
}

/// fuzz `object_decode`, first input: a stored matrix whose `rows × cols` is not the number
/// of values it holds. Training a forest on it (what the rf stage does with a share of
/// rows) indexed past the values.
#[test]
fn matrix_with_fewer_values_than_its_shape() {
    let m = MatrixData {
        rows: 2,
        cols: 3,
        data: vec![1.0],
    };
    let err = stored::<Matrix>(Kind::Rows, &m).unwrap_err();
    assert!(
        matches!(err, Error::Shape { .. } | Error::Format { .. }),
        "{err}"
    );
}

/// fuzz `object_decode`, crash-7c1c6117 (a forest's payload read as a PCA basis): the
/// components are 2 wide, the mean 1. `transform` of rows as wide as the mean panicked in
/// faer (`from_row_major_slice`: slice length does not match the shape).
#[test]
fn pca_with_components_wider_than_its_mean() {
    let data = PcaData {
        mean: vec![0.5],
        components: Matrix::from_vec(1, 2, vec![1.0, 0.0]).unwrap(),
        explained_variance: vec![1.0],
        total_variance: 1.0,
    };
    let err = stored::<Pca>(Kind::PcaBasis, &data).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
}

/// fuzz `object_decode`, oom-7b23f677: a basis of zero features and a huge number of
/// components (all empty, so the matrix is consistent) in a few bytes. `transform` sized
/// its output by the component count: out of memory, or "capacity overflow" here.
#[test]
fn pca_with_more_components_than_variances() {
    let data = PcaData {
        mean: vec![],
        components: Matrix::from_vec(usize::MAX >> 1, 0, vec![]).unwrap(),
        explained_variance: vec![],
        total_variance: 0.0,
    };
    let err = stored::<Pca>(Kind::PcaBasis, &data).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
}

/// fuzz `object_decode`, crash-4df26700 (inside a model): an ensemble whose members name a
/// basis that does not exist, or whose stored class count disagrees with its forests.
/// `predict_proba` indexed past the bases; with 0 classes, `predict` returned class 0 of 0.
#[test]
fn ensemble_that_new_would_refuse() {
    let (pca, forest) = real_pair();
    let missing_basis = EnsembleData {
        bases: vec![pca.clone()],
        members: vec![Member {
            basis: 1,
            forest: forest.clone(),
        }],
        n_classes: 2,
    };
    let no_classes = EnsembleData {
        bases: vec![pca],
        members: vec![Member { basis: 0, forest }],
        n_classes: 0,
    };
    for data in [missing_basis, no_classes] {
        // Refused, though the reason is lost: postcard reports a failed `try_from` as a
        // bare deserialisation error.
        let err = stored::<Ensemble>(Kind::Model, &data).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
    }
}
