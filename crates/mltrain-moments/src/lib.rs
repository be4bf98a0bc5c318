//! Exact second moments of rows of 8-bit levels (image pixels): the column sums `Σ xᵢ` and
//! the products `Σ xᵢ·xⱼ` over every row, as integers.
//!
//! A covariance built from exact moments does not depend on the order in which the
//! products were summed, nor on the machine. mltrain's PCA builds the covariance of images
//! from them in its WebAssembly module ([`Moments::covariance`]).
//!
//! [`Moments::add_rows`] sums the products with an integer kernel: on WebAssembly with
//! `simd128` it multiplies eight 16-bit levels and adds them pairwise in one instruction
//! (`i32x4.dot_i16x8_s`), twice the work per instruction of an `f32` product there, which
//! has neither wider vectors nor a fused multiply-add. Elsewhere the same kernel runs on
//! plain arrays, lane for lane, which is how the tests and the fuzz target check it; native
//! builds of mltrain have faster `f32` products (AVX2, AVX-512) and do not use it.

mod kernel;

/// The column sums and lower-triangle column products of rows of levels, added so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moments {
    cols: usize,
    rows: u64,
    sums: Vec<u64>,
    /// `Σ xᵢ·xⱼ` for `j ≤ i`, row `i` of the triangle after row `i − 1`.
    products: Vec<u64>,
}

impl Moments {
    /// No rows yet, over `cols` columns.
    pub fn new(cols: usize) -> Self {
        Self {
            cols,
            rows: 0,
            sums: vec![0; cols],
            products: vec![0; triangle(cols)],
        }
    }

    /// The bytes [`Moments::new`] allocates for `cols` columns, and [`Moments::add_rows`]
    /// for its blocks, for a memory plan.
    pub fn bytes(cols: usize) -> u64 {
        let cols = cols as u64;
        cols * 8 + cols * (cols + 1) / 2 * 8 + kernel::block_bytes(cols)
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows added.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// `Σ xᵢ` over the rows added.
    pub fn sum(&self, i: usize) -> u64 {
        self.sums[i]
    }

    /// `Σ xᵢ·xⱼ` over the rows added (either order of `i` and `j`).
    pub fn product(&self, i: usize, j: usize) -> u64 {
        let (i, j) = if j > i { (j, i) } else { (i, j) };
        self.products[triangle(i) + j]
    }

    /// Adds the rows of `levels` (row-major, `stride` levels a row, a whole number of rows)
    /// over the columns `kept` (each below `stride`; column `c` of these moments is level
    /// `kept[c]` of a row).
    ///
    /// # Panics
    /// If `kept` does not have [`Moments::cols`] entries, one is not below `stride`, or
    /// `levels` is not a whole number of rows.
    pub fn add_rows(&mut self, levels: &[u8], stride: usize, kept: &[usize]) {
        assert_eq!(kept.len(), self.cols, "one kept column per column");
        assert!(
            kept.iter().all(|&j| j < stride),
            "kept columns inside a row"
        );
        assert!(stride > 0 && levels.len() % stride == 0, "whole rows");
        for row in levels.chunks_exact(stride) {
            for (s, &j) in self.sums.iter_mut().zip(kept) {
                *s += u64::from(row[j]);
            }
        }
        kernel::add_products(levels, stride, kept, &mut self.products);
        self.rows += (levels.len() / stride) as u64;
    }

    /// The sample covariance of columns `i` and `j` of the levels scaled by `scale` (a level
    /// `x` counting as `x · scale`): `(Σ xᵢxⱼ − Σ xᵢ · Σ xⱼ / n) / (n − 1) · scale²`, in a
    /// fixed order of `f64` operations, so the same on every machine. `None` before two rows.
    pub fn covariance(&self, i: usize, j: usize, scale: f64) -> Option<f64> {
        if self.rows < 2 {
            return None;
        }
        let n = self.rows as f64;
        let centred = self.product(i, j) as f64 - self.sum(i) as f64 * self.sum(j) as f64 / n;
        Some(centred / (n - 1.0) * scale * scale)
    }
}

/// Entries of the lower triangle, diagonal included, of a square of side `n`.
fn triangle(n: usize) -> usize {
    n * (n + 1) / 2
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    /// Levels from a small xorshift, with runs of 0 and 255 (the extremes overflow first).
    fn levels(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match i % 11 {
                    0 => 255,
                    1 => 0,
                    _ => s as u8,
                }
            })
            .collect()
    }

    fn naive(levels: &[u8], stride: usize, kept: &[usize]) -> Moments {
        let mut m = Moments::new(kept.len());
        for row in levels.chunks_exact(stride) {
            for (c, &i) in kept.iter().enumerate() {
                m.sums[c] += u64::from(row[i]);
                for (e, &j) in kept[..=c].iter().enumerate() {
                    m.products[triangle(c) + e] += u64::from(row[i]) * u64::from(row[j]);
                }
            }
            m.rows += 1;
        }
        m
    }

    #[test]
    fn the_kernel_sums_exactly_what_the_definition_does() {
        // Shapes around every edge of the kernel: tiles, row groups, blocks, few columns.
        for (rows, stride) in [
            (1, 1),
            (7, 5),
            (8, 3),
            (9, 4),
            (300, 17),
            (1030, 40),
            (513, 64),
        ] {
            let data = levels(rows * stride, (rows * 31 + stride) as u64);
            let kept: Vec<usize> = (0..stride).filter(|j| j % 5 != 2).collect();
            let mut m = Moments::new(kept.len());
            m.add_rows(&data, stride, &kept);
            assert_eq!(m, naive(&data, stride, &kept), "{rows} × {stride}");
        }
    }

    #[test]
    fn the_extremes_do_not_overflow_a_lane() {
        // Every level 255 over several blocks of rows: the largest products there are.
        let (rows, stride) = (5 * 512 + 77, 3);
        let data = vec![255u8; rows * stride];
        let mut m = Moments::new(stride);
        m.add_rows(&data, stride, &[0, 1, 2]);
        assert_eq!(m.product(2, 0), rows as u64 * 255 * 255);
        assert_eq!(m, naive(&data, stride, &[0, 1, 2]));
    }

    #[test]
    fn adding_in_parts_is_adding_at_once() {
        let (rows, stride) = (600, 12);
        let data = levels(rows * stride, 3);
        let kept: Vec<usize> = (0..stride).collect();
        let mut whole = Moments::new(stride);
        whole.add_rows(&data, stride, &kept);
        let mut parts = Moments::new(stride);
        for part in data.chunks(37 * stride) {
            parts.add_rows(part, stride, &kept);
        }
        assert_eq!(whole, parts);
    }

    #[test]
    fn covariance_is_the_sample_covariance() {
        // Columns (1, 2, 3) and (2, 4, 7): means 2 and 13/3.
        let data = [1u8, 2, 2, 4, 3, 7];
        let mut m = Moments::new(2);
        m.add_rows(&data, 2, &[0, 1]);
        assert_eq!(m.covariance(0, 0, 1.0), Some(1.0));
        let c01 = m.covariance(0, 1, 1.0).unwrap();
        assert!((c01 - 2.5).abs() < 1e-12, "{c01}");
        assert_eq!(m.covariance(1, 0, 0.5), Some(c01 * 0.25));
        assert_eq!(Moments::new(2).covariance(0, 0, 1.0), None);
    }
}
