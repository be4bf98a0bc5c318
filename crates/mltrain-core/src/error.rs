//! The one error type of the compute crate.

/// Everything that can go wrong in pure compute: bad parameters, bad shapes, undecodable bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of its valid range; `name` is the parameter as a user knows it.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },

    /// Data has the wrong shape for the operation (rows, columns, labels).
    #[error("shape mismatch: expected {expected}, found {found}")]
    Shape { expected: String, found: String },

    /// Not enough data to fit a model.
    #[error("not enough data: {reason}")]
    NotEnoughData { reason: String },

    /// A label is not below the number of classes.
    #[error("label {label} is out of range for {n_classes} classes")]
    LabelOutOfRange { label: u32, n_classes: usize },

    /// Bytes that should be an image could not be decoded.
    #[error("not a decodable image: {reason}")]
    ImageDecode { reason: String },

    /// An image is larger than the decoder accepts (decompression-bomb guard).
    #[error("image of {width}x{height} pixels exceeds the limit of {limit} pixels")]
    ImageTooLarge { width: u32, height: u32, limit: u64 },

    /// An image does not have the size the data set has.
    #[error(
        "image is {width}x{height}, but the data set's images are {expected_width}x{expected_height} (pass --resize WxH to resize them all)"
    )]
    ImageSize {
        width: u32,
        height: u32,
        expected_width: u32,
        expected_height: u32,
    },

    /// An encoded object (model, intermediate) is truncated, corrupted or of another kind or version.
    #[error("invalid {kind} object: {reason}")]
    Format { kind: &'static str, reason: String },
}

/// Result with the compute crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
