//! Boot stage 4 to 6, in the upper half: `start_kernel`.
//!
//! Entered from the boot stub (`primary_switched` in boot/head.S) on the
//! boot stack's high alias, with the early tables in TTBR1 and the identity
//! map still in TTBR0. In order: fixmap and early console, the device tree,
//! memblock and `memstart_addr`, `paging_init` (final tables, no identity
//! map), page allocator, heap, vmalloc, the console moved to `ioremap`, the
//! layout table, then the self-test or the idle loop.

use crate::arch::semihosting;
use crate::console::printk;
use crate::console::uart::{self, Uart};
use crate::cpu::smp;
use crate::mm::fixmap::{self, fix_to_virt, FixSlot};
use crate::mm::physaddr::{self, PhysAddr};
use crate::mm::{heap, linear_map, memblock, page_alloc, vmalloc};
use crate::selftest;
use crate::setup::{bootstats, cmdline};
use crate::{fatal, pr_info, println};
use vakern_mm::console::{self, Console, Found, Skipped, Source};
use vakern_mm::dtb::{self, Dtb};
use vakern_mm::exit;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::PAGE_SIZE;
use vakern_mm::pte::Prot;

/// The kernel's Rust entry point in the upper half.
///
/// # Safety
/// Called once by the boot stub with the arguments it documents. The stub
/// reaches it by its link name, so it is not mangled.
#[no_mangle]
pub unsafe extern "C" fn start_kernel(
    dtb_pa: u64,
    entry_el: u64,
    pa_text: u64,
    voffset: u64,
    t_entry: u64,
    t_mmu: u64,
    t_mapped: u64,
) -> ! {
    physaddr::set_kimage_voffset(voffset);
    let stamp = bootstats::stamp;
    stamp(bootstats::Phase::Entry, t_entry);
    stamp(bootstats::Phase::MmuOn, t_mmu);
    stamp(bootstats::Phase::Mapped, t_mapped);
    fixmap::early_fixmap_init();

    // The console comes from the device tree, so the tree is read first. A
    // tree that cannot be read leaves no console to report it on: the
    // report goes to the semihosting console, through which the kernel
    // leaves QEMU anyway.
    let no_tree = |e: &dyn core::fmt::Display| -> ! {
        printk::console_init(Uart::Semihosting);
        fatal!(exit::BOOT_ERROR, "device tree at PA {}: {}", Addr(dtb_pa), e)
    };
    let blob = fixmap::fixmap_remap_fdt(dtb_pa).unwrap_or_else(|e| no_tree(&e));
    let dtb = Dtb::new(blob).unwrap_or_else(|e| no_tree(&e));
    let found = early_console(&dtb);

    pr_info!("vakern {}: arm64 virtual/physical address model", env!("CARGO_PKG_VERSION"));
    let l = vakern_mm::layout::ACTIVE;
    pr_info!(
        "Layout flavour {}: Linux {} layout, {} pages, VA_BITS={}, {} levels from level {}, PAGE_OFFSET {}",
        l,
        l.version().name(),
        l.granule().name(),
        l.va_bits(),
        l.levels(),
        l.root_level(),
        Addr(l.page_offset())
    );
    report_console(&found, None);
    pr_info!(
        "Entered at EL{}{}; running at EL1 with the MMU on",
        entry_el,
        if entry_el == 2 { " (left EL2 for EL1)" } else { "" }
    );
    let (text, end) = physaddr::image_bounds();
    let etext = &raw const crate::arch::sections::_etext as u64;
    pr_info!("Kernel image loaded at PA {} ({} with .bss)", Addr(pa_text), Size(end - text));
    pr_info!("  _text  {}", Addr(text));
    pr_info!("  _etext {}", Addr(etext));
    pr_info!("  _end   {}", Addr(end));
    pr_info!("kimage_voffset {} (_text VA - PA)", Addr(voffset));
    crate::mm::kaslr::report();
    pr_info!("debug_virtual: {}", if cfg!(feature = "debug_virtual") { "on" } else { "off" });

    pr_info!("DTB at PA {} ({} bytes), mapped at {}", Addr(dtb_pa), dtb.total_size(), Addr(blob.as_ptr() as u64));
    crate::mm::idmap::note_fdt(dtb_pa, dtb.total_size() as u64);
    let mut info = dtb::parse_memory(&dtb).unwrap_or_else(|e| fatal!(exit::BOOT_ERROR, "device tree: {}", e));
    crate::mm::kaslr::SEED_IN_DTB_AFTER.call_once(|| info.kaslr_seed);
    smp::record_cpus(&info);
    smp::record_enable_methods(vakern_mm::enable_method::cpu_nodes(&dtb));
    let bootargs: &'static str = info.bootargs.unwrap_or("");
    BOOTARGS.call_once(|| bootargs);
    pr_info!("Kernel command line: {}", bootargs);
    let opts = cmdline::parse(bootargs);
    if let Some(l) = opts.loglevel {
        printk::set_loglevel(l);
    }
    if let Some(t) = opts.test {
        if !selftest::exists(t) {
            fatal!(exit::BOOT_ERROR, "test={}: no such self-test (known: {})", t, selftest::Names);
        }
    }
    selftest::early_hook(opts.test);

    // RAM the CPU cannot address at all stops the boot, as a missing granule
    // does; RAM that only partly fits is clipped by arm64_memblock_init.
    let limit = 1u64 << memblock::pa_bits();
    if info.ram.iter().next().is_some_and(|_| info.ram.iter().all(|r| r.base >= limit)) {
        let ram_end = info.ram.iter().map(|r| r.end).max().unwrap_or(0);
        let e = vakern_mm::cpufeat::CpuError::RamBeyondPaRange { pa_bits: memblock::pa_bits(), ram_end };
        fatal!(exit::EARLY_BOOT_FAILED, "CPU check: {}", e);
    }
    let memstart = memblock::arm64_memblock_init(&mut info, dtb_pa, dtb.total_size() as u64)
        .unwrap_or_else(|e| fatal!(exit::BOOT_ERROR, "memory: {}", e));
    memblock::print_regions(&info);
    pr_info!("memstart_addr (PHYS_OFFSET) = {}", Addr(memstart));
    if vakern_mm::layout::ACTIVE.has_vabits_actual() {
        let l = vakern_mm::layout::ACTIVE;
        let va = crate::arch::sysreg::vabits_actual();
        pr_info!(
            "vabits_actual = {} (ID_AA64MMFR2_EL1.VARange: {}); linear map starts at {}; memstart_addr lowered by {}",
            va,
            if va == l.va_bits() { "FEAT_LVA" } else { "no FEAT_LVA" },
            Addr(l.linear_start(va)),
            Addr(l.memstart_offset(va))
        );
    }

    bootstats::now(bootstats::Phase::Discovered);
    linear_map::paging_init().unwrap_or_else(|e| fatal!(exit::BOOT_ERROR, "paging_init: {}", e));
    bootstats::now(bootstats::Phase::LinearMap);
    linear_map::report();
    page_alloc::init();
    heap::init();
    vmalloc::init();
    bootstats::now(bootstats::Phase::Allocators);

    if let Console::Uart { kind, pa, .. } = found.console {
        let va = vmalloc::ioremap(PhysAddr(pa), uart::MMIO_SIZE - (pa % uart::MMIO_SIZE))
            .unwrap_or_else(|e| fatal!(exit::BOOT_ERROR, "ioremap of the console UART: {}", e));
        // SAFETY: `va` maps the UART as Device memory for good.
        printk::console_init(unsafe { Uart::new(kind, va.0) });
        fixmap::clear_fixmap(FixSlot::EarlyCon);
        report_console(&found, Some(va.0));
    }

    // From here on the boot CPU runs on a vmalloc'd stack with a guard page.
    let stack = crate::mm::stack::alloc(0).unwrap_or_else(|e| fatal!(exit::BOOT_ERROR, "kernel stack: {}", e));
    pr_info!(
        "Kernel stack: [{}, {}), guard page at {}",
        Addr(stack.base),
        Addr(stack.top),
        Addr(stack.base - PAGE_SIZE)
    );
    // SAFETY: the new stack is mapped and unused; nothing on the boot stack
    // is needed again (the options are re-read from the device tree).
    unsafe { crate::mm::stack::switch_to(&stack, rest_init) }
}

