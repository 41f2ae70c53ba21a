//! Passing means: the QEMU and dtc device tree fixtures give exactly the RAM ranges, reservations and /chosen values they describe, the token walker agrees with an independent one, and each kind of broken tree is refused with its own `DtbError` whose message names the problem. (Over 400 lines: one test per rule of the format, each building the trees it needs.)

use crate::common;

use common::{compact, fixture, put32, reg_bytes, simple_tree, FdtBuilder, DTB_FIXTURES};
use vakern_mm::dtb::*;
use vakern_mm::ranges::Range;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn r(base: u64, end: u64) -> Range {
    Range { base, end }
}

fn ram(info: &MemoryInfo) -> Vec<Range> {
    info.ram.iter().copied().collect()
}

fn parse(blob: &[u8]) -> Result<MemoryInfo<'_>, DtbError> {
    parse_memory(&Dtb::new(blob)?)
}

#[test]
fn every_fixture_is_accepted() {
    for name in DTB_FIXTURES {
        let blob = fixture(name);
        let dtb = Dtb::new(&blob).unwrap_or_else(|e| panic!("{}: {}", name, e));
        assert_eq!(dtb.total_size(), common::header_field(&blob, 1) as usize);
        assert_eq!(header_total_size(&blob), Ok(dtb.total_size()));
        assert_eq!(dtb.as_bytes().len(), dtb.total_size());
        let info = parse_memory(&dtb).unwrap_or_else(|e| panic!("{}: {}", name, e));
        assert!(!info.ram.is_empty());
        // Cut to its blocks, the same tree reads the same.
        let small = compact(&blob);
        assert!(small.len() < 16 << 10, "{} compacts to {} bytes", name, small.len());
        let info2 = parse(&small).unwrap();
        assert_eq!(ram(&info2), ram(&info));
        assert_eq!(info2.bootargs, info.bootargs);
        assert_eq!(info2.reservations().count(), info.reservations().count());
    }
}

#[test]
fn qemu_virt_1g() {
    let blob = fixture("qemu-virt-1g.dtb");
    assert_eq!(blob.len(), 1 << 20, "QEMU pads its dump to 1 MiB");
    let dtb = Dtb::new(&blob).unwrap();
    assert_eq!(dtb.total_size(), 1 << 20);
    let info = parse_memory(&dtb).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0x8000_0000)]);
    assert_eq!(info.ram_entries, 1);
    assert_eq!(info.ram.total(), GIB);
    assert_eq!(info.bootargs, None);
    assert_eq!(info.stdout_path, Some("/pl011@9000000"));
    assert_eq!(info.kaslr_seed, None, "dtb-randomness=off");
    assert_eq!(info.reservations().count(), 0);
    assert_eq!(dtb.mem_reservations().count(), 0);
    assert_eq!(info.mappable().unwrap().iter().copied().collect::<Vec<_>>(), ram(&info));
}

#[test]
fn qemu_virt_4g() {
    let info_blob = fixture("qemu-virt-4g.dtb");
    let info = parse(&info_blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0x1_4000_0000)]);
    assert_eq!(info.ram_entries, 1);
    assert_eq!(info.stdout_path, Some("/pl011@9000000"));
}

