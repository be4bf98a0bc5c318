//! Reading LeCun's IDX format: a big-endian magic number `0x0000TTNN` (element type TT,
//! NN dimensions), NN big-endian u32 dimension sizes, then the elements.

use std::io::Read;

use flate2::read::GzDecoder;

use crate::{Digits, Error, Result};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Largest pixel payload accepted. All of MNIST is 47 MB; a header claiming more than this
/// is corrupt or hostile, and is refused before anything is allocated.
const MAX_PIXEL_BYTES: u64 = 1 << 31;

/// Gzip input does not say how big it inflates to, so reserve at most this much up front
/// and let the buffer grow as real data arrives: a lying header cannot force a huge
/// allocation out of a small file.
const MAX_RESERVE: u64 = 64 << 20;

/// Reads an MNIST-style pair of IDX files, each gzipped (starting `1f 8b`) or raw.
///
/// `images` must be unsigned-byte images (magic `0x00000803`, dims `[n, rows, cols]`) and
/// `labels` unsigned-byte labels (magic `0x00000801`, dims `[n]`) with the same `n`. Each
/// file must hold exactly the data its header declares. Label values are not limited to
/// 0..=9, so EMNIST-style files load too.
///
/// # Errors
///
/// [`Error::Idx`] naming the file and the problem (wrong magic number, empty or oversized
/// image dimensions, truncated or overlong data, image and label counts that differ), or
/// [`Error::Gzip`] for a corrupt gzip stream.
pub fn read_idx(images: &[u8], labels: &[u8]) -> Result<Digits> {
    const WHAT: &str = "images file";
    let mut input = Input::open(images);
    let header: [u8; 16] = input.header(WHAT, IMAGES_MAGIC, "images [n, rows, cols]")?;
    let (count, height, width) = (be_u32(&header, 4), be_u32(&header, 8), be_u32(&header, 12));
    if height == 0 || width == 0 {
        return Err(idx_error(
            WHAT,
            format!("images of {width}x{height} pixels are empty"),
        ));
    }
    // Three u32 factors can overflow u64, hence the checked product.
    let pixel_bytes = u64::from(count)
        .checked_mul(u64::from(height) * u64::from(width))
        .filter(|&bytes| bytes <= MAX_PIXEL_BYTES)
        .ok_or_else(|| {
            idx_error(
                WHAT,
                format!(
                    "the header declares {count} images of {width}x{height}, more than the \
                     {MAX_PIXEL_BYTES} pixel bytes accepted; the header is probably corrupt"
                ),
            )
        })?;
    let declared = format!("{count} images of {width}x{height} ({pixel_bytes} pixel bytes)");
    let pixels = input.body(WHAT, pixel_bytes, &declared)?;

    const LABELS: &str = "labels file";
    let mut input = Input::open(labels);
    let header: [u8; 8] = input.header(LABELS, LABELS_MAGIC, "labels [n]")?;
    let label_count = be_u32(&header, 4);
    if label_count != count {
        return Err(idx_error(
            "IDX files",
            format!(
                "the images file holds {count} images but the labels file holds \
                 {label_count} labels"
            ),
        ));
    }
    let labels = input.body(
        LABELS,
        u64::from(label_count),
        &format!("{label_count} labels"),
    )?;

    Ok(Digits {
        width,
        height,
        pixels,
        labels,
    })
}

