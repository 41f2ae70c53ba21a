//! SMP tests: a pass means every CPU of the machine is started with PSCI
//! (through HVC at EL1 and SMC when entered at EL2), comes through the boot
//! stub into the upper half on its own stack, translates every address the
//! way CPU0 does, sees a remap made on CPU0 after broadcast TLB maintenance,
//! and that a CPU that cannot start is reported instead of waited for.

mod common;
use common::*;
use test_case::test_case;
use vakern::qemu::{Kaslr, Machine};

fn smp(n: u32) -> Machine {
    Machine { smp: n, ..machine() }
}

#[test]
fn four_cpus_come_up_and_translate_alike() {
    let c = selftest(smp(4), "smp", 0, false);
    assert_eq!(count(&c, "Booted secondary processor"), 3, "{c}");
    assert!(c.contains("SMP: Total of 4 processors activated."), "{c}");
    assert!(c.contains("translated alike on 4 CPUs"), "{c}");
    assert!(c.contains("smp: 4 CPUs, each with its own logical number, stack and exception stack"), "{c}");
}

#[test_case(false ; "entered at EL1")]
#[test_case(true ; "entered at EL2")]
fn remap_reaches_every_cpu(el2: bool) {
    let c = selftest(Machine { el2, ..smp(4) }, "smp-tlb", 0, false);
    assert!(c.contains("a remap on CPU0 reached 3 other CPUs"), "{c}");
    assert!(c.contains("after a local-only TLBI"), "{c}");
}

#[test]
fn smp_with_kaslr_and_debug_virtual() {
    let c = selftest(Machine { kaslr: Kaslr::Seed(9), ..smp(2) }, "smp", 0, true);
    assert!(c.contains("SMP: Total of 2 processors activated."), "{c}");
    assert!(c.contains("debug_virtual: 0 report(s) during boot"), "{c}");
    assert!(c.contains("KASLR: image at KIMAGE_VADDR + "), "{c}");
}

/// QEMU's tree with a fifth CPU that QEMU does not have, and `test`.
fn phantom_cpu_dtb(test: &str) -> std::path::PathBuf {
    let memory =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n";
    let dtb = custom_dtb(&format!("phantom-cpu-{test}"), "1G", memory, &format!("test={test}"));
    let dts = std::fs::read_to_string(dtb.with_extension("dts")).unwrap();
    let at = dts.find("\t\tcpu@0 {").expect("cpu@0 in QEMU's tree");
    let phantom = "\t\tcpu@5 {\n\t\t\tdevice_type = \"cpu\";\n\t\t\tcompatible = \"arm,cortex-a72\";\n\t\t\treg = <0x05>;\n\t\t\tenable-method = \"psci\";\n\t\t};\n";
    let dts = format!("{}{}{}", &dts[..at], phantom, &dts[at..]);
    compile_dts(&dts, &scratch("dtb").join(format!("phantom-cpu-{test}-5.dtb")))
}

#[test]
fn a_cpu_that_cannot_start_is_reported() {
    let c = selftest(raw(machine(), phantom_cpu_dtb("layout")), "layout", 0, false);
    assert!(c.contains("CPU1: PSCI CPU_ON for MPIDR 0x5 failed"), "{c}");
    assert!(c.contains("SMP: Total of 1 processors activated."), "{c}");
}

#[test]
fn the_smp_selftest_notices_a_missing_cpu() {
    let c = selftest(raw(machine(), phantom_cpu_dtb("smp")), "smp", 1, false);
    assert!(c.contains("1 CPUs online, the device tree lists 2"), "{c}");
}

/// A failing test in a list (`test=smp,layout`) does not stop the tests
/// after it, and the boot exits with the failure's code.
#[test]
fn a_failure_in_a_list_of_selftests_is_the_exit_code() {
    let c = selftest(raw(machine(), phantom_cpu_dtb("smp,layout")), "smp,layout", 1, false);
    let smp_fail = c.find("selftest smp: FAIL").unwrap_or_else(|| panic!("no FAIL line for smp:\n{c}"));
    let layout = c.find("selftest layout: checking").unwrap_or_else(|| panic!("layout did not run:\n{c}"));
    assert!(smp_fail < layout, "layout ran before smp:\n{c}");
    assert!(c.contains("selftest layout: PASS"), "{c}");
}

