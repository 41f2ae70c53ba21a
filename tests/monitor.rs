//! Monitor tests: a pass means the monitor answers each command through the
//! serial console, reports bad input without stopping, survives reading an
//! unmapped address, and powers off cleanly (exit 0) at end of input.

mod common;
use common::*;
use vakern::qemu::Machine;

fn monitor(input: &str) -> String {
    let k = kernel(false);
    let out = machine().run_with_input(&k.image, Some(input.as_bytes())).unwrap();
    out.expect_code(0).unwrap_or_else(|e| panic!("input {input:?}: {e}"));
    assert!(
        out.console.contains("end of input: powering off") || out.console.contains("powering off"),
        "{}",
        out.console
    );
    out.console
}

#[test]
fn translation_commands() {
    let c = monitor("pa 0xffff_8000_0000_1000\nva 0x4000_0000\npa _text\nwalk 0xffff800000000000\nsym start_kernel\n");
    has(
        &c,
        &[
            "__pa(0xffff_8000_0000_1000) = 0x0000_0000_4000_1000 (linear rule)",
            "MMU (AT S1E1R): 0x0000_0000_4000_1000",
            "__va(0x0000_0000_4000_0000) = 0xffff_8000_0000_0000",
            "__pa(0xffff_0000_0800_0000) = 0x0000_0000_4020_0000 (image rule)",
            "[ffff800000000000] pgd=",
            "start_kernel is at 0xffff_0000_08",
        ],
    );
    assert!(!c.contains("MISMATCH"), "{c}");
}

#[test]
fn reading_memory_and_faulting_safely() {
    let c = monitor("x _text 16\nx 0xffff010008000000 16\nlayout\n");
    // The image header starts with a branch and has the magic at offset 56.
    has(
        &c,
        &[
            "0xffff_0000_0800_0000:",
            "Unable to handle kernel paging request at virtual address ffff010008000000",
            "(x: stopped at the fault; the monitor carries on)",
            "Virtual kernel memory layout:",
        ],
    );
}

#[test]
fn vmalloc_vfree_meminfo_ptdump() {
    let c = monitor("vmalloc 10000\nmeminfo\nptdump\n");
    has(
        &c,
        &[
            "vmalloc(10000) = 0xffff_0000_08",
            "; guard page at",
            "vmalloc by the monitor, 3 pages",
            "(12 KiB, 3 pages; guard page at",
            "the kernel stack of CPU 0 (16 pages)",
            "NUMA: node 0: [mem 0x0000000040000000-0x000000007fffffff] 1 GiB",
            "---[ Linear mapping ]---",
            "linear map tables: L1 1",
        ],
    );
    let va = c
        .lines()
        .find_map(|l| l.strip_prefix("vmalloc(10000) = "))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_string();
    let c = monitor(&format!("vmalloc 10000\nvfree {va}\nvfree {va}\n"));
    has(&c, &["freed the area at", "is not an area the monitor's vmalloc handed out"]);
}

#[test]
fn bad_input_gets_an_error_and_the_prompt() {
    let c =
        monitor("frobnicate\npa\npa zzz\nx 0x0 0\nx 1 2 3\nvmalloc 0\nfault\nfault nonesuch\nsym no_such_fn\n\nhelp\n");
    has(
        &c,
        &[
            "error: unknown command \"frobnicate\"; type 'help'",
            "error: pa: missing argument (usage: pa VA)",
            "error: pa: \"zzz\" is not a number (addresses are hex) nor a known symbol",
            "error: x: length must be at least 1 byte",
            "error: x: too many arguments",
            "error: vmalloc: size must be at least 1 byte",
            "error: fault: missing argument (usage: fault KIND)",
            "error: fault nonesuch: unknown fault kind",
            "error: sym: \"no_such_fn\" is neither a hex address nor a known function name",
            "commands (case does not matter; help CMD for one):",
            "numbers: addresses are hex, with or without 0x",
        ],
    );
    assert_eq!(count(&c, "vakern> "), 12, "one prompt per line plus the last:\n{c}");
}

#[test]
fn fault_command_is_fatal() {
    let k = kernel(false);
    let out = machine().run_with_input(&k.image, Some(b"fault rodata-write\n")).unwrap();
    out.expect_code(4).unwrap();
    assert!(out.console.contains("write to read-only memory"), "{}", out.console);
}

#[test]
fn poweroff_command() {
    let c = monitor("poweroff\n");
    assert!(c.contains("powering off"), "{c}");
}

/// The first address a `vmalloc` line of the console names.
fn vmalloc_va(c: &str, n: &str) -> String {
    let prefix = format!("vmalloc({n}) = ");
    c.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{c}"))
        .to_string()
}

