//! The performance monitor's instruction counter (event INST_RETIRED on
//! counter 0), for the `probe-cost` self-test. QEMU counts instructions
//! exactly only with `-icount`.

/// Count INST_RETIRED at EL1 on counter 0, from now on.
pub fn pmu_start() {
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

/// Instructions retired so far, from counter 0 (after [`pmu_start`]).
pub fn inst_retired() -> u64 {
    let v: u64;
    // SAFETY: reads a PMU counter that `pmu_start` set up.
    unsafe { core::arch::asm!("isb", "mrs {v}, pmevcntr0_el0", v = out(reg) v, options(nostack)) };
    v
}
