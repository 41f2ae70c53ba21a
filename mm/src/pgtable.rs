//! The one mapping routine and the one table walker, for every phase of boot.
//! It is over 400 lines because mapping, unmapping and the break-before-make
//! sequences they share (whole contiguous runs invalidated, flushed and
//! rewritten together) only make sense read side by side.
//!
//! The mapper does not know how a table page is reached: the caller tells it
//! through [`TableAccess`]. The kernel has three implementations (tables
//! reached through fixmap slots before the linear map exists, through the
//! linear map afterwards, and the static early tables); the host tests use a
//! buffer that stands for physical memory. Installing a new table in its
//! parent goes through [`TableAccess::populate`], which is where the kernel's
//! `pgd_populate`/`pud_populate`/`pmd_populate` take `__pa` of the table.
//!
//! Every table the mapper writes may be live (reachable by a walker on some
//! CPU), so it keeps the architecture's rules for live tables, the way arm64
//! Linux does (see [`crate::bbm`] for the rule itself):
//! - a valid entry is never changed in place: it is made invalid, its TLB
//!   entries are invalidated ([`TableAccess::flush`]), then the new entry is
//!   written (break-before-make);
//! - a contiguous run is broken or made as a whole: every valid entry of the
//!   run goes invalid and is flushed before any entry of the new run (or the
//!   run without its hint) is written;
//! - a new table is zeroed, a store barrier orders the zeroes before the
//!   link ([`TableAccess::store_barrier`]), then it is linked.
//!
//! When [`TableAccess::CHECK_WRITES`] is set, every descriptor write is
//! checked against [`bbm::check`] and each unsafe one is reported through
//! [`TableAccess::unsafe_write`], for a kernel build that checks its tables.

use crate::bbm::{self, Violation};
use crate::layout::{is_aligned, level_size, table_index, ACTIVE, PAGE_SIZE, ROOT_LEVEL};
use crate::pte::{self, Kind, Prot};
use core::panic::Location;

/// Number of descriptors in a table page (512, 2048 or 8192; a root table
/// may use fewer, [`crate::flavour::Layout::entries`]).
pub const ENTRIES: usize = 1 << ACTIVE.bits_per_level();

/// Entries in a contiguous run, as an array length: the page-level run,
/// which is never shorter than the level-2 one (16 and 16 with 4 KiB pages,
/// 128 and 32 with 16 KiB, 32 and 32 with 64 KiB).
const RUN: usize = ACTIVE.cont_entries(3) as usize;
const _: () = assert!(ACTIVE.cont_entries(2) <= ACTIVE.cont_entries(3));

/// Entries in a contiguous run at `level` (at most [`RUN`]).
fn run_len(level: u32) -> usize {
    ACTIVE.cont_entries(level) as usize
}

/// Who called the mapper, for the checked mode's reports.
type Caller = &'static Location<'static>;

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
                write!(
                    f,
                    "misaligned mapping: va {:#x} pa {:#x} size {:#x} (must be multiples of the page size)",
                    va, pa, size
                )
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

    /// Check every descriptor write against [`bbm::check`] and report the
    /// unsafe ones through [`TableAccess::unsafe_write`], for a build that
    /// checks its page tables. Each check costs one more read of the entry.
    const CHECK_WRITES: bool = false;

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
    /// Called after a valid entry covering `va` was made invalid, before
    /// anything new is written there: invalidate the TLB and walk-cache
    /// entries for `va` on every CPU and wait for it to complete (on arm64:
    /// `dsb ishst; tlbi vaae1is; dsb ish; isb`).
    fn flush(&mut self, _va: u64) {}
    /// Make earlier table writes (the zeroes of a new table) visible to
    /// every table walker before later ones (the link to it): on arm64,
    /// `dsb ishst`. Called between zeroing a table and linking it.
    fn store_barrier(&mut self);
    /// In checked mode, called for each write [`bbm::check`] refuses, before
    /// the write is made: report it and count it.
    fn unsafe_write(&mut self, _v: &Violation) {}
}

/// Options for [`map_range`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapFlags {
    /// Use 1 GiB and 2 MiB blocks where alignment allows.
    pub blocks: bool,
    /// Set the contiguous hint on aligned runs of 16 entries.
    pub cont: bool,
    /// Allow replacing an existing leaf of the same size and output address
    /// (a permission change), break-before-make.
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

