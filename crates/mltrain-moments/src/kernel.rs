//! The products kernel: adds the lower triangle of `Xᵀ·X` over kept columns, for rows of
//! levels, a block of rows at a time.
//!
//! A block's columns are transposed into vectors of eight 16-bit levels (eight rows), and
//! the triangle is walked in tiles of [`TILE`] × [`TILE`] columns: each step loads
//! `2 · TILE` vectors and makes `TILE²` products, with `TILE²` accumulators and the
//! operands held in sixteen vector registers (what wasmtime's x86-64 code has). Each
//! accumulator lane sums two products a step, at most `2 · 255²` in all, for
//! `BLOCK_ROWS / 8` steps: `BLOCK_ROWS · 255² < 2³¹` keeps the `i32` lanes exact.

use lanes::{Acc, V, dot_add, pack, total, zero};

/// Rows per block: their columns (1 KiB each) stay near the core, and `512 · 255² < 2³¹`.
const BLOCK_ROWS: usize = 512;
/// Rows per vector.
const GROUP: usize = 8;
const GROUPS: usize = BLOCK_ROWS / GROUP;
/// Columns per side of a tile.
const TILE: usize = 3;
/// Steps of the product loop per iteration.
const UNROLL: usize = 2;

/// The bytes [`add_products`] allocates for `cols` columns.
pub(crate) fn block_bytes(cols: u64) -> u64 {
    let padded = cols.div_ceil(TILE as u64) * TILE as u64;
    padded * BLOCK_ROWS as u64 * 3
}

/// Adds `Σ xᵢ·xⱼ` (`j ≤ i`, over the columns `kept` of rows of `stride` levels) to
/// `products`, the packed lower triangle.
pub(crate) fn add_products(levels: &[u8], stride: usize, kept: &[usize], products: &mut [u64]) {
    let cols = kept.len();
    let tiles = cols.div_ceil(TILE);
    let padded = tiles * TILE;
    // Column-major levels of one block, then the same as vectors; padding stays zero, and
    // zero levels add nothing.
    let mut bytes = vec![0u8; padded * BLOCK_ROWS];
    let mut vectors: Vec<V> = vec![pack([0; GROUP]); padded * GROUPS];
    for block in levels.chunks(BLOCK_ROWS * stride) {
        let rows = block.len() / stride;
        // Whole loop iterations: the vectors past the rows are zero.
        let groups = rows.div_ceil(GROUP * UNROLL) * UNROLL;
        for (r, row) in block.chunks_exact(stride).enumerate() {
            for (c, &j) in kept.iter().enumerate() {
                bytes[c * BLOCK_ROWS + r] = row[j];
            }
        }
        if rows < BLOCK_ROWS {
            // The last block's rows past its end are the previous block's.
            for c in 0..cols {
                bytes[c * BLOCK_ROWS + rows..(c + 1) * BLOCK_ROWS].fill(0);
            }
        }
        for (column, out) in bytes
            .chunks_exact(BLOCK_ROWS)
            .zip(vectors.chunks_exact_mut(GROUPS))
        {
            for (eight, v) in column.chunks_exact(GROUP).zip(out.iter_mut()).take(groups) {
                let mut levels = [0u8; GROUP];
                levels.copy_from_slice(eight);
                *v = pack(levels);
            }
        }
        let column = |c: usize| &vectors[c * GROUPS..c * GROUPS + groups];
        for ti in 0..tiles {
            let a = [
                column(ti * TILE),
                column(ti * TILE + 1),
                column(ti * TILE + 2),
            ];
            for tj in 0..=ti {
                let b = [
                    column(tj * TILE),
                    column(tj * TILE + 1),
                    column(tj * TILE + 2),
                ];
                let acc = tile(a, b, groups);
                for (i, row) in acc.iter().enumerate() {
                    let ci = ti * TILE + i;
                    if ci >= cols {
                        break;
                    }
                    for (j, &lanes) in row.iter().enumerate() {
                        let cj = tj * TILE + j;
                        if cj > ci {
                            break;
                        }
                        products[ci * (ci + 1) / 2 + cj] += total(lanes);
                    }
                }
            }
        }
    }
}

