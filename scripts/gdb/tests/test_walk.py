"""walk.py: the table walk over fake physical memory, as the MMU would do it."""

import json
import unittest

from common import (ARCH, LAY, TEXT, PA_TEXT, MEMSTART, RAM, TCR, TG, PAGE, ROOT, LINEAR_LEVEL, LINEAR_BLOCK_SIZE,
                    PMD_BLOCK_SIZE, FDT_LEVEL, KERNEL_ROX_PAGE, LINEAR_BLOCK, FakePhys, arch_index, arch_levels,
                    kernel_tables, neg, size_name, table_path, tcr_for)
from vakern_gdb import desc as D
from vakern_gdb import layout as L
from vakern_gdb import ptdump as P
from vakern_gdb import walk as W


def names_for(levels):
    """Linux's names of the levels a walk visits: the root is always the pgd."""
    return ["pgd"] + ["pud", "pmd", "pte"][4 - len(levels):]


class WalkTest(unittest.TestCase):
    def setUp(self):
        self.mem, self.root = kernel_tables()

    def walk(self, va, **kw):
        args = dict(ttbr0=0, ttbr1=self.root, tcr=TCR)
        args.update(kw)
        return W.walk(LAY, va, self.mem.read_u64, **args)

    def test_text_page(self):
        va = TEXT + 0x664
        r = self.walk(va)
        self.assertTrue(r.ok)
        self.assertEqual(r.ttbr, "TTBR1")
        self.assertEqual(r.pa, PA_TEXT + 0x664)
        self.assertEqual((r.level, r.kind), (3, "page"))
        levels = sorted(arch_levels())
        self.assertEqual([s.level for s in r.steps], levels)
        self.assertEqual([s.index for s in r.steps], [arch_index(va, lv) for lv in levels])
        self.assertEqual(r.steps[0].entry_pa, self.root + 8 * arch_index(va, ROOT))
        self.assertEqual(r.warnings, [])
        pte = PA_TEXT | KERNEL_ROX_PAGE
        line = W.walk_summary_line(LAY, r)
        want = "^\\[%016x\\] " % va + ", ".join("%s=0x[0-9a-f]{16}" % n for n in names_for(levels)[:-1])
        self.assertRegex(line, want + ", pte=0x%016x$" % pte)
        text = "\n".join(W.format_walk(LAY, r, mair=LAY.mair))
        self.assertIn("=> PA 0x%016x: level 3 page (%s), RO, PXN=0, UXN=1, AF=1, SH=Inner, "
                      "AttrIndx=4 (Normal); read-only, executable at EL1" % (PA_TEXT + 0x664, size_name(PAGE)), text)
        self.assertIn("MAIR_EL1[4] = 0xff: Normal", text)
        self.assertNotIn("MAIR value says", text)
        # A live MAIR that differs from the kernel's is called out.
        text = "\n".join(W.format_walk(LAY, r, mair=LAY.mair & ~(0xFF << 32)))
        self.assertIn("MAIR_EL1[4] = 0x00: Device-nGnRnE  (the kernel's MAIR value says Normal!)", text)

    def test_data_page(self):
        r = self.walk(TEXT + 0x30000 + 8)
        self.assertEqual(r.pa, PA_TEXT + 0x30008)
        self.assertIn("read-write, never executable", W.format_walk(LAY, r)[-1])

    def test_linear_block_stops_at_the_block_level(self):
        # The granule's largest block: level 1 (1 GiB) with 4K pages, level 2
        # (32 MiB, 512 MiB) with 16K and 64K.
        off = 0x1234_5678
        r = self.walk(LAY.PAGE_OFFSET + off)
        self.assertEqual((r.pa, r.level, r.kind), (MEMSTART + off, LINEAR_LEVEL, "block"))
        self.assertEqual(len(r.steps), LINEAR_LEVEL - ROOT + 1)
        block = (MEMSTART + (off & ~(LINEAR_BLOCK_SIZE - 1))) | LINEAR_BLOCK
        name = names_for(arch_levels())[LINEAR_LEVEL - ROOT]
        self.assertRegex(W.walk_summary_line(LAY, r), "%s=0x%016x$" % (name, block))

    def test_fixmap_window(self):
        # A 2 MiB level-2 block with 4K pages, pages with the larger granules.
        r = self.walk(LAY.FIXADDR_START + 0x10)
        self.assertEqual((r.pa, r.level, r.kind), (0x4800_0010, FDT_LEVEL, "block" if FDT_LEVEL == 2 else "page"))

    def test_invalid_entry_stops(self):
        # Beyond the 1 GiB of RAM in the linear map.
        va = LAY.PAGE_OFFSET + RAM
        level, leaf = self.mem.model_walk(va)
        self.assertFalse(leaf)
        r = self.walk(va)
        self.assertFalse(r.ok)
        self.assertEqual((r.fault_level, len(r.steps)), (level, level - ROOT + 1))
        self.assertIn("translation fault, level %d" % level, r.fault)
        self.assertRegex(W.walk_summary_line(LAY, r), "=0x0000000000000000$")
        # Next to the image in its level-2 table: the level-2 entry is missing.
        step = LAY.level_size(2)
        va = TEXT + step if arch_index(TEXT, 2) + 1 < (1 << (arch_levels()[2][0] - arch_levels()[2][1] + 1)) \
            else TEXT - step
        self.assertEqual(self.mem.model_walk(va), (2, False))
        r = self.walk(va)
        self.assertEqual((r.fault_level, len(r.steps)), (2, 2 - ROOT + 1))
        # A root entry nothing uses: one step.
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, TEXT, PA_TEXT, 3, KERNEL_ROX_PAGE)
        va = TEXT ^ (1 << arch_levels()[ROOT][1])
        r = W.walk(LAY, va, mem.read_u64, ttbr1=root, tcr=TCR)
        self.assertEqual((r.fault_level, len(r.steps)), (ROOT, 1))

    def test_non_canonical(self):
        r = self.walk(0x1234_0000_0000_0000)
        self.assertIn("non-canonical", r.fault)
        self.assertEqual(r.steps, [])
        r = self.walk(neg(LAY.va_bits) - PAGE)  # just below the upper half
        self.assertIn("non-canonical", r.fault)
        r = self.walk(1 << LAY.va_bits)  # just above the lower half
        self.assertIn("non-canonical", r.fault)

    def test_ttbr0_and_epd(self):
        r = self.walk(0x4020_0000)  # EPD0 set in TCR
        self.assertEqual(r.ttbr, "TTBR0")
        self.assertIn("EPD0", r.fault)
        r = self.walk(0x4020_0000, ttbr0=self.root, tcr=TCR & ~(1 << 7))
        self.assertEqual(r.ttbr, "TTBR0")
        # The same root as the upper half: the walk stops where the model of
        # what was mapped says the entry of 0x4020_0000 is missing.
        level, leaf = self.mem.model_walk(0x4020_0000)
        self.assertFalse(leaf)
        self.assertEqual((r.fault_level, len(r.steps)), (level, level - ROOT + 1))
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
        va = 0x4020_0A44
        base = va & ~(PMD_BLOCK_SIZE - 1)
        mem = FakePhys()
        root = mem.new_table()
        mem.map(root, base, base, 2, LINEAR_BLOCK & ~D.D_PXN)
        r = W.walk(LAY, va, mem.read_u64, ttbr0=root | 1, ttbr1=0, tcr=TCR & ~(1 << 7))
        self.assertEqual((r.ttbr, r.pa, r.level, r.kind), ("TTBR0", va, 2, "block"))

    def test_tcr_warnings(self):
        r = self.walk(TEXT, tcr=tcr_for(36))  # 36-bit VAs: no flavour's
        self.assertEqual(len(r.warnings), 2)
        self.assertIn("T0SZ=28", r.warnings[0])
        self.assertEqual(len(W.tcr_warnings(LAY, 0)), 1)
        wrong_tg1 = TG[1] % 3 + 1  # another granule's TG1 code
        self.assertIn("TG1", " ".join(W.tcr_warnings(LAY, (TCR & ~(3 << 30)) | (wrong_tg1 << 30))))
        self.assertEqual(W.tcr_warnings(LAY, W.default_tcr(LAY)), [])
        self.assertEqual(W.tcr_warnings(LAY, TCR), [])

    def test_unreadable_table(self):
        mem = FakePhys()
        root = mem.new_table()
        mem.write_u64(root + 8 * arch_index(TEXT, ROOT), 0x7000_0000 | 3)  # -> missing memory
        r = W.walk(LAY, TEXT, mem.read_u64, ttbr1=root, tcr=TCR)
        self.assertFalse(r.ok)
        self.assertIn("external abort on translation table walk, level %d" % (ROOT + 1), r.fault)

    def test_reserved_and_af(self):
        t = self.root
        for lvl in range(ROOT, 3):
            t = self.mem.read_u64(t + 8 * arch_index(TEXT, lvl)) & LAY.addr_mask
        pte = t + 8 * arch_index(TEXT, 3)
        self.mem.write_u64(pte, (PA_TEXT | KERNEL_ROX_PAGE) & ~D.D_TABLE)  # page entry with bit 1 clear
        r = self.walk(TEXT)
        self.assertIn("reserved", r.fault)
        self.assertEqual(r.fault_level, 3)
        self.mem.write_u64(pte, (PA_TEXT | KERNEL_ROX_PAGE) & ~D.D_AF)
        r = self.walk(TEXT)
        self.assertTrue(r.ok)
        self.assertIn("access flag", " ".join(r.warnings))

    def test_hierarchical_attributes(self):
        # The image's .text is executable; PXNTable in its root entry makes it not.
        entry = self.root + 8 * arch_index(TEXT, ROOT)
        self.mem.write_u64(entry, self.mem.read_u64(entry) | D.T_APTABLE1 | D.T_PXNTABLE)
        r = self.walk(TEXT)
        self.assertTrue(r.table_ro and r.table_pxn)
        text = "\n".join(W.format_walk(LAY, r))
        self.assertIn("read-only, never executable", text)
        self.assertIn("inherited from table descriptors: RO, PXN", text)

    def test_output_address_bits_below_the_granule(self):
        # Bit 12 set in the page entry: part of the address with 4K pages;
        # RES0 below a 16K or 64K page (PA[51:48] with 64K pages and FEAT_LPA).
        self.mem.map(self.root, TEXT, PA_TEXT | 0x1000, 3, KERNEL_ROX_PAGE)
        r = self.walk(TEXT + 8)
        self.assertEqual(r.pa, ((PA_TEXT | 0x1000) & ~(PAGE - 1)) + 8)
        self.assertEqual(any("RES0" in w for w in r.warnings), PAGE > 0x1000)


