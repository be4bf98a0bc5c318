//! The greyscale PNG fast path (`mltrain_core::image`'s own zlib decoder) against the `png`
//! crate, deep in the zlib stream. The input is `[width, height, zlib stream...]`; the
//! target wraps it in a PNG whose CRCs are right (8-bit grey IHDR, one IDAT, IEND), so the
//! fuzzer's changes reach the decoder instead of failing a CRC, and checks that
//! `FeatureDecoder` and the `png` crate alone agree: the same pixels, or both an error.
//! Each input is decoded twice with one decoder, the second time with the tables the
//! first left, which must change nothing.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use mltrain_core::image::FeatureDecoder;

fuzz_target!(|data: &[u8]| {
    let [w, h, zlib @ ..] = data else {
        return;
    };
    let (w, h) = (u32::from(*w % 64) + 1, u32::from(*h % 64) + 1);
    let png = wrap(w, h, zlib);
    let theirs = png_crate(&png);
    let mut decoder = FeatureDecoder::new();
    for round in 0..2 {
        let ours = decoder.decode_grey(&png).map(|_| decoder.grey().to_vec());
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "round {round}"),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "round {round}: ours {:?}, png crate {:?}",
                ours.map(|_| ()),
                theirs.as_ref().map(|_| ())
            ),
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
