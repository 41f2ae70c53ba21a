//! Passing means: over tables built by the real mapper in a host buffer, `ptdump::dump` prints Linux's kernel_page_tables format line for line (markers in order, one line per run of equal level and attributes, sizes and columns exact), `ptdump::runs` merges exactly the adjacent entries that share level and attributes and splits on any difference or hole, and a walk of the whole upper half reads only the tables that exist.

use std::time::Instant;

use vakern_mm::layout::*;
use vakern_mm::pgtable::*;
use vakern_mm::ptdump::{self, Marker, Run};
use vakern_mm::pte::{self, MemType, Prot};

/// Physical address of table page 0 of the host memory.
const BASE: u64 = 0x4000_0000;
const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Physical memory for page tables: page `i` is at `BASE + i * 4096`.
struct Mem {
    pages: Vec<[u64; ENTRIES]>,
    /// The level each table was made for: `table_at` must be asked for the same.
    levels: Vec<u32>,
    /// Descriptors read, to check the walk skips what is not mapped.
    reads: u64,
}

impl Mem {
    /// Memory holding one empty root table, number 0.
    fn new() -> Mem {
        Mem { pages: vec![[0; ENTRIES]], levels: vec![ROOT_LEVEL], reads: 0 }
    }
}

impl TableAccess for Mem {
    type Table = usize;

    fn alloc_table(&mut self, level: u32) -> Result<usize, MapError> {
        self.pages.push([0; ENTRIES]);
        self.levels.push(level);
        Ok(self.pages.len() - 1)
    }

    fn table_at(&mut self, pa: u64, level: u32) -> usize {
        let t = ((pa - BASE) / PAGE_SIZE) as usize;
        assert!(pa >= BASE && t < self.pages.len(), "table_at({:#x}): no such table", pa);
        assert_eq!(self.levels[t], level, "table_at({:#x}) asked for the wrong level", pa);
        t
    }

    fn read(&mut self, table: usize, idx: usize) -> u64 {
        self.reads += 1;
        self.pages[table][idx]
    }

    fn write(&mut self, table: usize, idx: usize, desc: u64) {
        self.pages[table][idx] = desc;
    }

    fn populate(&mut self, parent: usize, idx: usize, _level: u32, child: usize) {
        self.pages[parent][idx] = pte::table_desc(BASE + child as u64 * PAGE_SIZE);
    }

    fn store_barrier(&mut self) {}
}

const ROOT: usize = 0;

fn map(mem: &mut Mem, va: u64, pa: u64, size: u64, prot: Prot, flags: MapFlags) {
    map_range(mem, ROOT, va, pa, size, prot, flags).unwrap_or_else(|e| panic!("map {:#x}: {}", va, e));
}

/// Blocks where they fit, no contiguous hint.
const BLOCKS: MapFlags = MapFlags { blocks: true, cont: false, replace: false };
/// Pages with the contiguous hint.
const CONT_PAGES: MapFlags = MapFlags { blocks: false, cont: true, replace: false };

/// The kernel image: 1536 KiB of text, 512 KiB of rodata, 256 KiB of data.
const TEXT: u64 = KIMAGE_VADDR;
const RODATA: u64 = TEXT + 1536 * KIB;
const DATA: u64 = RODATA + 512 * KIB;
const IMAGE_END: u64 = DATA + 256 * KIB;
/// A vmalloc-area buffer: one 64 KiB contiguous run and one more page.
const BUF: u64 = VMALLOC_START + 256 * MIB;
/// A device page (a UART, say), in the vmalloc area too.
const UART: u64 = BUF + 2 * MIB;

