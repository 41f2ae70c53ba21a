//! Address logic of the vakern kernel that needs no CPU.
//!
//! Everything here is plain arithmetic over integers and byte slices, so the
//! kernel uses it at every boot stage and the host tests check it with
//! `cargo test`: the layout flavours ([`flavour`]) and the built one's
//! regions ([`layout`]), the CPU features they need ([`cpufeat`]), descriptors
//! ([`pte`]), the mapper and walker over an abstract memory ([`pgtable`]),
//! range sets for the allocators ([`ranges`], [`range_table`]) and memory discovery from a
//! device tree ([`dtb`], over the walker in [`fdt_walk`]).
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod addr;
pub mod bbm;
pub mod console;
pub mod cpufeat;
pub mod dtb;
pub mod enable_method;
pub mod esr;
pub mod exit;
pub mod fdt_walk;
pub mod flavour;
pub mod fmt;
pub mod kaslr;
pub mod layout;
pub mod pgtable;
pub mod ptdump;
pub mod pte;
pub mod range_table;
pub mod ranges;
