//! The one mapping routine and the one table walker, for every phase of boot.
//!
//! The mapper does not know how a table page is reached: the caller tells it
//! through [`TableAccess`]. The kernel has three implementations (tables
//! reached through fixmap slots before the linear map exists, through the
//! linear map afterwards, and the static early tables); the host tests use a
//! buffer that stands for physical memory. Installing a new table in its
//! parent goes through [`TableAccess::populate`], which is where the kernel's
//! `pgd_populate`/`pud_populate`/`pmd_populate` take `__pa` of the table.

use crate::layout::{is_aligned, level_size, table_index, ACTIVE, PAGE_SIZE};
use crate::pte::{self, Kind, Prot};

/// Number of descriptors in a table.
pub const ENTRIES: usize = 512;

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address or the size is not a multiple of the page size.
    Misaligned {
        /// The offending virtual address.
        va: u64,
        /// The offending physical address.
        pa: u64,
        /// The size asked for.
        size: u64,
    },
    /// The range wraps, or leaves the 48-bit output/input address space.
    OutOfRange {
        /// First virtual address of the request.
        va: u64,
        /// Size of the request.
        size: u64,
    },
    /// Something is already mapped there with a different translation.
    Overlap {
        /// First virtual address found mapped.
        va: u64,
        /// The descriptor found.
        existing: u64,
    },
    /// No page was left for a table.
    NoMemory,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            MapError::Misaligned { va, pa, size } => {
                write!(f, "misaligned mapping: va {:#x} pa {:#x} size {:#x} (must be multiples of 4 KiB)", va, pa, size)
            }
            MapError::OutOfRange { va, size } => {
                write!(f, "mapping out of range: va {:#x} size {:#x}", va, size)
            }
            MapError::Overlap { va, existing } => {
                write!(f, "overlapping mapping at va {:#x} (existing descriptor {:#018x})", va, existing)
            }
            MapError::NoMemory => write!(f, "out of memory for page tables"),
        }
    }
}

/// How the mapper reaches and creates table pages.
///
/// A `Table` names one table page in whatever way the phase can reach it: a
/// physical address, a linear-map address, an index into a host buffer.
pub trait TableAccess {
    /// How this phase names a table.
    type Table: Copy;

    /// A new, zeroed table page for `level`.
    fn alloc_table(&mut self, level: u32) -> Result<Self::Table, MapError>;
    /// The table whose physical address a table descriptor at `level - 1` holds.
    fn table_at(&mut self, pa: u64, level: u32) -> Self::Table;
    /// Read descriptor `idx` of `table`.
    fn read(&mut self, table: Self::Table, idx: usize) -> u64;
    /// Write descriptor `idx` of `table`.
    fn write(&mut self, table: Self::Table, idx: usize, desc: u64);
    /// Install `child` (a table for `level + 1`) in entry `idx` of `parent`, a
    /// table at `level`: the populate step, which must store the child's
    /// physical address.
    fn populate(&mut self, parent: Self::Table, idx: usize, level: u32, child: Self::Table);
    /// Called after a valid entry changes, so the phase can invalidate the TLB.
    fn flush(&mut self, _va: u64) {}
}

/// Options for [`map_range`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapFlags {
    /// Use 1 GiB and 2 MiB blocks where alignment allows.
    pub blocks: bool,
    /// Set the contiguous hint on aligned runs of 16 entries.
    pub cont: bool,
    /// Allow replacing an existing leaf of the same size (permission changes).
    pub replace: bool,
}

impl MapFlags {
    /// Pages only, no hints, no replacement: what the image mapping uses.
    pub const PAGES: MapFlags = MapFlags { blocks: false, cont: false, replace: false };
    /// Largest blocks and contiguous runs: what the linear map uses.
    pub const LARGEST: MapFlags = MapFlags { blocks: true, cont: true, replace: false };
}

/// Table pages created by mapping, per level of the new table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// New tables, indexed by their level (index 0 is never used: roots are given).
    pub per_level: [u64; 4],
}

impl TableCounts {
    /// All new tables.
    pub fn total(&self) -> u64 {
        self.per_level.iter().sum()
    }
}

/// Map `[va, va + size)` to `[pa, pa + size)` with `prot` below `root` (a level-0 table).
///
/// Blocks are used where `flags.blocks` and alignment allow, the contiguous
/// hint on aligned runs of 16 like entries where `flags.cont` allows.
/// Returns the tables created, per level.
pub fn map_range<A: TableAccess>(
    mem: &mut A,
    root: A::Table,
    va: u64,
    pa: u64,
    size: u64,
    prot: Prot,
    flags: MapFlags,
) -> Result<TableCounts, MapError> {
    if !is_aligned(va, PAGE_SIZE) || !is_aligned(pa, PAGE_SIZE) || !is_aligned(size, PAGE_SIZE) {
        return Err(MapError::Misaligned { va, pa, size });
    }
    let end = va.checked_add(size).filter(|_| size > 0);
    let pa_end = pa.checked_add(size);
    let canonical = crate::layout::is_canonical;
    match (end, pa_end) {
        (Some(end), Some(pa_end))
            if pa_end <= 1 << 48 && canonical(va) && canonical(end - 1) && (va >> 63) == ((end - 1) >> 63) => {}
        _ => return Err(MapError::OutOfRange { va, size }),
    }
    let mut counts = TableCounts::default();
    map_level(mem, root, 0, va, pa, size, prot, flags, (va, va + size), &mut counts)?;
    Ok(counts)
}

