//! Secondary CPUs: started with PSCI CPU_ON (the method, `hvc` or `smc`,
//! and for PSCI 0.1 the function ID, from the device tree's `/psci` node),
//! each entering through the same boot stub (`secondary_entry` in
//! boot/head.S), the identity map and the switch to the upper half, onto its
//! own vmalloc'd stack with a guard page.
//!
//! Per-CPU data is indexed by a logical CPU number, never by MPIDR fields
//! (on real boards CPUs come in clusters: Aff1 and up are not 0, and Aff0
//! repeats). The boot CPU is 0; the others are numbered 1, 2, ... in the
//! order the device tree lists them, as they are brought up. The number is
//! handed to the CPU in CPU_ON's context ID and kept in TPIDR_EL1
//! (`arch::cpu::cpu_id`). At most `NR_CPUS`: a CPU beyond that is reported
//! and left alone.
//!
//! A CPU that does not report in within [`ONLINE_TIMEOUT_MS`] is reported
//! and left alone, never waited for forever. Once up, each secondary CPU
//! waits for work in its mailbox ([`run_on`]); the self-tests use that to
//! have every CPU translate the same addresses and to check that TLB
//! maintenance done on one CPU reaches the others (every kernel TLB
//! invalidation is the broadcast, inner-shareable form: `tlbi vaae1is`,
//! `tlbi vmalle1is`).

use crate::arch::cpu::NR_CPUS;
use crate::cpu::psci::Psci;
use crate::cpu::spin_table;
use crate::mm::physaddr::{self, pa_symbol};
use crate::mm::stack;
use crate::{pr_err, pr_info, pr_warn};
use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0, MPIDR_EL1};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use vakern_mm::dtb::MAX_CPUS;
use vakern_mm::enable_method::{CpuNode, EnableMethod};

/// How long a CPU may take to come online.
pub const ONLINE_TIMEOUT_MS: u64 = 1000;

/// Stack tops for the secondary CPUs, by index, read by the boot stub.
#[no_mangle]
pub static SECONDARY_STACKS: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
static ONLINE: [AtomicBool; NR_CPUS] = [const { AtomicBool::new(false) }; NR_CPUS];
static MPIDRS: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(u64::MAX) }; NR_CPUS];
/// Work for each CPU: a function pointer (0 = none), its argument and result.
static MAILBOX: [[AtomicU64; 3]; NR_CPUS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)] }; NR_CPUS];
static ONLINE_COUNT: AtomicUsize = AtomicUsize::new(1);

extern "C" {
    fn secondary_entry();
}

/// This CPU's affinity fields (Aff3..Aff0): what the device tree's `reg`
/// of a CPU node holds.
fn mpidr_affinity() -> u64 {
    let affinity = [MPIDR_EL1::Aff3, MPIDR_EL1::Aff2, MPIDR_EL1::Aff1, MPIDR_EL1::Aff0];
    let mpidr = MPIDR_EL1.get();
    affinity.iter().fold(0, |acc, f| acc | (mpidr & (f.mask << f.shift)))
}

fn now_ms() -> u64 {
    CNTPCT_EL0.get() * 1000 / CNTFRQ_EL0.get().max(1)
}

/// Number of CPUs online.
pub fn online_cpus() -> usize {
    ONLINE_COUNT.load(SeqCst)
}

/// True if CPU `idx` is online (CPU 0 always is).
pub fn is_online(idx: usize) -> bool {
    idx == 0 || ONLINE.get(idx).is_some_and(|o| o.load(SeqCst))
}

/// What the device tree says about the CPUs, kept from the parse in
/// `start_kernel` until [`smp_init`] runs on the kernel stack.
struct DtCpus {
    /// How to call PSCI, or why it cannot be called.
    psci: Result<Psci, &'static str>,
    /// MPIDRs of the enabled CPU nodes, in tree order.
    mpidrs: [u64; MAX_CPUS],
    /// How many of `mpidrs` are valid.
    n: usize,
    /// CPU nodes the parser could not keep (more than `MAX_CPUS`).
    dropped: usize,
}
static CPUS: spin::Once<DtCpus> = spin::Once::new();

/// Keep what the device tree says about the CPUs for [`smp_init`].
pub fn record_cpus(info: &vakern_mm::dtb::MemoryInfo<'_>) {
    let psci = Psci::from_dt(info.psci_method, info.psci_v0_1, info.psci_cpu_on);
    let n = info.ncpus.min(MAX_CPUS);
    CPUS.call_once(|| DtCpus { psci, mpidrs: info.cpus, n, dropped: info.cpus_total.saturating_sub(n) });
}

