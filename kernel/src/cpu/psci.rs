//! PSCI, the firmware interface that starts CPUs (QEMU implements it). Only
//! CPU_ON is used, through the conduit the device tree's `/psci/method`
//! names: `hvc` or `smc`.
//!
//! Function IDs: a PSCI 0.2 or later firmware (`compatible` "arm,psci-0.2"
//! or "arm,psci-1.0") uses the standard IDs; a PSCI 0.1 one
//! ("arm,psci") names its own in `/psci` (`cpu_on = <id>`), and those are
//! used.
//!
//! Register contract (SMCCC): the call takes the function ID in x0 and its
//! arguments in x1-x3, and returns in x0. Under SMCCC 1.0, x0-x17 are
//! UNKNOWN on return apart from the results (SMCCC 1.1 preserves x4-x17,
//! but that would have to be checked through SMCCC_VERSION first, and this
//! kernel does not rely on it). So every one of x1-x17 is declared
//! clobbered below; x18 and up are preserved by the firmware.

/// Function ID of CPU_ON for PSCI 0.2 and later, SMC64 calling convention.
const PSCI_0_2_CPU_ON_64: u32 = 0xc400_0003;

/// Which conduit and which CPU_ON function ID the firmware uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    /// `smc` if true, else `hvc`.
    pub smc: bool,
    /// The CPU_ON function ID.
    pub cpu_on: u32,
}

impl Psci {
    /// From `/psci`: `method`, whether it is PSCI 0.1, and its `cpu_on`
    /// property. An error says what is missing.
    pub fn from_dt(method: Option<&str>, v0_1: bool, cpu_on: Option<u32>) -> Result<Psci, &'static str> {
        let smc = match method {
            Some("smc") => true,
            Some("hvc") => false,
            Some(_) => return Err("/psci/method is neither \"hvc\" nor \"smc\""),
            None => return Err("no /psci/method"),
        };
        let cpu_on = match (v0_1, cpu_on) {
            (false, _) => PSCI_0_2_CPU_ON_64,
            (true, Some(id)) => id,
            (true, None) => return Err("PSCI 0.1 firmware without a /psci/cpu_on function ID"),
        };
        Ok(Psci { smc, cpu_on })
    }

    /// One PSCI call: function `func`, arguments `a1`..`a3`; x0 on return.
    fn call(self, func: u32, a1: u64, a2: u64, a3: u64) -> i64 {
        let ret: u64;
        // SAFETY: a PSCI call through the conduit the firmware named. Every
        // register SMCCC 1.0 leaves UNKNOWN (x1-x17) is marked clobbered.
        unsafe {
            if self.smc {
                core::arch::asm!("smc #0",
                    inout("x0") u64::from(func) => ret, inout("x1") a1 => _, inout("x2") a2 => _,
                    inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                    out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                    out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                    options(nostack));
            } else {
                core::arch::asm!("hvc #0",
                    inout("x0") u64::from(func) => ret, inout("x1") a1 => _, inout("x2") a2 => _,
                    inout("x3") a3 => _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                    out("x8") _, out("x9") _, out("x10") _, out("x11") _, out("x12") _,
                    out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _,
                    options(nostack));
            }
        }
        ret as i64
    }

    /// Start the CPU `mpidr` at physical address `entry` with `context_id`
    /// in x0; PSCI's return code (0 = success).
    pub fn cpu_on(self, mpidr: u64, entry: u64, context_id: u64) -> i64 {
        self.call(self.cpu_on, mpidr, entry, context_id)
    }
}
