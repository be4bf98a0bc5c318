//! Writes the seed corpora under `fuzz/corpus/<target>/` from real data made by mltrain's
//! own libraries: PNGs and JPEGs of bundled digits, an IDX pair raw and gzipped, a real PCA
//! basis, forest, key list, projected rows and model, and real stage inputs.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --bin make_corpus
//! ```
//!
//! Deterministic (seeded fits, fixed digits), so re-running it rewrites the same files.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use mltrain_core::Matrix;
use mltrain_core::ensemble::{Ensemble, Member};
use mltrain_core::forest::ForestParams;
use mltrain_core::format::{self, Kind};
use mltrain_core::pca::PcaParams;
use mltrain_dataset::{Digits, bundled_mnist, encode_png};
use mltrain_workflow::objects::{Item, KeyList, Model, Rows};
use mltrain_workflow::params::{Params, TestSplit};
use mltrain_workflow::report::StageTimes;
use mltrain_workflow::stages::{ForestRef, PartitionInput, PcaInput, RfInput, ValidationInput};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let digits = bundled_mnist()?;
    images(&root.join("image_decode"), &digits)?;
    png_grey(&root.join("png_grey"), &digits)?;
    idx(&root.join("idx"), &digits)?;
    objects(&root.join("object_decode"), &digits)?;
    stage_inputs(&root.join("stage_input"))?;
    println!("corpus written under {}", root.display());
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn png_of(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(color);
    enc.set_depth(depth);
    if color == png::ColorType::Indexed {
        enc.set_palette(vec![0, 0, 0, 128, 128, 128, 255, 255, 255, 255, 0, 0]);
        enc.set_trns(vec![255, 128]);
    }
    let mut w = enc.write_header()?;
    w.write_image_data(data)?;
    w.finish()?;
    Ok(out)
}

/// `png_grey` inputs, `[width - 1, height - 1, zlib stream]`: the image data of digits as
/// `mltrain dataset mnist` writes them (`fdeflate`'s fast mode), the same rows through zlib
/// stored, fast and best, and a 2 × 3 image small enough for a fixed Huffman block.
fn png_grey(dir: &Path, digits: &Digits) -> Result {
    let zlib = |raw: &[u8], level: u32| -> Result<Vec<u8>> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
        z.write_all(raw)?;
        Ok(z.finish()?)
    };
    let input = |w: u8, h: u8, stream: &[u8]| [&[w - 1, h - 1][..], stream].concat();
    for i in [0, 1] {
        let png = encode_png(28, 28, digits.image(i))?;
        // The single IDAT chunk's data: after the signature (8), IHDR (25) and its header (8).
        let len = u32::from_be_bytes(png[33..37].try_into()?) as usize;
        write(dir, &format!("fdeflate-digit-{i}"), &input(28, 28, &png[41..41 + len]))?;
        // Unfiltered rows: a filter byte of 0, then the row.
        let raw: Vec<u8> = digits
            .image(i)
            .chunks(28)
            .flat_map(|row| std::iter::once(0).chain(row.iter().copied()))
            .collect();
        for level in [0, 1, 9] {
            write(dir, &format!("zlib{level}-digit-{i}"), &input(28, 28, &zlib(&raw, level)?))?;
        }
    }
    let tiny = [0, 1, 2, 1, 5, 5, 2, 9, 0];
    write(dir, "zlib9-2x3", &input(2, 3, &zlib(&tiny, 9)?))
}

fn jpeg_of(img: image::DynamicImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)?;
    Ok(out)
}