fn idx_error(what: &'static str, reason: String) -> Error {
    Error::Idx { what, reason }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn check_magic(what: &'static str, found: u32, want: u32, layout: &str) -> Result<()> {
    if found == want {
        return Ok(());
    }
    let hint = match found {
        IMAGES_MAGIC => "; that is an images file: are the two files swapped?",
        LABELS_MAGIC => "; that is a labels file: are the two files swapped?",
        _ if found >> 16 != 0 => "; this is not an IDX file",
        _ => "",
    };
    Err(idx_error(
        what,
        format!("magic number {found:#010x} is not {want:#010x} (unsigned-byte {layout}){hint}"),
    ))
}

/// One IDX file's bytes, inflating them on the fly when they are gzipped.
enum Input<'a> {
    Raw(&'a [u8]),
    Gzip(GzDecoder<&'a [u8]>),
}

impl<'a> Input<'a> {
    fn open(bytes: &'a [u8]) -> Self {
        if bytes.starts_with(&GZIP_MAGIC) {
            Input::Gzip(GzDecoder::new(bytes))
        } else {
            Input::Raw(bytes)
        }
    }

    /// Reads the `N`-byte header and checks that it starts with `magic`.
    fn header<const N: usize>(
        &mut self,
        what: &'static str,
        magic: u32,
        layout: &str,
    ) -> Result<[u8; N]> {
        let mut header = [0; N];
        let mut filled = 0;
        while filled < N {
            let read = match self {
                Input::Raw(rest) => rest.read(&mut header[filled..]),
                Input::Gzip(gz) => gz.read(&mut header[filled..]),
            }
            .map_err(|source| Error::Gzip { what, source })?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        // The magic number first: a wrong file is a better diagnosis than a short one.
        if filled >= 4 {
            check_magic(what, be_u32(&header, 0), magic, layout)?;
        }
        if filled < N {
            return Err(idx_error(
                what,
                format!("{filled} bytes is too short for its {N}-byte IDX header"),
            ));
        }
        Ok(header)
    }

    /// Reads the `len` data bytes after the header, insisting on exactly `len`.
    fn body(self, what: &'static str, len: u64, declared: &str) -> Result<Vec<u8>> {
        let truncated = |got: u64| {
            idx_error(
                what,
                format!("truncated: the header declares {declared}, but only {got} bytes follow"),
            )
        };
        let overlong = |extra: String| {
            idx_error(
                what,
                format!("{extra} after the {declared} its header declares"),
            )
        };
        match self {
            Input::Raw(rest) => {
                let have = rest.len() as u64;
                if have < len {
                    return Err(truncated(have));
                }
                if have > len {
                    return Err(overlong(format!("{} extra bytes", have - len)));
                }
                Ok(rest.to_vec())
            }
            Input::Gzip(mut gz) => {
                let reserve = usize::try_from(len.min(MAX_RESERVE)).unwrap_or(0);
                let mut body = Vec::with_capacity(reserve);
                let gzip_error = |source| Error::Gzip { what, source };
                (&mut gz)
                    .take(len)
                    .read_to_end(&mut body)
                    .map_err(gzip_error)?;
                if (body.len() as u64) < len {
                    return Err(truncated(body.len() as u64));
                }
                if gz.read(&mut [0]).map_err(gzip_error)? > 0 {
                    return Err(overlong("more data".to_owned()));
                }
                Ok(body)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use std::io::Write;

    use super::*;

    fn images_idx(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [IMAGES_MAGIC, count, rows, cols] {
            out.extend(word.to_be_bytes());
        }
        out.extend(pixels);
        out
    }

    fn labels_idx(labels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(LABELS_MAGIC.to_be_bytes());
        out.extend((labels.len() as u32).to_be_bytes());
        out.extend(labels);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).expect("writing to a Vec");
        gz.finish().expect("writing to a Vec")
    }

    /// Two 2x3 images and their labels.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..12).map(|v| v * 20).collect();
        (images_idx(2, 2, 3, &pixels), labels_idx(&[7, 1]))
    }

    fn error_text(images: &[u8], labels: &[u8]) -> String {
        match read_idx(images, labels) {
            Ok(digits) => panic!("accepted bad input as {} digits", digits.len()),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn reads_raw_and_gzipped_alike() -> Result<()> {
        let (images, labels) = sample();
        let raw = read_idx(&images, &labels)?;
        assert_eq!((raw.width, raw.height, raw.len()), (3, 2, 2));
        assert_eq!(raw.image(1), &[120, 140, 160, 180, 200, 220]);
        assert_eq!(raw.labels, [7, 1]);
        let gz = read_idx(&gzip(&images), &gzip(&labels))?;
        assert_eq!(
            (gz.width, gz.height, gz.pixels, gz.labels),
            (3, 2, raw.pixels, raw.labels)
        );
        Ok(())
    }

    #[test]
    fn rejects_wrong_magic() {
        let (mut images, labels) = sample();
        images[2] = 0x0d; // float elements
        let text = error_text(&images, &labels);
        assert!(
            text.starts_with("images file: magic number 0x00000d03"),
            "{text}"
        );
        // Swapped files are called out as such.
        let (images, labels) = sample();
        let text = error_text(&labels, &images);
        assert!(text.contains("swapped"), "{text}");
        assert!(text.starts_with("images file"), "{text}");
    }

    #[test]
    fn rejects_truncated_images_raw_and_gzipped() {
        let (images, labels) = sample();
        let short = &images[..images.len() - 1];
        for images in [short.to_vec(), gzip(short)] {
            let text = error_text(&images, &labels);
            assert!(text.starts_with("images file: truncated"), "{text}");
            assert!(text.contains("only 11 bytes follow"), "{text}");
        }
        let text = error_text(&images[..10], &labels);
        assert!(text.contains("10 bytes is too short"), "{text}");
    }

    #[test]
    fn rejects_trailing_data() {
        let (mut images, labels) = sample();
        images.push(0);
        assert!(error_text(&images, &labels).contains("1 extra bytes"));
        assert!(error_text(&gzip(&images), &labels).contains("more data"));
    }

    #[test]
    fn rejects_count_mismatch() {
        let (images, _) = sample();
        let text = error_text(&images, &labels_idx(&[7, 1, 2]));
        assert_eq!(
            text,
            "IDX files: the images file holds 2 images but the labels file holds 3 labels"
        );
    }

    #[test]
    fn rejects_truncated_labels() {
        let (images, labels) = sample();
        let text = error_text(&images, &labels[..labels.len() - 1]);
        assert!(text.starts_with("labels file: truncated"), "{text}");
    }

    #[test]
    fn refuses_absurd_dims_without_allocating() {
        // 4 billion 65535x65535 images would overflow u64 bytes; 2^31 + 1 bytes is just over.
        for (count, rows, cols) in [(u32::MAX, 65_535, 65_535), ((1 << 31) + 1, 1, 1)] {
            let text = error_text(&images_idx(count, rows, cols, &[]), &labels_idx(&[]));
            assert!(text.contains("probably corrupt"), "{text}");
        }
        // Within the limit but far more than a small gzip holds: truncated, not an OOM.
        let huge = gzip(&images_idx(1 << 20, 28, 28, &[0; 100]));
        let text = error_text(&huge, &labels_idx(&[]));
        assert!(text.contains("only 100 bytes follow"), "{text}");
    }

    #[test]
    fn rejects_empty_images_and_corrupt_gzip() {
        let text = error_text(&images_idx(1, 0, 28, &[]), &labels_idx(&[0]));
        assert!(text.contains("empty"), "{text}");
        let mut gz = gzip(&sample().0);
        let middle = gz.len() / 2;
        gz[middle] ^= 0xff;
        gz.truncate(middle + 4);
        assert!(matches!(
            read_idx(&gz, &sample().1),
            Err(Error::Gzip {
                what: "images file",
                ..
            } | Error::Idx {
                what: "images file",
                ..
            })
        ));
    }
}
