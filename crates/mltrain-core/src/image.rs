//! Image bytes to feature rows, grey or RGB.
//!
//! [`FeatureDecoder`] turns PNG or JPEG bytes into one row of features, reusing its buffers
//! from image to image: with [`Channels::Grey`] one level per pixel, with [`Channels::Rgb`]
//! three (red, green, blue) per pixel, in row-major height, width, channel order. Levels are
//! kept as bytes ([`ImageLevels`]) or scaled to `0..=1` as `f32`.
//!
//! With the default-on `fast-png` feature, an 8-bit greyscale PNG (the common case) takes
//! a fast path, [`mltrain_png::GreyPngDecoder`], which keeps its zlib tables from image to
//! image; every other PNG, and any the fast path declines, goes through the `png` crate (all
//! of them without the feature); JPEG and resizing go through `image`. Colour becomes grey with the ITU-R 601 luma weights (as PIL's `L` mode
//! and OpenCV); grey becomes RGB by repeating its level. Transparency is composited over a
//! white background in both modes, so a picture drawn only in the alpha channel (an icon)
//! is seen as a dark shape on white rather than lost.

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

/// How many levels a pixel contributes to a feature row.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    /// One grey level (ITU-R 601 luma of colour images).
    #[default]
    Grey,
    /// Red, green and blue levels (grey images repeat their level).
    Rgb,
}

impl Channels {
    /// Levels per pixel: 1 or 3.
    pub fn count(self) -> usize {
        match self {
            Channels::Grey => 1,
            Channels::Rgb => 3,
        }
    }

    /// The name users give it: `grey` or `rgb`.
    pub fn name(self) -> &'static str {
        match self {
            Channels::Grey => "grey",
            Channels::Rgb => "rgb",
        }
    }
}

impl std::fmt::Display for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How far apart (in levels of 255) a pixel's red, green and blue must be for an image to
/// count as coloured: JPEG's chroma noise on grey photographs stays below it.
pub const COLOUR_TOLERANCE: u8 = 8;

/// What [`FeatureDecoder::probe`] learns of an image: its size, and whether it has colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Width and height as stored, before any resizing.
    pub size: ImageSize,
    /// Some pixel's channels differ by more than [`COLOUR_TOLERANCE`]. Always false for a
    /// PNG whose header says grey, which is not decoded.
    pub colour: bool,
}

/// The size of an image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ImageSize {
    /// Pixels per row.
    pub width: u32,
    /// Number of rows of pixels.
    pub height: u32,
}