/// Tables shaped like the kernel's: the image in pages, a buffer with a
/// contiguous run, a device page, and a linear map of a 1 GiB block, three
/// 2 MiB blocks, and 64 MiB of contiguous 2 MiB blocks.
fn kernel_like() -> Mem {
    let mut m = Mem::new();
    map(&mut m, TEXT, 0x4020_0000, RODATA - TEXT, Prot::KERNEL_ROX, MapFlags::PAGES);
    map(&mut m, RODATA, 0x4038_0000, DATA - RODATA, Prot::KERNEL_RO, MapFlags::PAGES);
    map(&mut m, DATA, 0x4040_0000, IMAGE_END - DATA, Prot::KERNEL_RW, MapFlags::PAGES);
    map(&mut m, BUF, 0x8000_0000, 68 * KIB, Prot::KERNEL_RW, CONT_PAGES);
    map(&mut m, UART, 0x0900_0000, PAGE_SIZE, Prot::DEVICE, MapFlags::PAGES);
    map(&mut m, PAGE_OFFSET, 0x4000_0000, GIB, Prot::KERNEL_RW, MapFlags::LARGEST);
    map(&mut m, PAGE_OFFSET + GIB, 0x8000_0000, 6 * MIB, Prot::KERNEL_RW, BLOCKS);
    map(&mut m, PAGE_OFFSET + 2 * GIB, 0xc000_0000, 64 * MIB, Prot::KERNEL_RW, MapFlags::LARGEST);
    m
}

/// Linux's arm64 markers for the same regions, in address order.
fn markers() -> Vec<Marker> {
    let m = |start, name| Marker { start, name };
    vec![
        m(MODULES_VADDR, "Modules start"),
        m(MODULES_END, "Modules end"),
        m(VMALLOC_START, "vmalloc() area"),
        m(VMALLOC_END, "vmalloc() end"),
        m(FIXADDR_START, "Fixmap start"),
        m(FIXADDR_TOP, "Fixmap end"),
        m(PCI_IO_START, "PCI I/O start"),
        m(PCI_IO_END, "PCI I/O end"),
        m(VMEMMAP_START, "vmemmap start"),
        m(PAGE_OFFSET, "Linear Mapping start"),
    ]
}

fn dump_text(mem: &mut Mem, start: u64, end: u64, markers: &[Marker]) -> String {
    let mut s = String::new();
    ptdump::dump(mem, ROOT, start, end, markers, &mut s).unwrap();
    s
}

fn all_runs(mem: &mut Mem, start: u64, end: u64) -> Vec<Run> {
    let mut v = Vec::new();
    ptdump::runs(mem, ROOT, start, end, |r| v.push(r));
    v
}

#[test]
fn kernel_like_dump_is_exact() {
    let mut m = kernel_like();
    let text = dump_text(&mut m, VA_START, 0, &markers());
    let expected = "\
---[ Modules start ]---
---[ Modules end ]---
---[ vmalloc() area ]---
0xffff000008000000-0xffff000008180000        1536K PTE     ro x  SHD AF            UXN MEM/NORMAL
0xffff000008180000-0xffff000008200000         512K PTE     ro NX SHD AF            UXN MEM/NORMAL
0xffff000008200000-0xffff000008240000         256K PTE     RW NX SHD AF            UXN MEM/NORMAL
0xffff000018000000-0xffff000018010000          64K PTE     RW NX SHD AF    CON     UXN MEM/NORMAL
0xffff000018010000-0xffff000018011000           4K PTE     RW NX SHD AF            UXN MEM/NORMAL
0xffff000018200000-0xffff000018201000           4K PTE     RW NX     AF            UXN DEVICE/nGnRE
---[ vmalloc() end ]---
---[ Fixmap start ]---
---[ Fixmap end ]---
---[ PCI I/O start ]---
---[ PCI I/O end ]---
---[ vmemmap start ]---
---[ Linear Mapping start ]---
0xffff800000000000-0xffff800040000000           1G PUD     RW NX SHD AF        BLK UXN MEM/NORMAL
0xffff800040000000-0xffff800040600000           6M PMD     RW NX SHD AF        BLK UXN MEM/NORMAL
0xffff800080000000-0xffff800084000000          64M PMD     RW NX SHD AF    CON BLK UXN MEM/NORMAL
";
    assert_eq!(text, expected, "\n--- got ---\n{}", text);
}