#[test]
fn walk_verbose_bits_map_and_the_unchecked_pa() {
    let c = monitor("walk -v _text\nbits 0xffff800000201000\nmap\nvmalloc 4K\n");
    has(
        &c,
        &[
            "bits [63:48] all ones: TTBR1_EL1, root table at PA",
            "level 0 (PGD): index 0 from VA bits [47:39]",
            "level 2 (PMD): index 64 from VA bits [29:21]",
            "level 3 (PTE): index 0 from VA bits [20:12]",
            "page descriptor, 4 KiB: output address PA 0x0000_0000_4020_0000",
            "AP 0b10 (EL1 read-only, no EL0 access), UXN 1, PXN 0 (EL1 may execute), AF 1, SH 0b11 (inner shareable)",
            "AttrIndx 4 -> MAIR_EL1 byte 0xff (MEM/NORMAL), contiguous 0",
            "stop: a page is a leaf: PA = 0x0000_0000_4020_0000 + VA bits [11:0] (0x0) = 0x0000_0000_4020_0000",
            // bits: 0xffff800000201000 = TTBR1, indexes 256, 0, 1, 1, offset 0.
            "| 0xffff |    256    |     0     |     1     |     1     |     0x0     |",
            " TTBR1    PGD index   PUD index   PMD index   PTE index   page offset",
            "binary: 1111111111111111 100000000 000000000 000000001 000000001 000000000000",
            // map: the regions and what lies in them, on a log scale.
            "user half (TTBR0; empty after boot)",
            "kernel image [_text, _end)",
            "ioremap of PA 0x0000_0000_0900_0000 (the console UART)",
            "the kernel stack of CPU 0 (16 pages)",
            "RAM at PA 0x0000_0000_4000_0000 ..",
            "beyond the end of RAM (not mapped)",
            "slot EarlyCon",
            "device tree window",
        ],
    );
    // One '#' per doubling from one page: 1 GiB of RAM has 19.
    let ram = c.lines().find(|l| l.contains("RAM at PA 0x0000_0000_4000_0000")).unwrap();
    assert!(ram.trim_end().ends_with(&format!(" {}", "#".repeat(19))), "{ram}");

    // pa of the vmalloc address in the same boot: no rule, the unchecked
    // value is the linear rule applied blindly, the MMU has the real page.
    let va = vmalloc_va(&c, "4096");
    let c = monitor(&format!("vmalloc 4K\npa {va}\n"));
    let page =
        c.lines().find_map(|l| l.strip_prefix(&format!("  {va} -> "))).unwrap_or_else(|| panic!("{c}")).to_string();
    has(
        &c,
        &[
            "is in: vmalloc",
            "__pa is not defined here: the address is neither linear nor in the image",
            "<- silently wrong: no rule applies",
            "debug_virtual: would report \"virt_to_phys used for non-linear address\"",
            &format!("MMU (AT S1E1R): {page}"),
        ],
    );
    let unchecked = c
        .lines()
        .find_map(|l| l.strip_prefix("unchecked __pa (the fast path: bit 47 picks the image rule, no check) = "))
        .unwrap();
    assert!(!unchecked.starts_with(&page), "the unchecked __pa is the wrong answer, not the page: {c}");
}