/// Map `[va, va + size)` to `[pa, pa + size)` with `prot` below `root` (a
/// table at [`ROOT_LEVEL`]).
///
/// Blocks are used where `flags.blocks` and alignment allow, the contiguous
/// hint on aligned runs of 16 like entries where `flags.cont` allows.
/// Returns the tables created, per level. An entry already mapped is left
/// alone if it holds exactly what would be written; with `flags.replace` a
/// leaf of the same size and output address is replaced (a permission
/// change), break-before-make; anything else is [`MapError::Overlap`].
#[track_caller]
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
    // Both ends canonical is enough: a range from one half into the other
    // would cross the 2^64 - 2^49 non-canonical addresses between them, and
    // no request is larger than the 2^48 bytes of output address space.
    match (end, pa_end) {
        (Some(end), Some(pa_end)) if pa_end <= 1 << 48 && canonical(va) && canonical(end - 1) => {}
        _ => return Err(MapError::OutOfRange { va, size }),
    }
    let w = Writer { mem, caller: Location::caller() };
    let mut m = Mapper { w, flags, prot, req: (va, va + size), counts: TableCounts::default() };
    m.map_level(root, ROOT_LEVEL, va, pa, size)?;
    Ok(m.counts)
}

/// What an entry in the way of a new leaf holds, and so what must happen to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prior {
    /// Invalid: the new entry is simply written.
    Invalid,
    /// Already exactly the new entry: nothing to do.
    Same,
    /// A table with nothing mapped below it: it is unlinked first.
    EmptyTable,
    /// A leaf of the same size and output address, and `replace` was asked:
    /// broken, then made again.
    Replace,
}

/// One `map_range` call: what stays the same through the recursion.
struct Mapper<'a, A: TableAccess> {
    w: Writer<'a, A>,
    flags: MapFlags,
    prot: Prot,
    /// The whole request, `[start, end)`.
    req: (u64, u64),
    counts: TableCounts,
}

/// Every descriptor write of one `map_range` or `unmap_range` call.
struct Writer<'a, A: TableAccess> {
    mem: &'a mut A,
    caller: Caller,
}

