//! The `debug_virtual` corpus: one deliberate misuse of the translation API
//! per case, run with `test=dv:CASE`.
//!
//! Every case first prints `dv CASE: WHAT` (what it does), then its verdict.
//! Report cases call `__pa`/`__va` on an address the rule does not cover and
//! print the (unchecked) result and the number of reports the case made,
//! `dv CASE: result VALUE ; debug_virtual reports: N`, and carry on: with
//! `debug_virtual` the console shows the report and N is 1; without it there
//! is no report and the result is the bare arithmetic, documented per case
//! below. Stop cases (`__pa_symbol` outside the image, PHYS_OFFSET, `__pa`
//! of a linear address or `lm_alias` too early) end with `DEBUG_VIRTUAL_BUG`
//! under the flag; without it they print the unchecked result and exit 0.
//!
//! A case that carries on in every build ([`Ends::CarriesOn`]) may share a
//! boot with others: `test=linear,dv:pa-vmalloc,dv:pa-module` runs them in
//! order, each between its own two lines, so the host can tell which case
//! made which report. A case that stops runs alone, as `test=dv:CASE`.
//!
//! One case, `boundaries`, is a table rather than a misuse: it sits on the
//! edge of every check and one step inside it (the first and last byte of
//! RAM and of every hole, `PAGE_OFFSET`, `_text` and `_end`, the populate
//! routines with an image and a linear table) and prints one line per probe,
//! `dvb NAME VALUE +N`: the translation's (unchecked) value and how many
//! reports the call made. The host test boots it on several RAM layouts and
//! checks every line.

use crate::arch::semihosting;
use crate::arch::table::Table;
use crate::console::printk;
use crate::mm::fixmap::{self, FixSlot};
use crate::mm::physaddr::{self, ImageAddr, VirtAddr};
use crate::mm::{page_alloc, vmalloc};
use crate::{image_sym, pr_info};
use alloc::boxed::Box;
use vakern_mm::exit;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{MODULES_VADDR, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE};

static SOME_STATIC: u64 = 7;
static mut IMAGE_TABLE: Table = Table::new();

/// How a case ends in a kernel built with `debug_virtual` (without it,
/// every case prints its result and carries on).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ends {
    /// Reports and carries on: the case may share a boot with others.
    CarriesOn,
    /// Stops the kernel with `DEBUG_VIRTUAL_BUG` once the boot is complete.
    Stops,
    /// Stops the kernel before memory is set up ([`run_early`]).
    StopsEarly,
}

/// Case name, how it ends with the flag, and what it does (the result
/// without the flag in brackets).
pub const CASES: &[(&str, Ends, &str)] = &[
    ("pa-image-symbol", Ends::CarriesOn, "__pa(&static) [image rule: the right PA]"),
    ("pa-vmalloc", Ends::CarriesOn, "__pa(vmalloc address) [image rule: a meaningless PA]"),
    ("pa-module", Ends::CarriesOn, "__pa(MODULES_VADDR + 4 KiB) [image rule: meaningless]"),
    ("pa-fixmap", Ends::CarriesOn, "__pa(fixmap slot) [image rule: meaningless]"),
    ("pa-ioremap", Ends::CarriesOn, "__pa(ioremapped UART) [image rule: meaningless]"),
    (
        "pa-user-bit47",
        Ends::CarriesOn,
        "__pa(0x0000_8000_0000_1000) [4.10's bit test takes it for linear: the linear rule; 6.12's range \
         check does not: the image rule; both meaningless]",
    ),
    ("pa-null", Ends::CarriesOn, "__pa(NULL) [image rule: -kimage_voffset]"),
    ("pa-noncanonical", Ends::CarriesOn, "__pa(0x1234_0000_0000_0000) [image rule: meaningless]"),
    ("pa-beyond-ram", Ends::CarriesOn, "__pa(linear address past the end of RAM) [linear rule: a PA past RAM]"),
    ("va-non-ram", Ends::CarriesOn, "__va(UART PA) [a linear address that is not mapped]"),
    ("pa-symbol-linear", Ends::Stops, "__pa_symbol(linear address) [image rule: meaningless]"),
    ("pa-symbol-heap", Ends::Stops, "__pa_symbol(heap pointer) [image rule: meaningless]"),
    ("pa-symbol-end-plus-1", Ends::Stops, "__pa_symbol(_end + 1) [PA of _end + 1]"),
    ("lm-alias-end-plus-1", Ends::Stops, "lm_alias(_end + 1) [the linear alias of _end + 1]"),
    ("phys-offset-early", Ends::StopsEarly, "PHYS_OFFSET before memstart_addr is set [the sentinel]"),
    (
        "pa-linear-before-memstart",
        Ends::StopsEarly,
        "__pa(PAGE_OFFSET + 4 KiB) before memstart_addr is set [va - PAGE_OFFSET - 1]",
    ),
    ("lm-alias-early", Ends::StopsEarly, "lm_alias before the linear map exists [an unmapped linear address]"),
    (
        "populate-image-table",
        Ends::CarriesOn,
        "pmd_populate with a kernel-image table after the linear map [image rule: right PA]",
    ),
    (
        "boundaries",
        Ends::CarriesOn,
        "every check on its boundary and one step inside (lines `dvb NAME VALUE +REPORTS`)",
    ),
];

