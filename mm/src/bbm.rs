//! Which descriptor writes a live translation table may take: the
//! break-before-make rule, as a pure function of the old and new descriptor.
//!
//! The mapper ([`crate::pgtable`]) calls [`check`] on every write when its
//! table access sets `CHECK_WRITES` (for a kernel build that checks its
//! page tables), and the host tests replay every write the mapper makes
//! through it. It needs no
//! CPU and uses only [`crate::pte`] (and [`crate::fmt`] to print).
//!
//! The rule (Arm ARM DDI 0487, D8.14 "Translation table entry changes", the
//! break-before-make sequence): while a table is live, another CPU's walker
//! or TLB may hold the old entry. Changing the output address, the size of
//! what an entry maps (table, block or page) or the contiguous hint of a
//! valid entry in place can leave the old and new translation in the TLB
//! at once (a TLB conflict abort, or two physical addresses for one VA).
//! Such a change must go valid -> invalid -> TLB invalidate -> new valid.
//!
//! What may change in place follows arm64 Linux's `pgattr_change_is_safe`
//! (`arch/arm64/mm/mmu.c`): any write from or to an invalid descriptor is
//! safe; a valid-to-valid write keeps the output address, the descriptor
//! type and the contiguous bit, never touches a live contiguous run at all,
//! and changes only PXN, AP[2] (read-only), DBM (Linux's `PTE_WRITE`),
//! the bits the architecture leaves to software (55..=58), and nG from
//! global to not-global (the reverse is unsafe). There is no exception for
//! the access flag, UXN, shareability or the memory type (Linux's one
//! memory-type exception, Normal <-> Normal-Tagged, has no counterpart here:
//! this kernel has no tagged memory type). One difference from Linux: a
//! write of exactly the value already there is accepted, contiguous or not,
//! since it changes nothing the TLB could hold.

use crate::pte::{self, Kind};

/// Attribute bits of a valid descriptor that may change in place.
pub const MAY_CHANGE: u64 = pte::PXN | pte::AP_RDONLY | pte::DBM | pte::NG | pte::SW_MASK;

/// Why writing a descriptor over a live valid one needs break-before-make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The output (or next-table) address would change.
    OutputAddressChanged,
    /// The entry would change between table, block and page (or reserved):
    /// a different size of mapping for the same addresses.
    BlockSizeChanged,
    /// The contiguous bit would be set or cleared on a live entry.
    ContiguousFlipped,
    /// An entry of a live contiguous run would change in another way: every
    /// entry of a run must stay alike, so a run is never edited in place.
    ContiguousRunChanged,
    /// Attribute bits outside [`MAY_CHANGE`] would change (or nG would be
    /// cleared): `mask` holds the offending bits.
    AttributesChanged {
        /// The bits that may not change in place.
        mask: u64,
    },
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Reason::OutputAddressChanged => write!(f, "output address changed"),
            Reason::BlockSizeChanged => write!(f, "block size (descriptor type) changed"),
            Reason::ContiguousFlipped => write!(f, "contiguous bit flipped on a live entry"),
            Reason::ContiguousRunChanged => write!(f, "live contiguous run changed"),
            Reason::AttributesChanged { mask } => write!(f, "attributes changed in place (bits {:#018x})", mask),
        }
    }
}

/// Decide whether writing `new` over the live descriptor `old` at `level`
/// (0..=3) is safe without break-before-make.
pub const fn check(old: u64, new: u64, level: u32) -> Result<(), Reason> {
    if old == new || old & pte::VALID == 0 || new & pte::VALID == 0 {
        return Ok(());
    }
    if !same_kind(pte::kind(old, level), pte::kind(new, level)) {
        return Err(Reason::BlockSizeChanged);
    }
    if pte::desc_addr(old) != pte::desc_addr(new) {
        return Err(Reason::OutputAddressChanged);
    }
    if (old ^ new) & pte::CONT != 0 {
        return Err(Reason::ContiguousFlipped);
    }
    if old & pte::CONT != 0 {
        return Err(Reason::ContiguousRunChanged);
    }
    // nG may only be set: a global TLB entry for the old descriptor could
    // outlive a change from not global to global.
    let may_change = if old & pte::NG != 0 { MAY_CHANGE & !pte::NG } else { MAY_CHANGE };
    let mask = (old ^ new) & !may_change;
    if mask != 0 {
        return Err(Reason::AttributesChanged { mask });
    }
    Ok(())
}

/// `Kind` has no const `PartialEq`.
const fn same_kind(a: Kind, b: Kind) -> bool {
    a as u8 == b as u8
}

/// One unsafe write found by the checked mode of the mapper: what a
/// checking build reports and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// First virtual address the entry maps.
    pub va: u64,
    /// Level of the table written.
    pub level: u32,
    /// The descriptor in the table before the write.
    pub old: u64,
    /// The descriptor written.
    pub new: u64,
    /// Why the write is unsafe.
    pub reason: Reason,
    /// Who called the mapper.
    pub caller: &'static core::panic::Location<'static>,
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "unsafe write to a live table at {} (level {}): old {:#018x} new {:#018x}, {}, from {}",
            crate::fmt::Addr(self.va),
            self.level,
            self.old,
            self.new,
            self.reason,
            self.caller
        )
    }
}
