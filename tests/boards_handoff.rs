//! QEMU tests of the boards' hand-over, with a probe Image in place of the
//! kernel: the table's facts (RAM banks, console port, entry level, load
//! addresses, secondaries) checked against QEMU 7.2 itself, and the tree
//! reaching the kernel verbatim through the launcher's firmware step.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use vakern::boards::probe::{self, ProbeRelease, ProbeReport, ProbeUart};
use vakern::boards::{self, fdt_edit, linux_dtbs, Board, Secondaries, BOARDS, RASPI3B, VIRT, ZCU102};
use vakern::mm::dtb::{parse_memory, Dtb};

const GIB: u64 = 1 << 30;
const TIMEOUT: Duration = Duration::from_secs(30);

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vakern-handoff-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn qemu(b: &Board) -> Command {
    vakern::tools::ensure_programs().unwrap_or_else(|e| panic!("{e}"));
    let mut c = Command::new("qemu-system-aarch64");
    c.envs(b.qemu_env.iter().copied());
    c.args(["-display", "none", "-nic", "none", "-no-reboot"]);
    c
}

/// Run `c` to its end (killed at the timeout); (exit code, stdout + stderr).
fn run(mut c: Command) -> (Option<i32>, String) {
    let shown = format!("{c:?}");
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("cannot start QEMU: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || std::io::read_to_string(&mut out).unwrap_or_default());
    let t2 = std::thread::spawn(move || std::io::read_to_string(&mut err).unwrap_or_default());
    let (code, timed_out) = vakern::qemu::wait(&mut child, TIMEOUT);
    let text = t1.join().unwrap() + &t2.join().unwrap();
    assert!(!timed_out, "QEMU timed out: {shown}\n{text}");
    (code, text)
}

/// The tree a board boots with: Linux's (fetched if needed) or, for virt,
/// QEMU's own.
fn board_tree(b: &Board, ram: u64, work: &Path) -> Vec<u8> {
    match b.linux_dtb {
        Some(rel) => std::fs::read(linux_dtbs::ensure(rel).unwrap_or_else(|e| panic!("{e}"))).unwrap(),
        None => {
            let f = work.join("qemu.dtb");
            let mut c = qemu(b);
            c.args(b.qemu_machine_args(ram, 1, false).unwrap());
            c.args(["-machine", &format!("dumpdtb={}", f.display())]);
            let (code, out) = run(c);
            assert_eq!(code, Some(0), "dumpdtb failed: {out}");
            std::fs::read(&f).unwrap()
        }
    }
}

struct ProbeRun {
    report: ProbeReport,
    /// What each -serial port received.
    ports: Vec<String>,
}

/// Boot the probe on `b` the way the launcher hands a tree over verbatim.
fn boot_probe(b: &Board, ram: u64, smp: u32, el2: bool, tag: &str) -> ProbeRun {
    let work = dir(tag);
    let tree = fdt_edit::patch_for_boot(&board_tree(b, ram, &work), &b.ram_ranges(ram), Some("probe"))
        .unwrap_or_else(|e| panic!("{}: {e}", b.name));
    let uart = match b.console.compatible {
        "cdns,uart-r1p12" => ProbeUart::Cadence(b.console.pa),
        _ => ProbeUart::DataAtZero(b.console.pa),
    };
    let release = match b.secondaries {
        _ if smp < 2 => ProbeRelease::None,
        Secondaries::SpinTable { first } => ProbeRelease::SpinTable(first + 8),
        Secondaries::Psci("smc") => ProbeRelease::PsciSmc(1),
        Secondaries::Psci(_) => ProbeRelease::None,
    };
    let (img, dtb, fw) = (work.join("probe.img"), work.join("tree.dtb"), work.join("firmware.bin"));
    std::fs::write(&img, probe::probe_image(uart, release)).unwrap();
    std::fs::write(&dtb, &tree).unwrap();
    std::fs::write(&fw, b.firmware_blob()).unwrap();
    let mut c = qemu(b);
    c.args(b.qemu_machine_args(ram, smp, el2).unwrap());
    c.args(["-monitor", "none", "-semihosting-config", "enable=on,target=native"]);
    let ports: Vec<PathBuf> = (0..b.console.serial_ports).map(|i| work.join(format!("serial{i}.txt"))).collect();
    for p in &ports {
        c.arg("-serial").arg(format!("file:{}", p.display()));
    }
    c.args(b.handover_args(&img, &dtb, &fw));
    let (code, out) = run(c);
    assert_eq!(code, Some(0), "{}: the probe did not exit cleanly:\n{out}", b.name);
    let report = probe::parse_report(&out).unwrap_or_else(|| panic!("{}: no probe report in:\n{out}", b.name));
    let ports = ports.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect();
    let _ = std::fs::remove_dir_all(&work);
    ProbeRun { report, ports }
}

/// A pass means that on every board the firmware step enters the Image at
/// its load address with x0 = the tree (header intact), at the board's
/// entry level; the console named by the board's tree is on the -serial
/// the table says and no other; and a secondary core starts through the
/// board's enable-method (spin table on the Pi, PSCI CPU_ON on the ZCU102).
#[test]
fn handover_is_verbatim_on_each_board() {
    for b in BOARDS {
        let smp = b.smp.1.min(4);
        let r = boot_probe(b, b.ram.default, smp, false, b.name);
        let rep = r.report;
        assert_eq!(rep.x0, b.dtb_pa, "{}: x0", b.name);
        assert_eq!(rep.magic, 0xd00d_feed, "{}: x0 does not point at a tree", b.name);
        assert_eq!(rep.el, b.entry_el as u64, "{}: entry level", b.name);
        for (i, text) in r.ports.iter().enumerate() {
            let has = text.contains("probe-console");
            assert_eq!(has, i == b.console.serial, "{}: -serial #{i} got {text:?}", b.name);
        }
        match b.secondaries {
            Secondaries::SpinTable { .. } | Secondaries::Psci("smc") => {
                assert_eq!(rep.release, 0, "{}: release failed (PSCI code {:#x})", b.name, rep.release);
                assert_eq!(rep.flag & 0x1ff, 0x101, "{}: core 1 did not run (flag {:#x})", b.name, rep.flag);
            }
            _ => assert_eq!((rep.release, rep.flag), (u64::MAX, 0), "{}", b.name),
        }
    }
}

/// A pass means the ZCU102 enters at EL2 with virtualization=on and its
/// secondaries still wait, powered off, for PSCI.
#[test]
fn zcu102_el2_entry() {
    let r = boot_probe(&ZCU102, 2 * GIB, 2, true, "zcu-el2");
    assert_eq!(r.report.el, 2);
    assert_eq!((r.report.release, r.report.flag & 0x1ff), (0, 0x101));
}

/// The RAM ranges QEMU's `info mtree -f` shows for the ZCU102's DDR.
fn qemu_ddr_ranges(ram: u64) -> Vec<(u64, u64)> {
    let mut c = qemu(&ZCU102);
    c.args(ZCU102.qemu_machine_args(ram, 1, false).unwrap());
    c.args(["-S", "-monitor", "stdio", "-serial", "null"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("QEMU starts");
    child.stdin.take().unwrap().write_all(b"info mtree -f\nquit\n").unwrap();
    let (_, timed_out) = vakern::qemu::wait(&mut child, TIMEOUT);
    assert!(!timed_out, "QEMU did not quit");
    let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    // Only the CPUs' view: the flat view whose root is "system".
    let mut in_system = false;
    let mut v: Vec<(u64, u64)> = out
        .lines()
        .filter(|l| {
            if let Some(root) = l.trim().strip_prefix("Root memory region: ") {
                in_system = root == "system";
            }
            in_system && l.contains("): ddr-ram")
        })
        .filter_map(|l| {
            let (s, e) = l.trim().split_once(' ')?.0.split_once('-')?;
            let (s, e) = (u64::from_str_radix(s, 16).ok()?, u64::from_str_radix(e, 16).ok()?);
            Some((s, e + 1 - s))
        })
        .collect();
    v.sort();
    v
}

/// A pass means the table's ZCU102 RAM banks are the ones QEMU builds, at
/// sizes within and above the 2 GiB low bank.
#[test]
fn zcu102_ram_banks_match_qemu() {
    for ram in [GIB, 3 * GIB, 16 * GIB] {
        assert_eq!(qemu_ddr_ranges(ram), ZCU102.ram_ranges(ram), "at {}", boards::qemu_size(ram));
    }
}

/// The RAM a tree QEMU would hand over with `-dtb` describes.
fn qemu_rewritten_ram(b: &Board, ram: u64, tag: &str) -> Vec<(u64, u64)> {
    let work = dir(tag);
    let out = work.join("dump.dtb");
    let mut c = qemu(b);
    c.args(b.qemu_machine_args(ram, b.smp.1, false).unwrap());
    let linux = linux_dtbs::ensure(b.linux_dtb.unwrap()).unwrap_or_else(|e| panic!("{e}"));
    c.arg("-dtb").arg(linux);
    c.args(["-machine", &format!("dumpdtb={}", out.display())]);
    let (code, text) = run(c);
    assert_eq!(code, Some(0), "{text}");
    let blob = std::fs::read(&out).unwrap();
    let info = parse_memory(&Dtb::new(&blob).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&work);
    info.ram.iter().map(|r| (r.base, r.end - r.base)).collect()
}

/// A pass means QEMU's own `-dtb` rewrite is as recorded: right on the Pi
/// (the RAM below the GPU's 64 MiB), wrong on the ZCU102 above 2 GiB, where
/// it claims the device space [2 GiB, 4 GiB) as RAM. That is why the
/// launcher writes the memory node itself.
#[test]
fn qemu_dtb_rewrite_is_not_trusted() {
    assert_eq!(qemu_rewritten_ram(&RASPI3B, GIB, "pi"), RASPI3B.ram_ranges(GIB));
    assert_eq!(qemu_rewritten_ram(&ZCU102, 2 * GIB, "z2"), ZCU102.ram_ranges(2 * GIB));
    let wrong = qemu_rewritten_ram(&ZCU102, 4 * GIB, "z4");
    assert_eq!(wrong, vec![(0, 4 * GIB)]);
    assert_ne!(wrong, ZCU102.ram_ranges(4 * GIB));
    // virt has no Linux tree; its QEMU tree is used as it is.
    assert!(VIRT.linux_dtb.is_none());
}
