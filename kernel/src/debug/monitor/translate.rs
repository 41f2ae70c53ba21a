//! The monitor's translation instruments: `pa`, `va`, `lm_alias`, `walk`
//! and `bits`. Each answer is put next to the MMU's own (`AT S1E1R`), so a
//! rule and the hardware can be compared on the spot. Runs after boot; reads
//! the live tables through `mm::table_access::PhysTables` and the layout
//! from `vakern_mm::layout`, so it follows the page size and VA size the
//! kernel was built for.

use crate::arch::at::at_s1e1r;
use crate::debug::fault;
use crate::mm::physaddr::{self, image_bounds};
use crate::mm::{memblock, table_access::PhysTables};
use crate::{print, println};
use aarch64_cpu::registers::{Readable, MAIR_EL1, TCR_EL1, TTBR0_EL1, TTBR1_EL1};
use alloc::format;
use alloc::string::String;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{self, Region, LEVELS, PAGE_SHIFT, PAGE_SIZE, ROOT_LEVEL, VA_BITS};
use vakern_mm::ptdump::LEVEL_NAMES;
use vakern_mm::pte::{self, Kind, MemType};

pub const PA_HELP: &str = "\
Translates a virtual address three ways:
  - by the kernel's checked rule: the linear rule for the linear map, the image
    rule for the kernel image, and no rule for anything else;
  - by the unchecked __pa as compiled (4.10 layouts: bit VA_BITS-1 picks the
    rule; 6.12 layouts: the range check against PAGE_END; no check), the
    silent wrong answer a misused __pa gives, and whether debug_virtual would
    report the call;
  - by the MMU (AT S1E1R), which walks the live tables.
A linear address whose PA is a hole between RAM ranges is reported as a hole.";
pub const VA_HELP: &str = "\
__va(PA): the linear-map address of a physical address, if the linear map can
reach it (PA at or above memstart_addr and less than the linear map's size
above it), and whether that PA is mapped RAM, a no-map reservation, a hole
between RAM ranges or not RAM. Also the image address if PA is in the image.";
pub const LM_ALIAS_HELP: &str = "\
lm_alias(SYM) = __va(__pa_symbol(SYM)): the linear-map address of an image
address (a symbol name or an address in [_text, _end)). Both aliases are
translated by the MMU to show that they reach the same physical byte.";
pub const WALK_HELP: &str = "\
The walk of the live tables for VA: which TTBR, then per level the descriptor
(one line, as fault reports print it). With -v, per level: the index and the
VA bits it comes from, the entry's address (VA and PA), the descriptor decoded
(type, output address, AP, UXN, PXN, AF, SH, nG, AttrIndx with its MAIR_EL1
byte, contiguous hint), and where the walk stopped and why.";

/// Where the translation of `va` leads by the kernel's rules.
fn rule_of(va: u64) -> Option<(&'static str, u64)> {
    match physaddr::region_of(va) {
        Region::Linear | Region::LinearBeyondRam => Some(("linear rule", physaddr::lm_to_phys(va))),
        Region::KernelImage => Some(("image rule", physaddr::kimg_to_phys(va))),
        _ => None,
    }
}

/// What is at physical address `pa`: RAM, a no-map reservation, a hole, …
fn pa_kind(pa: u64) -> &'static str {
    let (start, end) = physaddr::ram_bounds();
    if memblock::is_mapped_ram(pa) {
        "RAM, in the linear map"
    } else if memblock::is_ram(pa) {
        "RAM, but a no-map reservation (not in the linear map)"
    } else if pa >= start && pa < end {
        "a hole between RAM ranges (no RAM there)"
    } else if pa < start {
        "below RAM (not RAM)"
    } else {
        "beyond the end of RAM (not RAM)"
    }
}

fn mmu(va: u64) -> String {
    match at_s1e1r(va) {
        Some(pa) => format!("{}", Addr(pa)),
        None => String::from("not mapped (translation fails)"),
    }
}

pub fn cmd_pa(va: u64) {
    let region = physaddr::region_of(va);
    println!("{} is in: {}", Addr(va), region.name());
    let rule = rule_of(va);
    match rule {
        Some((how, pa)) => {
            print!("__pa({}) = {} ({})", Addr(va), Addr(pa), how);
            if how == "linear rule" {
                println!(": {}", pa_kind(pa));
            } else {
                println!();
            }
        }
        None => println!("__pa is not defined here: the address is neither linear nor in the image"),
    }
    let unchecked = physaddr::virt_to_phys_nodebug(va);
    let reported = !physaddr::virt_addr_valid(va);
    // The fast path's own test (see physaddr.rs): 4.10's bit VA_BITS - 1,
    // 6.12's range check.
    let picked = if vakern_mm::addr::lm_test(va) { "linear" } else { "image" };
    let test = match layout::ACTIVE.version() {
        layout::Version::V4_10 => alloc::format!("bit {}", VA_BITS - 1),
        layout::Version::V6_12 => String::from("the range check"),
    };
    println!(
        "unchecked __pa (the fast path: {test} picks the {picked} rule, no check) = {}{}",
        Addr(unchecked),
        if rule.is_none() { "  <- silently wrong: no rule applies" } else { "" }
    );
    println!(
        "debug_virtual: {} (this kernel is built {} it)",
        if !reported {
            "passes: a linear address backed by RAM"
        } else if physaddr::is_lm_address(va) {
            "would report \"virt_to_phys used for linear address beyond RAM\""
        } else {
            "would report \"virt_to_phys used for non-linear address\""
        },
        if cfg!(feature = "debug_virtual") { "with" } else { "without" }
    );
    println!("MMU (AT S1E1R): {}", mmu(va));
    if let (Some((_, pa)), Some(m)) = (rule, at_s1e1r(va)) {
        if pa != m {
            println!("MISMATCH between the rule and the MMU");
        }
    }
}

