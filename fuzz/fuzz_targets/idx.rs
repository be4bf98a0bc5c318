//! An MNIST-style IDX pair (each raw or gzipped) through `mltrain_dataset::read_idx`.
//!
//! Input layout: a little-endian `u32` `n`, then the images file (the next `n` bytes, or
//! all that is left if fewer), then the labels file (the rest). A successful read must hold
//! exactly the images and labels its headers declare.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (images, labels) = split(data);
    let Ok(digits) = mltrain_dataset::read_idx(images, labels) else {
        return;
    };
    let pixels = digits.width as usize * digits.height as usize;
    assert!(pixels > 0);
    assert_eq!(digits.pixels.len(), digits.len() * pixels);
    digits
        .check_shape()
        .expect("read_idx returns well-shaped digits");
    if !digits.is_empty() {
        let last = digits.len() - 1;
        assert_eq!(digits.image(last).len(), pixels);
        let _ = digits.label(last);
    }
});

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return (data, &[]);
    };
    let n = (u32::from_le_bytes(*len) as usize).min(rest.len());
    rest.split_at(n)
}
