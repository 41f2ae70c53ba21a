//! The layout table for the GDB helpers: `vakern-layout.json`, written by
//! the image builder next to the kernel's ELF once the ELF is final.
//!
//! The helpers in `scripts/gdb/` hold no layout constant of their own: they
//! read this table when GDB loads them, from the directory of the ELF that
//! GDB debugs. Everything in it comes from `vakern_mm` (the crate the kernel
//! itself is built on): the compile-time layout constants of the flavour
//! the kernel is built in, the shape of the tables (VA bits, page size,
//! levels, and per level the VA bits it indexes, its entries and whether
//! it may hold blocks; with 52-bit VAs also the smaller root a CPU without
//! FEAT_LVA walks and the TTBR1 offset that serves it), the region table as
//! `vakern_mm::layout::classify` draws it, the page-table dump's region
//! markers, and the descriptor constants (output-address mask, MAIR value,
//! memory types). The run-time values (`memstart_addr`, `kimage_voffset`,
//! the KASLR offset) are not here: the helpers read them from the running
//! kernel. The launcher builds the kernel in the flavour its own copy of
//! `vakern_mm` is compiled in (`vakern_mm::layout::ACTIVE`), so that is the
//! flavour written; a launcher that builds other flavours must write theirs.
//! Host only; uses `vakern_mm` and `std`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vakern_mm::layout::{self, Layout, Placement, Region};
use vakern_mm::{ptdump, pte};

/// File name of the table, next to the ELF.
pub const FILE_NAME: &str = "vakern-layout.json";
/// Version of the table's format; the helpers refuse other versions.
pub const FORMAT: u32 = 2;

/// Every compile-time constant of `vakern_mm::layout`, by its name there,
/// for the flavour `l` (computed by the same `const fn`s the kernel's
/// constants come from).
pub fn constants(l: &Layout) -> Vec<(&'static str, u64)> {
    vec![
        ("VA_BITS", l.va_bits() as u64),
        ("VA_BITS_MIN", l.va_bits_min() as u64),
        ("PAGE_SHIFT", l.page_shift() as u64),
        ("LEVELS", l.levels() as u64),
        ("ROOT_LEVEL", l.root_level() as u64),
        ("PAGE_SIZE", l.page_size()),
        ("PMD_SIZE", l.pmd_size()),
        ("PUD_SIZE", l.pud_size()),
        ("PGDIR_SIZE", l.pgdir_size()),
        ("CONT_PTES", l.cont_ptes()),
        ("CONT_PMDS", l.cont_pmds()),
        ("CONT_PTE_SIZE", l.cont_pte_size()),
        ("CONT_PMD_SIZE", l.cont_pmd_size()),
        ("VA_START", l.va_start()),
        ("PAGE_OFFSET", l.page_offset()),
        ("PAGE_END", l.page_end()),
        ("LINEAR_SIZE", l.linear_region_size(l.va_bits())),
        ("MODULES_VADDR", l.modules_vaddr()),
        ("MODULES_VSIZE", l.modules_vsize()),
        ("MODULES_END", l.modules_end()),
        ("KIMAGE_VADDR", l.kimage_vaddr()),
        ("STRUCT_PAGE_SIZE", l.struct_page_size()),
        ("VMEMMAP_SIZE", l.vmemmap_size()),
        ("VMEMMAP_START", l.vmemmap_start()),
        ("VMEMMAP_END", l.vmemmap_end()),
        ("VMALLOC_START", l.vmalloc_start()),
        ("VMALLOC_END", l.vmalloc_end(l.va_bits())),
        ("PCI_IO_SIZE", l.pci_io_size()),
        ("PCI_IO_END", l.pci_io_end()),
        ("PCI_IO_START", l.pci_io_start()),
        ("FIXADDR_TOP", l.fixaddr_top()),
        ("FIXADDR_SIZE", l.fixaddr_size()),
        ("FIXADDR_START", l.fixaddr_start()),
        ("FIX_FDT_SIZE", l.fix_fdt_size()),
        ("FIX_FDT_BASE", l.fix_fdt_base()),
        ("FIX_SLOTS_SIZE", l.fix_slots_size()),
        ("FIX_SLOTS_BASE", l.fix_slots_base()),
        ("MAX_FDT_SIZE", layout::MAX_FDT_SIZE),
        ("MEMSTART_ALIGN", l.memstart_align()),
    ]
}

