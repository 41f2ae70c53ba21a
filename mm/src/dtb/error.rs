//! What can be wrong with a device tree, as the walker (`fdt_walk`) and the
//! memory parse (`dtb`) report it: one variant per kind of problem, each
//! printed as a message that names it, for the boot log's fatal error
//! (exit code 2).

use crate::ranges::Range;

/// What is wrong with a device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// Fewer bytes than the header or `totalsize` says.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The first word is not 0xd00dfeed.
    BadMagic(u32),
    /// Version older than 16 (the first with the layout we read).
    BadVersion(u32),
    /// `totalsize` above the 2 MiB the boot protocol allows.
    TooLarge(usize),
    /// A block of the blob lies outside it or is misaligned.
    BadLayout(&'static str),
    /// The structure block is malformed at this offset.
    Malformed {
        /// What is wrong.
        what: &'static str,
        /// Offset of the token inside the structure block.
        offset: usize,
    },
    /// `#address-cells` or `#size-cells` has a value the kernel cannot use.
    BadCells {
        /// The node whose children use the cells.
        node: NodeName,
        /// `#address-cells`.
        address: u32,
        /// `#size-cells`.
        size: u32,
    },
    /// A `reg` property whose length is not a whole number of entries.
    BadReg(NodeName),
    /// No enabled memory node with a `reg` entry.
    NoMemory,
    /// A memory range of size zero.
    ZeroSizeRange {
        /// Its base.
        base: u64,
    },
    /// A range that wraps past 2^64 or ends above the 48-bit physical limit.
    RangeTooHigh {
        /// The node whose `reg` holds it (`/memreserve/` for the header's block).
        node: NodeName,
        /// Its base.
        base: u64,
        /// Its size.
        size: u64,
    },
    /// Two memory ranges that overlap.
    OverlappingRanges {
        /// One range.
        a: Range,
        /// The other.
        b: Range,
    },
    /// More ranges than the fixed tables hold.
    TooManyRanges,
}

/// A node name kept by value for error messages (truncated to 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NodeName {
    buf: [u8; 32],
    len: u8,
}

impl NodeName {
    /// The first 32 bytes of `s` (cut at a character boundary).
    pub fn new(s: &str) -> NodeName {
        let mut buf = [0u8; 32];
        let mut len = s.len().min(32);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        buf[..len].copy_from_slice(&s.as_bytes()[..len]);
        NodeName { buf, len: len as u8 }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("?")
    }
}

impl core::fmt::Debug for NodeName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl core::fmt::Display for DtbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DtbError::Truncated { need, have } => {
                write!(f, "truncated device tree: needs {} bytes, {} available", need, have)
            }
            DtbError::BadMagic(m) => {
                write!(f, "bad device tree magic {:#010x} (expected 0xd00dfeed)", m)
            }
            DtbError::BadVersion(v) => write!(f, "unsupported device tree version {} (need 16 or later)", v),
            DtbError::TooLarge(s) => write!(f, "device tree of {} bytes is larger than the 2 MiB allowed", s),
            DtbError::BadLayout(what) => write!(f, "bad device tree layout: {}", what),
            DtbError::Malformed { what, offset } => {
                write!(f, "malformed device tree structure at offset {:#x}: {}", offset, what)
            }
            DtbError::BadCells { node, address, size } => write!(
                f,
                "node {:?}: unusable #address-cells = {} / #size-cells = {} (need 1 or 2 each)",
                node.as_str(),
                address,
                size
            ),
            DtbError::BadReg(node) => {
                write!(f, "node {:?}: reg is not a whole number of (address, size) entries", node.as_str())
            }
            DtbError::NoMemory => write!(f, "no memory node: the device tree describes no RAM"),
            DtbError::ZeroSizeRange { base } => {
                write!(f, "memory range at {:#x} has size zero", base)
            }
            DtbError::RangeTooHigh { node, base, size } => {
                write!(
                    f,
                    "node {:?}: reg range {:#x} + {:#x} lies beyond the 48-bit physical address space",
                    node.as_str(),
                    base,
                    size
                )
            }
            DtbError::OverlappingRanges { a, b } => {
                write!(f, "memory ranges overlap: [{:#x}, {:#x}) and [{:#x}, {:#x})", a.base, a.end, b.base, b.end)
            }
            DtbError::TooManyRanges => write!(f, "too many memory ranges or reservations"),
        }
    }
}
