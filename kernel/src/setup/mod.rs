//! Boot stages 4 to 6, in the upper half: [`start_kernel`](start_kernel::start_kernel)
//! brings up the console, reads the device tree and the command line
//! ([`cmdline`]), sets up memory, starts the other CPUs, and ends in a
//! self-test or the monitor; [`bootstats`] records what each phase cost.
//!
//! The top of the tree: may use every other folder; nothing uses it (the
//! boot stub enters `start_kernel` by its link name).

pub mod bootstats;
pub mod cmdline;
pub mod start_kernel;
