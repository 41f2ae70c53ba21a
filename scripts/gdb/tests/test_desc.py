"""desc.py: descriptor fields, and the kernel's MAIR value from the layout table."""

import unittest

from common import LAY
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
        d = D.decode_desc(LAY, 0x0060000040000711, 1)
        self.assertEqual((d["kind"], d["output"], d["size"]), ("block", 0x4000_0000, 1 << 30))
        self.assertFalse(d["ro"])
        self.assertTrue(d["pxn"] and d["uxn"])
        self.assertEqual(D.format_leaf_attrs(LAY, 0x0060000040000711),
                         "RW, PXN=1, UXN=1, AF=1, SH=Inner, AttrIndx=4 (Normal)")

    def test_kinds(self):
        self.assertEqual(D.desc_kind(LAY, 0, 0), "invalid")
        self.assertEqual(D.desc_kind(LAY, 0x4000_0003, 0), "table")
        self.assertEqual(D.desc_kind(LAY, 0x4000_0001, 0), "reserved")  # no level-0 block
        self.assertEqual(D.desc_kind(LAY, 0x4000_0001, 1), "block")
        self.assertEqual(D.desc_kind(LAY, 0x4020_0001, 2), "block")
        self.assertEqual(D.desc_kind(LAY, 0x4020_0001, 3), "reserved")
        self.assertEqual(D.desc_kind(LAY, 0x4020_0003, 3), "page")
        self.assertEqual(D.desc_output(LAY, 0x0060_0000_4020_0711 | 0x1000, 2), 0x4020_0000)

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
        self.assertEqual(D.ptdump_attrs(LAY, 0x0060000040000711, 1), "    RW NX SHD AF        BLK UXN MEM/NORMAL")
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
