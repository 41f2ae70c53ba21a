//! The other CPUs: PSCI ([`psci`]) or a spin table ([`spin_table`]), as
//! each CPU's `enable-method` says, to start them, then bring-up and the
//! mailbox through which the self-tests run a function on a given CPU
//! ([`smp`]). Started by `rest_init` once vmalloc can give each CPU a
//! guarded stack; each enters through the boot stub's `secondary_entry`.
//!
//! May use: `arch`, `console`, `mm`. Used by `selftest` and `setup`.

pub mod psci;
pub mod smp;
pub mod spin_table;
