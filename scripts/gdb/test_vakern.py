#!/usr/bin/env python3
"""Tests of the pure half of scripts/gdb/vakern.py (no GDB needed).

Run: python3 scripts/gdb/test_vakern.py
"""

import os
import struct
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vakern as vk  # noqa: E402

TEXT = 0xFFFF_0000_0800_0000
END = 0xFFFF_0000_0804_2000
PA_TEXT = 0x4020_0000
VOFFSET = 0xFFFE_FFFF_C7E0_0000
MEMSTART = 0x4000_0000

# Descriptor attributes the kernel builds (mm/src/pte.rs): VALID | AF | SH inner | AttrIndx ...
ATTR_NORMAL = 4 << 2
ATTR_DEVICE = 1 << 2
KERNEL_ROX_PAGE = vk.D_VALID | vk.D_TABLE | ATTR_NORMAL | (3 << 8) | vk.D_AF | vk.D_AP2 | vk.D_UXN
KERNEL_RW_PAGE = vk.D_VALID | vk.D_TABLE | ATTR_NORMAL | (3 << 8) | vk.D_AF | vk.D_PXN | vk.D_UXN
LINEAR_BLOCK = vk.D_VALID | ATTR_NORMAL | (3 << 8) | vk.D_AF | vk.D_PXN | vk.D_UXN
DEVICE_PAGE = vk.D_VALID | vk.D_TABLE | ATTR_DEVICE | vk.D_AF | vk.D_PXN | vk.D_UXN
TCR = 16 | (16 << 16) | (2 << 30) | (1 << 7)  # 48-bit VAs, 4 KiB granules, EPD0 set


class FakePhys(object):
    """Physical memory as a dict of page address -> bytes (4 KiB each)."""

    def __init__(self):
        self.pages = {}
        self.reads = 0
        self.next_table = 0x4100_0000

    def new_table(self):
        pa = self.next_table
        self.next_table += vk.PAGE_SIZE
        self.pages[pa] = bytes(vk.PAGE_SIZE)
        return pa

    def write_u64(self, pa, value):
        base = pa & ~(vk.PAGE_SIZE - 1)
        page = bytearray(self.pages[base])
        struct.pack_into("<Q", page, pa - base, value)
        self.pages[base] = bytes(page)

    def read_u64(self, pa):
        self.reads += 1
        base = pa & ~(vk.PAGE_SIZE - 1)
        if base not in self.pages:
            raise vk.PhysReadError(pa, "no memory")
        return struct.unpack_from("<Q", self.pages[base], pa - base)[0]

    def read_table(self, pa):
        self.reads += 1
        if pa not in self.pages:
            raise vk.PhysReadError(pa, "no memory")
        return list(struct.unpack("<512Q", self.pages[pa]))

    def map(self, root, va, pa, level, attrs):
        """Install a leaf at `level` for `va`, creating tables on the way."""
        table = root
        for lvl in range(level):
            idx = vk.table_index(va, lvl)
            desc = self.read_u64(table + 8 * idx)
            if not desc & vk.D_VALID:
                nxt = self.new_table()
                self.write_u64(table + 8 * idx, nxt | vk.D_TABLE | vk.D_VALID)
                table = nxt
            else:
                table = desc & vk.ADDR_MASK
        self.write_u64(table + 8 * vk.table_index(va, level), pa | attrs)


def kernel_tables():
    """Tables like the booted kernel's: image as pages, 1 GiB linear block, DTB fixmap block, a UART page."""
    m = FakePhys()
    root = m.new_table()
    for i in range(0x16):  # .text: RO, executable
        m.map(root, TEXT + i * 0x1000, PA_TEXT + i * 0x1000, 3, KERNEL_ROX_PAGE)
    for i in range(0x16, 0x42):  # data: RW, NX
        m.map(root, TEXT + i * 0x1000, PA_TEXT + i * 0x1000, 3, KERNEL_RW_PAGE)
    m.map(root, vk.PAGE_OFFSET, MEMSTART, 1, LINEAR_BLOCK)
    m.map(root, vk.FIXADDR_START, 0x4800_0000, 2, LINEAR_BLOCK | vk.D_AP2)
    m.map(root, 0xFFFF_7DFF_FEBF_F000, 0x0900_0000, 3, DEVICE_PAGE)
    return m, root


