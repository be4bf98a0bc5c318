//! Stored objects (`mltrain_core::format` envelopes) through the decoders of every stored
//! type, then through the code that uses them: a decoded object must be safe to use, not
//! only to decode.
//!
//! Each input is tried twice for each of the five kinds: as a whole envelope (header checks:
//! magic, kind, version, length, CRC-32), and as a bare payload wrapped in a valid header,
//! so that mutations reach the payload decoders instead of dying at the checksum.
//!
//! Uses, as the workflow makes them:
//! - PCA basis: `transform` of rows as wide as its mean (the pca and validation stages);
//! - forest: `predict_proba`, `predict` and `predict_proba_row` on rows of its width;
//! - projected rows: fitting a small forest on them (the rf stage);
//! - key list: scoring its labels against its classes (the validation stage);
//! - model: decoding-free `mltrain predict`: rows of its image size through the ensemble,
//!   then the class name of the best class.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrain_core::Matrix;
use mltrain_core::ensemble::Ensemble;
use mltrain_core::forest::{Forest, ForestParams};
use mltrain_core::pca::Pca;
use mltrain_workflow::objects::{self, KeyList, Model, Rows, Stored};

/// Widest feature rows built here. Stored widths come from images (28 × 28 = 784 for
/// MNIST); a wider object is still decoded, and used on rows of a capped width.
const MAX_WIDTH: usize = 1 << 14;

/// Largest number of classes scored (the confusion matrix is classes²).
const MAX_CLASSES: usize = 1 << 10;

fuzz_target!(|data: &[u8]| {
    check::<Pca>(data, use_pca);
    check::<Forest>(data, use_forest);
    check::<Rows>(data, use_rows);
    check::<KeyList>(data, use_key_list);
    check::<Model>(data, use_model);
});

fn check<T: Stored>(data: &[u8], use_it: fn(&T)) {
    if let Ok(value) = objects::decode::<T>("fuzz", data) {
        use_it(&value);
    }
    let wrapped = envelope(T::KIND, data);
    if let Ok(value) = objects::decode::<T>("fuzz", &wrapped) {
        use_it(&value);
        // What decodes re-encodes, and the re-encoding decodes.
        let again = mltrain_core::format::encode(T::KIND, &value).expect("re-encodes");
        objects::decode::<T>("fuzz", &again).expect("decodes what it encoded");
    }
}

/// The header tags of `mltrain_core::format` (private there; pinned by the corpus, whose
/// real objects fail to decode if these drift).
fn tag(kind: mltrain_core::format::Kind) -> &'static [u8; 4] {
    use mltrain_core::format::Kind;
    match kind {
        Kind::KeyList => b"KEYS",
        Kind::PcaBasis => b"PCAB",
        Kind::Rows => b"ROWS",
        Kind::Forest => b"FRST",
        Kind::Model => b"MODL",
        _ => b"????",
    }
}

