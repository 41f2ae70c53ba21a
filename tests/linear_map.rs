//! Linear map tests: a pass means that for each memory layout the kernel
//! maps all RAM (and nothing else) at PAGE_OFFSET with the fewest table
//! pages, sets memstart_addr from the lowest RAM, never hands out reserved
//! memory, and stops with a clear message on a device tree it cannot use.

mod common;
use common::*;
use test_case::{test_case, test_matrix};
use vakern::qemu::Machine;

fn ram(size: &str) -> Machine {
    Machine { ram: size.into(), ..machine() }
}

// Each layout boots the linear, alloc and vmalloc self-tests (one boot runs
// all three, each test reads its own part); the linear one also shows the
// tables the linear map took.
#[test_matrix(["128M", "1G", "4G", "16G"], ["linear", "alloc", "vmalloc"])]
fn ram_sizes(size: &str, test: &str) {
    let c = selftest_of(ram(size), test, &["linear", "alloc", "vmalloc"], false);
    let end = match size {
        "128M" => "0xffff_8000_0800_0000",
        "1G" => "0xffff_8000_4000_0000",
        "4G" => "0xffff_8001_0000_0000",
        _ => "0xffff_8004_0000_0000",
    };
    assert!(c.contains(&format!("     memory : 0xffff_8000_0000_0000 - {end}")), "{c}");
    assert!(c.contains("memstart_addr (PHYS_OFFSET) = 0x0000_0000_4000_0000"), "{c}");
    assert!(c.contains(&format!("Linear map: 0xffff_8000_0000_0000 .. {end}")), "{c}");
    if test == "linear" && size != "16G" {
        // 128 MiB: 2 MiB blocks in one level-2 table; 1 and 4 GiB: 1 GiB
        // blocks; in all three the first GiB is split around the image's
        // read-only alias, which takes one level-3 table.
        assert!(c.contains("linear map tables: L1 1 L2 1 L3 1"), "{c}");
    }
}

#[test_matrix(["linear", "alloc", "vmalloc"])]
fn two_numa_nodes(test: &str) {
    let m = Machine { ram: "2G".into(), numa: vec!["1G".into(), "1G".into()], ..machine() };
    let c = selftest_of(m, test, &["linear", "alloc", "vmalloc"], false);
    // QEMU lists the higher node first; both are found and merged.
    assert!(c.contains("1 RAM range(s) from 2 memory reg entr(ies)"), "{c}");
    assert!(c.contains("0x0000_0000_4000_0000 0x0000_0000_c000_0000"), "{c}");
}

/// Two RAM ranges with a hole, one of them described by a node that is not
/// called "memory" (device_type only), a disabled memory node, a no-map
/// reserved region inside the first range and a plain reserved one.
const HOLES: &str = "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x10000000>;\n\t};\n\
\tram@60000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x60000000 0x00 0x08200000>;\n\t};\n\
\tmemory@70000000 {\n\t\tdevice_type = \"memory\";\n\t\tstatus = \"disabled\";\n\t\treg = <0x00 0x70000000 0x00 0x1000000>;\n\t};\n\
\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\
\t\tsecure@4c000000 {\n\t\t\treg = <0x00 0x4c000000 0x00 0x00400000>;\n\t\t\tno-map;\n\t\t};\n\
\t\tshared@4e000000 {\n\t\t\treg = <0x00 0x4e000000 0x00 0x00100000>;\n\t\t};\n\t};\n";

