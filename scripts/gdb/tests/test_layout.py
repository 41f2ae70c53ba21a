"""layout.py: the table the image builder writes reads back as the kernel's layout."""

import copy
import json
import os
import tempfile
import unittest

from common import LAY, TEXT, END, table_path
from vakern_gdb import layout as L


class LayoutTest(unittest.TestCase):
    def test_shape_and_derived_values(self):
        # The documented layout: 48-bit VAs, 4 KiB pages, 4 levels.
        self.assertEqual((LAY.va_bits, LAY.page_shift, LAY.levels), (48, 12, 4))
        self.assertEqual((LAY.start_level, LAY.ptrs_per_table, LAY.page_size), (0, 512, 4096))
        self.assertEqual(LAY.PAGE_OFFSET, 0xFFFF_8000_0000_0000)
        self.assertEqual(LAY.va_start, 0xFFFF_0000_0000_0000)
        self.assertEqual(LAY.KIMAGE_VADDR, 0xFFFF_0000_0800_0000)
        self.assertEqual(LAY.VMEMMAP_START, 0xFFFF_7E00_0000_0000)
        self.assertEqual(LAY.PCI_IO_START, 0xFFFF_7DFF_FEE0_0000)
        self.assertEqual(LAY.FIXADDR_TOP, 0xFFFF_7DFF_FEC0_0000)
        self.assertEqual(LAY.describe(), "4.10-4K-48 (48-bit VAs, 4K pages, 4 levels)")
        self.assertEqual([LAY.level_name(i) for i in range(4)], ["pgd", "pud", "pmd", "pte"])
        self.assertEqual([LAY.level_size(i) for i in (1, 2, 3)], [1 << 30, 1 << 21, 1 << 12])

    def test_classify(self):
        c = lambda va: LAY.classify(va, TEXT, END)  # noqa: E731
        self.assertEqual(c(0), "user")
        self.assertEqual(c(0x0000_FFFF_FFFF_FFFF), "user")
        self.assertEqual(c(0x0001_0000_0000_0000), "non-canonical")
        self.assertEqual(c(0xFFFF_0000_0000_1000), "modules")
        self.assertEqual(c(TEXT), "kernel image")
        self.assertEqual(c(END), "vmalloc")
        self.assertEqual(c(LAY.VMALLOC_END), "unused hole")
        self.assertEqual(c(LAY.FIXADDR_START), "fixmap")
        self.assertEqual(c(LAY.FIXADDR_TOP), "unused hole")
        self.assertEqual(c(LAY.PCI_IO_START), "PCI I/O")
        self.assertEqual(c(LAY.VMEMMAP_START), "vmemmap")
        self.assertEqual(c(LAY.PAGE_OFFSET), "linear map")
        self.assertEqual(c(L.MASK64), "linear map")
        self.assertEqual(LAY.classify(LAY.PAGE_OFFSET + (1 << 30), TEXT, END, LAY.PAGE_OFFSET + (1 << 30)),
                         "linear map beyond end of RAM")
        # The image where KASLR put it, not where it was linked.
        moved = TEXT + (37 << 21)
        self.assertEqual(LAY.classify(moved, moved, moved + 0x1000), "kernel image")
        self.assertEqual(LAY.classify(TEXT, moved, moved + 0x1000), "vmalloc")

    def test_markers_follow_the_image(self):
        m = LAY.ptdump_markers(TEXT + 0x200000, TEXT + 0x200000 + 0x1234)
        names = [n for _, n in m]
        self.assertEqual(names, ["Modules", "vmalloc() area", "Kernel image", "vmalloc() area (after the image)",
                                 "Unused hole", "Fixmap", "PCI I/O", "vmemmap", "Linear mapping"])
        self.assertEqual(dict((n, s) for s, n in m)["Kernel image"], TEXT + 0x200000)
        self.assertEqual(dict((n, s) for s, n in m)["vmalloc() area (after the image)"], TEXT + 0x202000)
        self.assertEqual(len(LAY.ptdump_markers()), 7)  # no image known: its markers left out

    def test_bad_tables_are_refused_with_a_reason(self):
        with open(table_path()) as f:
            good = json.load(f)
        bad = copy.deepcopy(good)
        bad["format"] = 99
        with self.assertRaisesRegex(L.LayoutError, "format 99"):
            L.Layout(bad)
        bad = copy.deepcopy(good)
        del bad["constants"]
        with self.assertRaisesRegex(L.LayoutError, "malformed.*constants"):
            L.Layout(bad)
        bad = copy.deepcopy(good)
        bad["levels"] = 2
        with self.assertRaisesRegex(L.LayoutError, "cannot translate 48-bit"):
            L.Layout(bad)
        with self.assertRaisesRegex(L.LayoutError, "cannot read"):
            L.load("/nonexistent/" + L.FILE_NAME)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write("{not json")
        try:
            with self.assertRaisesRegex(L.LayoutError, "not valid JSON"):
                L.load(f.name)
        finally:
            os.unlink(f.name)

    def test_path_next_to_the_elf(self):
        self.assertEqual(L.path_next_to("/a/b/vakern"), "/a/b/" + L.FILE_NAME)


if __name__ == "__main__":
    unittest.main()
