//! A zlib (RFC 1950) / DEFLATE (RFC 1951) decoder for small streams whose decoding tables
//! are reused from stream to stream when a block's header repeats.
//!
//! The `png` crate (through `fdeflate`) builds 4,096-entry tables, with every pair of short
//! literal codes in them, for each stream: for a 28 × 28 digit (a 350-byte stream) that is
//! a third of the image's decoding time. This decoder's tables hold single codes only, and
//! it keeps them: PNGs written by one encoder with fixed settings often start with the very
//! same dynamic Huffman header (every PNG `fdeflate`'s fast mode writes does, as
//! `mltrain dataset` writes them), and then the header is compared, not decoded.
//!
//! It is strict: anything it does not fully check (preset dictionaries, codes that do not
//! fill their code space, output of another length than expected, a bad Adler-32, bytes
//! after the stream) is declined with `None`, and the caller decodes with the `png` crate,
//! which gives the error, if any.

/// Bits looked up at once in the decoding tables (literal/length, distance, code length
/// codes); longer codes are decoded bit by bit. `fdeflate`'s fast mode gives most literals
/// 11- and 12-bit codes.
const LITLEN_BITS: u32 = 12;
const DIST_BITS: u32 = 10;
const PRECODE_BITS: u32 = 7;

/// Order of the code length code lengths in a dynamic block header.
const PRECODE_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
/// Base length and extra bits of length symbols 257..=285.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Base distance and extra bits of distance symbols 0..=29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Little-endian bit reader over a byte slice. Past the end it reads zeros, counted, so a
/// truncated stream is caught when the bits consumed are checked against the input.
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    /// Bytes loaded into `buf` so far (may exceed `data.len()` by the zeros read past it).
    pos: usize,
    buf: u64,
    /// Valid bits in `buf`. Bits above them are zero or already the next input bits.
    n: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            buf: 0,
            n: 0,
        }
    }

    /// Tops `buf` up to at least 56 valid bits.
    #[inline(always)]
    fn refill(&mut self) {
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
    fn peek(&self) -> u64 {
        self.buf
    }

    #[inline(always)]
    fn consume(&mut self, k: u32) {
        self.buf >>= k;
        self.n -= k;
    }

    /// The next `k` bits (`k <= 16`, with at least `k` valid bits in the buffer).
    #[inline(always)]
    fn take(&mut self, k: u32) -> u32 {
        let v = (self.buf & ((1u64 << k) - 1)) as u32;
        self.consume(k);
        v
    }

    /// Bits consumed from the start of `data`.
    fn consumed(&self) -> usize {
        self.pos * 8 - self.n as usize
    }

    /// Whether no bit past the end of the input has been consumed.
    fn in_bounds(&self) -> bool {
        self.consumed() <= self.data.len() * 8
    }

    /// Drops the bits up to the next byte boundary.
    fn align(&mut self) {
        let k = self.n % 8;
        self.consume(k);
    }
}

/// A canonical Huffman code: a table for codes of up to `bits` bits, and the code lengths'
/// counts and sorted symbols to decode longer codes bit by bit.
struct Huffman {
    bits: u32,
    /// Indexed by the next `bits` input bits: `symbol << 4 | length`, or 0 when the code
    /// there is longer (or unused).
    table: Vec<u16>,
    counts: [u16; 16],
    symbols: [u16; 288],
}

/// Which code spaces a code may leave partly unused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// Every code fills its space.
    Complete,
    /// Distance codes: none at all, or a single one-bit code, may leave it partly unused.
    Distances,
}

impl Huffman {
    fn new(bits: u32) -> Self {
        Self {
            bits,
            table: vec![0; 1 << bits],
            counts: [0; 16],
            symbols: [0; 288],
        }
    }

