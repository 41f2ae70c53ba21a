//! The bottom of the tree: what the Arm architecture and the linker script
//! define, which every stage of the boot may use.
//!
//! - [`sections`]: the image's section boundaries from `linker.ld`, declared
//!   once for the whole kernel;
//! - [`table`]: the translation-table page type shared by the boot stub, the
//!   early code and mm;
//! - [`sysreg`]: system-register values (SCTLR, TCR, HCR, SPSR, CPACR)
//!   built from aarch64-cpu's named fields;
//! - [`cpu`]: the CPU limit and this CPU's number;
//! - [`at`], [`pmu`]: the CPU's own address translation (`AT S1E1R/W`) and
//!   its instruction counter;
//! - [`semihosting`]: leaving QEMU with an exit code.
//!
//! May use: nothing else in the kernel (only `vakern_mm`, aarch64-cpu and
//! `core`). Everything above may use it.

pub mod at;
pub mod cpu;
pub mod pmu;
pub mod sections;
pub mod semihosting;
pub mod sysreg;
pub mod table;