impl ImageSize {
    /// A `width × height` size.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Number of pixels, which is also the number of features of a decoded grey image.
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Number of features of a decoded image with `channels`.
    pub fn features(&self, channels: Channels) -> usize {
        self.pixels() * channels.count()
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
    channels: Channels,
    raw: Vec<u8>,
    grey: Vec<u8>,
    rgb: Vec<u8>,
    /// The 8-bit greyscale PNG fast path, its tables and buffers kept from image to image.
    #[cfg(feature = "fast-png")]
    grey_png: mltrain_png::GreyPngDecoder,
}

impl Default for FeatureDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureDecoder {
    /// A grey decoder that refuses other sizes and images over [`DEFAULT_MAX_PIXELS`].
    pub fn new() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
            resize: false,
            channels: Channels::Grey,
            raw: Vec::new(),
            grey: Vec::new(),
            rgb: Vec::new(),
            #[cfg(feature = "fast-png")]
            grey_png: mltrain_png::GreyPngDecoder::new().max_pixels(DEFAULT_MAX_PIXELS),
        }
    }

    /// Refuses images with more pixels than this before decoding their pixel data.
    pub fn max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels;
        #[cfg(feature = "fast-png")]
        {
            self.grey_png = std::mem::take(&mut self.grey_png).max_pixels(max_pixels);
        }
        self
    }

    /// Resize every image to the expected size instead of refusing other sizes.
    pub fn resize(mut self, resize: bool) -> Self {
        self.resize = resize;
        self
    }

    /// Decode to these channels (default: grey).
    pub fn channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }

    /// Reads an image's size and whether it has colour: from the header alone for a PNG
    /// whose colour type is grey, by decoding it otherwise.
    pub fn probe(&mut self, bytes: &[u8]) -> Result<Probe> {
        if bytes.starts_with(PNG_SIGNATURE) {
            let decoder = png::Decoder::new(Cursor::new(bytes));
            let reader = decoder.read_info().map_err(|e| decode_error(&e))?;
            let info = reader.info();
            if matches!(
                info.color_type,
                png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha
            ) {
                self.check_pixels(info.width, info.height)?;
                return Ok(Probe {
                    size: ImageSize::new(info.width, info.height),
                    colour: false,
                });
            }
        }
        let size = self.decode_rgb(bytes)?;
        let colour = self.rgb.chunks_exact(3).any(|p| {
            p[0].abs_diff(p[1]) > COLOUR_TOLERANCE || p[1].abs_diff(p[2]) > COLOUR_TOLERANCE
        });
        Ok(Probe { size, colour })
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

    /// Decodes `bytes` to RGB levels (three per pixel), kept in the decoder; returns the
    /// image's size.
    pub fn decode_rgb(&mut self, bytes: &[u8]) -> Result<ImageSize> {
        if bytes.starts_with(PNG_SIGNATURE) {
            self.decode_png_with(bytes, Channels::Rgb)
        } else {
            self.decode_other_with(bytes, Channels::Rgb)
        }
    }

    /// The RGB levels of the last image decoded by [`decode_rgb`](Self::decode_rgb).
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Decodes `bytes` into `out` (length `expected.features(channels)`), as levels in
    /// `0..=1`. An image of another size is resized if the decoder was built with
    /// `resize(true)`, and refused with [`Error::ImageSize`] otherwise.
    pub fn decode_features(
        &mut self,
        bytes: &[u8],
        expected: ImageSize,
        out: &mut [f32],
    ) -> Result<()> {
        let levels = self.decode_sized(bytes, expected, out.len())?;
        for (o, &p) in out.iter_mut().zip(levels) {
            *o = p.value();
        }
        Ok(())
    }

    /// [`decode_features`](Self::decode_features), keeping the levels as bytes (`0` to
    /// `255`) in `out`.
    pub fn decode_levels(
        &mut self,
        bytes: &[u8],
        expected: ImageSize,
        out: &mut [u8],
    ) -> Result<()> {
        let levels = self.decode_sized(bytes, expected, out.len())?;
        out.copy_from_slice(levels);
        Ok(())
    }

    /// Decodes `bytes` to exactly `expected.features(channels)` levels, resizing or refusing
    /// another size; `out_len` is the caller's row length, checked first.
    fn decode_sized(&mut self, bytes: &[u8], expected: ImageSize, out_len: usize) -> Result<&[u8]> {
        let channels = self.channels;
        if out_len != expected.features(channels) {
            return Err(Error::Shape {
                expected: format!(
                    "{} features for {expected} {channels} images",
                    expected.features(channels)
                ),
                found: format!("{out_len} features"),
            });
        }
        let size = match channels {
            Channels::Grey => self.decode_grey(bytes)?,
            Channels::Rgb => self.decode_rgb(bytes)?,
        };
        if size != expected {
            if !self.resize {
                return Err(Error::ImageSize {
                    width: size.width,
                    height: size.height,
                    expected_width: expected.width,
                    expected_height: expected.height,
                });
            }
            let mismatch = || Error::ImageDecode {
                reason: "pixel buffer does not match the image size".into(),
            };
            let (w, h) = (expected.width, expected.height);
            let filter = image::imageops::FilterType::Triangle;
            match channels {
                Channels::Grey => {
                    let img = image::GrayImage::from_raw(
                        size.width,
                        size.height,
                        std::mem::take(&mut self.grey),
                    )
                    .ok_or_else(mismatch)?;
                    self.grey = image::imageops::resize(&img, w, h, filter).into_raw();
                }
                Channels::Rgb => {
                    let img = image::RgbImage::from_raw(
                        size.width,
                        size.height,
                        std::mem::take(&mut self.rgb),
                    )
                    .ok_or_else(mismatch)?;
                    self.rgb = image::imageops::resize(&img, w, h, filter).into_raw();
                }
            }
        }
        Ok(match channels {
            Channels::Grey => &self.grey,
            Channels::Rgb => &self.rgb,
        })
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
        #[cfg(feature = "fast-png")]
        if let Some(size) = self.decode_grey8_png(bytes)? {
            return Ok(size);
        }
        self.decode_png_with(bytes, Channels::Grey)
    }

    /// The fast path for 8-bit greyscale PNGs into `self.grey`; `Ok(None)` leaves the PNG
    /// to the `png` crate, which decodes it or says what is wrong with it.
    #[cfg(feature = "fast-png")]
    fn decode_grey8_png(&mut self, bytes: &[u8]) -> Result<Option<ImageSize>> {
        match self.grey_png.decode(bytes, &mut self.grey) {
            Ok(size) => Ok(size.map(|(width, height)| ImageSize::new(width, height))),
            Err(mltrain_png::Error::TooLarge {
                width,
                height,
                limit,
            }) => Err(Error::ImageTooLarge {
                width,
                height,
                limit,
            }),
            Err(e) => Err(Error::ImageDecode {
                reason: e.to_string(),
            }),
        }
    }

    /// Decodes any PNG with the `png` crate into `self.grey` or `self.rgb`.
    fn decode_png_with(&mut self, bytes: &[u8], channels: Channels) -> Result<ImageSize> {
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
        let out = match channels {
            Channels::Grey => &mut self.grey,
            Channels::Rgb => &mut self.rgb,
        };
        out.clear();
        match (frame.color_type, channels) {
            (png::ColorType::Grayscale, Channels::Grey) => out.extend_from_slice(&data[..pixels]),
            (png::ColorType::Grayscale, Channels::Rgb) => {
                out.extend(data[..pixels].iter().flat_map(|&g| [g, g, g]));
            }
            (png::ColorType::GrayscaleAlpha, Channels::Grey) => {
                out.extend(data.chunks_exact(2).map(|p| over_white(p[0], p[1])));
            }
            (png::ColorType::GrayscaleAlpha, Channels::Rgb) => {
                out.extend(data.chunks_exact(2).flat_map(|p| {
                    let g = over_white(p[0], p[1]);
                    [g, g, g]
                }));
            }
            (png::ColorType::Rgb, Channels::Grey) => {
                out.extend(data.chunks_exact(3).map(|p| luma(p[0], p[1], p[2])));
            }
            (png::ColorType::Rgb, Channels::Rgb) => out.extend_from_slice(&data[..3 * pixels]),
            (png::ColorType::Rgba, Channels::Grey) => out.extend(data.chunks_exact(4).map(|p| {
                let a = p[3];
                luma(
                    over_white(p[0], a),
                    over_white(p[1], a),
                    over_white(p[2], a),
                )
            })),
            (png::ColorType::Rgba, Channels::Rgb) => {
                out.extend(data.chunks_exact(4).flat_map(|p| {
                    let a = p[3];
                    [
                        over_white(p[0], a),
                        over_white(p[1], a),
                        over_white(p[2], a),
                    ]
                }));
            }
            // EXPAND turns palettes into RGB(A); this arm is only reached on a decoder bug.
            (png::ColorType::Indexed, _) => {
                return Err(Error::ImageDecode {
                    reason: "indexed PNG was not expanded".into(),
                });
            }
        }
        if out.len() != pixels * channels.count() {
            return Err(Error::ImageDecode {
                reason: "PNG pixel data is shorter than its header says".into(),
            });
        }
        Ok(ImageSize::new(width, height))
    }

    fn decode_other(&mut self, bytes: &[u8]) -> Result<ImageSize> {
        self.decode_other_with(bytes, Channels::Grey)
    }

    /// Decodes a JPEG with the `image` crate into `self.grey` or `self.rgb`.
    fn decode_other_with(&mut self, bytes: &[u8], channels: Channels) -> Result<ImageSize> {
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
        match (channels, img) {
            (Channels::Grey, image::DynamicImage::ImageLuma8(grey)) => self.grey = grey.into_raw(),
            // The same ITU-R 601 weights as every other colour image (the `image` crate's own
            // grey conversion uses Rec. 709's).
            (Channels::Grey, img) => {
                let rgb = img.into_rgb8();
                self.grey.clear();
                self.grey
                    .extend(rgb.as_raw().chunks_exact(3).map(|p| luma(p[0], p[1], p[2])));
            }
            (Channels::Rgb, img) => self.rgb = img.into_rgb8().into_raw(),
        }
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
    .map_err(|failures| {
        let (i, e) = failures
            .into_iter()
            .next()
            .expect("a failed batch names a failure");
        match e {
            BatchError::Fetch(never) => match never {},
            BatchError::Decode(e) => (i, e),
        }
    })
}

/// Every image of a batch that failed, by index in increasing order, with why.
pub type BatchFailures<E> = Vec<(usize, BatchError<E>)>;

/// Why [`fetch_and_decode_batch`] could not use an image.
#[derive(Debug)]
pub enum BatchError<E> {
    /// Fetching its bytes failed.
    Fetch(E),
    /// Its bytes are not an image of the expected size (nor one to resize).
    Decode(Error),
}

/// Fetches image `i` with `fetch(i)` and decodes it into row `i` of an `n ×
/// expected.features(channels)` matrix, for every `i < n`, each task fetching then decoding its own
/// images (in parallel with the `rayon` feature): reading files overlaps decoding them
/// instead of preceding it. A failure does not stop the others: it returns every failing
/// index with its error, so that one run names every bad image.
pub fn fetch_and_decode_batch<B, E, F>(
    n: usize,
    expected: ImageSize,
    decoder: &FeatureDecoder,
    fetch: F,
) -> std::result::Result<crate::Matrix, BatchFailures<E>>
where
    B: AsRef<[u8]>,
    E: Send,
    F: Fn(usize) -> std::result::Result<B, E> + Sync,
{
    let data = decode_rows(n, expected, decoder, fetch, FeatureDecoder::decode_features)?;
    let d = expected.features(decoder.channels);
    Ok(crate::Matrix::from_vec(n, d, data).expect("n rows of the image size"))
}

/// [`fetch_and_decode_batch`] into [`ImageLevels`]: a byte per level instead of an `f32`.
pub fn fetch_and_decode_levels<B, E, F>(
    n: usize,
    expected: ImageSize,
    decoder: &FeatureDecoder,
    fetch: F,
) -> std::result::Result<ImageLevels, BatchFailures<E>>
where
    B: AsRef<[u8]>,
    E: Send,
    F: Fn(usize) -> std::result::Result<B, E> + Sync,
{
    let data = decode_rows(n, expected, decoder, fetch, FeatureDecoder::decode_levels)?;
    Ok(ImageLevels {
        rows: n,
        cols: expected.features(decoder.channels),
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
) -> std::result::Result<Vec<T>, BatchFailures<E>>
where
    T: Copy + Default + Send,
    B: AsRef<[u8]>,
    E: Send,
    F: Fn(usize) -> std::result::Result<B, E> + Sync,
{
    let d = expected.features(decoder.channels);
    let mut out = vec![T::default(); n * d];
    if d == 0 {
        return Ok(out);
    }
    // Chunks of rows share one decoder (and its buffers) per task.
    const CHUNK: usize = 64;
    let work = |(c, rows): (usize, &mut [T])| -> BatchFailures<E> {
        let mut dec = decoder.clone();
        let mut failed = Vec::new();
        for (r, row) in rows.chunks_exact_mut(d).enumerate() {
            let i = c * CHUNK + r;
            match fetch(i) {
                Ok(bytes) => {
                    if let Err(e) = decode(&mut dec, bytes.as_ref(), expected, row) {
                        failed.push((i, BatchError::Decode(e)));
                    }
                }
                Err(e) => failed.push((i, BatchError::Fetch(e))),
            }
        }
        failed
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
    // Results are in chunk order, so failures come in increasing index order.
    let failures: BatchFailures<E> = results.into_iter().flatten().collect();
    if failures.is_empty() {
        Ok(out)
    } else {
        Err(failures)
    }
}

/// Decoded images as rows of levels, a byte per pixel and channel: a quarter of the memory
/// of the same rows as `f32` features. What reads them through [`FeatureRows`] converts each level
/// as it reads it ([`Feature::value`]), to the value
/// [`FeatureDecoder::decode_features`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLevels {
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

impl ImageLevels {
    /// Images of `cols` levels from their levels, row after row; `None` if `data` is not
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

impl FeatureRows for ImageLevels {
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

/// A level with opacity `alpha`, composited over white.
fn over_white(level: u8, alpha: u8) -> u8 {
    let (v, a) = (u32::from(level), u32::from(alpha));
    ((v * a + 255 * (255 - a) + 127) / 255) as u8
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
    use mltrain_png::testing::{assemble, chunks, grey_png, png_crate_grey};

    /// A real digit's grey levels.
    fn digit() -> Vec<u8> {
        mltrain_dataset::bundled_mnist().unwrap().image(0).to_vec()
    }

    /// Every 8-bit greyscale PNG the `png` crate writes (stored, fixed and dynamic Huffman
    /// blocks; every filter) decodes to the `png` crate's pixels, with one decoder kept
    /// across them all, and so do the digits `mltrain dataset` writes.
    #[test]
    fn grey_pngs_decode_as_the_png_crate_does() {
        let mut decoder = FeatureDecoder::new();
        let pixels = digit();
        for compression in [
            png::Compression::NoCompression,
            png::Compression::Fastest,
            png::Compression::Fast,
            png::Compression::Balanced,
            png::Compression::High,
        ] {
            for filter in [
                png::Filter::NoFilter,
                png::Filter::Sub,
                png::Filter::Up,
                png::Filter::Avg,
                png::Filter::Paeth,
                png::Filter::Adaptive,
            ] {
                let bytes = grey_png(28, 28, &pixels, compression, filter);
                assert_eq!(decoder.decode_grey(&bytes).unwrap(), ImageSize::new(28, 28));
                assert_eq!(decoder.grey(), &pixels[..], "{compression:?} {filter:?}");
                assert_eq!(decoder.grey(), png_crate_grey(&bytes).unwrap());
            }
        }
        let bytes = mltrain_dataset::encode_png(28, 28, &pixels).unwrap();
        assert_eq!(decoder.decode_grey(&bytes).unwrap(), ImageSize::new(28, 28));
        assert_eq!(decoder.grey(), &pixels[..]);
    }

    /// Damaged image data (each byte of the zlib stream changed, CRCs made right again, and
    /// every truncation) decodes exactly as with the `png` crate alone: the same pixels or
    /// an error, never other pixels, and no panic.
    #[test]
    fn damaged_image_data_decodes_as_the_png_crate_does() {
        let pixels = digit();
        let mut decoder = FeatureDecoder::new();
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
                let ours = decoder.decode_grey(&png).map(|_| decoder.grey().to_vec());
                match (ours, png_crate_grey(&png)) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b),
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("ours {:?}, png crate {:?}", a.is_ok(), b.is_ok()),
                }
                // The good image still decodes after any damaged one.
                decoder.decode_grey(&bytes).unwrap();
                assert_eq!(decoder.grey(), &pixels[..]);
            }
        }
    }

    /// A grey PNG with an extra chunk (which the fast path declines) decodes as any other.
    #[test]
    fn grey_png_with_other_chunks_decodes() {
        let mut decoder = FeatureDecoder::new();
        let grey = grey_png(2, 1, &[1, 2], png::Compression::Fast, png::Filter::Sub);
        let mut parts = chunks(&grey);
        parts.insert(1, (*b"gAMA", 45455u32.to_be_bytes().to_vec()));
        let with_gamma = assemble(&parts);
        assert_eq!(
            decoder.decode_grey(&with_gamma).unwrap(),
            ImageSize::new(2, 1)
        );
        assert_eq!(decoder.grey(), &[1, 2]);
    }

    /// The pixel limit holds for grey PNGs too, the fast path's or not, and a clone keeps it.
    #[test]
    fn grey_png_over_the_pixel_limit_is_refused() {
        let bytes = grey_png(4, 3, &[5; 12], png::Compression::Fast, png::Filter::Up);
        let decoder = FeatureDecoder::new().max_pixels(11);
        for mut d in [decoder.clone(), decoder] {
            assert!(matches!(
                d.decode_grey(&bytes),
                Err(Error::ImageTooLarge {
                    width: 4,
                    height: 3,
                    limit: 11
                })
            ));
        }
        let mut decoder = FeatureDecoder::new().max_pixels(12);
        assert_eq!(decoder.decode_grey(&bytes).unwrap(), ImageSize::new(4, 3));
    }

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
        bad[97] = b"junk".to_vec();
        let fetch = |i: usize| Ok::<_, std::convert::Infallible>(&bad[i]);
        let failures =
            fetch_and_decode_levels(100, size, &FeatureDecoder::new(), fetch).unwrap_err();
        // Every bad image, not only the first.
        let failed: Vec<usize> = failures.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, [42, 97]);
        assert!(matches!(
            failures[1].1,
            BatchError::Decode(Error::ImageDecode { .. })
        ));
    }

    #[test]
    fn colour_pngs_decode_to_rgb_and_grey_repeats() {
        let rgb = png_bytes(2, 1, png::ColorType::Rgb, &[255, 0, 0, 10, 20, 30]);
        let mut d = FeatureDecoder::new();
        assert_eq!(d.decode_rgb(&rgb).unwrap(), ImageSize::new(2, 1));
        assert_eq!(d.rgb(), &[255, 0, 0, 10, 20, 30]);
        let grey = png_bytes(2, 1, png::ColorType::Grayscale, &[7, 200]);
        d.decode_rgb(&grey).unwrap();
        assert_eq!(d.rgb(), &[7, 7, 7, 200, 200, 200]);
        let mut out = [0u8; 6];
        let mut rgb_decoder = FeatureDecoder::new().channels(Channels::Rgb);
        rgb_decoder
            .decode_levels(&rgb, ImageSize::new(2, 1), &mut out)
            .unwrap();
        assert_eq!(out, [255, 0, 0, 10, 20, 30]);
        // A grey-sized row is refused by an RGB decoder, naming the channels.
        let err = rgb_decoder
            .decode_levels(&rgb, ImageSize::new(2, 1), &mut [0u8; 2])
            .unwrap_err();
        assert!(err.to_string().contains("rgb"), "{err}");
    }

    /// Transparency is composited over white in both modes: an icon drawn only in the
    /// alpha channel (black, opaque where the shape is) is a dark shape on white.
    #[test]
    fn alpha_is_composited_over_white() {
        let rgba = png_bytes(
            3,
            1,
            png::ColorType::Rgba,
            &[0, 0, 0, 255, 0, 0, 0, 0, 200, 0, 0, 128],
        );
        let mut d = FeatureDecoder::new();
        d.decode_rgb(&rgba).unwrap();
        assert_eq!(d.rgb(), &[0, 0, 0, 255, 255, 255, 227, 127, 127]);
        d.decode_grey(&rgba).unwrap();
        assert_eq!(d.grey(), &[0, 255, luma(227, 127, 127)]);
        let grey_alpha = png_bytes(2, 1, png::ColorType::GrayscaleAlpha, &[0, 255, 0, 0]);
        d.decode_grey(&grey_alpha).unwrap();
        assert_eq!(d.grey(), &[0, 255]);
    }

    #[test]
    fn probe_tells_colour_from_grey() {
        let mut d = FeatureDecoder::new();
        let grey = png_bytes(2, 1, png::ColorType::Grayscale, &[7, 200]);
        let probe = d.probe(&grey).unwrap();
        assert_eq!((probe.size, probe.colour), (ImageSize::new(2, 1), false));
        // An RGB PNG of grey pixels has no colour; one red pixel gives it colour.
        let greyish = png_bytes(2, 1, png::ColorType::Rgb, &[9, 9, 9, 50, 52, 49]);
        assert!(!d.probe(&greyish).unwrap().colour);
        let red = png_bytes(2, 1, png::ColorType::Rgb, &[9, 9, 9, 200, 20, 20]);
        assert!(d.probe(&red).unwrap().colour);
        let jpeg = |img: image::DynamicImage| {
            let mut bytes = Vec::new();
            img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
                .unwrap();
            bytes
        };
        let green = image::RgbImage::from_fn(16, 16, |x, _| {
            image::Rgb(if x < 8 {
                [30, 200, 30]
            } else {
                [128, 128, 128]
            })
        });
        let probe = d.probe(&jpeg(green.into())).unwrap();
        assert_eq!((probe.size, probe.colour), (ImageSize::new(16, 16), true));
        let grey_photo = image::RgbImage::from_fn(16, 16, |x, y| {
            let v = (x * 13 + y * 7) as u8;
            image::Rgb([v, v, v])
        });
        assert!(!d.probe(&jpeg(grey_photo.into())).unwrap().colour);
        assert!(d.probe(b"not an image").is_err());
    }

    #[test]
    fn rgb_images_resize_as_rgb() {
        let bytes = png_bytes(4, 4, png::ColorType::Rgb, &[200, 10, 30].repeat(16));
        let mut out = [0.0f32; 2 * 2 * 3];
        FeatureDecoder::new()
            .channels(Channels::Rgb)
            .resize(true)
            .decode_features(&bytes, ImageSize::new(2, 2), &mut out)
            .unwrap();
        for p in out.chunks_exact(3) {
            approx::assert_abs_diff_eq!(p[0], 200.0 / 255.0, epsilon = 1e-6);
            approx::assert_abs_diff_eq!(p[1], 10.0 / 255.0, epsilon = 1e-6);
            approx::assert_abs_diff_eq!(p[2], 30.0 / 255.0, epsilon = 1e-6);
        }
    }

    /// A colour JPEG becomes grey with the same ITU-R 601 weights as a colour PNG.
    #[test]
    fn colour_jpeg_becomes_601_luma() {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([40, 200, 90]));
        let mut bytes = Vec::new();
        image::DynamicImage::from(img)
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .unwrap();
        let mut d = FeatureDecoder::new();
        d.decode_rgb(&bytes).unwrap();
        let p = d.rgb()[..3].to_vec();
        d.decode_grey(&bytes).unwrap();
        assert_eq!(d.grey()[0], luma(p[0], p[1], p[2]));
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
