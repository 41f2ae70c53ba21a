//! The page-table dump, in the format of arm64 Linux's
//! `/sys/kernel/debug/kernel_page_tables`.
//!
//! The kernel calls [`dump`] on its live tables (through the same
//! [`TableAccess`] the mapper uses) to print the layout it built; its boot
//! self-checks call [`runs`] to look at the same runs without parsing text.
//! The host tests run both over a buffer standing for physical memory.
//!
//! The walk visits the tables below the root table in address order and
//! never descends into an invalid entry, so an almost empty 256 TiB half
//! costs one read per entry of the few tables that exist. Consecutive
//! blocks or pages at the same level with the same attribute bits form one
//! run; the output address does not matter, a hole or a change of level or
//! attributes (the contiguous hint included) ends the run.
//!
//! # Format
//!
//! A region marker, when the walk reaches the start of a [`Marker`]:
//!
//! ```text
//! ---[ Kernel image ]---
//! ```
//!
//! and one line per run (a run that crosses a marker is cut there):
//!
//! ```text
//! 0xffff000008080000-0xffff000008200000        1536K PTE     ro x  SHD AF            UXN MEM/NORMAL
//! 0xffff800000000000-0xffff800040000000           1G PUD     RW NX SHD AF        BLK UXN MEM/NORMAL
//! ```
//!
//! That is `0x%016x-0x%016x` (start, end exclusive), three spaces, the size
//! right-aligned in 9 columns followed by its unit letter (the size in KiB,
//! divided by 1024 while it stays a whole multiple of 1024: `K`, `M`, `G`,
//! `T`, `P`, `E`), a space, the level name (`PGD`, `PUD`, `PMD`, `PTE` for
//! levels 0 to 3; the root is always `PGD`), then these columns, each preceded by one space and
//! printed as its set or clear text (so every line has the same width up to
//! the memory type):
//!
//! | column | set   | clear | bit                                        |
//! |--------|-------|-------|--------------------------------------------|
//! | user   | `USR` | 3 sp. | AP\[1\], EL0 access                        |
//! | write  | `ro`  | `RW`  | AP\[2\], read-only                         |
//! | exec   | `NX`  | `x `  | PXN                                        |
//! | share  | `SHD` | 3 sp. | SH = inner shareable                       |
//! | access | `AF`  | 2 sp. | access flag                                |
//! | global | `NG`  | 2 sp. | not global                                 |
//! | cont   | `CON` | 3 sp. | contiguous hint                            |
//! | block  | `BLK` | 3 sp. | a block (level 1 or 2), not a page         |
//! | uexec  | `UXN` | 3 sp. | UXN                                        |
//!
//! and last the memory type, [`MemType::name`] of AttrIndx (`MEM/NORMAL`,
//! `DEVICE/nGnRE`, ...; `ATTRIDX<n>` for an index with no [`MemType`]).
//! Linux prints the same columns, plus a valid flag that is always blank in a
//! dump of valid runs and a BTI guarded-page flag this kernel never sets.

use core::fmt;

use crate::layout::{level_size, table_index, ROOT_LEVEL, VA_BITS};
use crate::pgtable::TableAccess;
use crate::pte::{self, Kind, MemType};

/// A named boundary in the dump: `---[ name ]---` is printed when the walk
/// reaches `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    /// First address of the region.
    pub start: u64,
    /// What the region is, e.g. "Linear Mapping start".
    pub name: &'static str,
}

/// The region markers of the upper half, in address order, with the kernel
/// image at `[text, end)`: the kernel's dump and the GDB helpers (through
/// the layout table the image builder writes) print the same ones.
pub const fn layout_markers(text: u64, end: u64) -> [Marker; 9] {
    markers_for(&crate::layout::ACTIVE, text, end)
}

/// [`layout_markers`] for any flavour `l` (the host writes the GDB helpers'
/// table for the flavour it builds).
pub const fn markers_for(l: &crate::flavour::Layout, text: u64, end: u64) -> [Marker; 9] {
    use crate::layout::align_up;
    [
        Marker { start: l.modules_vaddr(), name: "Modules" },
        Marker { start: l.vmalloc_start(), name: "vmalloc() area" },
        Marker { start: text, name: "Kernel image" },
        Marker { start: align_up(end, l.page_size()), name: "vmalloc() area (after the image)" },
        Marker { start: l.vmalloc_end(l.va_bits()), name: "Unused hole" },
        Marker { start: l.fixaddr_start(), name: "Fixmap" },
        Marker { start: l.pci_io_start(), name: "PCI I/O" },
        Marker { start: l.vmemmap_start(), name: "vmemmap" },
        Marker { start: l.page_offset(), name: "Linear mapping" },
    ]
}

