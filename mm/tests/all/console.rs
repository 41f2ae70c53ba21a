//! Passing means: `find_console` takes `/chosen/stdout-path` (a path or an
//! alias, options dropped) when it names a UART the kernel drives, reaching
//! its CPU physical address through every bus's `ranges` (empty: identity;
//! missing or malformed: not mapped), says why it passed stdout-path over,
//! and otherwise falls back to the last `earlycon` word of the command line
//! in Linux's syntax.

use crate::common::FdtBuilder;
use vakern_mm::console::*;
use vakern_mm::dtb::Dtb;

fn uart(kind: UartKind, pa: u64) -> Console {
    Console::Uart { kind, pa, source: Source::StdoutPath }
}

fn early(kind: UartKind, pa: u64) -> Option<Console> {
    Some(Console::Uart { kind, pa, source: Source::Earlycon })
}

/// A root with 2/2 cells, then what `body` adds.
fn tree(body: impl FnOnce(&mut FdtBuilder)) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    body(&mut b);
    b.end();
    b.finish()
}

fn chosen(b: &mut FdtBuilder, stdout: &str) {
    b.begin("chosen").prop_str("stdout-path", stdout).end();
}

fn find<'a>(blob: &'a [u8], cmdline: &str) -> Found<'a> {
    find_console(&Dtb::new(blob).unwrap(), cmdline)
}

#[test]
fn compatible_and_earlycon_names() {
    use UartKind::*;
    let known = [
        ("arm,pl011", Pl011),
        ("cdns,uart-r1p12", Cadence),
        ("cdns,uart-r1p8", Cadence),
        ("xlnx,xuartps", Cadence),
        ("xlnx,zynqmp-uart", Cadence),
        ("brcm,bcm2835-aux-uart", Bcm2835Aux),
    ];
    for (c, k) in known {
        assert_eq!(UartKind::from_compatible(c), Some(k), "{c}");
    }
    for c in ["ns16550a", "arm,pl011x", "", "brcm,bcm2835-uart"] {
        assert_eq!(UartKind::from_compatible(c), None, "{c}");
    }
    assert_eq!(UartKind::from_earlycon("pl011"), Some(Pl011));
    assert_eq!(UartKind::from_earlycon("cdns"), Some(Cadence));
    assert_eq!(UartKind::from_earlycon("bcm2835aux"), Some(Bcm2835Aux));
    assert_eq!(UartKind::from_earlycon("uart8250"), None);
    assert_eq!([Pl011.name(), Cadence.name(), Bcm2835Aux.name()], ["PL011", "Cadence UART", "BCM2835 mini UART"]);
}

#[test]
fn earlycon_values() {
    use UartKind::*;
    assert_eq!(parse_earlycon("pl011,0x9000000"), early(Pl011, 0x900_0000));
    assert_eq!(parse_earlycon("pl011,mmio,0x9000000"), early(Pl011, 0x900_0000));
    assert_eq!(parse_earlycon("pl011,mmio32,0X3F201000"), early(Pl011, 0x3f20_1000));
    assert_eq!(parse_earlycon("cdns,0xff000000,115200n8"), early(Cadence, 0xff00_0000));
    assert_eq!(parse_earlycon("bcm2835aux,0x3f215040"), early(Bcm2835Aux, 0x3f21_5040));
    assert_eq!(parse_earlycon("smh"), Some(Console::Semihosting));
    for bad in ["", "smh2", "pl011", "pl011,9000000", "uart8250,0x1000", "pl011,mmio32", "cdns,0xzz", "pl011,0x"] {
        assert_eq!(parse_earlycon(bad), None, "{bad:?}");
    }
}

#[test]
fn the_last_earlycon_word_of_the_command_line_counts() {
    // No stdout-path: the command line decides.
    let blob = tree(|_| {});
    let f = find(&blob, "earlycon=pl011,0x9000000 quiet");
    assert_eq!(f.console, early(UartKind::Pl011, 0x900_0000).unwrap());
    assert_eq!(f.skipped, Some(Skipped::NoStdoutPath));
    let f = find(&blob, "earlycon=pl011,0x9000000 earlycon=cdns,0xff000000 loglevel=7");
    assert_eq!(f.console, early(UartKind::Cadence, 0xff00_0000).unwrap());
    assert_eq!(find(&blob, "earlycon=smh").console, Console::Semihosting);
    // A bare `earlycon` means stdout-path, which gave nothing here.
    assert_eq!(find(&blob, "earlycon=pl011,0x9000000 earlycon").console, Console::None);
    for none in ["", "quiet", "earlycon=bogus", "xearlycon=pl011,0x1000", "earlycons=pl011,0x1000", "earlycon2"] {
        assert_eq!(find(&blob, none).console, Console::None, "{none:?}");
    }
}

