"""layout.py: the table the image builder writes reads back as the kernel's layout."""

import copy
import json
import os
import tempfile
import unittest

from common import (LAY, TEXT, END, PAGE, ROOT, GRANULE, M64, arch_levels, expected_constants, flavour, neg,
                    round_up, table_path)
from vakern_gdb import layout as L


class LayoutTest(unittest.TestCase):
    def test_shape_and_derived_values(self):
        # The shape the flavour's name says, and the Arm ARM's geometry for it.
        version, shift, bits = flavour()
        self.assertEqual((LAY.va_bits, LAY.page_shift, LAY.page_size), (bits, shift, 1 << shift))
        levels = arch_levels()
        self.assertEqual((LAY.levels, LAY.start_level), (len(levels), ROOT))
        self.assertEqual(LAY.ptrs_per_table, 1 << (shift - 3))
        for level, (hi, lo) in levels.items():
            self.assertEqual(LAY.level_shift(level), lo, "level %d" % level)
            self.assertEqual(LAY.level_size(level), 1 << lo, "level %d" % level)
            self.assertEqual(LAY.entries(level), 1 << (hi - lo + 1), "level %d" % level)
        self.assertEqual(LAY.block_levels, tuple(lv for lv in sorted(GRANULE["blocks"]) if lv in levels))
        for level in LAY.block_levels:
            self.assertEqual(LAY.level_size(level), GRANULE["blocks"][level])
        for name, value in expected_constants().items():
            self.assertEqual(getattr(LAY, name), value, "%s of %s" % (name, LAY.flavour))
        self.assertEqual(LAY.va_start, neg(bits))
        self.assertEqual(LAY.describe(), "%s (%d-bit VAs, %dK pages, %d levels)"
                         % (LAY.flavour, bits, 1 << (shift - 10), len(levels)))
        names = [LAY.level_name(lv) for lv in sorted(levels)]
        self.assertEqual(names, ["pgd"] + ["pud", "pmd", "pte"][4 - len(levels):])

    def test_vabits_actual(self):
        # 52-bit VAs also run with 48 on a CPU without LVA: a 64-entry root
        # (bits 47:42), the top 64 entries of the 1024-entry one, which TTBR1
        # points at. Every other flavour has one VA size and no offset.
        version, shift, bits = flavour()
        if bits == 52:
            self.assertEqual(LAY.vabits_sizes(), [52, 48])
            self.assertEqual((LAY.entries(ROOT, 52), LAY.entries(ROOT, 48)), (1024, 64))
            self.assertEqual(LAY.ttbr1_offset(48), 8 * (1024 - 64))
            self.assertEqual(LAY.half_start(48), neg(48))
        else:
            self.assertEqual(LAY.vabits_sizes(), [bits])
        self.assertEqual(LAY.ttbr1_offset(bits), 0)
        self.assertEqual(LAY.half_start(), neg(bits))

    def test_classify(self):
        c = lambda va: LAY.classify(va, TEXT, END)  # noqa: E731
        bits = LAY.va_bits
        self.assertEqual(c(0), "user")
        self.assertEqual(c((1 << bits) - 1), "user")
        self.assertEqual(c(1 << bits), "non-canonical")
        self.assertEqual(c(neg(bits) - 1), "non-canonical")
        self.assertEqual(c(LAY.MODULES_VADDR + 0x1000), "modules")
        self.assertEqual(c(TEXT), "kernel image")
        self.assertEqual(c(END), "vmalloc")
        self.assertEqual(c(LAY.VMALLOC_END), "unused hole")
        self.assertEqual(c(LAY.FIXADDR_START), "fixmap")
        self.assertEqual(c(LAY.FIXADDR_TOP), "unused hole")
        self.assertEqual(c(LAY.PCI_IO_START), "PCI I/O")
        self.assertEqual(c(LAY.VMEMMAP_START), "vmemmap")
        self.assertEqual(c(LAY.PAGE_OFFSET), "linear map")
        last_linear = (LAY.PAGE_END - 1) & M64  # 2^64 - 1 where PAGE_END is 0
        self.assertEqual(c(last_linear), "linear map")
        self.assertNotEqual(c(LAY.PAGE_OFFSET - 1), "linear map")
        self.assertNotEqual(c(last_linear + 1), "linear map")
        self.assertEqual(LAY.classify(LAY.PAGE_OFFSET + (1 << 30), TEXT, END, LAY.PAGE_OFFSET + (1 << 30)),
                         "linear map beyond end of RAM")
        # The image where KASLR put it, not where it was linked.
        moved = TEXT + (37 << 21)
        self.assertEqual(LAY.classify(moved, moved, moved + 0x1000), "kernel image")
        self.assertEqual(LAY.classify(TEXT, moved, moved + 0x1000), "vmalloc")

    def test_classify_with_the_va_size_in_use(self):
        # Each VA size the flavour runs with (52-bit flavours also run with 48):
        # the upper half starts at -(1 << vabits), below it is non-canonical.
        for v in LAY.vabits_sizes():
            self.assertEqual(LAY.classify(neg(v), vabits=v), "linear map" if LAY.PAGE_OFFSET <= neg(v) else "modules")
            self.assertEqual(LAY.classify(neg(v) - 1, vabits=v), "non-canonical")
            self.assertEqual(LAY.classify((1 << v) - 1, vabits=v), "user")
            self.assertEqual(LAY.classify(1 << v, vabits=v), "non-canonical")
        # The bottom of the 52-bit linear map is not canonical on a 48-bit CPU.
        self.assertEqual(LAY.classify(LAY.PAGE_OFFSET, vabits=LAY.vabits_sizes()[-1]),
                         "non-canonical" if flavour()[2] == 52 else "linear map")

    def test_markers_follow_the_image(self):
        text = TEXT + 0x200000
        end = text + 0x1234
        m = LAY.ptdump_markers(text, end)
        want = sorted([
            (LAY.MODULES_VADDR, "Modules"), (LAY.VMALLOC_START, "vmalloc() area"), (text, "Kernel image"),
            (text + round_up(0x1234, PAGE), "vmalloc() area (after the image)"),
            (LAY.VMALLOC_END, "Unused hole"), (LAY.FIXADDR_START, "Fixmap"), (LAY.PCI_IO_START, "PCI I/O"),
            (LAY.VMEMMAP_START, "vmemmap"), (LAY.PAGE_OFFSET, "Linear mapping")])
        self.assertEqual(m, want)
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
        bad["levels"] -= 1
        with self.assertRaisesRegex(L.LayoutError, "levels cannot start at level"):
            L.Layout(bad)
        bad = copy.deepcopy(good)
        bad["geometry"]["levels"][-1]["shift"] += 1
        with self.assertRaisesRegex(L.LayoutError, "level 3 indexes from bit"):
            L.Layout(bad)
        bad = copy.deepcopy(good)
        bad["geometry"]["levels"][0]["entries"] *= 2
        with self.assertRaisesRegex(L.LayoutError, "do not fit %d-bit VAs" % good["va_bits"]):
            L.Layout(bad)
        bad = copy.deepcopy(good)
        bad["geometry"]["vabits"][0]["ttbr1_offset"] = "0x40"
        with self.assertRaisesRegex(L.LayoutError, "does not fit"):
            L.Layout(bad)
        bad = copy.deepcopy(good)
        bad["page_shift"] = 13
        with self.assertRaisesRegex(L.LayoutError, "not a granule"):
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