/// The key each region has in the table (an exhaustive match, so a new
/// region cannot be left out).
pub const fn region_key(r: Region) -> &'static str {
    match r {
        Region::User => "user",
        Region::NonCanonical => "non_canonical",
        Region::Modules => "modules",
        Region::KernelImage => "kernel_image",
        Region::Vmalloc => "vmalloc",
        Region::Hole => "hole",
        Region::Fixmap => "fixmap",
        Region::PciIo => "pci_io",
        Region::Vmemmap => "vmemmap",
        Region::Linear => "linear",
        Region::LinearBeyondRam => "linear_beyond_ram",
    }
}

/// One entry of the region table: `[start, end)` of the upper half, `end`
/// as a u128 so that the linear map can end at 2^64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSpan {
    /// First address.
    pub start: u64,
    /// End (exclusive).
    pub end: u128,
    /// What `classify` says for every address in it.
    pub region: Region,
}

/// The upper half cut at every layout constant, each piece named by
/// `classify` (with no image and the linear map reaching 2^64), adjacent
/// pieces of the same region merged. The image and the end of RAM are
/// run-time facts the helpers add.
pub fn region_table(l: &Layout) -> Vec<RegionSpan> {
    let at = Placement { text: 0, end: 0, linear_end: 0 };
    let mut cuts: Vec<u64> = constants(l).iter().map(|c| c.1).filter(|&a| a >= l.va_start()).collect();
    cuts.push(l.va_start());
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<RegionSpan> = Vec::new();
    for (i, &start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).map_or(1u128 << 64, |&e| e as u128);
        let region = match l.classify(start, &at, l.va_bits()) {
            Region::LinearBeyondRam => Region::Linear,
            r => r,
        };
        match out.last_mut() {
            Some(last) if last.region == region && last.end == start as u128 => last.end = end,
            _ => out.push(RegionSpan { start, end, region }),
        }
    }
    out
}

fn hex(v: u128) -> String {
    format!("\"{v:#x}\"")
}

fn string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                o.push('\\');
                o.push(c);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The `geometry` member: how the flavour's tables translate, from the
/// same `Layout` methods the kernel's own walks use. `levels` lists the
/// levels a walk visits (root first) with the lowest VA bit each indexes,
/// its entry count (the root's for `VA_BITS`), the size one entry maps and
/// whether a block may stand there; `vabits` lists each VA size the
/// flavour can run with (two with 52-bit VAs), with the root's entry count
/// and the offset added to the root's address in TTBR1 for it.
pub fn geometry(l: &Layout) -> String {
    let mut j = String::from("  \"geometry\": {\n");
    let _ = writeln!(j, "    \"va_bits_min\": {},", l.va_bits_min());
    let _ = writeln!(j, "    \"bits_per_level\": {},", l.bits_per_level());
    let _ = writeln!(j, "    \"root_level\": {},", l.root_level());
    let _ = writeln!(j, "    \"tg0\": {},", l.granule().tg0());
    let _ = writeln!(j, "    \"tg1\": {},", l.granule().tg1());
    j.push_str("    \"levels\": [\n");
    let levels: Vec<String> = (l.root_level()..4)
        .map(|lv| {
            format!(
                "      {{\"level\": {lv}, \"shift\": {}, \"entries\": {}, \"size\": {}, \"block\": {}}}",
                l.level_shift(lv),
                l.entries(lv),
                hex(l.level_size(lv) as u128),
                l.block_allowed(lv)
            )
        })
        .collect();
    j.push_str(&levels.join(",\n"));
    j.push_str("\n    ],\n");
    j.push_str("    \"vabits\": [\n");
    let mut sizes = vec![l.va_bits()];
    if l.has_vabits_actual() {
        sizes.push(l.va_bits_min());
    }
    let root = l.root_level();
    let vabits: Vec<String> = sizes
        .iter()
        .map(|&v| {
            format!(
                "      {{\"va_bits\": {v}, \"root_entries\": {}, \"ttbr1_offset\": {}}}",
                1u64 << (v - l.level_shift(root)),
                hex(l.ttbr1_offset(v) as u128)
            )
        })
        .collect();
    j.push_str(&vabits.join(",\n"));
    j.push_str("\n    ]\n  },\n");
    j
}

