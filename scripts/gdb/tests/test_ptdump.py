"""ptdump.py: runs of alike entries, in the kernel's format, in both halves."""

import unittest

from common import (LAY, TEXT, END, PA_TEXT, MEMSTART, UART_VA, KERNEL_ROX_PAGE, LINEAR_BLOCK, FakePhys,
                    kernel_tables)
from vakern_gdb import desc as D
from vakern_gdb import ptdump as P


class PtdumpTest(unittest.TestCase):
    def test_runs(self):
        mem, root = kernel_tables()
        mem.reads = 0
        runs, problems = P.ptdump_runs(LAY, root, mem.read_table)
        self.assertEqual(problems, [])
        got = [(r.start, r.end, r.level) for r in runs]
        self.assertEqual(got, [
            (TEXT, TEXT + 0x16000, 3),
            (TEXT + 0x16000, END, 3),
            (LAY.FIXADDR_START, LAY.FIXADDR_START + (2 << 20), 2),
            (UART_VA, UART_VA + 0x1000, 3),
            (LAY.PAGE_OFFSET, LAY.PAGE_OFFSET + (1 << 30), 1),
        ])
        # One read per table, however much is empty: the root, 3 pud tables (image,
        # fixmap, linear), 2 pmd tables (image, fixmap) and 2 pte tables (image, UART).
        self.assertEqual(mem.reads, 8)

    def test_format_like_the_kernel(self):
        mem, root = kernel_tables()
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table)
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, END))
        self.assertEqual(lines, [
            "---[ Modules ]---",
            "---[ vmalloc() area ]---",
            "---[ Kernel image ]---",
            "0xffff000008000000-0xffff000008016000          88K PTE     ro x  SHD AF            UXN MEM/NORMAL",
            "0xffff000008016000-0xffff000008042000         176K PTE     RW NX SHD AF            UXN MEM/NORMAL",
            "---[ vmalloc() area (after the image) ]---",
            "---[ Unused hole ]---",
            "---[ Fixmap ]---",
            "0xffff7dfffe600000-0xffff7dfffe800000           2M PMD     ro NX SHD AF        BLK UXN MEM/NORMAL",
            "0xffff7dfffebff000-0xffff7dfffec00000           4K PTE     RW NX     AF            UXN DEVICE/nGnRE",
            "---[ PCI I/O ]---",
            "---[ vmemmap ]---",
            "---[ Linear mapping ]---",
            "0xffff800000000000-0xffff800040000000           1G PUD     RW NX SHD AF        BLK UXN MEM/NORMAL",
        ])

    def test_range_and_phys_split(self):
        mem, root = kernel_tables()
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, TEXT, TEXT + 0x4000)
        self.assertEqual([(r.start, r.end) for r in runs], [(TEXT, TEXT + 0x4000)])
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, END), start=TEXT, end=TEXT + 0x4000)
        self.assertEqual(lines[0], "---[ Kernel image ]---")
        self.assertEqual(len(lines), 2)
        # The image's second page pointing elsewhere splits the run only with split_phys.
        mem.map(root, TEXT + 0x1000, 0x5000_0000, 3, KERNEL_ROX_PAGE)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, TEXT, TEXT + 0x4000)
        self.assertEqual(len(runs), 1)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, TEXT, TEXT + 0x4000, split_phys=True)
        self.assertEqual([(r.start, r.pa) for r in runs],
                         [(TEXT, PA_TEXT), (TEXT + 0x1000, 0x5000_0000), (TEXT + 0x2000, PA_TEXT + 0x2000)])
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, END), show_phys=True, start=TEXT,
                                end=TEXT + 0x4000)
        self.assertTrue(lines[2].endswith("-> PA 0x50000000"))

    def test_runs_split_at_markers(self):
        # A 2 MiB block straddling the end of the image is shown in two pieces.
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, TEXT, PA_TEXT, 2, LINEAR_BLOCK)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table)
        lines = P.format_ptdump(LAY, runs, LAY.ptdump_markers(TEXT, TEXT + 0x1000), show_phys=True)
        i = lines.index("---[ Kernel image ]---")
        self.assertTrue(lines[i + 1].startswith("0xffff000008000000-0xffff000008001000           4K PMD"))
        self.assertEqual(lines[i + 2], "---[ vmalloc() area (after the image) ]---")
        self.assertTrue(lines[i + 3].startswith("0xffff000008001000-0xffff000008200000        2044K PMD"))
        self.assertTrue(lines[i + 3].endswith("-> PA 0x40201000"))

    def test_many_entries_merge(self):
        # 300 contiguous 2 MiB blocks then a hole then 1 GiB blocks: 2 runs.
        mem = FakePhys()
        root = mem.new_table()
        base = LAY.PAGE_OFFSET
        for i in range(300):
            mem.map(root, base + i * (2 << 20), MEMSTART + i * (2 << 20), 2, LINEAR_BLOCK)
        for i in range(4):
            mem.map(root, base + ((4 + i) << 30), 0x1_0000_0000 + (i << 30), 1, LINEAR_BLOCK)
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table)
        self.assertEqual([(r.start - base, r.end - base, r.level) for r in runs],
                         [(0, 300 * (2 << 20), 2), (4 << 30, 8 << 30, 1)])
        self.assertEqual(D.format_size(runs[0].end - runs[0].start), "600M")

    def test_unreadable_and_reserved(self):
        mem, root = kernel_tables()
        mem.write_u64(root + 8 * 3, 0x7000_0003)
        mem.write_u64(root + 8 * 4, 0x4000_0001)  # level-0 block: reserved
        runs, problems = P.ptdump_runs(LAY, root, mem.read_table)
        self.assertEqual(len(runs), 5)
        self.assertEqual(len(problems), 2)
        self.assertTrue(any("unreadable" in p for p in problems))
        self.assertTrue(any("reserved pgd" in p for p in problems))

    def test_lower_half_identity_map(self):
        # TTBR0 during boot: the image and the device tree identity-mapped with 2 MiB blocks.
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, 0x4020_0000, 0x4020_0000, 2, LINEAR_BLOCK & ~D.D_PXN)
        mem.map(root, 0x4800_0000, 0x4800_0000, 2, LINEAR_BLOCK)
        mem.map(root, 0x4820_0000, 0x4820_0000, 2, LINEAR_BLOCK)
        runs, problems = P.ptdump_runs(LAY, root, mem.read_table, upper=False)
        self.assertEqual(problems, [])
        self.assertEqual([(r.start, r.end, r.level) for r in runs],
                         [(0x4020_0000, 0x4040_0000, 2), (0x4800_0000, 0x4840_0000, 2)])
        lines = P.format_ptdump(LAY, runs, LAY.lower_half_markers(), show_phys=True)
        self.assertEqual(lines[0], "---[ user (TTBR0) ]---")
        self.assertEqual(lines[1], "0x0000000040200000-0x0000000040400000           2M PMD     RW x  SHD AF"
                                   "        BLK UXN MEM/NORMAL  -> PA 0x40200000")
        # A range limits the walk to it.
        runs, _ = P.ptdump_runs(LAY, root, mem.read_table, 0x4800_0000, 1 << 64, upper=False)
        self.assertEqual([(r.start, r.end) for r in runs], [(0x4800_0000, 0x4840_0000)])
        self.assertEqual(P.half_bounds(LAY, False), (0, 1 << 48))

    def test_table_reader_from_u64(self):
        mem, root = kernel_tables()
        rt = P.table_reader_from_u64(LAY, mem.read_u64)
        self.assertEqual(rt(root), mem.read_table(root))


if __name__ == "__main__":
    unittest.main()
