//! The one error type of the compute crate.

/// Everything that can go wrong in pure compute: bad parameters, bad shapes, undecodable bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of its valid range; `name` is the parameter as a user knows it.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name, e.g. `n_trees`.
        name: &'static str,
        /// What is wrong with the value and which values are valid.
        reason: String,
    },

    /// Data has the wrong shape for the operation (rows, columns, labels).
    #[error("shape mismatch: expected {expected}, found {found}")]
    Shape {
        /// The shape the operation needs, in words.
        expected: String,
        /// The shape it was given.
        found: String,
    },

    /// Not enough data to fit a model.
    #[error("not enough data: {reason}")]
    NotEnoughData {
        /// What is missing, e.g. rows, classes or forests.
        reason: String,
    },

    /// A label is not below the number of classes.
    #[error("label {label} is out of range for {n_classes} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: u32,
        /// The number of classes; valid labels are `0..n_classes`.
        n_classes: usize,
    },

    /// Bytes that should be an image could not be decoded.
    #[error("not a decodable image: {reason}")]
    ImageDecode {
        /// The decoder's complaint, or why the bytes are not an image of a supported kind.
        reason: String,
    },

    /// An image is larger than the decoder accepts (decompression-bomb guard).
    #[error("image of {width}x{height} pixels exceeds the limit of {limit} pixels")]
    ImageTooLarge {
        /// Width in pixels, from the image's header.
        width: u32,
        /// Height in pixels, from the image's header.
        height: u32,
        /// The most pixels (width × height) the decoder accepts.
        limit: u64,
    },

    /// An image does not have the size the data set has.
    #[error(
        "image is {width}x{height}, but the data set's images are {expected_width}x{expected_height} (pass --resize WxH to resize them all)"
    )]
    ImageSize {
        /// This image's width in pixels.
        width: u32,
        /// This image's height in pixels.
        height: u32,
        /// The width in pixels of the data set's images.
        expected_width: u32,
        /// The height in pixels of the data set's images.
        expected_height: u32,
    },

    /// An encoded object (model, intermediate) is truncated, corrupted or of another kind or version.
    #[error("invalid {kind} object: {reason}")]
    Format {
        /// The kind of object read or written, e.g. `forest` or `PCA basis`.
        kind: &'static str,
        /// What is wrong: bad magic, another kind or version, a bad checksum or a failed check.
        reason: String,
    },
}

/// Result with the compute crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
