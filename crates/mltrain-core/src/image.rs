//! Image bytes to grey feature rows.
//!
//! [`FeatureDecoder`] turns PNG or JPEG bytes into one row of `f32` features (grey levels
//! scaled to `0..=1`), reusing its buffers from image to image. PNG goes straight through the
//! `png` crate (the common case, and the fast one); JPEG and resizing go through `image`.
//! Colour is converted to grey with the ITU-R 601 luma weights (as PIL's `L` mode and OpenCV).

use std::io::Cursor;

use crate::error::{Error, Result};
use crate::matrix::{Feature, FeatureRows};

/// Default cap on decoded pixels per image: 4096 × 4096. Guards against decompression bombs.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

/// `i / 255` for every grey level, correctly rounded (a multiply by `1 / 255` is not).
pub(crate) const GREY_LEVELS: [f32; 256] = {
    let mut t = [0.0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as f32 / 255.0;
        i += 1;
    }
    t
};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The size of an image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ImageSize {
    pub width: u32,
    pub height: u32,
}

impl ImageSize {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Number of pixels, which is also the number of features of a decoded image.
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

impl std::fmt::Display for ImageSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl std::str::FromStr for ImageSize {
    type Err = String;

    /// Parses `WxH`, e.g. `28x28`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("`{s}` is not of the form WxH (e.g. 28x28)"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|&v| (1..=65535).contains(&v))
        };
        match (parse(w), parse(h)) {
            (Some(width), Some(height)) => Ok(Self { width, height }),
            _ => Err(format!(
                "`{s}` is not of the form WxH with sizes from 1 to 65535"
            )),
        }
    }
}

/// Decodes images into feature rows, reusing its buffers.
#[derive(Debug, Clone)]
pub struct FeatureDecoder {
    max_pixels: u64,
    resize: bool,
    raw: Vec<u8>,
    grey: Vec<u8>,
}

