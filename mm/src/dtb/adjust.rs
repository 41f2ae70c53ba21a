//! What the memory parse (`dtb`) changes in the ranges a device tree gives
//! instead of refusing the tree, and how each change reads in the boot
//! log's memory table (as warnings, printed by the kernel's memblock).

use super::NodeName;
use crate::ranges::Range;

/// What the parse changed in a range the tree gave, the way Linux's
/// memblock treats the same input: RAM is trimmed inward to whole pages,
/// reservations are rounded outward to whole pages, empty entries are
/// skipped and overlapping RAM entries are merged. Each is a warning in the
/// boot log, not a reason to refuse the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjustKind {
    /// A RAM range trimmed inward to page boundaries (gone if nothing was left).
    RamTrimmed,
    /// A reservation rounded outward to page boundaries.
    ReservationRounded,
    /// An entry of size zero, skipped.
    ZeroSizeSkipped,
    /// A RAM range overlapping an earlier one, merged with it.
    RamMerged,
}

/// One change the parse made, with the node whose `reg` it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// What was done.
    pub kind: AdjustKind,
    /// The node (`/memreserve/` for the header's reservation block).
    pub node: NodeName,
    /// The range as the tree gave it.
    pub given: Range,
    /// The range kept (empty if none).
    pub kept: Range,
}

impl core::fmt::Display for Adjustment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use crate::fmt::Addr;
        let (g, k) = (self.given, self.kept);
        write!(f, "{} reg [{}, {}): ", self.node.as_str(), Addr(g.base), Addr(g.end))?;
        match self.kind {
            AdjustKind::RamTrimmed if k.base >= k.end => {
                write!(f, "RAM smaller than a page once trimmed to pages: skipped")
            }
            AdjustKind::RamTrimmed => write!(f, "RAM trimmed to whole pages: [{}, {})", Addr(k.base), Addr(k.end)),
            AdjustKind::ReservationRounded => {
                write!(f, "reservation rounded out to whole pages: [{}, {})", Addr(k.base), Addr(k.end))
            }
            AdjustKind::ZeroSizeSkipped => write!(f, "size zero: skipped"),
            AdjustKind::RamMerged => write!(f, "overlaps RAM already listed: merged"),
        }
    }
}
