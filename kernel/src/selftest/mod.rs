//! Self-tests run inside the booted kernel, chosen with `test=NAME` on the
//! command line. Each ends the run through the semihosting exit code:
//! 0 when every check held, `TEST_FAILED` with a "selftest NAME: FAIL"
//! line naming the first check that did not. The host tests in tests/ boot
//! them under different machine settings and read the code and the console.
//!
//! Checks that need the hardware's view use the `AT S1E1R` instruction: the
//! CPU's own table walk, independent of the kernel's walker.

use crate::mmu::LinearTables;
use crate::physaddr::{self, PhysAddr, VirtAddr};
use crate::{fixmap, image_sym, linear_map, memblock, page_alloc, pr_info, semihosting, vmalloc};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use vakern_mm::exit;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{self, PAGE_OFFSET, PAGE_SIZE, PMD_SIZE};
use vakern_mm::pgtable;
use vakern_mm::pte::{self, MemType};

type Outcome = Result<(), String>;

macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

/// The self-tests: name, what a pass means, the test.
/// A self-test: name, what a pass means, the test.
type SelfTest = (&'static str, &'static str, fn() -> Outcome);

const TESTS: &[SelfTest] = &[
    ("layout", "the image runs at KIMAGE_VADDR + load offset and kimage_voffset is VA - PA", test_layout),
    ("reloc", "pointers stored in the image were relocated into the high mapping", test_reloc),
    ("panic", "a panic stops the kernel with the panic exit code", test_panic),
    ("hang", "never ends (the harness must time it out)", test_hang),
    ("linear", "all RAM and nothing else is in the linear map, with the fewest tables", test_linear),
    ("alloc", "the page allocator and the heap hand out only free RAM", test_alloc),
    ("vmalloc", "vmalloc/ioremap areas map the right pages with guard pages", test_vmalloc),
    ("translate", "good uses of __pa/__va/__pa_symbol/lm_alias give the right answers", test_translate),
    ("kaslr", "the image sits at its KASLR offset and the seed was wiped from the device tree", test_kaslr),
    ("smp", "every CPU came up and translates every address the same way", test_smp),
    ("smp-tlb", "a mapping changed on one CPU is seen by the others after broadcast TLB maintenance", test_smp_tlb),
    ("probe-cost", "the instruction counter measures the translations (run with --icount)", test_probe_cost),
];

/// Names of the tests, for the error message of an unknown `test=`.
pub struct Names;

impl core::fmt::Display for Names {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (name, _, _)) in TESTS.iter().enumerate() {
            write!(f, "{}{}", if i > 0 { ", " } else { "" }, name)?;
        }
        write!(f, ", exit:N, dv:CASE, fault:KIND (see kernel/src/selftest.rs)")
    }
}

/// True if `test=name` names a test.
pub fn exists(name: &str) -> bool {
    TESTS.iter().any(|t| t.0 == name)
        || name.strip_prefix("exit:").is_some_and(|n| n.parse::<u32>().is_ok())
        || name.strip_prefix("dv:").is_some_and(|c| crate::dv_corpus::CASES.iter().any(|k| k.0 == c))
        || name == "wx-violation"
        || name.strip_prefix("fault:").is_some_and(|k| crate::faults::KINDS.iter().any(|f| f.0 == k))
}

/// Tests that must run before memory is set up (the `debug_virtual` corpus
/// cases about using the translations too early).
pub fn early_hook(test: Option<&str>) {
    if let Some(case) = test.and_then(|t| t.strip_prefix("dv:")) {
        crate::dv_corpus::run_early(case);
    }
}

