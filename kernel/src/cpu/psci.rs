//! PSCI, the firmware interface that starts CPUs (QEMU implements it). Only
//! CPU_ON is used, through the conduit the device tree's `/psci/method`
//! names: `hvc` or `smc`.

/// Function ID of CPU_ON, SMC64 calling convention.
const PSCI_CPU_ON_64: u64 = 0xc400_0003;

fn psci_call(method: &str, func: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: u64;
    // SAFETY: a PSCI call through the conduit the firmware (QEMU) named.
    unsafe {
        if method == "smc" {
            core::arch::asm!("smc #0", inout("x0") func => ret, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack));
        } else {
            core::arch::asm!("hvc #0", inout("x0") func => ret, in("x1") a1, in("x2") a2, in("x3") a3, options(nostack));
        }
    }
    ret as i64
}

/// Start the CPU `mpidr` at physical address `entry` with `context_id` in
/// x0; PSCI's return code (0 = success).
pub fn cpu_on(method: &str, mpidr: u64, entry: u64, context_id: u64) -> i64 {
    psci_call(method, PSCI_CPU_ON_64, mpidr, entry, context_id)
}
