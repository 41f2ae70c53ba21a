//! The debugging instruments:
//! - [`traps`]: the exception vectors and handler, and the fault-safe
//!   memory probe;
//! - [`fault`]: fault reports in arm64 Linux's shape (headline, ESR, the
//!   table walk, registers, call trace);
//! - [`fault_inject`]: deliberate faults, one per kind, that exercise the
//!   reports (from `test=fault:KIND` and the monitor's `fault`);
//! - [`kallsyms`]: symbol names for backtraces and the monitor;
//! - [`ptdump`]: the kernel page-table dump;
//! - [`monitor`]: the interactive console after boot.
//!
//! May use: `arch`, `console`, `mm`, `cpu`. Used by `selftest` and `setup`;
//! `mm` never calls into it.

pub mod fault;
pub mod fault_inject;
pub mod kallsyms;
pub mod monitor;
pub mod ptdump;
pub mod traps;
