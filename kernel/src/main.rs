//! vakern: a small arm64 kernel that follows arm64 Linux's rules for
//! translating between virtual and physical addresses, and checks them.
//!
//! Boot flow (see README.md for the whole story):
//! 1. `boot/head.S` (assembled by [`boot`]): Image header, EL2 -> EL1,
//!    FP/SIMD, .bss, boot stack, identity map, MMU on.
//! 2. [`early`]: relocations, the image mapped at KIMAGE_VADDR, jump high.
//! 3. [`setup::start_kernel`]: fixmap and early console, device tree,
//!    [`memblock`], [`linear_map::paging_init`], [`page_alloc`], [`heap`],
//!    [`vmalloc`], then a self-test or idle.
//!
//! The translations live in [`physaddr`]; the address layout, descriptors,
//! mapper and DTB parsing in the host-tested crate `vakern_mm`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]
// Linux's names (__pa, __va, __pgd_populate…) are kept on purpose.
#![allow(non_snake_case)]

extern crate alloc;

pub mod boot;
pub mod bootstats;
pub mod cmdline;
pub mod dv_corpus;
pub mod early;
pub mod fault;
pub mod faults;
pub mod fixmap;
pub mod heap;
pub mod kallsyms;
pub mod kaslr;
pub mod linear_map;
pub mod memblock;
pub mod mmu;
pub mod monitor;
pub mod page_alloc;
pub mod physaddr;
pub mod pl011;
pub mod populate;
pub mod printk;
pub mod probes;
pub mod ptdump;
pub mod selftest;
pub mod semihosting;
pub mod setup;
pub mod smp;
pub mod stack;
pub mod traps;
pub mod util;
pub mod vmalloc;
pub mod wx;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(l) => pr_err!("Kernel panic - not syncing: {} at {}", info.message(), l),
        None => pr_err!("Kernel panic - not syncing: {}", info.message()),
    }
    semihosting::exit(vakern_mm::exit::PANIC)
}