/// More than 8 CPUs need GICv3 (`--gic-v3`, QEMU's `-M virt,gic-version=3`),
/// and with it QEMU numbers CPUs in clusters of 16: with `-smp 17` the 17th
/// CPU has MPIDR 0x100 (Aff1 = 1, Aff0 = 0), the same Aff0 as the boot CPU.
/// A pass means that CPU is started, and every CPU has its own logical
/// number (TPIDR_EL1), kernel stack and exception stack.
#[test]
fn clustered_mpidrs_get_their_own_per_cpu_data() {
    let m = Machine { gic_v3: true, timeout: std::time::Duration::from_secs(240), ..smp(17) };
    let c = selftest(m, "smp-percpu", 0, false);
    assert!(c.contains("CPU16: Booted secondary processor 0x0000000100"), "{c}");
    assert!(c.contains("smp: CPU16 MPIDR 0x100 (Aff1 1) logical 16"), "{c}");
    assert!(c.contains("smp: 17 CPUs, each with its own logical number, stack and exception stack"), "{c}");
}

/// QEMU's tree with a second CPU node (QEMU runs 2 CPUs) and its `/psci`
/// node's `compatible` and `cpu_on` replaced.
fn psci_dtb(name: &str, compatible: &str, cpu_on: u32) -> std::path::PathBuf {
    let memory =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n";
    let dtb = custom_dtb(&format!("psci-{name}"), "1G", memory, "test=layout");
    let dts = std::fs::read_to_string(dtb.with_extension("dts")).unwrap();
    let at = dts.find("\t\tcpu@0 {").expect("cpu@0 in QEMU's tree");
    let cpu1 = "\t\tcpu@1 {\n\t\t\tdevice_type = \"cpu\";\n\t\t\tcompatible = \"arm,cortex-a72\";\n\t\t\treg = <0x01>;\n\t\t\tenable-method = \"psci\";\n\t\t};\n";
    let mut dts = format!("{}{}{}", &dts[..at], cpu1, &dts[at..]);
    let psci = dts.find("\tpsci {").expect("psci node");
    let end = psci + dts[psci..].find("\t};").unwrap();
    let body: String = dts[psci..end]
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("compatible") {
                format!("\t\tcompatible = {compatible};")
            } else if l.trim_start().starts_with("cpu_on") {
                format!("\t\tcpu_on = <{cpu_on:#x}>;")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    dts.replace_range(psci..end, &format!("{body}\n"));
    compile_dts(&dts, &scratch("dtb").join(format!("psci-{name}-2.dtb")))
}

/// PSCI 0.1 firmware names its own function IDs in `/psci`: with
/// compatible "arm,psci" alone, the kernel calls the `cpu_on` it finds
/// there (an ID QEMU does not know fails with NOT_SUPPORTED, -1); a PSCI
/// 0.2 or later compatible uses the standard ID whatever `cpu_on` says.
#[test]
fn psci_0_1_function_ids_come_from_the_tree() {
    let bogus = 0x8400_00ee;
    let c = selftest(raw(smp(2), psci_dtb("v01-bogus", "\"arm,psci\"", bogus)), "layout", 0, false);
    assert!(c.contains("CPU1: PSCI CPU_ON for MPIDR 0x1 failed with -1"), "{c}");
    let c = selftest(raw(smp(2), psci_dtb("v01-qemu", "\"arm,psci\"", 0xc400_0003)), "layout", 0, false);
    assert!(c.contains("SMP: Total of 2 processors activated."), "{c}");
    let c = selftest(raw(smp(2), psci_dtb("v02", "\"arm,psci-0.2\", \"arm,psci\"", bogus)), "layout", 0, false);
    assert!(c.contains("SMP: Total of 2 processors activated."), "{c}");
}
