//! Canonical Huffman codes: building the lookup table from code lengths, checking that the
//! lengths form a code, and decoding one symbol.

/// A canonical Huffman code: a table for codes of up to `bits` bits, and the code lengths'
/// counts and sorted symbols to decode longer codes bit by bit.
pub(crate) struct Huffman {
    bits: u32,
    /// Indexed by the next `bits` input bits: `symbol << 4 | length`, or 0 when the code
    /// there is longer (or unused).
    table: Vec<u16>,
    counts: [u16; 16],
    symbols: [u16; 288],
}

/// Which code spaces a code may leave partly unused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// Every code fills its space.
    Complete,
    /// Distance codes: none at all, or a single one-bit code, may leave it partly unused.
    Distances,
}

impl Huffman {
    pub(crate) fn new(bits: u32) -> Self {
        Self {
            bits,
            table: vec![0; 1 << bits],
            counts: [0; 16],
            symbols: [0; 288],
        }
    }

    /// Builds the code for `lengths` (one per symbol, 0 = unused); `None` if they do not
    /// form a code that `fill` allows.
    pub(crate) fn build(&mut self, lengths: &[u8], fill: Fill) -> Option<()> {
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
    pub(crate) fn decode(&self, bits: u64) -> Option<(u16, u32)> {
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
    pub(crate) fn decode_long(&self, bits: u64) -> Option<(u16, u32)> {
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