#[test]
fn qemu_virt_two_numa_nodes() {
    let blob = fixture("qemu-virt-numa.dtb");
    let dtb = Dtb::new(&blob).unwrap();
    // QEMU lists the higher node first.
    let mems: Vec<&str> = dtb
        .tokens()
        .filter_map(|t| match t {
            Token::Begin(n) if n.starts_with("memory@") => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(mems, ["memory@60000000", "memory@40000000"]);
    let info = parse_memory(&dtb).unwrap();
    assert_eq!(info.ram_entries, 2);
    assert_eq!(ram(&info), [r(0x4000_0000, 0x8000_0000)], "the two 512 MiB nodes merge");
}

#[test]
fn dtc_fixture_with_hole_and_reservations() {
    let blob = fixture("holes.dtb");
    let dtb = Dtb::new(&blob).unwrap();
    assert_eq!(dtb.total_size(), blob.len());
    let info = parse_memory(&dtb).unwrap();
    // memory@40000000 by name, ram@60000000 by device_type (two adjacent
    // entries), memory@80000000 disabled.
    assert_eq!(ram(&info), [r(0x4000_0000, 0x5000_0000), r(0x6000_0000, 0x7000_0000)]);
    assert_eq!(info.ram_entries, 3);
    assert!(!info.ram.contains(0x8000_0000));
    assert_eq!(info.bootargs, Some("console=ttyAMA0 earlycon debug_virtual"));
    assert_eq!(info.stdout_path, Some("/pl011@9000000"));
    assert_eq!(info.kaslr_seed, Some(0x0123_4567_89ab_cdef));

    let res: Vec<Reservation> = info.reservations().copied().collect();
    assert_eq!(res.len(), 3, "{:?}", res);
    assert_eq!(res[0].range, r(0x4e00_0000, 0x4e10_0000));
    assert!(matches!(res[0].kind, ReservedKind::NoMap(n) if n.as_str() == "secmon@4e000000"));
    assert_eq!(res[0].kind.label(), "secmon@4e000000");
    assert_eq!(res[1].range, r(0x6800_0000, 0x6840_0000));
    assert!(matches!(res[1].kind, ReservedKind::ReservedMemory(n) if n.as_str() == "dma-pool@68000000"));
    assert_eq!(res[2], Reservation { range: r(0x4ff0_0000, 0x4ff1_0000), kind: ReservedKind::MemReserve });
    assert_eq!(res[2].kind.label(), "memreserve");
    assert_eq!(dtb.mem_reservations().collect::<Vec<_>>(), [(0x4ff0_0000, 0x1_0000)]);

    // The linear map leaves out the no-map range only.
    let m: Vec<Range> = info.mappable().unwrap().iter().copied().collect();
    assert_eq!(m, [r(0x4000_0000, 0x4e00_0000), r(0x4e10_0000, 0x5000_0000), r(0x6000_0000, 0x7000_0000)]);

    // The kernel adds its own.
    let mut info = info;
    info.reserve(r(0x4020_0000, 0x4060_0000), ReservedKind::Kernel).unwrap();
    info.reserve(r(0x4800_0000, 0x4800_1000), ReservedKind::Dtb).unwrap();
    let labels: Vec<&str> = info.reservations().map(|r| r.kind.label()).collect();
    assert_eq!(labels, ["secmon@4e000000", "dma-pool@68000000", "memreserve", "kernel image", "device tree"]);
    assert_eq!(info.mappable().unwrap().len(), 3, "only no-map leaves the linear map");
}

/// The structure block decoded here without the library.
fn independent_tokens(blob: &[u8]) -> Vec<String> {
    let g = |o| common::get32(blob, o) as usize;
    let (st, strings) = (g(8), g(12));
    let cstr = |o: usize| {
        let len = blob[o..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(blob[o..o + len].to_vec()).unwrap()
    };
    let mut out = Vec::new();
    let mut p = st;
    loop {
        match g(p) {
            1 => {
                let name = cstr(p + 4);
                p += 4 + (name.len() + 1).div_ceil(4) * 4;
                out.push(format!("begin {}", name));
            }
            2 => {
                out.push("end".into());
                p += 4;
            }
            3 => {
                let (len, nameoff) = (g(p + 4), g(p + 8));
                out.push(format!("prop {} {:02x?}", cstr(strings + nameoff), &blob[p + 12..p + 12 + len]));
                p += 12 + len.div_ceil(4) * 4;
            }
            4 => p += 4,
            9 => return out,
            t => panic!("token {:#x} at {:#x}", t, p),
        }
    }
}

#[test]
fn tokens_match_an_independent_walk() {
    for name in DTB_FIXTURES {
        let blob = fixture(name);
        let dtb = Dtb::new(&blob).unwrap();
        let mine: Vec<String> = dtb
            .tokens()
            .map(|t| match t {
                Token::Begin(n) => format!("begin {}", n),
                Token::End => "end".into(),
                Token::Prop(n, v) => format!("prop {} {:02x?}", n, v),
            })
            .collect();
        let theirs = independent_tokens(&blob);
        assert!(theirs.len() > 20, "{}", name);
        assert_eq!(mine, theirs, "{}", name);
        assert_eq!(mine[0], "begin ");
        assert_eq!(mine.last().unwrap(), "end");
    }
}

// ---- Trees built by hand ----

/// A root with 2/2 cells holding whatever `body` adds.
fn tree(body: impl FnOnce(&mut FdtBuilder)) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    body(&mut b);
    b.end();
    b.finish()
}

fn memory(b: &mut FdtBuilder, name: &str, cells: (u32, u32), entries: &[(u64, u64)]) {
    b.begin(name).prop_str("device_type", "memory").reg(cells, entries).end();
}

#[test]
fn builder_trees_parse() {
    let blob = simple_tree(&[(0x4000_0000, 256 * MIB), (0x1_0000_0000, GIB)]);
    let info = parse(&blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0x5000_0000), r(0x1_0000_0000, 0x1_4000_0000)]);
    assert_eq!(info.bootargs, Some("console=ttyAMA0"));

    // 32-bit cells.
    let blob = {
        let mut b = FdtBuilder::new();
        b.begin("").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
        memory(&mut b, "memory@80000000", (1, 1), &[(0x8000_0000, 0x4000_0000), (0x4000_0000, 0x1000_0000)]);
        b.end();
        b.finish()
    };
    let info = parse(&blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0x5000_0000), r(0x8000_0000, 0xc000_0000)]);
    assert_eq!(info.ram_entries, 2);

    // Default cells (2 address, 1 size) when the root states none.
    let blob = {
        let mut b = FdtBuilder::new();
        b.begin("");
        memory(&mut b, "memory@40000000", (2, 1), &[(0x4000_0000, 0x1000_0000)]);
        b.end();
        b.finish()
    };
    assert_eq!(ram(&parse(&blob).unwrap()), [r(0x4000_0000, 0x5000_0000)]);

    // Mixed cells: address 2, size 1.
    let blob = {
        let mut b = FdtBuilder::new();
        b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[1]);
        memory(&mut b, "memory@840000000", (2, 1), &[(0x8_4000_0000, 0x8000_0000)]);
        b.end();
        b.finish()
    };
    assert_eq!(ram(&parse(&blob).unwrap()), [r(0x8_4000_0000, 0x8_c000_0000)]);
}