impl Default for FeatureDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureDecoder {
    pub fn new() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
            resize: false,
            raw: Vec::new(),
            grey: Vec::new(),
        }
    }

    /// Refuses images with more pixels than this before decoding their pixel data.
    pub fn max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels;
        self
    }

    /// Resize every image to the expected size instead of refusing other sizes.
    pub fn resize(mut self, resize: bool) -> Self {
        self.resize = resize;
        self
    }

    /// Reads only the size of an image (PNG header, or the full decode for other formats).
    pub fn probe_size(&mut self, bytes: &[u8]) -> Result<ImageSize> {
        if bytes.starts_with(PNG_SIGNATURE) {
            let decoder = png::Decoder::new(Cursor::new(bytes));
            let reader = decoder.read_info().map_err(|e| decode_error(&e))?;
            let info = reader.info();
            return Ok(ImageSize::new(info.width, info.height));
        }
        self.decode_grey(bytes)
    }

    /// Decodes `bytes` to grey levels, kept in the decoder; returns the image's size.
    pub fn decode_grey(&mut self, bytes: &[u8]) -> Result<ImageSize> {
        if bytes.starts_with(PNG_SIGNATURE) {
            self.decode_png(bytes)
        } else {
            self.decode_other(bytes)
        }
    }

    /// The grey levels of the last image decoded by [`decode_grey`](Self::decode_grey).
    pub fn grey(&self) -> &[u8] {
        &self.grey
    }

    /// Decodes `bytes` into `out` (length `expected.pixels()`), as grey levels in `0..=1`.
    /// An image of another size is resized if the decoder was built with `resize(true)`,
    /// and refused with [`Error::ImageSize`] otherwise.
    pub fn decode_features(
        &mut self,
        bytes: &[u8],
        expected: ImageSize,
        out: &mut [f32],
    ) -> Result<()> {
        self.decode_sized(bytes, expected, out.len())?;
        for (o, &p) in out.iter_mut().zip(&self.grey) {
            *o = p.value();
        }
        Ok(())
    }

    /// [`decode_features`](Self::decode_features), keeping the grey levels as bytes (`0` to
    /// `255`) in `out`.
    pub fn decode_levels(
        &mut self,
        bytes: &[u8],
        expected: ImageSize,
        out: &mut [u8],
    ) -> Result<()> {
        self.decode_sized(bytes, expected, out.len())?;
        out.copy_from_slice(&self.grey);
        Ok(())
    }

    /// Decodes `bytes` to exactly `expected.pixels()` grey levels in `self.grey`, resizing
    /// or refusing another size; `out_len` is the caller's row length, checked first.
    fn decode_sized(&mut self, bytes: &[u8], expected: ImageSize, out_len: usize) -> Result<()> {
        if out_len != expected.pixels() {
            return Err(Error::Shape {
                expected: format!("{} features for {expected} images", expected.pixels()),
                found: format!("{out_len} features"),
            });
        }
        let size = self.decode_grey(bytes)?;
        if size != expected {
            if !self.resize {
                return Err(Error::ImageSize {
                    width: size.width,
                    height: size.height,
                    expected_width: expected.width,
                    expected_height: expected.height,
                });
            }
            let img =
                image::GrayImage::from_raw(size.width, size.height, std::mem::take(&mut self.grey))
                    .ok_or_else(|| Error::ImageDecode {
                        reason: "pixel buffer does not match the image size".into(),
                    })?;
            let resized = image::imageops::resize(
                &img,
                expected.width,
                expected.height,
                image::imageops::FilterType::Triangle,
            );
            self.grey = resized.into_raw();
        }
        Ok(())
    }

    fn check_pixels(&self, width: u32, height: u32) -> Result<()> {
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(Error::ImageTooLarge {
                width,
                height,
                limit: self.max_pixels,
            });
        }
        Ok(())
    }

    fn decode_png(&mut self, bytes: &[u8]) -> Result<ImageSize> {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().map_err(|e| decode_error(&e))?;
        let (width, height) = (reader.info().width, reader.info().height);
        self.check_pixels(width, height)?;
        // png 0.18.1 accepts a PLTE chunk whose length is not a multiple of 3 and then panics
        // expanding it (image-rs/image-png#694, fixed upstream but not released). The spec
        // makes such a chunk invalid, so it is refused here, before `next_frame`.
        if let Some(palette) = reader.info().palette.as_deref()
            && palette.len() % 3 != 0
        {
            return Err(Error::ImageDecode {
                reason: format!(
                    "PNG palette (PLTE) is {} bytes, not a whole number of RGB entries",
                    palette.len()
                ),
            });
        }
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| Error::ImageDecode {
                reason: "PNG output size overflows".into(),
            })?;
        self.raw.resize(size, 0);
        let frame = reader
            .next_frame(&mut self.raw)
            .map_err(|e| decode_error(&e))?;
        let data = &self.raw[..frame.buffer_size()];
        let pixels = width as usize * height as usize;
        self.grey.clear();
        match frame.color_type {
            png::ColorType::Grayscale => self.grey.extend_from_slice(&data[..pixels]),
            png::ColorType::GrayscaleAlpha => self.grey.extend(data.chunks_exact(2).map(|p| p[0])),
            png::ColorType::Rgb => self
                .grey
                .extend(data.chunks_exact(3).map(|p| luma(p[0], p[1], p[2]))),
            png::ColorType::Rgba => self
                .grey
                .extend(data.chunks_exact(4).map(|p| luma(p[0], p[1], p[2]))),
            // EXPAND turns palettes into RGB(A); this arm is only reached on a decoder bug.
            png::ColorType::Indexed => {
                return Err(Error::ImageDecode {
                    reason: "indexed PNG was not expanded".into(),
                });
            }
        }
        if self.grey.len() != pixels {
            return Err(Error::ImageDecode {
                reason: "PNG pixel data is shorter than its header says".into(),
            });
        }
        Ok(ImageSize::new(width, height))
    }

    fn decode_other(&mut self, bytes: &[u8]) -> Result<ImageSize> {
        let format = image::guess_format(bytes).map_err(|_| Error::ImageDecode {
            reason: "unknown image format (PNG and JPEG are accepted)".into(),
        })?;
        if format != image::ImageFormat::Jpeg {
            return Err(Error::ImageDecode {
                reason: format!("{format:?} images are not accepted (PNG and JPEG are)"),
            });
        }
        let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(self.max_pixels.saturating_mul(4));
        reader.limits(limits);
        let (width, height) = reader.into_dimensions().map_err(|e| Error::ImageDecode {
            reason: e.to_string(),
        })?;
        self.check_pixels(width, height)?;
        let img =
            image::load_from_memory_with_format(bytes, format).map_err(|e| Error::ImageDecode {
                reason: e.to_string(),
            })?;
        self.grey = img.into_luma8().into_raw();
        Ok(ImageSize::new(width, height))
    }
}