class LayoutTest(unittest.TestCase):
    def test_constants(self):
        self.assertEqual(vk.PAGE_OFFSET, 0xFFFF_8000_0000_0000)
        self.assertEqual(vk.VA_START, 0xFFFF_0000_0000_0000)
        self.assertEqual(vk.KIMAGE_VADDR, TEXT)
        self.assertEqual(vk.VMEMMAP_START, 0xFFFF_7E00_0000_0000)
        self.assertEqual(vk.PCI_IO_START, 0xFFFF_7DFF_FEE0_0000)
        self.assertEqual(vk.PCI_IO_END, 0xFFFF_7DFF_FFE0_0000)
        self.assertEqual(vk.FIXADDR_TOP, 0xFFFF_7DFF_FEC0_0000)

    def test_classify(self):
        c = lambda va: vk.classify(va, TEXT, END)  # noqa: E731
        self.assertEqual(c(0), "user")
        self.assertEqual(c(0x0000_FFFF_FFFF_FFFF), "user")
        self.assertEqual(c(0x0001_0000_0000_0000), "non-canonical")
        self.assertEqual(c(0xFFFF_0000_0000_1000), "modules")
        self.assertEqual(c(TEXT), "kernel image")
        self.assertEqual(c(END), "vmalloc")
        self.assertEqual(c(vk.FIXADDR_START), "fixmap")
        self.assertEqual(c(vk.PCI_IO_START), "PCI I/O")
        self.assertEqual(c(vk.VMEMMAP_START), "vmemmap")
        self.assertEqual(c(vk.PAGE_OFFSET), "linear map")
        self.assertEqual(c(vk.MASK64), "linear map")
        self.assertEqual(vk.classify(vk.PAGE_OFFSET + (1 << 30), TEXT, END, vk.PAGE_OFFSET + (1 << 30)),
                         "linear map beyond end of RAM")


class TranslateTest(unittest.TestCase):
    def test_design_numbers(self):
        # DESIGN.md section 2.
        self.assertEqual(vk.u64(TEXT - PA_TEXT), VOFFSET)
        self.assertEqual(vk.phys_to_virt(0x4000_0000, MEMSTART), 0xFFFF_8000_0000_0000)
        lm_alias_text = vk.phys_to_virt(vk.kimg_to_phys(TEXT, VOFFSET), MEMSTART)
        self.assertEqual(lm_alias_text, 0xFFFF_8000_0020_0000)

    def test_linear(self):
        t = vk.virt_to_phys(0xFFFF_8000_0000_0000, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.rule, t.region), (0x4000_0000, "__lm_to_phys", "linear map"))
        t = vk.virt_to_phys(0xFFFF_8000_1234_5678, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual(t.pa, 0x5234_5678)
        self.assertEqual(vk.lm_to_phys(0xFFFF_FFFF_FFFF_F000, 0), 0x0000_7FFF_FFFF_F000)

    def test_image(self):
        t = vk.virt_to_phys(TEXT, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.rule), (PA_TEXT, "__kimg_to_phys"))
        t = vk.virt_to_phys(END, MEMSTART, VOFFSET, TEXT, END)  # _end itself is allowed
        self.assertEqual(t.pa, PA_TEXT + (END - TEXT))
        self.assertEqual(vk.kimg_to_phys(TEXT + 0x1234, VOFFSET), PA_TEXT + 0x1234)

    def test_no_rule(self):
        t = vk.virt_to_phys(END + 0x1000, MEMSTART, VOFFSET, TEXT, END)
        self.assertIsNone(t.pa)
        self.assertEqual(t.region, "vmalloc")
        self.assertIn("vmalloc", t.note)
        t = vk.virt_to_phys(vk.FIXADDR_START, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.region), (None, "fixmap"))
        t = vk.virt_to_phys(0x4020_0000, MEMSTART, VOFFSET, TEXT, END)
        self.assertEqual((t.pa, t.region), (None, "user"))

    def test_unset_values(self):
        t = vk.virt_to_phys(vk.PAGE_OFFSET, vk.MASK64, VOFFSET, TEXT, END)
        self.assertIsNone(t.pa)
        self.assertIn("not set", t.note)
        t = vk.virt_to_phys(vk.PAGE_OFFSET, None, VOFFSET, TEXT, END)
        self.assertIn("unknown", t.note)
        t = vk.virt_to_phys(TEXT, MEMSTART, 0, TEXT, END)
        self.assertIsNone(t.pa)
        t = vk.virt_to_phys(TEXT, MEMSTART, None, TEXT, END)
        self.assertIsNone(t.pa)

    def test_p2v(self):
        self.assertEqual(vk.phys_to_virt(0x4020_0000, MEMSTART), 0xFFFF_8000_0020_0000)
        self.assertEqual(vk.phys_to_virt(0x7FFF_F000, MEMSTART), 0xFFFF_8000_3FFF_F000)
        self.assertEqual(vk.phys_to_kimg(PA_TEXT, VOFFSET, TEXT, END), TEXT)
        self.assertEqual(vk.phys_to_kimg(PA_TEXT + 0x123, VOFFSET, TEXT, END), TEXT + 0x123)
        self.assertEqual(vk.phys_to_kimg(PA_TEXT + (END - TEXT), VOFFSET, TEXT, END), END)
        self.assertIsNone(vk.phys_to_kimg(PA_TEXT - 1, VOFFSET, TEXT, END))
        self.assertIsNone(vk.phys_to_kimg(PA_TEXT + (END - TEXT) + 1, VOFFSET, TEXT, END))

    def test_round_trip(self):
        for pa in (MEMSTART, MEMSTART + 0x1000, 0x7FFF_FFF8, PA_TEXT + 0x42):
            va = vk.phys_to_virt(pa, MEMSTART)
            self.assertEqual(vk.virt_to_phys(va, MEMSTART, VOFFSET, TEXT, END).pa, pa)

    def test_symbol_file_offset(self):
        off = vk.symbol_file_offset(PA_TEXT, TEXT)
        self.assertEqual(off, 0x0001_0000_3820_0000)
        self.assertEqual(vk.u64(TEXT + off), PA_TEXT)
        self.assertEqual(vk.symbol_file_offset(TEXT, TEXT), 0)