impl<A: TableAccess> Mapper<'_, A> {
    fn map_level(&mut self, table: A::Table, level: u32, mut va: u64, mut pa: u64, size: u64) -> Result<(), MapError> {
        let end = va + size;
        let step = level_size(level);
        while va < end {
            let idx = table_index(va, level);
            // End of what this entry covers, clipped to the request (the
            // last entry of the address space ends at 2^64, which wraps to 0).
            let entry_end = (va & !(step - 1)).wrapping_add(step);
            let chunk_end = entry_end.wrapping_sub(1).min(end - 1) + 1;
            let chunk = chunk_end - va;
            let leaf_ok = level == 3
                || (self.flags.blocks && ACTIVE.block_allowed(level) && chunk == step && is_aligned(pa, step));
            if leaf_ok && self.flags.cont && level >= 2 && cont_run_fits(va, pa, self.req.0, self.req.1, step, level) {
                // The run lies wholly in the request, so the walk through
                // this table reaches it at its first entry: map it whole.
                self.map_cont_run(table, level, va, pa)?;
                va += step * ACTIVE.cont_entries(level);
                pa += step * ACTIVE.cont_entries(level);
                continue;
            }
            if leaf_ok {
                self.map_leaf(table, idx, level, va, pte::leaf_desc(pa, level, self.prot))?;
            } else {
                let old = self.w.mem.read(table, idx);
                let child = match pte::kind(old, level) {
                    Kind::Table => self.w.mem.table_at(pte::desc_addr(old), level + 1),
                    Kind::Invalid => {
                        let child = self.w.mem.alloc_table(level + 1)?;
                        self.counts.per_level[level as usize + 1] += 1;
                        // The zeroes must reach memory before the link
                        // does, or a walker could follow the link into old
                        // data (arm64 Linux: the barrier in
                        // `__pte_alloc`/`pmd_populate` before `set_pmd`).
                        self.w.mem.store_barrier();
                        self.w.link(table, idx, level, va, child);
                        child
                    }
                    _ => return Err(MapError::Overlap { va, existing: old }),
                };
                self.map_level(child, level + 1, va, pa, chunk)?;
            }
            va = chunk_end;
            pa += chunk;
        }
        Ok(())
    }

    /// What must happen to `old`, in the way of the leaf `new` at `va`.
    fn prior(&mut self, old: u64, new: u64, level: u32, va: u64) -> Result<Prior, MapError> {
        Ok(match pte::kind(old, level) {
            Kind::Invalid => Prior::Invalid,
            _ if old == new => Prior::Same,
            // Everything below was unmapped: the empty table gives way to
            // the block (its page is not reclaimed: TableAccess cannot free).
            Kind::Table if self.w.table_is_empty(pte::desc_addr(old), level + 1) => Prior::EmptyTable,
            Kind::Block | Kind::Page if self.flags.replace && pte::desc_addr(old) == pte::desc_addr(new) => {
                Prior::Replace
            }
            _ => return Err(MapError::Overlap { va, existing: old }),
        })
    }

    /// Write the leaf `new` (no contiguous hint) in entry `idx`, which maps from `va`.
    fn map_leaf(&mut self, table: A::Table, idx: usize, level: u32, va: u64, new: u64) -> Result<(), MapError> {
        let old = self.w.mem.read(table, idx);
        match self.prior(old, new, level, va)? {
            Prior::Invalid => {}
            Prior::Same => return Ok(()),
            Prior::EmptyTable => self.w.unlink_empty_table(table, idx, level, va),
            Prior::Replace if old & pte::CONT != 0 => {
                // The entry belongs to a live run: the whole run is broken,
                // and the rest of it comes back without the hint.
                self.w.break_cont_run(table, level, va, |e| e != va);
            }
            Prior::Replace => {
                // Break-before-make (Arm ARM D8.14; arm64 Linux never
                // changes a live entry that `pgattr_change_is_safe` refuses):
                // invalid, TLB invalidate, then the new entry.
                self.w.set(table, idx, level, va, 0);
                self.w.mem.flush(va);
            }
        }
        self.w.set(table, idx, level, va, new);
        Ok(())
    }

    /// Map the contiguous run of 16 entries starting at `va` (run-aligned)
    /// to `pa`, all with the hint. Nothing is written unless every entry of
    /// the run can take its new descriptor.
    fn map_cont_run(&mut self, table: A::Table, level: u32, va: u64, pa: u64) -> Result<(), MapError> {
        let step = level_size(level);
        let first = table_index(va, level);
        let entry_va = |i: usize| va + i as u64 * step;
        let prot = self.prot;
        let new = |i: usize| pte::leaf_desc(pa + i as u64 * step, level, prot) | pte::CONT;
        let n = run_len(level);
        let mut prior = [Prior::Invalid; RUN];
        let prior = &mut prior[..n];
        for (i, p) in prior.iter_mut().enumerate() {
            let old = self.w.mem.read(table, first + i);
            *p = self.prior(old, new(i), level, entry_va(i))?;
        }
        if prior.iter().all(|&p| p == Prior::Same) {
            return Ok(());
        }
        // The TLB may use any entry of a run for all of it, so a live run is
        // never edited in place: every valid entry goes invalid and is
        // flushed before any entry of the new run is written
        // (break-before-make over the whole run, Arm ARM D8.14).
        for (i, &p) in prior.iter().enumerate() {
            match p {
                Prior::EmptyTable => self.w.unlink_empty_table(table, first + i, level, entry_va(i)),
                Prior::Same | Prior::Replace => self.w.set(table, first + i, level, entry_va(i), 0),
                Prior::Invalid => {}
            }
        }
        for (i, &p) in prior.iter().enumerate() {
            if matches!(p, Prior::Same | Prior::Replace) {
                self.w.mem.flush(entry_va(i));
            }
        }
        for i in 0..n {
            self.w.set(table, first + i, level, entry_va(i), new(i));
        }
        Ok(())
    }
}