#[test]
fn stdout_path_by_path_or_alias_with_options() {
    let dev = |b: &mut FdtBuilder| {
        b.begin("aliases").prop_str("serial1", "/other").prop_str("serial0", "/uart@9000000").end();
        b.begin("uart@9000000").prop_str("compatible", "arm,pl011").reg((2, 2), &[(0x900_0000, 0x1000)]).end();
    };
    for stdout in ["/uart@9000000", "/uart@9000000:115200n8", "serial0", "serial0:115200n8", "/uart"] {
        let blob = tree(|b| {
            chosen(b, stdout);
            dev(b);
        });
        let f = find(&blob, "earlycon=cdns,0xff000000");
        assert_eq!((f.console, f.skipped), (uart(UartKind::Pl011, 0x900_0000), None), "{stdout}");
    }
    // The alias resolves to a path; stdout_node says which.
    let blob = tree(|b| {
        chosen(b, "serial0:9600");
        dev(b);
    });
    assert_eq!(stdout_node(&Dtb::new(&blob).unwrap()), Ok("/uart@9000000"));
}

#[test]
fn only_chosen_and_aliases_directly_under_the_root_count() {
    let blob = tree(|b| {
        b.begin("soc").begin("chosen").prop_str("stdout-path", "/soc/wrong").end().end();
        chosen(b, "serial0");
        b.begin("other").prop_str("stdout-path", "/wrong").prop_str("serial0", "/wrong").end();
        b.begin("soc2").begin("aliases").prop_str("serial0", "/wrong").end().end();
        b.begin("aliases").prop_str("serial0", "/right").end();
        b.begin("other2").prop_str("serial0", "/wrong").end();
    });
    assert_eq!(stdout_node(&Dtb::new(&blob).unwrap()), Ok("/right"));

    // A chosen node deeper down is not /chosen.
    let blob = tree(|b| {
        b.begin("soc").begin("chosen").prop_str("stdout-path", "/soc/wrong").end().end();
    });
    assert_eq!(stdout_node(&Dtb::new(&blob).unwrap()), Err(Skipped::NoStdoutPath));
}

#[test]
fn why_stdout_path_was_passed_over() {
    // An alias that does not exist, or that is not a path.
    let blob = tree(|b| {
        chosen(b, "serial3:9600");
        b.begin("aliases").prop_str("serial0", "/uart@0").prop_str("serial2", "uart@0").end();
    });
    let f = find(&blob, "earlycon=bcm2835aux,0x3f215040");
    assert_eq!(f.skipped, Some(Skipped::NoSuchNode("serial3")));
    assert_eq!(f.console, early(UartKind::Bcm2835Aux, 0x3f21_5040).unwrap());
    let blob = tree(|b| {
        chosen(b, "serial2");
        b.begin("aliases").prop_str("serial0", "/uart@0").prop_str("serial2", "uart@0").end();
    });
    assert_eq!(find(&blob, "").skipped, Some(Skipped::NoSuchNode("serial2")));

    // A path to no node; the root; a path deeper than any tree may be.
    for path in ["/uart@1", "/", "/soc/uart@0", &"/a".repeat(17)] {
        let blob = tree(|b| {
            chosen(b, path);
            b.begin("uart@0").prop_str("compatible", "arm,pl011").reg((2, 2), &[(0, 0x1000)]).end();
        });
        let f = find(&blob, "");
        assert_eq!((f.console, f.skipped), (Console::None, Some(Skipped::NoSuchNode(path))), "{path}");
    }

    // A device the kernel has no driver for; the first compatible it knows counts.
    let blob = tree(|b| {
        chosen(b, "/uart@1000");
        b.begin("uart@1000").prop_str("compatible", "ns16550a").reg((2, 2), &[(0x1000, 0x100)]).end();
    });
    assert_eq!(find(&blob, "").skipped, Some(Skipped::NoDriver("/uart@1000")));
    let blob = tree(|b| {
        chosen(b, "/uart@1000");
        b.begin("uart@1000")
            .prop("compatible", b"ns16550a\0xlnx,xuartps\0arm,pl011\0")
            .reg((2, 2), &[(0x1000, 0x100)])
            .end();
    });
    assert_eq!(find(&blob, "").console, uart(UartKind::Cadence, 0x1000));
    let blob = tree(|b| {
        chosen(b, "/uart@1000");
        b.begin("uart@1000").reg((2, 2), &[(0x1000, 0x100)]).end();
    });
    assert_eq!(find(&blob, "").skipped, Some(Skipped::NoDriver("/uart@1000")));

    // No reg; a bus without ranges.
    let blob = tree(|b| {
        chosen(b, "/uart@1000");
        b.begin("uart@1000").prop_str("compatible", "arm,pl011").end();
    });
    assert_eq!(find(&blob, "").skipped, Some(Skipped::NotMapped("/uart@1000")));
    let blob = tree(|b| {
        chosen(b, "/i2c/uart@4");
        b.begin("i2c").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[0]);
        b.begin("uart@4").prop_str("compatible", "arm,pl011").prop_u32("reg", &[4]).end();
        b.end();
    });
    let f = find(&blob, "loglevel=7");
    assert_eq!((f.console, f.skipped), (Console::None, Some(Skipped::NotMapped("/i2c/uart@4"))));
}

