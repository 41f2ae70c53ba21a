//! Host tests of the board support that needs no QEMU: the board table, the
//! device tree editor the launcher uses as the boards' firmware step, the
//! package-name logic for Linux's trees, and (when they can be fetched)
//! Linux's trees themselves checked against the table.

use std::path::{Path, PathBuf};
use std::process::Command;
use vakern::boards::fdt_edit::{self, FdtError, Tree};
use vakern::boards::{self, linux_dtbs, Board, RamLayout, BOARDS, RASPI3B, VIRT, ZCU102};
use vakern::mm::dtb::{parse_memory, Dtb};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn fixture(name: &str) -> Vec<u8> {
    let p = vakern::tools::project_root().join("mm/tests/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vakern-boards-host-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Compile device tree source with dtc.
fn dtc_compile(dts: &str) -> Vec<u8> {
    let src = scratch(&format!("t{}.dts", dts.len()));
    std::fs::write(&src, dts).unwrap();
    vakern::tools::ensure_programs().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("dtc").args(["-q", "-I", "dts", "-O", "dtb"]).arg(&src).output().expect("dtc runs");
    assert!(out.status.success(), "dtc failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Decompile a blob with dtc (an independent reader).
fn dtc_source(blob: &[u8]) -> String {
    let f = scratch(&format!("d{}.dtb", blob.len()));
    std::fs::write(&f, blob).unwrap();
    vakern::tools::ensure_programs().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("dtc").args(["-q", "-I", "dtb", "-O", "dts"]).arg(&f).output().expect("dtc runs");
    assert!(out.status.success(), "dtc rejects the blob: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The RAM ranges the kernel's own reader finds in a blob, sorted and merged.
fn kernel_view(blob: &[u8]) -> Vec<(u64, u64)> {
    let dtb = Dtb::new(blob).unwrap_or_else(|e| panic!("kernel reader rejects the blob: {e}"));
    let info = parse_memory(&dtb).unwrap_or_else(|e| panic!("kernel reader: {e}"));
    info.ram.iter().map(|r| (r.base, r.end - r.base)).collect()
}

// ---- the board table ----

/// A pass means every board's RAM rule, load addresses, console and firmware
/// placement are consistent at every RAM size it accepts.
#[test]
fn board_table_is_consistent() {
    for b in BOARDS {
        let r = b.ram;
        assert!(r.min <= r.default && r.default <= r.max, "{}: default RAM outside its range", b.name);
        b.check_ram(r.default).unwrap();
        assert!(b.check_ram(r.max + r.step).is_err() && b.check_ram(r.min - MIB).is_err(), "{}", b.name);
        assert!(b.console.serial < b.console.serial_ports, "{}: console port missing", b.name);
        assert!(b.smp.0 >= 1 && b.smp.0 <= b.smp.1, "{}", b.name);
        if let Some(n) = b.qemu_smp {
            assert!(n >= b.smp.1, "{}: QEMU has fewer CPUs than --smp allows", b.name);
        }
        assert_eq!(b.kernel_pa % (2 * MIB), 0, "{}: Image not 2 MiB aligned", b.name);
        assert_eq!(b.dtb_pa % 8, 0, "{}: tree not 8-byte aligned", b.name);
        let mut sizes: Vec<u64> =
            (r.min / GIB..=r.max / GIB).map(|g| g * GIB).filter(|&s| s >= r.min).take(64).collect();
        sizes.push(r.min);
        sizes.push(r.max);
        if r.max > r.min {
            sizes.push(r.min + r.step);
        }
        for ram in sizes {
            let ranges = b.ram_ranges(ram);
            let total: u64 = ranges.iter().map(|r| r.1).sum();
            let expect = match b.ram_layout {
                RamLayout::BelowGpu { gpu } => ram - gpu,
                _ => ram,
            };
            assert_eq!(total, expect, "{} at {ram:#x}: ranges {ranges:x?}", b.name);
            for w in ranges.windows(2) {
                assert!(w[0].0 + w[0].1 <= w[1].0, "{}: ranges overlap or unsorted {ranges:x?}", b.name);
            }
            let inside = |pa: u64, len: u64| ranges.iter().any(|&(s, n)| pa >= s && pa + len <= s + n);
            // The Image gets at least 32 MiB before the tree, the tree its 2 MiB.
            assert!(inside(b.kernel_pa, 32 * MIB), "{} at {ram:#x}: Image outside RAM", b.name);
            assert!(b.dtb_pa >= b.kernel_pa + 32 * MIB, "{}: tree too close to the Image", b.name);
            assert!(inside(b.dtb_pa, 2 * MIB), "{} at {ram:#x}: tree outside RAM", b.name);
            match b.firmware {
                boards::Firmware::LoaderShim { addr } => {
                    assert!(!ranges.iter().any(|&(s, n)| addr >= s && addr < s + n), "{}: shim inside RAM", b.name)
                }
                boards::Firmware::ArmStub => {
                    // Covered by the Pi tree's /memreserve/ [0, 0x1000).
                    assert!(b.firmware_blob().len() <= 0x1000, "{}: armstub too large", b.name)
                }
                boards::Firmware::BiosShim => {}
            }
        }
    }
}

/// A pass means the ZCU102's RAM never includes the device space
/// [2 GiB, 0x8_0000_0000) at any accepted size, and the banks are where
/// QEMU puts them.
#[test]
fn zcu102_ram_skips_the_device_space() {
    let mut ram = ZCU102.ram.min;
    while ram <= ZCU102.ram.max {
        for (base, size) in ZCU102.ram_ranges(ram) {
            let end = base + size;
            assert!(end <= 2 * GIB || base >= 0x8_0000_0000, "{ram:#x}: [{base:#x}, {end:#x}) in device space");
        }
        ram += 256 * MIB;
    }
    assert_eq!(ZCU102.ram_ranges(GIB), vec![(0, GIB)]);
    assert_eq!(ZCU102.ram_ranges(2 * GIB), vec![(0, 2 * GIB)]);
    assert_eq!(ZCU102.ram_ranges(4 * GIB), vec![(0, 2 * GIB), (0x8_0000_0000, 2 * GIB)]);
    assert_eq!(ZCU102.ram_ranges(16 * GIB), vec![(0, 2 * GIB), (0x8_0000_0000, 14 * GIB)]);
    assert_eq!(RASPI3B.ram_ranges(GIB), vec![(0, 0x3c00_0000)]);
}

/// A pass means bad --machine, --ram and --smp values get errors that say
/// what the board takes.
#[test]
fn board_options_are_checked() {
    assert_eq!(boards::board("zcu102").unwrap().name, "zcu102");
    assert_eq!(boards::board("xlnx-zcu102").unwrap().name, "zcu102");
    let e = boards::board("raspi4").unwrap_err();
    assert!(e.contains("virt, raspi3b, zcu102"), "{e}");
    let e = RASPI3B.check_ram(2 * GIB).unwrap_err();
    assert!(e.contains("exactly 1G"), "{e}");
    let e = ZCU102.check_ram(17 * GIB).unwrap_err();
    assert!(e.contains("1G to 16G"), "{e}");
    assert!(ZCU102.check_ram(1536 * MIB).is_ok());
    assert!(ZCU102.check_smp(5).is_err() && ZCU102.check_smp(0).is_err() && ZCU102.check_smp(4).is_ok());
    assert!(VIRT.check_smp(8).is_ok());
}

/// A pass means each board's QEMU options are what the checked facts
/// require: -smp 4 on the Pi whatever --smp says, no -cpu where the machine
/// fixes it, EL2 through virtualization=on where that exists.
#[test]
fn qemu_options_follow_the_facts() {
    let a = RASPI3B.qemu_machine_args(GIB, 1, false).unwrap();
    assert_eq!(a, ["-M", "raspi3b", "-m", "1G", "-smp", "4"]);
    let a = RASPI3B.qemu_machine_args(GIB, 2, true).unwrap();
    assert_eq!(a[1], "raspi3b", "the Pi enters at EL2 anyway");
    let a = ZCU102.qemu_machine_args(1536 * MIB, 2, true).unwrap();
    assert_eq!(a, ["-M", "xlnx-zcu102,virtualization=on", "-m", "1536M", "-smp", "2"]);
    let a = VIRT.qemu_machine_args(GIB, 2, false).unwrap();
    assert_eq!(a, ["-M", "virt", "-m", "1G", "-smp", "2", "-cpu", "cortex-a72"]);
    assert!(ZCU102.qemu_machine_args(20 * GIB, 1, false).is_err());
    assert_eq!(RASPI3B.serial_args("mon:stdio"), ["-serial", "null", "-serial", "mon:stdio"]);
    assert_eq!(ZCU102.serial_args("stdio"), ["-serial", "stdio", "-serial", "null"]);

    let (img, tree, fw) = (Path::new("/i"), Path::new("/t"), Path::new("/f"));
    let h = ZCU102.handover_args(img, tree, fw).join(" ");
    assert!(h.contains("loader,file=/i,addr=0x200000,force-raw=on"), "{h}");
    assert!(h.contains("loader,file=/t,addr=0x8000000,force-raw=on"), "{h}");
    assert!(h.contains("loader,file=/f,addr=0xfffc0000,force-raw=on,cpu-num=0"), "{h}");
    let h = RASPI3B.handover_args(img, tree, fw).join(" ");
    assert!(h.contains("loader,file=/f,addr=0x0,force-raw=on") && !h.contains("cpu-num"), "{h}");
    let h = VIRT.handover_args(img, tree, fw).join(" ");
    assert!(h.contains("-bios /f"), "{h}");
}

/// A pass means the Pi armstub jumps to the board's Image and tree, fits
/// below the spin table and leaves the spin table zeroed.
#[test]
fn raspi_armstub_layout() {
    let stub = RASPI3B.firmware_blob();
    assert_eq!(stub.len(), boards::firmware::ARMSTUB_LEN);
    assert_eq!(boards::firmware::armstub_targets(&stub), Some((RASPI3B.dtb_pa, RASPI3B.kernel_pa)));
    let table = boards::firmware::SPIN_TABLE as usize;
    assert!(stub[table..table + 32].iter().all(|&b| b == 0), "spin table not zeroed");
    let other = boards::firmware::raspi_armstub(0x1234_5678, 0x40_0000);
    assert_eq!(boards::firmware::armstub_targets(&other), Some((0x1234_5678, 0x40_0000)));
    assert_eq!(stub[..0x68], other[..0x68], "the code does not depend on the addresses");
}

// ---- package names ----

/// A pass means the kernel package is found in apt-cache's output, with
/// alternatives and virtual packages skipped, and garbage is an error.
#[test]
fn kernel_package_from_apt_cache() {
    let out = "linux-image-arm64:arm64\n  Depends: linux-image-6.1.0-57-arm64:arm64\n";
    assert_eq!(linux_dtbs::image_package_from_depends(out).unwrap(), "linux-image-6.1.0-57-arm64");
    let out = "linux-image-arm64:arm64\n |Depends: <linux-image-virtual>\n  Depends: kmod:arm64\n  \
               Depends: linux-image-6.12.9+bpo-arm64:arm64\n  Recommends: foo\n";
    assert_eq!(linux_dtbs::image_package_from_depends(out).unwrap(), "linux-image-6.12.9+bpo-arm64");
    for bad in
        ["", "E: No packages found", "  Depends: linux-image-$(reboot)-arm64:arm64", "  Depends: linux-image-arm64"]
    {
        let e = linux_dtbs::image_package_from_depends(bad).unwrap_err();
        assert!(e.contains("apt-cache depends linux-image-arm64:arm64"), "{e}");
    }
    assert_eq!(linux_dtbs::unsigned_package("linux-image-6.1.0-57-arm64"), "linux-image-6.1.0-57-arm64-unsigned:arm64");
    assert_eq!(
        linux_dtbs::member_path("linux-image-6.1.0-57-arm64", "broadcom/bcm2837-rpi-3-b.dtb"),
        "./usr/lib/linux-image-6.1.0-57-arm64/broadcom/bcm2837-rpi-3-b.dtb"
    );
    let cmds = linux_dtbs::manual_commands(Some("linux-image-6.1.0-57-arm64"));
    assert!(cmds.contains("dpkg --add-architecture arm64 && apt-get update"), "{cmds}");
    assert!(cmds.contains("apt-get download linux-image-6.1.0-57-arm64-unsigned:arm64"), "{cmds}");
    // Everything happens under the cache directory, nowhere else.
    let cache = linux_dtbs::cache_dir().display().to_string();
    assert!(cmds.contains(&format!("cd {cache}/download")), "{cmds}");
    assert!(!cmds.contains("/tmp"), "{cmds}");
    for t in linux_dtbs::TREES {
        assert!(cmds.contains(&linux_dtbs::member_path("linux-image-6.1.0-57-arm64", t)), "{cmds}");
    }
}

// ---- the device tree editor ----

/// A pass means a QEMU tree survives parse and write unchanged as dtc sees
/// it, and the kernel's reader finds the same RAM.
#[test]
fn round_trip_keeps_the_tree() {
    for name in ["qemu-virt-1g.dtb", "qemu-virt-numa.dtb", "holes.dtb"] {
        let blob = fixture(name);
        let t = Tree::parse(&blob).unwrap();
        let out = t.to_blob();
        assert_eq!(Tree::parse(&out).unwrap(), t, "{name}");
        assert_eq!(dtc_source(&out), dtc_source(&blob), "{name}: dtc sees a different tree");
        assert_eq!(kernel_view(&out), kernel_view(&blob), "{name}");
    }
}

/// A pass means set_memory writes exactly the given ranges with the root's
/// cells, in place of every memory node, and the kernel's reader and dtc
/// agree.
#[test]
fn set_memory_replaces_all_memory_nodes() {
    let blob = fixture("qemu-virt-numa.dtb"); // two memory nodes
    let before = Tree::parse(&blob).unwrap();
    assert_eq!(before.root.children.iter().filter(|n| n.is_memory()).count(), 2);
    let ranges = [(0x8_0000_0000, 14 * GIB), (0, 2 * GIB)];
    let out = fdt_edit::patch_memory(&blob, &ranges).unwrap();
    let after = Tree::parse(&out).unwrap();
    let mems: Vec<_> = after.root.children.iter().filter(|n| n.is_memory()).collect();
    assert_eq!(mems.len(), 1);
    assert_eq!(mems[0].name, "memory@0");
    assert_eq!(after.memory().unwrap(), vec![(0, 2 * GIB), (0x8_0000_0000, 14 * GIB)]);
    assert_eq!(kernel_view(&out), vec![(0, 2 * GIB), (0x8_0000_0000, 14 * GIB)]);
    let src = dtc_source(&out);
    assert!(src.contains("reg = <0x00 0x00 0x00 0x80000000 0x08 0x00 0x03 0x80000000>;"), "{src}");
    // Everything else is as it was.
    let strip = |t: &Tree| t.root.children.iter().filter(|n| !n.is_memory()).cloned().collect::<Vec<_>>();
    assert_eq!(strip(&after), strip(&before));
    assert_eq!(after.root.props, before.root.props);
    assert_eq!(after.memreserve, before.memreserve);
}

/// A pass means one-cell trees get one-cell entries, sizes above 4 GiB are
/// split for one size cell, and ranges that cannot be written are errors.
#[test]
fn set_memory_respects_cells() {
    let one = dtc_compile(
        "/dts-v1/;\n/memreserve/ 0x0 0x1000;\n/ { #address-cells = <1>; #size-cells = <1>; \
         memory@0 { device_type = \"memory\"; reg = <0 0x40000000>; }; chosen { }; };",
    );
    let out = fdt_edit::patch_memory(&one, &[(0, 0x3c00_0000)]).unwrap();
    assert!(dtc_source(&out).contains("reg = <0x00 0x3c000000>;"));
    assert!(dtc_source(&out).contains("/memreserve/\t0x0000000000000000 0x0000000000001000;"));
    assert_eq!(kernel_view(&out), vec![(0, 0x3c00_0000)]);
    let e = fdt_edit::patch_memory(&one, &[(0x1_0000_0000, GIB)]).unwrap_err();
    assert!(matches!(e, FdtError::BadRange { .. }), "{e}");

    let two_one = dtc_compile(
        "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <1>; \
         memory@0 { device_type = \"memory\"; reg = <0 0 0>; }; };",
    );
    let out = fdt_edit::patch_memory(&two_one, &[(0, 8 * GIB)]).unwrap();
    let t = Tree::parse(&out).unwrap();
    assert_eq!(t.memory().unwrap().len(), 4, "8 GiB in 2 GiB entries");
    assert_eq!(kernel_view(&out), vec![(0, 8 * GIB)]);

    let two = fixture("qemu-virt-1g.dtb");
    for (bad, what) in [
        (vec![], "no range"),
        (vec![(0x4000_0000, 0)], "zero size"),
        (vec![(0, 2 * GIB), (GIB, GIB)], "overlap"),
        (vec![(u64::MAX - 10, 100)], "wrap"),
    ] {
        assert!(fdt_edit::patch_memory(&two, &bad).is_err(), "{what} accepted");
    }
    let bad_cells = dtc_compile("/dts-v1/;\n/ { #address-cells = <3>; #size-cells = <1>; };");
    assert!(matches!(fdt_edit::patch_memory(&bad_cells, &[(0, GIB)]), Err(FdtError::BadCells { .. })));
    // No memory node at all: one is added.
    let none = dtc_compile("/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>; };");
    assert_eq!(kernel_view(&fdt_edit::patch_memory(&none, &[(GIB, GIB)]).unwrap()), vec![(GIB, GIB)]);
}

/// A pass means /chosen/bootargs is set, replaced, and /chosen made when missing.
#[test]
fn chosen_bootargs() {
    let none = dtc_compile(
        "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>; \
         memory@0 { device_type = \"memory\"; reg = <0 0 0 0x40000000>; }; };",
    );
    let out = fdt_edit::patch_for_boot(&none, &[(0, GIB)], Some("test=linear poweroff")).unwrap();
    let dtb = Dtb::new(&out).unwrap();
    assert_eq!(parse_memory(&dtb).unwrap().bootargs, Some("test=linear poweroff"));
    let again = fdt_edit::patch_for_boot(&out, &[(0, GIB)], Some("x")).unwrap();
    let t = Tree::parse(&again).unwrap();
    assert_eq!(t.node("/chosen").unwrap().prop("bootargs"), Some(&b"x\0"[..]));
    assert_eq!(t.node("/chosen").unwrap().props.len(), 1);
}

/// A pass means broken blobs are errors: every truncation and thousands of
/// random corruptions of a real tree, without a panic.
#[test]
fn broken_blobs_are_errors() {
    let blob = fixture("holes.dtb");
    let total = u32::from_be_bytes(blob[4..8].try_into().unwrap()) as usize;
    for len in 0..total {
        assert!(Tree::parse(&blob[..len]).is_err(), "truncated to {len} accepted");
    }
    let mut bad = blob.clone();
    bad[0] ^= 1;
    assert!(matches!(Tree::parse(&bad), Err(FdtError::BadMagic(_))));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..5000 {
        let mut b = blob[..total].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % total as u64) as usize;
            b[at] = next() as u8;
        }
        if let Ok(t) = Tree::parse(&b) {
            accepted += 1;
            // What is accepted must write back and read back the same.
            assert_eq!(Tree::parse(&t.to_blob()).unwrap(), t);
        }
    }
    assert!(accepted < 5000, "no corruption was noticed");
}

/// A pass means addresses are translated through every parent's `ranges`
/// (the Pi's bus addresses), an empty `ranges` is the identity and a bus
/// without `ranges` is not memory-mapped.
#[test]
fn translate_through_ranges() {
    let blob = dtc_compile(
        "/dts-v1/;\n/ { #address-cells = <1>; #size-cells = <1>; \
         aliases { serial1 = \"/soc/serial@7e215040\"; }; chosen { stdout-path = \"serial1:115200n8\"; }; \
         soc { #address-cells = <1>; #size-cells = <1>; \
               ranges = <0x7e000000 0x3f000000 0x1000000 0x40000000 0x40000000 0x1000>; \
               serial@7e215040 { reg = <0x7e215040 0x40>; }; \
               inner { #address-cells = <1>; #size-cells = <1>; ranges; dev@7e201000 { reg = <0x7e201000 0x200>; }; }; \
               i2c { #address-cells = <1>; #size-cells = <0>; dev@50 { reg = <0x50>; }; }; }; };",
    );
    let t = Tree::parse(&blob).unwrap();
    assert_eq!(fdt_edit::translate(&t, "/soc/serial@7e215040", 0x7e21_5040), Some(0x3f21_5040));
    assert_eq!(fdt_edit::translate(&t, "/soc/inner/dev@7e201000", 0x7e20_1000), Some(0x3f20_1000));
    assert_eq!(fdt_edit::translate(&t, "/soc/serial@7e215040", 0x4000_0010), Some(0x4000_0010));
    assert_eq!(fdt_edit::translate(&t, "/soc/serial@7e215040", 0x7f00_0000), None, "outside every range");
    assert_eq!(fdt_edit::translate(&t, "/soc/i2c/dev@50", 0x50), None, "i2c has no ranges");
    assert_eq!(fdt_edit::stdout_node_path(&t).as_deref(), Some("/soc/serial@7e215040"));
}

// ---- Linux's trees ----

fn linux_tree(b: &Board) -> Vec<u8> {
    let rel = b.linux_dtb.expect("a board with a Linux tree");
    let path = linux_dtbs::ensure(rel).unwrap_or_else(|e| panic!("{e}"));
    std::fs::read(&path).unwrap()
}

/// A pass means Linux's trees are in target/dtbs (fetched by package name
/// when missing; otherwise the failure prints the commands to run), and
/// each board's console, secondaries and RAM in the table match its tree.
#[test]
fn linux_trees_match_the_table() {
    linux_dtbs::ensure_all().unwrap_or_else(|e| panic!("{e}"));
    for t in linux_dtbs::TREES {
        let blob = std::fs::read(linux_dtbs::cached(t)).unwrap();
        Tree::parse(&blob).unwrap_or_else(|e| panic!("{t}: {e}"));
    }
    for b in BOARDS.iter().filter(|b| b.linux_dtb.is_some()) {
        let blob = linux_tree(b);
        let t = Tree::parse(&blob).unwrap();
        // The console: stdout-path -> alias -> node, reg translated.
        let path = fdt_edit::stdout_node_path(&t).unwrap_or_else(|| panic!("{}: no stdout-path", b.name));
        let node = t.node(&path).unwrap();
        let compat = node.prop("compatible").unwrap();
        assert!(
            compat.split(|&c| c == 0).any(|c| c == b.console.compatible.as_bytes()),
            "{}: {path} is not {}",
            b.name,
            b.console.compatible
        );
        let parent = t.node(path.rsplit_once('/').unwrap().0).unwrap_or(&t.root);
        let (ac, sc) = parent.child_cells();
        let reg = fdt_edit::decode_reg(node.prop("reg").unwrap(), ac, sc, &path).unwrap();
        assert_eq!(fdt_edit::translate(&t, &path, reg[0].0), Some(b.console.pa), "{}: console address", b.name);
        // Secondaries.
        let cpus = t.node("/cpus").unwrap();
        for cpu in cpus.children.iter().filter(|c| c.prop_str("device_type") == Some("cpu")) {
            let n = cpu.prop_u32("reg").unwrap() as u64;
            match b.secondaries {
                boards::Secondaries::SpinTable { first } => {
                    assert_eq!(cpu.prop_str("enable-method"), Some("spin-table"));
                    let rel = cpu.prop("cpu-release-addr").unwrap();
                    assert_eq!(u64::from_be_bytes(rel.try_into().unwrap()), first + 8 * n, "{}", cpu.name);
                }
                boards::Secondaries::Psci(method) => {
                    assert_eq!(cpu.prop_str("enable-method"), Some("psci"));
                    assert_eq!(t.node("/psci").unwrap().prop_str("method"), Some(method));
                }
            }
        }
        // The patched tree describes exactly the board's RAM at every size,
        // and the rest of the tree is untouched.
        let mut ram = b.ram.min;
        while ram <= b.ram.max {
            let out = fdt_edit::patch_for_boot(&blob, &b.ram_ranges(ram), Some("test=linear")).unwrap();
            assert_eq!(kernel_view(&out), b.ram_ranges(ram), "{} at {ram:#x}", b.name);
            let after = Tree::parse(&out).unwrap();
            let keep = |t: &Tree| {
                t.root.children.iter().filter(|n| !n.is_memory() && n.name != "chosen").cloned().collect::<Vec<_>>()
            };
            assert_eq!(keep(&after), keep(&t), "{}: other nodes changed", b.name);
            assert_eq!(after.memreserve, t.memreserve);
            ram += GIB;
        }
        // The firmware at 0 is reserved by the tree itself.
        if b.firmware == boards::Firmware::ArmStub {
            let len = b.firmware_blob().len() as u64;
            assert!(t.memreserve.iter().any(|&(s, n)| s == 0 && n >= len), "{}: armstub not reserved", b.name);
        }
    }
}
