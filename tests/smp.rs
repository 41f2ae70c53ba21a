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