#[test]
fn node_names_match_with_or_without_the_unit_address() {
    let blob = |stdout: &'static str| {
        tree(move |b| {
            chosen(b, stdout);
            b.begin("soc").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]).prop_empty("ranges");
            b.begin("gpio@100").prop_str("compatible", "brcm,bcm2835-aux-uart").prop_u32("reg", &[0x100, 4]).end();
            b.begin("serial@1000").prop_str("compatible", "arm,pl011").prop_u32("reg", &[0x1000, 4]).end();
            b.begin("serial@2000").prop_str("compatible", "xlnx,xuartps").prop_u32("reg", &[0x2000, 4]).end();
            b.end();
        })
    };
    assert_eq!(find(&blob("/soc/serial"), "").console, uart(UartKind::Pl011, 0x1000));
    assert_eq!(find(&blob("/soc/serial@2000"), "").console, uart(UartKind::Cadence, 0x2000));
    assert_eq!(find(&blob("/soc@0/serial@1000"), "").skipped, Some(Skipped::NoSuchNode("/soc@0/serial@1000")));
    assert_eq!(find(&blob("/soc/ser"), "").skipped, Some(Skipped::NoSuchNode("/soc/ser")));
    assert_eq!(find(&blob("/soc/serial@3000"), "").skipped, Some(Skipped::NoSuchNode("/soc/serial@3000")));
}

#[test]
fn a_path_is_matched_from_the_root_one_level_at_a_time() {
    // /bus/uart is not /other/uart, even after a /bus without a uart; and
    // nothing of that first /bus (its cells, its ranges) carries over.
    let blob = tree(|b| {
        chosen(b, "/bus/uart");
        b.begin("bus@1").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
        b.prop_u32("ranges", &[0, 0, 0x9000_0000, 0x1000]).end();
        b.begin("other").prop_empty("ranges");
        b.begin("uart").prop_str("compatible", "arm,pl011").reg((2, 2), &[(0x10, 4)]).end();
        b.end();
        b.begin("bus@2").prop_empty("ranges");
        b.begin("uart").prop_str("compatible", "xlnx,xuartps").prop_u32("reg", &[0, 0x20, 4]).end();
        b.end();
    });
    assert_eq!(find(&blob, "").console, uart(UartKind::Cadence, 0x20));
    // The same second /bus without ranges: not mapped, whatever the first had.
    let blob = tree(|b| {
        chosen(b, "/bus/uart");
        b.begin("bus@1").prop_u32("ranges", &[0, 0, 0, 0x9000_0000, 0x1000]).end();
        b.begin("bus@2");
        b.begin("uart").prop_str("compatible", "xlnx,xuartps").prop_u32("reg", &[0, 0x20, 4]).end();
        b.end();
    });
    assert_eq!(find(&blob, "").skipped, Some(Skipped::NotMapped("/bus/uart")));
    let blob = tree(|b| {
        chosen(b, "/bus/uart");
        b.begin("bus@1").prop_empty("ranges").end();
        b.begin("other").prop_empty("ranges");
        b.begin("uart").prop_str("compatible", "arm,pl011").reg((2, 2), &[(0x10, 4)]).end();
        b.end();
    });
    assert_eq!(find(&blob, "").skipped, Some(Skipped::NoSuchNode("/bus/uart")));
    // A node of the same name one level too deep is not the one.
    let blob = tree(|b| {
        chosen(b, "/uart");
        b.begin("bus").prop_empty("ranges");
        b.begin("uart").prop_str("compatible", "arm,pl011").reg((2, 2), &[(0x10, 4)]).end();
        b.end();
    });
    assert_eq!(find(&blob, "").skipped, Some(Skipped::NoSuchNode("/uart")));
}

#[test]
fn the_deepest_node_a_tree_may_have_is_found() {
    // The root and fifteen levels below it: sixteen, the most a tree may nest.
    let names: Vec<String> = (1..=15).map(|i| format!("n{i}")).collect();
    let path = format!("/{}", names.join("/"));
    let blob = tree(|b| {
        chosen(b, &path);
        for n in &names[..14] {
            b.begin(n).prop_empty("ranges");
        }
        b.begin(&names[14]).prop_str("compatible", "arm,pl011").reg((2, 1), &[(0xabc0, 4)]).end();
        for _ in 0..14 {
            b.end();
        }
    });
    assert_eq!(find(&blob, "").console, uart(UartKind::Pl011, 0xabc0));
}