#[allow(clippy::too_many_arguments)]
fn map_level<A: TableAccess>(
    mem: &mut A,
    table: A::Table,
    level: u32,
    mut va: u64,
    mut pa: u64,
    size: u64,
    prot: Prot,
    flags: MapFlags,
    req: (u64, u64),
    counts: &mut TableCounts,
) -> Result<(), MapError> {
    let end = va + size;
    let step = level_size(level);
    while va < end {
        let idx = table_index(va, level);
        // End of what this entry covers, clipped to the request.
        let entry_end = (va & !(step - 1)).wrapping_add(step);
        let chunk_end = if entry_end == 0 || entry_end > end { end } else { entry_end };
        let chunk = chunk_end - va;
        let leaf_ok =
            level == 3 || (flags.blocks && (level == 1 || level == 2) && chunk == step && is_aligned(pa, step));
        let mut old = mem.read(table, idx);
        if leaf_ok && pte::kind(old, level) == Kind::Table && table_is_empty(mem, pte::desc_addr(old), level + 1) {
            // Everything below was unmapped: the empty table gives way to the
            // block (its page is not reclaimed: TableAccess cannot free).
            mem.write(table, idx, 0);
            mem.flush(va);
            old = 0;
        }
        if leaf_ok {
            let mut desc = pte::leaf_desc(pa, level, prot);
            if flags.cont && level >= 2 && cont_run_fits(va, pa, req.0, req.1, step, level) {
                desc |= pte::CONT;
            }
            let old_kind = pte::kind(old, level);
            if old_kind != Kind::Invalid && old != desc {
                let same_size_leaf = matches!(old_kind, Kind::Block | Kind::Page);
                if !(flags.replace && same_size_leaf) {
                    return Err(MapError::Overlap { va, existing: old });
                }
                if old & pte::CONT != 0 && desc & pte::CONT == 0 {
                    break_cont_run(mem, table, va, level);
                }
                mem.write(table, idx, desc);
                mem.flush(va);
            } else if old_kind == Kind::Invalid {
                mem.write(table, idx, desc);
            }
        } else {
            let child = match pte::kind(old, level) {
                Kind::Table => mem.table_at(pte::desc_addr(old), level + 1),
                Kind::Invalid => {
                    let child = mem.alloc_table(level + 1)?;
                    counts.per_level[level as usize + 1] += 1;
                    mem.populate(table, idx, level, child);
                    child
                }
                _ => return Err(MapError::Overlap { va, existing: old }),
            };
            map_level(mem, child, level + 1, va, pa, chunk, prot, flags, req, counts)?;
        }
        va = chunk_end;
        pa += chunk;
    }
    Ok(())
}

/// True if the 16-entry run holding `va` lies wholly inside the request
/// `[req_start, req_end)` and its physical start is aligned to the run size,
/// so every entry of the run maps alike and can carry the hint.
fn cont_run_fits(va: u64, pa: u64, req_start: u64, req_end: u64, step: u64, level: u32) -> bool {
    let run = step * ACTIVE.cont_entries(level);
    let run_start = va & !(run - 1);
    let pa_start = pa.wrapping_sub(va - run_start);
    run_start >= req_start
        && run_start.checked_add(run).is_some_and(|run_end| run_end <= req_end)
        && is_aligned(pa_start, run)
}

/// True if no entry of the table at `pa` (for `level`), or below it, is valid but a table.
fn table_is_empty<A: TableAccess>(mem: &mut A, pa: u64, level: u32) -> bool {
    let table = mem.table_at(pa, level);
    for idx in 0..ENTRIES {
        let d = mem.read(table, idx);
        let empty = match pte::kind(d, level) {
            Kind::Invalid => true,
            Kind::Table => table_is_empty(mem, pte::desc_addr(d), level + 1),
            _ => false,
        };
        if !empty {
            return false;
        }
    }
    true
}

/// Clear the contiguous hint on the 16-entry run of `table` holding `va`,
/// before one of its entries changes alone: the TLB may use any entry of a
/// run for all of it, so a run must never mix attributes or holes.
fn break_cont_run<A: TableAccess>(mem: &mut A, table: A::Table, va: u64, level: u32) {
    let step = level_size(level);
    let run_va = va & !(step * ACTIVE.cont_entries(level) - 1);
    let first = table_index(run_va, level);
    for i in 0..ACTIVE.cont_entries(level) as usize {
        let d = mem.read(table, first + i);
        if d & pte::CONT != 0 {
            mem.write(table, first + i, d & !pte::CONT);
            mem.flush(run_va + i as u64 * step);
        }
    }
}