    /// Builds the code for `lengths` (one per symbol, 0 = unused); `None` if they do not
    /// form a code that `fill` allows.
    fn build(&mut self, lengths: &[u8], fill: Fill) -> Option<()> {
        self.counts = [0; 16];
        for &l in lengths {
            self.counts[usize::from(l)] += 1;
        }
        self.counts[0] = 0;
        let mut left: i32 = 1;
        for len in 1..16 {
            left = (left << 1) - i32::from(self.counts[len]);
            if left < 0 {
                return None; // over-subscribed
            }
        }
        let used: u16 = self.counts.iter().sum();
        if left > 0 {
            let single_bit = used == 1 && self.counts[1] == 1;
            if fill == Fill::Complete || !(used == 0 || single_bit) {
                return None;
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + self.counts[len];
        }
        for (symbol, &l) in lengths.iter().enumerate() {
            if l != 0 {
                let o = &mut offsets[usize::from(l)];
                self.symbols[usize::from(*o)] = symbol as u16;
                *o += 1;
            }
        }
        // The table for codes of up to `len` bits is its first `2^len` entries; each length
        // adds its codes there, then the table doubles by copying itself (a code's entry
        // repeats every `2^len` entries). Entries no code reaches stay 0.
        self.table[..2].fill(0);
        let mut code: u32 = 0;
        let mut index = 0usize;
        for len in 1..=self.bits {
            let size = 1usize << len;
            for _ in 0..self.counts[len as usize] {
                let symbol = self.symbols[index];
                index += 1;
                // Codes are stored most significant bit first, read least significant first.
                let at = (code.reverse_bits() >> (32 - len)) as usize;
                self.table[at] = (symbol << 4) | len as u16;
                code += 1;
            }
            code <<= 1;
            if size < self.table.len() {
                self.table.copy_within(..size, size);
            }
        }
        Some(())
    }

    /// The next symbol and its code length, from the next 15 or more bits of `bits`.
    #[inline(always)]
    fn decode(&self, bits: u64) -> Option<(u16, u32)> {
        let entry = self.table[(bits as usize) & (self.table.len() - 1)];
        if entry != 0 {
            Some((entry >> 4, u32::from(entry & 15)))
        } else {
            self.decode_long(bits)
        }
    }

    /// Canonical decoding one bit at a time (as zlib's `puff`), for codes longer than the
    /// table.
    #[cold]
    fn decode_long(&self, bits: u64) -> Option<(u16, u32)> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= ((bits >> (len - 1)) & 1) as i32;
            let count = i32::from(self.counts[len]);
            if code - first < count {
                return Some((self.symbols[(index + code - first) as usize], len as u32));
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        None
    }
}

/// The header of the first block of the last stream, when dynamic: its bits (from the
/// stream's third byte) and how many there are. The decoding tables still hold its codes.
#[derive(Default)]
struct CachedHeader {
    bytes: Vec<u8>,
    bits: usize,
}

impl CachedHeader {
    /// Whether `data` (a block starting at its first bit) starts with this header.
    fn matches(&self, data: &[u8]) -> bool {
        let full = self.bits / 8;
        let rest = self.bits % 8;
        if self.bits == 0 || data.len() < self.bytes.len() || data[..full] != self.bytes[..full] {
            return false;
        }
        rest == 0 || (data[full] ^ self.bytes[full]) & ((1 << rest) - 1) == 0
    }
}

/// A reusable zlib decoder; see the module documentation.
pub(crate) struct Inflater {
    litlen: Huffman,
    dist: Huffman,
    precode: Huffman,
    /// Valid while the tables hold its codes.
    cached: Option<CachedHeader>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("cached_header_bits", &self.cached.as_ref().map(|c| c.bits))
            .finish_non_exhaustive()
    }
}

