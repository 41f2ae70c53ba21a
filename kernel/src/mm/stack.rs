//! Kernel stacks in the vmalloc area, each with an unmapped guard page below
//! it, so an overflow faults instead of overwriting whatever lies below. The
//! fault handler runs on a separate per-CPU exception stack (`traps.rs`) and
//! asks [`guard_hit`] whether a fault address is a stack's guard page.

use crate::arch::cpu::NR_CPUS;
use crate::mm::vmalloc::{self, VmError};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use vakern_mm::layout::PAGE_SIZE;

/// Size of a kernel stack.
pub const KERNEL_STACK_SIZE: u64 = 64 * 1024;

/// A kernel stack: `[base, top)`, guard page at `base - PAGE_SIZE`.
#[derive(Clone, Copy, Debug)]
pub struct KernelStack {
    /// Lowest mapped address.
    pub base: u64,
    /// One past the highest address (the initial SP).
    pub top: u64,
}

static STACKS: [[AtomicU64; 2]; NR_CPUS] = [const { [AtomicU64::new(0), AtomicU64::new(0)] }; NR_CPUS];

/// Allocate a stack for `cpu` and register it for overflow detection.
pub fn alloc(cpu: usize) -> Result<KernelStack, VmError> {
    let base = vmalloc::vmalloc_stack(KERNEL_STACK_SIZE)?;
    let s = KernelStack { base: base.0, top: base.0 + KERNEL_STACK_SIZE };
    STACKS[cpu % NR_CPUS][0].store(s.base, Relaxed);
    STACKS[cpu % NR_CPUS][1].store(s.top, Relaxed);
    Ok(s)
}

/// If `addr` is in the guard page of a registered stack, that stack's bounds.
pub fn guard_hit(addr: u64) -> Option<(u64, u64)> {
    STACKS.iter().find_map(|s| {
        let (base, top) = (s[0].load(Relaxed), s[1].load(Relaxed));
        // An empty slot is (0, 0): told apart by its size, not by a base of 0.
        (top > base && addr >= base - PAGE_SIZE && addr < base).then_some((base, top))
    })
}

/// The CPU whose kernel stack (guard page included) contains `addr`, and its bounds.
pub fn owner(addr: u64) -> Option<(usize, KernelStack)> {
    STACKS.iter().enumerate().find_map(|(cpu, s)| {
        let (base, top) = (s[0].load(Relaxed), s[1].load(Relaxed));
        (top > base && addr >= base - PAGE_SIZE && addr < top).then_some((cpu, KernelStack { base, top }))
    })
}

/// Continue in `f` on `stack`; the current stack is abandoned.
///
/// # Safety
/// `stack` is mapped and unused; nothing on the current stack may be needed again.
pub unsafe fn switch_to(stack: &KernelStack, f: extern "C" fn() -> !) -> ! {
    // SAFETY: guaranteed by the caller.
    unsafe {
        core::arch::asm!(
            "mov sp, {top}",
            "mov x29, xzr",
            "mov x30, xzr",
            "br {f}",
            top = in(reg) stack.top,
            f = in(reg) f,
            options(noreturn)
        )
    }
}
