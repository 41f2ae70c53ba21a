//! The `debug_pgtable` corpus: one deliberate unsafe write to a live table
//! per kind of break-before-make violation, run with `test=pgt:CASE`.
//!
//! Each case maps a scratch page at its own slot of the vmalloc area (one
//! root entry, at most 512 GiB, so no other mapping shares its tables),
//! writes one descriptor over the live one the way the rule forbids,
//! through `mm::debug_pgtable::write` (the path every kernel write to a
//! live table takes), then puts the
//! mapping back break-before-make and prints how many violations were
//! counted. Nothing reads through the broken entry. With `debug_pgtable`
//! the report names the entry, the old and new descriptor, the reason and
//! the caller, and the count is 1; without the feature the count is 0.
//! Exit code 0 either way.

use crate::arch::semihosting;
use crate::mm::table_access::LinearTables;
use crate::mm::{debug_pgtable, page_alloc, tlbflush};
use crate::pr_info;
use vakern_mm::exit;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{self, PAGE_SIZE, PGDIR_SIZE};
use vakern_mm::pgtable::{self, MapFlags};
use vakern_mm::pte::{self, Prot};

/// The space each case's scratch page gets to itself: one root entry (512
/// GiB with 4 KiB pages and four levels), but no more than 512 GiB where a
/// root entry is larger (16 KiB pages with 48-bit VAs: two root entries).
const SLOT: u64 = if PGDIR_SIZE < 1 << 39 { PGDIR_SIZE } else { 1 << 39 };
// Every case's slot lies inside the vmalloc area.
const _: () = assert!(layout::VMALLOC_START + (3 + CASES.len() as u64) * SLOT < layout::VMALLOC_END);

/// Case name and the write it makes over a live, valid entry.
pub const CASES: &[(&str, &str)] = &[
    ("output-address", "a level-3 page entry pointed at another page"),
    ("block-size", "a level-2 table entry replaced by a 2 MiB block"),
    ("contiguous", "the contiguous bit set on a live level-3 entry"),
    ("attributes", "a live page entry's memory type changed to Device"),
];

/// Run case `case` and exit.
pub fn run(case: &str) -> ! {
    let Some(i) = CASES.iter().position(|c| c.0 == case) else {
        crate::fatal!(
            exit::BOOT_ERROR,
            "pgt:{}: no such case (cases: output-address, block-size, contiguous, attributes)",
            case
        )
    };
    pr_info!("pgt {}: {}", case, CASES[i].1);
    let va = layout::VMALLOC_START + (3 + i as u64) * SLOT;
    let pa = page_alloc::alloc_pages(1).expect("a page");
    let other = page_alloc::alloc_pages(1).expect("a page");
    let mut t = LinearTables::new();
    pgtable::map_range(&mut t, LinearTables::root(), va, pa.0, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES)
        .expect("map the scratch page");
    tlbflush::sync_tables();
    let w = pgtable::walk(&mut t, LinearTables::root(), va);
    let level = if case == "block-size" { 2 } else { 3 };
    let table = w.tables[level].expect("the scratch page's tables");
    let entry = table.as_ptr::<u64>().wrapping_add(layout::table_index(va, level as u32));
    // SAFETY: a descriptor of a live table mapping only our scratch page.
    let old = unsafe { entry.read_volatile() };
    let new = match case {
        "output-address" => (old & !pte::ADDR_MASK) | other.0,
        "block-size" => pte::leaf_desc(other.0 & !(layout::PMD_SIZE - 1), 2, Prot::KERNEL_RW),
        "contiguous" => old | pte::CONT,
        _ => (old & !(7 << 2)) | Prot::DEVICE.attrs() & (7 << 2),
    };
    let before = debug_pgtable::violations();
    // SAFETY: as above; nothing accesses `va` (or the 2 MiB around it) while
    // the entry holds the bad value.
    unsafe {
        debug_pgtable::write(entry, va, level as u32, new);
        tlbflush::flush_tlb_kernel_page(va);
        // Back, break-before-make: invalid, invalidate, the old entry.
        debug_pgtable::write(entry, va, level as u32, 0);
        tlbflush::flush_tlb_kernel_page(va);
        debug_pgtable::write(entry, va, level as u32, old);
    }
    tlbflush::sync_tables();
    let n = debug_pgtable::violations() - before;
    pr_info!(
        "pgt {}: entry {} old {:#018x} new {:#018x}; debug_pgtable violations: {}",
        case,
        Addr(entry as u64),
        old,
        new,
        n
    );
    semihosting::exit(exit::SUCCESS)
}
