//! The run report: what validation measured, written as JSON next to the run's outputs and
//! printed by `mltrain run --json`.

use serde::{Deserialize, Serialize};

use mltrain_core::image::{Channels, ImageSize};

use crate::params::Params;

/// Wall time of each stage, in seconds (fan-out stages: from first start to last finish).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    /// The partition call: listing, dealing, probing the images, writing the key lists.
    pub partition: f64,
    /// The PCA functions (×N): decoding, fitting, projecting, writing the shares.
    pub pca: f64,
    /// The forests (×M).
    pub rf: f64,
    /// The validation call up to its scores, as it measured itself (writing the report and
    /// the model not included).
    pub validation: f64,
}

/// Scores of one class on the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// The class's name: its folder under the data prefix.
    pub class: String,
    /// Of the test images predicted as this class, the share that are; 0 when it is never predicted.
    pub precision: f64,
    /// Of this class's test images, the share predicted as it; 0 when it has none.
    pub recall: f64,
    /// Test images of this class.
    pub support: u64,
}

/// What a run measured and made: validation writes it as `report.json`, and the driver
/// returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The run, e.g. `20261121T235959.123Z-abcdef`.
    pub run_id: String,
    /// Share of test images the ensemble classified correctly.
    pub accuracy: f64,
    /// Images the forests were trained on, without those left out by `--skip-invalid`.
    pub train_images: usize,
    /// Test images scored, without those left out by `--skip-invalid`.
    pub test_images: usize,
    /// Class names, sorted: the order of `per_class` and of `confusion`'s rows and columns.
    pub classes: Vec<String>,
    /// Precision, recall and support of each class, in class order.
    pub per_class: Vec<ClassReport>,
    /// `confusion[true][predicted]`, in class order.
    pub confusion: Vec<Vec<u64>>,
    /// The parameters the run was started with.
    pub params: Params,
    /// Wall time of each stage.
    pub stages: StageTimes,
    /// From the driver's start to the end of validation.
    pub total_seconds: f64,
    /// Variance explained by the kept components, per PCA function.
    pub explained_variance_ratio: Vec<f32>,
    /// Components kept, per PCA function: fewer than asked when the data has fewer
    /// informative directions (then `warnings` says so).
    #[serde(default)]
    pub components: Vec<usize>,
    /// The channels the images were read with (`auto` resolved).
    #[serde(default)]
    pub channels: Channels,
    /// The size every image was read at.
    #[serde(default = "unknown_size")]
    pub image_size: ImageSize,
    /// What a user should know about this run's result.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Forests in the ensemble (`num_rf`).
    pub forests: usize,
    /// Key of the published model, `ml-training/models/<run-id>.model`.
    pub model_key: String,
    /// Key of this report, `ml-training/outputs/<run-id>/validation/report.json`.
    pub report_key: String,
    /// Files skipped as not images, images left out with `--skip-invalid`, and warnings
    /// about the classes.
    #[serde(default, skip_serializing_if = "crate::notes::DataNotes::is_empty")]
    pub data: crate::notes::DataNotes,
}

/// Reports written before the size was recorded read it as 0x0.
fn unknown_size() -> ImageSize {
    ImageSize::new(0, 0)
}