/// The rest of boot, on the vmalloc'd kernel stack.
extern "C" fn rest_init() -> ! {
    let bootargs = BOOTARGS.get().copied().unwrap_or("");
    let opts = cmdline::parse_quiet(bootargs);
    if let Some(n) = opts.maxcpus {
        smp::set_max_cpus(n);
    }
    smp::smp_init();
    crate::mm::layout::print_layout();
    pr_info!(
        "Memory: {} free of {} in the page allocator ({} free range(s))",
        Size(page_alloc::free_bytes()),
        Size(page_alloc::total_bytes()),
        page_alloc::free_ranges()
    );
    if cfg!(feature = "debug_virtual") {
        pr_info!("debug_virtual: {} report(s) during boot", physaddr::reports());
    }
    if cfg!(feature = "debug_pgtable") {
        pr_info!(
            "debug_pgtable: {} unsafe write(s) to live tables during boot",
            crate::mm::debug_pgtable::violations()
        );
    }
    crate::mm::wx::check_and_report();
    if opts.bootstats {
        bootstats::print();
    }
    if opts.ptdump {
        crate::debug::ptdump::dump(&mut |l| println!("{}", l));
    }
    if let Some(t) = opts.test {
        selftest::run(t);
    }
    pr_info!("Boot complete.");
    if opts.poweroff {
        pr_info!("Powering off (poweroff on the command line).");
        semihosting::exit(exit::SUCCESS);
    }
    crate::debug::monitor::run()
}