/// True if `case` carries on in every build, so it may run in a list.
pub fn listable(case: &str) -> bool {
    CASES.iter().any(|k| k.0 == case && k.1 == Ends::CarriesOn)
}

/// Print the case's first line and return the report count before it.
fn announce(case: &str) -> u64 {
    let what = CASES.iter().find(|k| k.0 == case).map_or("?", |k| k.2);
    pr_info!("dv {}: {}", case, what);
    physaddr::reports()
}

/// Print the case's verdict line: its result and the reports it made.
fn verdict(case: &str, result: u64, before: u64) {
    pr_info!("dv {}: result {} ; debug_virtual reports: {}", case, Addr(result), physaddr::reports() - before);
}

fn done(case: &str, result: u64, before: u64) -> ! {
    verdict(case, result, before);
    semihosting::exit(exit::SUCCESS)
}

/// Cases that must run before memory is set up.
pub fn run_early(case: &str) {
    let is_early = CASES.iter().any(|k| k.0 == case && k.1 == Ends::StopsEarly);
    if !is_early {
        return;
    }
    let before = announce(case);
    match case {
        "phys-offset-early" => done(case, physaddr::phys_offset(), before),
        "pa-linear-before-memstart" => done(case, physaddr::__pa(vakern_mm::layout::PAGE_OFFSET + PAGE_SIZE), before),
        "lm-alias-early" => done(case, physaddr::lm_alias(image_sym!(SOME_STATIC)).0, before),
        _ => crate::fatal!(exit::BOOT_ERROR, "dv:{}: no early case of that name", case),
    }
}

/// Run a case that needs the booted kernel, alone, and end the boot (a
/// case that stops the kernel ends it itself).
pub fn run(case: &str) -> ! {
    run_in_list(case);
    semihosting::exit(exit::SUCCESS)
}

/// Run a case between its two lines; returns unless the case stopped the
/// kernel.
pub fn run_in_list(case: &str) {
    let before = announce(case);
    let r = result_of(case);
    verdict(case, r, before);
}

