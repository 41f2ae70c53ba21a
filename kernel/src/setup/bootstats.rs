//! The cost of each boot phase, in ticks of the physical counter
//! (CNTPCT_EL0), printed with the `bootstats` boot option. Under QEMU's
//! `-icount` the counter follows the instruction count, so the figures are
//! repeatable; the benchmark (`cargo benchmark`) reads them.

use crate::pr_info;
use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The moments recorded, in boot order.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub enum Phase {
    /// First instruction of the boot stub.
    Entry,
    /// Identity map built, MMU on.
    MmuOn,
    /// Image relocated and mapped high (back from `early_map_kernel`).
    Mapped,
    /// Fixmap, console, device tree and memblock done (and their log printed).
    Discovered,
    /// `paging_init` done: the linear map is live.
    LinearMap,
    /// Page allocator, heap and vmalloc ready.
    Allocators,
}

const N: usize = 6;
static STAMPS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

/// The counter now.
pub fn ticks() -> u64 {
    CNTPCT_EL0.get()
}

/// Record `phase` at `t`.
pub fn stamp(phase: Phase, t: u64) {
    STAMPS[phase as usize].store(t, Relaxed);
}

/// Record `phase` now.
pub fn now(phase: Phase) {
    stamp(phase, ticks());
}

/// Print one line per phase and a machine-readable summary.
pub fn print() {
    let s: [u64; N] = core::array::from_fn(|i| STAMPS[i].load(Relaxed));
    let names =
        ["bss + identity map + MMU on", "image mapping + relocation", "memory discovery", "linear map", "allocators"];
    pr_info!("bootstats: counter at {} Hz", CNTFRQ_EL0.get());
    let mut summary = crate::console::fmt::StrBuf::<256>::new();
    for (i, name) in names.iter().enumerate() {
        let d = s[i + 1].wrapping_sub(s[i]);
        pr_info!("bootstats: {:<28} {:>10} ticks", name, d);
        use core::fmt::Write;
        let _ = write!(summary, " {}", d);
    }
    crate::println!("bootstats-raw:{}", summary.as_str());
}
