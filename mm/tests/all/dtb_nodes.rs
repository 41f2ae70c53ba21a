//! Passing means: `parse_memory` reads the nodes the kernel takes besides
//! memory exactly: the PSCI node's method, its first PSCI compatible string
//! and its `cpu_on` function ID, only at `/psci`; every enabled `/cpus/cpu@N`
//! with a one- or two-cell `reg` as an MPIDR, counted, and nothing else
//! under `/cpus`; and each memory node's `numa-node-id`, only when it is one
//! cell. The trees are QEMU's own (a fixture) and small ones built here.

use crate::common::{fixture, FdtBuilder};
use vakern_mm::dtb::{parse_memory, Dtb, MemoryInfo};
use vakern_mm::ranges::Range;

fn parse(blob: &[u8]) -> MemoryInfo<'_> {
    parse_memory(&Dtb::new(blob).unwrap()).unwrap()
}

fn cpus(info: &MemoryInfo) -> Vec<u64> {
    info.cpus[..info.ncpus].to_vec()
}

#[test]
fn qemu_virt_psci_and_cpus() {
    let blob = fixture("qemu-virt-1g.dtb");
    let info = parse(&blob);
    assert_eq!(info.psci_method, Some("hvc"));
    // "arm,psci-1.0" comes first in QEMU's list: not the 0.1 interface.
    assert!(!info.psci_v0_1);
    assert_eq!(info.psci_cpu_on, Some(0xc400_0003));
    assert_eq!(cpus(&info), [0]);
    assert_eq!(info.cpus_total, 1);
}

/// A tree with a PSCI 0.1 node, four CPU nodes (one disabled, one with no
/// `reg`), a non-CPU node under /cpus, decoys at the wrong depth, and
/// memory nodes with good and bad `numa-node-id`s.
fn tree(cpu_cells: u32) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    b.begin("psci").prop_str("method", "smc").prop("compatible", b"arm,psci\0arm,psci-0.2\0");
    b.prop_u32("cpu_on", &[0x8400_0003]).end();
    b.begin("cpus").prop_u32("#address-cells", &[cpu_cells]).prop_u32("#size-cells", &[0]);
    let reg = |b: &mut FdtBuilder, mpidr: u64| {
        if cpu_cells == 1 {
            b.prop_u32("reg", &[mpidr as u32]);
        } else {
            b.prop_u32("reg", &[(mpidr >> 32) as u32, mpidr as u32]);
        }
    };
    b.begin("cpu@0").prop_str("device_type", "cpu");
    reg(&mut b, 0);
    b.end();
    b.begin("cpu@100").prop_str("device_type", "cpu");
    reg(&mut b, 0x100);
    b.end();
    b.begin("cpu@200").prop_str("status", "disabled");
    reg(&mut b, 0x200);
    b.end();
    b.begin("cpu@300").end();
    b.begin("cpu-map");
    reg(&mut b, 0x400);
    b.begin("cpu@500");
    reg(&mut b, 0x500);
    b.end().end();
    b.end();
    // Not /psci, not /cpus: ignored.
    b.begin("soc").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    b.begin("psci").prop_str("method", "hvc").prop_u32("cpu_on", &[1]).end();
    b.begin("cpu@600");
    b.prop_u32("reg", &[0, 0x600]);
    b.end().end();
    b.begin("memory@40000000").prop_str("device_type", "memory").reg((2, 2), &[(0x4000_0000, 0x1000_0000)]);
    b.prop_u32("numa-node-id", &[1]).end();
    b.begin("memory@80000000").prop_str("device_type", "memory").reg((2, 2), &[(0x8000_0000, 0x1000_0000)]);
    b.prop_u32("numa-node-id", &[2, 3]).end();
    b.begin("memory@c0000000").prop_str("device_type", "memory").reg((2, 2), &[(0xc000_0000, 0x1000_0000)]);
    b.end();
    b.end();
    b.finish()
}

#[test]
fn psci_is_read_at_its_place_only() {
    let blob = tree(1);
    let info = parse(&blob);
    assert_eq!(info.psci_method, Some("smc"));
    assert!(info.psci_v0_1, "the first PSCI string is arm,psci");
    assert_eq!(info.psci_cpu_on, Some(0x8400_0003));
}

#[test]
fn enabled_cpus_with_a_reg_are_counted_with_one_or_two_cells() {
    for cells in [1, 2] {
        let blob = tree(cells);
        let info = parse(&blob);
        assert_eq!(cpus(&info), [0, 0x100], "{cells} cell(s)");
        assert_eq!(info.cpus_total, 2, "{cells} cell(s)");
    }
    // Three cells is no MPIDR: no CPU is read.
    let blob = tree(3);
    assert_eq!(parse(&blob).cpus_total, 0);
}

#[test]
fn numa_node_ids_of_one_cell_are_kept() {
    let blob = tree(1);
    let info = parse(&blob);
    let numa: Vec<(u32, Range)> = info.numa.iter().flatten().copied().collect();
    assert_eq!(numa, [(1, Range { base: 0x4000_0000, end: 0x5000_0000 })]);
}