class EsrTest(unittest.TestCase):
    def test_dabt_l2_translation_read(self):
        d = vk.decode_esr(0x96000006)
        self.assertEqual(d["ec"], 0x25)
        self.assertEqual(d["ec_name"], "DABT (current EL)")
        self.assertEqual(d["il"], 1)
        self.assertEqual(d["fsc"], 0x06)
        self.assertEqual(d["fsc_name"], "level 2 translation fault")
        self.assertEqual(d["fault_level"], 2)
        self.assertEqual(d["wnr"], 0)
        text = "\n".join(vk.format_esr(0x96000006, far=0xFFFF_8000_4000_0000))
        self.assertIn("EC = 0x25: DABT (current EL), IL = 32 bits", text)
        self.assertIn("FSC = 0x06: level 2 translation fault", text)
        self.assertIn("WnR = 0", text)
        self.assertIn("FAR_EL1 = 0xffff800040000000", text)

    def test_dabt_l3_permission_write(self):
        d = vk.decode_esr(0x9600004F)
        self.assertEqual(d["ec"], 0x25)
        self.assertEqual(d["fsc_name"], "level 3 permission fault")
        self.assertEqual(d["wnr"], 1)
        self.assertEqual(d["cm"], 0)
        self.assertIn("WnR = 1 (write)", "\n".join(vk.format_esr(0x9600004F)))

    def test_iabt_l3_permission(self):
        d = vk.decode_esr(0x8600000F)
        self.assertEqual(d["ec"], 0x21)
        self.assertEqual(d["ec_name"], "IABT (current EL)")
        self.assertEqual(d["fsc_name"], "level 3 permission fault")
        self.assertTrue(d["is_abort"])
        self.assertFalse(d["is_data_abort"])
        self.assertNotIn("wnr", d)
        self.assertNotIn("WnR", "\n".join(vk.format_esr(0x8600000F)))

    def test_lower_el_and_other_classes(self):
        self.assertEqual(vk.decode_esr(0x92000007)["ec_name"], "DABT (lower EL)")
        self.assertEqual(vk.decode_esr(0x82000007)["ec_name"], "IABT (lower EL)")
        self.assertEqual(vk.decode_esr(0x0)["ec_name"], "UNKNOWN (unknown reason)")
        self.assertEqual(vk.decode_esr(0x0)["il"], 0)
        svc = vk.decode_esr(0x56000042)
        self.assertEqual((svc["ec"], svc["ec_name"], svc["imm16"]), (0x15, "SVC64", 0x42))
        brk = vk.decode_esr(0xF2000800)
        self.assertEqual((brk["ec"], brk["ec_name"], brk["imm16"]), (0x3C, "BRK64", 0x800))
        self.assertFalse(brk["is_abort"])

    def test_fault_status_codes(self):
        f = vk.fault_status_name
        self.assertEqual(f(0x00), "level 0 address size fault")
        self.assertEqual(f(0x04), "level 0 translation fault")
        self.assertEqual(f(0x07), "level 3 translation fault")
        self.assertEqual(f(0x09), "level 1 access flag fault")
        self.assertEqual(f(0x0B), "level 3 access flag fault")
        self.assertEqual(f(0x0D), "level 1 permission fault")
        self.assertEqual(f(0x10), "synchronous external abort (not on a table walk)")
        self.assertEqual(f(0x15), "synchronous external abort on table walk, level 1")
        self.assertEqual(f(0x21), "alignment fault")
        self.assertEqual(f(0x30), "TLB conflict abort")

    def test_abort_flags(self):
        # FnV, EA, CM, S1PTW, ISV with SAS/SRT.
        esr = (0x25 << 26) | (1 << 25) | (1 << 24) | (3 << 22) | (5 << 16) | (1 << 15) | (1 << 10) | (1 << 9) \
            | (1 << 8) | (1 << 7) | 0x07
        d = vk.decode_esr(esr)
        self.assertEqual((d["isv"], d["sas"], d["srt"], d["sf"]), (1, 3, 5, 1))
        self.assertEqual((d["fnv"], d["ea"], d["cm"], d["s1ptw"]), (1, 1, 1, 1))
        text = "\n".join(vk.format_esr(esr, far=0x1234))
        self.assertIn("not valid: FnV = 1", text)
        self.assertIn("SRT = x5", text)


