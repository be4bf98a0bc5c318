//! Writing digits as PNG files in the ImageFolder layout (`DIR/<label>/<index>.png`) that
//! most training tools read.

use std::fs;
use std::path::Path;

use crate::{Digits, Error, Result};

/// Encodes one 8-bit greyscale image, `pixels` row-major, as a PNG file's bytes.
///
/// # Errors
///
/// [`Error::Shape`] if `pixels` is not `width * height` bytes, [`Error::Png`] if the
/// encoder refuses the image (for instance a zero width).
pub fn encode_png(width: u32, height: u32, pixels: &[u8]) -> Result<Vec<u8>> {
    let expected = u64::from(width) * u64::from(height);
    if pixels.len() as u64 != expected {
        return Err(Error::Shape {
            width,
            height,
            expected,
            actual: pixels.len(),
        });
    }
    let png_error = |source| Error::Png {
        width,
        height,
        source,
    };
    // A 28x28 PNG is about 300 bytes: headers dominate, so reserve for them plus pixels.
    let mut out = Vec::with_capacity(128 + pixels.len() / 2);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    // fdeflate's fast mode: tens of thousands of small files, where speed matters more
    // than the last few bytes.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(pixels).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(out)
}

/// Writes `DIR/<label>/<index>.png` for `digits[skip .. skip + count]`, where `index` is
/// the digit's index in `digits`, zero-padded to 5 digits (`3/00042.png`).
///
/// Creates the directories as needed and overwrites existing files. Each file is written
/// under a temporary name and renamed into place, so an interrupted run leaves only whole
/// PNGs behind (and perhaps a stray `.*.tmp`). `progress` is called with the number of
/// files written so far after each one. Returns the number of files written (`count`).
///
/// # Errors
///
/// [`Error::Range`] if `skip + count` exceeds `digits.len()`, [`Error::Shape`] if
/// `digits.pixels` does not match its dimensions, [`Error::Io`] naming the path that
/// could not be created or written.
pub fn write_image_folder(
    digits: &Digits,
    skip: usize,
    count: usize,
    dir: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<usize> {
    let len = digits.len();
    if skip.checked_add(count).is_none_or(|end| end > len) {
        return Err(Error::Range { skip, count, len });
    }
    digits.check_shape()?;

    let mut made_dir = [false; 256];
    for (done, index) in (skip..skip + count).enumerate() {
        let label = digits.label(index);
        let class_dir = dir.join(label.to_string());
        if !made_dir[usize::from(label)] {
            fs::create_dir_all(&class_dir).map_err(|source| Error::Io {
                path: class_dir.clone(),
                source,
            })?;
            made_dir[usize::from(label)] = true;
        }
        let png = encode_png(digits.width, digits.height, digits.image(index))?;
        let name = format!("{index:05}.png");
        write_atomically(&class_dir, &name, &png)?;
        progress(done + 1);
    }
    Ok(count)
}

/// Writes `dir/name` via `dir/.name.tmp` and a rename, which replaces the file in one step
/// on the same file system.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    if let Err(source) = fs::write(&tmp, bytes) {
        // Best effort: the write error is the one worth reporting.
        let _ = fs::remove_file(&tmp);
        return Err(Error::Io { path: tmp, source });
    }
    fs::rename(&tmp, &path).map_err(|source| Error::Io { path, source })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use std::io::Cursor;

    use super::*;

    fn decode(png_bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a valid PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a small image")];
        let info = reader.next_frame(&mut buf).expect("valid PNG data");
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn png_round_trips() -> Result<()> {
        let (width, height) = (5, 3);
        let pixels: Vec<u8> = (0..15).map(|i| (i * 17) as u8).collect();
        let bytes = encode_png(width, height, &pixels)?;
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let (info, decoded) = decode(&bytes);
        assert_eq!((info.width, info.height), (width, height));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        assert_eq!(decoded, pixels);
        Ok(())
    }

    #[test]
    fn png_rejects_wrong_pixel_count() {
        let err = encode_png(4, 4, &[0; 15]).expect_err("15 bytes for 16 pixels");
        assert_eq!(err.to_string(), "4x4 images need 16 pixel bytes, got 15");
    }

    fn three_digits() -> Digits {
        Digits {
            width: 2,
            height: 2,
            pixels: (0..12).map(|v| v * 10).collect(),
            labels: vec![3, 0, 3],
        }
    }

    #[test]
    fn writes_the_expected_tree() -> Result<()> {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let out = tmp.path().join("out");
        let mut calls = Vec::new();
        let written = write_image_folder(&three_digits(), 1, 2, &out, &mut |done| {
            calls.push(done);
        })?;
        assert_eq!(written, 2);
        assert_eq!(calls, [1, 2]);

        let mut files = Vec::new();
        for class in fs::read_dir(&out).expect("out exists") {
            let class = class.expect("readable entry");
            for file in fs::read_dir(class.path()).expect("class dir") {
                let file = file.expect("readable entry").path();
                files.push(file.strip_prefix(&out).expect("under out").to_owned());
            }
        }
        files.sort();
        let expected: Vec<_> = ["0/00001.png", "3/00002.png"]
            .iter()
            .map(Path::new)
            .collect();
        assert_eq!(files, expected);

        let (info, pixels) = decode(&fs::read(out.join("3/00002.png")).expect("written"));
        assert_eq!((info.width, info.height), (2, 2));
        assert_eq!(pixels, [80, 90, 100, 110]);
        Ok(())
    }

    #[test]
    fn rejects_out_of_range_requests() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        for (skip, count) in [(2, 2), (4, 0), (1, usize::MAX)] {
            let err = write_image_folder(&three_digits(), skip, count, tmp.path(), &mut |_| {})
                .expect_err("beyond the 3 digits");
            assert!(
                matches!(err, Error::Range { skip: s, count: c, len: 3 } if s == skip && c == count),
                "{err}"
            );
        }
        let err = write_image_folder(&three_digits(), 2, 2, tmp.path(), &mut |_| {})
            .expect_err("beyond the 3 digits");
        assert_eq!(
            err.to_string(),
            "cannot take 2 digits after skipping 2: there are only 3"
        );
        assert_eq!(fs::read_dir(tmp.path()).expect("exists").count(), 0);
    }
}