/// A valid envelope around `payload`: magic, kind, version, length and CRC-32.
fn envelope(kind: mltrain_core::format::Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + payload.len());
    out.extend_from_slice(b"MLTR");
    out.extend_from_slice(tag(kind));
    out.extend_from_slice(&kind.version().to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Rows of width `cols` with values a real image and a corrupt request can both hold.
fn probe_rows(cols: usize) -> Matrix {
    const VALUES: [f32; 7] = [0.0, 1.0, 0.5, -3.0, 1e30, f32::NAN, f32::INFINITY];
    let data = (0..4 * cols)
        .map(|i| VALUES[i % VALUES.len()] * if i % 3 == 0 { 1.0 } else { 0.25 })
        .collect();
    Matrix::from_vec(4, cols, data).expect("4 × cols values")
}

// Shapes this target once found decoded and then crashing on use (regression tests in
// `crates/mltrain-{core,workflow}/tests/fuzz_regressions.rs`). Decoding now refuses them:
// the target asserts that no decoded object has one.

/// A `Matrix` deserialises without checking `rows × cols == data.len()`
/// (`core: matrix_with_fewer_values_than_its_shape`).
fn bad_matrix(m: &Matrix) -> bool {
    m.rows().checked_mul(m.cols()) != Some(m.as_slice().len())
}

/// A `Pca` deserialises without checking its shape: components as wide as its mean (at
/// least one feature), one variance per component
/// (`core: pca_with_components_wider_than_its_mean`, `pca_with_more_components_than_variances`).
fn bad_pca(pca: &Pca) -> bool {
    bad_matrix(pca.components())
        || pca.components().cols() != pca.n_features()
        || pca.n_features() == 0
        || pca.explained_variance().len() != pca.n_components()
}

/// An `Ensemble` deserialises without `Ensemble::new`'s checks: a member may name a basis
/// that does not exist, or the stored class count disagree with the forests'
/// (`core: ensemble_that_new_would_refuse`).
fn bad_ensemble(e: &Ensemble) -> bool {
    e.bases().iter().any(bad_pca)
        || Ensemble::new(e.bases().to_vec(), e.members().to_vec())
            .map_or(true, |checked| checked.n_classes() != e.n_classes())
}

/// A `Model` decodes without checking that it names every class of its ensemble and that
/// its image size is the ensemble's input width (`workflow:
/// model_with_fewer_class_names_than_classes`, `model_with_image_size_unlike_its_ensemble`).
fn bad_model(model: &Model) -> bool {
    model.classes.len() != model.ensemble.n_classes()
        || model.image_size.features(model.channels) != model.ensemble.n_features()
}

fn use_pca(pca: &Pca) {
    assert!(!bad_pca(pca), "decoded an inconsistent PCA basis");
    let _ = pca.explained_variance_ratio();
    let _ = (pca.mean(), pca.explained_variance(), pca.components());
    let d = pca.n_features().min(MAX_WIDTH);
    if let Ok(z) = pca.transform(&probe_rows(d)) {
        assert_eq!((z.rows(), z.cols()), (4, pca.n_components()));
    }
}

fn use_forest(forest: &Forest) {
    let (d, c) = (forest.n_features(), forest.n_classes());
    let x = probe_rows(d.min(MAX_WIDTH));
    let Ok(p) = forest.predict_proba(&x) else {
        assert!(d > MAX_WIDTH, "predict_proba refused rows of its own width");
        return;
    };
    assert_eq!((p.rows(), p.cols()), (4, c));
    let predicted = forest.predict(&x).expect("predict after predict_proba");
    assert!(predicted.iter().all(|&k| (k as usize) < c));
    let mut out = vec![0.0; c];
    forest.predict_proba_row(x.row(0), &mut out);
}

fn use_rows(rows: &Rows) {
    assert!(!bad_matrix(&rows.features), "decoded a matrix that does not fill its shape");
    let n_classes = rows
        .labels
        .iter()
        .max()
        .map_or(1, |&m| m as usize + 1)
        .min(MAX_CLASSES);
    let params = ForestParams::new()
        .n_trees(2)
        .max_depth(4)
        .min_samples_split(2)
        .seed(1);
    if let Ok(forest) = params.fit(&rows.features, &rows.labels, n_classes) {
        assert_eq!(forest.n_features(), rows.features.cols());
        use_forest(&forest);
    }
}

fn use_key_list(list: &KeyList) {
    let _ = list.image_size.features(list.channels);
    if list.classes.len() > MAX_CLASSES {
        return;
    }
    let labels: Vec<u32> = list.items.iter().map(|i| i.label).collect();
    if let Ok(e) = mltrain_core::metrics::evaluate(&labels, &labels, list.classes.len()) {
        assert_eq!(e.per_class.len(), list.classes.len());
    }
}

fn use_model(model: &Model) {
    let _ = model.params.check();
    let ensemble = &model.ensemble;
    assert!(!bad_ensemble(ensemble), "decoded an inconsistent ensemble");
    assert!(!bad_model(model), "decoded a model unlike its ensemble");
    let _ = (ensemble.bases(), ensemble.members());
    // `mltrain predict` decodes each image into `image_size.features(channels)` features.
    let d = model.image_size.features(model.channels);
    let x = probe_rows(d.min(MAX_WIDTH));
    let Ok(p) = ensemble.predict_proba(&x) else {
        assert!(d > MAX_WIDTH, "the ensemble refused rows of its own width");
        return;
    };
    assert_eq!((p.rows(), p.cols()), (4, ensemble.n_classes()));
    for row in p.iter_rows() {
        let best = mltrain_core::metrics::argmax(row);
        // What `mltrain predict` prints for the row.
        let _ = &model.classes[best];
    }
    let predicted = ensemble.predict(&x).expect("predict after predict_proba");
    assert!(
        predicted
            .iter()
            .all(|&k| (k as usize) < ensemble.n_classes())
    );
}
