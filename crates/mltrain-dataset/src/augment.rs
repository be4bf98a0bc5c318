//! Extra training digits made by small random affine distortions of real ones.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Digits;

/// Largest shift, in pixels, along each axis.
const MAX_SHIFT: f32 = 2.0;
/// Largest rotation, in degrees, either way.
const MAX_ROTATION_DEGREES: f32 = 10.0;
/// Scale range: digits in MNIST vary about this much in size.
const MIN_SCALE: f32 = 0.9;
const MAX_SCALE: f32 = 1.1;

/// Makes `n` new digits from the digits at `sources`, taken round-robin (`sources[k %
/// sources.len()]` for the `k`th), each rotated (up to ±10°) and scaled (0.9–1.1) about
/// the image centre, then shifted (up to ±2 px per axis), with bilinear sampling and
/// black outside the original. Labels are kept.
///
/// The distortions come from a `ChaCha8Rng` seeded with `seed`, so the same `(digits,
/// sources, n, seed)` always gives the same digits. Empty `sources` give no digits.
///
/// # Panics
///
/// If an index in `sources` is not below `digits.len()`, or `digits.pixels` does not
/// match its dimensions (see [`Digits::check_shape`]).
pub fn augment(digits: &Digits, sources: &[usize], n: usize, seed: u64) -> Digits {
    if let Some(&bad) = sources.iter().find(|&&i| i >= digits.len()) {
        panic!(
            "augment: source index {bad} is out of range for {} digits",
            digits.len()
        );
    }
    let (width, height) = (digits.width as usize, digits.height as usize);
    let size = width * height;
    let n = if sources.is_empty() { 0 } else { n };

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pixels = vec![0; n * size];
    let mut labels = Vec::with_capacity(n);
    for k in 0..n {
        let source = sources[k % sources.len()];
        let transform = Affine::distortion(
            width,
            height,
            rng.random_range(-MAX_ROTATION_DEGREES..=MAX_ROTATION_DEGREES)
                .to_radians(),
            rng.random_range(MIN_SCALE..=MAX_SCALE),
            rng.random_range(-MAX_SHIFT..=MAX_SHIFT),
            rng.random_range(-MAX_SHIFT..=MAX_SHIFT),
        );
        let out = &mut pixels[k * size..(k + 1) * size];
        warp(digits.image(source), width, height, &transform, out);
        labels.push(digits.label(source));
    }
    Digits {
        width: digits.width,
        height: digits.height,
        pixels,
        labels,
    }
}

/// Maps an output pixel `(x, y)` to the source point it samples:
/// `(xx * x + xy * y + x0, yx * x + yy * y + y0)`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Affine {
    xx: f32,
    xy: f32,
    x0: f32,
    yx: f32,
    yy: f32,
    y0: f32,
}