/// The misuse itself: the value the case prints as its result.
fn result_of(case: &str) -> u64 {
    let (_, end) = physaddr::image_bounds();
    let (_, ram_end) = physaddr::ram_bounds();
    match case {
        "pa-image-symbol" => physaddr::__pa(&raw const SOME_STATIC as u64),
        "pa-vmalloc" => {
            let v = vmalloc::vmalloc(PAGE_SIZE).expect("vmalloc");
            physaddr::__pa(v.0)
        }
        "pa-module" => physaddr::__pa(MODULES_VADDR + PAGE_SIZE),
        "pa-fixmap" => physaddr::__pa(fixmap::fix_to_virt(FixSlot::Pte)),
        "pa-ioremap" => physaddr::__pa(printk::console_base().expect("console")),
        "pa-user-bit47" => {
            let va = 0x0000_8000_0000_1000;
            let l = vakern_mm::layout::ACTIVE;
            pr_info!(
                "dv {}: {}'s __is_lm_address says {}; the exact range check says {}",
                case,
                l.version().name(),
                if vakern_mm::addr::lm_test(va) { "linear" } else { "not linear" },
                if physaddr::is_lm_address(va) { "linear" } else { "not linear" },
            );
            physaddr::__pa(va)
        }
        "pa-null" => physaddr::__pa(0),
        "pa-noncanonical" => physaddr::__pa(0x1234_0000_0000_0000),
        "pa-beyond-ram" => physaddr::__pa(physaddr::phys_to_virt_unchecked(ram_end) + PAGE_SIZE),
        "va-non-ram" => physaddr::__va(printk::console_pa().unwrap_or(ram_end)),
        "pa-symbol-linear" => physaddr::__pa_symbol(physaddr::phys_to_virt_unchecked(ram_end - PAGE_SIZE)),
        "pa-symbol-heap" => {
            let b = Box::new(5u64);
            physaddr::pa_symbol(ImageAddr::from_raw(&*b as *const u64 as u64)).0
        }
        "pa-symbol-end-plus-1" => physaddr::__pa_symbol(end + 1),
        "lm-alias-end-plus-1" => physaddr::lm_alias(ImageAddr::from_raw(end + 1)).0,
        "boundaries" => {
            // The result is the number of reports the probes made.
            let before = physaddr::reports();
            boundaries();
            physaddr::reports() - before
        }
        "populate-image-table" => {
            // A scratch level-2 table (not live) whose entry 0 gets the image
            // table, handed over by its image address instead of lm_alias.
            let scratch = page_alloc::alloc_pages(1).expect("page");
            let pmdp = physaddr::phys_to_virt(scratch).as_ptr::<u64>();
            // SAFETY: a fresh page of our own; the table is never made live.
            unsafe {
                core::ptr::write_bytes(pmdp, 0, vakern_mm::pgtable::ENTRIES);
                crate::mm::populate::pmd_populate(pmdp, VirtAddr::of(&raw const IMAGE_TABLE));
            }
            // SAFETY: as above.
            let d = unsafe { pmdp.read_volatile() };
            page_alloc::free_pages(scratch, 1);
            d & vakern_mm::pte::ADDR_MASK
        }
        _ => crate::fatal!(exit::BOOT_ERROR, "dv:{}: no such corpus case", case),
    }
}

/// Print one probe: its value and the reports it made.
fn probe(name: &str, f: impl FnOnce() -> u64) {
    let before = physaddr::reports();
    let v = f();
    pr_info!("dvb {} {} +{}", name, Addr(v), physaddr::reports() - before);
}