/// Remove the leaf mappings of `[va, va + size)`. The range must not split a
/// block. Returns the physical addresses that were mapped, through `each`.
pub fn unmap_range<A: TableAccess>(
    mem: &mut A,
    root: A::Table,
    va: u64,
    size: u64,
    mut each: impl FnMut(u64, u64),
) -> Result<(), MapError> {
    if !is_aligned(va, PAGE_SIZE) || !is_aligned(size, PAGE_SIZE) {
        return Err(MapError::Misaligned { va, pa: 0, size });
    }
    let mut cur = va;
    let end = va.checked_add(size).ok_or(MapError::OutOfRange { va, size })?;
    while cur < end {
        let w = walk(mem, root, cur);
        match w.leaf() {
            Some((level, desc)) => {
                let step = level_size(level);
                if !is_aligned(cur, step) || cur + step > end {
                    return Err(MapError::Overlap { va: cur, existing: desc });
                }
                let table = w.tables[level as usize].expect("walked table");
                let run = step * ACTIVE.cont_entries(level);
                let run_va = cur & !(run - 1);
                if desc & pte::CONT != 0 && (run_va < va || run_va.checked_add(run).is_none_or(|e| e > end)) {
                    // Only part of the run goes: the rest must lose the hint.
                    break_cont_run(mem, table, cur, level);
                }
                mem.write(table, table_index(cur, level), 0);
                mem.flush(cur);
                each(cur, pte::desc_addr(desc));
                cur += step;
            }
            None => cur += PAGE_SIZE,
        }
    }
    Ok(())
}

/// The result of walking the tables for one address.
#[derive(Clone, Copy, Debug)]
pub struct Walk<T: Copy> {
    /// The address walked.
    pub va: u64,
    /// Descriptor read at each level; `None` below where the walk stopped.
    pub descs: [Option<u64>; 4],
    /// The table read at each level.
    pub tables: [Option<T>; 4],
}

impl<T: Copy> Walk<T> {
    /// The level and descriptor of the leaf (block or page), if the address is mapped.
    pub fn leaf(&self) -> Option<(u32, u64)> {
        for level in 0..4u32 {
            match self.descs[level as usize] {
                Some(d) => match pte::kind(d, level) {
                    Kind::Table => continue,
                    Kind::Block | Kind::Page => return Some((level, d)),
                    _ => return None,
                },
                None => return None,
            }
        }
        None
    }

    /// The physical address `va` translates to, if mapped.
    pub fn phys(&self) -> Option<u64> {
        self.leaf().map(|(level, d)| pte::desc_addr(d) & !(level_size(level) - 1) | (self.va & (level_size(level) - 1)))
    }
}

/// Walk the tables below `root` for `va`, one level at a time, stopping at
/// the first entry that is not a table descriptor.
pub fn walk<A: TableAccess>(mem: &mut A, root: A::Table, va: u64) -> Walk<A::Table> {
    let mut w = Walk { va, descs: [None; 4], tables: [None; 4] };
    let mut table = root;
    for level in 0..4u32 {
        let d = mem.read(table, table_index(va, level));
        w.descs[level as usize] = Some(d);
        w.tables[level as usize] = Some(table);
        if pte::kind(d, level) != Kind::Table {
            break;
        }
        table = mem.table_at(pte::desc_addr(d), level + 1);
    }
    w
}

/// The fewest new table pages, per level of the table, that can map the
/// sorted, disjoint, non-adjacent virtual ranges `(va, size)` below a given
/// root with 1 GiB and 2 MiB blocks, when every range's PA - VA offset is a
/// multiple of 1 GiB (true of the linear map, whose `memstart_addr` is
/// 1 GiB aligned).
///
/// Counted independently of [`map_range`]: a level-1 table per level-0 entry
/// touched, a level-2 table per 1 GiB not wholly covered, a level-3 table per
/// 2 MiB not wholly covered. The kernel's boot self-test and the benchmark
/// compare the mapper's real counts with this.
pub fn min_tables(ranges: impl Iterator<Item = (u64, u64)>) -> [u64; 4] {
    let mut counts = [0u64; 4];
    // Last chunk counted at each level, to count chunks shared by two ranges once.
    let mut last: [Option<u64>; 4] = [None; 4];
    for (va, size) in ranges {
        if size == 0 {
            continue;
        }
        let end = va + (size - 1); // inclusive, so a range ending at 2^64 works
        for (level, chunk_size) in [(1usize, 1u64 << 39), (2, 1 << 30), (3, 1 << 21)] {
            let first = va / chunk_size;
            let lastc = end / chunk_size;
            // Level 1: every level-0 entry touched needs a table. Levels 2
            // and 3: only the end chunks can be partly covered.
            let candidates: [u64; 2] = [first, lastc];
            for (i, &c) in candidates.iter().enumerate() {
                if i == 1 && lastc == first {
                    break;
                }
                let whole = c * chunk_size >= va && c * chunk_size + (chunk_size - 1) <= end;
                if level != 1 && whole {
                    continue;
                }
                if last[level] != Some(c) {
                    counts[level] += 1;
                    last[level] = Some(c);
                }
            }
            if level == 1 && lastc > first + 1 {
                counts[1] += lastc - first - 1;
                last[1] = Some(lastc);
            }
        }
    }
    counts
}