# --- Every granule and table depth, whatever the flavour under test ----------

TG_CODES = {12: (0, 2), 14: (2, 1), 16: (1, 3)}  # TCR_EL1.TG0 / TG1 per page shift
SHAPES = [(12, 39), (12, 48), (14, 47), (14, 48), (16, 42), (16, 48), (16, 52)]


def ref_levels(shift, bits):
    """{level: (hi, lo)} of a walk of `bits`-bit VAs with the granule, by the reference."""
    return dict((lv, (min(hi, bits - 1), lo)) for lv, (hi, lo) in ARCH[shift]["index"].items() if lo <= bits - 1)


def ref_index(va, hi, lo):
    return (va >> lo) & ((1 << (hi - lo + 1)) - 1)


def synthetic(shift, bits):
    """The flavour's table with its geometry replaced by the reference's for
    `shift` and `bits` (the walk needs nothing else)."""
    with open(table_path()) as f:
        d = json.load(f)
    levels = ref_levels(shift, bits)
    root = min(levels)
    root_lo = levels[root][1]
    sizes = [bits] + ([48] if bits > 48 else [])
    d.update(va_bits=bits, page_shift=shift, levels=len(levels), flavour="synthetic-%dK-%d" % (1 << (shift - 10), bits))
    d["geometry"] = {
        "va_bits_min": sizes[-1], "bits_per_level": shift - 3, "root_level": root,
        "tg0": TG_CODES[shift][0], "tg1": TG_CODES[shift][1],
        "levels": [{"level": lv, "shift": lo, "entries": 1 << (hi - lo + 1), "size": hex(1 << lo),
                    "block": lv in ARCH[shift]["blocks"]} for lv, (hi, lo) in sorted(levels.items())],
        "vabits": [{"va_bits": v, "root_entries": 1 << (v - root_lo),
                    "ttbr1_offset": hex(8 * ((1 << (bits - root_lo)) - (1 << (v - root_lo))))} for v in sizes],
    }
    return L.Layout(d)


