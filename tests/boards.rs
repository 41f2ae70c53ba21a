//! The kernel booted on QEMU's models of two real boards, with Linux's own
//! device trees handed over verbatim (the launcher's `--machine`): the
//! Raspberry Pi 3B (RAM at PA 0, mini UART console, spin-table CPUs) and the
//! ZCU102 (two RAM banks around device space, Cadence UART, PSCI by SMC).
//! Each configuration is its own named test; none assumes virt's addresses.

mod common;

use common::{boot, count, has, selftest, selftest_of, TEST_TIMEOUT};
use test_case::test_case;
use vakern::boards::{self, Board};
use vakern::qemu::Machine;

fn board(name: &str) -> &'static Board {
    boards::board(name).unwrap()
}

fn on(name: &str, ram: &str, smp: u32) -> Machine {
    Machine { board: board(name), ram: ram.into(), smp, timeout: TEST_TIMEOUT, ..Machine::default() }
}

/// The board's RAM as the boot log prints it: one line per range.
fn ram_lines(name: &str, ram: &str) -> Vec<String> {
    let b = board(name);
    let bytes = vakern::qemu::parse_size(ram).unwrap();
    b.ram_ranges(bytes)
        .iter()
        .map(|&(base, size)| format!("{} {}", vakern::mm::fmt::Addr(base), vakern::mm::fmt::Addr(base + size)))
        .collect()
}

/// A pass means the board boots to "Boot complete" and powers off, with
/// memstart_addr = 0 and a linear map from PAGE_OFFSET, every RAM range of
/// the board listed, the console its tree names, and nothing reported: no
/// warning, no error, no debug_virtual report.
#[test_case("raspi3b", "1G", false ; "raspi3b_clean_boot")]
#[test_case("raspi3b", "1G", true ; "raspi3b_clean_boot_debug_virtual")]
#[test_case("zcu102", "4G", false ; "zcu102_4g_clean_boot")]
#[test_case("zcu102", "4G", true ; "zcu102_4g_clean_boot_debug_virtual")]
#[test_case("zcu102", "1G", false ; "zcu102_1g_clean_boot")]
#[test_case("zcu102", "16G", false ; "zcu102_16g_clean_boot")]
fn clean_boot(name: &str, ram: &str, dv: bool) {
    let m = Machine { append: "poweroff".into(), ..on(name, ram, 1) };
    let out = boot(&m, dv);
    out.expect_code(0).unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = &out.console;
    has(
        c,
        &[
            "memstart_addr (PHYS_OFFSET) = 0x0000_0000_0000_0000",
            "Linear map: 0xffff_8000_0000_0000 .. ",
            "Boot complete.",
        ],
    );
    let b = board(name);
    has(c, &[&format!("at PA {} (from /chosen/stdout-path)", vakern::mm::fmt::Addr(b.console.pa))]);
    let lines = ram_lines(name, ram);
    has(c, &[&format!("{} RAM range(s)", lines.len())]);
    for l in &lines {
        assert!(c.contains(l.as_str()), "{name}: RAM range {l} missing:\n{c}");
    }
    assert_eq!(count(c, "WARNING"), 0, "{name}: a clean boot warned:\n{c}");
    assert_eq!(count(c, "rror"), 0, "{name}: a clean boot reported an error:\n{c}");
    if dv {
        has(c, &["debug_virtual: 0 report(s) during boot"]);
    }
}

/// The self-tests that one boot of a board configuration runs for
/// [`translation_selftests`] and [`zcu102_allocators`] (each reads its own
/// part of the console).
fn group(name: &str, ram: &str, dv: bool) -> &'static [&'static str] {
    match (name, ram, dv) {
        ("zcu102", "4G", false) => &["translate", "linear", "alloc", "vmalloc"],
        ("zcu102", "16G", false) => &["linear", "alloc"],
        ("zcu102", "1G", _) => &["alloc"],
        ("zcu102", "6G", _) => &["linear"],
        _ => &["translate", "linear"],
    }
}