class DescriptorTest(unittest.TestCase):
    def test_kernel_text_page(self):
        d = vk.decode_desc(0x0040000040200793, 3)
        self.assertEqual(d["kind"], "page")
        self.assertEqual(d["output"], 0x4020_0000)
        self.assertTrue(d["ro"])
        self.assertFalse(d["pxn"])
        self.assertTrue(d["uxn"])
        self.assertTrue(d["af"])
        self.assertEqual(d["sh_name"], "Inner")
        self.assertEqual((d["attrindx"], d["memtype"]), (4, "Normal"))
        s = vk.format_leaf_attrs(0x0040000040200793)
        self.assertEqual(s, "RO, PXN=0, UXN=1, AF=1, SH=Inner, AttrIndx=4 (Normal)")

    def test_linear_block(self):
        d = vk.decode_desc(0x0060000040000711, 1)
        self.assertEqual((d["kind"], d["output"], d["size"]), ("block", 0x4000_0000, 1 << 30))
        self.assertFalse(d["ro"])
        self.assertTrue(d["pxn"] and d["uxn"])
        self.assertEqual(vk.format_leaf_attrs(0x0060000040000711),
                         "RW, PXN=1, UXN=1, AF=1, SH=Inner, AttrIndx=4 (Normal)")

    def test_kinds(self):
        self.assertEqual(vk.desc_kind(0, 0), "invalid")
        self.assertEqual(vk.desc_kind(0x4000_0003, 0), "table")
        self.assertEqual(vk.desc_kind(0x4000_0001, 0), "reserved")  # no level-0 block
        self.assertEqual(vk.desc_kind(0x4000_0001, 1), "block")
        self.assertEqual(vk.desc_kind(0x4020_0001, 2), "block")
        self.assertEqual(vk.desc_kind(0x4020_0001, 3), "reserved")
        self.assertEqual(vk.desc_kind(0x4020_0003, 3), "page")
        self.assertEqual(vk.desc_output(0x0060_0000_4020_0711 | 0x1000, 2), 0x4020_0000)

    def test_device_and_table_bits(self):
        d = vk.decode_desc(0x0060000009000407, 3)
        self.assertEqual(d["memtype"], "Device-nGnRE")
        self.assertEqual(d["sh_name"], "Non-shareable")
        t = vk.decode_desc(0x4000_0003 | vk.T_APTABLE1 | vk.T_PXNTABLE, 1)
        self.assertEqual(t["kind"], "table")
        self.assertEqual(t["aptable"], 2)
        self.assertTrue(t["pxntable"])
        for i, name in enumerate(("Device-nGnRnE", "Device-nGnRE", "Device-GRE", "Normal-NC", "Normal", "Normal-WT")):
            self.assertEqual(vk.decode_desc(0x403 | (i << 2), 3)["memtype"], name)

    def test_sizes_and_attr_columns(self):
        self.assertEqual(vk.format_size(4096), "4K")
        self.assertEqual(vk.format_size(88 << 10), "88K")
        self.assertEqual(vk.format_size(2 << 20), "2M")
        self.assertEqual(vk.format_size(1 << 30), "1G")
        self.assertEqual(vk.format_size(3 << 30), "3G")
        self.assertEqual(vk.format_size(1 << 40), "1T")
        self.assertEqual(vk.ptdump_attrs(0x0040000040200793, 3), "    ro x  SHD AF            UXN MEM/NORMAL")
        self.assertEqual(vk.ptdump_attrs(0x0060000040000711, 1), "    RW NX SHD AF        BLK UXN MEM/NORMAL")
        self.assertTrue(vk.ptdump_attrs(0x0060000009000407).endswith("DEVICE/nGnRE"))

    def test_mair(self):
        mair = 0x0000BBFF440C0400  # mm/src/pte.rs MAIR_VALUE
        for i, name in vk.MAIR_NAMES.items():
            self.assertEqual(vk.mair_byte_name((mair >> (8 * i)) & 0xFF), name)


