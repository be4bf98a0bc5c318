//! The run report: what validation measured, written as JSON next to the run's outputs and
//! printed by `mltrain run --json`.

use serde::{Deserialize, Serialize};

use mltrain_core::image::{Channels, ImageSize};

use crate::params::Params;

/// Wall time of each stage, in seconds (fan-out stages: from first start to last finish).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    pub partition: f64,
    pub pca: f64,
    pub rf: f64,
    pub validation: f64,
}

/// Scores of one class on the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    /// Test images of this class.
    pub support: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: String,
    /// Share of test images the ensemble classified correctly.
    pub accuracy: f64,
    pub train_images: usize,
    pub test_images: usize,
    pub classes: Vec<String>,
    pub per_class: Vec<ClassReport>,
    /// `confusion[true][predicted]`, in class order.
    pub confusion: Vec<Vec<u64>>,
    pub params: Params,
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
    pub forests: usize,
    pub model_key: String,
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
