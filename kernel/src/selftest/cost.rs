//! The `probe-cost` self-test: instructions per translation, counted by the
//! PMU under QEMU's `-icount`, for each probe of `probes.rs` less an empty
//! function of the same shape. The benchmark (`cargo benchmark`) reads the
//! figures from the console.

use crate::arch::pmu::{inst_retired, pmu_start};
use crate::mm::physaddr;
use crate::pr_info;
use crate::selftest::{check, probes, Outcome};

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

pub(super) fn test_probe_cost() -> Outcome {
    pmu_start();
    let base = cost(probe_empty, 1);
    check!(base > 0, "the instruction counter does not count (boot with --icount)");
    let (text, _) = physaddr::image_bounds();
    let lin = physaddr::__va(physaddr::kimg_to_phys(text) + vakern_mm::layout::PAGE_SIZE);
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