/// The `boundaries` case: see the module comment. Linear and physical
/// addresses are built with the unchecked `__va`, so only the call probed
/// can report.
fn boundaries() {
    let lin = physaddr::phys_to_virt_unchecked;
    let (text, end) = physaddr::image_bounds();
    let (ram_start, ram_end) = physaddr::ram_bounds();
    pr_info!("dvb memstart {} +0", Addr(physaddr::memstart_addr_raw()));
    pr_info!("dvb kimage_voffset {} +0", Addr(physaddr::kimage_voffset()));
    pr_info!("dvb ram-start {} +0", Addr(ram_start));
    pr_info!("dvb ram-end {} +0", Addr(ram_end));

    // __pa: the start of the linear map, the first and last byte of RAM,
    // the linear limit (the first byte past RAM).
    probe("pa-page-offset", || physaddr::__pa(PAGE_OFFSET));
    probe("pa-page-offset-1", || physaddr::__pa(PAGE_OFFSET - 1));
    probe("pa-ram-start", || physaddr::__pa(lin(ram_start)));
    probe("pa-ram-end-1", || physaddr::__pa(lin(ram_end - 1)));
    probe("pa-ram-end", || physaddr::__pa(lin(ram_end)));
    // __va: the same edges from the physical side, and the round trip.
    probe("va-ram-start-1", || physaddr::__va(ram_start - 1));
    probe("va-ram-start", || physaddr::__va(ram_start));
    probe("va-ram-end-1", || physaddr::__va(ram_end - 1));
    probe("va-ram-end", || physaddr::__va(ram_end));
    probe("pa-va-ram-end-1", || physaddr::__pa(physaddr::__va(ram_end - 1)));
    probe("pa-va-ram-end", || physaddr::__pa(physaddr::__va(ram_end)));
    // virt_addr_valid and pfn_valid at the same edges (1 = true).
    probe("valid-ram-start-1", || physaddr::virt_addr_valid(lin(ram_start).wrapping_sub(1)) as u64);
    probe("valid-ram-start", || physaddr::virt_addr_valid(lin(ram_start)) as u64);
    probe("valid-ram-end-1", || physaddr::virt_addr_valid(lin(ram_end - 1)) as u64);
    probe("valid-ram-end", || physaddr::virt_addr_valid(lin(ram_end)) as u64);
    probe("pfn-valid-ram-start-1", || physaddr::pfn_valid((ram_start >> PAGE_SHIFT).wrapping_sub(1)) as u64);
    probe("pfn-valid-ram-start", || physaddr::pfn_valid(ram_start >> PAGE_SHIFT) as u64);
    probe("pfn-valid-ram-end-1", || physaddr::pfn_valid((ram_end - 1) >> PAGE_SHIFT) as u64);
    probe("pfn-valid-ram-end", || physaddr::pfn_valid(ram_end >> PAGE_SHIFT) as u64);

    // Every hole between two ranges of mapped RAM (a gap or a no-map range):
    // its first and last byte, and the bytes just outside it.
    let mapped = &crate::mm::memblock::memory().expect("memory").mapped;
    for (i, (a, b)) in mapped.iter().zip(mapped.iter().skip(1)).enumerate() {
        let (hs, he) = (a.end, b.base);
        for (what, pa) in [("start-1", hs - 1), ("start", hs), ("end-1", he - 1), ("end", he)] {
            probe(&alloc::format!("pa-hole{i}-{what}"), || physaddr::__pa(lin(pa)));
            probe(&alloc::format!("va-hole{i}-{what}"), || physaddr::__va(pa));
            probe(&alloc::format!("valid-hole{i}-{what}"), || physaddr::virt_addr_valid(lin(pa)) as u64);
        }
    }

    // __pa_symbol and lm_alias on the image's own edges (both allowed).
    probe("pa-symbol-text", || physaddr::__pa_symbol(text));
    probe("pa-symbol-end", || physaddr::__pa_symbol(end));
    probe("lm-alias-text", || physaddr::lm_alias(ImageAddr::from_raw(text)).0);
    probe("lm-alias-end", || physaddr::lm_alias(ImageAddr::from_raw(end)).0);

    // The populate routines: an image table is reported at every level, its
    // linear alias is not, and both store the table's PA.
    probe("pa-symbol-image-table", || physaddr::pa_symbol(image_sym!(IMAGE_TABLE)).0);
    let scratch = page_alloc::alloc_pages(1).expect("page");
    let entry = physaddr::phys_to_virt(scratch).as_ptr::<u64>();
    for level in 0..3u32 {
        for (how, table) in
            [("image", VirtAddr::of(&raw const IMAGE_TABLE)), ("alias", physaddr::lm_alias(image_sym!(IMAGE_TABLE)))]
        {
            probe(&alloc::format!("populate{level}-{how}"), || {
                // SAFETY: a fresh page of our own, never made live; entry 0.
                unsafe {
                    entry.write_volatile(0);
                    crate::mm::populate::populate(level, entry, table);
                    entry.read_volatile() & vakern_mm::pte::ADDR_MASK
                }
            });
        }
    }
    page_alloc::free_pages(scratch, 1);
}