/// A run of consecutive leaf entries at one level with the same attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First virtual address.
    pub start: u64,
    /// End (exclusive); 0 means the run reaches 2^64.
    pub end: u64,
    /// Level of the entries: 1 or 2 for blocks, 3 for pages.
    pub level: u32,
    /// The attribute bits the entries share: the descriptor without its
    /// output address ([`pte::ATTR_MASK`]).
    pub attrs: u64,
}

impl Run {
    /// Size in bytes.
    pub const fn size(&self) -> u64 {
        self.end.wrapping_sub(self.start)
    }

    /// The memory type of the run, if AttrIndx names one.
    pub const fn mem_type(&self) -> Option<MemType> {
        MemType::from_index((self.attrs >> 2) & 7)
    }
}

/// Linux's names for the table levels with four levels of 4 KiB tables.
pub const LEVEL_NAMES: [&str; 4] = ["PGD", "PUD", "PMD", "PTE"];

/// Linux's name of a table at `level`: the root is always the `PGD` (with
/// fewer than four levels the levels in between fold away: `PGD`, `PMD`,
/// `PTE` with three, `PGD`, `PTE` with two).
pub const fn level_name(level: u32) -> &'static str {
    if level == ROOT_LEVEL {
        LEVEL_NAMES[0]
    } else {
        LEVEL_NAMES[level as usize & 3]
    }
}

/// Call `each` with every run of leaf mappings below `root` (a table at
/// [`ROOT_LEVEL`]) that lies in `[start, end)`, in address order. `end == 0` means
/// 2^64. Runs are clipped to the range.
///
/// The root translates `VA_BITS`-bit addresses: the walk covers the canonical
/// parts of the range (`[0, 2^VA_BITS)` and `[2^64 - 2^VA_BITS, 2^64)`) and skips the hole
/// between them, so a range should lie in the half `root` serves. Invalid
/// and reserved entries end a run and are not descended into.
pub fn runs<A: TableAccess>(mem: &mut A, root: A::Table, start: u64, end: u64, mut each: impl FnMut(Run)) {
    // The last address (2^64 - 1 for `end == 0`); an empty range gives
    // `a > b` in both halves below.
    let last = end.wrapping_sub(1);
    let half = 1u64 << VA_BITS;
    let mut acc = Acc { cur: None, each: &mut each };
    for (lo, hi) in [(0, half - 1), (half.wrapping_neg(), u64::MAX)] {
        let (a, b) = (start.max(lo), last.min(hi));
        if a <= b {
            walk_table(mem, root, ROOT_LEVEL, a, b, &mut acc);
            acc.gap();
        }
    }
}

/// The run being built, and where finished runs go.
struct Acc<'a, F: FnMut(Run)> {
    cur: Option<Run>,
    each: &'a mut F,
}

impl<F: FnMut(Run)> Acc<'_, F> {
    /// A leaf covering `[start, end)` (`end` 0 for 2^64).
    fn leaf(&mut self, start: u64, end: u64, level: u32, attrs: u64) {
        if let Some(run) = &mut self.cur {
            if run.end == start && run.level == level && run.attrs == attrs {
                run.end = end;
                return;
            }
        }
        self.gap();
        self.cur = Some(Run { start, end, level, attrs });
    }

    /// Nothing mapped here: the current run, if any, is finished.
    fn gap(&mut self) {
        if let Some(run) = self.cur.take() {
            (self.each)(run);
        }
    }
}

/// Walk the entries of `table` (at `level`) that cover `[lo, hi]` (inclusive,
/// within the span of this one table).
fn walk_table<A: TableAccess, F: FnMut(Run)>(
    mem: &mut A,
    table: A::Table,
    level: u32,
    lo: u64,
    hi: u64,
    acc: &mut Acc<'_, F>,
) {
    let size = level_size(level);
    let mut entry = lo & !(size - 1);
    loop {
        let entry_last = entry + (size - 1);
        let (a, b) = (lo.max(entry), hi.min(entry_last));
        let d = mem.read(table, table_index(entry, level));
        match pte::kind(d, level) {
            Kind::Table => {
                let child = mem.table_at(pte::desc_addr(d), level + 1);
                walk_table(mem, child, level + 1, a, b, acc);
            }
            Kind::Block | Kind::Page => acc.leaf(a, b.wrapping_add(1), level, d & pte::ATTR_MASK),
            Kind::Invalid | Kind::Reserved => acc.gap(),
        }
        if entry_last >= hi {
            break;
        }
        entry = entry_last + 1;
    }
}