#[test]
fn which_nodes_are_memory() {
    let blob = tree(|b| {
        // By name, without device_type.
        b.begin("memory@40000000").reg((2, 2), &[(0x4000_0000, 0x100_0000)]).end();
        // Plain "memory".
        b.begin("memory").reg((2, 2), &[(0x5000_0000, 0x100_0000)]).end();
        // By device_type, deeper in the tree (its parent's cells: 1/1).
        b.begin("soc").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
        b.begin("sram@60000000").prop_str("device_type", "memory").reg((1, 1), &[(0x6000_0000, 0x10_0000)]).end();
        // Named memory but not under the root, no device_type: not RAM.
        b.begin("memory@70000000").reg((1, 1), &[(0x7000_0000, 0x10_0000)]).end();
        // A memory controller is not memory.
        b.begin("memory-controller@8000000").reg((1, 1), &[(0x800_0000, 0x1000)]).end();
        b.end();
        // Status: "ok" and "okay" count, anything else does not.
        b.begin("memory@90000000").prop_str("status", "ok").reg((2, 2), &[(0x9000_0000, 0x1000)]).end();
        b.begin("memory@a0000000").prop_str("status", "fail").reg((2, 2), &[(0xa000_0000, 0x1000)]).end();
        b.begin("memory@b0000000").prop_str("status", "disabled").reg((2, 2), &[(0xb000_0000, 0x1000)]).end();
        // device_type of something else.
        b.begin("cpu@0").prop_str("device_type", "cpu").reg((2, 2), &[(0xc000_0000, 0x1000)]).end();
        // A memory node without reg is ignored.
        b.begin("memory@d0000000").prop_str("device_type", "memory").end();
    });
    let info = parse(&blob).unwrap();
    assert_eq!(
        ram(&info),
        [
            r(0x4000_0000, 0x4100_0000),
            r(0x5000_0000, 0x5100_0000),
            r(0x6000_0000, 0x6010_0000),
            r(0x9000_0000, 0x9000_1000)
        ]
    );
    assert_eq!(info.ram_entries, 4);
}

#[test]
fn nops_between_nodes_are_skipped() {
    // QEMU rewrites the memory nodes of a user DTB by NOP-ing the old ones.
    let blob = tree(|b| {
        b.nop().nop();
        b.begin("chosen").nop().prop_str("bootargs", "x").nop().end();
        b.nop();
        memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, GIB)]);
        b.nop().nop().nop();
        memory(b, "memory@100000000", (2, 2), &[(0x1_0000_0000, GIB)]);
    });
    let info = parse(&blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0x8000_0000), r(0x1_0000_0000, 0x1_4000_0000)]);
    assert_eq!(info.bootargs, Some("x"));
}