pub fn cmd_va(pa: u64) {
    let memstart = physaddr::memstart_addr_raw();
    // With 52-bit VAs on a CPU without LVA, memstart_addr is lowered so that
    // __va (which adds the fixed PAGE_OFFSET) lands at the linear map's real
    // start; the PA that maps there is memstart_addr plus that lowering.
    let vabits = crate::arch::sysreg::vabits_actual();
    let lowered = layout::ACTIVE.memstart_offset(vabits);
    let first = memstart.wrapping_add(lowered);
    let reach = layout::ACTIVE.linear_region_size(vabits);
    let mut start = crate::console::fmt::StrBuf::<96>::default();
    let _ = core::fmt::Write::write_fmt(
        &mut start,
        format_args!("memstart_addr {}{}", Addr(memstart), if lowered == 0 { "" } else { " + the 52-bit lowering" }),
    );
    println!("{} is {}", Addr(pa), pa_kind(pa));
    if pa < first {
        println!("__va: no linear address: PA is below {start} (the linear map starts there)");
    } else if pa - first >= reach {
        println!(
            "__va: no linear address: PA is {} above {}, beyond the linear map's reach of {}",
            Size(pa - first),
            start,
            Size(reach)
        );
    } else {
        let va = physaddr::phys_to_virt_unchecked(pa);
        println!("__va({}) = {}", Addr(pa), Addr(va));
        println!("MMU (AT S1E1R) of {}: {}", Addr(va), mmu(va));
    }
    let (text, end) = image_bounds();
    if pa >= physaddr::kimg_to_phys(text) && pa < physaddr::kimg_to_phys(end) {
        println!("PA is inside the kernel image: image address {}", Addr(physaddr::phys_to_kimg(pa)));
    }
}

pub fn cmd_lm_alias(typed: &str, va: u64) -> Result<(), String> {
    let (text, end) = image_bounds();
    if va < text || va >= end {
        return Err(format!(
            "lm_alias: {} is not in the kernel image [{}, {}) but in: {}",
            Addr(va),
            Addr(text),
            Addr(end),
            physaddr::region_of(va).name()
        ));
    }
    let pa = physaddr::kimg_to_phys(va);
    let alias = physaddr::phys_to_virt_unchecked(pa);
    println!("{typed} = {} (kernel image)", Addr(va));
    println!("__pa_symbol({typed}) = {}", Addr(pa));
    println!("lm_alias({typed}) = __va({}) = {}", Addr(pa), Addr(alias));
    println!("MMU: {} -> {}, {} -> {}", Addr(va), mmu(va), Addr(alias), mmu(alias));
    Ok(())
}

/// Linux's name of a table level.
pub(super) fn level_name(level: u32) -> &'static str {
    if level == ROOT_LEVEL {
        "PGD"
    } else {
        LEVEL_NAMES[level as usize]
    }
}

/// The VA bits `[hi:lo]` that index the table at `level`.
pub(super) fn index_bits(level: u32) -> (u32, u32) {
    let lo = layout::level_size(level).trailing_zeros();
    let width = if level == ROOT_LEVEL { VA_BITS - lo } else { PAGE_SHIFT - 3 };
    (lo + width - 1, lo)
}

/// Where a table at `pa` can be read: its image or linear address.
fn table_va(pa: u64) -> Option<u64> {
    let (text, end) = image_bounds();
    if pa >= physaddr::kimg_to_phys(text) && pa < physaddr::kimg_to_phys(end) {
        Some(physaddr::phys_to_kimg(pa))
    } else if physaddr::linear_map_ready() && memblock::is_mapped_ram(pa) {
        Some(physaddr::phys_to_virt_unchecked(pa))
    } else {
        None
    }
}

