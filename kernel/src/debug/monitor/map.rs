//! The monitor's pictures of the address space: `map`, every region of the
//! 2^64-byte space with what lies in it (the image, the linear map's RAM and
//! holes, vmalloc areas, fixmap slots), and `idmap`, the identity map the
//! boot recorded before it emptied TTBR0. Runs after boot; the regions come
//! from `vakern_mm::layout` and the run-time placement in `mm`.

use super::memory::describe_area;
use crate::arch::at::at_s1e1r;
use crate::console::fmt::StrBuf;
use crate::mm::fixmap::{fix_to_virt, FixSlot};
use crate::mm::table_access::PhysTables;
use crate::mm::{idmap, memblock, physaddr, vmalloc};
use crate::println;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{self, PAGE_END, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, VA_BITS};
use vakern_mm::{pgtable, ptdump};

pub const MAP_HELP: &str = "\
The whole 64-bit address space, low to high, one line per region, with what
lies inside each region indented under it: the kernel image and the
vmalloc/ioremap areas, the linear map's RAM, holes and the part beyond RAM,
the fixmap's slots. The bar is to scale on a log scale: one '#' for one page,
one more for every doubling, so 2 MiB has 10 and 256 TiB has 37.";
pub const IDMAP_HELP: &str = "\
The identity map (VA = PA) that the boot stub built in TTBR0 to turn the MMU
on, as recorded by paging_init just before it emptied TTBR0: the TTBR0 value
and each run of like mappings, in the page-table dump's format, with the PA
its first address translated to, and whether it is all RAM. Entries are
SWAPPER_BLOCK_SIZE: 2 MiB blocks with 4K pages, pages with 16K and 64K.";

/// One line of the map: `[start, end)` as u128 so that the top is 2^64.
struct Row {
    start: u128,
    end: u128,
    depth: usize,
    name: String,
}

fn row(start: u64, end: u64, depth: usize, name: String) -> Row {
    let end = if end == 0 { 1u128 << 64 } else { end as u128 };
    Row { start: start as u128, end, depth, name }
}

fn bar(size: u128) -> String {
    if size == 0 {
        return String::new();
    }
    let log = 127 - size.leading_zeros();
    let n = log.saturating_sub(PAGE_SHIFT) as usize + 1;
    "#".repeat(n)
}

/// Fill the gaps between sorted rows with "unused" rows.
fn with_gaps(mut rows: Vec<Row>, start: u128, end: u128, depth: usize, gap: &str) -> Vec<Row> {
    rows.sort_by_key(|r| r.start);
    let mut out = Vec::new();
    let mut at = start;
    for r in rows {
        if r.start > at {
            out.push(Row { start: at, end: r.start, depth, name: String::from(gap) });
        }
        at = at.max(r.end);
        out.push(r);
    }
    if at < end {
        out.push(Row { start: at, end, depth, name: String::from(gap) });
    }
    out
}

fn linear_rows() -> Vec<Row> {
    let Some(m) = memblock::memory() else { return Vec::new() };
    let va = |pa: u64| physaddr::phys_to_virt_unchecked(pa);
    let mut rows = Vec::new();
    let mut last_end: Option<u64> = None;
    for r in m.ram.iter() {
        if let Some(e) = last_end {
            rows.push(row(va(e), va(r.base), 2, format!("hole: no RAM at PA {} ..", Addr(e))));
        }
        let mapped = m.mapped.covers(r);
        let kind = if mapped { "RAM" } else { "RAM with no-map parts" };
        rows.push(row(va(r.base), va(r.base) + r.size(), 2, format!("{kind} at PA {} ..", Addr(r.base))));
        last_end = Some(r.end);
    }
    let memstart = physaddr::memstart_addr_raw();
    if let Some(first) = m.ram.iter().next() {
        if first.base > memstart {
            rows.insert(0, row(PAGE_OFFSET, va(first.base), 2, String::from("below RAM (memstart_addr is lower)")));
        }
    }
    if let Some(e) = last_end {
        rows.push(row(va(e), PAGE_END, 2, String::from("beyond the end of RAM (not mapped)")));
    }
    rows
}

