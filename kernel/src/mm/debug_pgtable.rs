//! `debug_pgtable`: every descriptor write the kernel makes to a live table
//! goes through [`write`], which, with the `debug_pgtable` feature, checks
//! it against the break-before-make rule before storing it.
//!
//! The rule (Arm ARM, break-before-make; arm64 Linux's
//! `pgattr_change_is_safe`): a write from or to an invalid descriptor is
//! always safe; a valid entry keeps its output address, its size (table,
//! block or page) and its contiguous bit, a live contiguous run is never
//! edited in place, and only permission-like bits (PXN, read-only, DBM,
//! software bits, global -> not-global) change in place. An unsafe write is
//! reported with the address it maps, the table level, the old and the new
//! descriptor and the caller, and counted ([`violations`]); the write is
//! still made, as Linux's WARN does, so a boot shows every violation.
//! Without the feature [`write`] is a plain volatile store.
//!
//! Used by the fixmap, `populate` and the mapper's table access, from the
//! fixmap on. May use: `console` (the report).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
#[cfg(feature = "debug_pgtable")]
use vakern_mm::pte;

static VIOLATIONS: AtomicU64 = AtomicU64::new(0);

/// Unsafe writes to live tables seen so far (0 without the feature).
pub fn violations() -> u64 {
    VIOLATIONS.load(Relaxed)
}

/// Why a write to a live entry needs break-before-make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The output (or next-table) address changes.
    OutputAddress,
    /// Table, block and page swap: another size of mapping for the same VAs.
    BlockSize,
    /// The contiguous bit is set or cleared on a live entry.
    Contiguous,
    /// A live contiguous run is changed in another way.
    ContiguousRun,
    /// Attribute bits that may not change in place change (the mask).
    Attributes(u64),
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Reason::OutputAddress => write!(f, "output address changed"),
            Reason::BlockSize => write!(f, "block size changed"),
            Reason::Contiguous => write!(f, "contiguous bit flipped on a live entry"),
            Reason::ContiguousRun => write!(f, "live contiguous run changed"),
            Reason::Attributes(m) => write!(f, "attributes changed in place (bits {:#018x})", m),
        }
    }
}

/// Is writing `new` over the live `old` at `level` safe without
/// break-before-make? The rule is in the module comment.
#[cfg(feature = "debug_pgtable")]
pub fn check(old: u64, new: u64, level: u32) -> Result<(), Reason> {
    if old == new || old & pte::VALID == 0 || new & pte::VALID == 0 {
        return Ok(());
    }
    // Both valid: bit 1 tells table from block at levels 0-2 and page from
    // reserved at level 3, so a change of it is a change of size at any
    // level (the check needs no level, for callers that do not know it).
    let _ = level;
    if (old ^ new) & pte::TABLE_OR_PAGE != 0 {
        return Err(Reason::BlockSize);
    }
    if pte::desc_addr(old) != pte::desc_addr(new) {
        return Err(Reason::OutputAddress);
    }
    if (old ^ new) & pte::CONT != 0 {
        return Err(Reason::Contiguous);
    }
    if old & pte::CONT != 0 {
        return Err(Reason::ContiguousRun);
    }
    const MAY_CHANGE: u64 = pte::PXN | pte::AP_RDONLY | (1 << 51) | pte::NG | (0xf << 55);
    let mask = ((old ^ new) & !MAY_CHANGE) | (old & !new & pte::NG);
    if mask != 0 {
        return Err(Reason::Attributes(mask));
    }
    Ok(())
}

/// Report and count one unsafe write.
#[cfg(feature = "debug_pgtable")]
pub fn report(entry: u64, va: u64, level: u32, old: u64, new: u64, reason: Reason, caller: &core::panic::Location<'_>) {
    let n = VIOLATIONS.fetch_add(1, Relaxed) + 1;
    crate::pr_err!(
        "debug_pgtable: unsafe write to a live table: entry {} (level {}, maps {}): old {:#018x} new {:#018x}: {} [{}], from {} (violation {})",
        vakern_mm::fmt::Addr(entry),
        LevelName(level),
        vakern_mm::fmt::Addr(va),
        old,
        new,
        reason,
        reason_name(reason),
        caller,
        n
    );
}

/// A table level for the report; [`LEVEL_UNKNOWN`] prints as `?`.
#[cfg(feature = "debug_pgtable")]
struct LevelName(u32);

#[cfg(feature = "debug_pgtable")]
impl core::fmt::Display for LevelName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == LEVEL_UNKNOWN {
            write!(f, "?")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// The level passed by writers that do not know it (the mapper's table
/// access: `TableAccess::write` carries no level); the check needs none.
pub const LEVEL_UNKNOWN: u32 = u32::MAX;

/// The short name of a reason, as the `pgt:` corpus names its cases.
pub fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::OutputAddress => "output-address",
        Reason::BlockSize => "block-size",
        Reason::Contiguous => "contiguous",
        Reason::ContiguousRun => "contiguous-run",
        Reason::Attributes(_) => "attributes",
    }
}

/// Store `new` in the descriptor at `p` of a live table (level `level`,
/// mapping from `va`, or 0 where the caller does not know it), checked with
/// `debug_pgtable`.
///
/// # Safety
/// `p` is a descriptor of a table the caller may write.
#[track_caller]
#[inline]
pub unsafe fn write(p: *mut u64, va: u64, level: u32, new: u64) {
    #[cfg(feature = "debug_pgtable")]
    {
        // SAFETY: guaranteed by the caller.
        let old = unsafe { p.read_volatile() };
        if let Err(reason) = check(old, new, level) {
            report(p as u64, va, level, old, new, reason, core::panic::Location::caller());
        }
    }
    #[cfg(not(feature = "debug_pgtable"))]
    let _ = (va, level);
    // SAFETY: guaranteed by the caller.
    unsafe { p.write_volatile(new) };
}
