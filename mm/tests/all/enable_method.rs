//! Passing means: `cpu_nodes` lists exactly the enabled `/cpus/cpu@…`
//! nodes in tree order, with the MPIDR read with `/cpus`' own
//! `#address-cells` (1 when it has none, nothing for a count it cannot
//! read), and names each CPU's `enable-method`: PSCI, a spin table with
//! its 32- or 64-bit release address, a spin table without a usable one,
//! an unknown method or none; and it stops at `MAX_CPUS`.

use crate::common::FdtBuilder;
use vakern_mm::dtb::{Dtb, MAX_CPUS};
use vakern_mm::enable_method::{cpu_nodes, CpuNode, EnableMethod};

/// The `(mpidr, method)` pairs `cpu_nodes` finds in `blob`.
fn found(blob: &[u8]) -> Vec<(u64, EnableMethod<'_>)> {
    let (cpus, n) = cpu_nodes(&Dtb::new(blob).unwrap());
    assert!(cpus[n..].iter().all(Option::is_none), "entries past the count");
    cpus[..n].iter().map(|c| c.map(|c| (c.mpidr, c.method)).expect("a hole in the list")).collect()
}

/// A root with 2/2 cells and a memory node, then what `body` adds.
fn tree(body: impl FnOnce(&mut FdtBuilder)) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    b.begin("memory@40000000").prop_str("device_type", "memory").reg((2, 2), &[(0x4000_0000, 1 << 30)]).end();
    body(&mut b);
    b.end();
    b.finish()
}

#[test]
fn every_method_and_release_address_form() {
    let blob = tree(|b| {
        b.begin("cpus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[0]);
        b.begin("cpu@0").prop_u32("reg", &[0]).prop_str("enable-method", "psci").end();
        b.begin("cpu@1")
            .prop_u32("reg", &[1])
            .prop_str("enable-method", "spin-table")
            .prop_u32("cpu-release-addr", &[0, 0xe0])
            .end();
        b.begin("cpu@2")
            .prop_u32("reg", &[2])
            .prop_str("enable-method", "spin-table")
            .prop_u32("cpu-release-addr", &[0x8000_00f0])
            .end();
        // Twelve bytes are neither a 32- nor a 64-bit address.
        b.begin("cpu@3")
            .prop_u32("reg", &[3])
            .prop_str("enable-method", "spin-table")
            .prop_u32("cpu-release-addr", &[0, 0, 0xf8])
            .end();
        b.begin("cpu@4").prop_u32("reg", &[4]).prop_str("enable-method", "spin-table").end();
        b.begin("cpu@100").prop_u32("reg", &[0x100]).prop_str("enable-method", "acme,magic").end();
        b.begin("cpu@101").prop_u32("reg", &[0x101]).end();
        // A release address without the spin-table method is not used.
        b.begin("cpu@102").prop_u32("reg", &[0x102]).prop_u32("cpu-release-addr", &[0, 0xe8]).end();
        b.end();
    });
    assert_eq!(
        found(&blob),
        [
            (0, EnableMethod::Psci),
            (1, EnableMethod::SpinTable { release_addr: 0xe0 }),
            (2, EnableMethod::SpinTable { release_addr: 0x8000_00f0 }),
            (3, EnableMethod::SpinTableNoAddress),
            (4, EnableMethod::SpinTableNoAddress),
            (0x100, EnableMethod::Unknown("acme,magic")),
            (0x101, EnableMethod::Missing),
            (0x102, EnableMethod::Missing),
        ]
    );
}

#[test]
fn status_decides_which_cpus_count() {
    let blob = tree(|b| {
        b.begin("cpus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[0]);
        b.begin("cpu@0").prop_u32("reg", &[0]).prop_str("status", "okay").prop_str("enable-method", "psci").end();
        b.begin("cpu@1").prop_u32("reg", &[1]).prop_str("status", "disabled").prop_str("enable-method", "psci").end();
        b.begin("cpu@2").prop_u32("reg", &[2]).prop_str("status", "ok").prop_str("enable-method", "psci").end();
        b.begin("cpu@3").prop_u32("reg", &[3]).prop_str("status", "fail").prop_str("enable-method", "psci").end();
        b.begin("cpu@4").prop_u32("reg", &[4]).prop_str("enable-method", "psci").end();
        b.end();
    });
    assert_eq!(found(&blob), [(0, EnableMethod::Psci), (2, EnableMethod::Psci), (4, EnableMethod::Psci)]);
}

#[test]
fn mpidr_uses_the_cells_of_cpus() {
    // Two cells: the MPIDR's Aff3 lies in the first.
    let two = tree(|b| {
        b.begin("cpus").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[0]);
        b.begin("cpu@0").prop_u32("reg", &[0, 0]).prop_str("enable-method", "psci").end();
        b.begin("cpu@100000000").prop_u32("reg", &[1, 0x101]).prop_str("enable-method", "psci").end();
        // One cell where two are expected: no MPIDR, so not listed.
        b.begin("cpu@2").prop_u32("reg", &[2]).prop_str("enable-method", "psci").end();
        b.end();
    });
    assert_eq!(found(&two), [(0, EnableMethod::Psci), (0x1_0000_0101, EnableMethod::Psci)]);

    // No #address-cells in /cpus: one cell, whatever the root and the
    // nodes before /cpus say.
    let default = tree(|b| {
        b.begin("soc").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]).end();
        b.begin("cpus").prop_u32("#size-cells", &[0]);
        b.begin("cpu@7").prop_u32("reg", &[7]).prop_str("enable-method", "psci").end();
        b.end();
    });
    assert_eq!(found(&default), [(7, EnableMethod::Psci)]);

    // Three cells: not an MPIDR the kernel can read.
    let three = tree(|b| {
        b.begin("cpus").prop_u32("#address-cells", &[3]).prop_u32("#size-cells", &[0]);
        b.begin("cpu@0").prop_u32("reg", &[0, 0, 0]).prop_str("enable-method", "psci").end();
        b.end();
    });
    assert_eq!(found(&three), []);
}