/// A pass means the translation self-tests hold where RAM starts at PA 0
/// (the Pi) and where it is split in two banks (the ZCU102), with and
/// without debug_virtual checking every translation.
#[test_case("raspi3b", "1G", "translate", false ; "raspi3b_translate")]
#[test_case("raspi3b", "1G", "translate", true ; "raspi3b_translate_debug_virtual")]
#[test_case("raspi3b", "1G", "linear", false ; "raspi3b_linear")]
#[test_case("raspi3b", "1G", "linear", true ; "raspi3b_linear_debug_virtual")]
#[test_case("zcu102", "4G", "translate", false ; "zcu102_translate")]
#[test_case("zcu102", "4G", "translate", true ; "zcu102_translate_debug_virtual")]
#[test_case("zcu102", "4G", "linear", false ; "zcu102_linear")]
#[test_case("zcu102", "4G", "linear", true ; "zcu102_linear_debug_virtual")]
#[test_case("zcu102", "16G", "linear", false ; "zcu102_16g_linear")]
fn translation_selftests(name: &str, ram: &str, test: &str, dv: bool) {
    let c = selftest_of(on(name, ram, 1), test, group(name, ram, dv), dv);
    has(&c, &[&format!("selftest {test}: PASS")]);
    if test == "linear" && name == "zcu102" {
        // The device space between the banks is never mapped as RAM.
        has(&c, &["linear: hole PA 0x0000_0000_8000_0000 .. 0x0000_0008_0000_0000 is not mapped"]);
    }
}

/// A pass means all four CPUs come up through the tree's enable-method
/// (spin-table on the Pi, PSCI on the ZCU102) and translate alike.
#[test_case("raspi3b", "1G", false ; "raspi3b_smp_spin_table")]
#[test_case("raspi3b", "1G", true ; "raspi3b_smp_spin_table_debug_virtual")]
#[test_case("zcu102", "4G", false ; "zcu102_smp_psci")]
#[test_case("zcu102", "4G", true ; "zcu102_smp_psci_debug_virtual")]
fn four_cpus(name: &str, ram: &str, dv: bool) {
    let c = selftest(on(name, ram, 4), "smp", 0, dv);
    has(&c, &["SMP: Total of 4 processors activated.", "smp: 4 CPUs online", "selftest smp: PASS"]);
    for cpu in 1..4 {
        has(&c, &[&format!("CPU{cpu}: Booted secondary processor 0x000000000{cpu}")]);
        // The Pi's tree says spin-table, with release words at 0xd8 + 8 * N.
        let spin = format!("CPU{cpu}: released through the spin table at {}", vakern::mm::fmt::Addr(0xd8 + 8 * cpu));
        assert_eq!(c.contains(&spin), name == "raspi3b", "{name}: {spin:?}\n{c}");
    }
}

/// A pass means `--smp 2` on the Pi (whose QEMU model always has four
/// cores) brings up exactly two: the launcher passes maxcpus=2.
#[test]
fn raspi3b_maxcpus() {
    let c = selftest(on("raspi3b", "1G", 2), "smp", 0, false);
    has(&c, &["maxcpus=2", "SMP: Total of 2 processors activated.", "smp: 2 CPUs online"]);
}

/// A pass means each fault is caught and reported the same way on the
/// boards (a level-0 fault in TTBR0 and TTBR1, a permission fault on a
/// level-3 page, an instruction abort, the guard page).
#[test_case("raspi3b", "null-read", "user pgtable: empty (TTBR0 walks disabled)" ; "raspi3b_null_read")]
#[test_case("raspi3b", "unmapped-read", "level 0 translation fault" ; "raspi3b_unmapped_read")]
#[test_case("raspi3b", "rodata-write", "level 3 permission fault" ; "raspi3b_rodata_write")]
#[test_case("raspi3b", "exec-data", "EC = 0x21: IABT (current EL)" ; "raspi3b_exec_data")]
#[test_case("raspi3b", "stack-overflow", "level 3 translation fault" ; "raspi3b_stack_overflow")]
#[test_case("zcu102", "null-read", "user pgtable: empty (TTBR0 walks disabled)" ; "zcu102_null_read")]
#[test_case("zcu102", "unmapped-read", "level 0 translation fault" ; "zcu102_unmapped_read")]
#[test_case("zcu102", "rodata-write", "level 3 permission fault" ; "zcu102_rodata_write")]
#[test_case("zcu102", "exec-data", "EC = 0x21: IABT (current EL)" ; "zcu102_exec_data")]
#[test_case("zcu102", "stack-overflow", "level 3 translation fault" ; "zcu102_stack_overflow")]
fn faults(name: &str, kind: &str, line: &str) {
    let ram = if name == "zcu102" { "4G" } else { "1G" };
    let c = selftest(on(name, ram, 1), &format!("fault:{kind}"), 4, false);
    has(&c, &["Internal error: Oops:", "Call trace:", "stopping: kernel fault (exit code 4)", line]);
}

