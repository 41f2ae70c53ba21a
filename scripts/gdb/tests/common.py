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

# A placement like the booted kernel's without KASLR.
TEXT = LAY.KIMAGE_VADDR
END = TEXT + 0x42000
PA_TEXT = 0x4020_0000
VOFFSET = L.u64(TEXT - PA_TEXT)
MEMSTART = 0x4000_0000

# Descriptor attributes the kernel builds: VALID | AF | SH inner | AttrIndx ...
ATTR_NORMAL = 4 << 2
ATTR_DEVICE = 1 << 2
KERNEL_ROX_PAGE = D.D_VALID | D.D_TABLE | ATTR_NORMAL | (3 << 8) | D.D_AF | D.D_AP2 | D.D_UXN
KERNEL_RW_PAGE = D.D_VALID | D.D_TABLE | ATTR_NORMAL | (3 << 8) | D.D_AF | D.D_PXN | D.D_UXN
LINEAR_BLOCK = D.D_VALID | ATTR_NORMAL | (3 << 8) | D.D_AF | D.D_PXN | D.D_UXN
DEVICE_PAGE = D.D_VALID | D.D_TABLE | ATTR_DEVICE | D.D_AF | D.D_PXN | D.D_UXN
TCR = 16 | (16 << 16) | (2 << 30) | (1 << 7)  # 48-bit VAs, 4 KiB granules, EPD0 set
UART_VA = LAY.FIXADDR_TOP - LAY.PAGE_SIZE


class FakePhys(object):
    """Physical memory as a dict of page address -> bytes, tables built by map()."""

    def __init__(self, lay=LAY):
        self.lay = lay
        self.pages = {}
        self.reads = 0
        self.next_table = 0x4100_0000

    def new_table(self):
        pa = self.next_table
        self.next_table += self.lay.page_size
        self.pages[pa] = bytes(self.lay.page_size)
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

    def read_table(self, pa):
        self.reads += 1
        if pa not in self.pages:
            raise PhysReadError(pa, "no memory")
        return list(struct.unpack("<%dQ" % self.lay.ptrs_per_table, self.pages[pa]))

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


def kernel_tables():
    """Tables like the booted kernel's: image as pages, 1 GiB linear block, DTB fixmap block, a UART page."""
    m = FakePhys()
    root = m.new_table()
    for i in range(0x16):  # .text: RO, executable
        m.map(root, TEXT + i * 0x1000, PA_TEXT + i * 0x1000, 3, KERNEL_ROX_PAGE)
    for i in range(0x16, 0x42):  # data: RW, NX
        m.map(root, TEXT + i * 0x1000, PA_TEXT + i * 0x1000, 3, KERNEL_RW_PAGE)
    m.map(root, LAY.PAGE_OFFSET, MEMSTART, 1, LINEAR_BLOCK)
    m.map(root, LAY.FIXADDR_START, 0x4800_0000, 2, LINEAR_BLOCK | D.D_AP2)
    m.map(root, UART_VA, 0x0900_0000, 3, DEVICE_PAGE)
    return m, root