class WalkTest(unittest.TestCase):
    def setUp(self):
        self.mem, self.root = kernel_tables()

    def walk(self, va, **kw):
        args = dict(ttbr0=0, ttbr1=self.root, tcr=TCR)
        args.update(kw)
        return vk.walk(va, self.mem.read_u64, **args)

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
        line = vk.walk_summary_line(r)
        self.assertRegex(line, r"^\[ffff000008000664\] pgd=0x[0-9a-f]{16}, pud=0x[0-9a-f]{16}, "
                               r"pmd=0x[0-9a-f]{16}, pte=0x0040000040200793$")
        text = "\n".join(vk.format_walk(r, mair=0x0000BBFF440C0400))
        self.assertIn("=> PA 0x0000000040200664: level 3 page (4K), RO, PXN=0, UXN=1, AF=1, SH=Inner, "
                      "AttrIndx=4 (Normal); read-only, executable at EL1", text)
        self.assertIn("MAIR_EL1[4] = 0xff: Normal", text)

    def test_data_page(self):
        r = self.walk(TEXT + 0x30000 + 8)
        self.assertEqual(r.pa, PA_TEXT + 0x30008)
        self.assertIn("read-write, never executable", vk.format_walk(r)[-1])

    def test_linear_block_stops_at_level_1(self):
        r = self.walk(vk.PAGE_OFFSET + 0x1234_5678)
        self.assertEqual((r.pa, r.level, r.kind), (MEMSTART + 0x1234_5678, 1, "block"))
        self.assertEqual(len(r.steps), 2)
        self.assertRegex(vk.walk_summary_line(r), r"pgd=0x[0-9a-f]{16}, pud=0x0060000040000711$")

    def test_fixmap_block_level_2(self):
        r = self.walk(vk.FIXADDR_START + 0x10)
        self.assertEqual((r.pa, r.level, r.kind), (0x4800_0010, 2, "block"))

    def test_invalid_entry_stops(self):
        r = self.walk(vk.PAGE_OFFSET + (1 << 30))  # beyond the 1 GiB of RAM
        self.assertFalse(r.ok)
        self.assertEqual(r.fault_level, 1)
        self.assertIn("translation fault, level 1", r.fault)
        self.assertRegex(vk.walk_summary_line(r), r"pud=0x0000000000000000$")
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

    def test_ttbr0_identity_block(self):
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, 0x4020_0000, 0x4020_0000, 2, LINEAR_BLOCK & ~vk.D_PXN)
        r = vk.walk(0x4020_0A44, mem.read_u64, ttbr0=root | 1, ttbr1=0, tcr=TCR & ~(1 << 7))
        self.assertEqual((r.ttbr, r.pa, r.level, r.kind), ("TTBR0", 0x4020_0A44, 2, "block"))

    def test_tcr_warnings(self):
        r = self.walk(TEXT, tcr=25 | (25 << 16) | (2 << 30))
        self.assertEqual(len(r.warnings), 2)
        self.assertIn("T0SZ=25", r.warnings[0])
        self.assertEqual(len(vk.tcr_warnings(0)), 1)
        self.assertIn("TG1", " ".join(vk.tcr_warnings(16 | (16 << 16) | (1 << 30))))

    def test_unreadable_table(self):
        self.mem.write_u64(self.root + 8 * 2, 0x7000_0000 | 3)  # pgd[2] -> missing memory
        r = self.walk(0xFFFF_0100_0000_0000)
        self.assertFalse(r.ok)
        self.assertIn("external abort on translation table walk, level 1", r.fault)

    def test_reserved_and_af(self):
        t = self.root
        for lvl in range(3):
            t = self.mem.read_u64(t + 8 * vk.table_index(TEXT, lvl)) & vk.ADDR_MASK
        self.mem.write_u64(t, (PA_TEXT | KERNEL_ROX_PAGE) & ~vk.D_TABLE)  # page entry with bit 1 clear
        r = self.walk(TEXT)
        self.assertIn("reserved", r.fault)
        self.assertEqual(r.fault_level, 3)
        self.mem.write_u64(t, (PA_TEXT | KERNEL_ROX_PAGE) & ~vk.D_AF)
        r = self.walk(TEXT)
        self.assertTrue(r.ok)
        self.assertIn("access flag", " ".join(r.warnings))

    def test_hierarchical_attributes(self):
        pgd = self.mem.read_u64(self.root + 8 * 256)
        self.mem.write_u64(self.root + 8 * 256, pgd | vk.T_APTABLE1 | vk.T_PXNTABLE)
        r = self.walk(vk.PAGE_OFFSET)
        self.assertTrue(r.table_ro and r.table_pxn)
        text = "\n".join(vk.format_walk(r))
        self.assertIn("read-only, never executable", text)
        self.assertIn("inherited from table descriptors: RO, PXN", text)