pub fn cmd_map() {
    let at = physaddr::placement();
    let half = 1u64 << VA_BITS;
    let mut top = vec_rows();
    top.push(row(0, half, 0, String::from("user half (TTBR0; empty after boot)")));
    top.push(row(half, half.wrapping_neg(), 0, String::from("non-canonical (no translation)")));
    let kernel_top = with_gaps(top, 0, 1 << 64, 0, "unused");

    println!("address space, low to high; bar: log scale, '#' = {} and each further '#' doubles it", Size(PAGE_SIZE));
    println!("{:<21}   {:<21}  {:>9}  region", "start", "end", "size");
    let print = |r: &Row| {
        let end = if r.end == 1 << 64 { String::from("2^64 (top)") } else { format!("{}", Addr(r.end as u64)) };
        let size = r.end - r.start;
        let size_text = if size >= 1 << 60 {
            format!("{}.{} EiB", size >> 60, ((size & ((1 << 60) - 1)) * 10) >> 60)
        } else {
            format!("{}", Size(size as u64))
        };
        let mut name = StrBuf::<96>::new();
        let _ = write!(name, "{:indent$}{}", "", r.name, indent = r.depth * 2);
        println!("{} - {:<21}  {:>9}  {:<56} {}", Addr(r.start as u64), end, size_text, name.as_str(), bar(size));
    };
    for r in &kernel_top {
        print(r);
        let (s, e) = (r.start, r.end);
        let inner: Vec<Row> = if r.name.starts_with("linear map") {
            linear_rows()
        } else if r.name.starts_with("vmalloc") {
            let mut v = Vec::new();
            v.push(row(at.text, at.end, 2, String::from("kernel image [_text, _end)")));
            for a in vmalloc::areas() {
                v.push(row(a.va, a.va + a.size, 2, describe_area(&a)));
            }
            v.sort_by_key(|r| r.start);
            v
        } else if r.name.starts_with("fixmap") {
            let mut v = Vec::new();
            v.push(row(
                layout::FIX_FDT_BASE,
                layout::FIX_FDT_BASE + layout::FIX_FDT_SIZE,
                2,
                String::from("device tree window"),
            ));
            for (slot, name) in [
                (FixSlot::Pte, "slot Pte"),
                (FixSlot::Pmd, "slot Pmd"),
                (FixSlot::Pud, "slot Pud"),
                (FixSlot::Pgd, "slot Pgd"),
                (FixSlot::EarlyCon, "slot EarlyCon"),
            ] {
                let va = fix_to_virt(slot);
                let what = match at_s1e1r(va) {
                    Some(pa) => format!("{name}: PA {}", Addr(pa)),
                    None => format!("{name}: empty"),
                };
                v.push(row(va, va + PAGE_SIZE, 2, what));
            }
            v.sort_by_key(|r| r.start);
            v
        } else {
            Vec::new()
        };
        for i in inner.iter().filter(|i| i.start >= s && i.end <= e) {
            print(i);
        }
    }
}

/// The kernel half's regions from the layout (not the image, which is
/// shown inside vmalloc, nor the user half).
fn vec_rows() -> Vec<Row> {
    let at = physaddr::placement();
    let mut rows = Vec::new();
    for r in layout::ACTIVE.layout_rows(&at, crate::arch::sysreg::vabits_actual()) {
        let name = match r.name {
            "user" | "  .image" | "memory" => continue,
            "fixed" => "fixmap",
            other => other,
        };
        let name = match name {
            "vmalloc" => String::from("vmalloc area"),
            n => String::from(n),
        };
        rows.push(row(r.start, r.end, 0, name));
    }
    rows.push(row(PAGE_OFFSET, PAGE_END, 0, String::from("linear map")));
    rows
}

pub fn cmd_idmap() {
    let Some(rec) = idmap::recorded() else {
        println!("no record: the identity map is still live (paging_init has not run)");
        return;
    };
    let root = rec.ttbr0 & vakern_mm::pte::ADDR_MASK;
    println!("identity map as it was when paging_init emptied TTBR0: TTBR0_EL1 = {:#018x}", rec.ttbr0);
    println!(
        "root table at PA {}; {} of leaf mappings:",
        Addr(root),
        super::args::plural(rec.total as u64, "run", "runs")
    );
    for run in rec.runs.iter().flatten() {
        let mut line = StrBuf::<160>::new();
        let _ = ptdump::write_run(&mut line, run);
        crate::print!("{}", line.as_str());
        let w = pgtable::walk(&mut PhysTables, root, run.start);
        match w.phys() {
            Some(pa) => println!(
                "    first address -> PA {}{}",
                Addr(pa),
                if pa == run.start { " (identity: VA = PA)" } else { " (not identity)" }
            ),
            None => println!("    (the tables no longer translate this run)"),
        }
        let r = vakern_mm::ranges::Range { base: run.start, end: run.end };
        let ram = memblock::memory().is_some_and(|m| m.ram.covers(&r));
        println!(
            "    {}",
            if ram {
                "all RAM the device tree describes"
            } else {
                "NOT all RAM: reaches past the RAM the device tree describes"
            }
        );
    }
    if rec.total > rec.runs.len() {
        println!("({} more not recorded)", rec.total - rec.runs.len());
    }
    println!("TTBR0 now: walks disabled (TCR_EL1.EPD0), root 0; user addresses fault at level 0");
}