/// A pass means ptdump walks the board's tables: the linear map starts at
/// PAGE_OFFSET, the fixmap and the ioremapped console are there.
#[test_case("raspi3b", "1G" ; "raspi3b_ptdump")]
#[test_case("zcu102", "4G" ; "zcu102_ptdump")]
fn ptdump(name: &str, ram: &str) {
    let m = Machine { append: "ptdump poweroff".into(), ..on(name, ram, 1) };
    let out = boot(&m, false);
    out.expect_code(0).unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = &out.console;
    has(c, &["---[ Linear mapping ]---", "---[ Fixmap ]---"]);
    assert!(c.lines().any(|l| l.starts_with("0xffff800000000000-")), "{name}: linear map not at PAGE_OFFSET:\n{c}");
    assert!(c.lines().any(|l| l.contains("4K PTE") && l.contains("DEVICE/nGnRE")), "{name}: no UART mapping:\n{c}");
}

/// The cases of the debug_virtual corpus (kernel/src/selftest/dv_corpus.rs)
/// whose addresses depend on the board: RAM bounds, the console UART, the
/// load address, VA and PA 0. The rest are the same arithmetic everywhere
/// and run on virt (tests/debug_virtual.rs).
const DV_CASES: &[&str] = &[
    "pa-image-symbol",
    "pa-ioremap",
    "pa-null",
    "pa-beyond-ram",
    "va-non-ram",
    "pa-symbol-linear",
    "populate-image-table",
];

/// A pass means the board-dependent cases of the debug_virtual corpus get
/// their verdicts on the boards too: reported once and carried on, or stopped with a BUG.
#[test_case("raspi3b" ; "raspi3b_dv_corpus")]
#[test_case("zcu102" ; "zcu102_dv_corpus")]
fn dv_corpus(name: &str) {
    let stop = ["pa-symbol-linear"];
    let ram = if name == "zcu102" { "4G" } else { "1G" };
    for case in DV_CASES {
        let m = Machine { append: format!("test=dv:{case}"), ..on(name, ram, 1) };
        let out = boot(&m, true);
        let c = &out.console;
        if stop.contains(case) {
            assert_eq!(out.code, Some(5), "{name} dv:{case} should stop:\n{c}");
            has(c, &["kernel BUG at src/"]);
        } else {
            assert_eq!(out.code, Some(0), "{name} dv:{case} should carry on:\n{c}");
            has(c, &[&format!("dv {case}: result"), "debug_virtual reports: 1"]);
        }
    }
}

/// A pass means the allocators work across the ZCU102's banks at every
/// size from one bank to both (1G: the low bank only; 4G and 16G: both).
#[test_case("1G", "alloc" ; "zcu102_1g_alloc")]
#[test_case("4G", "alloc" ; "zcu102_4g_alloc")]
#[test_case("16G", "alloc" ; "zcu102_16g_alloc")]
#[test_case("4G", "vmalloc" ; "zcu102_4g_vmalloc")]
#[test_case("6G", "linear" ; "zcu102_6g_linear")]
fn zcu102_allocators(ram: &str, test: &str) {
    let c = selftest_of(on("zcu102", ram, 1), test, group("zcu102", ram, false), false);
    has(&c, &[&format!("selftest {test}: PASS")]);
}