#[test]
fn reserved_memory_rules() {
    let blob = tree(|b| {
        memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, GIB)]);
        b.begin("reserved-memory").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]).prop_empty("ranges");
        b.begin("a@41000000").reg((1, 1), &[(0x4100_0000, 0x1000), (0x4200_0000, 0x2000)]).prop_empty("no-map").end();
        b.begin("b@43000000").reg((1, 1), &[(0x4300_0000, 0x1000)]).end();
        // Dynamic (size only, no reg): nothing fixed to record.
        b.begin("pool").prop_u32("size", &[0x10_0000]).end();
        b.end();
        // A disabled /reserved-memory hides its children.
        b.begin("reserved-memory@2").prop_str("status", "disabled");
        b.begin("c@44000000").reg((2, 2), &[(0x4400_0000, 0x1000)]).prop_empty("no-map").end();
        b.end();
        b.memreserve(0x4800_0000, 0x1000).memreserve(0x4900_0000, 0);
    });
    let info = parse(&blob).unwrap();
    let res: Vec<(Range, String)> = info
        .reservations()
        .map(|r| {
            let k = match r.kind {
                ReservedKind::NoMap(n) => format!("no-map {}", n.as_str()),
                ReservedKind::ReservedMemory(n) => format!("reserved {}", n.as_str()),
                k => format!("{:?}", k),
            };
            (r.range, k)
        })
        .collect();
    assert_eq!(
        res,
        [
            (r(0x4100_0000, 0x4100_1000), "no-map a@41000000".to_string()),
            (r(0x4200_0000, 0x4200_2000), "no-map a@41000000".to_string()),
            (r(0x4300_0000, 0x4300_1000), "reserved b@43000000".to_string()),
            (r(0x4800_0000, 0x4800_1000), "MemReserve".to_string()),
        ],
        "a size-0 /memreserve/ entry is skipped"
    );
    let m: Vec<Range> = info.mappable().unwrap().iter().copied().collect();
    assert_eq!(m, [r(0x4000_0000, 0x4100_0000), r(0x4100_1000, 0x4200_0000), r(0x4200_2000, 0x8000_0000)]);
}

#[test]
fn limits() {
    // 64 separate RAM ranges fit, 65 do not.
    let ranges: Vec<(u64, u64)> = (0..65).map(|i| (0x4000_0000 + i * 0x20_0000, 0x10_0000)).collect();
    assert_eq!(parse_owned(&tree(|b| memory(b, "memory@40000000", (2, 2), &ranges[..64]))), Ok((64, 64)));
    let blob = tree(|b| memory(b, "memory@40000000", (2, 2), &ranges));
    assert_eq!(parse(&blob).err(), Some(DtbError::TooManyRanges));
    // Adjacent entries merge, but each counts as a reg entry.
    let adjacent: Vec<(u64, u64)> = (0..65).map(|i| (0x4000_0000 + i * 0x10_0000, 0x10_0000)).collect();
    let blob = tree(|b| memory(b, "memory@40000000", (2, 2), &adjacent));
    assert_eq!(parse(&blob).err(), Some(DtbError::TooManyRanges));
    // 65 reservations.
    let blob = tree(|b| {
        memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, GIB)]);
        for i in 0..65 {
            b.memreserve(0x4000_0000 + i * 0x1000, 0x1000);
        }
    });
    assert_eq!(parse(&blob).err(), Some(DtbError::TooManyRanges));
    // Up to the 48-bit limit is fine.
    let blob = simple_tree(&[((1 << 48) - GIB, GIB)]);
    assert_eq!(ram(&parse(&blob).unwrap()), [r((1 << 48) - GIB, 1 << 48)]);
    // Nesting: MAX_DEPTH levels are accepted, one more is not.
    for (depth, ok) in [(MAX_DEPTH, true), (MAX_DEPTH + 1, false)] {
        let mut b = FdtBuilder::new();
        b.begin("");
        memory(&mut b, "memory@40000000", (2, 1), &[(0x4000_0000, GIB)]);
        for i in 1..depth {
            b.begin(&format!("n{}", i));
        }
        for _ in 1..depth {
            b.end();
        }
        b.end();
        let blob = b.finish();
        let res = Dtb::new(&blob);
        assert_eq!(res.is_ok(), ok, "depth {}: {:?}", depth, res.err());
        if !ok {
            assert!(matches!(res.err(), Some(DtbError::Malformed { what, .. }) if what.contains("deep")));
        }
    }
}

fn parse_owned(blob: &[u8]) -> Result<(usize, usize), DtbError> {
    parse(blob).map(|i| (i.ram.len(), i.ram_entries))
}

// ---- Broken trees ----