fn images(dir: &Path, digits: &Digits) -> Result {
    use png::{BitDepth, ColorType};
    // Real digits, as `mltrain dataset mnist` writes them.
    for i in [0, 1] {
        write(
            dir,
            &format!("digit-{i}.png"),
            &encode_png(28, 28, digits.image(i))?,
        )?;
    }
    write(
        dir,
        "grey-3x5.png",
        &encode_png(
            5,
            3,
            &[0, 40, 80, 120, 160, 200, 240, 255, 1, 2, 3, 4, 5, 6, 7],
        )?,
    )?;
    // Every colour type the decoder converts, and a 16-bit and a sub-byte depth.
    let rgb: Vec<u8> = (0..4 * 4 * 3).map(|i| (i * 37 % 256) as u8).collect();
    write(
        dir,
        "rgb-4x4.png",
        &png_of(4, 4, ColorType::Rgb, BitDepth::Eight, &rgb)?,
    )?;
    let rgba: Vec<u8> = (0..3 * 2 * 4).map(|i| (i * 53 % 256) as u8).collect();
    write(
        dir,
        "rgba-3x2.png",
        &png_of(3, 2, ColorType::Rgba, BitDepth::Eight, &rgba)?,
    )?;
    write(
        dir,
        "grey-alpha-2x2.png",
        &png_of(
            2,
            2,
            ColorType::GrayscaleAlpha,
            BitDepth::Eight,
            &[10, 255, 20, 0, 30, 128, 40, 1],
        )?,
    )?;
    write(
        dir,
        "grey16-2x2.png",
        &png_of(
            2,
            2,
            ColorType::Grayscale,
            BitDepth::Sixteen,
            &[0, 1, 255, 255, 128, 0, 7, 7],
        )?,
    )?;
    // 4x2 at 2 bits per index: one byte per row.
    write(
        dir,
        "indexed2-4x2.png",
        &png_of(
            4,
            2,
            ColorType::Indexed,
            BitDepth::Two,
            &[0b0001_1011, 0b1110_0100],
        )?,
    )?;
    write(
        dir,
        "grey1-8x2.png",
        &png_of(
            8,
            2,
            ColorType::Grayscale,
            BitDepth::One,
            &[0b1010_1010, 0b0101_0101],
        )?,
    )?;
    // JPEG: a grey digit and a small colour image.
    let digit = image::GrayImage::from_raw(28, 28, digits.image(2).to_vec()).ok_or("digit size")?;
    write(
        dir,
        "digit-2.jpg",
        &jpeg_of(image::DynamicImage::ImageLuma8(digit))?,
    )?;
    let colour = image::RgbImage::from_fn(8, 8, |x, y| {
        image::Rgb([(x * 30) as u8, (y * 30) as u8, 100])
    });
    write(
        dir,
        "rgb-8x8.jpg",
        &jpeg_of(image::DynamicImage::ImageRgb8(colour))?,
    )?;
    Ok(())
}