/// Boot `m` and type `input` (then Ctrl-D) once the monitor's prompt is
/// there, as a person would: QEMU's Cadence UART model drops what arrives
/// before its receiver is enabled, and QEMU reads its input before the first
/// instruction runs. Returns (exit code, console).
fn type_at_prompt(m: &Machine, input: &str) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let k = common::kernel(false);
    let mut inv = m.command(&k.image).unwrap();
    let cmd = &mut inv.command;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("QEMU starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let input = input.to_string();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        let mut typed = false;
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if !typed && String::from_utf8_lossy(&seen).contains("vakern> ") {
                typed = true;
                let _ = stdin.write_all(input.as_bytes());
                let _ = stdin.write_all(&[vakern::qemu::END_OF_INPUT]);
            }
        }
        String::from_utf8_lossy(&seen).replace('\r', "")
    });
    let (code, timed_out) = vakern::qemu::wait(&mut child, m.timeout);
    let console = reader.join().unwrap();
    assert!(!timed_out, "timed out:\n{console}");
    (code, console)
}

/// A pass means the monitor reads its commands from each board's console
/// UART (receive works on the mini UART and the Cadence UART) and answers
/// with the board's translations: PA 0 is RAM, `__va(0)` is PAGE_OFFSET.
#[test_case("raspi3b", "1G" ; "raspi3b_monitor")]
#[test_case("zcu102", "4G" ; "zcu102_monitor")]
fn monitor(name: &str, ram: &str) {
    let (code, c) = type_at_prompt(&on(name, ram, 1), "va 0\npa 0xffff_8000_0000_1000\nx 0xffff_8000_0000_0000 8\n");
    assert_eq!(code, Some(0), "{name}:\n{c}");
    has(
        &c,
        &[
            "__va(0x0000_0000_0000_0000) = 0xffff_8000_0000_0000",
            "__pa(0xffff_8000_0000_1000) = 0x0000_0000_0000_1000 (linear rule)",
            "MMU (AT S1E1R): 0x0000_0000_0000_1000",
            "powering off",
        ],
    );
    assert!(!c.contains("MISMATCH"), "{c}");
}

/// QEMU's virt tree with `edit` applied to its DTS, and `bootargs`.
fn edited_virt_tree(name: &str, bootargs: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let memory =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n";
    let dtb = common::custom_dtb(name, "1G", memory, bootargs);
    let dts = edit(std::fs::read_to_string(dtb.with_extension("dts")).unwrap());
    common::compile_dts(&dts, &common::scratch("dtb").join(format!("{name}-edited.dtb")))
}

/// A pass means a CPU whose enable-method the kernel does not know is
/// reported and left alone, and the boot goes on with the others.
#[test]
fn unknown_enable_method_is_reported_and_left_alone() {
    let dtb = edited_virt_tree("acme-cpu", "test=layout", |dts| {
        let at = dts.find("\t\tcpu@0 {").expect("cpu@0 in QEMU's tree");
        let odd = "\t\tcpu@7 {\n\t\t\tdevice_type = \"cpu\";\n\t\t\tcompatible = \"arm,cortex-a72\";\n\t\t\treg = <0x07>;\n\t\t\tenable-method = \"acme,magic\";\n\t\t};\n";
        format!("{}{}{}", &dts[..at], odd, &dts[at..])
    });
    let c = selftest(common::raw(common::machine(), dtb), "layout", 0, false);
    has(
        &c,
        &[
            "MPIDR 0x7: enable-method Unknown(\"acme,magic\") not supported: left alone",
            "SMP: Total of 1 processors activated.",
        ],
    );
}

/// A pass means a tree that names no console leaves the kernel running
/// silently (its verdict still arrives as the exit code), and that
/// `earlycon=smh` then gives it the semihosting console.
#[test_case("poweroff", false ; "no_console_is_silent")]
#[test_case("poweroff earlycon=smh", true ; "earlycon_smh_prints")]
fn tree_without_a_console(bootargs: &str, prints: bool) {
    let name = if prints { "no-console-smh" } else { "no-console" };
    let dtb = edited_virt_tree(name, bootargs, |dts| {
        dts.lines().filter(|l| !l.contains("stdout-path")).map(|l| format!("{l}\n")).collect()
    });
    let out = boot(&common::raw(common::machine(), dtb), false);
    out.expect_code(0).unwrap();
    assert_eq!(out.console.contains("Boot complete."), prints, "{}", out.console);
    if prints {
        has(
            &out.console,
            &[
                "Console: semihosting (earlycon=smh)",
                "Console: not from stdout-path: the tree has no /chosen/stdout-path",
            ],
        );
    }
}