#[test]
fn module_doc_example_lines_match_the_output() {
    // The two example lines in the module documentation, reproduced.
    let mut m = Mem::new();
    map(&mut m, 0xffff_0000_0808_0000, 0x4008_0000, 1536 * KIB, Prot::KERNEL_ROX, MapFlags::PAGES);
    map(&mut m, PAGE_OFFSET, 0x4000_0000, GIB, Prot::KERNEL_RW, BLOCKS);
    let mut s = String::new();
    for r in all_runs(&mut m, VA_START, 0) {
        ptdump::write_run(&mut s, &r).unwrap();
    }
    let doc = include_str!("../../src/ptdump.rs");
    for line in s.lines() {
        assert!(doc.contains(&format!("//! {}\n", line)), "not in the module docs: {:?}", line);
    }
    assert_eq!(s.lines().count(), 2);
}

#[test]
fn runs_report_levels_attributes_and_sizes() {
    let mut m = kernel_like();
    let runs = all_runs(&mut m, VA_START, 0);
    let summary: Vec<(u64, u64, u32, Prot, bool)> = runs
        .iter()
        .map(|r| (r.start, r.size(), r.level, Prot::from_desc(r.attrs).unwrap(), r.attrs & pte::CONT != 0))
        .collect();
    let rw = Prot::KERNEL_RW;
    assert_eq!(
        summary,
        vec![
            (TEXT, 1536 * KIB, 3, Prot::KERNEL_ROX, false),
            (RODATA, 512 * KIB, 3, Prot::KERNEL_RO, false),
            (DATA, 256 * KIB, 3, rw, false),
            (BUF, 64 * KIB, 3, rw, true),
            (BUF + 64 * KIB, 4 * KIB, 3, rw, false),
            (UART, 4 * KIB, 3, Prot::DEVICE, false),
            (PAGE_OFFSET, GIB, 1, rw, false),
            (PAGE_OFFSET + GIB, 6 * MIB, 2, rw, false),
            (PAGE_OFFSET + 2 * GIB, 64 * MIB, 2, rw, true),
        ]
    );
    // The attributes are the descriptor without its address.
    assert_eq!(runs[0].attrs, pte::leaf_desc(0, 3, Prot::KERNEL_ROX));
    assert_eq!(runs[6].attrs, pte::leaf_desc(0, 1, rw));
    assert_eq!(runs[5].mem_type(), Some(MemType::DeviceNgnre));
}

#[test]
fn adjacent_equal_entries_merge_whatever_their_output_address() {
    let mut m = Mem::new();
    // Three separate calls, physically scattered, one after another in VA.
    let va = VMALLOC_START + 64 * MIB;
    map(&mut m, va, 0x5000_0000, 3 * PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES);
    map(&mut m, va + 3 * PAGE_SIZE, 0x4100_0000, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES);
    map(&mut m, va + 4 * PAGE_SIZE, 0x6000_0000, 2 * PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES);
    let runs = all_runs(&mut m, VA_START, 0);
    assert_eq!(runs.len(), 1, "{:?}", runs);
    assert_eq!((runs[0].start, runs[0].end, runs[0].level), (va, va + 6 * PAGE_SIZE, 3));

    // Across a table boundary: the last page of one level-3 table and the
    // first of the next still make one run.
    let edge = VMALLOC_START + 128 * MIB - PAGE_SIZE;
    map(&mut m, edge, 0x7000_0000, 2 * PAGE_SIZE, Prot::KERNEL_RO, MapFlags::PAGES);
    let runs = all_runs(&mut m, edge - PAGE_SIZE, edge + 3 * PAGE_SIZE);
    assert_eq!(runs, vec![Run { start: edge, end: edge + 2 * PAGE_SIZE, level: 3, attrs: runs[0].attrs }]);
}

