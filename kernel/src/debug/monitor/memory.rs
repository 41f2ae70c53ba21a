//! The monitor's memory commands: `x`, `vmalloc`, `vfree`, `sym` and
//! `meminfo`. Runs after boot. What could take the kernel down is refused
//! with the reason: `vfree` frees only what this monitor's `vmalloc` handed
//! out (never a kernel stack or the console's ioremap), and `x` does not read
//! device memory (where a read has side effects) unless forced with `-f`.
//! Reads go through the fault-safe probe of `debug::traps`.

use crate::console::fmt::padded;
use crate::console::printk;
use crate::debug::{fault, kallsyms, traps};
use crate::mm::physaddr::{self, VirtAddr};
use crate::mm::table_access::{LinearTables, PhysTables};
use crate::mm::{heap, linear_map, memblock, page_alloc, stack, vmalloc};
use crate::{print, println};
use aarch64_cpu::registers::{Readable, TTBR1_EL1};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use spin::Mutex;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{self, PAGE_SIZE};
use vakern_mm::pgtable;
use vakern_mm::pte::{self, MemType};

use super::args::plural;

pub const X_HELP: &str = "\
Hex dump of LEN bytes (default 64, at most 4 KiB) from VA, 16 per row, through
the fault-safe probe: an unmapped address gives a fault report and the monitor
carries on. Device memory (Device-* in MAIR) is refused, since reading a
device register can change the device (the UART's data register eats input);
-f reads it anyway. A range running past the top of the address space is
read up to 0xffff_ffff_ffff_ffff and the rest is reported.";
pub const VMALLOC_HELP: &str = "\
Allocates SIZE bytes (rounded up to pages, at most 1 GiB) in the vmalloc area
and prints the area, its guard page and the page behind each virtual page.";
pub const VFREE_HELP: &str = "\
Frees an area that this monitor's vmalloc handed out, given its first address.
Anything else is refused with what it is: a kernel stack, an ioremap (the
console's UART), the inside of an area, or no area at all.";
pub const SYM_HELP: &str = "\
With an address (hex): the function containing it, as name+offset/size.
With a name (a full path or its last part): the function's address.";
pub const MEMINFO_HELP: &str = "\
RAM ranges, NUMA nodes, memstart_addr and kimage_voffset, the page allocator
and heap, every vmalloc/ioremap area (with what it is), the linear map's
table pages and the debug_virtual report count.";

/// Areas this monitor's `vmalloc` handed out (their first addresses).
static MINE: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The memory type `va` is mapped with, if mapped.
fn mem_type(va: u64) -> Option<MemType> {
    if va >> layout::VA_BITS == 0 {
        return None; // TTBR0 is empty after boot
    }
    let root = pte::ttbr_root(TTBR1_EL1.get());
    let w = pgtable::walk(&mut PhysTables, root, va);
    w.leaf().and_then(|(_, d)| MemType::from_index((d >> 2) & 7))
}

pub fn cmd_x(va: u64, len: u64, force: bool) -> Result<(), String> {
    if len == 0 {
        return Err(String::from("x: length must be at least 1 byte"));
    }
    if len > 4096 {
        return Err(format!("x: length {} is more than the limit of 4 KiB", Size(len)));
    }
    let last = va.checked_add(len - 1);
    let end_incl = last.unwrap_or(u64::MAX);
    if !force {
        let mut page = layout::align_down(va, PAGE_SIZE);
        loop {
            if let Some(m @ (MemType::DeviceNgnrne | MemType::DeviceNgnre | MemType::DeviceGre)) = mem_type(page) {
                return Err(format!(
                    "x: {} is device memory ({}); reading it can change the device. Use x -f to read anyway",
                    Addr(page.max(va)),
                    m.name()
                ));
            }
            match page.checked_add(PAGE_SIZE) {
                Some(p) if p <= end_incl => page = p,
                _ => break,
            }
        }
    }
    if last.is_none() {
        let unread = len - (u64::MAX - va) - 1;
        println!(
            "(x: the address space ends at {}: reading {} up to it; the other {} would wrap to 0 and are not read)",
            Addr(u64::MAX),
            plural(len - unread, "byte", "bytes"),
            plural(unread, "byte", "bytes")
        );
    }
    let mut addr = va;
    loop {
        let row_last = addr.saturating_add(15).min(end_incl);
        let mut bytes = Vec::new();
        let mut a = addr;
        loop {
            match traps::probe_read(a) {
                Ok(b) => bytes.push(b),
                Err((far, esr)) => {
                    if !bytes.is_empty() {
                        print_row(addr, &bytes);
                    }
                    fault::report_probe_fault(a, far, esr);
                    println!("(x: stopped at the fault; the monitor carries on)");
                    return Ok(());
                }
            }
            if a == row_last {
                break;
            }
            a += 1;
        }
        print_row(addr, &bytes);
        if row_last == end_incl {
            break;
        }
        addr = row_last + 1;
    }
    Ok(())
}

fn print_row(addr: u64, bytes: &[u8]) {
    print!("{}:", Addr(addr));
    for b in bytes {
        print!(" {:02x}", b);
    }
    print!("{:width$}  ", "", width = (16 - bytes.len()) * 3);
    for &b in bytes {
        print!("{}", if (0x20..0x7f).contains(&b) { b as char } else { '.' });
    }
    println!();
}

pub fn cmd_vmalloc(n: u64) -> Result<(), String> {
    if n == 0 {
        return Err(String::from("vmalloc: size must be at least 1 byte"));
    }
    if n > vmalloc::MAX_VMALLOC {
        return Err(format!("vmalloc: {} is more than the limit of {}", Size(n), Size(vmalloc::MAX_VMALLOC)));
    }
    let va = vmalloc::vmalloc(n).map_err(|e| format!("vmalloc: {e}"))?;
    MINE.lock().push(va.0);
    let size = layout::align_up(n, PAGE_SIZE);
    let pages = size / PAGE_SIZE;
    println!(
        "vmalloc({}) = {} .. {} ({}, {}; guard page at {})",
        n,
        Addr(va.0),
        Addr(va.0 + size),
        Size(size),
        plural(pages, "page", "pages"),
        Addr(va.0 + size)
    );
    // Each page's frame, as the tables say; a large area shows its first
    // and last pages only, so one command never floods the console.
    const SHOWN: u64 = 8;
    let mut t = LinearTables::new();
    for i in 0..pages {
        if pages > SHOWN && i == SHOWN / 2 {
            println!("  ... {} not shown ...", plural(pages - SHOWN, "page", "pages"));
        }
        if pages > SHOWN && i >= SHOWN / 2 && i < pages - SHOWN / 2 {
            continue;
        }
        let p = va.0 + i * PAGE_SIZE;
        let w = pgtable::walk(&mut t, LinearTables::root(), p);
        println!("  {} -> {}", Addr(p), w.phys().map_or(String::from("unmapped"), |pa| format!("{}", Addr(pa))));
    }
    Ok(())
}

/// What the area containing `va` is, in words.
pub(super) fn describe_area(a: &vmalloc::Area) -> String {
    match a.kind {
        vmalloc::AreaKind::Vmalloc(ref p) => match stack::owner(a.va) {
            Some((cpu, _)) => format!("the kernel stack of CPU {cpu} ({})", plural(p.len() as u64, "page", "pages")),
            None if MINE.lock().contains(&a.va) => {
                format!("vmalloc by the monitor, {}", plural(p.len() as u64, "page", "pages"))
            }
            None => format!("vmalloc, {}", plural(p.len() as u64, "page", "pages")),
        },
        vmalloc::AreaKind::Ioremap(pa) => {
            let uart = printk::console_base().is_some_and(|b| layout::align_down(b, PAGE_SIZE) == a.va);
            format!("ioremap of PA {}{}", Addr(pa.0), if uart { " (the console UART)" } else { "" })
        }
    }
}

pub fn cmd_vfree(va: u64) -> Result<(), String> {
    let mut mine = MINE.lock();
    if let Some(i) = mine.iter().position(|&m| m == va) {
        vmalloc::vfree(VirtAddr(va)).map_err(|e| format!("vfree: {e}"))?;
        mine.swap_remove(i);
        println!("freed the area at {}", Addr(va));
        return Ok(());
    }
    drop(mine);
    let areas = vmalloc::areas();
    let found = areas.iter().find(|a| va >= a.va && va < a.va + a.size);
    let why = match (found, stack::owner(va)) {
        (_, Some((cpu, s))) => format!(
            "{} is in the kernel stack of CPU {cpu} ({} .. {}), which is in use",
            Addr(va),
            Addr(s.base),
            Addr(s.top)
        ),
        (Some(a), None) if a.va == va => {
            format!("the area at {} is not one the monitor handed out: {}", Addr(va), describe_area(a))
        }
        (Some(a), None) => format!(
            "{} is inside the area at {} ({}), not the start of an area the monitor handed out",
            Addr(va),
            Addr(a.va),
            describe_area(a)
        ),
        (None, None) => format!(
            "{} is not an area the monitor's vmalloc handed out (it is in: {})",
            Addr(va),
            physaddr::region_of(va).name()
        ),
    };
    Err(format!("vfree: refused: {why}"))
}

pub fn cmd_sym(a: &str) -> Result<(), String> {
    match super::args::addr(a) {
        Ok(addr) if kallsyms::address_of(a).is_none() => {
            match kallsyms::lookup(addr) {
                Some(f) => println!("{} is {}", Addr(addr), f),
                None => {
                    println!("{} is not inside a known function ({})", Addr(addr), physaddr::region_of(addr).name())
                }
            }
            Ok(())
        }
        _ => match kallsyms::address_of(a) {
            Some(addr) => {
                println!("{} is at {}", a, Addr(addr));
                Ok(())
            }
            None => Err(format!("sym: {a:?} is neither a hex address nor a known function name")),
        },
    }
}

pub fn cmd_meminfo() {
    if let Some(m) = memblock::memory() {
        for r in m.ram.iter() {
            let kind = if m.mapped.covers(r) { "RAM" } else { "RAM (partly no-map)" };
            println!("{} - {}  {:>10}  {}", Addr(r.base), Addr(r.end), padded(Size(r.size())), kind);
        }
    }
    memblock::print_numa(&mut |l| println!("{}", l));
    println!("memstart_addr  {}", Addr(physaddr::memstart_addr_raw()));
    println!("kimage_voffset {}", Addr(physaddr::kimage_voffset()));
    let ranges = page_alloc::free_ranges() as u64;
    println!(
        "page allocator: {} free of {} ({})",
        Size(page_alloc::free_bytes()),
        Size(page_alloc::total_bytes()),
        plural(ranges, "free range", "free ranges")
    );
    let (used, free) = heap::usage();
    println!("heap: {} used, {} free", Size(used as u64), Size(free as u64));
    let areas = vmalloc::areas();
    println!("vmalloc/ioremap areas: {}", areas.len());
    for a in &areas {
        println!("  {} {:>10}  {}", Addr(a.va), padded(Size(a.size)), describe_area(a));
    }
    let l = linear_map::linear_table_counts();
    println!("linear map tables: L1 {} L2 {} L3 {}", l[1], l[2], l[3]);
    println!("debug_virtual reports: {}", physaddr::reports());
}