#[test]
fn the_kernel_survives_vfree_of_what_it_did_not_hand_out() {
    let c = monitor("meminfo\n");
    let stack = c
        .lines()
        .find(|l| l.contains("the kernel stack of CPU 0"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let uart = c
        .lines()
        .find(|l| l.contains("(the console UART)"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let c = monitor(&format!("vfree {stack}\nvfree {uart}\nx {uart} 16\nvfree _text\nmeminfo\n"));
    has(
        &c,
        &[
            &format!("error: vfree: refused: {stack} is in the kernel stack of CPU 0"),
            "which is in use",
            "is not one the monitor handed out: ioremap of PA 0x0000_0000_0900_0000 (the console UART)",
            "is device memory (DEVICE/nGnRE); reading it can change the device. Use x -f to read anyway",
            "vfree: refused: 0xffff_0000_0800_0000 is not an area the monitor's vmalloc handed out (it is in: kernel image)",
            "vmalloc/ioremap areas: 2",
        ],
    );
    assert!(!c.contains("Oops") && !c.contains("Internal error"), "{c}");
}

#[test]
fn numbers_follow_one_rule() {
    // Hex with or without 0x or underscores, as the kernel prints them; sizes decimal or 0x, with K/M/G.
    let c = monitor(
        "va 40200000\nva 0x4020_0000\nx ffff_0000_0800_0038 4\nvmalloc 0x3000\nvmalloc 8K\nvmalloc 2G\n\
         x 0 0x2000\nx 12345678901234567890\nvmalloc 99999999999999999999\nvmalloc 5Q\nsym\n",
    );
    assert_eq!(count(&c, "__va(0x0000_0000_4020_0000) = 0xffff_8000_0020_0000"), 2, "{c}");
    has(
        &c,
        &[
            "0xffff_0000_0800_0038: 41 52 4d 64", // the Image header's magic "ARMd"
            "vmalloc(12288) = ",
            "(12 KiB, 3 pages;",
            "vmalloc(8192) = ",
            "error: vmalloc: 2 GiB is more than the limit of 1 GiB",
            "error: x: length 8 KiB is more than the limit of 4 KiB",
            "error: x: \"12345678901234567890\" does not fit in 64 bits (20 hex digits)",
            "error: vmalloc: \"99999999999999999999\" does not fit in 64 bits",
            "error: vmalloc: \"5Q\" is not a size",
            "error: sym: missing argument (usage: sym ADDR|NAME)",
        ],
    );
    assert!(!c.contains("Some("), "{c}");
}

#[test]
fn edges_of_the_address_space_and_of_ram() {
    let c = monitor(
        "x 0xffffffffffffffff 16\nva 0x0000_8000_4000_0000\nva 0x1000\npa 0xffff_8000_4000_0000\nlm_alias _text\n\
         lm_alias 0xffff800000000000\nidmap\n",
    );
    has(
        &c,
        &[
            "(x: the address space ends at 0xffff_ffff_ffff_ffff: reading 1 byte up to it; the other 15 bytes would wrap to 0 and are not read)",
            "Unable to handle kernel paging request at virtual address ffffffffffffffff",
            "__va: no linear address: PA is 128 TiB above memstart_addr 0x0000_0000_4000_0000, beyond the linear map's reach of 128 TiB",
            "__va: no linear address: PA is below memstart_addr 0x0000_0000_4000_0000",
            "(linear rule): beyond the end of RAM (not RAM)",
            "debug_virtual: would report \"virt_to_phys used for linear address beyond RAM\"",
            "lm_alias(_text) = __va(0x0000_0000_4020_0000) = 0xffff_8000_0020_0000",
            "MMU: 0xffff_0000_0800_0000 -> 0x0000_0000_4020_0000, 0xffff_8000_0020_0000 -> 0x0000_0000_4020_0000",
            "error: lm_alias: 0xffff_8000_0000_0000 is not in the kernel image",
            "identity map as it was when paging_init emptied TTBR0",
            "0x0000000040200000-0x0000000040400000           2M PMD     RW x  SHD AF        BLK UXN MEM/NORMAL",
            "first address -> PA 0x0000_0000_4020_0000 (identity: VA = PA)",
            "    all RAM the device tree describes",
        ],
    );
}

#[test]
fn numa_nodes_and_a_ram_hole() {
    // Two NUMA nodes with a hole between them: RAM at [1 GiB, 1.5 GiB) on node 0 and [2 GiB, 2.5 GiB) on node 1.
    let memory = "\tmemory@40000000 { device_type = \"memory\"; reg = <0 0x40000000 0 0x20000000>; numa-node-id = <0>; };\n\
                  \tmemory@80000000 { device_type = \"memory\"; reg = <0 0x80000000 0 0x20000000>; numa-node-id = <1>; };\n";
    let dtb = custom_dtb("numa-hole", "2G", memory, "kaslr_seed=12345");
    let k = kernel(false);
    let m = Machine { ram: "2G".into(), ..raw(machine(), dtb) };
    let out = m.run_with_input(&k.image, Some(b"meminfo\npa 0xffff_8000_3000_0000\nva 0x7000_0000\nmap\n")).unwrap();
    out.expect_code(0).unwrap();
    let c = out.console;
    has(
        &c,
        &[
            "NUMA: 2 nodes in the device tree",
            "NUMA: node 0: [mem 0x0000000040000000-0x000000005fffffff] 512 MiB",
            "NUMA: node 1: [mem 0x0000000080000000-0x000000009fffffff] 512 MiB",
            "__pa(0xffff_8000_3000_0000) = 0x0000_0000_7000_0000 (linear rule): a hole between RAM ranges (no RAM there)",
            "0x0000_0000_7000_0000 is a hole between RAM ranges (no RAM there)",
            "hole: no RAM at PA 0x0000_0000_6000_0000 ..",
        ],
    );
    // Both in the boot log and in meminfo.
    assert_eq!(count(&c, "NUMA: node 1: [mem"), 2, "{c}");
    assert!(!c.contains("Unknown kernel command line parameter"), "kaslr_seed= is known:\n{c}");
}

#[test]
fn help_for_each_command_and_did_you_mean() {
    let c = monitor("help walk\nhelp bits\nhelp nosuch\nwlak _text\nPA _text\nWalk -V _text\n");
    has(
        &c,
        &[
            "walk [-v] VA - the table walk for VA (-v: every level decoded)",
            "bits VA - how the MMU splits VA into indexes",
            "error: help: no command \"nosuch\"",
            "error: unknown command \"wlak\"; did you mean 'walk'?",
            "__pa(0xffff_0000_0800_0000) = 0x0000_0000_4020_0000 (image rule)",
            "level 3 (PTE): index 0 from VA bits [20:12]",
        ],
    );
}

#[test]
fn a_line_longer_than_the_buffer_is_refused_whole() {
    let long = format!("pa _text{}\n", " ".repeat(300));
    let c = monitor(&format!("{long}help bits\n"));
    has(&c, &["error: line of 308 characters is longer than the limit of 256 characters; not run", "bits VA -"]);
    assert!(!c.contains("(image rule)"), "the cut line must not run:\n{c}");
}