/// Run test `name` and exit with its verdict.
pub fn run(name: &str) -> ! {
    if let Some(code) = name.strip_prefix("exit:").and_then(|n| n.parse::<u32>().ok()) {
        pr_info!("selftest exit:{}: exiting with code {} on request", code, code);
        semihosting::exit(code);
    }
    if let Some(case) = name.strip_prefix("dv:") {
        crate::dv_corpus::run(case);
    }
    if name == "wx-violation" {
        // Map one vmalloc page writable and executable, then run the check:
        // it must find exactly that page and stop the kernel.
        let va = layout::VMALLOC_START + (1 << 39);
        let pa = page_alloc::alloc_pages(1).expect("page");
        let prot = pte::Prot { write: true, exec: true, mem: MemType::Normal };
        let mut t = LinearTables::new();
        pgtable::map_range(&mut t, LinearTables::root(), va, pa.0, PAGE_SIZE, prot, pgtable::MapFlags::PAGES)
            .expect("map a W+X page");
        crate::mmu::sync_tables();
        pr_info!("selftest wx-violation: mapped {} writable and executable", Addr(va));
        crate::wx::check_and_report();
        crate::pr_err!("selftest wx-violation: FAIL: the check did not stop the kernel");
        semihosting::exit(exit::TEST_FAILED);
    }
    if let Some(kind) = name.strip_prefix("fault:") {
        pr_info!("selftest fault:{}: triggering a deliberate fault", kind);
        let e = crate::faults::trigger(kind).err().unwrap_or("returned");
        crate::pr_err!("selftest fault:{}: FAIL: {}", kind, e);
        semihosting::exit(exit::TEST_FAILED);
    }
    let Some((_, what, f)) = TESTS.iter().find(|t| t.0 == name) else {
        crate::fatal!(exit::BOOT_ERROR, "test={}: no such self-test", name)
    };
    pr_info!("selftest {}: checking that {}", name, what);
    match f() {
        Ok(()) => {
            pr_info!("selftest {}: PASS", name);
            semihosting::exit(exit::SUCCESS)
        }
        Err(msg) => {
            crate::pr_err!("selftest {}: FAIL: {}", name, msg);
            semihosting::exit(exit::TEST_FAILED)
        }
    }
}