#[test_matrix(["linear", "alloc", "vmalloc", "translate"])]
fn holes_and_no_map_region(test: &str) {
    let group = ["linear", "alloc", "vmalloc", "translate"];
    let c = selftest_of_with("holes", test, &group, false, || {
        raw(machine(), custom_dtb("holes", "1G", HOLES, &format!("test={}", group.join(","))))
    });
    assert!(c.contains("2 RAM range(s) from 2 memory reg entr(ies)"), "{c}");
    assert!(c.contains("reserved, no-map (secure@4c000000)"), "{c}");
    assert!(c.contains("reserved (shared@4e000000)"), "{c}");
    assert!(!c.contains("0x0000_0000_7000_0000"), "the disabled node was used: {c}");
    if test == "translate" {
        // no-map RAM is neither pfn_valid nor virt_addr_valid (Linux 4.10:
        // memblock_is_map_memory): the 4 MiB at 0x4c00_0000, every 64th page.
        assert!(c.contains("of them no-map RAM"), "{c}");
        assert!(c.contains("pages, 16 of them no-map RAM"), "{c}");
    }
    if test == "linear" {
        // Holes at [0x4c00_0000, 0x4c40_0000) and [0x5000_0000, 0x6000_0000);
        // the second range ends 2 MiB past a 32 MiB boundary.
        // L1: 1. L2: the 1 GiB at 0x4000_0000 is not whole, and neither is
        // 0x6000_0000's, but both lie in the same 1 GiB: 1. L3: only where the
        // image's read-only alias is cut out (all other edges are 2 MiB aligned).
        assert!(c.contains("linear map tables: L1 1 L2 1 L3 1"), "{c}");
    }
}

#[test]
fn unaligned_ram_needs_page_tables() {
    // RAM ending 64 KiB past a 2 MiB line: one level-3 table for the tail
    // (and one for the image's alias).
    let mem =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x08010000>;\n\t};\n";
    let dtb = custom_dtb("unaligned", "256M", mem, "test=linear");
    let c = selftest(raw(ram("256M"), dtb), "linear", 0, false);
    assert!(c.contains("linear map tables: L1 1 L2 1 L3 2"), "{c}");
}

#[test]
fn ram_beyond_cpu_pa_size_is_left_out_with_a_warning() {
    // cortex-a72 has 44 physical address bits: RAM described at 16 TiB is
    // dropped with a warning and the boot goes on.
    let mem = "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000 0x1000 0x00 0x00 0x40000000>;\n\t};\n";
    let dtb = custom_dtb("beyond-pa", "1G", mem, "test=linear");
    let c = selftest(raw(machine(), dtb), "linear", 0, false);
    assert!(c.contains("beyond the CPU's 44-bit physical address space: left out"), "{c}");
}

#[test_case("no-memory", "", "no memory node: the device tree describes no RAM" ; "no-memory")]
#[test_case(
    "no-kernel",
    "\tmemory@80000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x80000000 0x00 0x40000000>;\n\t};\n",
    "RAM does not contain the kernel image"
    ; "no-kernel"
)]
#[test_case(
    "beyond-48-bits",
    "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000 0xffff 0x80000000 0x01 0x00>;\n\t};\n",
    "lies beyond the 48-bit physical address space"
    ; "beyond-48-bits"
)]
#[test_case(
    "bad-cells",
    "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00>;\n\t};\n",
    "reg is not a whole number of (address, size) entries"
    ; "bad-cells"
)]
fn bad_device_tree_is_a_boot_error(name: &str, memory: &str, message: &str) {
    let dtb = custom_dtb(name, "1G", memory, "poweroff");
    let out = boot(&raw(machine(), dtb), false);
    out.expect_code(2).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(out.console.contains(message), "{name}: missing {message:?} in:\n{}", out.console);
}

#[test]
fn truncated_device_tree_is_a_boot_error() {
    let mem =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n";
    let good = custom_dtb("to-truncate", "1G", mem, "poweroff");
    let bytes = std::fs::read(&good).unwrap();
    // Keep the header (which still claims the full size) and cut the rest.
    let cut = scratch("dtb").join("truncated.dtb");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    // The loader copies only the file; the rest of RAM reads as zero, so the
    // structure block ends without FDT_END.
    let out = boot(&raw(machine(), cut), false);
    out.expect_code(2).unwrap();
    assert!(out.console.contains("device tree"), "{}", out.console);
    assert!(out.console.contains("malformed") || out.console.contains("truncated"), "{}", out.console);
}
