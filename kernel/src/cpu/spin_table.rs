//! Starting a secondary CPU through a spin table (enable-method
//! `spin-table`), as on the Raspberry Pi: the CPU already runs firmware code
//! that waits with `wfe` until the 64-bit word at its `cpu-release-addr` is
//! non-zero, then jumps there with the MMU and caches off.
//!
//! Called by `smp` at boot stage 6, when the linear map, the page allocator
//! and vmalloc exist. The kernel puts the CPU's index where the entry stub
//! (`secondary_spin_entry` in boot/head.S) reads it, writes the stub's
//! physical address to the release word through the linear map (or an
//! `ioremap` if the word is not RAM), cleans both to the point of coherency
//! (`dc civac`: the waiting CPU reads memory with its caches off), and
//! wakes it with `sev`. From then on the CPU takes the same path as one
//! started by PSCI, including the drop from EL2 to EL1.

use crate::mm::physaddr::{self, pa_symbol, PhysAddr};
use crate::mm::vmalloc;
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// The index of the CPU being released, read by `secondary_spin_entry`
/// with the MMU off.
#[no_mangle]
pub static SPIN_TABLE_CPU: AtomicU64 = AtomicU64::new(0);

extern "C" {
    fn secondary_spin_entry();
}

/// Clean and invalidate the cache line holding `va` to the point of coherency.
fn dc_civac(va: u64) {
    // SAFETY: cache maintenance on a mapped address; no data changes.
    unsafe { core::arch::asm!("dc civac, {}", "dsb sy", in(reg) va, options(nostack, preserves_flags)) };
}

/// Why a release failed.
#[derive(Debug)]
pub enum SpinError {
    /// The release word is not 8-byte aligned.
    Misaligned(u64),
    /// It could not be mapped.
    Map(vmalloc::VmError),
}

impl core::fmt::Display for SpinError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpinError::Misaligned(a) => write!(f, "cpu-release-addr {:#x} is not 8-byte aligned", a),
            SpinError::Map(e) => write!(f, "cannot map cpu-release-addr: {}", e),
        }
    }
}

/// Release CPU `idx` waiting on the spin-table word at `release_addr`.
pub fn release(idx: usize, release_addr: u64) -> Result<(), SpinError> {
    if !release_addr.is_multiple_of(8) {
        return Err(SpinError::Misaligned(release_addr));
    }
    SPIN_TABLE_CPU.store(idx as u64, SeqCst);
    dc_civac(&SPIN_TABLE_CPU as *const AtomicU64 as u64);
    let entry = pa_symbol(physaddr::ImageAddr::from_raw(secondary_spin_entry as *const () as u64));
    let (va, io) = if physaddr::pfn_valid(release_addr >> vakern_mm::layout::PAGE_SHIFT) {
        (physaddr::phys_to_virt(PhysAddr(release_addr)).0, None)
    } else {
        let v = vmalloc::ioremap(PhysAddr(release_addr), 8).map_err(SpinError::Map)?;
        (v.0, Some(v))
    };
    // SAFETY: `va` maps the 8-byte release word (RAM through the linear
    // map, or Device memory through ioremap); the firmware reads it only.
    unsafe { (va as *mut u64).write_volatile(entry.0) };
    dc_civac(va);
    // SAFETY: wakes the CPUs waiting in `wfe`; no memory is touched.
    unsafe { core::arch::asm!("sev", options(nostack, preserves_flags)) };
    if let Some(v) = io {
        let _ = vmalloc::iounmap(v);
    }
    Ok(())
}