/// Decodes every image of `images` into one row of a `images.len() × expected.pixels()`
/// matrix, in parallel when the `rayon` feature is on. On failure, returns the index of the
/// first image (in input order) that failed, with its error, so the caller can name it.
pub fn decode_batch<B: AsRef<[u8]> + Sync>(
    images: &[B],
    expected: ImageSize,
    decoder: &FeatureDecoder,
) -> std::result::Result<crate::Matrix, (usize, Error)> {
    fetch_and_decode_batch(images.len(), expected, decoder, |i| {
        Ok::<_, std::convert::Infallible>(&images[i])
    })
    .map_err(|(i, e)| match e {
        BatchError::Fetch(never) => match never {},
        BatchError::Decode(e) => (i, e),
    })
}

/// Why [`fetch_and_decode_batch`] stopped at an image.
#[derive(Debug)]
pub enum BatchError<E> {
    /// Fetching its bytes failed.
    Fetch(E),
    /// Its bytes are not an image of the expected size (nor one to resize).
    Decode(Error),
}

/// Fetches image `i` with `fetch(i)` and decodes it into row `i` of an `n ×
/// expected.pixels()` matrix, for every `i < n`, each task fetching then decoding its own
/// images (in parallel with the `rayon` feature): reading files overlaps decoding them
/// instead of preceding it. On failure, returns the lowest failing index with its error.
pub fn fetch_and_decode_batch<B, E, F>(
    n: usize,
    expected: ImageSize,
    decoder: &FeatureDecoder,
    fetch: F,
) -> std::result::Result<crate::Matrix, (usize, BatchError<E>)>
where
    B: AsRef<[u8]>,
    E: Send,
    F: Fn(usize) -> std::result::Result<B, E> + Sync,
{
    let data = decode_rows(n, expected, decoder, fetch, FeatureDecoder::decode_features)?;
    Ok(crate::Matrix::from_vec(n, expected.pixels(), data).expect("n rows of the image size"))
}

/// [`fetch_and_decode_batch`] into [`GreyImages`]: a byte per pixel instead of an `f32`.
pub fn fetch_and_decode_levels<B, E, F>(
    n: usize,
    expected: ImageSize,
    decoder: &FeatureDecoder,
    fetch: F,
) -> std::result::Result<GreyImages, (usize, BatchError<E>)>
where
    B: AsRef<[u8]>,
    E: Send,
    F: Fn(usize) -> std::result::Result<B, E> + Sync,
{
    let data = decode_rows(n, expected, decoder, fetch, FeatureDecoder::decode_levels)?;
    Ok(GreyImages {
        rows: n,
        cols: expected.pixels(),
        data,
    })
}

/// The batch decoding behind both public forms: `decode` writes one image into its row.
fn decode_rows<T, B, E, F>(
    n: usize,
    expected: ImageSize,
    decoder: &FeatureDecoder,
    fetch: F,
    decode: fn(&mut FeatureDecoder, &[u8], ImageSize, &mut [T]) -> Result<()>,
) -> std::result::Result<Vec<T>, (usize, BatchError<E>)>
where
    T: Copy + Default + Send,
    B: AsRef<[u8]>,
    E: Send,
    F: Fn(usize) -> std::result::Result<B, E> + Sync,
{
    let d = expected.pixels();
    let mut out = vec![T::default(); n * d];
    if d == 0 {
        return Ok(out);
    }
    // Chunks of rows share one decoder (and its buffers) per task.
    const CHUNK: usize = 64;
    let work = |(c, rows): (usize, &mut [T])| -> std::result::Result<(), (usize, BatchError<E>)> {
        let mut dec = decoder.clone();
        for (r, row) in rows.chunks_exact_mut(d).enumerate() {
            let i = c * CHUNK + r;
            let bytes = fetch(i).map_err(|e| (i, BatchError::Fetch(e)))?;
            decode(&mut dec, bytes.as_ref(), expected, row)
                .map_err(|e| (i, BatchError::Decode(e)))?;
        }
        Ok(())
    };
    #[cfg(feature = "rayon")]
    let results: Vec<_> = {
        use rayon::prelude::*;
        out.par_chunks_mut(CHUNK * d)
            .enumerate()
            .map(work)
            .collect()
    };
    #[cfg(not(feature = "rayon"))]
    let results: Vec<_> = out.chunks_mut(CHUNK * d).enumerate().map(work).collect();
    // Results are in chunk order, so the first error is the lowest failing index.
    results
        .into_iter()
        .collect::<std::result::Result<Vec<()>, _>>()?;
    Ok(out)
}

