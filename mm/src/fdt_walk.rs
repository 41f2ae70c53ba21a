//! The one device-tree walker: header checks and a validating walk of the
//! structure block, shared by the early KASLR scan (boot stage 3, before
//! relocation, through the identity map) and the full parse of `dtb`
//! (boot stage 4, through the fixmap).
//!
//! Because the early code runs before the image is relocated, everything
//! here is written to be inlined into it and to stay inside its section:
//! - every function is `#[inline(always)]`;
//! - every read goes through `get`, every sum that could wrap is checked,
//!   so no path can panic (a panic would call code the early section
//!   cannot reach);
//! - names are compared byte by byte ([`bytes_eq`]), never through `==` on
//!   slices or `str` (which may call `memcmp`), and nothing is converted to
//!   `str` (UTF-8 is checked by `dtb` for the full parse);
//! - nothing allocates and no pointer is stored in a static.
//!
//! The kernel's build checks the first three for the early code (every
//! relocation in `.idmap.text` PC-relative, no call leaving it).
//!
//! A blob is trusted only as far as it has been checked: [`Header::check`]
//! bounds every block by `totalsize` and `totalsize` by the bytes the caller
//! can read; [`Walker`] checks every token, length, name and nesting rule as
//! it reads, and reports the first violation with its offset.

use crate::dtb::{DtbError, MAX_DEPTH};

/// The magic number at offset 0, big-endian.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the header (version 17 layout).
pub const HEADER_SIZE: usize = 40;
const TOKEN_BEGIN_NODE: u32 = 1;
const TOKEN_END_NODE: u32 = 2;
const TOKEN_PROP: u32 = 3;
const TOKEN_NOP: u32 = 4;
const TOKEN_END: u32 = 9;

/// A big-endian u32 at `off`, if all four bytes are inside `b`.
#[inline(always)]
pub fn be32(b: &[u8], off: usize) -> Option<u32> {
    let end = off.checked_add(4)?;
    match b.get(off..end) {
        Some(&[x0, x1, x2, x3]) => Some(u32::from_be_bytes([x0, x1, x2, x3])),
        _ => None,
    }
}

/// A big-endian u64 at `off`, if all eight bytes are inside `b`.
#[inline(always)]
pub fn be64(b: &[u8], off: usize) -> Option<u64> {
    Some(((be32(b, off)? as u64) << 32) | be32(b, off.checked_add(4)?)? as u64)
}

/// `a == b`, byte by byte (no library call).
#[inline(always)]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x == y => i += 1,
            _ => return false,
        }
    }
    true
}

/// The bytes of `s` before its first NUL, if it has one.
#[inline(always)]
fn until_nul(s: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    loop {
        match s.get(i) {
            Some(0) => return s.get(..i),
            Some(_) => i += 1,
            None => return None,
        }
    }
}

#[inline(always)]
fn pad4(x: usize) -> usize {
    x.saturating_add(3) & !3
}

/// The checked header: where each block is, all inside `totalsize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `totalsize`: the blob's length.
    pub total: usize,
    /// Offset and size of the structure block.
    pub structs: (usize, usize),
    /// Offset and size of the strings block.
    pub strings: (usize, usize),
    /// Offset of the memory reservation block (terminated inside the blob).
    pub rsvmap: usize,
}

/// Read the `totalsize` field of the header at the start of `bytes`, after
/// checking the magic: what a caller needs to know how much to map.
#[inline(always)]
pub fn header_total_size(bytes: &[u8]) -> Result<usize, DtbError> {
    let magic = be32(bytes, 0).ok_or(DtbError::Truncated { need: 8, have: bytes.len() })?;
    if magic != FDT_MAGIC {
        return Err(DtbError::BadMagic(magic));
    }
    let total = be32(bytes, 4).ok_or(DtbError::Truncated { need: 8, have: bytes.len() })? as usize;
    if total > crate::layout::MAX_FDT_SIZE as usize {
        return Err(DtbError::TooLarge(total));
    }
    if total < HEADER_SIZE {
        return Err(DtbError::BadLayout("totalsize smaller than the header"));
    }
    Ok(total)
}

