//! `mltrain_png::GreyPngDecoder` (the greyscale PNG fast path, with its own zlib decoder)
//! against the `png` crate, deep in the zlib stream. The input is `[width, height, zlib
//! stream...]`; the target wraps it in a PNG whose CRCs are right (8-bit grey IHDR, one
//! IDAT, IEND), so the fuzzer's changes reach the decoder instead of failing a CRC. What the
//! fast path decodes must be the `png` crate's very pixels; where the `png` crate fails, the
//! fast path must decline (it may decline more). Each input is decoded twice with one
//! decoder, the second time with the tables the first left, which must change nothing.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use mltrain_png::GreyPngDecoder;

fuzz_target!(|data: &[u8]| {
    let [w, h, zlib @ ..] = data else {
        return;
    };
    let (w, h) = (u32::from(*w % 64) + 1, u32::from(*h % 64) + 1);
    let png = wrap(w, h, zlib);
    let theirs = png_crate(&png);
    let mut decoder = GreyPngDecoder::new();
    let mut out = Vec::new();
    let mut first = None;
    for round in 0..2 {
        let ours = decoder
            .decode(&png, &mut out)
            .expect("64 × 64 is under the pixel limit");
        match (ours, &theirs) {
            (Some(size), Ok(pixels)) => {
                assert_eq!(size, (w, h), "round {round}");
                assert_eq!(&out, pixels, "round {round}");
            }
            (Some(_), Err(e)) => panic!("round {round}: decoded what the png crate refuses: {e}"),
            (None, _) => {}
        }
        match first {
            None => first = Some(ours),
            Some(earlier) => assert_eq!(ours, earlier, "the kept tables changed the result"),
        }
    }
});

/// An 8-bit greyscale PNG of `w × h` whose image data is `zlib`.
fn wrap(w: u32, h: u32, zlib: &[u8]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    for (kind, body) in [(b"IHDR", &ihdr[..]), (b"IDAT", zlib), (b"IEND", &[][..])] {
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

/// The grey levels the `png` crate alone decodes, as `FeatureDecoder`'s fallback asks it.
fn png_crate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader.output_buffer_size().ok_or("size overflows")?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(frame.buffer_size());
    Ok(buf)
}
