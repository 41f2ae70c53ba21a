//! Address logic of the vakern kernel that needs no CPU.
//!
//! Everything here is plain arithmetic over integers and byte slices, so the
//! kernel uses it at every boot stage and the host tests check it with
//! `cargo test`: the layout and its regions ([`layout`]), descriptors
//! ([`pte`]), the mapper and walker over an abstract memory ([`pgtable`]),
//! range sets for the allocators ([`ranges`]) and memory discovery from a
//! device tree ([`dtb`]).
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod addr;
pub mod bbm;
pub mod dtb;
pub mod esr;
pub mod exit;
pub mod fmt;
pub mod layout;
pub mod pgtable;
pub mod ptdump;
pub mod pte;
pub mod ranges;
