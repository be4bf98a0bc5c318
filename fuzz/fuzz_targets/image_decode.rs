//! Image bytes from the store (PNG, JPEG or anything else) through every entry point of
//! `mltrain_core::image`: size and colour probing, grey and RGB decoding, feature rows with
//! and without resizing, and the batch decoder. Besides "no panic", it checks what callers
//! rely on: a successful decode yields exactly `width × height` grey levels (three times
//! that for RGB), features are in `0..=1`, and an image decodes into features of its own
//! size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mltrain_core::image::{Channels, FeatureDecoder, ImageSize, decode_batch};

/// Sizes a run asks for: MNIST's, a non-square one, and a single pixel.
const EXPECTED: [ImageSize; 3] = [
    ImageSize {
        width: 28,
        height: 28,
    },
    ImageSize {
        width: 5,
        height: 3,
    },
    ImageSize {
        width: 1,
        height: 1,
    },
];

/// Smaller than the default 4096×4096 cap, so the fuzzer spends its time on parsing rather
/// than on inflating legitimately large images (a lying header is refused all the same).
const SMALL_CAP: u64 = 512 * 512;

fuzz_target!(|data: &[u8]| {
    let mut small = FeatureDecoder::new().max_pixels(SMALL_CAP);
    let probed = small.probe_size(data);
    let decoded = small.decode_grey(data);
    if let Ok(size) = decoded {
        assert_eq!(
            small.grey().len(),
            size.pixels(),
            "grey levels of a {size} image"
        );
        assert!(size.pixels() as u64 <= SMALL_CAP);
        // The PNG header probe and the full decode agree on the size.
        if let Ok(p) = probed {
            assert_eq!(p, size, "probed size");
        }
        // An image always decodes into features of its own size, without resizing.
        let mut out = vec![-1.0f32; size.pixels()];
        small
            .decode_features(data, size, &mut out)
            .expect("an image decodes at its own size");
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    for expected in EXPECTED {
        for resize in [false, true] {
            let mut dec = FeatureDecoder::new().max_pixels(SMALL_CAP).resize(resize);
            let mut out = vec![-1.0f32; expected.pixels()];
            let result = dec.decode_features(data, expected, &mut out);
            if result.is_ok() {
                assert!(out.iter().all(|v| (0.0..=1.0).contains(v)), "{out:?}");
                // Resizing accepts every decodable image.
                if let Ok(size) = decoded {
                    assert!(resize || size == expected);
                }
            } else if resize {
                assert!(decoded.is_err(), "resize refused a decodable image");
            }
        }
    }
    // RGB, and the colour probe the partition stage runs on a sample of the images: both
    // agree with the grey decode on the size, and a decodable image probes.
    let rgb = small.decode_rgb(data);
    if let Ok(size) = rgb {
        assert_eq!(small.rgb().len(), 3 * size.pixels(), "RGB levels of {size}");
        let mut out = vec![-1.0f32; size.features(Channels::Rgb)];
        let mut dec = FeatureDecoder::new()
            .max_pixels(SMALL_CAP)
            .channels(Channels::Rgb);
        dec.decode_features(data, size, &mut out)
            .expect("an image decodes as RGB at its own size");
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    if let (Ok(a), Ok(b)) = (&rgb, &decoded) {
        assert_eq!(a, b, "RGB and grey sizes");
    }
    if let Ok(probe) = small.probe(data) {
        assert!(probe.size.pixels() as u64 <= SMALL_CAP);
    }

    // A wrong output length is an error, not a panic or a partial write.
    let mut short = vec![0.0f32; 3];
    assert!(
        small
            .decode_features(data, EXPECTED[0], &mut short)
            .is_err()
    );

    // The batch decoder, as the stages call it.
    let batch = decode_batch(
        &[data, data],
        EXPECTED[0],
        &FeatureDecoder::new().max_pixels(SMALL_CAP).resize(true),
    );
    if let Ok(m) = batch {
        assert_eq!((m.rows(), m.cols()), (2, EXPECTED[0].pixels()));
        assert_eq!(m.row(0), m.row(1));
    }
});
