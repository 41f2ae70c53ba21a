"""ptdump.py: runs of alike entries, in the kernel's format, in both halves."""

import unittest

from common import (LAY, TEXT, END, RO_END, MAP_END, PA_TEXT, MEMSTART, RAM, UART_VA, PAGE, ROOT, M64,
                    FDT_LEVEL, LINEAR_LEVEL, LINEAR_BLOCK_SIZE, PMD_BLOCK_SIZE, KERNEL_ROX_PAGE, LINEAR_BLOCK,
                    FakePhys, arch_index, kernel_tables, round_up, size_name)
from vakern_gdb import desc as D
from vakern_gdb import ptdump as P


LEVEL_NAME = {0: "PGD", 1: "PUD", 2: "PMD", 3: "PTE"}  # the dump names levels by their number
ROX = "    ro x  SHD AF            UXN MEM/NORMAL"
RW = "    RW NX SHD AF            UXN MEM/NORMAL"
FDT = "    ro NX SHD AF        %s UXN MEM/NORMAL" % ("BLK" if FDT_LEVEL == 2 else "   ")
UART = "    RW NX     AF            UXN DEVICE/nGnRE"
LINEAR = "    RW NX SHD AF        BLK UXN MEM/NORMAL"


def line(start, end, level, attrs):
    """One run as the kernel's dump prints it: both ends, the size right-aligned in 10, the level."""
    return "0x%016x-0x%016x   %10s %s %s" % (start, end & M64, size_name(end - start), LEVEL_NAME[level], attrs)


def expected_runs():
    """(start, end, level, attributes) of kernel_tables(), in address order."""
    return sorted([
        (TEXT, RO_END, 3, ROX),
        (RO_END, MAP_END, 3, RW),
        (LAY.FIXADDR_START, LAY.FIXADDR_START + (2 << 20), FDT_LEVEL, FDT),
        (UART_VA, UART_VA + PAGE, 3, UART),
        (LAY.PAGE_OFFSET, LAY.PAGE_OFFSET + RAM, LINEAR_LEVEL, LINEAR),
    ])


