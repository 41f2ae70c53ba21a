"""desc.py: descriptor fields, and the kernel's MAIR value from the layout table."""

import unittest

from common import LAY, GRANULE, LINEAR_LEVEL, LINEAR_BLOCK_SIZE, PAGE, PMD_BLOCK_SIZE, arch_levels
from vakern_gdb import desc as D


class DescriptorTest(unittest.TestCase):
    def test_kernel_text_page(self):
        d = D.decode_desc(LAY, 0x0040000040200793, 3)
        self.assertEqual(d["kind"], "page")
        self.assertEqual(d["output"], 0x4020_0000)
        self.assertTrue(d["ro"])
        self.assertFalse(d["pxn"])
        self.assertTrue(d["uxn"])
        self.assertTrue(d["af"])
        self.assertEqual(d["sh_name"], "Inner")
        self.assertEqual((d["attrindx"], d["memtype"]), (4, "Normal"))
        s = D.format_leaf_attrs(LAY, 0x0040000040200793)
        self.assertEqual(s, "RO, PXN=0, UXN=1, AF=1, SH=Inner, AttrIndx=4 (Normal)")

    def test_linear_block(self):
        # A block of the granule's largest size (1 GiB, 32 MiB or 512 MiB).
        d = D.decode_desc(LAY, 0x0060000040000711, LINEAR_LEVEL)
        self.assertEqual((d["kind"], d["output"], d["size"]), ("block", 0x4000_0000, LINEAR_BLOCK_SIZE))
        self.assertFalse(d["ro"])
        self.assertTrue(d["pxn"] and d["uxn"])
        self.assertEqual(D.format_leaf_attrs(LAY, 0x0060000040000711),
                         "RW, PXN=1, UXN=1, AF=1, SH=Inner, AttrIndx=4 (Normal)")

    def test_kinds(self):
        # Bit 1 clear is a block where the granule has blocks at that level
        # (4K: levels 1 and 2; 16K and 64K: level 2), reserved elsewhere.
        for level in arch_levels():
            self.assertEqual(D.desc_kind(LAY, 0, level), "invalid")
            if level == 3:
                self.assertEqual(D.desc_kind(LAY, 0x4020_0001, 3), "reserved")
                self.assertEqual(D.desc_kind(LAY, 0x4020_0003, 3), "page")
                continue
            self.assertEqual(D.desc_kind(LAY, 0x4000_0003, level), "table")
            want = "block" if level in GRANULE["blocks"] else "reserved"
            self.assertEqual(D.desc_kind(LAY, 0x4000_0001, level), want, "level %d" % level)
        # A level-2 block's output address is aligned to the block (2 MiB, 32 MiB, 512 MiB).
        self.assertEqual(D.desc_output(LAY, 0x0060_0000_4020_0711 | 0x1000, 2), 0x4020_0000 & ~(PMD_BLOCK_SIZE - 1))

    def test_output_address_below_the_granule(self):
        # Bit 12 of a page descriptor: an address bit with 4K pages, RES0 below
        # a 16K or 64K page (with 64K pages and FEAT_LPA, bits 15:12 are PA[51:48]).
        desc = 0x0040000040210793 | 0x1000
        d = D.decode_desc(LAY, desc, 3)
        self.assertEqual(d["output"], 0x4021_1000 & ~(PAGE - 1))
        self.assertEqual(d["oa_res0"], 0x4021_1000 & (PAGE - 1))
        self.assertEqual(D.decode_desc(LAY, 0x0040000040200793, 3)["oa_res0"], 0)

    def test_device_and_table_bits(self):
        d = D.decode_desc(LAY, 0x0060000009000407, 3)
        self.assertEqual(d["memtype"], "Device-nGnRE")
        self.assertEqual(d["sh_name"], "Non-shareable")
        t = D.decode_desc(LAY, 0x4000_0003 | D.T_APTABLE1 | D.T_PXNTABLE, 1)
        self.assertEqual(t["kind"], "table")
        self.assertEqual(t["aptable"], 2)
        self.assertTrue(t["pxntable"])
        names = ("Device-nGnRnE", "Device-nGnRE", "Device-GRE", "Normal-NC", "Normal", "Normal-WT")
        for i, name in enumerate(names):
            self.assertEqual(D.decode_desc(LAY, 0x403 | (i << 2), 3)["memtype"], name)
        self.assertIn("not used by vakern", D.decode_desc(LAY, 0x403 | (7 << 2), 3)["memtype"])

    def test_sizes_and_attr_columns(self):
        self.assertEqual(D.format_size(4096), "4K")
        self.assertEqual(D.format_size(88 << 10), "88K")
        self.assertEqual(D.format_size(2 << 20), "2M")
        self.assertEqual(D.format_size(1 << 30), "1G")
        self.assertEqual(D.format_size(3 << 30), "3G")
        self.assertEqual(D.format_size(1 << 40), "1T")
        self.assertEqual(D.format_size(100), "100B")
        self.assertEqual(D.ptdump_attrs(LAY, 0x0040000040200793, 3), "    ro x  SHD AF            UXN MEM/NORMAL")
        self.assertEqual(D.ptdump_attrs(LAY, 0x0060000040000711, LINEAR_LEVEL),
                         "    RW NX SHD AF        BLK UXN MEM/NORMAL")
        self.assertTrue(D.ptdump_attrs(LAY, 0x0060000009000407).endswith("DEVICE/nGnRE"))

    def test_mair_from_the_layout_table(self):
        # The kernel's MAIR value, byte by byte, as the walker names it.
        self.assertEqual(LAY.mair, 0x0000BBFF440C0400)
        for i, name in enumerate(("Device-nGnRnE", "Device-nGnRE", "Device-GRE", "Normal-NC", "Normal", "Normal-WT")):
            self.assertEqual(D.mair_byte_name(D.mair_byte(LAY.mair, i)), name)
        self.assertEqual(D.mair_byte_name(0x08), "Device-nGRE")
        self.assertEqual(D.mair_byte_name(0x77), "Normal (outer 0x7, inner 0x7)")


if __name__ == "__main__":
    unittest.main()
