//! The PNG container: chunks, the header, the image data, and the rows.

use crate::Error;
use crate::filter::unfilter;
use crate::inflate::Inflater;

/// The eight bytes every PNG starts with.
pub const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Default cap on decoded pixels per image: 4096 × 4096.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

/// Decodes 8-bit greyscale PNGs, reusing its buffers and zlib tables from image to image;
/// see the [crate documentation](crate).
///
/// Cloning gives a decoder with the same limit and empty buffers and tables.
#[derive(Debug)]
pub struct GreyPngDecoder {
    max_pixels: u64,
    inflater: Inflater,
    /// The image data of PNGs split over several IDAT chunks.
    idat: Vec<u8>,
    /// The filtered rows, each with its filter type byte.
    raw: Vec<u8>,
    /// A row of zeros: the row above the first.
    zeros: Vec<u8>,
}

impl Default for GreyPngDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for GreyPngDecoder {
    fn clone(&self) -> Self {
        Self::new().max_pixels(self.max_pixels)
    }
}

impl GreyPngDecoder {
    /// A decoder with the limit [`DEFAULT_MAX_PIXELS`].
    pub fn new() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
            inflater: Inflater::new(),
            idat: Vec::new(),
            raw: Vec::new(),
            zeros: Vec::new(),
        }
    }

    /// Sets the largest `width × height` the decoder accepts; larger images are an error
    /// ([`Error::TooLarge`]) before anything is decompressed.
    pub fn max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels;
        self
    }

    /// Decodes `bytes` into `out` (one byte per pixel, row by row; its old contents are
    /// replaced) and returns `Some((width, height))`.
    ///
    /// `Ok(None)` declines: `bytes` is not an 8-bit greyscale, non-interlaced PNG of IHDR,
    /// IDAT and IEND chunks only, or something in it (a CRC, a length, the zlib stream, a
    /// filter type) is not as this decoder fully checks. Decode such bytes with a general
    /// decoder, which gives the pixels or the error. `out` is then unspecified.
    pub fn decode(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<Option<(u32, u32)>, Error> {
        if !bytes.starts_with(PNG_SIGNATURE) {
            return Ok(None);
        }
        let Some((b"IHDR", ihdr, mut at)) = png_chunk(bytes, PNG_SIGNATURE.len()) else {
            return Ok(None);
        };
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        // Bit depth 8, colour type 0 (grey), compression 0, filter method 0, no interlace.
        if ihdr.len() != 13 || ihdr[8..] != [8, 0, 0, 0, 0] {
            return Ok(None);
        }
        let (width, height) = (be32(&ihdr[0..4]), be32(&ihdr[4..8]));
        if !(1..=i32::MAX as u32).contains(&width) || !(1..=i32::MAX as u32).contains(&height) {
            return Ok(None);
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(Error::TooLarge {
                width,
                height,
                limit: self.max_pixels,
            });
        }
        // The image data: one IDAT chunk read in place, several joined.
        let (mut first, mut joined) = (None, false);
        loop {
            let Some((kind, data, next)) = png_chunk(bytes, at) else {
                return Ok(None);
            };
            at = next;
            match kind {
                b"IDAT" => match first {
                    None => first = Some(data),
                    Some(previous) => {
                        if !joined {
                            self.idat.clear();
                            self.idat.extend_from_slice(previous);
                            joined = true;
                        }
                        self.idat.extend_from_slice(data);
                    }
                },
                b"IEND" if data.is_empty() && at == bytes.len() => break,
                _ => return Ok(None),
            }
        }
        let Some(first) = first else {
            return Ok(None);
        };
        let zlib = if joined { &self.idat[..] } else { first };
        let (w, h) = (width as usize, height as usize);
        let Some(len) = h.checked_mul(w + 1) else {
            return Ok(None);
        };
        self.raw.resize(len, 0);
        if self.inflater.zlib(zlib, &mut self.raw).is_none() {
            return Ok(None);
        }
        out.resize(w * h, 0);
        self.zeros.resize(w, 0);
        for (y, line) in self.raw.chunks_exact(w + 1).enumerate() {
            let (done, rest) = out.split_at_mut(y * w);
            let above = if y == 0 {
                &self.zeros[..]
            } else {
                &done[(y - 1) * w..]
            };
            if !unfilter(line[0], &line[1..], above, &mut rest[..w]) {
                return Ok(None);
            }
        }
        Ok(Some((width, height)))
    }
}