#[test]
fn no_memory() {
    // No memory node at all.
    let blob = tree(|b| {
        b.begin("chosen").prop_str("bootargs", "x").end();
    });
    assert_eq!(parse(&blob).err(), Some(DtbError::NoMemory));
    // Only a disabled one, or one without reg.
    let blob = tree(|b| {
        b.begin("memory@40000000").prop_str("status", "disabled").reg((2, 2), &[(0x4000_0000, GIB)]).end();
        b.begin("memory@80000000").prop_str("device_type", "memory").end();
    });
    assert_eq!(parse(&blob).err(), Some(DtbError::NoMemory));
    // The QEMU tree with its memory node renamed (one letter) and retyped.
    let mut blob = compact(&fixture("qemu-virt-1g.dtb"));
    let pos = find(&blob, b"memory@40000000").unwrap();
    blob[pos] = b'n';
    let pos = find(&blob, b"memory\0").unwrap();
    blob[pos] = b'n';
    assert_eq!(parse(&blob).err(), Some(DtbError::NoMemory));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn bad_ranges() {
    // A zero-size entry is skipped, the rest of the tree kept.
    let blob = simple_tree(&[(0x4000_0000, GIB), (0x9000_0000, 0)]);
    let info = parse(&blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0x8000_0000)]);
    assert_eq!(info.adjustments().map(|a| a.kind).collect::<Vec<_>>(), [AdjustKind::ZeroSizeSkipped]);

    // Overlapping: across nodes, within one reg, and one inside another: merged.
    let blob = simple_tree(&[(0x4000_0000, GIB), (0x7000_0000, GIB)]);
    let info = parse(&blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0xb000_0000)]);
    assert_eq!(info.adjustments().map(|a| a.kind).collect::<Vec<_>>(), [AdjustKind::RamMerged]);
    let blob = tree(|b| memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, GIB), (0x4000_0000, 0x1000)]));
    let info = parse(&blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_0000, 0x8000_0000)]);
    let a = info.adjustments().next().unwrap();
    assert_eq!((a.kind, a.node.as_str()), (AdjustKind::RamMerged, "memory@40000000"));
    // Adjacent is not overlapping.
    let blob = simple_tree(&[(0x4000_0000, GIB), (0x8000_0000, GIB)]);
    assert_eq!(ram(&parse(&blob).unwrap()), [r(0x4000_0000, 0xc000_0000)]);

    // Beyond 48 bits, and wrapping past 2^64.
    for (base, size) in [(1u64 << 48, 0x1000), ((1 << 48) - 0x1000, 0x2000), (0xffff_ffff_ffff_f000, 0x2000)] {
        let blob = simple_tree(&[(base, size)]);
        let e = parse(&blob).err();
        assert!(
            matches!(e, Some(DtbError::RangeTooHigh { base: b, size: s, node }) if (b, s) == (base, size) && node.as_str().starts_with("memory")),
            "{e:?}"
        );
    }

    // The same checks apply to /reserved-memory children.
    let blob = tree(|b| {
        memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, GIB)]);
        b.begin("reserved-memory").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
        b.begin("x@50000000").reg((2, 2), &[(0x5000_0000, 0)]).end();
        b.end();
    });
    let info = parse(&blob).unwrap();
    assert_eq!(info.reservations().count(), 0);
    assert_eq!(info.adjustments().next().unwrap().kind, AdjustKind::ZeroSizeSkipped);
}

/// Ranges that are not whole pages: RAM is trimmed inward, reservations are
/// rounded outward, each with an adjustment naming the node, as memblock does.
#[test]
fn ranges_off_page_boundaries() {
    let blob = tree(|b| {
        memory(b, "memory@40000010", (2, 2), &[(0x4000_0010, 0x3fff_ffe0), (0x9000_0000, 0x800)]);
        b.begin("reserved-memory").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
        b.begin("fw@48000100").reg((2, 2), &[(0x4800_0100, 0x100)]).prop_empty("no-map").end();
        b.end();
    });
    let info = parse(&blob).unwrap();
    assert_eq!(ram(&info), [r(0x4000_1000, 0x7fff_f000)]);
    let no_map: Vec<_> = info.reservations().map(|x| x.range).collect();
    assert_eq!(no_map, [r(0x4800_0000, 0x4800_1000)]);
    let adj: Vec<_> = info.adjustments().map(|a| (a.kind, a.node.as_str().to_string(), a.kept)).collect();
    assert_eq!(
        adj,
        [
            (AdjustKind::RamTrimmed, "memory@40000010".into(), r(0x4000_1000, 0x7fff_f000)),
            (AdjustKind::RamTrimmed, "memory@40000010".into(), Range { base: 0x9000_0000, end: 0x9000_0000 }),
            (AdjustKind::ReservationRounded, "fw@48000100".into(), r(0x4800_0000, 0x4800_1000)),
        ]
    );
    let text = info.adjustments().map(|a| a.to_string()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("memory@40000010 reg [0x0000_0000_4000_0010, 0x0000_0000_7fff_fff0): RAM trimmed"), "{text}");
    assert!(text.contains("smaller than a page once trimmed to pages: skipped"), "{text}");
}