#[test]
fn any_difference_or_hole_splits_a_run() {
    let va = VMALLOC_START + 64 * MIB;
    let rw = Prot::KERNEL_RW;
    let cases: [(&str, Prot, u64, MapFlags); 4] = [
        ("read-only", Prot::KERNEL_RO, 0, MapFlags::PAGES),
        ("executable", Prot { write: true, exec: true, mem: MemType::Normal }, 0, MapFlags::PAGES),
        ("other memory type", Prot { mem: MemType::NormalNc, ..rw }, 0, MapFlags::PAGES),
        ("hole", rw, PAGE_SIZE, MapFlags::PAGES),
    ];
    for (what, prot, gap, flags) in cases {
        let mut m = Mem::new();
        map(&mut m, va, 0x4000_0000, 4 * PAGE_SIZE, rw, MapFlags::PAGES);
        map(&mut m, va + 4 * PAGE_SIZE + gap, 0x4000_4000, 4 * PAGE_SIZE, prot, flags);
        let runs = all_runs(&mut m, VA_START, 0);
        assert_eq!(runs.len(), 2, "{}: {:?}", what, runs);
        assert_eq!(runs[0].end, va + 4 * PAGE_SIZE, "{}", what);
        assert_eq!(runs[1].start, va + 4 * PAGE_SIZE + gap, "{}", what);
    }

    // The contiguous hint alone: 64 KiB with it, 64 KiB without, same permissions.
    let mut m = Mem::new();
    map(&mut m, va, 0x4000_0000, 64 * KIB, rw, CONT_PAGES);
    map(&mut m, va + 64 * KIB, 0x4001_0000, 64 * KIB, rw, MapFlags::PAGES);
    let runs = all_runs(&mut m, VA_START, 0);
    assert_eq!(runs.len(), 2, "{:?}", runs);
    assert_eq!(runs[0].attrs, runs[1].attrs | pte::CONT);

    // A change of level alone: a 2 MiB block then 2 MiB of pages, same permissions.
    let mut m = Mem::new();
    map(&mut m, PAGE_OFFSET, 0x4000_0000, 2 * MIB, rw, BLOCKS);
    map(&mut m, PAGE_OFFSET + 2 * MIB, 0x4020_0000, 2 * MIB, rw, MapFlags::PAGES);
    let runs = all_runs(&mut m, VA_START, 0);
    assert_eq!(runs.iter().map(|r| (r.level, r.size())).collect::<Vec<_>>(), vec![(2, 2 * MIB), (3, 2 * MIB)]);
}

#[test]
fn markers_print_in_order_and_cut_runs() {
    let mut m = Mem::new();
    map(&mut m, PAGE_OFFSET, 0x4000_0000, 8 * MIB, Prot::KERNEL_RW, BLOCKS);
    let mk = |start, name| Marker { start, name };
    let markers = [
        mk(VA_START, "Kernel space"),
        mk(PAGE_OFFSET, "Linear Mapping start"),
        mk(PAGE_OFFSET + 4 * MIB, "Middle"),
        mk(PAGE_OFFSET + 6 * MIB, "Three quarters"),
        mk(PAGE_OFFSET + 8 * MIB, "After"),
        mk(PAGE_OFFSET + GIB, "Far after"),
    ];
    let text = dump_text(&mut m, VA_START, 0, &markers);
    let expected = "\
---[ Kernel space ]---
---[ Linear Mapping start ]---
0xffff800000000000-0xffff800000400000           4M PMD     RW NX SHD AF        BLK UXN MEM/NORMAL
---[ Middle ]---
0xffff800000400000-0xffff800000600000           2M PMD     RW NX SHD AF        BLK UXN MEM/NORMAL
---[ Three quarters ]---
0xffff800000600000-0xffff800000800000           2M PMD     RW NX SHD AF        BLK UXN MEM/NORMAL
---[ After ]---
---[ Far after ]---
";
    assert_eq!(text, expected, "\n--- got ---\n{}", text);

    // Starting inside a region names it first; markers at or past the end are left out.
    let text = dump_text(&mut m, PAGE_OFFSET + 5 * MIB, PAGE_OFFSET + 8 * MIB, &markers);
    let expected = "\
---[ Middle ]---
0xffff800000500000-0xffff800000600000           1M PMD     RW NX SHD AF        BLK UXN MEM/NORMAL
---[ Three quarters ]---
0xffff800000600000-0xffff800000800000           2M PMD     RW NX SHD AF        BLK UXN MEM/NORMAL
";
    assert_eq!(text, expected, "\n--- got ---\n{}", text);

    // No markers at all: just the lines.
    assert_eq!(dump_text(&mut m, VA_START, 0, &[]).lines().count(), 1);
}

