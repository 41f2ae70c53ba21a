//! The translation-table page: 512 descriptors, page aligned. Shared by
//! the boot stub's identity map, the early code's image mapping, and the
//! static tables of mm (fixmap, `swapper_pg_dir`).

/// A page-aligned page table.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    /// An empty table (all entries invalid).
    pub const fn new() -> Table {
        Table([0; 512])
    }
}
