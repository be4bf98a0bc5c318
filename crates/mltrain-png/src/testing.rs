//! PNGs for tests, shared by this crate's tests and mltrain-core's: written by the `png`
//! crate, read by it alone, and taken apart into chunks and put back with fresh CRCs.
//! Only with the `testing` feature (or in this crate's own tests).
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should fail the test loudly"
)]

use std::io::Cursor;

use crate::PNG_SIGNATURE;

/// A greyscale PNG written with `compression` and `filter`.
pub fn grey_png(
    width: u32,
    height: u32,
    data: &[u8],
    compression: png::Compression,
    filter: png::Filter,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(compression);
    enc.set_filter(filter);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(data).unwrap();
    w.finish().unwrap();
    out
}

/// What the `png` crate alone makes of `bytes`: the grey levels, or an error.
pub fn png_crate_grey(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    buf.truncate(frame.buffer_size());
    Ok(buf)
}

/// The PNG's chunks, (type, data).
pub fn chunks(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut at = PNG_SIGNATURE.len();
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((
            bytes[at + 4..at + 8].try_into().unwrap(),
            bytes[at + 8..at + 8 + len].to_vec(),
        ));
        at += 12 + len;
    }
    out
}

/// The PNG made of `chunks`, with fresh CRCs.
pub fn assemble(chunks: &[([u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = PNG_SIGNATURE.to_vec();
    for (kind, data) in chunks {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}