/// The table as JSON text. Numbers that are addresses, masks or sizes are
/// hex strings (`"0xffff800000000000"`), readable and exact in any JSON reader.
pub fn to_json(l: &Layout) -> String {
    let mut j = String::from("{\n");
    let _ = writeln!(
        j,
        "  \"about\": {},",
        string("vakern's address layout, written by the image builder for the GDB helpers (scripts/gdb)")
    );
    let _ = writeln!(j, "  \"format\": {FORMAT},");
    let _ = writeln!(j, "  \"flavour\": {},", string(&l.to_string()));
    let _ = writeln!(j, "  \"va_bits\": {},", l.va_bits());
    let _ = writeln!(j, "  \"page_shift\": {},", l.page_shift());
    let _ = writeln!(j, "  \"levels\": {},", l.levels());
    j.push_str(&geometry(l));
    j.push_str("  \"constants\": {\n");
    let consts: Vec<String> =
        constants(l).iter().map(|(n, v)| format!("    {}: {}", string(n), hex(*v as u128))).collect();
    j.push_str(&consts.join(",\n"));
    j.push_str("\n  },\n");
    j.push_str("  \"region_names\": {\n");
    let names: Vec<String> =
        Region::ALL.iter().map(|&r| format!("    {}: {}", string(region_key(r)), string(r.name()))).collect();
    j.push_str(&names.join(",\n"));
    j.push_str("\n  },\n");
    j.push_str("  \"regions\": [\n");
    let spans: Vec<String> = region_table(l)
        .iter()
        .map(|s| {
            format!(
                "    {{\"region\": {}, \"start\": {}, \"end\": {}}}",
                string(region_key(s.region)),
                hex(s.start as u128),
                hex(s.end)
            )
        })
        .collect();
    j.push_str(&spans.join(",\n"));
    j.push_str("\n  ],\n");
    // Markers that move with the image: found by placing the image twice.
    let (a, b) = (ptdump::markers_for(l, 1 << 20, 2 << 20), ptdump::markers_for(l, 3 << 20, 5 << 20));
    j.push_str("  \"ptdump_markers\": [\n");
    let markers: Vec<String> = a
        .iter()
        .zip(b.iter())
        .map(|(ma, mb)| {
            let at = if ma.start == mb.start {
                format!("\"start\": {}", hex(ma.start as u128))
            } else if ma.start == 1 << 20 {
                "\"at\": \"text\"".to_string()
            } else {
                "\"at\": \"end\"".to_string()
            };
            format!("    {{\"name\": {}, {at}}}", string(ma.name))
        })
        .collect();
    j.push_str(&markers.join(",\n"));
    j.push_str("\n  ],\n");
    j.push_str("  \"descriptor\": {\n");
    let _ = writeln!(j, "    \"addr_mask\": {},", hex(pte::ADDR_MASK as u128));
    let _ = writeln!(j, "    \"mair\": {},", hex(pte::MAIR_VALUE as u128));
    j.push_str("    \"mem_types\": [\n");
    let types: Vec<String> = (0..8)
        .filter_map(pte::MemType::from_index)
        .map(|t| format!("      {{\"index\": {}, \"ptdump\": {}}}", t.attr() >> 2, string(t.name())))
        .collect();
    j.push_str(&types.join(",\n"));
    j.push_str("\n    ]\n  },\n");
    let _ = writeln!(j, "  \"load\": {{\"pa_text\": {}}}", hex(crate::qemu::SHIM_KERNEL_PA as u128));
    j.push_str("}\n");
    j
}

/// Write the table of flavour `l` into `dir`; its path.
pub fn write_into(dir: &Path, l: &Layout) -> Result<PathBuf, String> {
    let path = dir.join(FILE_NAME);
    crate::image::write_atomically(&path, to_json(l).as_bytes())?;
    Ok(path)
}