/// The `idx` target's input: little-endian length of the images file, the images file, the
/// labels file.
fn idx_input(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = (images.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(images);
    out.extend_from_slice(labels);
    out
}

fn idx_files(digits: &Digits, count: usize, side: u32) -> (Vec<u8>, Vec<u8>) {
    let mut images = vec![0, 0, 8, 3];
    for dim in [count as u32, side, side] {
        images.extend_from_slice(&dim.to_be_bytes());
    }
    let mut labels = vec![0, 0, 8, 1];
    labels.extend_from_slice(&(count as u32).to_be_bytes());
    for i in 0..count {
        if side == 28 {
            images.extend_from_slice(digits.image(i));
        } else {
            // Top-left corner of the digit.
            for row in digits.image(i).chunks(28).take(side as usize) {
                images.extend_from_slice(&row[..side as usize]);
            }
        }
        labels.push(digits.label(i));
    }
    (images, labels)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok(gz.finish()?)
}

fn idx(dir: &Path, digits: &Digits) -> Result {
    let (images, labels) = idx_files(digits, 2, 28);
    write(dir, "raw-2x28x28", &idx_input(&images, &labels))?;
    write(
        dir,
        "gzip-2x28x28",
        &idx_input(&gzip(&images)?, &gzip(&labels)?),
    )?;
    let (images, labels) = idx_files(digits, 3, 4);
    write(dir, "raw-3x4x4", &idx_input(&images, &labels))?;
    write(
        dir,
        "gzip-images-raw-labels-3x4x4",
        &idx_input(&gzip(&images)?, &labels),
    )?;
    Ok(())
}

fn objects(dir: &Path, digits: &Digits) -> Result {
    // A tiny real run: 40 digits of classes 0 and 1, cropped to their central 4x4 pixels.
    let (side, n) = (4usize, 40usize);
    let picked: Vec<usize> = (0..digits.len())
        .filter(|&i| digits.label(i) <= 1)
        .take(n)
        .collect();
    let rows: Vec<Vec<f32>> = picked
        .iter()
        .map(|&i| {
            digits
                .image(i)
                .chunks(28)
                .skip(12)
                .take(side)
                .flat_map(|row| row[12..12 + side].iter().map(|&p| f32::from(p) / 255.0))
                .collect()
        })
        .collect();
    let labels: Vec<u32> = picked.iter().map(|&i| u32::from(digits.label(i))).collect();
    let x = Matrix::from_rows(&rows)?;
    let (pca, z) = PcaParams::new(3).fit_transform(&x)?;
    let forest = ForestParams::new()
        .n_trees(3)
        .max_depth(3)
        .min_samples_split(2)
        .seed(7)
        .fit(&z, &labels, 2)?;
    let classes = vec!["0".to_string(), "1".to_string()];
    let image_size = mltrain_core::image::ImageSize::new(side as u32, side as u32);
    let key_list = KeyList {
        classes: classes.clone(),
        image_size,
        channels: mltrain_core::image::Channels::Grey,
        items: (0..3)
            .map(|i| Item {
                key: format!("data/{}/{i}.png", labels[i]),
                label: labels[i],
                // One image of a packed prefix, so the corpus covers both kinds of item.
                at: (i == 2).then_some(mltrain_workflow::objects::At {
                    shard: 0,
                    offset: 512,
                    length: 70,
                    crc32: 0x1234_5678,
                }),
            })
            .collect(),
        shards: vec!["data/.pack/shard-000000.tar".into()],
    };
    let share = Rows {
        features: z.select_rows(&(0..8).collect::<Vec<_>>()),
        labels: labels[..8].to_vec(),
    };
    let model = Model {
        run_id: "20260101T000000.000Z-abcdef".into(),
        classes,
        image_size,
        channels: mltrain_core::image::Channels::Grey,
        resize: false,
        params: Params {
            prefix: "data".into(),
            num_pca: 1,
            num_rf: 1,
            components: 3,
            trees: 3,
            ..Params::default()
        },
        accuracy: 0.9,
        ensemble: Ensemble::new(
            vec![pca.clone()],
            vec![Member {
                basis: 0,
                forest: forest.clone(),
            }],
        )?,
    };
    // Each object whole, and its payload alone (the target wraps it in a valid header).
    let encoded = [
        ("pca", format::encode(Kind::PcaBasis, &pca)?),
        ("forest", format::encode(Kind::Forest, &forest)?),
        ("keylist", format::encode(Kind::KeyList, &key_list)?),
        ("rows", format::encode(Kind::Rows, &share)?),
        ("model", format::encode(Kind::Model, &model)?),
    ];
    for (name, bytes) in encoded {
        write(dir, &format!("{name}.obj"), &bytes)?;
        write(dir, &format!("{name}.payload"), &bytes[24..])?;
    }
    Ok(())
}

fn stage_inputs(dir: &Path) -> Result {
    let params = Params {
        prefix: "ml-training/mnist-images-2k".into(),
        ..Params::default()
    };
    let run_id = "20260101T000000.000Z-abcdef".to_string();
    write(
        dir,
        "partition.json",
        &json(&PartitionInput {
            run_id: run_id.clone(),
            params: params.clone(),
        })?,
    )?;
    let resized = Params {
        test: TestSplit::Prefix("mnist/test".into()),
        resize: Some(mltrain_core::image::ImageSize::new(28, 28)),
        num_pca: 3,
        ..params.clone()
    };
    write(
        dir,
        "partition-resize.json",
        &json(&PartitionInput {
            run_id: run_id.clone(),
            params: resized,
        })?,
    )?;
    write(
        dir,
        "pca.json",
        &json(&PcaInput {
            run_id: run_id.clone(),
            index: 1,
            key_list: format!("ml-training/outputs/{run_id}/partition/pca-1.keys"),
            params: params.clone(),
        })?,
    )?;
    write(
        dir,
        "rf.json",
        &json(&RfInput {
            run_id: run_id.clone(),
            pca_index: 1,
            share_index: 3,
            share: format!("ml-training/outputs/{run_id}/pca-1/share-3"),
            n_classes: 10,
            params: params.clone(),
        })?,
    )?;
    write(
        dir,
        "validation.json",
        &json(&ValidationInput {
            run_id: run_id.clone(),
            params,
            test_list: format!("ml-training/outputs/{run_id}/partition/test.keys"),
            bases: (0..2)
                .map(|i| format!("ml-training/outputs/{run_id}/pca-{i}/basis"))
                .collect(),
            forests: (0..8)
                .map(|j| ForestRef {
                    basis: j / 4,
                    forest: format!("ml-training/outputs/{run_id}/rf-{}-{}", j / 4, j % 4),
                })
                .collect(),
            train_images: 1600,
            stages: StageTimes {
                partition: 0.01,
                pca: 0.2,
                rf: 0.03,
                validation: 0.0,
            },
            elapsed_seconds: 0.25,
            explained_variance_ratio: vec![0.48, 0.49],
            components: vec![10, 10],
        })?,
    )?;
    Ok(())
}

/// A stage input as a job file or an event's data would carry it.
fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(value)?)
}