/// Find the console (`vakern_mm::console`) and start it: a UART through
/// the fixmap's early-console slot, or semihosting. Nothing is printed
/// before this; with no console the kernel runs on silently.
fn early_console<'a>(dtb: &Dtb<'a>) -> Found<'a> {
    let bootargs = dtb::parse_memory(dtb).ok().and_then(|i| i.bootargs).unwrap_or("");
    let found = console::find_console(dtb, bootargs);
    match found.console {
        Console::Uart { kind, pa, .. } => {
            fixmap::set_fixmap(FixSlot::EarlyCon, PhysAddr(pa - pa % PAGE_SIZE), Prot::DEVICE);
            let va = fix_to_virt(FixSlot::EarlyCon) + pa % PAGE_SIZE;
            // SAFETY: the slot now maps the UART's page as Device memory.
            printk::console_init(unsafe { Uart::new(kind, va) });
            printk::set_console_pa(pa);
        }
        Console::Semihosting => printk::console_init(Uart::Semihosting),
        Console::None => {}
    }
    found
}

/// Say which console is in use and how it was found (`moved`: its
/// `ioremap` address once it has left the fixmap).
fn report_console(found: &Found, moved: Option<u64>) {
    let why = match found.skipped {
        None => None,
        Some(Skipped::NoStdoutPath) => Some("the tree has no /chosen/stdout-path"),
        Some(Skipped::NoSuchNode(_)) => Some("stdout-path names no node"),
        Some(Skipped::NoDriver(_)) => Some("stdout-path names a device with no driver here"),
        Some(Skipped::NotMapped(_)) => Some("stdout-path names a device that is not memory-mapped"),
    };
    match (found.console, moved) {
        (Console::Uart { kind, pa, source }, None) => {
            let from = if source == Source::StdoutPath { "/chosen/stdout-path" } else { "earlycon=" };
            pr_info!("Console: {} at PA {} (from {}), early through the fixmap", kind.name(), Addr(pa), from);
        }
        (Console::Uart { kind, pa, .. }, Some(va)) => {
            pr_info!("Console: {} at PA {} moved to ioremap address {}", kind.name(), Addr(pa), Addr(va));
        }
        (Console::Semihosting, _) => pr_info!("Console: semihosting (earlycon=smh)"),
        (Console::None, _) => {}
    }
    if let (Some(why), None) = (why, moved) {
        pr_info!("Console: not from stdout-path: {}", why);
    }
}

/// The command line, kept for `rest_init` (the DTB stays mapped in the fixmap).
static BOOTARGS: spin::Once<&'static str> = spin::Once::new();