/// Decoded images as rows of grey levels, a byte per pixel: a quarter of the memory of the
/// same rows as `f32` features. What reads them through [`FeatureRows`] converts each level
/// as it reads it ([`Feature::value`]), to the value
/// [`FeatureDecoder::decode_features`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyImages {
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

impl GreyImages {
    /// Images of `cols` pixels from their levels, row after row; `None` if `data` is not
    /// `rows × cols` long.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<u8>) -> Option<Self> {
        (rows.checked_mul(cols) == Some(data.len())).then_some(Self { rows, cols, data })
    }

    /// The levels of image `i`.
    pub fn row(&self, i: usize) -> &[u8] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Every image as `f32` features in `0..=1`.
    pub fn to_features(&self) -> crate::Matrix {
        let data = self.data.iter().map(|p| p.value()).collect();
        crate::Matrix::from_vec(self.rows, self.cols, data).expect("rows × cols values")
    }
}

impl FeatureRows for GreyImages {
    type Value = u8;

    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn values(&self) -> &[u8] {
        &self.data
    }
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    // ITU-R 601-2 in fixed point, rounded: 0.299 R + 0.587 G + 0.114 B.
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 32768) >> 16) as u8
}

fn decode_error(e: &png::DecodingError) -> Error {
    Error::ImageDecode {
        reason: format!("PNG: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    fn png_bytes(width: u32, height: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(data).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn grey_png_to_scaled_features() {
        let bytes = png_bytes(2, 2, png::ColorType::Grayscale, &[0, 51, 255, 102]);
        let mut out = [0.0f32; 4];
        FeatureDecoder::new()
            .decode_features(&bytes, ImageSize::new(2, 2), &mut out)
            .unwrap();
        assert_eq!(out, [0.0, 0.2, 1.0, 0.4]);
    }

    #[test]
    fn colour_png_becomes_luma() {
        let bytes = png_bytes(
            3,
            1,
            png::ColorType::Rgb,
            &[255, 0, 0, 0, 255, 0, 10, 10, 10],
        );
        let mut d = FeatureDecoder::new();
        assert_eq!(d.decode_grey(&bytes).unwrap(), ImageSize::new(3, 1));
        assert_eq!(d.grey(), &[76, 150, 10]);
    }

    #[test]
    fn jpeg_is_accepted() {
        let img =
            image::GrayImage::from_fn(8, 8, |x, _| image::Luma([if x < 4 { 0 } else { 250 }]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .unwrap();
        let mut d = FeatureDecoder::new();
        assert_eq!(d.decode_grey(&bytes).unwrap(), ImageSize::new(8, 8));
        assert!(d.grey()[0] < 30 && d.grey()[7] > 220, "{:?}", d.grey());
    }

    #[test]
    fn other_sizes_are_refused_or_resized() {
        let bytes = png_bytes(4, 4, png::ColorType::Grayscale, &[200; 16]);
        let mut out = [0.0f32; 4];
        let err = FeatureDecoder::new()
            .decode_features(&bytes, ImageSize::new(2, 2), &mut out)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::ImageSize {
                width: 4,
                height: 4,
                expected_width: 2,
                expected_height: 2
            }
        ));
        FeatureDecoder::new()
            .resize(true)
            .decode_features(&bytes, ImageSize::new(2, 2), &mut out)
            .unwrap();
        for v in out {
            approx::assert_abs_diff_eq!(v, 200.0 / 255.0, epsilon = 1e-6);
        }
    }

    #[test]
    fn garbage_and_bombs_are_refused() {
        let mut d = FeatureDecoder::new();
        assert!(matches!(
            d.decode_grey(b"hello, world"),
            Err(Error::ImageDecode { .. })
        ));
        let mut truncated = png_bytes(4, 4, png::ColorType::Grayscale, &[7; 16]);
        truncated.truncate(truncated.len() - 20);
        assert!(matches!(
            d.decode_grey(&truncated),
            Err(Error::ImageDecode { .. })
        ));
        let big = png_bytes(64, 64, png::ColorType::Grayscale, &[0; 64 * 64]);
        let err = FeatureDecoder::new()
            .max_pixels(1000)
            .decode_grey(&big)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::ImageTooLarge {
                width: 64,
                height: 64,
                limit: 1000
            }
        ));
    }

    /// A 2×1 indexed PNG whose palette has `entries` RGB entries, then `extra` stray bytes
    /// (its chunk length and CRC fixed up, so only the length's remainder is wrong).
    fn indexed_png(entries: usize, extra: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 2, 1);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        let palette: Vec<u8> = (0..entries * 3).map(|i| (i * 40) as u8).collect();
        enc.set_palette(palette);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0, 1]).unwrap();
        w.finish().unwrap();
        let at = out.windows(4).position(|w| w == b"PLTE").unwrap() - 4;
        let len = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        let mut body = out[at + 4..at + 8 + len].to_vec();
        body.extend((0..extra).map(|i| i as u8));
        let mut chunk = ((len + extra) as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(&body);
        chunk.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out.splice(at..at + 12 + len, chunk);
        out
    }

    #[test]
    fn indexed_png_expands_to_luma() {
        let mut d = FeatureDecoder::new();
        assert_eq!(
            d.decode_grey(&indexed_png(2, 0)).unwrap(),
            ImageSize::new(2, 1)
        );
        assert_eq!(d.grey(), &[luma(0, 40, 80), luma(120, 160, 200)]);
    }

    /// Found by the `image_decode` fuzz target: png 0.18.1 panics on a palette whose length
    /// is not a multiple of 3. It must be a decode error naming the palette.
    #[test]
    fn palette_of_partial_entries_is_refused() {
        for extra in [1, 2] {
            let bytes = indexed_png(2, extra);
            let err = FeatureDecoder::new().decode_grey(&bytes).unwrap_err();
            assert!(
                matches!(&err, Error::ImageDecode { reason } if reason.contains("PLTE")),
                "{err}"
            );
            let mut out = [0.0; 4];
            assert!(
                FeatureDecoder::new()
                    .resize(true)
                    .decode_features(&bytes, ImageSize::new(2, 2), &mut out)
                    .is_err()
            );
        }
    }

    #[test]
    fn batch_decodes_in_order_and_names_the_failure() {
        let imgs: Vec<Vec<u8>> = (0..150u8)
            .map(|i| png_bytes(2, 1, png::ColorType::Grayscale, &[i, 255 - i]))
            .collect();
        let m = decode_batch(&imgs, ImageSize::new(2, 1), &FeatureDecoder::new()).unwrap();
        assert_eq!(m.rows(), 150);
        assert_eq!(m.row(149), &[149.0 / 255.0, 106.0 / 255.0]);
        let mut bad = imgs.clone();
        bad[70] = b"junk".to_vec();
        bad[140] = b"junk".to_vec();
        let (i, err) =
            decode_batch(&bad, ImageSize::new(2, 1), &FeatureDecoder::new()).unwrap_err();
        assert_eq!(i, 70);
        assert!(matches!(err, Error::ImageDecode { .. }));
    }

    #[test]
    fn levels_batch_keeps_the_bytes_of_the_features_batch() {
        let imgs: Vec<Vec<u8>> = (0..100u8)
            .map(|i| png_bytes(2, 1, png::ColorType::Grayscale, &[i, 255 - i]))
            .collect();
        let size = ImageSize::new(2, 1);
        let fetch = |i: usize| Ok::<_, std::convert::Infallible>(&imgs[i]);
        let grey = fetch_and_decode_levels(100, size, &FeatureDecoder::new(), fetch).unwrap();
        assert_eq!(grey.row(99), &[99, 156]);
        let features = decode_batch(&imgs, size, &FeatureDecoder::new()).unwrap();
        assert_eq!(grey.to_features(), features);
        let mut bad = imgs.clone();
        bad[42] = b"junk".to_vec();
        let fetch = |i: usize| Ok::<_, std::convert::Infallible>(&bad[i]);
        let (i, err) =
            fetch_and_decode_levels(100, size, &FeatureDecoder::new(), fetch).unwrap_err();
        assert_eq!(i, 42);
        assert!(matches!(err, BatchError::Decode(Error::ImageDecode { .. })));
    }

    #[test]
    fn image_size_parses() {
        assert_eq!(
            "28x28".parse::<ImageSize>().unwrap(),
            ImageSize::new(28, 28)
        );
        assert_eq!(
            "64X32".parse::<ImageSize>().unwrap(),
            ImageSize::new(64, 32)
        );
        for bad in ["28", "0x3", "ax3", "3x", "70000x1"] {
            assert!(bad.parse::<ImageSize>().is_err(), "{bad}");
        }
    }
}
