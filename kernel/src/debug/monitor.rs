//! The interactive monitor on the serial console, after boot.
//!
//! One command per line; `help` lists them. Addresses are hex (`0x…`,
//! underscores allowed), decimal, or a function name. Bad commands and bad
//! numbers print an error and the prompt comes back. Memory is read through
//! the fault-safe probe, so `x` on an unmapped address prints a fault report
//! and the monitor carries on. End of input (Ctrl-D, which the launcher also
//! sends when its own input ends) powers the machine off with exit code 0.

use crate::arch::at::at_s1e1r;
use crate::arch::semihosting;
use crate::console::printk;
use crate::debug::fault;
use crate::debug::{fault_inject, kallsyms};
use crate::mm::physaddr::{self, VirtAddr};
use crate::mm::table_access::LinearTables;
use crate::mm::{heap, linear_map, memblock, page_alloc, vmalloc};
use crate::{print, println};
use alloc::string::String;
use alloc::vec::Vec;
use vakern_mm::exit;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{self, Region, PAGE_SIZE};
use vakern_mm::pgtable;

const HELP: &str = "\
commands:
  help              this list
  layout            the virtual memory layout
  pa VA             __pa(VA) by the kernel's rules, and what the MMU says
  va PA             __va(PA), and whether PA is RAM
  walk VA           the table walk for VA, one entry per level
  ptdump            dump the kernel page tables
  x VA [LEN]        hex dump LEN bytes (default 64, at most 4096) at VA
  vmalloc N         vmalloc N bytes; prints the area and its pages
  vfree VA          free a vmalloc area
  sym ADDR|NAME     the function at ADDR, or the address of NAME
  fault KIND        a deliberate fatal fault (fault list: the kinds)
  meminfo           memory, allocators, table pages
  poweroff          power off (exit code 0); Ctrl-D does the same";

/// Read lines and run them until `poweroff` or end of input.
pub fn run() -> ! {
    println!("vakern monitor: type 'help' for commands.");
    let mut line = String::new();
    loop {
        print!("vakern> ");
        line.clear();
        if !read_line(&mut line) {
            println!();
            println!("end of input: powering off");
            semihosting::exit(exit::SUCCESS);
        }
        execute(line.trim());
    }
}

/// Read a line with echo and backspace; false at end of input (Ctrl-D).
fn read_line(line: &mut String) -> bool {
    loop {
        let Some(b) = printk::getc() else {
            core::hint::spin_loop();
            continue;
        };
        match b {
            0x04 => return false,
            b'\r' | b'\n' => {
                println!();
                return true;
            }
            0x7f | 0x08 if line.pop().is_some() => print!("\x08 \x08"),
            0x03 => {
                println!("^C");
                line.clear();
                return true;
            }
            0x20..=0x7e if line.len() < 256 => {
                line.push(b as char);
                print!("{}", b as char);
            }
            _ => {}
        }
    }
}

/// Parse a number (hex with 0x, underscores allowed; decimal) or a function name.
pub fn parse_addr(s: &str) -> Result<u64, String> {
    let t = s.replace('_', "");
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse::<u64>().ok(),
    };
    parsed
        .or_else(|| linker_symbol(s))
        .or_else(|| kallsyms::address_of(s))
        .ok_or_else(|| alloc::format!("{s:?} is not a number, a section symbol or a known function"))
}

/// The image's section symbols by name.
fn linker_symbol(name: &str) -> Option<u64> {
    use crate::arch::sections::{__end_rodata, _edata, _etext};
    let (text, end) = physaddr::image_bounds();
    Some(match name {
        "_text" => text,
        "_etext" => &raw const _etext as u64,
        "__end_rodata" => &raw const __end_rodata as u64,
        "_edata" => &raw const _edata as u64,
        "_end" => end,
        _ => return None,
    })
}