#[test]
fn runs_are_clipped_to_the_range() {
    let mut m = kernel_like();
    let runs = all_runs(&mut m, PAGE_OFFSET + 3 * MIB, PAGE_OFFSET + 5 * MIB);
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].start, runs[0].end, runs[0].level), (PAGE_OFFSET + 3 * MIB, PAGE_OFFSET + 5 * MIB, 1));
    assert!(all_runs(&mut m, PAGE_OFFSET + 5 * MIB, PAGE_OFFSET + 5 * MIB).is_empty());
    assert!(all_runs(&mut m, PAGE_OFFSET + 5 * MIB, PAGE_OFFSET).is_empty());
}

#[test]
fn the_top_page_of_the_address_space_ends_at_zero() {
    let mut m = Mem::new();
    let top = 0u64.wrapping_sub(2 * PAGE_SIZE);
    // The mapper cannot express a range ending at 2^64: map the page below
    // the last, then copy its descriptor into the last entry.
    map(&mut m, top, 0x4000_0000, PAGE_SIZE, Prot::KERNEL_RO, MapFlags::PAGES);
    let l3 = walk(&mut m, ROOT, top).tables[3].unwrap();
    m.pages[l3][ENTRIES - 1] = pte::leaf_desc(0x4000_1000, 3, Prot::KERNEL_RO);
    let runs = all_runs(&mut m, VA_START, 0);
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].start, runs[0].end, runs[0].size()), (top, 0, 2 * PAGE_SIZE));
    let text = dump_text(&mut m, VA_START, 0, &[Marker { start: u64::MAX - 0xfff, name: "Last page" }]);
    let expected = "\
0xffffffffffffe000-0xfffffffffffff000           4K PTE     ro NX SHD AF            UXN MEM/NORMAL
---[ Last page ]---
0xfffffffffffff000-0x0000000000000000           4K PTE     ro NX SHD AF            UXN MEM/NORMAL
";
    assert_eq!(text, expected, "\n--- got ---\n{}", text);
}

#[test]
fn invalid_and_reserved_entries_are_holes() {
    let mut m = Mem::new();
    map(&mut m, PAGE_OFFSET, 0x4000_0000, 2 * MIB, Prot::KERNEL_RW, BLOCKS);
    // A "block" at level 0 is a reserved encoding, not a 512 GiB mapping.
    m.pages[ROOT][table_index(PAGE_OFFSET + PGDIR_SIZE, 0)] = pte::leaf_desc(0, 1, Prot::KERNEL_RW);
    // So is a level-3 entry with bit 1 clear.
    let va = VMALLOC_START;
    map(&mut m, va, 0x4000_0000, 2 * PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES);
    let w = walk(&mut m, ROOT, va);
    let l3 = w.tables[3].unwrap();
    m.pages[l3][table_index(va, 3)] &= !pte::TABLE_OR_PAGE;
    let runs = all_runs(&mut m, VA_START, 0);
    assert_eq!(
        runs.iter().map(|r| (r.start, r.size())).collect::<Vec<_>>(),
        vec![(va + PAGE_SIZE, PAGE_SIZE), (PAGE_OFFSET, 2 * MIB)]
    );
}

#[test]
fn the_lower_half_is_walked_with_the_same_root() {
    let mut m = Mem::new();
    map(&mut m, 0x40_0000, 0x4000_0000, PAGE_SIZE, Prot::KERNEL_RO, MapFlags::PAGES);
    let runs = all_runs(&mut m, 0, 1 << 48);
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].start, runs[0].end), (0x40_0000, 0x40_1000));
    // The whole 2^64 range: the non-canonical hole is skipped, not walked.
    m.reads = 0;
    assert_eq!(all_runs(&mut m, 0, 0).len(), 2, "the lower-half tables seen again for the upper half");
    assert!(m.reads <= 2 * 4 * ENTRIES as u64, "{} reads", m.reads);
}