class PtdumpTest(unittest.TestCase):
    def test_runs(self):
        mem, root = kernel_tables()
        mem.reads = 0
        runs, problems = vk.ptdump_runs(root, mem.read_table)
        self.assertEqual(problems, [])
        got = [(r.start, r.end, r.level) for r in runs]
        self.assertEqual(got, [
            (TEXT, TEXT + 0x16000, 3),
            (TEXT + 0x16000, END, 3),
            (vk.FIXADDR_START, vk.FIXADDR_START + (2 << 20), 2),
            (0xFFFF_7DFF_FEBF_F000, 0xFFFF_7DFF_FEC0_0000, 3),
            (vk.PAGE_OFFSET, vk.PAGE_OFFSET + (1 << 30), 1),
        ])
        # One read per table, however much is empty: the root, 3 pud tables (image,
        # fixmap, linear), 2 pmd tables (image, fixmap) and 2 pte tables (image, UART).
        self.assertEqual(mem.reads, 8)

    def test_format_like_the_kernel(self):
        mem, root = kernel_tables()
        runs, _ = vk.ptdump_runs(root, mem.read_table)
        lines = vk.format_ptdump(runs, vk.ptdump_markers(TEXT, END))
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
        runs, _ = vk.ptdump_runs(root, mem.read_table, TEXT, TEXT + 0x4000)
        self.assertEqual([(r.start, r.end) for r in runs], [(TEXT, TEXT + 0x4000)])
        lines = vk.format_ptdump(runs, vk.ptdump_markers(TEXT, END), start=TEXT, end=TEXT + 0x4000)
        self.assertEqual(lines[0], "---[ Kernel image ]---")
        self.assertEqual(len(lines), 2)
        # The image's second page pointing elsewhere splits the run only with split_phys.
        mem.map(root, TEXT + 0x1000, 0x5000_0000, 3, KERNEL_ROX_PAGE)
        runs, _ = vk.ptdump_runs(root, mem.read_table, TEXT, TEXT + 0x4000)
        self.assertEqual(len(runs), 1)
        runs, _ = vk.ptdump_runs(root, mem.read_table, TEXT, TEXT + 0x4000, split_phys=True)
        self.assertEqual([(r.start, r.pa) for r in runs],
                         [(TEXT, PA_TEXT), (TEXT + 0x1000, 0x5000_0000), (TEXT + 0x2000, PA_TEXT + 0x2000)])
        lines = vk.format_ptdump(runs, vk.ptdump_markers(TEXT, END), show_phys=True, start=TEXT, end=TEXT + 0x4000)
        self.assertTrue(lines[2].endswith("-> PA 0x50000000"))

    def test_runs_split_at_markers(self):
        # A 2 MiB block straddling the end of the image is shown in two pieces.
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, TEXT, PA_TEXT, 2, LINEAR_BLOCK)
        runs, _ = vk.ptdump_runs(root, mem.read_table)
        lines = vk.format_ptdump(runs, vk.ptdump_markers(TEXT, TEXT + 0x1000), show_phys=True)
        i = lines.index("---[ Kernel image ]---")
        self.assertTrue(lines[i + 1].startswith("0xffff000008000000-0xffff000008001000           4K PMD"))
        self.assertEqual(lines[i + 2], "---[ vmalloc() area (after the image) ]---")
        self.assertTrue(lines[i + 3].startswith("0xffff000008001000-0xffff000008200000        2044K PMD"))
        self.assertTrue(lines[i + 3].endswith("-> PA 0x40201000"))

    def test_many_entries_merge(self):
        # 300 contiguous 2 MiB blocks then a hole then 1 GiB blocks: 2 runs.
        mem = FakePhys()
        root = mem.new_table()
        base = vk.PAGE_OFFSET
        for i in range(300):
            mem.map(root, base + i * (2 << 20), MEMSTART + i * (2 << 20), 2, LINEAR_BLOCK)
        for i in range(4):
            mem.map(root, base + ((4 + i) << 30), 0x1_0000_0000 + (i << 30), 1, LINEAR_BLOCK)
        runs, _ = vk.ptdump_runs(root, mem.read_table)
        self.assertEqual([(r.start - base, r.end - base, r.level) for r in runs],
                         [(0, 300 * (2 << 20), 2), (4 << 30, 8 << 30, 1)])
        self.assertEqual(vk.format_size(runs[0].end - runs[0].start), "600M")

    def test_unreadable_and_reserved(self):
        mem, root = kernel_tables()
        mem.write_u64(root + 8 * 3, 0x7000_0003)
        mem.write_u64(root + 8 * 4, 0x4000_0001)  # level-0 block: reserved
        runs, problems = vk.ptdump_runs(root, mem.read_table)
        self.assertEqual(len(runs), 5)
        self.assertEqual(len(problems), 2)
        self.assertTrue(any("unreadable" in p for p in problems))
        self.assertTrue(any("reserved pgd" in p for p in problems))

    def test_table_reader_from_u64(self):
        mem, root = kernel_tables()
        rt = vk.table_reader_from_u64(mem.read_u64)
        self.assertEqual(rt(root), mem.read_table(root))


