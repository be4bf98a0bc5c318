//! `mltrain_moments::Moments::add_rows` against the definition, on any shape of rows.
//!
//! Input layout: a byte `stride − 1` (1 to 256 levels a row), a byte `skip` (column `j` is
//! left out when `(j + skip) % 5 == 0`), then the levels (the whole rows that fit). The
//! kernel's tiles, row groups, blocks and padding must sum exactly what the plain sums do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrain_moments::Moments;

fuzz_target!(|data: &[u8]| {
    let [stride, skip, levels @ ..] = data else {
        return;
    };
    let stride = usize::from(*stride) + 1;
    let kept: Vec<usize> = (0..stride)
        .filter(|j| (j + usize::from(*skip)) % 5 != 0)
        .collect();
    let rows = levels.len() / stride;
    let levels = &levels[..rows * stride];
    let mut moments = Moments::new(kept.len());
    moments.add_rows(levels, stride, &kept);
    assert_eq!(moments.rows(), rows as u64);
    for (c, &i) in kept.iter().enumerate() {
        let sum: u64 = levels.chunks_exact(stride).map(|r| u64::from(r[i])).sum();
        assert_eq!(moments.sum(c), sum, "sum of column {i}");
        for (e, &j) in kept[..=c].iter().enumerate() {
            let product: u64 = levels
                .chunks_exact(stride)
                .map(|r| u64::from(r[i]) * u64::from(r[j]))
                .sum();
            assert_eq!(moments.product(c, e), product, "product of columns {i} and {j}");
        }
    }
});
