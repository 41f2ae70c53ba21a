//! The test instruments: self-tests run inside the booted kernel, chosen
//! with `test=NAME` on the command line, after the boot is complete (or, for
//! a few `debug_virtual` cases, before memory is set up). Each ends the run
//! through the semihosting exit code: 0 when every check held,
//! `TEST_FAILED` with a "selftest NAME: FAIL" line naming the first check
//! that did not. The host tests in tests/ boot them under different machine
//! settings and read the code and the console.
//!
//! One boot can run several tests of the registry: `test=translate,linear`
//! runs them in the order given, each between its own "selftest NAME:
//! checking" and "selftest NAME: PASS"/"FAIL" lines, and a failure does not
//! stop the ones after it. The exit code is that of the first failure
//! (`TEST_FAILED`), or 0 when all passed; a test that stops the kernel
//! (a panic, a fault) ends the list there with its own code. Only tests
//! that return may be listed: `panic`, `hang` and the `exit:`, `pgt:`,
//! `fault:` and `wx-violation` cases stop the kernel on purpose and run
//! alone. Of the `debug_virtual` corpus, the cases that report and carry on
//! may be listed (`test=linear,dv:pa-vmalloc,dv:pa-module`): each runs
//! between its own "dv CASE:" lines and leaves the exit code alone (the
//! host judges its report); the cases that stop run alone.
//!
//! This file holds the registry and the runner; the tests are grouped by
//! subject in [`image`], [`memory`], [`smp`] and [`cost`]. Next to them:
//! the `debug_virtual` corpus ([`dv_corpus`], `test=dv:CASE`), the
//! `debug_pgtable` corpus ([`pgt_corpus`], `test=pgt:CASE`) and the
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
pub mod pgt_corpus;
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
    (
        "idmap",
        "the boot's identity map held exactly the image and the device tree, in SWAPPER_BLOCK_SIZE entries, inside RAM",
        image::test_idmap,
    ),
    ("smp", "every CPU came up and translates every address the same way", smp::test_smp),
    ("smp-percpu", "every CPU came up with its own logical number, stack and exception stack", smp::test_smp_percpu),
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
        write!(
            f,
            ", exit:N, dv:CASE, pgt:CASE, fault:KIND; a list a,b,c of the ones that return, \
             with the dv:CASEs that carry on (see kernel/src/selftest/mod.rs)"
        )
    }
}

/// Registry tests that never return, so cannot share a boot with others.
const ALONE: &[&str] = &["panic", "hang"];

/// True if `n` may be an item of a list: a registry test that returns, or
/// a corpus case that carries on.
fn listable(n: &str) -> bool {
    match n.strip_prefix("dv:") {
        Some(case) => dv_corpus::listable(case),
        None => !ALONE.contains(&n) && TESTS.iter().any(|t| t.0 == n),
    }
}

/// True if `test=name` names a test, or a list of tests that return
/// (`a,b,c`).
pub fn exists(name: &str) -> bool {
    if name.contains(',') {
        return name.split(',').all(listable);
    }
    TESTS.iter().any(|t| t.0 == name)
        || name.strip_prefix("exit:").is_some_and(|n| n.parse::<u32>().is_ok())
        || name.strip_prefix("dv:").is_some_and(|c| dv_corpus::CASES.iter().any(|k| k.0 == c))
        || name.strip_prefix("pgt:").is_some_and(|c| pgt_corpus::CASES.iter().any(|k| k.0 == c))
        || name == "wx-violation"
        || name.strip_prefix("fault:").is_some_and(|k| crate::debug::fault_inject::KINDS.iter().any(|f| f.0 == k))
}

/// Tests that must run before memory is set up (the `debug_virtual` corpus
/// cases about using the translations too early).
pub fn early_hook(test: Option<&str>) {
    if let Some(case) = test.filter(|t| !t.contains(',')).and_then(|t| t.strip_prefix("dv:")) {
        dv_corpus::run_early(case);
    }
}

/// Run test `name` (or each test of a list `a,b,c`) and exit with its
/// verdict (the first failure's).
pub fn run(name: &str) -> ! {
    if name.contains(',') {
        let mut code = exit::SUCCESS;
        for n in name.split(',') {
            if let Some(case) = n.strip_prefix("dv:").filter(|c| dv_corpus::listable(c)) {
                dv_corpus::run_in_list(case);
                continue;
            }
            let Some((_, what, f)) = TESTS.iter().find(|t| t.0 == n && !ALONE.contains(&t.0)) else {
                crate::fatal!(exit::BOOT_ERROR, "test={}: {} cannot run in a list", name, n)
            };
            if !run_one(n, what, *f) && code == exit::SUCCESS {
                code = exit::TEST_FAILED;
            }
        }
        semihosting::exit(code);
    }
    if let Some(code) = name.strip_prefix("exit:").and_then(|n| n.parse::<u32>().ok()) {
        pr_info!("selftest exit:{}: exiting with code {} on request", code, code);
        semihosting::exit(code);
    }
    if let Some(case) = name.strip_prefix("dv:") {
        dv_corpus::run(case);
    }
    if let Some(case) = name.strip_prefix("pgt:") {
        pgt_corpus::run(case);
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
    let passed = run_one(name, what, *f);
    semihosting::exit(if passed { exit::SUCCESS } else { exit::TEST_FAILED })
}

/// Run one registry test between its "checking" and "PASS"/"FAIL" lines;
/// true if it passed.
fn run_one(name: &str, what: &str, f: fn() -> Outcome) -> bool {
    pr_info!("selftest {}: checking that {}", name, what);
    match f() {
        Ok(()) => {
            pr_info!("selftest {}: PASS", name);
            true
        }
        Err(msg) => {
            crate::pr_err!("selftest {}: FAIL: {}", name, msg);
            false
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
