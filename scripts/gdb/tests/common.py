"""Fixtures shared by the helpers' unit tests: the layout table and a fake
physical memory with tables like the booted kernel's.

The layout table is the one the image builder writes: $VAKERN_LAYOUT if set
(tests/gdb.rs writes a fresh one), else the one next to the default kernel
ELF under target/.
"""

import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from vakern_gdb import layout as L  # noqa: E402
from vakern_gdb import desc as D  # noqa: E402
from vakern_gdb.walk import PhysReadError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEFAULT_TABLE = os.path.join(ROOT, "target/kernel/4.10-4K-48/aarch64-unknown-none/release", L.FILE_NAME)


def table_path():
    return os.environ.get("VAKERN_LAYOUT") or DEFAULT_TABLE


def load_layout():
    path = table_path()
    if not os.path.exists(path):
        sys.exit("no layout table at %s: build the kernel first (cargo run -- --build-only), "
                 "or set VAKERN_LAYOUT" % path)
    return L.load(path)


LAY = load_layout()

# --- An independent reference: the Arm ARM's VMSAv8-64 geometry --------------
# Written out here from the architecture, not taken from the layout table, so
# the tests compare the table and the helpers against it. For each granule
# (page shift): the VA bits [hi, lo] each level indexes with up to 48-bit VAs
# (64K: up to 52), and the block size at each level that may hold blocks
# (without FEAT_LPA2).
ARCH = {
    12: {"index": {0: (47, 39), 1: (38, 30), 2: (29, 21), 3: (20, 12)}, "blocks": {1: 1 << 30, 2: 1 << 21}},
    14: {"index": {0: (47, 47), 1: (46, 36), 2: (35, 25), 3: (24, 14)}, "blocks": {2: 1 << 25}},
    16: {"index": {1: (51, 42), 2: (41, 29), 3: (28, 16)}, "blocks": {2: 1 << 29}},
}
GRANULE = ARCH[LAY.page_shift]


def arch_levels(vabits=None):
    """{level: (hi, lo)} of the levels a walk of `vabits`-bit VAs visits: the
    root is the level holding bit vabits-1, its hi bit cut to vabits-1."""
    bits = LAY.va_bits if vabits is None else vabits
    out = {}
    for level, (hi, lo) in sorted(GRANULE["index"].items()):
        if lo <= bits - 1:
            out[level] = (min(hi, bits - 1), lo)
    return out


def arch_index(va, level, vabits=None):
    hi, lo = arch_levels(vabits)[level]
    return (va >> lo) & ((1 << (hi - lo + 1)) - 1)


ROOT = min(arch_levels())  # the root level, by the reference
# The largest block the granule has: where the linear map is built from.
LINEAR_LEVEL = min(GRANULE["blocks"])
LINEAR_BLOCK_SIZE = GRANULE["blocks"][LINEAR_LEVEL]
PMD_BLOCK_SIZE = GRANULE["blocks"][2]
PAGE = 1 << LAY.page_shift


def round_up(x, a):
    return (x + a - 1) // a * a


def size_name(n):
    """A size as the dump prints it, by hand: 88K, 2M, 1G."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return "%dB" % n


M64 = (1 << 64) - 1


def neg(bits):
    """-(1 << bits) as a 64-bit address."""
    return (M64 << bits) & M64


def flavour():
    """(version, page shift, VA bits) from the flavour's name, e.g. 6.12-64K-52."""
    version, pages, bits = LAY.flavour.split("-")
    return version, {"4K": 12, "16K": 14, "64K": 16}[pages], int(bits)


def expected_constants():
    """The layout constants the helpers rely on, from the flavour's name by
    arm64 Linux's formulas, written out here (KASAN off)."""
    version, shift, bits = flavour()
    bits_min = 48 if bits > 48 else bits
    c = {"VA_START": neg(bits)}
    if version == "4.10":
        c["PAGE_OFFSET"] = neg(bits - 1)
        c["PAGE_END"] = 0  # the linear map runs to 2^64
        c["MODULES_VADDR"] = neg(bits)
        c["KIMAGE_VADDR"] = neg(bits) + (128 << 20)
        c["VMEMMAP_START"] = c["PAGE_OFFSET"] - (1 << (bits - shift - 1 + 6))
        c["PCI_IO_START"] = c["VMEMMAP_START"] - (2 << 20) - (16 << 20)
        c["FIXADDR_TOP"] = c["PCI_IO_START"] - (2 << 20)
    else:
        c["PAGE_OFFSET"] = neg(bits)
        c["PAGE_END"] = neg(bits_min - 1)
        c["MODULES_VADDR"] = c["PAGE_END"]
        c["KIMAGE_VADDR"] = c["PAGE_END"] + (2 << 30)
        vmemmap_end = neg(30)
        c["VMEMMAP_START"] = vmemmap_end - (((c["PAGE_END"] - c["PAGE_OFFSET"]) & M64) >> shift) * 64
        c["PCI_IO_START"] = vmemmap_end + (8 << 20)
        c["FIXADDR_TOP"] = neg(23)
    return c


# A placement like the booted kernel's without KASLR.
TEXT = LAY.KIMAGE_VADDR
END = TEXT + 0x42000
RO_END = TEXT + round_up(0x16000, PAGE)  # .text ends on a page boundary
MAP_END = TEXT + round_up(0x42000, PAGE)  # the last page of the image is mapped whole
PA_TEXT = 0x4020_0000
VOFFSET = L.u64(TEXT - PA_TEXT)
MEMSTART = 0x4000_0000
RAM = 1 << 30

