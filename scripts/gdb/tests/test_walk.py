"""walk.py: the table walk over fake physical memory, as the MMU would do it."""

import copy
import json
import unittest

from common import (LAY, TEXT, PA_TEXT, MEMSTART, TCR, KERNEL_ROX_PAGE, LINEAR_BLOCK, FakePhys, kernel_tables,
                    table_path)
from vakern_gdb import desc as D
from vakern_gdb import layout as L
from vakern_gdb import walk as W


class WalkTest(unittest.TestCase):
    def setUp(self):
        self.mem, self.root = kernel_tables()

    def walk(self, va, **kw):
        args = dict(ttbr0=0, ttbr1=self.root, tcr=TCR)
        args.update(kw)
        return W.walk(LAY, va, self.mem.read_u64, **args)

    def test_text_page(self):
        r = self.walk(TEXT + 0x664)
        self.assertTrue(r.ok)
        self.assertEqual(r.ttbr, "TTBR1")
        self.assertEqual(r.pa, PA_TEXT + 0x664)
        self.assertEqual((r.level, r.kind), (3, "page"))
        self.assertEqual([s.level for s in r.steps], [0, 1, 2, 3])
        self.assertEqual([s.index for s in r.steps], [0, 0, 64, 0])
        self.assertEqual(r.steps[0].entry_pa, self.root)
        self.assertEqual(r.warnings, [])
        line = W.walk_summary_line(LAY, r)
        self.assertRegex(line, r"^\[ffff000008000664\] pgd=0x[0-9a-f]{16}, pud=0x[0-9a-f]{16}, "
                               r"pmd=0x[0-9a-f]{16}, pte=0x0040000040200793$")
        text = "\n".join(W.format_walk(LAY, r, mair=LAY.mair))
        self.assertIn("=> PA 0x0000000040200664: level 3 page (4K), RO, PXN=0, UXN=1, AF=1, SH=Inner, "
                      "AttrIndx=4 (Normal); read-only, executable at EL1", text)
        self.assertIn("MAIR_EL1[4] = 0xff: Normal", text)
        self.assertNotIn("MAIR value says", text)
        # A live MAIR that differs from the kernel's is called out.
        text = "\n".join(W.format_walk(LAY, r, mair=LAY.mair & ~(0xFF << 32)))
        self.assertIn("MAIR_EL1[4] = 0x00: Device-nGnRnE  (the kernel's MAIR value says Normal!)", text)

    def test_data_page(self):
        r = self.walk(TEXT + 0x30000 + 8)
        self.assertEqual(r.pa, PA_TEXT + 0x30008)
        self.assertIn("read-write, never executable", W.format_walk(LAY, r)[-1])

    def test_linear_block_stops_at_level_1(self):
        r = self.walk(LAY.PAGE_OFFSET + 0x1234_5678)
        self.assertEqual((r.pa, r.level, r.kind), (MEMSTART + 0x1234_5678, 1, "block"))
        self.assertEqual(len(r.steps), 2)
        self.assertRegex(W.walk_summary_line(LAY, r), r"pgd=0x[0-9a-f]{16}, pud=0x0060000040000711$")

    def test_fixmap_block_level_2(self):
        r = self.walk(LAY.FIXADDR_START + 0x10)
        self.assertEqual((r.pa, r.level, r.kind), (0x4800_0010, 2, "block"))

    def test_invalid_entry_stops(self):
        r = self.walk(LAY.PAGE_OFFSET + (1 << 30))  # beyond the 1 GiB of RAM
        self.assertFalse(r.ok)
        self.assertEqual(r.fault_level, 1)
        self.assertIn("translation fault, level 1", r.fault)
        self.assertRegex(W.walk_summary_line(LAY, r), r"pud=0x0000000000000000$")
        r = self.walk(0xFFFF_0000_0000_1000)  # modules: pmd missing
        self.assertEqual(r.fault_level, 2)
        r = self.walk(0xFFFF_0080_0000_0000)  # pgd[1] empty
        self.assertEqual((r.fault_level, len(r.steps)), (0, 1))

    def test_non_canonical(self):
        r = self.walk(0x1234_0000_0000_0000)
        self.assertIn("non-canonical", r.fault)
        self.assertEqual(r.steps, [])
        r = self.walk(0xFFFE_8000_0000_0000)
        self.assertIn("non-canonical", r.fault)

    def test_ttbr0_and_epd(self):
        r = self.walk(0x4020_0000)  # EPD0 set in TCR
        self.assertEqual(r.ttbr, "TTBR0")
        self.assertIn("EPD0", r.fault)
        r = self.walk(0x4020_0000, ttbr0=self.root, tcr=TCR & ~(1 << 7))
        self.assertEqual(r.ttbr, "TTBR0")
        # Same pgd slot 0 as the image's high mapping, but pud[1] is empty.
        self.assertEqual((r.fault_level, len(r.steps)), (1, 2))
        r = self.walk(TEXT, tcr=TCR | (1 << 23))
        self.assertIn("EPD1", r.fault)

    def test_unprogrammed_ttbr(self):
        # Before the MMU is set up: TTBR1_EL1 = 0 is no table, not a table at PA 0.
        r = self.walk(TEXT, ttbr1=0, tcr=0)
        self.assertFalse(r.ok)
        self.assertEqual(r.steps, [])
        self.assertIn("TTBR1_EL1 holds no table address (0)", r.fault)
        self.assertIn("TCR_EL1 is 0", r.warnings[0])

    def test_ttbr0_identity_block(self):
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, 0x4020_0000, 0x4020_0000, 2, LINEAR_BLOCK & ~D.D_PXN)
        r = W.walk(LAY, 0x4020_0A44, mem.read_u64, ttbr0=root | 1, ttbr1=0, tcr=TCR & ~(1 << 7))
        self.assertEqual((r.ttbr, r.pa, r.level, r.kind), ("TTBR0", 0x4020_0A44, 2, "block"))

    def test_tcr_warnings(self):
        r = self.walk(TEXT, tcr=25 | (25 << 16) | (2 << 30))
        self.assertEqual(len(r.warnings), 2)
        self.assertIn("T0SZ=25", r.warnings[0])
        self.assertEqual(len(W.tcr_warnings(LAY, 0)), 1)
        self.assertIn("TG1", " ".join(W.tcr_warnings(LAY, 16 | (16 << 16) | (1 << 30))))
        self.assertEqual(W.tcr_warnings(LAY, W.default_tcr(LAY)), [])

    def test_unreadable_table(self):
        self.mem.write_u64(self.root + 8 * 2, 0x7000_0000 | 3)  # pgd[2] -> missing memory
        r = self.walk(0xFFFF_0100_0000_0000)
        self.assertFalse(r.ok)
        self.assertIn("external abort on translation table walk, level 1", r.fault)

    def test_reserved_and_af(self):
        t = self.root
        for lvl in range(3):
            t = self.mem.read_u64(t + 8 * LAY.table_index(TEXT, lvl)) & LAY.addr_mask
        self.mem.write_u64(t, (PA_TEXT | KERNEL_ROX_PAGE) & ~D.D_TABLE)  # page entry with bit 1 clear
        r = self.walk(TEXT)
        self.assertIn("reserved", r.fault)
        self.assertEqual(r.fault_level, 3)
        self.mem.write_u64(t, (PA_TEXT | KERNEL_ROX_PAGE) & ~D.D_AF)
        r = self.walk(TEXT)
        self.assertTrue(r.ok)
        self.assertIn("access flag", " ".join(r.warnings))

    def test_hierarchical_attributes(self):
        pgd = self.mem.read_u64(self.root + 8 * 256)
        self.mem.write_u64(self.root + 8 * 256, pgd | D.T_APTABLE1 | D.T_PXNTABLE)
        r = self.walk(LAY.PAGE_OFFSET)
        self.assertTrue(r.table_ro and r.table_pxn)
        text = "\n".join(W.format_walk(LAY, r))
        self.assertIn("read-only, never executable", text)
        self.assertIn("inherited from table descriptors: RO, PXN", text)