impl Header {
    /// Check the header of the blob that starts `bytes` (all the caller can
    /// read): magic, size, version, and every block inside `totalsize`,
    /// aligned, the reservation block terminated.
    #[inline(always)]
    pub fn check(bytes: &[u8]) -> Result<Header, DtbError> {
        let have = bytes.len();
        if have < HEADER_SIZE {
            return Err(DtbError::Truncated { need: HEADER_SIZE, have });
        }
        let total = header_total_size(bytes)?;
        if total > have {
            return Err(DtbError::Truncated { need: total, have });
        }
        let field = |i: usize| be32(bytes, 4 * i).unwrap_or(0) as usize;
        let (off_struct, off_strings, off_rsvmap) = (field(2), field(3), field(4));
        let (version, size_strings, size_struct) = (field(5), field(8), field(9));
        if version < 16 {
            return Err(DtbError::BadVersion(version as u32));
        }
        let inside = |off: usize, size: usize| off >= HEADER_SIZE && off.checked_add(size).is_some_and(|e| e <= total);
        if !inside(off_struct, size_struct) {
            return Err(DtbError::BadLayout("structure block outside the blob"));
        }
        if !inside(off_strings, size_strings) {
            return Err(DtbError::BadLayout("strings block outside the blob"));
        }
        if off_struct % 4 != 0 || size_struct % 4 != 0 {
            return Err(DtbError::BadLayout("structure block not 4-byte aligned"));
        }
        if off_rsvmap % 8 != 0 || off_rsvmap < HEADER_SIZE {
            return Err(DtbError::BadLayout("memory reservation block misaligned"));
        }
        // A list of (address, size) pairs ending with (0, 0), inside the blob.
        let blob = bytes.get(..total).unwrap_or(&[]);
        let mut off = off_rsvmap;
        loop {
            match (be64(blob, off), be64(blob, off.saturating_add(8))) {
                (Some(0), Some(0)) => break,
                (Some(_), Some(_)) => off += 16,
                _ => return Err(DtbError::BadLayout("memory reservation block not terminated")),
            }
        }
        Ok(Header {
            total,
            structs: (off_struct, size_struct),
            strings: (off_strings, size_strings),
            rsvmap: off_rsvmap,
        })
    }

    /// The blob, the structure block and the strings block of `bytes`.
    #[inline(always)]
    pub fn blocks<'a>(&self, bytes: &'a [u8]) -> (&'a [u8], &'a [u8], &'a [u8]) {
        let block = |(off, size): (usize, usize)| bytes.get(off..off + size).unwrap_or(&[]);
        (bytes.get(..self.total).unwrap_or(&[]), block(self.structs), block(self.strings))
    }
}

/// One token of the structure block, names and values as bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawToken<'a> {
    /// A node starts (its name includes the unit address; the root's is empty).
    Begin(&'a [u8]),
    /// A property of the current node, with the offset of its value inside
    /// the structure block.
    Prop {
        /// The name, from the strings block.
        name: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// Where the value starts in the structure block.
        value_offset: usize,
    },
    /// The current node ends.
    End,
}

/// A validating walk of the structure block: each call to [`Walker::next_token`]
/// returns the next token (NOPs skipped) with the depth it leaves, after
/// checking it and the nesting rules; `Ok(None)` once FDT_END is reached
/// with every node closed. After an error the walk stays at the error.
pub struct Walker<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    pos: usize,
    depth: usize,
    seen_root: bool,
    /// Whether the node at each depth already had a child (properties must
    /// come first).
    had_child: [bool; MAX_DEPTH + 1],
    error: Option<DtbError>,
    finished: bool,
}