/// Number of CPUs the device tree lists (1 if it was not read).
pub fn cpu_count() -> usize {
    CPUS.get().map_or(1, |c| (c.n + c.dropped).max(1))
}

/// Each CPU's `enable-method`, from the device tree.
static METHODS: spin::Once<([Option<CpuNode<'static>>; MAX_CPUS], usize)> = spin::Once::new();
/// `maxcpus=N`: most CPUs brought up, the boot CPU included.
static MAX_CPUS_OPT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Keep each CPU's enable-method for [`smp_init`].
pub fn record_enable_methods(nodes: ([Option<CpuNode<'static>>; MAX_CPUS], usize)) {
    METHODS.call_once(|| nodes);
}

/// Bring up at most `n` CPUs, this one included (`maxcpus=`).
pub fn set_max_cpus(n: usize) {
    MAX_CPUS_OPT.store(n.max(1), SeqCst);
}

/// The `maxcpus=` limit (`usize::MAX` without one).
pub fn max_cpus() -> usize {
    MAX_CPUS_OPT.load(SeqCst)
}

/// How the CPU `mpidr` is started: its recorded enable-method, or PSCI
/// when the tree was not read for them.
fn enable_method(mpidr: u64) -> EnableMethod<'static> {
    match METHODS.get() {
        Some((nodes, n)) => {
            nodes[..*n].iter().flatten().find(|c| c.mpidr == mpidr).map_or(EnableMethod::Missing, |c| c.method)
        }
        None => EnableMethod::Psci,
    }
}

/// Start every CPU the device tree lists other than this one.
pub fn smp_init() {
    if let Some(c) = CPUS.get() {
        if c.dropped > 0 {
            pr_warn!("SMP: {} more CPU node(s) than the {} this kernel tracks: not started", c.dropped, MAX_CPUS);
        }
        start_secondaries(c.psci, &c.mpidrs[..c.n]);
    }
}

fn start_secondaries(psci: Result<Psci, &'static str>, mpidrs: &[u64]) {
    let boot_mpidr = mpidr_affinity();
    MPIDRS[0].store(boot_mpidr, SeqCst);
    ONLINE[0].store(true, SeqCst);
    let others: usize = mpidrs.iter().filter(|&&m| m != boot_mpidr).count();
    if others == 0 {
        return;
    }
    // The entry point as a physical address: the stub runs with the MMU off.
    let entry = pa_symbol(physaddr::ImageAddr::from_raw(secondary_entry as *const () as u64));
    // Logical CPU numbers: 0 is this CPU, the others in tree order.
    let mut idx = 0;
    for &mpidr in mpidrs.iter().filter(|&&m| m != boot_mpidr) {
        idx += 1;
        if idx >= NR_CPUS {
            pr_err!("SMP: more than NR_CPUS = {} CPUs: CPU with MPIDR {:#x} left alone", NR_CPUS, mpidr);
            continue;
        }
        if online_cpus() >= MAX_CPUS_OPT.load(SeqCst) {
            pr_info!("SMP: maxcpus={}: CPU with MPIDR {:#x} not started", MAX_CPUS_OPT.load(SeqCst), mpidr);
            continue;
        }
        // A tree that names no method but has a usable /psci node gets PSCI,
        // as this kernel always did before reading enable-method.
        let how = match (enable_method(mpidr), psci.is_ok()) {
            (EnableMethod::Missing, true) => EnableMethod::Psci,
            (m, _) => m,
        };
        let psci_call = match how {
            EnableMethod::Psci => match psci {
                Ok(p) => Some(p),
                Err(why) => {
                    pr_warn!("CPU{}: enable-method psci but PSCI is not usable ({}): not started", idx, why);
                    continue;
                }
            },
            EnableMethod::SpinTable { .. } => None,
            other => {
                pr_warn!("CPU{}: MPIDR {:#x}: enable-method {:?} not supported: left alone", idx, mpidr, other);
                continue;
            }
        };
        let st = match stack::alloc(idx) {
            Ok(s) => s,
            Err(e) => {
                pr_err!("CPU{}: no stack ({}): not started", idx, e);
                continue;
            }
        };
        SECONDARY_STACKS[idx].store(st.top, SeqCst);
        MPIDRS[idx].store(mpidr, SeqCst);
        // The stub reads its stack through the identity map: make it visible.
        // SAFETY: barrier only.
        unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
        if let EnableMethod::SpinTable { release_addr } = how {
            if let Err(e) = spin_table::release(idx, release_addr) {
                pr_err!("CPU{}: spin-table release at {:#x} failed: {}", idx, release_addr, e);
                continue;
            }
            pr_info!("CPU{}: released through the spin table at {}", idx, vakern_mm::fmt::Addr(release_addr));
        } else if let Some(p) = psci_call {
            let ret = p.cpu_on(mpidr, entry.0, idx as u64);
            if ret != 0 {
                pr_err!("CPU{}: PSCI CPU_ON for MPIDR {:#x} failed with {}", idx, mpidr, ret);
                continue;
            }
        }
        let start = now_ms();
        while !ONLINE[idx].load(SeqCst) {
            if now_ms() - start > ONLINE_TIMEOUT_MS {
                pr_err!("CPU{}: failed to come online within {} ms (MPIDR {:#x})", idx, ONLINE_TIMEOUT_MS, mpidr);
                break;
            }
            core::hint::spin_loop();
        }
    }
    pr_info!("SMP: Total of {} processors activated.", online_cpus());
}

/// A secondary CPU in the upper half, on its own stack, with its logical
/// number `idx` (from CPU_ON's context ID, already in TPIDR_EL1).
#[no_mangle]
pub extern "C" fn secondary_start_kernel(idx: u64) -> ! {
    let idx = idx as usize;
    if idx != crate::arch::cpu::cpu_id() || idx == 0 || idx >= NR_CPUS {
        pr_err!("CPU with MPIDR {:#x}: bad logical CPU number {}: stopped", mpidr_affinity(), idx);
        loop {
            core::hint::spin_loop();
        }
    }
    let mpidr = mpidr_affinity();
    pr_info!(
        "CPU{}: Booted secondary processor 0x{:010x}, stack at {}",
        idx,
        mpidr,
        vakern_mm::fmt::Addr(SECONDARY_STACKS[idx].load(SeqCst))
    );
    ONLINE_COUNT.fetch_add(1, SeqCst);
    ONLINE[idx].store(true, SeqCst);
    let mb = &MAILBOX[idx];
    loop {
        let f = mb[0].load(SeqCst);
        if f == 0 {
            core::hint::spin_loop();
            continue;
        }
        // SAFETY: `run_on` stores only `fn(u64) -> u64` pointers here.
        let func: fn(u64) -> u64 = unsafe { core::mem::transmute(f as usize) };
        mb[2].store(func(mb[1].load(SeqCst)), SeqCst);
        mb[0].store(0, SeqCst);
    }
}

/// Run `f(arg)` on CPU `idx` and return its result; `None` if the CPU is not
/// online or does not answer in time (a second, plus a quarter for each
/// CPU online: idle CPUs spin, and under emulation they share the host's
/// cores with the one asked). CPU 0 runs it directly.
pub fn run_on(idx: usize, f: fn(u64) -> u64, arg: u64) -> Option<u64> {
    if idx == 0 {
        return Some(f(arg));
    }
    if !is_online(idx) {
        return None;
    }
    let mb = &MAILBOX[idx];
    mb[1].store(arg, SeqCst);
    mb[0].store(f as usize as u64, SeqCst);
    let start = now_ms();
    let limit = 1000 + 250 * online_cpus() as u64;
    while mb[0].load(SeqCst) != 0 {
        if now_ms() - start > limit {
            return None;
        }
        core::hint::spin_loop();
    }
    Some(mb[2].load(SeqCst))
}

/// The top of secondary CPU `idx`'s kernel stack, if it has one.
pub fn stack_top(idx: usize) -> Option<u64> {
    SECONDARY_STACKS.get(idx).map(|s| s.load(SeqCst)).filter(|&t| t != 0)
}

/// The MPIDR of CPU `idx`, if known.
pub fn mpidr(idx: usize) -> Option<u64> {
    MPIDRS.get(idx).map(|m| m.load(SeqCst)).filter(|&m| m != u64::MAX)
}

/// `__pa` as CPU `idx` computes it (for the cross-CPU check).
pub fn pa_on(idx: usize, va: u64) -> Option<u64> {
    run_on(idx, |va| physaddr::__pa(va), va)
}
