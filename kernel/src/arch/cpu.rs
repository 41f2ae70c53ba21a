//! CPU numbering: the static limit on CPUs and this CPU's number, used by
//! the exception stacks, the kernel stacks and SMP bring-up.

use aarch64_cpu::registers::{Readable, MPIDR_EL1};

/// Most CPUs supported (the exception stacks and the per-CPU tables are static).
pub const NR_CPUS: usize = 8;

/// This CPU's number (Aff0 of MPIDR_EL1).
pub fn cpu_id() -> usize {
    MPIDR_EL1.read(MPIDR_EL1::Aff0) as usize % NR_CPUS
}