#[test]
fn bad_cells_and_reg() {
    for (ac, sc) in [(2, 0), (2, 3), (0, 2), (3, 2), (1, 0), (4, 4)] {
        let blob = {
            let mut b = FdtBuilder::new();
            b.begin("").prop_u32("#address-cells", &[ac]).prop_u32("#size-cells", &[sc]);
            // A reg whose length fits the cells, so only the cell values are wrong.
            b.begin("memory@40000000").prop_str("device_type", "memory");
            b.prop("reg", &vec![0u8; 4 * (ac + sc).max(1) as usize]);
            b.end().end();
            b.finish()
        };
        match parse(&blob) {
            Err(DtbError::BadCells { node, address, size }) => {
                assert_eq!((address, size), (ac, sc));
                assert_eq!(node.as_str(), "memory@40000000");
            }
            other => panic!("cells {}/{}: {:?}", ac, sc, other.map(|i| ram(&i))),
        }
    }
    // #size-cells that is not one cell long is malformed.
    let blob = tree(|b| {
        b.begin("soc").prop("#size-cells", &[0, 0, 0, 1, 0, 0, 0, 1]).end();
        memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, GIB)]);
    });
    assert!(matches!(Dtb::new(&blob).err(), Some(DtbError::Malformed { what, .. }) if what.contains("#size-cells")));

    // reg lengths that are not whole (address, size) entries, or empty.
    let good = reg_bytes((2, 2), &[(0x4000_0000, GIB)]);
    for len in [0, 4, 8, 12, 15, 17, 20, 24, 28] {
        let mut v = good.clone();
        v.resize(len, 0);
        let blob = tree(|b| {
            b.begin("memory@40000000").prop_str("device_type", "memory").prop("reg", &v).end();
        });
        match parse(&blob) {
            Err(DtbError::BadReg(n)) => assert_eq!(n.as_str(), "memory@40000000"),
            other => panic!("reg of {} bytes: {:?}", len, other.map(|i| ram(&i))),
        }
    }
}

/// The header fields of a good tree, broken one at a time.
#[test]
fn bad_headers() {
    let good = compact(&fixture("holes.dtb"));
    let total = good.len();
    let set = |i: usize, v: u32| {
        let mut b = good.clone();
        put32(&mut b, 4 * i, v);
        b
    };

    assert_eq!(Dtb::new(&good[..39]).err(), Some(DtbError::Truncated { need: 40, have: 39 }));
    assert_eq!(Dtb::new(&[]).err(), Some(DtbError::Truncated { need: 40, have: 0 }));
    for cut in [40, 100, total / 2, total - 1] {
        assert_eq!(Dtb::new(&good[..cut]).err(), Some(DtbError::Truncated { need: total, have: cut }));
    }
    // The QEMU dump cut short of its 1 MiB totalsize.
    let qemu = fixture("qemu-virt-1g.dtb");
    assert_eq!(Dtb::new(&qemu[..8192]).err(), Some(DtbError::Truncated { need: 1 << 20, have: 8192 }));

    assert_eq!(Dtb::new(&set(0, 0xedfe_0dd0)).err(), Some(DtbError::BadMagic(0xedfe_0dd0)));
    assert_eq!(Dtb::new(&set(0, 0)).err(), Some(DtbError::BadMagic(0)));
    assert_eq!(header_total_size(&set(0, 0x1234_5678)), Err(DtbError::BadMagic(0x1234_5678)));
    assert_eq!(Dtb::new(&set(5, 15)).err(), Some(DtbError::BadVersion(15)));
    assert_eq!(Dtb::new(&set(5, 16)).err(), None, "version 16 is enough");
    assert_eq!(Dtb::new(&set(1, (2 << 20) + 1)).err(), Some(DtbError::TooLarge((2 << 20) + 1)));
    assert_eq!(header_total_size(&set(1, 39)), Err(DtbError::BadLayout("totalsize smaller than the header")));
    for (field, value) in [
        (2, total as u32),     // structure block starts at the end
        (2, 8),                // structure block inside the header
        (9, total as u32),     // structure block too long
        (3, total as u32 + 4), // strings outside
        (8, 0xffff_fff0),      // strings size wraps
        (2, 0xffff_fffc),      // offset wraps
        (4, 41),               // reservation block misaligned
        (4, 16),               // reservation block inside the header
        (4, total as u32),     // reservation block at the end: not terminated
    ] {
        assert!(
            matches!(Dtb::new(&set(field, value)), Err(DtbError::BadLayout(_))),
            "field {} = {:#x}: {:?}",
            field,
            value,
            Dtb::new(&set(field, value)).err()
        );
    }
    // Misaligned structure block.
    let off = common::header_field(&good, 2);
    assert!(matches!(Dtb::new(&set(2, off + 2)), Err(DtbError::BadLayout(_) | DtbError::Malformed { .. })));
}