#[test]
fn ranges_translate_through_every_bus() {
    // Two translations: a 1-cell bus under the 2-cell root, a 1-cell bus under it.
    let blob = tree(|b| {
        b.begin("aliases").prop_str("serial0", "/bus@f0000000/sub@100/serial@20").end();
        chosen(b, "serial0:115200n8");
        b.begin("bus@f0000000").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
        // Entries: (child, parent (2 cells), size).
        b.prop_u32("ranges", &[0x0, 0, 0xf000_0000, 0x10_0000, 0x10_0000, 0, 0xe000_0000, 0x10_0000]);
        b.begin("sub@100").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
        b.prop_u32("ranges", &[0x0, 0x10_0100, 0x1000]);
        b.begin("serial@20").prop("compatible", b"vendor,other\0arm,pl011\0").prop_u32("reg", &[0x20, 0x100]).end();
        b.end();
        b.end();
    });
    // 0x20 -> 0x10_0120 in bus@f0000000 (second entry) -> 0xe000_0120.
    assert_eq!(find(&blob, "").console, uart(UartKind::Pl011, 0xe000_0120));

    // A bus with two address cells and one size cell, reached through an
    // identity bus (empty ranges) whose cells differ from the root's.
    let bus = |reg: u32| {
        tree(move |b| {
            chosen(b, "/soc/bus/uart");
            b.begin("soc").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]).prop_empty("ranges");
            b.begin("bus").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[1]);
            b.prop_u32("ranges", &[0x7, 0x7e00_0000, 0xfe00_0000, 0x100_0000]);
            b.begin("uart").prop_str("compatible", "brcm,bcm2835-aux-uart").prop_u32("reg", &[0x7, reg, 0x40]).end();
            b.end();
            b.end();
        })
    };
    assert_eq!(find(&bus(0x7e21_5040), "").console, uart(UartKind::Bcm2835Aux, 0xfe21_5040));
    // The first and last byte of the window translate; the bytes around it do not.
    assert_eq!(find(&bus(0x7e00_0000), "").console, uart(UartKind::Bcm2835Aux, 0xfe00_0000));
    assert_eq!(find(&bus(0x7eff_ffff), "").console, uart(UartKind::Bcm2835Aux, 0xfeff_ffff));
    for outside in [0x7dff_ffff, 0x7f00_0000] {
        assert_eq!(find(&bus(outside), "").skipped, Some(Skipped::NotMapped("/soc/bus/uart")), "{outside:#x}");
    }

    // Two size cells, under a 2-cell root.
    let blob = tree(|b| {
        chosen(b, "/bus/uart");
        b.begin("bus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[2]);
        b.prop_u32("ranges", &[0x0, 0x1, 0x0, 0x0, 0x2000]);
        b.begin("uart").prop_str("compatible", "arm,pl011").prop_u32("reg", &[0x1800, 0, 0x100]).end();
        b.end();
    });
    assert_eq!(find(&blob, "").console, uart(UartKind::Pl011, 0x1_0000_1800));
}

#[test]
fn malformed_ranges_leave_the_device_unmapped() {
    let with_ranges = |cells: (u32, u32), ranges: &'static [u32]| {
        tree(move |b| {
            chosen(b, "/bus/uart");
            b.begin("bus").prop_u32("#address-cells", &[cells.0]).prop_u32("#size-cells", &[cells.1]);
            b.prop_u32("ranges", ranges);
            b.begin("uart")
                .prop_str("compatible", "arm,pl011")
                .prop_u32("reg", &[0, 0, 0x10][3 - cells.0 as usize..])
                .end();
            b.end();
        })
    };
    // A well-formed entry translates; the same with a stray word does not.
    let good = with_ranges((1, 1), &[0x0, 0, 0x9000_0000, 0x1000]);
    assert_eq!(find(&good, "").console, uart(UartKind::Pl011, 0x9000_0010));
    let stray = with_ranges((1, 1), &[0x0, 0, 0x9000_0000, 0x1000, 0x5]);
    assert_eq!(find(&stray, "").skipped, Some(Skipped::NotMapped("/bus/uart")));
    // Three cells: no address the kernel can read.
    let wide = with_ranges((3, 1), &[0, 0, 0x0, 0, 0x9000_0000, 0x1000]);
    assert_eq!(find(&wide, "").skipped, Some(Skipped::NotMapped("/bus/uart")));
}