#[test]
fn walking_the_whole_upper_half_reads_only_existing_tables() {
    let mut m = kernel_like();
    let tables = m.pages.len() as u64;
    m.reads = 0;
    let t0 = Instant::now();
    let text = dump_text(&mut m, VA_START, 0, &markers());
    let elapsed = t0.elapsed();
    // Every entry of every table at most once, and nothing else.
    assert!(m.reads <= tables * ENTRIES as u64, "{} reads for {} tables", m.reads, tables);
    assert!(text.lines().count() > 10);
    // A few ms in practice; the bound leaves room for a loaded machine.
    assert!(elapsed.as_millis() < 200, "dump of the upper half took {:?}", elapsed);
    eprintln!("upper-half dump: {} tables, {} reads, {:?}", tables, m.reads, elapsed);
}

#[test]
fn sizes_use_the_largest_unit_that_divides() {
    let line = |size: u64| {
        let mut s = String::new();
        let run = Run { start: 0, end: size, level: 3, attrs: pte::leaf_desc(0, 3, Prot::KERNEL_RW) };
        ptdump::write_run(&mut s, &run).unwrap();
        s[40..50].to_string()
    };
    assert_eq!(line(4 * KIB), "        4K");
    assert_eq!(line(1024 * KIB), "        1M");
    assert_eq!(line(1028 * KIB), "     1028K");
    assert_eq!(line(3 * GIB), "        3G");
    assert_eq!(line(GIB + 2 * MIB), "     1026M");
    assert_eq!(line(128 << 40), "      128T");
    // Up to the last unit, E; the top half of the address space (8 EiB)
    // ends at 2^64, written 0.
    assert_eq!(line(1 << 50), "        1P");
    assert_eq!(line(3 << 60), "        3E");
    let mut s = String::new();
    let top = Run { start: 1 << 63, end: 0, level: 3, attrs: pte::leaf_desc(0, 3, Prot::KERNEL_RW) };
    ptdump::write_run(&mut s, &top).unwrap();
    assert_eq!(&s[40..50], "        8E");
}

/// A pass means a dump over a range that ends before 2^64 prints the
/// markers inside it after the last run, and none at or past its end.
#[test]
fn markers_after_the_last_run_print_up_to_the_end_of_the_range() {
    let mut m = Mem::new();
    map(&mut m, VMALLOC_START, 0x4000_0000, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES);
    let marks = [
        Marker { start: VMALLOC_START, name: "a" },
        Marker { start: VMALLOC_START + 2 * PAGE_SIZE, name: "b" },
        Marker { start: VMALLOC_START + 4 * PAGE_SIZE, name: "c" },
    ];
    let text = dump_text(&mut m, VMALLOC_START, VMALLOC_START + 4 * PAGE_SIZE, &marks);
    let names: Vec<&str> = text.lines().filter(|l| l.starts_with("---")).collect();
    assert_eq!(names, ["---[ a ]---", "---[ b ]---"], "\n{text}");
    assert_eq!(text.lines().count(), 3, "\n{text}");
}

/// A pass means the access flag and UXN columns print blank when the bits
/// are clear (the kernel's own mappings always set both).
#[test]
fn clear_access_flag_and_uxn_print_blank() {
    let attrs = pte::VALID | pte::TABLE_OR_PAGE | (MemType::Normal as u64) << 2;
    let mut s = String::new();
    ptdump::write_run(&mut s, &Run { start: 0x1000, end: 0x2000, level: 3, attrs }).unwrap();
    // "x " then the blank SHD, AF, NG, CON, BLK and UXN columns, each
    // after its space: 1 + 4 + 3 + 3 + 4 + 4 + 4 = 23 spaces.
    let want =
        format!("0x0000000000001000-0x0000000000002000           4K PTE     RW x{} MEM/NORMAL\n", " ".repeat(23));
    assert_eq!(s, want);
}