/// Dump the mappings below `root` (a table at [`ROOT_LEVEL`]) over `[start, end)`
/// (`end == 0` means 2^64) in the format described in the module
/// documentation.
///
/// `markers` must be sorted by start. The marker whose region holds `start`
/// (the last one starting at or below it) is printed first, then each
/// marker as the walk reaches it, including those with nothing mapped after
/// them; markers at or beyond `end` are not printed. A run crossing a marker
/// is printed as two lines.
pub fn dump<A: TableAccess>(
    mem: &mut A,
    root: A::Table,
    start: u64,
    end: u64,
    markers: &[Marker],
    out: &mut impl fmt::Write,
) -> fmt::Result {
    let in_range = |a: u64| a >= start && (end == 0 || a < end);
    let mut next = markers.partition_point(|m| m.start <= start);
    if next > 0 {
        write_marker(out, &markers[next - 1])?;
    }
    let mut result = Ok(());
    runs(mem, root, start, end, |run| {
        if result.is_ok() {
            result = dump_run(out, run, markers, &mut next);
        }
    });
    result?;
    while let Some(m) = markers.get(next).filter(|m| in_range(m.start)) {
        write_marker(out, m)?;
        next += 1;
    }
    Ok(())
}

/// Print `run`, preceded by the markers it reaches and cut at those inside it.
fn dump_run(out: &mut impl fmt::Write, mut run: Run, markers: &[Marker], next: &mut usize) -> fmt::Result {
    loop {
        while let Some(m) = markers.get(*next).filter(|m| m.start <= run.start) {
            write_marker(out, m)?;
            *next += 1;
        }
        match markers.get(*next) {
            Some(m) if run.end == 0 || m.start < run.end => {
                write_run(out, &Run { end: m.start, ..run })?;
                run.start = m.start;
            }
            _ => return write_run(out, &run),
        }
    }
}

fn write_marker(out: &mut impl fmt::Write, m: &Marker) -> fmt::Result {
    writeln!(out, "---[ {} ]---", m.name)
}

/// Write one line for `run` (with its newline), in the format described in
/// the module documentation.
pub fn write_run(out: &mut impl fmt::Write, run: &Run) -> fmt::Result {
    const UNITS: [char; 6] = ['K', 'M', 'G', 'T', 'P', 'E'];
    write!(out, "0x{:016x}-0x{:016x}   ", run.start, run.end)?;
    // A run of 2^64 bytes cannot exist (the hole is never mapped), so the
    // wrapping size is exact; sizes are whole pages, so whole KiB. `n` is
    // below 2^54, so it is divided at most five times: `E` is the last unit.
    let mut n = run.size() >> 10;
    let mut unit = 0;
    while n != 0 && n.is_multiple_of(1024) {
        n /= 1024;
        unit += 1;
    }
    write!(out, "{:>9}{} {}", n, UNITS[unit], level_name(run.level))?;
    let a = run.attrs;
    let col = |set: bool, on: &'static str, off: &'static str| if set { on } else { off };
    let block = matches!(pte::kind(a | pte::VALID, run.level), Kind::Block);
    let cols = [
        col(a & pte::AP_USER != 0, "USR", "   "),
        col(a & pte::AP_RDONLY != 0, "ro", "RW"),
        col(a & pte::PXN != 0, "NX", "x "),
        col(a & pte::SH_INNER == pte::SH_INNER, "SHD", "   "),
        col(a & pte::AF != 0, "AF", "  "),
        col(a & pte::NG != 0, "NG", "  "),
        col(a & pte::CONT != 0, "CON", "   "),
        col(block, "BLK", "   "),
        col(a & pte::UXN != 0, "UXN", "   "),
    ];
    for c in cols {
        write!(out, " {}", c)?;
    }
    match run.mem_type() {
        Some(mt) => writeln!(out, " {}", mt.name()),
        None => writeln!(out, " ATTRIDX{}", (a >> 2) & 7),
    }
}