class ElfTest(unittest.TestCase):
    def test_symbols(self):
        # A minimal ELF64 LE file: null section, .symtab, .strtab.
        strtab = b"\0_text\0_end\0other\0"
        syms = struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)
        syms += struct.pack("<IBBHQQ", 1, 0, 0, 1, TEXT, 0)
        syms += struct.pack("<IBBHQQ", 7, 0, 0, 1, END, 0)
        syms += struct.pack("<IBBHQQ", 12, 0, 0, 1, 0x1234, 0)
        ehdr_size, shdr_size = 64, 64
        sym_off = ehdr_size
        str_off = sym_off + len(syms)
        sh_off = str_off + len(strtab)
        ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
        ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0, 0, sh_off, 0, ehdr_size, 0, 0,
                                   shdr_size, 3, 0)
        null = bytes(shdr_size)
        symsh = struct.pack("<IIQQQQIIQQ", 0, 2, 0, 0, sym_off, len(syms), 2, 1, 8, 24)
        strsh = struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, str_off, len(strtab), 0, 0, 1, 0)
        data = ehdr + syms + strtab + null + symsh + strsh
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
            path = f.name
        try:
            self.assertEqual(vk.elf_symbols(path, ["_text", "_end", "missing"]), {"_text": TEXT, "_end": END})
        finally:
            os.unlink(path)


class FindImage(unittest.TestCase):
    def test_finds_the_slot_with_the_header(self):
        base = vk.KIMAGE_VADDR + 37 * vk.PMD_SIZE
        mapping = {base: 0x4020_0000}
        translate = lambda va: mapping.get(va)
        read_u32 = lambda pa: vk.IMAGE_MAGIC if pa == 0x4020_0000 + 56 else 0
        self.assertEqual(vk.find_image(translate, read_u32), base)

    def test_none_without_a_header(self):
        self.assertIsNone(vk.find_image(lambda va: 0x4000_0000, lambda pa: 0))


if __name__ == "__main__":
    unittest.main(verbosity=1)