impl<'a> Walker<'a> {
    /// Walk `structs`, reading property names from `strings`.
    #[inline(always)]
    pub fn new(structs: &'a [u8], strings: &'a [u8]) -> Walker<'a> {
        Walker {
            structs,
            strings,
            pos: 0,
            depth: 0,
            seen_root: false,
            had_child: [false; MAX_DEPTH + 1],
            error: None,
            finished: false,
        }
    }

    /// Offset of the next token in the structure block.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The next token and the depth after it (1 inside the root node).
    #[inline(always)]
    pub fn next_token(&mut self) -> Result<Option<(RawToken<'a>, usize)>, DtbError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.finished {
            return Ok(None);
        }
        match self.step() {
            Ok(t) => Ok(t),
            Err(e) => {
                self.error = Some(e);
                Err(e)
            }
        }
    }

    #[inline(always)]
    fn step(&mut self) -> Result<Option<(RawToken<'a>, usize)>, DtbError> {
        loop {
            let pos = self.pos;
            let bad = |what| DtbError::Malformed { what, offset: pos };
            let s = self.structs;
            let tag = be32(s, pos).ok_or(bad("structure block ends without FDT_END"))?;
            match tag {
                TOKEN_NOP => self.pos = pos + 4,
                TOKEN_END => {
                    if self.depth != 0 || !self.seen_root {
                        return Err(bad("FDT_END inside a node or before the root"));
                    }
                    self.finished = true;
                    return Ok(None);
                }
                TOKEN_BEGIN_NODE => {
                    let rest = s.get(pos + 4..).ok_or(bad("node name missing"))?;
                    let name = until_nul(rest).ok_or(bad("node name not terminated"))?;
                    if self.depth == 0 {
                        if self.seen_root {
                            return Err(bad("more than one root node"));
                        }
                        if !name.is_empty() {
                            return Err(bad("root node has a name"));
                        }
                        self.seen_root = true;
                    } else if name.is_empty() {
                        return Err(bad("node without a name"));
                    }
                    if self.depth >= MAX_DEPTH {
                        return Err(bad("nodes nested too deeply"));
                    }
                    if let Some(h) = self.had_child.get_mut(self.depth) {
                        *h = true;
                    }
                    self.depth += 1;
                    if let Some(h) = self.had_child.get_mut(self.depth) {
                        *h = false;
                    }
                    self.pos = pos + 4 + pad4(name.len() + 1);
                    return Ok(Some((RawToken::Begin(name), self.depth)));
                }
                TOKEN_END_NODE => {
                    if self.depth == 0 {
                        return Err(bad("FDT_END_NODE without a node"));
                    }
                    self.depth -= 1;
                    self.pos = pos + 4;
                    if self.depth == 0 {
                        // After the root closes only NOPs and FDT_END may follow.
                        let mut p = self.pos;
                        loop {
                            match be32(s, p) {
                                Some(TOKEN_NOP) => p += 4,
                                Some(TOKEN_END) => break,
                                _ => return Err(DtbError::Malformed { what: "data after the root node", offset: p }),
                            }
                        }
                    }
                    return Ok(Some((RawToken::End, self.depth)));
                }
                TOKEN_PROP => {
                    let len = be32(s, pos + 4).ok_or(bad("property header truncated"))? as usize;
                    let nameoff = be32(s, pos + 8).ok_or(bad("property header truncated"))? as usize;
                    let value_offset = pos + 12;
                    let value = value_offset
                        .checked_add(len)
                        .and_then(|end| s.get(value_offset..end))
                        .ok_or(bad("property value runs past the block"))?;
                    let name = self
                        .strings
                        .get(nameoff..)
                        .and_then(until_nul)
                        .ok_or(bad("property name outside the strings block"))?;
                    if self.depth == 0 {
                        return Err(bad("property outside any node"));
                    }
                    if self.had_child.get(self.depth).copied().unwrap_or(true) {
                        return Err(bad("property after a child node"));
                    }
                    if (bytes_eq(name, b"#address-cells") || bytes_eq(name, b"#size-cells")) && value.len() != 4 {
                        return Err(bad("#address-cells/#size-cells is not one cell"));
                    }
                    self.pos = value_offset + pad4(len);
                    return Ok(Some((RawToken::Prop { name, value, value_offset }, self.depth)));
                }
                _ => return Err(bad("unknown token")),
            }
        }
    }
}