impl Clone for Inflater {
    /// A fresh decoder: the tables are a cache.
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Self {
            litlen: Huffman::new(LITLEN_BITS),
            dist: Huffman::new(DIST_BITS),
            precode: Huffman::new(PRECODE_BITS),
            cached: None,
        }
    }

    /// Decodes the zlib stream `input`, which must fill `out` exactly and end with its
    /// Adler-32, with nothing after it. `None` declines the stream (see the module docs).
    pub(crate) fn zlib(&mut self, input: &[u8], out: &mut [u8]) -> Option<()> {
        let (&cmf, &flg) = (input.first()?, input.get(1)?);
        // Deflate with a window of at most 32 KiB, no preset dictionary, valid check bits.
        if cmf & 0x0f != 8
            || cmf >> 4 > 7
            || flg & 0x20 != 0
            || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0
        {
            return None;
        }
        let mut bits = Bits::new(input, 2);
        let mut o = 0;
        let mut first = true;
        loop {
            bits.refill();
            let start = bits.consumed();
            let header = bits.take(3);
            let last = header & 1 == 1;
            match header >> 1 {
                0 => o = self.stored(&mut bits, out, o)?,
                1 => {
                    self.cached = None;
                    self.fixed_tables();
                    o = self.block(&mut bits, out, o)?;
                }
                2 => {
                    let reuse =
                        first && self.cached.as_ref().is_some_and(|c| c.matches(&input[2..]));
                    if reuse {
                        let skip = self.cached.as_ref().map_or(0, |c| c.bits);
                        // Back to the block's first bit, then past its header.
                        bits = Bits::new(input, 2);
                        let mut left = skip;
                        while left > 0 {
                            bits.refill();
                            let k = left.min(32) as u32;
                            bits.consume(k);
                            left -= k as usize;
                        }
                    } else {
                        self.cached = None;
                        self.dynamic_tables(&mut bits)?;
                        if first {
                            let end = bits.consumed();
                            let header_bits = end - start;
                            let bytes = input.get(2..2 + header_bits.div_ceil(8))?.to_vec();
                            self.cached = Some(CachedHeader {
                                bytes,
                                bits: header_bits,
                            });
                        }
                    }
                    o = self.block(&mut bits, out, o)?;
                }
                _ => return None,
            }
            if !bits.in_bounds() {
                return None;
            }
            first = false;
            if last {
                break;
            }
        }
        if o != out.len() {
            return None;
        }
        // The Adler-32 of the output, big-endian, on the next byte boundary, and the end.
        bits.align();
        let at = bits.consumed() / 8;
        let stored: [u8; 4] = input.get(at..)?.try_into().ok()?;
        (u32::from_be_bytes(stored) == simd_adler32::adler32(&&*out)).then_some(())
    }

    /// Copies a stored block; returns the new output position.
    fn stored(&mut self, bits: &mut Bits<'_>, out: &mut [u8], o: usize) -> Option<usize> {
        bits.align();
        bits.refill();
        let len = bits.take(16) as usize;
        let nlen = bits.take(16) as usize;
        if len != !nlen & 0xffff {
            return None;
        }
        // The bytes still in the bit buffer come first, then the rest straight from input.
        let at = bits.consumed() / 8;
        let from = bits.data.get(at..at + len)?;
        out.get_mut(o..o + len)?.copy_from_slice(from);
        *bits = Bits::new(bits.data, at + len);
        Some(o + len)
    }

    fn fixed_tables(&mut self) {
        let mut lengths = [0u8; 288];
        lengths[..144].fill(8);
        lengths[144..256].fill(9);
        lengths[256..280].fill(7);
        lengths[280..].fill(8);
        // The fixed codes are complete by construction.
        let built = self.litlen.build(&lengths, Fill::Complete);
        debug_assert!(built.is_some());
        let built = self.dist.build(&[5; 32], Fill::Complete);
        debug_assert!(built.is_some());
    }

    /// Reads a dynamic block's header and builds its codes.
    fn dynamic_tables(&mut self, bits: &mut Bits<'_>) -> Option<()> {
        bits.refill();
        let hlit = bits.take(5) as usize + 257;
        let hdist = bits.take(5) as usize + 1;
        let hclen = bits.take(4) as usize + 4;
        if hlit > 286 || hdist > 30 {
            return None;
        }
        let mut precode = [0u8; 19];
        for &i in &PRECODE_ORDER[..hclen] {
            bits.refill();
            precode[i] = bits.take(3) as u8;
        }
        self.precode.build(&precode, Fill::Complete)?;
        let total = hlit + hdist;
        let mut lengths = [0u8; 286 + 30];
        let lengths = &mut lengths[..total];
        let mut i = 0;
        while i < total {
            bits.refill();
            let (symbol, len) = self.precode.decode(bits.peek())?;
            bits.consume(len);
            let (value, repeat) = match symbol {
                0..=15 => (symbol as u8, 1),
                16 => (*lengths.get(i.checked_sub(1)?)?, 3 + bits.take(2) as usize),
                17 => (0, 3 + bits.take(3) as usize),
                _ => (0, 11 + bits.take(7) as usize),
            };
            lengths.get_mut(i..i + repeat)?.fill(value);
            i += repeat;
        }
        if lengths[256] == 0 {
            return None; // no end-of-block code
        }
        let (lit, dist) = lengths.split_at(hlit);
        self.litlen.build(lit, Fill::Complete)?;
        self.dist.build(dist, Fill::Distances)
    }

    /// Decodes one Huffman-coded block into `out` from `o`; returns the new position.
    fn block(&mut self, state: &mut Bits<'_>, out: &mut [u8], mut o: usize) -> Option<usize> {
        // A local copy the loop keeps in registers; written back at the end of the block.
        let mut bits = *state;
        loop {
            // At most 15 + 5 bits of length and 15 + 13 of distance: one refill suffices.
            bits.refill();
            let (symbol, len) = self.litlen.decode(bits.peek())?;
            bits.consume(len);
            if symbol < 256 {
                *out.get_mut(o)? = symbol as u8;
                o += 1;
                continue;
            }
            if symbol == 256 {
                *state = bits;
                return Some(o);
            }
            let l = usize::from(symbol - 257);
            let length =
                usize::from(*LENGTH_BASE.get(l)?) + bits.take(u32::from(LENGTH_EXTRA[l])) as usize;
            let (d, len) = self.dist.decode(bits.peek())?;
            bits.consume(len);
            let d = usize::from(d);
            let distance =
                usize::from(*DIST_BASE.get(d)?) + bits.take(u32::from(DIST_EXTRA[d])) as usize;
            if distance > o || o + length > out.len() {
                return None;
            }
            if distance >= length {
                out.copy_within(o - distance..o - distance + length, o);
            } else if distance == 1 {
                let v = out[o - 1];
                out[o..o + length].fill(v);
            } else {
                for j in o..o + length {
                    out[j] = out[j - distance];
                }
            }
            o += length;
        }
    }
}