/// Write the table of flavour `l` next to the ELF at `elf` (where the
/// helpers look for it; each flavour's build has its own directory).
pub fn write_next_to(elf: &Path, l: &Layout) -> Result<PathBuf, String> {
    write_into(elf.parent().unwrap_or(Path::new(".")), l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vakern_mm::layout::ACTIVE;

    #[test]
    fn region_table_agrees_with_classify() {
        let table = region_table(&ACTIVE);
        let at = Placement { text: 0, end: 0, linear_end: 0 };
        let expect = |va: u64| match layout::classify(va, &at) {
            Region::LinearBeyondRam => Region::Linear,
            r => r,
        };
        // Contiguous from VA_START to 2^64.
        assert_eq!(table[0].start, layout::VA_START);
        assert_eq!(table.last().unwrap().end, 1 << 64);
        for w in table.windows(2) {
            assert_eq!(w[0].end, w[1].start as u128);
            assert_ne!(w[0].region, w[1].region, "unmerged neighbours {w:?}");
        }
        // Every span's ends, and 4096 evenly spaced addresses of the upper half.
        let find = |va: u64| table.iter().find(|s| s.start <= va && (va as u128) < s.end).unwrap().region;
        for s in &table {
            assert_eq!(find(s.start), expect(s.start), "{s:?}");
            let last = (s.end - 1) as u64;
            assert_eq!(find(last), expect(last), "{s:?}");
        }
        let step = (0u64.wrapping_sub(layout::VA_START)) / 4096;
        for i in 0..4096 {
            let va = layout::VA_START + i * step;
            assert_eq!(find(va), expect(va), "{va:#x}");
        }
        assert!(table.iter().any(|s| s.region == Region::Fixmap && s.start == layout::FIXADDR_START));
    }

    #[test]
    fn json_names_the_moving_markers_and_every_constant() {
        let j = to_json(&ACTIVE);
        assert!(j.contains("{\"name\": \"Kernel image\", \"at\": \"text\"}"), "{j}");
        assert!(j.contains("{\"name\": \"vmalloc() area (after the image)\", \"at\": \"end\"}"), "{j}");
        assert!(j.contains("{\"name\": \"Linear mapping\", \"start\": \"0xffff800000000000\"}"), "{j}");
        for (name, v) in constants(&ACTIVE) {
            assert!(j.contains(&format!("\"{name}\": \"{v:#x}\"")), "{name} missing");
        }
        assert!(j.contains("\"levels\": 4"));
        assert!(j.contains(&format!("\"mair\": \"{:#x}\"", pte::MAIR_VALUE)));
    }

    #[test]
    fn geometry_of_every_flavour() {
        for l in vakern_mm::flavour::FLAVOURS {
            let g = geometry(&l);
            // One line per level a walk visits, root first, ending at the page level.
            let levels: Vec<&str> = g.lines().filter(|s| s.contains("\"shift\"")).collect();
            assert_eq!(levels.len() as u32, l.levels(), "{l}: {g}");
            assert!(levels[0].contains(&format!("\"level\": {},", l.root_level())), "{l}: {g}");
            assert!(levels.last().unwrap().contains(&format!("\"shift\": {},", l.page_shift())), "{l}: {g}");
            // The root's index bits and the other levels' cover exactly VA_BITS.
            let index_bits = (l.va_bits() - l.level_shift(l.root_level())) + (l.levels() - 1) * l.bits_per_level();
            assert_eq!(index_bits + l.page_shift(), l.va_bits(), "{l}");
            // The smaller root of a CPU without LVA is the top of the full one.
            let sizes = g.lines().filter(|s| s.contains("\"root_entries\"")).count();
            assert_eq!(sizes, if l.has_vabits_actual() { 2 } else { 1 }, "{l}: {g}");
            if l.has_vabits_actual() {
                let small = 1u64 << (l.va_bits_min() - l.level_shift(l.root_level()));
                assert_eq!(l.ttbr1_offset(l.va_bits_min()) + small * 8, l.entries(l.root_level()) * 8, "{l}");
                assert!(g.contains(&format!("\"root_entries\": {small}, \"ttbr1_offset\": \"0x")), "{l}: {g}");
            }
            assert!(to_json(&l).contains(&g), "{l}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