/// The half `va` is in: (TTBR number, root PA, walks disabled), or why neither.
fn half(va: u64) -> Result<(u32, u64, bool), String> {
    let top = va >> VA_BITS;
    if top == (u64::MAX >> VA_BITS) {
        let epd = TCR_EL1.matches_all(TCR_EL1::EPD1::DisableTTBR1Walks);
        Ok((1, pte::ttbr_root(TTBR1_EL1.get()), epd))
    } else if top == 0 {
        let epd = TCR_EL1.matches_all(TCR_EL1::EPD0::DisableTTBR0Walks);
        Ok((0, TTBR0_EL1.get() & pte::ADDR_MASK, epd))
    } else {
        Err(format!(
            "bits [63:{VA_BITS}] of {} are neither all zeros (TTBR0) nor all ones (TTBR1): no table is walked, \
             the access takes a translation fault at level 0",
            Addr(va)
        ))
    }
}

pub fn cmd_walk(va: u64, verbose: bool) {
    if !verbose {
        fault::show_pte_with(va, &mut |l| println!("{}", l));
        return;
    }
    println!(
        "walk {} ({}): {} pages, {}-bit VAs, {} levels",
        Addr(va),
        physaddr::region_of(va).name(),
        Size(PAGE_SIZE),
        VA_BITS,
        LEVELS
    );
    let (n, root, epd) = match half(va) {
        Ok(h) => h,
        Err(e) => return println!("stop: {e}"),
    };
    let ones = if n == 1 { "ones" } else { "zeros" };
    println!("bits [63:{VA_BITS}] all {ones}: TTBR{n}_EL1, root table at PA {}", Addr(root));
    if epd || root == 0 {
        return println!("stop: TTBR{n} walks are disabled (TCR_EL1.EPD{n}) or its root is empty: translation fault at level {ROOT_LEVEL}");
    }
    let mair = MAIR_EL1.get();
    let mut table = root;
    for level in ROOT_LEVEL..=3 {
        let (hi, lo) = index_bits(level);
        let idx = layout::table_index(va, level);
        println!("level {level} ({}): index {idx} from VA bits [{hi}:{lo}]", level_name(level));
        let entry_pa = table + idx as u64 * 8;
        let Some(tva) = table_va(table) else {
            return println!("stop: the table at PA {} is neither in the image nor in mapped RAM", Addr(table));
        };
        let d = PhysTables.try_read(table, idx).unwrap_or(0);
        println!("  entry at VA {} (PA {}) = {:#018x}", Addr(tva + idx as u64 * 8), Addr(entry_pa), d);
        let kind = pte::kind(d, level);
        match kind {
            Kind::Invalid => {
                return println!("stop: level {level} entry is invalid (bit 0 clear): translation fault at level {level}")
            }
            Kind::Reserved => {
                return println!("stop: level {level} entry has a reserved encoding (bits [1:0] = 0b01 here): translation fault at level {level}")
            }
            Kind::Table => {
                let next = pte::desc_addr(d);
                println!(
                    "  table descriptor: next table at PA {}; APTable {:#04b}, UXNTable {}, PXNTable {}",
                    Addr(next),
                    (d >> 61) & 3,
                    (d >> 60) & 1,
                    (d >> 59) & 1
                );
                table = next;
            }
            Kind::Block | Kind::Page => {
                let size = layout::level_size(level);
                let out = pte::desc_addr(d) & !(size - 1);
                let what = if kind == Kind::Page { "page" } else { "block" };
                println!("  {what} descriptor, {}: output address PA {}", Size(size), Addr(out));
                describe_attrs(d, mair);
                let off = va & (size - 1);
                let bits = size.trailing_zeros();
                println!(
                    "stop: a {what} is a leaf: PA = {} + VA bits [{}:0] ({:#x}) = {}",
                    Addr(out),
                    bits - 1,
                    off,
                    Addr(out | off)
                );
                println!("MMU (AT S1E1R): {}", mmu(va));
                return;
            }
        }
    }
}

fn describe_attrs(d: u64, mair: u64) {
    let ap = (d >> 6) & 3;
    let ap_text = match ap {
        0 => "EL1 read/write, no EL0 access",
        1 => "EL1 and EL0 read/write",
        2 => "EL1 read-only, no EL0 access",
        _ => "EL1 and EL0 read-only",
    };
    let sh = match (d >> 8) & 3 {
        0 => "non-shareable",
        2 => "outer shareable",
        3 => "inner shareable",
        _ => "reserved",
    };
    let bit = |b: u32| (d >> b) & 1;
    println!(
        "    AP {ap:#04b} ({ap_text}), UXN {}, PXN {} ({}), AF {}, SH {:#04b} ({sh}), nG {}",
        bit(54),
        bit(53),
        if bit(53) == 1 { "EL1 may not execute" } else { "EL1 may execute" },
        bit(10),
        (d >> 8) & 3,
        bit(11)
    );
    let idx = (d >> 2) & 7;
    let byte = (mair >> (8 * idx)) & 0xff;
    let name = MemType::from_index(idx).map_or("unnamed index", MemType::name);
    println!(
        "    AttrIndx {idx} -> MAIR_EL1 byte {byte:#04x} ({name}), contiguous {}{}",
        bit(52),
        if bit(52) == 1 { " (one of an aligned group of entries mapping alike)" } else { "" }
    );
}
