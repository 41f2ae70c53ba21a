//! How each CPU of the device tree is started: its `enable-method`.
//!
//! Read at boot stage 4 from the checked tree (with the memory scan) and
//! used by the kernel's SMP bring-up. Plain logic over the blob, tested on
//! the host against Linux's trees for the boards.
//!
//! - `psci`: the firmware starts the CPU on request (`CPU_ON`, through
//!   the conduit `/psci/method` names);
//! - `spin-table`: the CPU already runs firmware code that waits (`wfe`)
//!   until the 64-bit word at its `cpu-release-addr` holds an entry point;
//!   the kernel writes it there, makes it visible to a CPU whose caches are
//!   off, and wakes the CPU with `sev`;
//! - anything else, or a spin table without a release address: the kernel
//!   reports it and leaves the CPU alone.

use crate::dtb::{Dtb, Token, MAX_CPUS};
use crate::fdt_walk::{be32, be64};

/// How one CPU is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod<'a> {
    /// PSCI `CPU_ON`.
    Psci,
    /// Write the entry point to `release_addr`, then `sev`.
    SpinTable {
        /// The physical address of the CPU's release word.
        release_addr: u64,
    },
    /// `spin-table` without a (valid) `cpu-release-addr`.
    SpinTableNoAddress,
    /// A method the kernel does not know.
    Unknown(&'a str),
    /// No `enable-method` property (arm64 needs one for every secondary CPU).
    Missing,
}

/// One enabled CPU node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuNode<'a> {
    /// Its `reg`: the MPIDR affinity fields.
    pub mpidr: u64,
    /// How it is started.
    pub method: EnableMethod<'a>,
}

/// The enabled `/cpus/cpu@…` nodes, in tree order (at most [`MAX_CPUS`]).
pub fn cpu_nodes<'a>(dtb: &Dtb<'a>) -> ([Option<CpuNode<'a>>; MAX_CPUS], usize) {
    let mut out = [None; MAX_CPUS];
    let mut n = 0;
    let mut depth = 0usize;
    let mut in_cpus = false;
    let mut cpus_cells = 1u32;
    // The CPU node being read.
    let mut cpu = false;
    let (mut reg, mut method, mut release, mut disabled) = (None, None, None, false);
    for tok in dtb.tokens() {
        match tok {
            Token::Begin(name) => {
                depth += 1;
                if depth == 2 {
                    in_cpus = name == "cpus";
                }
                cpu = in_cpus && depth == 3 && name.split('@').next() == Some("cpu");
                (reg, method, release, disabled) = (None, None, None, false);
            }
            Token::Prop(p, v) => {
                if in_cpus && depth == 2 && p == "#address-cells" {
                    cpus_cells = be32(v, 0).unwrap_or(1);
                }
                // `cpu` holds only between a CPU node's start and its first
                // child or its end, where the properties are its own.
                if cpu {
                    match p {
                        "reg" => reg = Some(v),
                        "enable-method" => {
                            method = core::str::from_utf8(v).ok().map(|s| s.split('\0').next().unwrap_or(""))
                        }
                        "cpu-release-addr" => {
                            release = match v.len() {
                                8 => be64(v, 0),
                                4 => be32(v, 0).map(u64::from),
                                _ => None,
                            }
                        }
                        "status" => disabled = !matches!(v.split(|&b| b == 0).next(), Some(b"okay" | b"ok")),
                        _ => {}
                    }
                }
            }
            Token::End => {
                if cpu && !disabled && n < MAX_CPUS {
                    let mpidr = reg.and_then(|r| match cpus_cells {
                        1 => be32(r, 0).map(u64::from),
                        2 => be64(r, 0),
                        _ => None,
                    });
                    if let Some(mpidr) = mpidr {
                        let method = match (method, release) {
                            (Some("psci"), _) => EnableMethod::Psci,
                            (Some("spin-table"), Some(a)) => EnableMethod::SpinTable { release_addr: a },
                            (Some("spin-table"), None) => EnableMethod::SpinTableNoAddress,
                            (Some(other), _) => EnableMethod::Unknown(other),
                            (None, _) => EnableMethod::Missing,
                        };
                        out[n] = Some(CpuNode { mpidr, method });
                        n += 1;
                    }
                }
                cpu = false;
                if depth == 2 {
                    in_cpus = false;
                }
                depth = depth.saturating_sub(1);
            }
        }
    }
    (out, n)
}