class PtdumpTest(unittest.TestCase):
    def test_runs(self):
        mem, root = kernel_tables()
        mem.reads = 0
        runs, problems = P.ptdump_runs(LAY, root, mem.read_table)
        self.assertEqual(problems, [])
        got = [(r.start, r.end, r.level) for r in runs]
        self.assertEqual(got, [r[:3] for r in expected_runs()])
        # One read per table, however much is empty.
        self.assertEqual(mem.reads, mem.tables)

    def test_format_like_the_kernel(self):
        mem, root = kernel_tables()
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table)
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, END))
        # Each marker, in address order, followed by the runs that start in its region.
        markers = sorted([
            (LAY.MODULES_VADDR, "Modules"), (LAY.VMALLOC_START, "vmalloc() area"), (TEXT, "Kernel image"),
            (MAP_END, "vmalloc() area (after the image)"), (LAY.VMALLOC_END, "Unused hole"),
            (LAY.FIXADDR_START, "Fixmap"), (LAY.PCI_IO_START, "PCI I/O"), (LAY.VMEMMAP_START, "vmemmap"),
            (LAY.PAGE_OFFSET, "Linear mapping")], key=lambda m: m[0])  # the image starts vmalloc: keep that order
        want = []
        for i, (start, name) in enumerate(markers):
            end = markers[i + 1][0] if i + 1 < len(markers) else 1 << 64
            want.append("---[ %s ]---" % name)
            want.extend(line(*r) for r in expected_runs() if start <= r[0] < end)
        self.assertEqual(lines, want)
        self.assertEqual(len(lines), len(markers) + 5)

    def test_range_and_phys_split(self):
        mem, root = kernel_tables()
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, TEXT, TEXT + 2 * PAGE)
        self.assertEqual([(r.start, r.end) for r in runs], [(TEXT, TEXT + 2 * PAGE)])
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, END), start=TEXT, end=TEXT + 2 * PAGE)
        self.assertEqual(lines[0], "---[ Kernel image ]---")
        self.assertEqual(len(lines), 2)
        # A page in the middle pointing elsewhere splits the run only with split_phys.
        mem = FakePhys()
        root = mem.new_table()
        for i, pa in enumerate((PA_TEXT, 0x5000_0000, PA_TEXT + 2 * PAGE)):
            mem.map(root, TEXT + i * PAGE, pa, 3, KERNEL_ROX_PAGE)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, TEXT, TEXT + 3 * PAGE)
        self.assertEqual(len(runs), 1)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, TEXT, TEXT + 3 * PAGE, split_phys=True)
        self.assertEqual([(r.start, r.pa) for r in runs],
                         [(TEXT, PA_TEXT), (TEXT + PAGE, 0x5000_0000), (TEXT + 2 * PAGE, PA_TEXT + 2 * PAGE)])
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, END), show_phys=True, start=TEXT,
                                end=TEXT + 3 * PAGE)
        self.assertTrue(lines[2].endswith("-> PA 0x50000000"))

    def test_runs_split_at_markers(self):
        # A level-2 block holding the start of the image (an image of one page)
        # is shown in pieces, one per region.
        base = TEXT & ~(PMD_BLOCK_SIZE - 1)
        bpa = 0x4000_0000
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, base, bpa, 2, LINEAR_BLOCK)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table)
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, TEXT + 0x1000), show_phys=True)
        i = lines.index("---[ Kernel image ]---")
        img_end = TEXT + PAGE
        self.assertTrue(lines[i + 1].startswith(line(TEXT, img_end, 2, LINEAR)[:48]), lines[i + 1])
        self.assertEqual(lines[i + 2], "---[ vmalloc() area (after the image) ]---")
        block_end = base + PMD_BLOCK_SIZE
        self.assertTrue(lines[i + 3].startswith(line(img_end, block_end, 2, LINEAR)[:48]), lines[i + 3])
        self.assertTrue(lines[i + 3].endswith("-> PA 0x%x" % (bpa + (img_end - base))), lines[i + 3])

    def test_many_entries_merge(self):
        # 300 contiguous level-2 blocks, a hole, then 4 of the granule's largest blocks: 2 runs.
        mem = FakePhys()
        root = mem.new_table()
        base = LAY.PAGE_OFFSET
        for i in range(300):
            mem.map(root, base + i * PMD_BLOCK_SIZE, MEMSTART + i * PMD_BLOCK_SIZE, 2, LINEAR_BLOCK)
        second = round_up(300 * PMD_BLOCK_SIZE, LINEAR_BLOCK_SIZE) + LINEAR_BLOCK_SIZE
        for i in range(4):
            mem.map(root, base + second + i * LINEAR_BLOCK_SIZE, 0x10_0000_0000 + i * LINEAR_BLOCK_SIZE,
                    LINEAR_LEVEL, LINEAR_BLOCK)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table)
        self.assertEqual([(r.start - base, r.end - base, r.level) for r in runs],
                         [(0, 300 * PMD_BLOCK_SIZE, 2), (second, second + 4 * LINEAR_BLOCK_SIZE, LINEAR_LEVEL)])
        self.assertEqual(D.format_size(runs[0].end - runs[0].start), size_name(300 * PMD_BLOCK_SIZE))

    def test_unreadable_and_reserved(self):
        mem, root = kernel_tables()
        # The image's level-2 neighbour points at missing memory; the page
        # entry after the image is valid with bit 1 clear (reserved at level 3).
        t = root
        for lvl in range(ROOT, 2):
            t = mem.read_u64(t + 8 * arch_index(TEXT, lvl)) & LAY.addr_mask
        mem.write_u64(t + 8 * (arch_index(TEXT, 2) ^ 1), 0x7000_0003)
        for lvl in range(2, 3):
            t = mem.read_u64(t + 8 * arch_index(TEXT, lvl)) & LAY.addr_mask
        mem.write_u64(t + 8 * arch_index(MAP_END, 3), 0x4000_0001)
        runs, problems = P.ptdump_runs(LAY, root, mem.read_table)
        self.assertEqual(len(runs), 5)
        self.assertEqual(len(problems), 2, problems)
        self.assertTrue(any("unreadable" in p for p in problems))
        self.assertTrue(any("reserved pte" in p for p in problems))

    def test_lower_half_identity_map(self):
        # TTBR0 during boot: the image and the device tree identity-mapped with level-2 blocks.
        b1 = 0x4020_0000 & ~(PMD_BLOCK_SIZE - 1)
        b2 = b1 + 2 * PMD_BLOCK_SIZE
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, b1, b1, 2, LINEAR_BLOCK & ~D.D_PXN)
        mem.map(root, b2, b2, 2, LINEAR_BLOCK)
        mem.map(root, b2 + PMD_BLOCK_SIZE, b2 + PMD_BLOCK_SIZE, 2, LINEAR_BLOCK)
        runs, problems = P.ptdump_runs(LAY, root, mem.read_table, upper=False)
        self.assertEqual(problems, [])
        self.assertEqual([(r.start, r.end, r.level) for r in runs],
                         [(b1, b1 + PMD_BLOCK_SIZE, 2), (b2, b2 + 2 * PMD_BLOCK_SIZE, 2)])
        lines = P.format_ptdump(LAY, runs, LAY.lower_half_markers(), show_phys=True)
        self.assertEqual(lines[0], "---[ user (TTBR0) ]---")
        self.assertEqual(lines[1], line(b1, b1 + PMD_BLOCK_SIZE, 2, "    RW x  SHD AF        BLK UXN MEM/NORMAL")
                         + "  -> PA 0x%x" % b1)
        # A range limits the walk to it.
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, b2, 1 << 64, upper=False)
        self.assertEqual([(r.start, r.end) for r in runs], [(b2, b2 + 2 * PMD_BLOCK_SIZE)])
        self.assertEqual(P.half_bounds(LAY, False), (0, 1 << LAY.va_bits))

    def test_table_reader_from_u64(self):
        mem, root = kernel_tables()
        rt = P.table_reader_from_u64(LAY, mem.read_u64)
        self.assertEqual(rt(root), mem.read_table(root))
        self.assertEqual(rt(root, 4), mem.read_table(root)[:4])


if __name__ == "__main__":
    unittest.main()