def tcr_of(shift, bits):
    return (64 - bits) | ((64 - bits) << 16) | (TG_CODES[shift][0] << 14) | (TG_CODES[shift][1] << 30)


def upper(bits, pattern, align):
    """An address of the upper half with `bits`-bit VAs whose index bits are `pattern`, aligned down."""
    return (neg(bits) | (pattern & ((1 << bits) - 1))) & ~(align - 1)


class GranuleTest(unittest.TestCase):
    """The walker on synthetic tables of each granule and depth: the index of
    each level and the block sizes are the Arm ARM's, computed here."""

    def test_pages(self):
        for shift, bits in SHAPES:
            with self.subTest(granule=1 << shift, va_bits=bits):
                lay = synthetic(shift, bits)
                page = 1 << shift
                va = upper(bits, 0x5A5A_5A5A_5A5A_5A5A, page)
                pa = 0x4_5670_0000
                mem = FakePhys(lay)
                root = mem.new_table()
                mem.map(root, va, pa, 3, KERNEL_ROX_PAGE)
                r = W.walk(lay, va + 0x18, mem.read_u64, ttbr1=root, tcr=tcr_of(shift, bits))
                levels = ref_levels(shift, bits)
                self.assertEqual((r.pa, r.level, r.kind, r.warnings), (pa + 0x18, 3, "page", []))
                self.assertEqual([s.level for s in r.steps], sorted(levels))
                self.assertEqual([s.index for s in r.steps], [ref_index(va, *levels[lv]) for lv in sorted(levels)])
                self.assertEqual(r.steps[0].entry_pa, root + 8 * ref_index(va, *levels[min(levels)]))
                self.assertIn("level 3 page (%dK)" % (page >> 10), "\n".join(W.format_walk(lay, r)))
                runs, problems = P.ptdump_runs(lay, root, mem.read_table)
                self.assertEqual(([(x.start, x.end, x.pa) for x in runs], problems), ([(va, va + page, pa)], []))

    def test_blocks_and_reserved_levels(self):
        for shift, bits in SHAPES:
            levels = ref_levels(shift, bits)
            for lv in sorted(levels)[:-1]:
                with self.subTest(granule=1 << shift, va_bits=bits, level=lv):
                    lay = synthetic(shift, bits)
                    size = 1 << levels[lv][1]
                    va = upper(bits, 0x3C3C_3C3C_3C3C_3C3C, size)
                    pa = 0x40_0000_0000  # aligned for every block size
                    mem = FakePhys(lay)
                    root = mem.new_table()
                    mem.map(root, va, pa, lv, LINEAR_BLOCK)
                    r = W.walk(lay, va + size - 8, mem.read_u64, ttbr1=root, tcr=tcr_of(shift, bits))
                    if lv in ARCH[shift]["blocks"]:
                        self.assertEqual(size, ARCH[shift]["blocks"][lv])
                        self.assertEqual((r.pa, r.level, r.kind), (pa + size - 8, lv, "block"))
                        self.assertIn("level %d block (%s)" % (lv, size_name(size)), "\n".join(W.format_walk(lay, r)))
                    else:  # e.g. level 0 with 4K pages, levels 0 and 1 with 16K, level 1 with 64K
                        self.assertFalse(r.ok)
                        self.assertEqual(r.fault_level, lv)
                        self.assertIn("reserved", r.fault)

    def test_52_bit_vas_on_a_cpu_without_lva(self):
        # One 1024-entry root serves both VA sizes: a 48-bit walk starts at its
        # last 64 entries (bits 47:42), where TTBR1 points.
        lay = synthetic(16, 52)
        va = upper(48, 0x0000_8765_4321_0000, 1 << 16)
        pa = 0x4_0001_0000
        mem = FakePhys(lay)
        root = mem.new_table()
        mem.map(root, va, pa, 3, KERNEL_ROX_PAGE)
        offset = 8 * (1024 - 64)
        self.assertEqual(lay.ttbr1_offset(48), offset)
        r = W.walk(lay, va + 4, mem.read_u64, ttbr1=root + offset, tcr=tcr_of(16, 48))
        self.assertEqual((r.pa, r.vabits, r.warnings), (pa + 4, 48, []))
        self.assertEqual(r.steps[0].index, (va >> 42) & 63)
        self.assertEqual(r.steps[0].entry_pa, root + 8 * ((va >> 42) & 1023))
        self.assertIn("48-bit VAs in use: a 64-entry root", W.format_walk(lay, r)[0])
        r52 = W.walk(lay, va + 4, mem.read_u64, ttbr1=root, tcr=tcr_of(16, 52))
        self.assertEqual((r52.pa, r52.vabits, r52.steps[0].index), (pa + 4, 52, (va >> 42) & 1023))
        # Below the 48-bit half: non-canonical with T1SZ=16, a plain miss with T1SZ=12.
        self.assertIn("non-canonical", W.walk(lay, neg(52), mem.read_u64, ttbr1=root + offset,
                                              tcr=tcr_of(16, 48)).fault)
        self.assertIn("translation fault", W.walk(lay, neg(52), mem.read_u64, ttbr1=root, tcr=tcr_of(16, 52)).fault)
        # The dump finds the page from either root.
        for ttbr, vabits in ((root + offset, 48), (root, 52)):
            runs, problems = P.ptdump_runs(lay, ttbr, mem.read_table, vabits=vabits)
            self.assertEqual(([(x.start, x.pa) for x in runs], problems), ([(va, pa)], []), vabits)
        # A TTBR1 with bits set below the 64-entry root's 512-byte alignment is called out.
        r = W.walk(lay, va, mem.read_u64, ttbr1=root + offset + 0x40, tcr=tcr_of(16, 48))
        self.assertTrue(r.ok and "alignment" in " ".join(r.warnings))


if __name__ == "__main__":
    unittest.main()
