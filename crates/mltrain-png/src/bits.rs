//! The bit reader under the DEFLATE decoder.

/// Little-endian bit reader over a byte slice. Past the end it reads zeros, counted, so a
/// truncated stream is caught when the bits consumed are checked against the input.
#[derive(Clone, Copy)]
pub(crate) struct Bits<'a> {
    pub(crate) data: &'a [u8],
    /// Bytes loaded into `buf` so far (may exceed `data.len()` by the zeros read past it).
    pos: usize,
    buf: u64,
    /// Valid bits in `buf`. Bits above them are zero or already the next input bits.
    n: u32,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            buf: 0,
            n: 0,
        }
    }

    /// Tops `buf` up to at least 56 valid bits.
    #[inline(always)]
    pub(crate) fn refill(&mut self) {
        if let Some(word) = self.data.get(self.pos..self.pos + 8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(word);
            self.buf |= u64::from_le_bytes(b) << self.n;
            self.pos += ((63 - self.n) >> 3) as usize;
            self.n |= 56;
        } else {
            while self.n <= 56 {
                let byte = self.data.get(self.pos).copied().unwrap_or(0);
                self.buf |= u64::from(byte) << self.n;
                self.pos += 1;
                self.n += 8;
            }
        }
    }

    #[inline(always)]
    pub(crate) fn peek(&self) -> u64 {
        self.buf
    }

    #[inline(always)]
    pub(crate) fn consume(&mut self, k: u32) {
        self.buf >>= k;
        self.n -= k;
    }

    /// The next `k` bits (`k <= 16`, with at least `k` valid bits in the buffer).
    #[inline(always)]
    pub(crate) fn take(&mut self, k: u32) -> u32 {
        let v = (self.buf & ((1u64 << k) - 1)) as u32;
        self.consume(k);
        v
    }

    /// Bits consumed from the start of `data`.
    pub(crate) fn consumed(&self) -> usize {
        self.pos * 8 - self.n as usize
    }

    /// Whether no bit past the end of the input has been consumed.
    pub(crate) fn in_bounds(&self) -> bool {
        self.consumed() <= self.data.len() * 8
    }

    /// Drops the bits up to the next byte boundary.
    pub(crate) fn align(&mut self) {
        let k = self.n % 8;
        self.consume(k);
    }
}