impl<A: TableAccess> Writer<'_, A> {
    /// Break the live contiguous run of `table` (at `level`) holding `va`:
    /// every valid entry goes invalid, each is flushed, then those for which
    /// `keep(entry_va)` holds are written back without the hint. Returns
    /// the descriptors the run held.
    fn break_cont_run(&mut self, table: A::Table, level: u32, va: u64, keep: impl Fn(u64) -> bool) -> [u64; RUN] {
        let step = level_size(level);
        let n = run_len(level);
        let run_va = va & !(step * n as u64 - 1);
        let first = table_index(run_va, level);
        let entry_va = |i: usize| run_va + i as u64 * step;
        // Entries past the run's length (a level with shorter runs) stay 0,
        // invalid, and are never read or written.
        let mut old = [0; RUN];
        for (i, d) in old[..n].iter_mut().enumerate() {
            *d = self.mem.read(table, first + i);
        }
        let valid = |d: u64| pte::kind(d, level) != Kind::Invalid;
        // Clearing the hint one entry at a time would leave a run whose
        // entries disagree while the TLB may hold any of them for all 16:
        // break-before-make over the whole run (Arm ARM D8.14; arm64 Linux
        // refuses any change to a live contiguous entry).
        for (i, &d) in old.iter().enumerate() {
            if valid(d) {
                self.set(table, first + i, level, entry_va(i), 0);
            }
        }
        for (i, &d) in old.iter().enumerate() {
            if valid(d) {
                self.mem.flush(entry_va(i));
            }
        }
        for (i, &d) in old.iter().enumerate() {
            if valid(d) && keep(entry_va(i)) {
                self.set(table, first + i, level, entry_va(i), d & !pte::CONT);
            }
        }
        old
    }

    /// True if no entry of the table at `pa` (for `level`), or below it, is valid but a table.
    fn table_is_empty(&mut self, pa: u64, level: u32) -> bool {
        let table = self.mem.table_at(pa, level);
        for idx in 0..ENTRIES {
            let d = self.mem.read(table, idx);
            let empty = match pte::kind(d, level) {
                Kind::Invalid => true,
                Kind::Table => self.table_is_empty(pte::desc_addr(d), level + 1),
                _ => false,
            };
            if !empty {
                return false;
            }
        }
        true
    }

    /// Unlink the empty table that entry `idx` of `table` (at `level`,
    /// mapping from `va`) points to, deepest links first: each goes invalid
    /// and is flushed, so no walk cache keeps a link to a table that is no
    /// longer there (as arm64 Linux's `pud_free_pmd_page` does).
    fn unlink_empty_table(&mut self, table: A::Table, idx: usize, level: u32, va: u64) {
        let (link, below) = (self.mem.read(table, idx), level + 1);
        let child = self.mem.table_at(pte::desc_addr(link), below);
        for i in 0..ENTRIES {
            if pte::kind(self.mem.read(child, i), below) == Kind::Table {
                self.unlink_empty_table(child, i, below, va + i as u64 * level_size(below));
            }
        }
        self.set(table, idx, level, va, 0);
        self.mem.flush(va);
    }

    /// Write `new` in entry `idx` of `table` (at `level`; the entry maps
    /// from `va`). Every descriptor write of the mapper but `populate` goes
    /// through here, so the checked mode sees each one.
    fn set(&mut self, table: A::Table, idx: usize, level: u32, va: u64, new: u64) {
        if A::CHECK_WRITES {
            let old = self.mem.read(table, idx);
            self.check(old, new, level, va);
        }
        self.mem.write(table, idx, new);
    }

    /// Link the new table `child` in entry `idx` of `table`; checked like [`Writer::set`].
    fn link(&mut self, table: A::Table, idx: usize, level: u32, va: u64, child: A::Table) {
        let old = if A::CHECK_WRITES { self.mem.read(table, idx) } else { 0 };
        self.mem.populate(table, idx, level, child);
        if A::CHECK_WRITES {
            let new = self.mem.read(table, idx);
            self.check(old, new, level, va);
        }
    }

    fn check(&mut self, old: u64, new: u64, level: u32, va: u64) {
        if let Err(reason) = bbm::check(old, new, level) {
            self.mem.unsafe_write(&Violation { va, level, old, new, reason, caller: self.caller });
        }
    }
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