fn execute(line: &str) {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else { return };
    let args: Vec<&str> = words.collect();
    let arg = |i: usize| -> Result<u64, String> {
        args.get(i).ok_or_else(|| alloc::format!("{cmd}: missing argument (see help)")).and_then(|a| parse_addr(a))
    };
    let want = |n: usize| -> Result<(), String> {
        if args.len() > n {
            Err(alloc::format!("{cmd}: too many arguments (see help)"))
        } else {
            Ok(())
        }
    };
    let result = match cmd {
        "help" => want(0).map(|_| println!("{}", HELP)),
        "layout" => want(0).map(|_| crate::mm::layout::print_layout()),
        "pa" => want(1).and_then(|_| arg(0)).map(cmd_pa),
        "va" => want(1).and_then(|_| arg(0)).map(cmd_va),
        "walk" => want(1).and_then(|_| arg(0)).map(|va| fault::show_pte_with(va, &mut |l| println!("{}", l))),
        "ptdump" => want(0).map(|_| crate::debug::ptdump::dump(&mut |l| println!("{}", l))),
        "x" => want(2).and_then(|_| {
            let va = arg(0)?;
            let len = if args.len() > 1 { arg(1)? } else { 64 };
            if len == 0 || len > 4096 {
                return Err(alloc::format!("x: length {len} must be 1..4096"));
            }
            cmd_x(va, len);
            Ok(())
        }),
        "vmalloc" => want(1).and_then(|_| arg(0)).and_then(cmd_vmalloc),
        "vfree" => want(1)
            .and_then(|_| arg(0))
            .and_then(|va| vmalloc::vfree(VirtAddr(va)).map_err(|e| alloc::format!("vfree: {e}")))
            .map(|_| println!("freed")),
        "sym" => want(1).and_then(|_| cmd_sym(args.first().copied().unwrap_or(""))),
        "fault" => match args.as_slice() {
            [kind] => fault_inject::trigger(kind).map_err(|e| alloc::format!("fault {kind}: {e} (kinds: {})", kinds())),
            _ => Err(alloc::format!("fault: give one kind: {}", kinds())),
        },
        "meminfo" => want(0).map(|_| cmd_meminfo()),
        "poweroff" => {
            println!("powering off");
            semihosting::exit(exit::SUCCESS)
        }
        _ => Err(alloc::format!("unknown command {cmd:?}; type 'help'")),
    };
    if let Err(e) = result {
        println!("error: {e}");
    }
}

fn kinds() -> String {
    fault_inject::KINDS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
}

fn cmd_pa(va: u64) {
    let region = physaddr::region_of(va);
    let rule = match region {
        Region::Linear | Region::LinearBeyondRam => Some(("linear rule", physaddr::lm_to_phys(va))),
        Region::KernelImage => Some(("image rule", physaddr::kimg_to_phys(va))),
        _ => None,
    };
    println!("{} is in: {}", Addr(va), region.name());
    match rule {
        Some((how, pa)) => println!("__pa({}) = {} ({})", Addr(va), Addr(pa), how),
        None => println!("__pa is not defined here (neither linear nor image); debug_virtual would report it"),
    }
    match at_s1e1r(va) {
        Some(pa) => println!("MMU (AT S1E1R): {}", Addr(pa)),
        None => println!("MMU (AT S1E1R): not mapped"),
    }
    if let Some((pa_rule, pa_mmu)) = rule.map(|r| r.1).zip(at_s1e1r(va)) {
        if pa_rule != pa_mmu {
            println!("MISMATCH between the rule and the MMU");
        }
    }
}

fn cmd_va(pa: u64) {
    let va = physaddr::phys_to_virt_unchecked(pa);
    println!("__va({}) = {}", Addr(pa), Addr(va));
    if memblock::is_mapped_ram(pa) {
        println!("PA is RAM in the linear map; MMU translates it back to {:?}", at_s1e1r(va).map(Addr));
    } else if memblock::is_ram(pa) {
        println!("PA is RAM but not in the linear map (no-map reservation)");
    } else {
        println!("PA is not RAM: the linear address is not mapped");
    }
    let (text, end) = physaddr::image_bounds();
    if pa >= physaddr::kimg_to_phys(text) && pa < physaddr::kimg_to_phys(end) {
        println!("PA is inside the kernel image: image address {}", Addr(physaddr::phys_to_kimg(pa)));
    }
}

