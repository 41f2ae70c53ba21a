"""translate.py: __pa, __va and the image rule, with the kernel's run-time values."""

import copy
import json
import unittest

from common import LAY, TEXT, END, PA_TEXT, VOFFSET, MEMSTART, M64, expected_constants, flavour, table_path
from vakern_gdb import layout as L
from vakern_gdb import translate as X
from vakern_gdb.layout import MASK64, u64


EXPECT = expected_constants()
PAGE_OFFSET = EXPECT["PAGE_OFFSET"]  # by the flavour's formula, not from the table


class TranslateTest(unittest.TestCase):
    def test_the_documented_numbers(self):
        # kimage_voffset is KIMAGE_VADDR - PA(_text); the start of RAM is at
        # PAGE_OFFSET; the linear alias of PA p is PAGE_OFFSET + p - PHYS_OFFSET.
        self.assertEqual(VOFFSET, (EXPECT["KIMAGE_VADDR"] - 0x4020_0000) & M64)
        self.assertEqual(X.phys_to_virt(LAY, 0x4000_0000, MEMSTART), PAGE_OFFSET)
        lm_alias_text = X.phys_to_virt(LAY, X.kimg_to_phys(TEXT, VOFFSET), MEMSTART)
        self.assertEqual(lm_alias_text, PAGE_OFFSET + 0x20_0000)

    def test_linear(self):
        t = X.virt_to_phys(LAY, PAGE_OFFSET, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.rule, t.region), (0x4000_0000, "__lm_to_phys", "linear map"))
        t = X.virt_to_phys(LAY, PAGE_OFFSET + 0x1234_5678, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual(t.pa, 0x5234_5678)
        # The last page of the linear range (below PAGE_END, or 2^64 in 4.10).
        last = ((EXPECT["PAGE_END"] or (1 << 64)) - 0x1000) & M64
        self.assertEqual(X.lm_to_phys(LAY, last, 0), last - PAGE_OFFSET)

    def test_image(self):
        t = X.virt_to_phys(LAY, TEXT, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.rule, t.region), (PA_TEXT, "__kimg_to_phys", "kernel image"))
        t = X.virt_to_phys(LAY, END, MEMSTART, VOFFSET, TEXT, END)  # _end itself is allowed
        self.assertEqual(t.pa, PA_TEXT + (END - TEXT))
        self.assertEqual(X.kimg_to_phys(TEXT + 0x1234, VOFFSET), PA_TEXT + 0x1234)

    def test_image_moved_by_kaslr(self):
        # The rule applies where the image runs, with the kernel's kimage_voffset.
        text = TEXT + 0x1900_0000
        end = END + 0x1900_0000
        voffset = u64(text - PA_TEXT)
        t = X.virt_to_phys(LAY, text, MEMSTART, voffset, text, end)
        self.assertEqual((t.pa, t.region), (PA_TEXT, "kernel image"))
        t = X.virt_to_phys(LAY, end, MEMSTART, voffset, text, end)
        self.assertEqual(t.pa, PA_TEXT + (END - TEXT))
        self.assertEqual(X.phys_to_kimg(PA_TEXT, voffset, text, end), text)
        # With the link-time bounds (the old mistake) the image is "vmalloc" with no rule.
        t = X.virt_to_phys(LAY, text, MEMSTART, voffset, TEXT, END)
        self.assertEqual((t.pa, t.region), (None, "vmalloc"))

    def test_no_rule(self):
        t = X.virt_to_phys(LAY, END + 0x1000, MEMSTART, VOFFSET, TEXT, END)
        self.assertIsNone(t.pa)
        self.assertEqual(t.region, "vmalloc")
        self.assertIn("vmalloc", t.note)
        t = X.virt_to_phys(LAY, LAY.FIXADDR_START, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.region), (None, "fixmap"))
        t = X.virt_to_phys(LAY, 0x4020_0000, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.region), (None, "user"))

    def test_unset_values(self):
        t = X.virt_to_phys(LAY, LAY.PAGE_OFFSET, MASK64, VOFFSET, TEXT, END)
        self.assertIsNone(t.pa)
        self.assertIn("not set", t.note)
        t = X.virt_to_phys(LAY, LAY.PAGE_OFFSET, None, VOFFSET, TEXT, END)
        self.assertIn("unknown", t.note)
        t = X.virt_to_phys(LAY, TEXT, MEMSTART, 0, TEXT, END)
        self.assertIsNone(t.pa)
        self.assertIn("not set yet", t.note)
        t = X.virt_to_phys(LAY, TEXT, MEMSTART, None, TEXT, END)
        self.assertIsNone(t.pa)

    def test_p2v(self):
        self.assertEqual(X.phys_to_virt(LAY, 0x4020_0000, MEMSTART), PAGE_OFFSET + 0x20_0000)
        self.assertEqual(X.phys_to_virt(LAY, 0x7FFF_F000, MEMSTART), PAGE_OFFSET + 0x3FFF_F000)
        self.assertEqual(X.phys_to_kimg(PA_TEXT, VOFFSET, TEXT, END), TEXT)
        self.assertEqual(X.phys_to_kimg(PA_TEXT + 0x123, VOFFSET, TEXT, END), TEXT + 0x123)
        self.assertEqual(X.phys_to_kimg(PA_TEXT + (END - TEXT), VOFFSET, TEXT, END), END)
        self.assertIsNone(X.phys_to_kimg(PA_TEXT - 1, VOFFSET, TEXT, END))
        self.assertIsNone(X.phys_to_kimg(PA_TEXT + (END - TEXT) + 1, VOFFSET, TEXT, END))

    def test_round_trip(self):
        for pa in (MEMSTART, MEMSTART + 0x1000, 0x7FFF_FFF8, PA_TEXT + 0x42):
            va = X.phys_to_virt(LAY, pa, MEMSTART)
            self.assertEqual(X.virt_to_phys(LAY, va, MEMSTART, VOFFSET, TEXT, END).pa, pa)

    def test_linear_range_with_an_end(self):
        # A layout whose linear map is the bottom of the kernel half, ending at
        # PAGE_END: the range decides, not a bit, and __pa/__va follow it.
        with open(table_path()) as f:
            d = copy.deepcopy(json.load(f))
        d["constants"]["PAGE_OFFSET"] = "0xffff000000000000"
        d["constants"]["PAGE_END"] = "0xffff800000000000"
        lay = L.Layout(d)
        self.assertTrue(X.is_linear(lay, 0xFFFF_0000_0000_0000))
        self.assertTrue(X.is_linear(lay, 0xFFFF_7FFF_FFFF_FFFF))
        self.assertFalse(X.is_linear(lay, 0xFFFF_8000_0000_0000))
        self.assertEqual(X.lm_to_phys(lay, 0xFFFF_0000_0020_0000, MEMSTART), 0x4020_0000)
        self.assertEqual(X.phys_to_virt(lay, 0x4020_0000, MEMSTART), 0xFFFF_0000_0020_0000)
        t = X.virt_to_phys(lay, 0xFFFF_8000_0000_0000, MEMSTART, VOFFSET, TEXT, END)
        self.assertIsNone(t.pa)
        # 4.10's linear range reaches 2^64 (PAGE_END written as 0); 6.12's ends at PAGE_END.
        if flavour()[0] == "4.10":
            self.assertEqual(LAY.PAGE_END, 0)
            self.assertTrue(X.is_linear(LAY, MASK64))
        else:
            self.assertEqual(LAY.PAGE_END, EXPECT["PAGE_END"])
            self.assertTrue(X.is_linear(LAY, LAY.PAGE_END - 1) and not X.is_linear(LAY, LAY.PAGE_END))
        self.assertTrue(X.is_linear(LAY, PAGE_OFFSET) and not X.is_linear(LAY, PAGE_OFFSET - 1))

    def test_the_va_size_in_use(self):
        # With 52-bit VAs on a CPU without LVA the linear map starts at
        # -(1 << 48): PAGE_OFFSET itself has no translation there.
        small = LAY.vabits_sizes()[-1]
        t = X.virt_to_phys(LAY, PAGE_OFFSET, MEMSTART, VOFFSET, TEXT, END, small)
        if flavour()[2] == 52:
            self.assertEqual((t.pa, t.region), (None, "non-canonical"))
            self.assertIn("not canonical with the 48-bit VAs in use; the linear map starts at 0xffff000000000000",
                          t.note)
        else:
            self.assertEqual(t.pa, 0x4000_0000)
        # memstart_addr lowered by 2^52 - 2^48 puts RAM at -(1 << 48) and __pa
        # undoes it (lowered by 0, at PAGE_OFFSET, in the other flavours).
        lowering = (1 << LAY.va_bits) - (1 << small)
        lowered = (MEMSTART - lowering) & M64
        start = (PAGE_OFFSET + lowering) & M64
        self.assertEqual(start, (M64 << 48) & M64 if flavour()[2] == 52 else PAGE_OFFSET)
        self.assertEqual(X.phys_to_virt(LAY, MEMSTART, lowered), start)
        t = X.virt_to_phys(LAY, start, lowered, VOFFSET, TEXT, END, small)
        self.assertEqual(t.pa, MEMSTART)

    def test_symbol_file_offset(self):
        off = X.symbol_file_offset(PA_TEXT, TEXT)
        self.assertEqual(off, (0x4020_0000 - EXPECT["KIMAGE_VADDR"]) & M64)
        self.assertEqual(u64(TEXT + off), PA_TEXT)
        self.assertEqual(X.symbol_file_offset(TEXT, TEXT), 0)


if __name__ == "__main__":
    unittest.main()