#[test]
fn malformed_structure() {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mem = |b: &mut FdtBuilder| memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, GIB)]);
    cases.push((
        "unknown token",
        tree(|b| {
            mem(b);
            b.raw(7);
        }),
    ));
    cases.push(("property outside any node", {
        let mut b = FdtBuilder::new();
        b.prop_str("x", "y").begin("");
        mem(&mut b);
        b.end();
        b.finish()
    }));
    cases.push((
        "property after a child node",
        tree(|b| {
            mem(b);
            b.prop_str("late", "y");
        }),
    ));
    cases.push(("FDT_END_NODE without a node", {
        let mut b = FdtBuilder::new();
        b.end();
        b.finish()
    }));
    cases.push(("FDT_END inside a node", {
        let mut b = FdtBuilder::new();
        b.begin("");
        mem(&mut b);
        b.finish()
    }));
    cases.push(("structure block ends without FDT_END", {
        let mut b = FdtBuilder::new();
        b.no_end_token = true;
        b.begin("");
        mem(&mut b);
        b.finish()
    }));
    // A second root is caught as data after the first.
    cases.push(("data after the root node", {
        let mut b = FdtBuilder::new();
        b.begin("").end().begin("");
        mem(&mut b);
        b.end();
        b.finish()
    }));
    cases.push(("data after the root node", {
        let mut b = FdtBuilder::new();
        b.begin("");
        mem(&mut b);
        b.end().nop().raw(3);
        b.finish()
    }));
    cases.push(("root node has a name", {
        let mut b = FdtBuilder::new();
        b.begin("root");
        mem(&mut b);
        b.end();
        b.finish()
    }));
    cases.push((
        "node without a name",
        tree(|b| {
            b.begin("").end();
        }),
    ));
    cases.push(("FDT_END inside a node or before the root", {
        let mut b = FdtBuilder::new();
        b.nop();
        b.finish()
    }));
    for (what, blob) in &cases {
        match Dtb::new(blob) {
            Err(DtbError::Malformed { what: w, offset }) => {
                assert!(w.contains(what) || what.contains(w), "expected {:?}, got {:?}", what, w);
                assert!(offset < blob.len());
            }
            other => panic!("{}: {:?}", what, other.err()),
        }
    }

    // Property and name bytes running off the block, bad name offsets, bad UTF-8.
    let good = tree(|b| {
        b.begin("chosen").prop_str("bootargs", "console=ttyAMA0").end();
        mem(b);
    });
    let st = common::header_field(&good, 2) as usize;
    // Find the bootargs property: FDT_PROP, len 16.
    let prop = (st..good.len() - 8)
        .step_by(4)
        .find(|&p| common::get32(&good, p) == 3 && common::get32(&good, p + 4) == 16)
        .unwrap();
    let mut b = good.clone();
    put32(&mut b, prop + 4, 0x7fff_fff0);
    assert!(matches!(Dtb::new(&b), Err(DtbError::Malformed { what, .. }) if what.contains("past the block")));
    let mut b = good.clone();
    put32(&mut b, prop + 8, 0x10_0000);
    assert!(matches!(Dtb::new(&b), Err(DtbError::Malformed { what, .. }) if what.contains("strings")));
    let mut b = good.clone();
    let name = find(&b, b"chosen").unwrap();
    b[name] = 0xff;
    assert!(matches!(Dtb::new(&b), Err(DtbError::Malformed { what, .. }) if what.contains("UTF-8")));
    // A node name with no terminator before the end of the structure block.
    let mut b = FdtBuilder::new();
    b.begin("").raw(1).raw(0x6161_6161);
    b.no_end_token = true;
    let mut blob = b.finish();
    let strings_off = common::header_field(&blob, 3) as usize;
    blob.truncate(strings_off);
    put32(&mut blob, 4, strings_off as u32);
    put32(&mut blob, 32, 0);
    assert!(matches!(Dtb::new(&blob), Err(DtbError::Malformed { what, .. }) if what.contains("not terminated")));
}