/// The CPU's own translation of `va` for an EL1 read (`AT S1E1R`), or `None`
/// if it faults.
pub fn at_s1e1r(va: u64) -> Option<u64> {
    let par: u64;
    // SAFETY: address translation only; no memory is accessed.
    unsafe {
        core::arch::asm!("at s1e1r, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par, options(nostack));
    }
    (par & 1 == 0).then_some((par & 0x0000_ffff_ffff_f000) | (va & 0xfff))
}

/// The CPU's translation of `va` for an EL1 write (`AT S1E1W`).
pub fn at_s1e1w(va: u64) -> Option<u64> {
    let par: u64;
    // SAFETY: address translation only.
    unsafe {
        core::arch::asm!("at s1e1w, {va}", "isb", "mrs {par}, par_el1", va = in(reg) va, par = out(reg) par, options(nostack));
    }
    (par & 1 == 0).then_some((par & 0x0000_ffff_ffff_f000) | (va & 0xfff))
}

/// A small deterministic generator for sampling addresses.
pub struct XorShift(pub u64);

impl XorShift {
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

extern "C" {
    static _etext: u8;
    static __end_rodata: u8;
}

fn test_layout() -> Outcome {
    let (text, end) = physaddr::image_bounds();
    let pa = at_s1e1r(text).ok_or("the CPU cannot translate _text")?;
    let expect = layout::KIMAGE_VADDR + crate::kaslr::offset() + (pa & (PMD_SIZE - 1));
    pr_info!("_text: VA {} PA {} (from AT S1E1R)", Addr(text), Addr(pa));
    check!(text == expect, "_text at {} but KIMAGE_VADDR + KASLR offset + load offset is {}", Addr(text), Addr(expect));
    let voff = physaddr::kimage_voffset();
    check!(voff == text.wrapping_sub(pa), "kimage_voffset {} != VA - PA {}", Addr(voff), Addr(text.wrapping_sub(pa)));
    check!(at_s1e1r(end - 1) == Some(pa + (end - 1 - text)), "the image is not mapped contiguously up to _end");
    // Per-section permissions, as the CPU sees them.
    let (etext, rodata_end) = (&raw const _etext as u64, &raw const __end_rodata as u64);
    check!(at_s1e1w(text).is_none(), "text is writable");
    check!(at_s1e1w(etext).is_none(), "rodata is writable");
    check!(at_s1e1w(rodata_end).is_some(), "data is not writable");
    // The low half is empty: no identity map is left.
    check!(at_s1e1r(pa).is_none(), "the identity map is still live at {}", Addr(pa));
    pr_info!("kimage_voffset = {} = VA - PA", Addr(voff));
    Ok(())
}

/// A function reached through a pointer stored in the image.
fn answer() -> u64 {
    42
}
static HOOK: fn() -> u64 = answer;
static GREETING: &str = "relocated";
static TABLE: [&u64; 2] = [&FORTY, &TWO];
static FORTY: u64 = 40;
static TWO: u64 = 2;

fn test_reloc() -> Outcome {
    let (text, end) = physaddr::image_bounds();
    let etext = &raw const _etext as u64;
    // Read the stored pointers through volatile loads so the compiler cannot
    // fold them into PC-relative addresses.
    // SAFETY: reading statics.
    let hook = unsafe { core::ptr::read_volatile(&raw const HOOK) };
    let greeting = unsafe { core::ptr::read_volatile(&raw const GREETING) };
    let table = unsafe { core::ptr::read_volatile(&raw const TABLE) };
    let hook_addr = hook as usize as u64;
    pr_info!(
        "HOOK -> {}, GREETING -> {}, TABLE -> {}, {}",
        Addr(hook_addr),
        Addr(greeting.as_ptr() as u64),
        Addr(table[0] as *const u64 as u64),
        Addr(table[1] as *const u64 as u64)
    );
    check!(hook_addr >= text && hook_addr < etext, "function pointer {} is not in the high text", Addr(hook_addr));
    check!(hook() == 42, "calling through the relocated pointer failed");
    let g = greeting.as_ptr() as u64;
    check!(g >= etext && g < end, "string reference {} is not in the high image", Addr(g));
    check!(greeting == "relocated", "string reads {:?}", greeting);
    check!(*table[0] + *table[1] == 42, "table of references reads wrong values");
    Ok(())
}

fn test_panic() -> Outcome {
    let v: Vec<u32> = Vec::new();
    panic!("deliberate panic from the self-test (vector length {})", v.len());
}

fn test_hang() -> Outcome {
    pr_info!("hanging on purpose");
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Physical pages to sample in `[base, end)`: first, last and `n` random ones.
fn samples(base: u64, end: u64, n: usize, rng: &mut XorShift) -> Vec<u64> {
    let pages = (end - base) / PAGE_SIZE;
    let mut v = Vec::from([base, end - PAGE_SIZE]);
    for _ in 0..n {
        v.push(base + (rng.next_u64() % pages) * PAGE_SIZE);
    }
    v
}

fn test_linear() -> Outcome {
    let mem = memblock::memory().ok_or("no memory description")?;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for r in mem.mapped.iter() {
        for pa in samples(r.base, r.end, 16, &mut rng) {
            let va = physaddr::__va(pa);
            check!(physaddr::__pa(va) == pa, "__pa(__va({})) = {}", Addr(pa), Addr(physaddr::__pa(va)));
            check!(
                at_s1e1w(va) == Some(pa),
                "CPU translates {} to {:?}, not {}",
                Addr(va),
                at_s1e1w(va).map(Addr),
                Addr(pa)
            );
            if memblock::is_reserved(pa) {
                // Reserved pages (the image, the DTB) are read, not written.
                // SAFETY: mapped RAM.
                let _ = unsafe { core::ptr::read_volatile(va as *const u64) };
            } else {
                let p = va as *mut u64;
                // SAFETY: a free page of RAM, mapped read-write; restored after.
                unsafe {
                    let old = p.read_volatile();
                    p.write_volatile(pa ^ 0x5a5a_5a5a);
                    check!(p.read_volatile() == pa ^ 0x5a5a_5a5a, "write to {} did not stick", Addr(va));
                    p.write_volatile(old);
                }
            }
            check!(physaddr::virt_addr_valid(va), "virt_addr_valid({}) is false", Addr(va));
            checked += 1;
        }
    }
    // Nothing outside RAM: the gaps between ranges, no-map regions, past the end.
    let (_, ram_end) = physaddr::ram_bounds();
    let memstart = physaddr::phys_offset();
    let mut holes = Vec::new();
    let mut prev = memstart;
    for r in mem.mapped.iter() {
        if r.base > prev {
            holes.push((prev, r.base));
        }
        prev = r.end;
    }
    holes.push((ram_end, ram_end + PMD_SIZE));
    for (base, end) in holes {
        for pa in [base, end - PAGE_SIZE, base + (end - base) / 2 / PAGE_SIZE * PAGE_SIZE] {
            let va = PAGE_OFFSET + (pa - memstart);
            check!(at_s1e1r(va).is_none(), "{} (PA {}) is outside RAM but mapped", Addr(va), Addr(pa));
            check!(!physaddr::virt_addr_valid(va), "virt_addr_valid({}) is true outside RAM", Addr(va));
        }
    }
    // Never executable: check one descriptor per range through the walker.
    let mut t = LinearTables::new();
    for r in mem.mapped.iter() {
        let w = pgtable::walk(&mut t, LinearTables::root(), physaddr::__va(r.base));
        let (_, d) = w.leaf().ok_or("linear range not mapped")?;
        check!(d & pte::PXN != 0 && d & pte::UXN != 0, "linear map at {} is executable", Addr(physaddr::__va(r.base)));
    }
    // The image's alias: text and rodata read-only, never executable.
    let (text, _) = physaddr::image_bounds();
    let alias = physaddr::lm_alias(physaddr::ImageAddr::from_raw(text));
    check!(at_s1e1r(alias.0).is_some() && at_s1e1w(alias.0).is_none(), "the linear alias of the text is writable");
    let alias_ro = physaddr::lm_alias(image_sym!(PROBE));
    check!(at_s1e1r(alias_ro.0).is_some() && at_s1e1w(alias_ro.0).is_none(), "the linear alias of rodata is writable");
    // Table pages: exactly the fewest possible for the mapped ranges.
    let got = linear_map::linear_table_counts();
    // The linear map is cut where the image's read-only alias starts and ends.
    let mut pieces = Vec::new();
    let _ = linear_map::linear_pieces(&mem.mapped, &mut |pa, size, _| {
        pieces.push((physaddr::__va(pa), size));
        Ok(())
    });
    let want = pgtable::min_tables(pieces.into_iter());
    pr_info!(
        "linear map tables: L1 {} L2 {} L3 {}; fewest possible: L1 {} L2 {} L3 {}",
        got[1],
        got[2],
        got[3],
        want[1],
        want[2],
        want[3]
    );
    check!(got == want, "linear map used {:?} table pages per level, fewest possible is {:?}", got, want);
    pr_info!("checked {} sampled pages in {} range(s)", checked, mem.mapped.len());
    Ok(())
}

fn test_alloc() -> Outcome {
    let (text, end) = physaddr::image_bounds();
    let image = (physaddr::kimg_to_phys(text), physaddr::kimg_to_phys(end));
    let before = page_alloc::free_bytes();
    let mut got = Vec::new();
    for i in 0..512u64 {
        let n = 1 + (i % 7);
        let pa = page_alloc::alloc_pages(n).ok_or("page allocator ran out")?;
        for k in 0..n {
            let p = pa.0 + k * PAGE_SIZE;
            check!(memblock::is_mapped_ram(p), "page {} is not mapped RAM", Addr(p));
            check!(!memblock::is_reserved(p), "page {} is reserved", Addr(p));
            check!(p < image.0 || p >= image.1, "page {} is inside the kernel image", Addr(p));
            // SAFETY: a page just handed out, mapped through the linear map.
            unsafe { core::ptr::write_volatile(physaddr::__va(p) as *mut u64, p) };
        }
        got.push((pa, n));
    }
    for &(pa, n) in &got {
        for k in 0..n {
            let p = pa.0 + k * PAGE_SIZE;
            // SAFETY: as above.
            let v = unsafe { core::ptr::read_volatile(physaddr::__va(p) as *const u64) };
            check!(v == p, "page {} was handed out twice (reads {})", Addr(p), Addr(v));
        }
    }
    for (pa, n) in got {
        page_alloc::free_pages(pa, n);
    }
    check!(
        page_alloc::free_bytes() == before,
        "free memory {} after freeing all, {} before",
        page_alloc::free_bytes(),
        before
    );
    // The heap: collections work and live in the linear map.
    let mut map = BTreeMap::new();
    for i in 0..1000u64 {
        map.insert(i, format!("value {}", i));
    }
    check!(map.get(&777).map(String::as_str) == Some("value 777"), "BTreeMap lost a value");
    let v: Vec<u64> = (0..10_000).collect();
    let va = v.as_ptr() as u64;
    check!(
        physaddr::is_lm_address(va) && physaddr::virt_addr_valid(va),
        "heap pointer {} is not a valid linear address",
        Addr(va)
    );
    check!(at_s1e1r(va) == Some(physaddr::__pa(va)), "__pa of a heap pointer disagrees with the CPU");
    check!(v.iter().sum::<u64>() == 49_995_000, "heap vector corrupted");
    let (used, free) = crate::heap::usage();
    pr_info!("heap: {} bytes used, {} free; page allocator back to {} free bytes", used, free, before);
    Ok(())
}

fn test_vmalloc() -> Outcome {
    let a = vmalloc::vmalloc(5 * PAGE_SIZE).map_err(|e| format!("vmalloc: {}", e))?;
    let b = vmalloc::vmalloc(1).map_err(|e| format!("vmalloc: {}", e))?;
    check!(
        physaddr::region_of(a.0) == layout::Region::Vmalloc,
        "vmalloc address {} is not in the vmalloc area",
        Addr(a.0)
    );
    let areas = vmalloc::areas();
    let area = areas.iter().find(|x| x.va == a.0).ok_or("area not recorded")?;
    let vmalloc::AreaKind::Vmalloc(pages) = &area.kind else { return Err("wrong area kind".into()) };
    let mut t = LinearTables::new();
    for (i, pa) in pages.iter().enumerate() {
        let va = a.0 + i as u64 * PAGE_SIZE;
        let w = pgtable::walk(&mut t, LinearTables::root(), va);
        check!(w.phys() == Some(pa.0), "walk of {} gives {:?}, page is {}", Addr(va), w.phys().map(Addr), Addr(pa.0));
        check!(at_s1e1w(va) == Some(pa.0), "CPU translation of {} disagrees", Addr(va));
        // SAFETY: mapped read-write just now.
        unsafe { (va as *mut u64).write_volatile(va) };
    }
    let guard = a.0 + 5 * PAGE_SIZE;
    check!(at_s1e1r(guard).is_none(), "guard page {} is mapped", Addr(guard));
    check!(b.0 >= guard + PAGE_SIZE || b.0 + PAGE_SIZE <= a.0, "areas overlap a guard page");
    // Physical contiguity is not required: report what we got.
    let contiguous = pages.windows(2).all(|w| w[1].0 == w[0].0 + PAGE_SIZE);
    pr_info!(
        "vmalloc area {} -> pages {:?} (contiguous: {})",
        Addr(a.0),
        pages.iter().map(|p| Addr(p.0)).collect::<Vec<_>>(),
        contiguous
    );
    vmalloc::vfree(a).map_err(|e| format!("vfree: {}", e))?;
    check!(at_s1e1r(a.0).is_none(), "vfree left {} mapped", Addr(a.0));
    check!(vmalloc::vfree(a).is_err(), "double vfree was accepted");
    vmalloc::vfree(b).map_err(|e| format!("vfree: {}", e))?;
    check!(vmalloc::vmalloc(0).is_err(), "vmalloc(0) succeeded");
    // The console's ioremap: Device-nGnRE, never executable.
    let uart = crate::printk::console_base().ok_or("no console")?;
    let w = pgtable::walk(&mut t, LinearTables::root(), uart);
    let (_, d) = w.leaf().ok_or("UART not mapped")?;
    check!(
        pte::Prot::from_desc(d).map(|p| p.mem) == Some(MemType::DeviceNgnre),
        "UART mapping is not Device-nGnRE: {:#x}",
        d
    );
    check!(d & pte::PXN != 0, "UART mapping is executable");
    check!(w.phys() == Some(crate::setup::EARLYCON_PA), "UART maps to {:?}", w.phys().map(Addr));
    check!(at_s1e1r(fixmap::fix_to_virt(fixmap::FixSlot::EarlyCon)).is_none(), "earlycon fixmap slot still mapped");
    Ok(())
}

static PROBE: [u8; 64] = [0xa5; 64];

fn test_translate() -> Outcome {
    let mem = memblock::memory().ok_or("no memory description")?;
    // lm_alias(sym) reads the same bytes as sym.
    let alias = physaddr::lm_alias(image_sym!(PROBE));
    check!(physaddr::is_lm_address(alias.0), "lm_alias gave a non-linear address {}", Addr(alias.0));
    // SAFETY: the linear alias of an image static: mapped RAM.
    let bytes = unsafe { core::slice::from_raw_parts(alias.as_ptr::<u8>(), 64) };
    check!(bytes == &PROBE[..], "lm_alias(PROBE) reads different bytes");
    check!(physaddr::__pa(alias.0) == physaddr::pa_symbol(image_sym!(PROBE)).0, "__pa(lm_alias(x)) != __pa_symbol(x)");
    // The fast paths agree with the plain arithmetic of vakern_mm::addr.
    check!(
        alias == physaddr::lm_alias_composed(image_sym!(PROBE)),
        "lm_alias fast path disagrees with __va(__pa_symbol())"
    );
    let (po, ko) = (physaddr::phys_offset(), physaddr::kimage_voffset());
    let (text0, end0) = physaddr::image_bounds();
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    for _ in 0..1000 {
        let r = mem.mapped.iter().nth((rng.next_u64() % mem.mapped.len() as u64) as usize).unwrap();
        let pa = r.base + rng.next_u64() % r.size();
        let lin = vakern_mm::addr::phys_to_virt(pa, po);
        check!(
            physaddr::__pa(lin) == vakern_mm::addr::virt_to_phys(lin, po, ko),
            "__pa fast path wrong at {}",
            Addr(lin)
        );
        let img = text0 + rng.next_u64() % (end0 - text0);
        let nodebug = physaddr::virt_to_phys_nodebug(img);
        check!(nodebug == vakern_mm::addr::virt_to_phys(img, po, ko), "__pa fast path wrong at {}", Addr(img));
    }
    // __pa_symbol(_end) is allowed.
    let (_, end) = physaddr::image_bounds();
    let pa_end = physaddr::__pa_symbol(end);
    check!(pa_end == end - physaddr::kimage_voffset(), "__pa_symbol(_end) = {}", Addr(pa_end));
    // Round trips at the edges of every range.
    for r in mem.mapped.iter() {
        for pa in [r.base, r.base + 8, r.end - 8, r.end - PAGE_SIZE] {
            let va = physaddr::phys_to_virt(PhysAddr(pa));
            check!(physaddr::virt_to_phys(va) == PhysAddr(pa), "round trip of {} failed", Addr(pa));
            check!(physaddr::virt_to_pfn(va) == pa >> 12, "virt_to_pfn wrong");
            check!(physaddr::pfn_to_virt(pa >> 12) == VirtAddr(va.0 & !0xfff), "pfn_to_virt wrong");
            check!(physaddr::pfn_valid(pa >> 12), "pfn_valid false for RAM");
        }
    }
    check!(!physaddr::pfn_valid(0x0900_0000 >> 12), "pfn_valid true for the UART");
    check!(!physaddr::is_lm_address(0x0000_8000_0000_0000), "a user address with bit 47 set passed __is_lm_address");
    pr_info!("debug_virtual reports so far: {}", physaddr::reports());
    check!(physaddr::reports() == 0, "{} debug_virtual report(s) during good uses", physaddr::reports());
    Ok(())
}

// An empty function shaped like the probes (frame record in, frame record
// out): what a call costs before any translation work.
core::arch::global_asm!(
    ".text",
    ".global probe_empty",
    "probe_empty:",
    "stp x29, x30, [sp, #-16]!",
    "mov x29, sp",
    "ldp x29, x30, [sp], #16",
    "ret",
);

extern "C" {
    fn probe_empty(x: u64) -> u64;
}

/// Instructions retired, from PMU event counter 0 (INST_RETIRED). QEMU
/// counts them exactly only with `-icount`.
fn inst_retired() -> u64 {
    let v: u64;
    // SAFETY: reads a PMU counter that `pmu_start` set up.
    unsafe { core::arch::asm!("isb", "mrs {v}, pmevcntr0_el0", v = out(reg) v, options(nostack)) };
    v
}

fn pmu_start() {
    // SAFETY: PMU set-up at EL1: event 0x08 (INST_RETIRED) on counter 0,
    // counting at EL1, enabled.
    unsafe {
        core::arch::asm!(
            "msr pmevtyper0_el0, {ev}",
            "msr pmcntenset_el0, {one}",
            "mrs {t}, pmcr_el0",
            "orr {t}, {t}, #1",
            "msr pmcr_el0, {t}",
            "isb",
            ev = in(reg) 0x08u64,
            one = in(reg) 1u64,
            t = out(reg) _,
            options(nostack)
        )
    };
}

fn cost(f: unsafe extern "C" fn(u64) -> u64, arg: u64) -> u64 {
    const N: u64 = 1000;
    let f = core::hint::black_box(f);
    let start = inst_retired();
    for _ in 0..N {
        // SAFETY: the probes and probe_empty take any u64.
        core::hint::black_box(unsafe { f(core::hint::black_box(arg)) });
    }
    (inst_retired() - start) / N
}

fn test_probe_cost() -> Outcome {
    use crate::probes;
    pmu_start();
    let base = cost(probe_empty, 1);
    check!(base > 0, "the instruction counter does not count (boot with --icount)");
    let (text, _) = physaddr::image_bounds();
    let lin = physaddr::__va(physaddr::kimg_to_phys(text) + 0x1000);
    let cases: [(&str, unsafe extern "C" fn(u64) -> u64, u64); 4] = [
        ("__pa", probes::probe_pa, lin),
        ("__va", probes::probe_va, physaddr::__pa(lin)),
        ("__pa_symbol", probes::probe_pa_symbol, text + 0x40),
        ("lm_alias", probes::probe_lm_alias, text + 0x40),
    ];
    for (name, f, arg) in cases {
        let c = cost(f, arg);
        check!(c >= base, "{} cost {} below the empty call {}", name, c, base);
        pr_info!("probe-cost {}: {} instructions (call and loop overhead {} removed)", name, c - base, base);
    }
    Ok(())
}

fn test_kaslr() -> Outcome {
    let (offset, source, _) = crate::kaslr::info();
    check!(offset % PMD_SIZE == 0 && offset < crate::early::KASLR_WINDOW, "offset {:#x} outside the window", offset);
    let (text, _) = physaddr::image_bounds();
    check!(
        text & !(PMD_SIZE - 1) == layout::KIMAGE_VADDR + offset,
        "_text {} is not at KIMAGE_VADDR + {:#x}",
        Addr(text),
        offset
    );
    if source == 1 {
        let after = crate::kaslr::SEED_IN_DTB_AFTER.get().copied().flatten();
        check!(after == Some(0), "the device tree still holds the seed: {:?}", after);
    }
    // The image rule and the CPU agree on every page of the image.
    let (t, e) = physaddr::image_bounds();
    let mut va = t;
    while va < e {
        check!(at_s1e1r(va) == Some(physaddr::kimg_to_phys(va)), "image page {} translates wrongly", Addr(va));
        va += PAGE_SIZE;
    }
    pr_info!("kaslr: offset {:#x}, source {}", offset, source);
    Ok(())
}

fn test_smp() -> Outcome {
    let n = crate::smp::online_cpus();
    let expected = crate::setup::cpu_count();
    check!(n == expected, "{} CPUs online, the device tree lists {}", n, expected);
    pr_info!("smp: {} CPUs online", n);
    // Addresses of every kind: image, linear (several), vmalloc, the UART.
    let (text, end) = physaddr::image_bounds();
    let mut vas = Vec::from([text, end - 8, crate::printk::console_base().unwrap_or(0)]);
    let mem = memblock::memory().ok_or("no memory")?;
    for r in mem.mapped.iter() {
        vas.push(physaddr::__va(r.base));
        vas.push(physaddr::__va(r.end - 8));
    }
    let v = vmalloc::vmalloc(3 * PAGE_SIZE).map_err(|e| format!("vmalloc: {e}"))?;
    vas.push(v.0 + PAGE_SIZE);
    for &va in &vas {
        let here = at_s1e1r(va);
        for cpu in 1..n {
            let there = crate::smp::run_on(cpu, |va| at_s1e1r(va).unwrap_or(u64::MAX), va)
                .ok_or(format!("CPU{cpu} did not answer"))?;
            check!(
                Some(there) == here.or(Some(u64::MAX)),
                "CPU{} translates {} to {:#x}, CPU0 to {:?}",
                cpu,
                Addr(va),
                there,
                here.map(Addr)
            );
            if physaddr::is_lm_address(va) {
                let pa = crate::smp::pa_on(cpu, va).ok_or("no answer")?;
                check!(pa == physaddr::__pa(va), "CPU{} computes __pa({}) = {:#x}", cpu, Addr(va), pa);
            }
        }
    }
    vmalloc::vfree(v).map_err(|e| format!("vfree: {e}"))?;
    pr_info!("smp: {} addresses translated alike on {} CPUs", vas.len(), n);
    Ok(())
}

/// The level-3 descriptor that maps `va` in swapper_pg_dir.
fn pte_of(va: u64) -> Option<*mut u64> {
    let mut t = LinearTables::new();
    let w = pgtable::walk(&mut t, LinearTables::root(), va);
    let table = w.tables[3]?;
    Some(table.as_ptr::<u64>().wrapping_add(layout::table_index(va, 3)))
}

fn read_on(cpu: usize, va: u64) -> Option<u64> {
    // SAFETY: the page is mapped for the whole test.
    crate::smp::run_on(cpu, |va| unsafe { core::ptr::read_volatile(va as *const u64) }, va)
}

fn test_smp_tlb() -> Outcome {
    let n = crate::smp::online_cpus();
    check!(n > 1, "needs more than one CPU (boot with --smp 2 or more)");
    let v = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| format!("vmalloc: {e}"))?;
    let other = page_alloc::alloc_pages(1).ok_or("no page")?;
    let ptep = pte_of(v.0).ok_or("vmalloc page has no pte")?;
    // SAFETY: the live descriptor of our own page; both pages are ours.
    let (old, first_pa) = unsafe { (ptep.read_volatile(), ptep.read_volatile() & pte::ADDR_MASK) };
    unsafe {
        core::ptr::write_volatile(physaddr::__va(first_pa) as *mut u64, 0xaaaa);
        core::ptr::write_volatile(physaddr::__va(other.0) as *mut u64, 0xbbbb);
    }
    for cpu in 1..n {
        check!(read_on(cpu, v.0) == Some(0xaaaa), "CPU{} reads the wrong first page", cpu);
    }
    // Break before make, with a broadcast invalidation in the middle.
    // SAFETY: as above.
    unsafe { ptep.write_volatile(0) };
    crate::mmu::flush_tlb_kernel_page(v.0);
    unsafe { ptep.write_volatile((old & !pte::ADDR_MASK) | other.0) };
    crate::mmu::sync_tables();
    for cpu in 1..n {
        let got = read_on(cpu, v.0);
        check!(
            got == Some(0xbbbb),
            "CPU{} still reads {:?} after the broadcast TLBI",
            cpu,
            got.map(|x| alloc::format!("{x:#x}"))
        );
    }
    // For contrast (printed, not asserted): change it back with a TLBI that
    // only this CPU performs (`tlbi vaae1`, not inner shareable).
    unsafe { ptep.write_volatile(0) };
    let arg = (v.0 >> 12) & ((1 << 44) - 1);
    // SAFETY: TLB maintenance only.
    unsafe { core::arch::asm!("dsb ishst", "tlbi vaae1, {0}", "dsb nsh", "isb", in(reg) arg, options(nostack)) };
    unsafe { ptep.write_volatile(old) };
    crate::mmu::sync_tables();
    let stale = (1..n).filter(|&c| read_on(c, v.0) == Some(0xbbbb)).count();
    pr_info!("smp-tlb: after a local-only TLBI, {} of {} other CPUs still used the old translation", stale, n - 1);
    // Put everything back and release it.
    crate::mmu::flush_tlb_all();
    page_alloc::free_pages(other, 1);
    vmalloc::vfree(v).map_err(|e| format!("vfree: {e}"))?;
    pr_info!("smp-tlb: a remap on CPU0 reached {} other CPUs", n - 1);
    Ok(())
}
