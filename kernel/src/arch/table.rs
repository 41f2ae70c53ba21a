//! The translation-table page: one page of descriptors (512 with 4 KiB
//! pages, 2048 with 16 KiB, 8192 with 64 KiB), aligned to the page. Shared
//! by the boot stub's identity map, the early code's image mapping, and the
//! static tables of mm (fixmap, `swapper_pg_dir`). The alignment follows the
//! flavour's granule through the `vakern_granule` cfg that `kernel/build.rs`
//! sets from the same layout.

use vakern_mm::layout::PAGE_SIZE;
use vakern_mm::pgtable::ENTRIES;

/// A page-aligned page table.
#[cfg_attr(vakern_granule = "4K", repr(C, align(4096)))]
#[cfg_attr(vakern_granule = "16K", repr(C, align(16384)))]
#[cfg_attr(vakern_granule = "64K", repr(C, align(65536)))]
pub struct Table(pub [u64; ENTRIES]);

// The cfg and the layout agree: one table is one page, page aligned.
const _: () = assert!(core::mem::align_of::<Table>() as u64 == PAGE_SIZE);
const _: () = assert!(core::mem::size_of::<Table>() as u64 == PAGE_SIZE);

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    /// An empty table (all entries invalid).
    pub const fn new() -> Table {
        Table([0; ENTRIES])
    }
}