impl Affine {
    /// The inverse of: rotate by `angle` (radians) and scale by `scale` about the image
    /// centre, then shift by `(dx, dy)`. Sampling needs the inverse, to find for each
    /// output pixel where it came from.
    fn distortion(width: usize, height: usize, angle: f32, scale: f32, dx: f32, dy: f32) -> Self {
        let (cx, cy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
        let (sin, cos) = angle.sin_cos();
        let k = scale.recip();
        // source = c + k * R(-angle) * (out - c - d)
        let (xx, xy, yx, yy) = (k * cos, k * sin, -k * sin, k * cos);
        let (ox, oy) = (-cx - dx, -cy - dy);
        Affine {
            xx,
            xy,
            x0: cx + xx * ox + xy * oy,
            yx,
            yy,
            y0: cy + yx * ox + yy * oy,
        }
    }
}

/// Resamples `src` (`width * height`, row-major) through `transform` into `out`.
fn warp(src: &[u8], width: usize, height: usize, transform: &Affine, out: &mut [u8]) {
    let t = transform;
    for (y, row) in out.chunks_exact_mut(width).take(height).enumerate() {
        let y = y as f32;
        let (row_x, row_y) = (t.xy * y + t.x0, t.yy * y + t.y0);
        for (x, pixel) in row.iter_mut().enumerate() {
            let x = x as f32;
            *pixel = bilinear(src, width, height, t.xx * x + row_x, t.yx * x + row_y);
        }
    }
}

/// Bilinear interpolation of `src` at `(sx, sy)`, treating everything outside as 0.
fn bilinear(src: &[u8], width: usize, height: usize, sx: f32, sy: f32) -> u8 {
    // `floor` is a libm call on baseline x86-64, and this runs per output pixel. Truncation
    // equals flooring for non-negative values, so offset by 2: points left of -2 land on
    // -2 or below, outside anyway. `as` saturates and maps NaN to 0 (so to -2, outside).
    let (left, top) = ((sx + 2.0) as isize - 2, (sy + 2.0) as isize - 2);
    let (w, h) = (width as isize, height as isize);
    if left < -1 || top < -1 || left >= w || top >= h {
        return 0;
    }
    let (fx, fy) = (sx - left as f32, sy - top as f32);
    let (upper_left, upper_right, lower_left, lower_right) =
        if left >= 0 && top >= 0 && left + 1 < w && top + 1 < h {
            // Inside: all four neighbours exist (most samples), no per-pixel bounds tests.
            let i = top as usize * width + left as usize;
            let (upper, lower) = (&src[i..i + 2], &src[i + width..i + width + 2]);
            (upper[0], upper[1], lower[0], lower[1])
        } else {
            let at = |x: isize, y: isize| {
                if (0..w).contains(&x) && (0..h).contains(&y) {
                    src[y as usize * width + x as usize]
                } else {
                    0
                }
            };
            (
                at(left, top),
                at(left + 1, top),
                at(left, top + 1),
                at(left + 1, top + 1),
            )
        };
    let [upper_left, upper_right, lower_left, lower_right] =
        [upper_left, upper_right, lower_left, lower_right].map(f32::from);
    let upper = upper_left + (upper_right - upper_left) * fx;
    let lower = lower_left + (lower_right - lower_left) * fx;
    let value = upper + (lower - upper) * fy;
    // A convex mix of bytes stays within 0..=255; the cast saturates any rounding excess.
    (value + 0.5) as u8
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;
    use crate::{BUNDLED_TRAIN, bundled_mnist};

    fn mean(pixels: &[u8]) -> f64 {
        pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / pixels.len() as f64
    }

    #[test]
    fn zero_distortion_is_the_identity() -> crate::Result<()> {
        let digits = bundled_mnist()?;
        let identity = Affine::distortion(28, 28, 0.0, 1.0, 0.0, 0.0);
        let mut out = vec![0; 784];
        for i in [0, 1, 9_999] {
            warp(digits.image(i), 28, 28, &identity, &mut out);
            assert_eq!(out, digits.image(i), "digit {i}");
        }
        // A whole-pixel shift moves the image and fills with black.
        let shift = Affine::distortion(3, 2, 0.0, 1.0, 1.0, 0.0);
        let mut out = [9; 6];
        warp(&[1, 2, 3, 4, 5, 6], 3, 2, &shift, &mut out);
        assert_eq!(out, [0, 1, 2, 0, 4, 5]);
        Ok(())
    }

    #[test]
    fn is_deterministic_and_keeps_labels() -> crate::Result<()> {
        let digits = bundled_mnist()?;
        let sources: Vec<usize> = BUNDLED_TRAIN.step_by(97).collect();
        let a = augment(&digits, &sources, 300, 7);
        let b = augment(&digits, &sources, 300, 7);
        let c = augment(&digits, &sources, 300, 8);
        assert_eq!((a.width, a.height, a.len()), (28, 28, 300));
        assert_eq!(a.pixels.len(), 300 * 784);
        assert_eq!((&a.pixels, &a.labels), (&b.pixels, &b.labels));
        assert_ne!(a.pixels, c.pixels, "another seed gives other distortions");
        for k in 0..a.len() {
            assert_eq!(a.label(k), digits.label(sources[k % sources.len()]));
        }
        assert_eq!(a.labels, c.labels);
        Ok(())
    }

    #[test]
    fn changes_pixels_but_not_overall_ink() -> crate::Result<()> {
        let digits = bundled_mnist()?;
        let sources: Vec<usize> = (0..200).collect();
        let augmented = augment(&digits, &sources, 200, 1);
        let changed = (0..200)
            .filter(|&k| augmented.image(k) != digits.image(sources[k]))
            .count();
        assert!(changed >= 195, "only {changed} of 200 digits changed");
        // Pixels are u8, so 0..=255 holds by type; check the warp kept digits visible.
        assert!((0..200).all(|k| augmented.image(k).iter().any(|&p| p > 128)));
        let original = mean(&digits.pixels[..200 * 784]);
        let distorted = mean(&augmented.pixels);
        assert!(
            (distorted - original).abs() < 0.15 * original,
            "mean intensity {distorted:.2} vs original {original:.2}"
        );
        Ok(())
    }

    #[test]
    fn empty_sources_give_no_digits() -> crate::Result<()> {
        let digits = bundled_mnist()?;
        let none = augment(&digits, &[], 10, 0);
        assert!(none.is_empty() && none.pixels.is_empty());
        assert_eq!((none.width, none.height), (28, 28));
        Ok(())
    }

    #[test]
    #[should_panic(expected = "source index 10000 is out of range")]
    fn out_of_range_sources_panic() {
        let digits = bundled_mnist().expect("bundled digits decode");
        augment(&digits, &[10_000], 1, 0);
    }
}