/// Remove the leaf mappings of `[va, va + size)`. The range must not split a
/// block. Returns the physical addresses that were mapped, through `each`.
///
/// Making an entry invalid is always safe; each is flushed. A contiguous
/// run is taken down whole (all invalid, then all flushed); if only part of
/// it is in the range, the rest is written back without the hint.
#[track_caller]
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
    let end = va.checked_add(size).ok_or(MapError::OutOfRange { va, size })?;
    let mut m = Writer { mem, caller: Location::caller() };
    let mut cur = va;
    while cur < end {
        let w = walk(m.mem, root, cur);
        let Some((level, desc)) = w.leaf() else {
            cur += PAGE_SIZE;
            continue;
        };
        let step = level_size(level);
        // Whole entries inside the range go; one that sticks out is refused.
        let inside = |e: u64| e >= va && e.checked_add(step).is_some_and(|e_end| e_end <= end);
        if !is_aligned(cur, step) || !inside(cur) {
            return Err(MapError::Overlap { va: cur, existing: desc });
        }
        let table = w.tables[level as usize].expect("walked table");
        if desc & pte::CONT != 0 {
            // The run goes whole, or what stays of it must lose the hint:
            // either way all of it goes invalid and is flushed, and what
            // lies outside the range comes back without the hint.
            let run_va = cur & !(step * ACTIVE.cont_entries(level) - 1);
            let old = m.break_cont_run(table, level, cur, |e| !inside(e));
            for (i, &d) in old.iter().enumerate() {
                let e = run_va + i as u64 * step;
                if inside(e) && pte::kind(d, level) != Kind::Invalid {
                    each(e, pte::desc_addr(d));
                    cur = e + step;
                }
            }
            continue;
        }
        m.set(table, table_index(cur, level), level, cur, 0);
        m.mem.flush(cur);
        each(cur, pte::desc_addr(desc));
        cur += step;
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
        for level in ROOT_LEVEL..4 {
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
        self.leaf()
            .map(|(level, d)| (pte::desc_addr(d) & !(level_size(level) - 1)) + (self.va & (level_size(level) - 1)))
    }
}

/// Walk the tables below `root` for `va`, one level at a time, stopping at
/// the first entry that is not a table descriptor.
pub fn walk<A: TableAccess>(mem: &mut A, root: A::Table, va: u64) -> Walk<A::Table> {
    let mut w = Walk { va, descs: [None; 4], tables: [None; 4] };
    let mut table = root;
    for level in ROOT_LEVEL..4 {
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
/// root with the blocks the granule allows, when every range's PA - VA
/// offset is a multiple of the largest block (true of the linear map, whose
/// `memstart_addr` is aligned to `ARM64_MEMSTART_ALIGN`).
///
/// Counted independently of [`map_range`]: below each entry of the level
/// above that a range touches hangs one table, unless that entry can be one
/// block and the range covers it whole (so with 4 KiB pages: a level-1
/// table per root entry touched, a level-2 table per 1 GiB not wholly
/// covered, a level-3 table per 2 MiB not wholly covered). The kernel's
/// boot self-test and the benchmark compare the mapper's real counts with this.
pub fn min_tables(ranges: impl Iterator<Item = (u64, u64)>) -> [u64; 4] {
    let mut counts = [0u64; 4];
    // Last chunk counted at each level, to count chunks shared by two ranges once.
    let mut last: [Option<u64>; 4] = [None; 4];
    for (va, size) in ranges {
        if size == 0 {
            continue;
        }
        let end = va + (size - 1); // inclusive, so a range ending at 2^64 works
        for level in ROOT_LEVEL as usize + 1..4 {
            let chunk_size = level_size(level as u32 - 1);
            let block = ACTIVE.block_allowed(level as u32 - 1);
            let first = va / chunk_size;
            let lastc = end / chunk_size;
            // Where the entry above cannot be a block, every chunk touched
            // needs a table; elsewhere only the end chunks can be partly covered.
            let candidates: [u64; 2] = [first, lastc];
            for (i, &c) in candidates.iter().enumerate() {
                if i == 1 && lastc == first {
                    break;
                }
                let whole = c * chunk_size >= va && c * chunk_size + (chunk_size - 1) <= end;
                if block && whole {
                    continue;
                }
                if last[level] != Some(c) {
                    counts[level] += 1;
                    last[level] = Some(c);
                }
            }
            // The chunks strictly between the two ends (the loop above has
            // already left `last` at the last chunk).
            if !block {
                counts[level] += (lastc - first).saturating_sub(1);
            }
        }
    }
    counts
}