#[test]
fn only_cpu_nodes_directly_under_cpus() {
    let blob = tree(|b| {
        // Same names elsewhere: not CPUs.
        b.begin("soc").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
        b.begin("cpu@9").prop_u32("reg", &[9]).prop_str("enable-method", "psci").end();
        b.begin("cpus");
        b.begin("cpu@8").prop_u32("reg", &[8]).prop_str("enable-method", "psci").end();
        b.end();
        b.end();
        b.begin("cpus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[0]);
        b.begin("cpu@0").prop_u32("reg", &[0]).prop_str("enable-method", "psci").end();
        // Other children of /cpus are no CPUs, whatever their properties.
        b.begin("cpu-map").begin("cluster0").begin("core0").prop_u32("cpu", &[1]).end().end().end();
        b.begin("l2-cache0").prop_u32("reg", &[5]).prop_str("enable-method", "psci").end();
        b.begin("cpu@1").prop_u32("reg", &[1]).prop_str("enable-method", "spin-table").end();
        b.end();
        // After /cpus, at the same depths again.
        b.begin("bus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[0]);
        b.begin("cpu@3").prop_u32("reg", &[3]).prop_str("enable-method", "psci").end();
        b.end();
        b.begin("cpu@4").prop_u32("reg", &[4]).prop_str("enable-method", "psci").end();
    });
    assert_eq!(found(&blob), [(0, EnableMethod::Psci), (1, EnableMethod::SpinTableNoAddress)]);
}

#[test]
fn at_most_max_cpus_are_listed() {
    let blob = tree(|b| {
        b.begin("cpus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[0]);
        for i in 0..MAX_CPUS as u32 + 3 {
            b.begin(&format!("cpu@{i:x}")).prop_u32("reg", &[i]).prop_str("enable-method", "psci").end();
        }
        b.end();
    });
    let (cpus, n) = cpu_nodes(&Dtb::new(&blob).unwrap());
    assert_eq!(n, MAX_CPUS);
    for (i, c) in cpus.iter().enumerate() {
        assert_eq!(*c, Some(CpuNode { mpidr: i as u64, method: EnableMethod::Psci }));
    }
}
