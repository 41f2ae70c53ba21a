//! vakern: a small arm64 kernel that follows arm64 Linux's rules for
//! translating between virtual and physical addresses, and checks them.
//!
//! Boot flow (see README.md for the whole story), folder by folder:
//! 1. [`early`]: `boot/head.S` (assembled by [`early::head`]): Image header,
//!    EL2 -> EL1, FP/SIMD, .bss, boot stack, identity map, MMU on; then,
//!    still at the physical address, KASLR, relocations, the image mapped
//!    at KIMAGE_VADDR, jump high.
//! 2. [`setup`]: `start_kernel` drives the rest: fixmap and early console
//!    ([`console`]), device tree, memblock, `paging_init`, page allocator,
//!    heap, vmalloc ([`mm`]), the other CPUs ([`cpu`]), then a self-test
//!    ([`selftest`]) or the monitor ([`debug`]).
//!
//! [`arch`] is what all of them share: section symbols, the table type,
//! register values. The translations live in [`mm::physaddr`]; the address
//! layout, descriptors, mapper and DTB parsing in the host-tested crate
//! `vakern_mm`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
// Linux's names (__pa, __va, __pgd_populate…) are kept on purpose.
#![allow(non_snake_case)]

extern crate alloc;

// The folders, in the order the boot meets them. Imports run the other way,
// from the late stages down to the shared layers, never back up:
//   setup -> selftest -> debug -> cpu -> mm -> early, console -> arch
// (each folder's module comment lists what it may use; tests/tree.rs checks
// the arrows).

// What every stage shares: section symbols, the table type, register values.
pub mod arch;
// Stages 1-3: the boot stub and the code that runs before relocation.
pub mod early;
// Stages 4-6: `start_kernel` and the rest of boot.
pub mod setup;
// The UART, the log and formatting helpers.
pub mod console;
// Memory management: translations, memblock, tables, allocators.
pub mod mm;
// The other CPUs.
pub mod cpu;
// Exceptions, fault reports, symbols, ptdump, the monitor.
pub mod debug;
// The self-tests and the debug_virtual corpus.
pub mod selftest;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(l) => pr_err!("Kernel panic - not syncing: {} at {}", info.message(), l),
        None => pr_err!("Kernel panic - not syncing: {}", info.message()),
    }
    arch::semihosting::exit(vakern_mm::exit::PANIC)
}
