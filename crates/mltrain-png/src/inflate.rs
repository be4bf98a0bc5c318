//! A zlib (RFC 1950) / DEFLATE (RFC 1951) decoder for small streams whose decoding tables
//! are reused from stream to stream when a block's header repeats.
//!
//! The `png` crate (through `fdeflate`) builds 4,096-entry tables, with every pair of short
//! literal codes in them, for each stream: for a 28 × 28 digit (a 350-byte stream) that is
//! a large share of the image's decoding time. This decoder's tables hold single codes
//! only, and it keeps them: PNGs written by one encoder with fixed settings often start
//! with the very same dynamic Huffman header (every PNG `fdeflate`'s fast mode writes does,
//! as `mltrain dataset` writes them), and then the header is compared, not decoded.
//!
//! It is strict: anything it does not fully check (preset dictionaries, codes that do not
//! fill their code space, output of another length than expected, a bad Adler-32, bytes
//! after the stream) is declined with `None`, and the caller decodes with another decoder,
//! which gives the error, if any.

use crate::bits::Bits;
use crate::huffman::{Fill, Huffman};
use crate::tables::{
    DIST_BASE, DIST_BITS, DIST_EXTRA, LENGTH_BASE, LENGTH_EXTRA, LITLEN_BITS, PRECODE_BITS,
    PRECODE_ORDER,
};

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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use std::io::Write;

    use super::*;

    /// Writes a DEFLATE stream: values least significant bit first, Huffman codes most
    /// significant bit first (RFC 1951, section 3.1.1).
    #[derive(Default)]
    struct BitWriter {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl BitWriter {
        fn bits(&mut self, v: usize, k: u32) {
            self.acc |= (v as u64) << self.n;
            self.n += k;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }

        fn code(&mut self, (code, len): Code) {
            for i in (0..len).rev() {
                self.bits(((code >> i) & 1) as usize, 1);
            }
        }

        fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.bits(0, 8 - self.n);
            }
            self.out
        }
    }

    /// A Huffman code and its length in bits.
    type Code = (u32, u8);

    /// The canonical code of each symbol (RFC 1951, section 3.2.2), with its length.
    fn canonical(lengths: &[u8]) -> Vec<Code> {
        let mut count = [0u32; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u32; 16];
        let mut code = 0;
        for bits in 1..16 {
            code = (code + count[bits - 1]) << 1;
            next[bits] = code;
        }
        lengths
            .iter()
            .map(|&l| {
                let c = next[usize::from(l)];
                next[usize::from(l)] += 1;
                (c, l)
            })
            .collect()
    }

    /// Code lengths of `n` symbols, zero but for `set`.
    fn lengths(n: usize, set: &[(usize, u8)]) -> Vec<u8> {
        let mut l = vec![0; n];
        for &(symbol, len) in set {
            l[symbol] = len;
        }
        l
    }

    /// Writes a dynamic block's header: `lit` and `dist` code lengths sent with the code
    /// length code `precode` (lengths of symbols 0..19, repeat codes unused). Returns the
    /// literal/length and distance codes.
    fn dynamic_header(
        w: &mut BitWriter,
        precode: &[u8; 19],
        lit: &[u8],
        dist: &[u8],
    ) -> (Vec<Code>, Vec<Code>) {
        w.bits(1, 1); // last block
        w.bits(2, 2);
        w.bits(lit.len() - 257, 5);
        w.bits(dist.len() - 1, 5);
        w.bits(19 - 4, 4);
        for &i in &PRECODE_ORDER {
            w.bits(usize::from(precode[i]), 3);
        }
        let pc = canonical(precode);
        for &l in lit.iter().chain(dist) {
            w.code(pc[usize::from(l)]);
        }
        (canonical(lit), canonical(dist))
    }

    /// Lengths 0 to 3 in two bits each.
    const SMALL_PRECODE: [u8; 19] = [2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    /// `deflate` in a zlib stream (32 KiB window, no dictionary) ending with the Adler-32
    /// of `output`.
    fn zlib(deflate: &[u8], output: &[u8]) -> Vec<u8> {
        let adler = simd_adler32::adler32(&output);
        [&[0x78, 0x01], deflate, &adler.to_be_bytes()].concat()
    }

    /// Decodes `stream` into exactly `len` bytes with a fresh decoder.
    fn inflate(stream: &[u8], len: usize) -> Option<Vec<u8>> {
        let mut out = vec![0; len];
        Inflater::new().zlib(stream, &mut out).map(|()| out)
    }

    /// A dynamic block: 'a' (1 bit), end of block and length 3 (2 bits each); one
    /// distance code (1 bit, distance `1 + dist_symbol`). `body` writes the symbols.
    fn dynamic_stream(dist_symbol: usize, body: &[usize]) -> Vec<u8> {
        let mut w = BitWriter::default();
        let lit = lengths(258, &[(97, 1), (256, 2), (257, 2)]);
        let dist = lengths(dist_symbol + 1, &[(dist_symbol, 1)]);
        let (lit, dist) = dynamic_header(&mut w, &SMALL_PRECODE, &lit, &dist);
        for &s in body {
            w.code(lit[s]);
            if s == 257 {
                w.code(dist[dist_symbol]);
            }
        }
        w.finish()
    }

    #[test]
    fn hand_made_dynamic_block_decodes() {
        let stream = zlib(&dynamic_stream(0, &[97, 257, 256]), b"aaaa");
        assert_eq!(inflate(&stream, 4).unwrap(), b"aaaa");
        // Another output length than the stream's, or a wrong Adler-32, is declined.
        assert_eq!(inflate(&stream, 3), None);
        assert_eq!(inflate(&stream, 5), None);
        let mut bad_adler = stream.clone();
        *bad_adler.last_mut().unwrap() ^= 1;
        assert_eq!(inflate(&bad_adler, 4), None);
        assert_eq!(inflate(&[stream.as_slice(), &[0]].concat(), 4), None);
    }

    #[test]
    fn over_subscribed_codes_are_declined() {
        // Code length code: three 1-bit codes.
        let mut precode = [0u8; 19];
        precode[..3].fill(1);
        let mut w = BitWriter::default();
        dynamic_header(&mut w, &precode, &lengths(257, &[(256, 1)]), &[1]);
        assert_eq!(inflate(&zlib(&w.finish(), b""), 0), None);
        // Literal/length code: three 1-bit codes.
        let mut w = BitWriter::default();
        let lit = lengths(257, &[(0, 1), (1, 1), (256, 1)]);
        let (lit, _) = dynamic_header(&mut w, &SMALL_PRECODE, &lit, &[1]);
        w.code(lit[256]);
        assert_eq!(inflate(&zlib(&w.finish(), b""), 0), None);
        // Distance code: three 1-bit codes.
        let mut w = BitWriter::default();
        let lit = lengths(257, &[(0, 1), (256, 1)]);
        let (lit, _) = dynamic_header(&mut w, &SMALL_PRECODE, &lit, &[1, 1, 1]);
        w.code(lit[256]);
        assert_eq!(inflate(&zlib(&w.finish(), b""), 0), None);
    }

    #[test]
    fn incomplete_codes_are_declined() {
        // Code length code: a single 2-bit code.
        let mut precode = [0u8; 19];
        precode[1] = 2;
        let mut w = BitWriter::default();
        dynamic_header(&mut w, &precode, &lengths(257, &[(256, 1)]), &[1]);
        assert_eq!(inflate(&zlib(&w.finish(), b""), 0), None);
        // Literal/length code: a 1-bit and a 2-bit code.
        let mut w = BitWriter::default();
        let lit = lengths(257, &[(0, 1), (256, 2)]);
        let (lit, _) = dynamic_header(&mut w, &SMALL_PRECODE, &lit, &[1]);
        w.code(lit[0]);
        w.code(lit[256]);
        assert_eq!(inflate(&zlib(&w.finish(), &[0]), 1), None);
        // Distance code: a 1-bit and a 2-bit code (only a single 1-bit one may be short).
        let mut w = BitWriter::default();
        let lit = lengths(257, &[(0, 1), (256, 1)]);
        let (lit, _) = dynamic_header(&mut w, &SMALL_PRECODE, &lit, &[1, 2]);
        w.code(lit[0]);
        w.code(lit[256]);
        assert_eq!(inflate(&zlib(&w.finish(), &[0]), 1), None);
        // No end-of-block code at all.
        let mut w = BitWriter::default();
        dynamic_header(
            &mut w,
            &SMALL_PRECODE,
            &lengths(257, &[(0, 1), (1, 1)]),
            &[1],
        );
        assert_eq!(inflate(&zlib(&w.finish(), &[0]), 1), None);
    }

    #[test]
    fn malformed_code_length_sequences_are_declined() {
        // A repeat of the previous length (16) with no previous length.
        let mut w = BitWriter::default();
        w.bits(1, 1);
        w.bits(2, 2);
        w.bits(0, 5);
        w.bits(0, 5);
        w.bits(0, 4); // four code length codes: 16, 17, 18, 0, each 2 bits
        for _ in 0..4 {
            w.bits(2, 3);
        }
        w.code((0, 2)); // symbol 16 is the first 2-bit code
        w.bits(0, 2);
        assert_eq!(inflate(&zlib(&w.finish(), b""), 0), None);
        // A run of zeros (18) past the end of the lengths: 257 + 1 codes, 138 zeros twice.
        let mut w = BitWriter::default();
        w.bits(1, 1);
        w.bits(2, 2);
        w.bits(0, 5);
        w.bits(0, 5);
        w.bits(0, 4);
        for _ in 0..4 {
            w.bits(2, 3);
        }
        for _ in 0..2 {
            w.code((2, 2)); // symbol 18
            w.bits(127, 7);
        }
        assert_eq!(inflate(&zlib(&w.finish(), b""), 0), None);
    }

    #[test]
    fn distance_beyond_the_output_is_declined() {
        // A match before any literal.
        let stream = zlib(&dynamic_stream(0, &[257, 256]), b"\0\0\0");
        assert_eq!(inflate(&stream, 3), None);
        // Distance 2 after one literal.
        let stream = zlib(&dynamic_stream(1, &[97, 257, 256]), b"aaaa");
        assert_eq!(inflate(&stream, 4), None);
        // Distance 1 after one literal is fine (the control).
        let stream = zlib(&dynamic_stream(0, &[97, 257, 257, 256]), b"aaaaaaa");
        assert_eq!(inflate(&stream, 7).unwrap(), b"aaaaaaa");
    }

    #[test]
    fn codes_longer_than_the_table_decode() {
        // 'a' 1 bit, bytes 0..13 2 to 14 bits, end of block and length 3 15 bits each.
        let mut set = vec![(97, 1), (256, 15), (257, 15)];
        set.extend((0..13).map(|s| (s, s as u8 + 2)));
        let lit = lengths(258, &set);
        let mut precode = [0u8; 19];
        precode[..16].fill(4);
        let mut w = BitWriter::default();
        let (lit, _) = dynamic_header(&mut w, &precode, &lit, &[1]);
        let expected: Vec<u8> = (0..13).chain([97]).collect();
        for &b in &expected {
            w.code(lit[usize::from(b)]);
        }
        w.code(lit[256]);
        let stream = zlib(&w.finish(), &expected);
        assert_eq!(inflate(&stream, expected.len()).unwrap(), expected);
    }

    #[test]
    fn invalid_block_type_is_declined() {
        let mut w = BitWriter::default();
        w.bits(1, 1);
        w.bits(3, 2);
        w.bits(0, 29);
        assert_eq!(inflate(&zlib(&w.finish(), b""), 0), None);
    }

    /// A stored block of `data`, with `nlen` as its NLEN field.
    fn stored(data: &[u8], nlen: u16) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(1, 1);
        w.bits(0, 2);
        let mut out = w.finish();
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(&nlen.to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn stored_block_whose_len_and_nlen_disagree_is_declined() {
        let good = zlib(&stored(b"abc", !3), b"abc");
        assert_eq!(inflate(&good, 3).unwrap(), b"abc");
        for nlen in [!3 ^ 1, 3, 0, 0xffff] {
            assert_eq!(inflate(&zlib(&stored(b"abc", nlen), b"abc"), 3), None);
        }
        // LEN beyond the input.
        let mut long = stored(b"abc", !3);
        long[1..5].copy_from_slice(&[200, 0, !200, 0xff]);
        assert_eq!(inflate(&zlib(&long, b"abc"), 3), None);
    }

    #[test]
    fn bad_zlib_headers_are_declined() {
        let good = zlib(&stored(b"abc", !3), b"abc");
        for header in [
            [0x78, 0x02],
            [0x78, 0x20 | 0x1b],
            [0x88, 0x1c],
            [0x79, 0x01],
        ] {
            let mut bad = good.clone();
            bad[..2].copy_from_slice(&header);
            assert_eq!(inflate(&bad, 3), None, "{header:02x?}");
        }
    }

    /// Every stream cut short anywhere is declined, never decoded from the zeros past its
    /// end.
    #[test]
    fn truncated_streams_are_declined() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * i % 251) as u8).collect();
        let mut streams = vec![
            (
                zlib(&dynamic_stream(0, &[97, 257, 257, 256]), b"aaaaaaa"),
                b"aaaaaaa".to_vec(),
            ),
            (zlib(&stored(b"abc", !3), b"abc"), b"abc".to_vec()),
        ];
        for level in [0, 1, 6, 9] {
            let mut enc =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
            enc.write_all(&data).unwrap();
            streams.push((enc.finish().unwrap(), data.clone()));
        }
        let mut inflater = Inflater::new();
        for (stream, expected) in &streams {
            let mut out = vec![0; expected.len()];
            assert!(inflater.zlib(stream, &mut out).is_some());
            assert_eq!(&out, expected);
            for n in 0..stream.len() {
                assert_eq!(inflater.zlib(&stream[..n], &mut out), None, "{n} bytes");
            }
        }
    }

    /// A decoder keeps its tables for the next stream whose first block header is the same,
    /// and rebuilds them when it is not.
    #[test]
    fn kept_tables_are_reused_only_for_the_same_header() {
        let mut inflater = Inflater::new();
        let a = zlib(&dynamic_stream(0, &[97, 257, 256]), b"aaaa");
        let b = zlib(&dynamic_stream(0, &[97, 97, 256]), b"aa");
        let other = zlib(&stored(b"xyz", !3), b"xyz");
        for (stream, expected) in [
            (&a, &b"aaaa"[..]),
            (&b, b"aa"),
            (&a, b"aaaa"),
            (&other, b"xyz"),
            (&b, b"aa"),
        ] {
            let mut out = vec![0; expected.len()];
            assert!(inflater.zlib(stream, &mut out).is_some());
            assert_eq!(out, expected);
        }
        assert!(inflater.cached.is_some());
    }
}