class OtherLayoutTest(unittest.TestCase):
    """The walker follows the table's shape: a 39-bit, 3-level layout walks
    from level 1, with the level-1 table named pgd, and no constant changes."""

    def test_three_levels(self):
        with open(table_path()) as f:
            d = json.load(f)
        d = copy.deepcopy(d)
        d["va_bits"], d["levels"] = 39, 3
        d["constants"]["ROOT_LEVEL"] = "0x1"
        lay = L.Layout(d)
        self.assertEqual((lay.start_level, lay.va_start), (1, 0xFFFF_FF80_0000_0000))
        mem = FakePhys(lay)
        root = mem.new_table()
        va = 0xFFFF_FFC0_1234_5000
        mem.map(root, va, 0x4123_4000, 3, KERNEL_ROX_PAGE)
        r = W.walk(lay, va + 8, mem.read_u64, ttbr1=root, tcr=25 | (25 << 16) | (2 << 30))
        self.assertEqual((r.pa, r.level, [s.level for s in r.steps]), (0x4123_4008, 3, [1, 2, 3]))
        self.assertEqual(r.warnings, [])
        self.assertTrue(W.walk_summary_line(lay, r).startswith("[ffffffc012345008] pgd=0x"))
        self.assertIn("non-canonical", W.walk(lay, 0xFFFF_0000_0000_0000, mem.read_u64, ttbr1=root,
                                              tcr=25 | (25 << 16) | (2 << 30)).fault)


if __name__ == "__main__":
    unittest.main()
