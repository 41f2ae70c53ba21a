//! The test instruments: self-tests run inside the booted kernel, chosen
//! with `test=NAME` on the command line, after the boot is complete (or, for
//! a few `debug_virtual` cases, before memory is set up). Each ends the run
//! through the semihosting exit code: 0 when every check held,
//! `TEST_FAILED` with a "selftest NAME: FAIL" line naming the first check
//! that did not. The host tests in tests/ boot them under different machine
//! settings and read the code and the console.
//!
//! This file holds the registry and the runner; the tests are grouped by
//! subject in [`image`], [`memory`], [`smp`] and [`cost`]. Next to them:
//! the `debug_virtual` corpus ([`dv_corpus`], `test=dv:CASE`) and the
//! probes ([`probes`]) that the host disassembles. Deliberate faults
//! (`test=fault:KIND`) come from `debug::fault_inject`, shared with the
//! monitor. Checks that need the hardware's view use `arch::at`: the CPU's
//! own table walk, independent of the kernel's walker.
//!
//! May use: everything below `setup` (`arch`, `console`, `early`, `mm`,
//! `cpu`, `debug`). Only `setup` uses it.

use crate::arch::semihosting;
use crate::mm::table_access::LinearTables;
use crate::mm::{page_alloc, tlbflush};
use crate::pr_info;
use alloc::string::String;
use alloc::vec::Vec;
use vakern_mm::exit;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{self, PAGE_SIZE};
use vakern_mm::pgtable;
use vakern_mm::pte::{self, MemType};

mod cost;
pub mod dv_corpus;
mod exhaust;
mod image;
mod memory;
pub mod probes;
mod smp;

/// What a test returns: `Err` names the first check that failed.
pub type Outcome = Result<(), String>;

/// Fail the test with a message unless `$cond` holds.
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($arg)*));
        }
    };
}
pub(crate) use check;

/// A self-test: name, what a pass means, the test.
type SelfTest = (&'static str, &'static str, fn() -> Outcome);

const TESTS: &[SelfTest] = &[
    ("layout", "the image runs at KIMAGE_VADDR + load offset and kimage_voffset is VA - PA", image::test_layout),
    ("reloc", "pointers stored in the image were relocated into the high mapping", image::test_reloc),
    ("panic", "a panic stops the kernel with the panic exit code", test_panic),
    ("hang", "never ends (the harness must time it out)", test_hang),
    ("linear", "all RAM and nothing else is in the linear map, with the fewest tables", memory::test_linear),
    ("alloc", "the page allocator and the heap hand out only free RAM", memory::test_alloc),
    ("vmalloc", "vmalloc/ioremap areas map the right pages with guard pages", memory::test_vmalloc),
    (
        "vmalloc-exhaust",
        "vmalloc/vfree run out of memory with an error and give every page back",
        exhaust::test_vmalloc_exhaust,
    ),
    ("translate", "good uses of __pa/__va/__pa_symbol/lm_alias give the right answers", memory::test_translate),
    ("kaslr", "the image sits at its KASLR offset and the seed was wiped from the device tree", image::test_kaslr),
    ("smp", "every CPU came up and translates every address the same way", smp::test_smp),
    (
        "smp-tlb",
        "a mapping changed on one CPU is seen by the others after broadcast TLB maintenance",
        smp::test_smp_tlb,
    ),
    ("probe-cost", "the instruction counter measures the translations (run with --icount)", cost::test_probe_cost),
];

/// Names of the tests, for the error message of an unknown `test=`.
pub struct Names;

impl core::fmt::Display for Names {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (name, _, _)) in TESTS.iter().enumerate() {
            write!(f, "{}{}", if i > 0 { ", " } else { "" }, name)?;
        }
        write!(f, ", exit:N, dv:CASE, fault:KIND (see kernel/src/selftest/mod.rs)")
    }
}

/// True if `test=name` names a test.
pub fn exists(name: &str) -> bool {
    TESTS.iter().any(|t| t.0 == name)
        || name.strip_prefix("exit:").is_some_and(|n| n.parse::<u32>().is_ok())
        || name.strip_prefix("dv:").is_some_and(|c| dv_corpus::CASES.iter().any(|k| k.0 == c))
        || name == "wx-violation"
        || name.strip_prefix("fault:").is_some_and(|k| crate::debug::fault_inject::KINDS.iter().any(|f| f.0 == k))
}

/// Tests that must run before memory is set up (the `debug_virtual` corpus
/// cases about using the translations too early).
pub fn early_hook(test: Option<&str>) {
    if let Some(case) = test.and_then(|t| t.strip_prefix("dv:")) {
        dv_corpus::run_early(case);
    }
}

/// Run test `name` and exit with its verdict.
pub fn run(name: &str) -> ! {
    if let Some(code) = name.strip_prefix("exit:").and_then(|n| n.parse::<u32>().ok()) {
        pr_info!("selftest exit:{}: exiting with code {} on request", code, code);
        semihosting::exit(code);
    }
    if let Some(case) = name.strip_prefix("dv:") {
        dv_corpus::run(case);
    }
    if name == "wx-violation" {
        // Map one vmalloc page writable and executable, then run the check:
        // it must find exactly that page and stop the kernel.
        let span = layout::VMALLOC_END - layout::VMALLOC_START;
        let va = if span > 1 << 40 {
            layout::VMALLOC_START + (1 << 39)
        } else {
            layout::align_down(layout::VMALLOC_START + span / 2, layout::PMD_SIZE)
        };
        let pa = page_alloc::alloc_pages(1).expect("page");
        let prot = pte::Prot { write: true, exec: true, mem: MemType::Normal };
        let mut t = LinearTables::new();
        pgtable::map_range(&mut t, LinearTables::root(), va, pa.0, PAGE_SIZE, prot, pgtable::MapFlags::PAGES)
            .expect("map a W+X page");
        tlbflush::sync_tables();
        pr_info!("selftest wx-violation: mapped {} writable and executable", Addr(va));
        crate::mm::wx::check_and_report();
        crate::pr_err!("selftest wx-violation: FAIL: the check did not stop the kernel");
        semihosting::exit(exit::TEST_FAILED);
    }
    if let Some(kind) = name.strip_prefix("fault:") {
        pr_info!("selftest fault:{}: triggering a deliberate fault", kind);
        let e = crate::debug::fault_inject::trigger(kind).err().unwrap_or("returned");
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