#[test]
fn error_messages_name_the_problem() {
    let name = |s: &str| {
        let blob = tree(|b| {
            b.begin(s).prop_str("device_type", "memory").prop("reg", &[0; 12]).end();
        });
        match parse(&blob) {
            Err(DtbError::BadReg(n)) => n,
            other => panic!("{:?}", other.err()),
        }
    };
    let node = name("memory@40000000");
    let cases: Vec<(DtbError, &[&str])> = vec![
        (DtbError::Truncated { need: 1048576, have: 8192 }, &["truncated", "1048576", "8192"]),
        (DtbError::BadMagic(0x1234_5678), &["magic", "0x12345678", "0xd00dfeed"]),
        (DtbError::BadVersion(3), &["version 3"]),
        (DtbError::TooLarge(3 << 20), &["3145728", "2 MiB"]),
        (DtbError::BadLayout("strings block outside the blob"), &["layout", "strings block"]),
        (DtbError::Malformed { what: "unknown token", offset: 0x40 }, &["malformed", "0x40", "unknown token"]),
        (
            DtbError::BadCells { node, address: 2, size: 3 },
            &["memory@40000000", "#address-cells = 2", "#size-cells = 3"],
        ),
        (DtbError::BadReg(node), &["memory@40000000", "reg"]),
        (DtbError::NoMemory, &["no memory", "RAM"]),
        (DtbError::ZeroSizeRange { base: 0x9000_0000 }, &["0x90000000", "size zero"]),
        (
            DtbError::RangeTooHigh { node: NodeName::new("memory@1000000000000"), base: 1 << 48, size: 0x1000 },
            &["node \"memory@1000000000000\": reg range", "0x1000000000000", "48-bit"],
        ),
        (
            DtbError::OverlappingRanges { a: r(0x4000_0000, 0x8000_0000), b: r(0x7000_0000, 0xb000_0000) },
            &["overlap", "0x40000000", "0x80000000", "0x70000000", "0xb0000000"],
        ),
        (DtbError::TooManyRanges, &["too many"]),
    ];
    for (e, words) in cases {
        let s = e.to_string();
        for w in words {
            assert!(s.contains(w), "{:?} displays as {:?}, missing {:?}", e, s, w);
        }
    }
    // Node names are kept to 32 bytes, on a character boundary.
    let long = name("memory@4000000000000000000000000000000000");
    assert_eq!(long.as_str(), &"memory@4000000000000000000000000000000000"[..32]);
    let utf = name("memory-éééééééééééééééééééééééééé");
    assert!(utf.as_str().len() <= 32 && "memory-éééééééééééééééééééééééééé".starts_with(utf.as_str()));
    assert_eq!(format!("{:?}", node), "\"memory@40000000\"");
}

/// `/psci`: the first PSCI string of `compatible` decides between 0.1
/// (IDs from the node) and 0.2 or later; `cpu_on` is read as one cell.
#[test]
fn psci_version_and_cpu_on() {
    let with = |compat: &[u8], cpu_on: Option<&[u32]>| {
        tree(|b| {
            memory(b, "memory@40000000", (2, 2), &[(0x4000_0000, 0x1000_0000)]);
            b.begin("psci").prop("compatible", compat).prop_str("method", "smc");
            if let Some(c) = cpu_on {
                b.prop_u32("cpu_on", c);
            }
            b.end();
        })
    };
    let blob = with(b"arm,psci\0", Some(&[0x9500_0001]));
    let info = parse(&blob).unwrap();
    assert!(info.psci_v0_1);
    assert_eq!(info.psci_cpu_on, Some(0x9500_0001));
    assert_eq!(info.psci_method, Some("smc"));
    let blob = with(b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0", Some(&[0xc400_0003]));
    assert!(!parse(&blob).unwrap().psci_v0_1);
    let blob = with(b"vendor,thing\0arm,psci\0", None);
    let info = parse(&blob).unwrap();
    assert!(info.psci_v0_1);
    assert_eq!(info.psci_cpu_on, None);
    // A cpu_on of the wrong size is not taken.
    let blob = with(b"arm,psci\0", Some(&[1, 2]));
    assert_eq!(parse(&blob).unwrap().psci_cpu_on, None);
}

/// A pass means a node name kept for messages is the name's first 32
/// bytes, cut back to a character boundary, and debug-prints quoted.
#[test]
fn node_names_are_kept_to_32_bytes_on_a_character_boundary() {
    assert_eq!(NodeName::new("memory@40000000").as_str(), "memory@40000000");
    assert_eq!(format!("{:?}", NodeName::new("memory@40000000")), "\"memory@40000000\"");
    let long = "reserved-memory-region-with-a-long-name@48000000";
    assert_eq!(NodeName::new(long).as_str(), &long[..32]);
    // 31 ASCII bytes and a two-byte character: the character does not fit.
    let cut = format!("{}é", "a".repeat(31));
    assert_eq!(NodeName::new(&cut).as_str(), "a".repeat(31));
    assert_eq!(NodeName::new("").as_str(), "");
}
