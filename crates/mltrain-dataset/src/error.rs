use std::path::PathBuf;

/// Everything that can go wrong reading, checking or writing digits.
///
/// Messages name the file or the numbers at fault; underlying causes are kept as
/// [`std::error::Error::source`] rather than repeated in the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An IDX file is malformed: `what` names the file (`"images file"`, `"labels file"`,
    /// or `"IDX files"` when they disagree with each other).
    #[error("{what}: {reason}")]
    Idx {
        /// Which file is wrong.
        what: &'static str,
        /// Why, with the numbers involved.
        reason: String,
    },
    /// An IDX file starts like gzip but does not decompress.
    #[error("{what}: corrupt gzip stream")]
    Gzip {
        /// Which file is wrong.
        what: &'static str,
        /// The decompressor's complaint.
        source: std::io::Error,
    },
    /// Reading or writing a file failed.
    #[error("{}: I/O error", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's complaint.
        source: std::io::Error,
    },
    /// The PNG encoder refused an image.
    #[error("cannot encode a {width}x{height} PNG")]
    Png {
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
        /// The encoder's complaint.
        source: png::EncodingError,
    },
    /// A pixel buffer does not hold `width * height` bytes per image.
    #[error("{width}x{height} images need {expected} pixel bytes, got {actual}")]
    Shape {
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
        /// The byte count the dimensions call for.
        expected: u64,
        /// The byte count supplied.
        actual: usize,
    },
    /// A request for digits `skip..skip + count` runs past the `len` digits there are.
    #[error("cannot take {count} digits after skipping {skip}: there are only {len}")]
    Range {
        /// First digit requested.
        skip: usize,
        /// Number of digits requested.
        count: usize,
        /// Number of digits available.
        len: usize,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
