//! The one error type of the exporter.

/// Why a model cannot be exported: its parts disagree with each other. A model that
/// `mltrain predict` accepts never does this; the checks keep a damaged one from becoming
/// a graph that computes something else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model names a different number of classes than its forests vote for.
    #[error("the model names {names} classes, its forests vote for {classes}")]
    ClassNames {
        /// Number of class names.
        names: usize,
        /// Number of classes of the ensemble.
        classes: usize,
    },

    /// The model's image size and channels do not give the number of features its PCA
    /// bases take.
    #[error(
        "{width}x{height} images with {channels} channels are {pixels} values, the model's bases take {features}"
    )]
    InputSize {
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
        /// Levels per pixel (1 or 3).
        channels: usize,
        /// `width × height × channels`.
        pixels: usize,
        /// Features per row of every PCA basis.
        features: usize,
    },
}
