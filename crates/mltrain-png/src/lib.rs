//! A fast decoder for the most common PNG of digits: 8-bit greyscale, not interlaced.
//!
//! [`GreyPngDecoder`] decodes a PNG made of IHDR, IDAT and IEND chunks only, 8-bit
//! greyscale and not interlaced, into one byte per pixel. It checks every CRC, the zlib
//! stream's Adler-32 and every length, and declines (`Ok(None)`) any other PNG and any it
//! does not fully check, for a general decoder such as the `png` crate to decode or
//! reject. On such images it gives the `png` crate's pixels exactly.
//!
//! It is faster than a general decoder on small images because it allocates nothing per
//! image once warm, and its zlib decoder keeps its Huffman tables from image to image:
//! PNGs written by one encoder with fixed settings often start with the same dynamic
//! Huffman header, which is then compared instead of decoded again.
//!
//! ```
//! use mltrain_png::GreyPngDecoder;
//!
//! // A 2 × 1 greyscale PNG (levels 0 and 255), filter type 0, in a stored zlib block.
//! let png: &[u8] = b"\x89PNG\r\n\x1a\n\
//!     \0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x01\x08\0\0\0\0\xd1\x49\x20\x56\
//!     \0\0\0\x0eIDAT\x78\x01\x01\x03\0\xfc\xff\0\0\xff\x01\x02\x01\0\xb7\x01\x2e\xf7\
//!     \0\0\0\0IEND\xae\x42\x60\x82";
//! let mut decoder = GreyPngDecoder::new();
//! let mut pixels = Vec::new();
//! assert_eq!(decoder.decode(png, &mut pixels)?, Some((2, 1)));
//! assert_eq!(pixels, [0, 255]);
//!
//! // Not a PNG this decoder takes: declined, for another decoder.
//! assert_eq!(decoder.decode(b"GIF89a", &mut pixels)?, None);
//! # Ok::<(), mltrain_png::Error>(())
//! ```

mod bits;
mod decoder;
mod filter;
mod huffman;
mod inflate;
mod tables;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use decoder::{DEFAULT_MAX_PIXELS, GreyPngDecoder, PNG_SIGNATURE};

/// Why a PNG this decoder takes cannot be decoded. Anything else is a decline, not an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The header's size exceeds the decoder's pixel limit (a decompression-bomb guard).
    #[error("image of {width}x{height} pixels exceeds the limit of {limit} pixels")]
    TooLarge {
        /// Width from the IHDR chunk.
        width: u32,
        /// Height from the IHDR chunk.
        height: u32,
        /// The decoder's limit, [`GreyPngDecoder::max_pixels`].
        limit: u64,
    },
}