/// The `TILE × TILE` products of columns `a` and `b` over `groups` vectors (a multiple of
/// [`UNROLL`]). Written out accumulator by accumulator (as arrays walked by iterators, they
/// lived in memory), and [`UNROLL`] steps a loop: wasmtime checks its time limit at every
/// loop header, where the accumulators go to memory and back; unrolled, that is once in
/// two steps (more steps a loop spill the operands they load ahead of time).
#[inline(always)]
fn tile(a: [&[V]; TILE], b: [&[V]; TILE], groups: usize) -> [[Acc; TILE]; TILE] {
    let (a0, a1, a2) = (&a[0][..groups], &a[1][..groups], &a[2][..groups]);
    let (b0, b1, b2) = (&b[0][..groups], &b[1][..groups], &b[2][..groups]);
    let (mut c00, mut c01, mut c02) = (zero(), zero(), zero());
    let (mut c10, mut c11, mut c12) = (zero(), zero(), zero());
    let (mut c20, mut c21, mut c22) = (zero(), zero(), zero());
    let mut step = |g: usize| {
        let (x0, x1, x2) = (a0[g], a1[g], a2[g]);
        let (y0, y1, y2) = (b0[g], b1[g], b2[g]);
        c00 = dot_add(c00, x0, y0);
        c01 = dot_add(c01, x0, y1);
        c02 = dot_add(c02, x0, y2);
        c10 = dot_add(c10, x1, y0);
        c11 = dot_add(c11, x1, y1);
        c12 = dot_add(c12, x1, y2);
        c20 = dot_add(c20, x2, y0);
        c21 = dot_add(c21, x2, y1);
        c22 = dot_add(c22, x2, y2);
    };
    for g in (0..groups).step_by(UNROLL) {
        step(g);
        step(g + 1);
    }
    [[c00, c01, c02], [c10, c11, c12], [c20, c21, c22]]
}

/// Eight 16-bit levels a vector, four 32-bit sums an accumulator: simd128's own types and
/// its pairwise dot product.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::{
        i32x4_add, i32x4_dot_i16x8, i32x4_splat, u16x8, u32x4_extract_lane, v128,
    };

    pub(super) type V = v128;
    pub(super) type Acc = v128;

    pub(super) fn zero() -> Acc {
        i32x4_splat(0)
    }

    pub(super) fn pack(x: [u8; 8]) -> V {
        let w = x.map(u16::from);
        u16x8(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7])
    }

    #[inline(always)]
    pub(super) fn dot_add(acc: Acc, a: V, b: V) -> Acc {
        // Levels are below 2¹⁵, so their signed products are theirs.
        i32x4_add(acc, i32x4_dot_i16x8(a, b))
    }

    pub(super) fn total(acc: Acc) -> u64 {
        u64::from(u32x4_extract_lane::<0>(acc))
            + u64::from(u32x4_extract_lane::<1>(acc))
            + u64::from(u32x4_extract_lane::<2>(acc))
            + u64::from(u32x4_extract_lane::<3>(acc))
    }
}

/// The same operations on arrays, lane for lane, where there is no simd128.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    pub(super) type V = [i16; 8];
    pub(super) type Acc = [i32; 4];

    pub(super) fn zero() -> Acc {
        [0; 4]
    }

    pub(super) fn pack(x: [u8; 8]) -> V {
        x.map(i16::from)
    }

    #[inline(always)]
    pub(super) fn dot_add(mut acc: Acc, a: V, b: V) -> Acc {
        for (l, lane) in acc.iter_mut().enumerate() {
            *lane += i32::from(a[2 * l]) * i32::from(b[2 * l])
                + i32::from(a[2 * l + 1]) * i32::from(b[2 * l + 1]);
        }
        acc
    }

    pub(super) fn total(acc: Acc) -> u64 {
        // Sums of products of levels are never negative.
        acc.iter().map(|&l| l as u32 as u64).sum()
    }
}