fn cmd_x(va: u64, len: u64) {
    let mut addr = va;
    while addr < va.saturating_add(len) {
        let mut bytes = Vec::new();
        for i in 0..16.min(va + len - addr) {
            match crate::debug::traps::probe_read(addr + i) {
                Ok(b) => bytes.push(b),
                Err((far, esr)) => {
                    if !bytes.is_empty() {
                        print_row(addr, &bytes);
                    }
                    fault::report_probe_fault(addr + i, far, esr);
                    println!("(x: stopped at the fault; the monitor carries on)");
                    return;
                }
            }
        }
        print_row(addr, &bytes);
        addr += 16;
    }
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

fn cmd_vmalloc(n: u64) -> Result<(), String> {
    let va = vmalloc::vmalloc(n).map_err(|e| alloc::format!("vmalloc: {e}"))?;
    let size = layout::align_up(n, PAGE_SIZE);
    println!("vmalloc({}) = {} .. {} (guard page at {})", n, Addr(va.0), Addr(va.0 + size), Addr(va.0 + size));
    let mut t = LinearTables::new();
    for i in 0..size / PAGE_SIZE {
        let p = va.0 + i * PAGE_SIZE;
        let w = pgtable::walk(&mut t, LinearTables::root(), p);
        println!("  {} -> {}", Addr(p), w.phys().map_or(String::from("unmapped"), |pa| alloc::format!("{}", Addr(pa))));
    }
    Ok(())
}

fn cmd_sym(a: &str) -> Result<(), String> {
    let t = a.replace('_', "");
    if t.starts_with("0x") || t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty() {
        let addr = parse_addr(a)?;
        match kallsyms::lookup(addr) {
            Some(f) => println!("{} is {}", Addr(addr), f),
            None => println!("{} is not inside a known function ({})", Addr(addr), physaddr::region_of(addr).name()),
        }
    } else {
        match kallsyms::address_of(a) {
            Some(addr) => println!("{} is at {}", a, Addr(addr)),
            None => return Err(alloc::format!("sym: no function named {a:?}")),
        }
    }
    Ok(())
}

fn cmd_meminfo() {
    if let Some(m) = memblock::memory() {
        for r in m.ram.iter() {
            let kind = if m.mapped.covers(r) { "RAM" } else { "RAM (partly no-map)" };
            println!(
                "{} - {}  {:>10}  {}",
                Addr(r.base),
                Addr(r.end),
                crate::console::fmt::padded(Size(r.size())),
                kind
            );
        }
    }
    println!("memstart_addr  {}", Addr(physaddr::memstart_addr_raw()));
    println!("kimage_voffset {}", Addr(physaddr::kimage_voffset()));
    println!(
        "page allocator: {} free of {} ({} free ranges)",
        Size(page_alloc::free_bytes()),
        Size(page_alloc::total_bytes()),
        page_alloc::free_ranges()
    );
    let (used, free) = heap::usage();
    println!("heap: {} used, {} free", used, free);
    let areas = vmalloc::areas();
    println!("vmalloc/ioremap areas: {}", areas.len());
    for a in areas {
        let kind = match a.kind {
            vmalloc::AreaKind::Vmalloc(ref p) => alloc::format!("vmalloc, {} pages", p.len()),
            vmalloc::AreaKind::Ioremap(pa) => alloc::format!("ioremap of {}", Addr(pa.0)),
        };
        println!("  {} {:>10}  {}", Addr(a.va), crate::console::fmt::padded(Size(a.size)), kind);
    }
    let l = linear_map::linear_table_counts();
    println!("linear map tables: L1 {} L2 {} L3 {}", l[1], l[2], l[3]);
    println!("debug_virtual reports: {}", physaddr::reports());
}
