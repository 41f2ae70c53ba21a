//! CPU numbering: the static limit on CPUs and this CPU's logical number,
//! used by the exception stacks, the kernel stacks and SMP bring-up.
//!
//! The logical number is assigned at bring-up (0 for the boot CPU, then in
//! the order `cpu::smp` starts the others) and kept in TPIDR_EL1, which the
//! boot stub sets before the CPU installs the real exception vectors
//! (`primary_switched`, `secondary_switched`). It is never derived from
//! MPIDR_EL1: affinity fields are a topology, not a dense index.

use aarch64_cpu::registers::{Readable, TPIDR_EL1};

/// Most CPUs supported (the exception stacks and the per-CPU tables are
/// static). 32 covers QEMU virt's first two clusters of 16 with GICv3.
pub const NR_CPUS: usize = 32;

/// This CPU's logical number (TPIDR_EL1), below [`NR_CPUS`].
pub fn cpu_id() -> usize {
    let id = TPIDR_EL1.get() as usize;
    debug_assert!(id < NR_CPUS);
    id.min(NR_CPUS - 1)
}
