//! The host tests of `vakern_mm`, one module per part of the crate, built
//! as a single test binary. They run before any kernel code exists: each
//! module uses only `vakern_mm`'s public items, the shared helpers in
//! `mm/tests/common` and the device tree fixtures in `mm/tests/fixtures`.
//!
//! One binary rather than one per file: the suite links once instead of
//! seventeen times, which is most of what a rebuild costs after a change to
//! the crate (and so most of the time of each mutant of a mutation run, see
//! TESTING.md). Each module's own `//!` paragraph says what passing it means.

#[path = "../common/mod.rs"]
mod common;

mod addr;
mod bbm;
mod boundaries;
mod console;
mod dtb;
mod dtb_fuzz;
mod dtb_nodes;
mod enable_method;
mod esr;
mod exit;
mod fdt_crate;
mod flavour_edges;
mod flavours;
mod fmt;
mod kaslr;
mod layout;
mod pgtable;
mod ptdump;
mod pte;
mod range_table;
mod ranges;