# Descriptor attributes the kernel builds: VALID | AF | SH inner | AttrIndx ...
ATTR_NORMAL = 4 << 2
ATTR_DEVICE = 1 << 2
KERNEL_ROX_PAGE = D.D_VALID | D.D_TABLE | ATTR_NORMAL | (3 << 8) | D.D_AF | D.D_AP2 | D.D_UXN
KERNEL_RW_PAGE = D.D_VALID | D.D_TABLE | ATTR_NORMAL | (3 << 8) | D.D_AF | D.D_PXN | D.D_UXN
LINEAR_BLOCK = D.D_VALID | ATTR_NORMAL | (3 << 8) | D.D_AF | D.D_PXN | D.D_UXN
DEVICE_PAGE = D.D_VALID | D.D_TABLE | ATTR_DEVICE | D.D_AF | D.D_PXN | D.D_UXN
# TCR_EL1 for the layout, both halves, by the reference encodings of TxSZ
# (bits 5:0 and 21:16) and TG0/TG1 (4K 0/2, 16K 2/1, 64K 1/3), EPD0 set.
TG = {12: (0, 2), 14: (2, 1), 16: (1, 3)}[LAY.page_shift]


def tcr_for(vabits, epd0=True):
    return (64 - vabits) | ((64 - vabits) << 16) | (TG[0] << 14) | (TG[1] << 30) | ((1 << 7) if epd0 else 0)


TCR = tcr_for(LAY.va_bits)
UART_VA = LAY.FIXADDR_TOP - PAGE
# The device tree window: a 2 MiB level-2 block where the granule has one, else pages.
FDT_LEVEL = 2 if PMD_BLOCK_SIZE == 2 << 20 else 3


class FakePhys(object):
    """Physical memory as a dict of page address -> bytes, tables built by map().
    It also keeps a model of what it mapped (`leaves`), for walks predicted by
    the reference geometry."""

    def __init__(self, lay=LAY):
        self.lay = lay
        self.pages = {}
        self.reads = 0
        self.tables = 0
        self.leaves = []  # (va, level) of each leaf written
        self.next_table = 0x4100_0000

    def new_table(self):
        pa = self.next_table
        self.next_table += self.lay.page_size
        self.pages[pa] = bytes(self.lay.page_size)
        self.tables += 1
        return pa

    def write_u64(self, pa, value):
        base = pa & ~(self.lay.page_size - 1)
        page = bytearray(self.pages[base])
        struct.pack_into("<Q", page, pa - base, value)
        self.pages[base] = bytes(page)

    def read_u64(self, pa):
        self.reads += 1
        base = pa & ~(self.lay.page_size - 1)
        if base not in self.pages:
            raise PhysReadError(pa, "no memory")
        return struct.unpack_from("<Q", self.pages[base], pa - base)[0]

    def read_table(self, pa, count=None):
        self.reads += 1
        n = self.lay.ptrs_per_table if count is None else count
        base = pa & ~(self.lay.page_size - 1)
        if base not in self.pages or pa - base + 8 * n > self.lay.page_size:
            raise PhysReadError(pa, "no memory")
        return list(struct.unpack_from("<%dQ" % n, self.pages[base], pa - base))

    def map(self, root, va, pa, level, attrs):
        """Install a leaf at `level` for `va`, creating tables on the way."""
        table = root
        for lvl in range(self.lay.start_level, level):
            idx = self.lay.table_index(va, lvl)
            desc = self.read_u64(table + 8 * idx)
            if not desc & D.D_VALID:
                nxt = self.new_table()
                self.write_u64(table + 8 * idx, nxt | D.D_TABLE | D.D_VALID)
                table = nxt
            else:
                table = desc & self.lay.addr_mask
        self.write_u64(table + 8 * self.lay.table_index(va, level), pa | attrs)
        self.leaves.append((va, level))

    def model_walk(self, va, vabits=None):
        """(level, leaf?) where a walk of `va` ends, by the reference index
        bits and the leaves written: the first level whose entry no leaf
        shares is where it faults."""
        levels = arch_levels(vabits)
        for level in sorted(levels):
            same = [lv for v, lv in self.leaves
                    if lv >= level and all(arch_index(v, k, vabits) == arch_index(va, k, vabits)
                                           for k in levels if k <= level)]
            if not same:
                return level, False
            if level in same:
                return level, True
        raise AssertionError("unreachable")


def kernel_tables():
    """Tables like the booted kernel's: the image as pages (text read-only,
    the rest read-write), 1 GiB of linear map in the granule's largest blocks,
    the device tree window (a 2 MiB block or pages) and a UART page."""
    m = FakePhys()
    root = m.new_table()
    for va in range(TEXT, MAP_END, PAGE):
        m.map(root, va, PA_TEXT + (va - TEXT), 3, KERNEL_ROX_PAGE if va < RO_END else KERNEL_RW_PAGE)
    for off in range(0, RAM, LINEAR_BLOCK_SIZE):
        m.map(root, LAY.PAGE_OFFSET + off, MEMSTART + off, LINEAR_LEVEL, LINEAR_BLOCK)
    step = 2 << 20 if FDT_LEVEL == 2 else PAGE
    for off in range(0, 2 << 20, step):
        m.map(root, LAY.FIXADDR_START + off, 0x4800_0000 + off, FDT_LEVEL, LINEAR_BLOCK | D.D_AP2 | (
            D.D_TABLE if FDT_LEVEL == 3 else 0))
    m.map(root, UART_VA, 0x0900_0000, 3, DEVICE_PAGE)
    return m, root
