//! Host tests of the kernel's console discovery (`vakern_mm::console`):
//! Linux's trees for the real boards, QEMU's virt trees, trees written here
//! for the corner cases, and `earlycon=` in Linux's syntax. A pass means the
//! kernel would print on the UART each board's own tree names.

use std::process::Command;
use vakern::boards::{linux_dtbs, Board, BOARDS, RASPI3B, ZCU102};
use vakern::mm::console::{find_console, parse_earlycon, Console, Skipped, Source, UartKind};
use vakern::mm::dtb::Dtb;

fn linux_tree(b: &Board) -> Vec<u8> {
    let rel = b.linux_dtb.expect("a board with a Linux tree");
    std::fs::read(linux_dtbs::ensure(rel).unwrap_or_else(|e| panic!("{e}"))).unwrap()
}

fn dtc(dts: &str) -> Vec<u8> {
    let d = std::env::temp_dir().join(format!("vakern-console-{}-{}.dts", std::process::id(), dts.len()));
    std::fs::write(&d, dts).unwrap();
    vakern::tools::ensure_programs().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("dtc").args(["-q", "-I", "dts", "-O", "dtb"]).arg(&d).output().expect("dtc runs");
    let _ = std::fs::remove_file(&d);
    assert!(out.status.success(), "dtc: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn uart(kind: UartKind, pa: u64, source: Source) -> Console {
    Console::Uart { kind, pa, source }
}

/// A pass means the Pi's mini UART (bus address 0x7e21_5040 through /soc's
/// ranges) and the ZCU102's Cadence UART are found from stdout-path, the
/// same place the board table puts the console.
#[test]
fn linux_trees_name_the_board_console() {
    for (b, kind) in [(&RASPI3B, UartKind::Bcm2835Aux), (&ZCU102, UartKind::Cadence)] {
        let blob = linux_tree(b);
        let dtb = Dtb::new(&blob).unwrap();
        let f = find_console(&dtb, "");
        assert_eq!(f.console, uart(kind, b.console.pa, Source::StdoutPath), "{}", b.name);
        assert_eq!(f.skipped, None);
    }
}

/// A pass means QEMU's own virt tree (at two RAM sizes) gives the PL011 at
/// 0x0900_0000, the address that used to be hard-coded.
#[test]
fn qemu_virt_tree_names_the_pl011() {
    let virt = BOARDS[0];
    for ram in ["1G", "4G"] {
        let f = std::env::temp_dir().join(format!("vakern-console-virt-{}-{ram}.dtb", std::process::id()));
        vakern::tools::ensure_programs().unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new("qemu-system-aarch64")
            .args(["-M", &format!("virt,dumpdtb={}", f.display()), "-cpu", "cortex-a72", "-m", ram])
            .args(["-display", "none", "-nic", "none"])
            .output()
            .expect("QEMU runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let blob = std::fs::read(&f).unwrap();
        let _ = std::fs::remove_file(&f);
        let f = find_console(&Dtb::new(&blob).unwrap(), "");
        assert_eq!(f.console, uart(UartKind::Pl011, virt.console.pa, Source::StdoutPath));
    }
}

const BASE: &str = "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n\
    memory@0 { device_type = \"memory\"; reg = <0 0 0 0x10000000>; };\n";

/// A pass means every step of the lookup is honoured: an alias with
/// options, a full path, nested ranges (two translations), an empty ranges
/// (identity), a missing ranges (not mapped), an unknown device, and
/// earlycon= as the fallback.
#[test]
fn lookup_rules() {
    let nested = format!(
        "{BASE} aliases {{ serial0 = \"/bus@f0000000/sub@100/serial@20\"; }};\n\
         chosen {{ stdout-path = \"serial0:115200n8\"; }};\n\
         bus@f0000000 {{ compatible = \"simple-bus\"; #address-cells = <1>; #size-cells = <1>;\n\
           ranges = <0x0 0x0 0xf0000000 0x1000000>;\n\
           sub@100 {{ #address-cells = <1>; #size-cells = <1>; ranges = <0x0 0x100000 0x1000>;\n\
             serial@20 {{ compatible = \"vendor,other\", \"arm,pl011\"; reg = <0x20 0x100>; }}; }}; }}; }};\n"
    );
    let blob = dtc(&nested);
    let f = find_console(&Dtb::new(&blob).unwrap(), "");
    assert_eq!(f.console, uart(UartKind::Pl011, 0xf010_0020, Source::StdoutPath));

    let identity = format!(
        "{BASE} chosen {{ stdout-path = \"/soc/uart@ff000000\"; }};\n\
         soc {{ #address-cells = <2>; #size-cells = <2>; ranges;\n\
           uart@ff000000 {{ compatible = \"cdns,uart-r1p12\", \"xlnx,xuartps\"; reg = <0 0xff000000 0 0x1000>; }}; }}; }};\n"
    );
    let blob = dtc(&identity);
    let f = find_console(&Dtb::new(&blob).unwrap(), "");
    assert_eq!(f.console, uart(UartKind::Cadence, 0xff00_0000, Source::StdoutPath));

    let unmapped = format!(
        "{BASE} chosen {{ stdout-path = \"/i2c/uart@4\"; }};\n\
         i2c {{ #address-cells = <1>; #size-cells = <0>;\n\
           uart@4 {{ compatible = \"arm,pl011\"; reg = <4>; }}; }}; }};\n"
    );
    let blob = dtc(&unmapped);
    let dtb = Dtb::new(&blob).unwrap();
    let f = find_console(&dtb, "loglevel=7");
    assert_eq!((f.console, f.skipped), (Console::None, Some(Skipped::NotMapped("/i2c/uart@4"))));
    let f = find_console(&dtb, "earlycon=pl011,mmio32,0x9000000,115200");
    assert_eq!(f.console, uart(UartKind::Pl011, 0x900_0000, Source::Earlycon));

    let unknown = format!(
        "{BASE} aliases {{ serial0 = \"/uart@1000\"; }}; chosen {{ stdout-path = \"serial0\"; }};\n\
         uart@1000 {{ compatible = \"ns16550a\"; reg = <0 0x1000 0 0x100>; }}; }};\n"
    );
    let blob = dtc(&unknown);
    let dtb = Dtb::new(&blob).unwrap();
    assert_eq!(find_console(&dtb, "").skipped, Some(Skipped::NoDriver("/uart@1000")));
    assert_eq!(find_console(&dtb, "earlycon=smh").console, Console::Semihosting);
    assert_eq!(find_console(&dtb, "earlycon").console, Console::None, "bare earlycon means stdout-path");

    let no_alias = format!("{BASE} chosen {{ stdout-path = \"serial3:9600\"; }}; }};\n");
    let blob = dtc(&no_alias);
    assert_eq!(find_console(&Dtb::new(&blob).unwrap(), "").skipped, Some(Skipped::NoSuchNode("serial3")));
    let none = format!("{BASE} }};\n");
    let blob = dtc(&none);
    let f = find_console(&Dtb::new(&blob).unwrap(), "earlycon=bcm2835aux,0x3f215040");
    assert_eq!(f.skipped, Some(Skipped::NoStdoutPath));
    assert_eq!(f.console, uart(UartKind::Bcm2835Aux, 0x3f21_5040, Source::Earlycon));
}

/// A pass means earlycon='s forms parse as Linux writes them and anything
/// else is refused, not guessed.
#[test]
fn earlycon_syntax() {
    let e = |k, pa| Some(uart(k, pa, Source::Earlycon));
    assert_eq!(parse_earlycon("pl011,0x9000000"), e(UartKind::Pl011, 0x900_0000));
    assert_eq!(parse_earlycon("pl011,mmio32,0x3f201000"), e(UartKind::Pl011, 0x3f20_1000));
    assert_eq!(parse_earlycon("cdns,0xff000000,115200n8"), e(UartKind::Cadence, 0xff00_0000));
    assert_eq!(parse_earlycon("bcm2835aux,0x3f215040"), e(UartKind::Bcm2835Aux, 0x3f21_5040));
    assert_eq!(parse_earlycon("smh"), Some(Console::Semihosting));
    for bad in ["", "pl011", "pl011,9000000", "uart8250,0x1000", "pl011,mmio32", "cdns,0xzz"] {
        assert_eq!(parse_earlycon(bad), None, "{bad:?}");
    }
}

/// A pass means each board's tree gives the enable-method the board table
/// records: spin-table with release words 0xd8 + 8 * N on the Pi, PSCI on
/// the ZCU102, for four CPUs.
#[test]
fn enable_methods_of_the_linux_trees() {
    use vakern::boards::Secondaries;
    use vakern::mm::enable_method::{cpu_nodes, EnableMethod};
    for b in [&RASPI3B, &ZCU102] {
        let blob = linux_tree(b);
        let dtb = Dtb::new(&blob).unwrap();
        let (cpus, n) = cpu_nodes(&dtb);
        assert_eq!(n, 4, "{}", b.name);
        for (i, c) in cpus[..n].iter().enumerate() {
            let c = c.unwrap();
            assert_eq!(c.mpidr, i as u64, "{}", b.name);
            let want = match b.secondaries {
                Secondaries::SpinTable { first } => EnableMethod::SpinTable { release_addr: first + 8 * i as u64 },
                Secondaries::Psci(_) => EnableMethod::Psci,
            };
            assert_eq!(c.method, want, "{} cpu {i}", b.name);
        }
    }
    let odd = dtc("/dts-v1/;\n/ { cpus { #address-cells = <1>; #size-cells = <0>;\n\
        cpu@0 { reg = <0>; enable-method = \"psci\"; };\n\
        cpu@1 { reg = <1>; enable-method = \"spin-table\"; };\n\
        cpu@2 { reg = <2>; enable-method = \"acme,magic\"; };\n\
        cpu@3 { reg = <3>; status = \"disabled\"; enable-method = \"psci\"; };\n\
        cpu@100 { reg = <0x100>; }; }; };\n");
    let (cpus, n) = cpu_nodes(&Dtb::new(&odd).unwrap());
    let got: Vec<_> = cpus[..n].iter().map(|c| c.map(|c| (c.mpidr, c.method))).collect();
    assert_eq!(
        got,
        [
            Some((0, EnableMethod::Psci)),
            Some((1, EnableMethod::SpinTableNoAddress)),
            Some((2, EnableMethod::Unknown("acme,magic"))),
            Some((0x100, EnableMethod::Missing)),
        ]
    );
}

/// A pass means the Raspberry Pi 4's tree, a board the launcher does not
/// boot, still gives what a real Pi 4 would need: the mini UART behind two
/// levels of addressing (bus 0x7e21_5040 -> CPU 0xfe21_5040) and the spin
/// table for its secondary cores.
#[test]
fn raspberry_pi_4_tree() {
    use vakern::mm::enable_method::{cpu_nodes, EnableMethod};
    let p = linux_dtbs::ensure("broadcom/bcm2711-rpi-4-b.dtb").unwrap_or_else(|e| panic!("{e}"));
    let blob = std::fs::read(p).unwrap();
    let dtb = Dtb::new(&blob).unwrap();
    assert_eq!(find_console(&dtb, "").console, uart(UartKind::Bcm2835Aux, 0xfe21_5040, Source::StdoutPath));
    let (cpus, n) = cpu_nodes(&dtb);
    assert_eq!(n, 4);
    assert_eq!(cpus[1].unwrap().method, EnableMethod::SpinTable { release_addr: 0xe0 });
}
