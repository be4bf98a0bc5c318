//! PNG's scanline filters (PNG specification, section 9), reversed for one byte per pixel.

/// Reverses PNG filter `filter` on one row of one byte per pixel, from `line` to `out`, with
/// `above` the unfiltered row above (zeros for the first). False for an unknown filter.
pub(crate) fn unfilter(filter: u8, line: &[u8], above: &[u8], out: &mut [u8]) -> bool {
    let rows = line.iter().zip(above).zip(out.iter_mut());
    match filter {
        0 => out.copy_from_slice(line),
        1 => {
            let mut left = 0u8;
            for (&x, o) in line.iter().zip(out.iter_mut()) {
                left = x.wrapping_add(left);
                *o = left;
            }
        }
        2 => rows.for_each(|((&x, &b), o)| *o = x.wrapping_add(b)),
        3 => {
            let mut left = 0u8;
            for ((&x, &b), o) in rows {
                left = x.wrapping_add(((u16::from(left) + u16::from(b)) / 2) as u8);
                *o = left;
            }
        }
        4 => {
            let (mut left, mut corner) = (0u8, 0u8);
            for ((&x, &b), o) in rows {
                left = x.wrapping_add(paeth(left, b, corner));
                corner = b;
                *o = left;
            }
        }
        _ => return false,
    }
    true
}

/// The PNG Paeth predictor of a byte from its left (`a`), upper (`b`) and upper-left (`c`)
/// neighbours, in stb_image's branch-free form (public domain): the same choice as the
/// specification's, with a shorter dependency on `a`, which each pixel of a row waits for.
pub(crate) fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (a, b, c) = (i16::from(a), i16::from(b), i16::from(c));
    let thresh = c * 3 - (a + b);
    let (lo, hi) = (a.min(b), a.max(b));
    let t0 = if hi <= thresh { lo } else { c };
    let t1 = if thresh <= lo { hi } else { t0 };
    t1 as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// stb_image's Paeth predictor is the specification's, for every input.
    #[test]
    fn paeth_matches_the_specification() {
        let spec = |a: u8, b: u8, c: u8| {
            let p = i16::from(a) + i16::from(b) - i16::from(c);
            let (pa, pb, pc) = (
                (p - i16::from(a)).abs(),
                (p - i16::from(b)).abs(),
                (p - i16::from(c)).abs(),
            );
            if pa <= pb && pa <= pc {
                a
            } else if pb <= pc {
                b
            } else {
                c
            }
        };
        for a in 0..=255 {
            for b in 0..=255 {
                for c in 0..=255 {
                    assert_eq!(paeth(a, b, c), spec(a, b, c), "{a} {b} {c}");
                }
            }
        }
    }

    /// An unknown filter type is refused, the five known ones are not.
    #[test]
    fn unknown_filter_is_refused() {
        let mut out = [0u8; 3];
        for filter in 0..=4 {
            assert!(unfilter(filter, &[1, 2, 3], &[4, 5, 6], &mut out));
        }
        for filter in 5..=255 {
            assert!(!unfilter(filter, &[1, 2, 3], &[4, 5, 6], &mut out));
        }
        assert!(unfilter(1, &[1, 2, 3], &[0; 3], &mut out));
        assert_eq!(out, [1, 3, 6]);
    }
}