/// The PNG chunk at `at`: its type, its data and where the next chunk starts, if it is
/// whole and its CRC right.
fn png_chunk(bytes: &[u8], at: usize) -> Option<(&[u8; 4], &[u8], usize)> {
    let header = bytes.get(at..at + 8)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if len > i32::MAX as u32 {
        return None;
    }
    let end = at + 8 + len as usize;
    let typed = bytes.get(at + 4..end)?;
    let crc = bytes.get(end..end + 4)?;
    if crc32fast::hash(typed) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return None;
    }
    let kind = typed[..4].try_into().ok()?;
    Some((kind, &typed[4..], end + 4))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {

    use super::*;
    use crate::testing::{assemble, chunks, grey_png, png_crate_grey};

    /// Real digits as `mltrain dataset` writes them (`fdeflate`'s fast mode).
    fn digit_pngs(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let d = mltrain_dataset::bundled_mnist().unwrap();
        (0..n)
            .map(|i| {
                let pixels = d.image(i).to_vec();
                (
                    mltrain_dataset::encode_png(d.width, d.height, &pixels).unwrap(),
                    pixels,
                )
            })
            .collect()
    }

    /// Images of several sizes: real digits, noise, flat and a gradient.
    fn test_images() -> Vec<(u32, u32, Vec<u8>)> {
        let mut images = Vec::new();
        let mut state = 0x1234_5678u32;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect()
        };
        for (w, h) in [(1, 1), (2, 3), (5, 3), (28, 28), (31, 17), (300, 40)] {
            images.push((w, h, noise(w as usize * h as usize)));
            images.push((w, h, vec![7; w as usize * h as usize]));
            images.push((
                w,
                h,
                (0..w * h)
                    .map(|i| ((i % w) * 255 / w.max(1)) as u8)
                    .collect(),
            ));
        }
        for (_, pixels) in digit_pngs(2) {
            images.push((28, 28, pixels));
        }
        images
    }

    const COMPRESSIONS: [png::Compression; 5] = [
        png::Compression::NoCompression,
        png::Compression::Fastest,
        png::Compression::Fast,
        png::Compression::Balanced,
        png::Compression::High,
    ];
    const FILTERS: [png::Filter; 6] = [
        png::Filter::NoFilter,
        png::Filter::Sub,
        png::Filter::Up,
        png::Filter::Avg,
        png::Filter::Paeth,
        png::Filter::Adaptive,
    ];

    /// Every 8-bit greyscale PNG the `png` crate writes (stored, fixed and dynamic Huffman
    /// blocks; every filter) is decoded, to the `png` crate's pixels, with one decoder kept
    /// across them all (its cached tables reused or replaced).
    #[test]
    fn matches_the_png_crate() {
        let mut decoder = GreyPngDecoder::new();
        let mut out = Vec::new();
        let mut block_types = [0; 4];
        for (w, h, pixels) in test_images() {
            for compression in COMPRESSIONS {
                for filter in FILTERS {
                    let bytes = grey_png(w, h, &pixels, compression, filter);
                    let idat = &chunks(&bytes)[1].1;
                    block_types[usize::from(idat[2] >> 1 & 3)] += 1;
                    let size = decoder.decode(&bytes, &mut out).unwrap();
                    assert_eq!(size, Some((w, h)), "{compression:?} {filter:?}");
                    assert_eq!(out, pixels, "{w}x{h} {compression:?} {filter:?}");
                    assert_eq!(out, png_crate_grey(&bytes).unwrap());
                }
            }
        }
        assert!(block_types[..3].iter().all(|&n| n > 0), "{block_types:?}");
    }

    /// Digits written by one encoder share their first block header: the decoder's kept
    /// tables serve them all, and a PNG of another encoder in between changes nothing.
    #[test]
    fn digits_of_one_encoder_decode_with_kept_tables() {
        let mut decoder = GreyPngDecoder::new();
        let mut out = Vec::new();
        let other = grey_png(3, 2, &[9; 6], png::Compression::High, png::Filter::Up);
        for (i, (bytes, pixels)) in digit_pngs(50).iter().enumerate() {
            assert_eq!(decoder.decode(bytes, &mut out).unwrap(), Some((28, 28)));
            assert_eq!(&out, pixels, "digit {i}");
            if i % 7 == 0 {
                assert_eq!(decoder.decode(&other, &mut out).unwrap(), Some((3, 2)));
                assert_eq!(out, [9; 6]);
            }
        }
    }

    /// Image data split over several IDAT chunks decodes the same.
    #[test]
    fn split_image_data_is_decoded() {
        let pixels: Vec<u8> = (0..28 * 28).map(|i| (i * 7 % 256) as u8).collect();
        let bytes = grey_png(
            28,
            28,
            &pixels,
            png::Compression::Balanced,
            png::Filter::Paeth,
        );
        let mut parts = chunks(&bytes);
        let idat = parts.remove(1).1;
        let (a, rest) = idat.split_at(1);
        let (b, c) = rest.split_at(rest.len() / 2);
        for (i, part) in [a, b, c].into_iter().enumerate() {
            parts.insert(1 + i, (*b"IDAT", part.to_vec()));
        }
        let split = assemble(&parts);
        let mut out = Vec::new();
        let mut decoder = GreyPngDecoder::new();
        assert_eq!(decoder.decode(&split, &mut out).unwrap(), Some((28, 28)));
        assert_eq!(out, pixels);
    }

    /// Damaged image data (each byte of the zlib stream changed, CRCs made right again, and
    /// every truncation) is declined or decoded to the `png` crate's very pixels; where the
    /// `png` crate fails, it is declined. Never other pixels, never a panic.
    #[test]
    fn damaged_image_data_is_declined_or_decoded_as_the_png_crate_does() {
        let (good, pixels) = digit_pngs(1).swap_remove(0);
        let mut decoder = GreyPngDecoder::new();
        let mut out = Vec::new();
        for compression in [png::Compression::Fast, png::Compression::Balanced] {
            let bytes = grey_png(28, 28, &pixels, compression, png::Filter::Adaptive);
            let parts = chunks(&bytes);
            let idat = &parts[1].1;
            let mut variants = Vec::new();
            for i in 0..idat.len() {
                for flip in [0x01u8, 0x10, 0x80, 0xff] {
                    let mut damaged = idat.clone();
                    damaged[i] ^= flip;
                    variants.push(damaged);
                }
            }
            for n in 0..idat.len() {
                variants.push(idat[..n].to_vec());
            }
            variants.push([idat.as_slice(), &[0]].concat());
            for data in variants {
                let mut p = parts.clone();
                p[1].1 = data;
                let png = assemble(&p);
                match (
                    decoder.decode(&png, &mut out).unwrap(),
                    png_crate_grey(&png),
                ) {
                    (Some(_), Ok(theirs)) => assert_eq!(out, theirs),
                    (None, _) => {}
                    (Some(_), Err(e)) => panic!("decoded what the png crate refuses: {e}"),
                }
                // The good images still decode after any damaged one.
                assert_eq!(decoder.decode(&good, &mut out).unwrap(), Some((28, 28)));
                assert_eq!(out, pixels);
                assert_eq!(decoder.decode(&bytes, &mut out).unwrap(), Some((28, 28)));
                assert_eq!(out, pixels);
            }
        }
    }

    /// Other kinds of PNG, extra chunks, bad CRCs and other bytes are declined.
    #[test]
    fn other_pngs_are_declined() {
        let mut decoder = GreyPngDecoder::new();
        let mut out = Vec::new();
        let grey = grey_png(2, 1, &[1, 2], png::Compression::Fast, png::Filter::Sub);
        let mut rgb = Vec::new();
        let mut enc = png::Encoder::new(&mut rgb, 1, 1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[1, 2, 3]).unwrap();
        w.finish().unwrap();
        let mut parts = chunks(&grey);
        parts.insert(1, (*b"gAMA", 45455u32.to_be_bytes().to_vec()));
        let with_gamma = assemble(&parts);
        let mut bad_crc = grey.clone();
        let at = bad_crc.len() - 13;
        bad_crc[at] ^= 1;
        let mut interlaced = chunks(&grey);
        interlaced[0].1[12] = 1;
        let interlaced = assemble(&interlaced);
        let mut no_idat = chunks(&grey);
        no_idat.remove(1);
        let no_idat = assemble(&no_idat);
        let trailing = [grey.as_slice(), b"x"].concat();
        for (name, bytes) in [
            ("rgb", &rgb[..]),
            ("gAMA", &with_gamma[..]),
            ("bad CRC", &bad_crc[..]),
            ("interlaced", &interlaced[..]),
            ("no IDAT", &no_idat[..]),
            ("bytes after IEND", &trailing[..]),
            ("truncated", &grey[..grey.len() - 1]),
            ("empty", &[][..]),
            ("signature only", PNG_SIGNATURE),
            ("JPEG", &[0xff, 0xd8, 0xff, 0xe0][..]),
        ] {
            assert_eq!(decoder.decode(bytes, &mut out).unwrap(), None, "{name}");
        }
        assert_eq!(decoder.decode(&grey, &mut out).unwrap(), Some((2, 1)));
        assert_eq!(out, [1, 2]);
    }

    /// The pixel limit is checked on the header, before decompressing.
    #[test]
    fn images_over_the_pixel_limit_are_refused() {
        let bytes = grey_png(4, 3, &[5; 12], png::Compression::Fast, png::Filter::Up);
        let mut out = Vec::new();
        let mut decoder = GreyPngDecoder::new().max_pixels(11);
        assert_eq!(
            decoder.decode(&bytes, &mut out),
            Err(Error::TooLarge {
                width: 4,
                height: 3,
                limit: 11
            })
        );
        let mut decoder = decoder.clone().max_pixels(12);
        assert_eq!(decoder.decode(&bytes, &mut out).unwrap(), Some((4, 3)));
        // A bomb: a header of 2^31 - 1 squared pixels with no data behind it.
        let mut parts = chunks(&bytes);
        parts[0].1[..8].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            GreyPngDecoder::new().decode(&assemble(&parts), &mut out),
            Err(Error::TooLarge { .. })
        ));
    }
}
