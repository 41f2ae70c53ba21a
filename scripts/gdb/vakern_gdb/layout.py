"""The kernel's address layout, as the image builder wrote it down.

Pure Python, no `gdb`: used by every other module of the package and by the
unit tests. Nothing here is typed in by hand. The image builder
(src/gdb_layout.rs) writes `vakern-layout.json` next to the kernel's ELF
from the same Rust constants the kernel is built with: VA bits, page size
and levels, every layout constant by its Rust name, the region table, the
page-table dump's region markers and the descriptor constants (output
address mask, MAIR value, memory types). `load()` reads it; a `Layout`
answers the questions the helpers ask of it (which region, which table
index, which marker).

Run-time values (memstart_addr, kimage_voffset, where KASLR put the image)
are not part of the layout: the GDB side reads them from the kernel.
"""

import json
import os

FILE_NAME = "vakern-layout.json"
FORMAT = 1
MASK64 = (1 << 64) - 1

# Where a level-1/2 block descriptor is allowed, by granule (page shift):
# 4 KiB: levels 1 and 2; 16 KiB and 64 KiB: level 2 (without FEAT_LPA).
_BLOCK_LEVELS = {12: (1, 2), 14: (2,), 16: (2,)}
# TCR_EL1.TG0 / TG1 encodings of each granule (Arm ARM, TCR_EL1).
_TG0 = {12: 0, 14: 2, 16: 1}
_TG1 = {12: 2, 14: 1, 16: 3}


class LayoutError(Exception):
    """The layout table is missing or not one this package understands."""


def u64(x):
    return x & MASK64


def hex16(x):
    return "0x%016x" % u64(x)


def _num(v):
    return int(v, 16) if isinstance(v, str) else int(v)


class Layout(object):
    """The layout table of one kernel build.

    The constants are attributes under their Rust names (lay.PAGE_OFFSET,
    lay.KIMAGE_VADDR, ...); the shape of the tables is va_bits, page_shift,
    levels and what follows from them."""

    def __init__(self, d, source="<table>"):
        self.source = source
        if d.get("format") != FORMAT:
            raise LayoutError("%s: layout table format %r, these helpers read format %d (rebuild the kernel)"
                              % (source, d.get("format"), FORMAT))
        try:
            self.va_bits = int(d["va_bits"])
            self.page_shift = int(d["page_shift"])
            self.levels = int(d["levels"])
            self.constants = dict((k, _num(v)) for k, v in d["constants"].items())
            self.region_names = dict(d["region_names"])
            self.regions = [(_num(r["start"]), _num(r["end"]), r["region"]) for r in d["regions"]]
            self._markers = [(m["name"], m.get("at"), _num(m["start"]) if "start" in m else None)
                             for m in d["ptdump_markers"]]
            desc = d["descriptor"]
            self.addr_mask = _num(desc["addr_mask"])
            self.mair = _num(desc["mair"])
            self.mem_types = dict((int(t["index"]), t["ptdump"]) for t in desc["mem_types"])
            self.load_pa_text = _num(d["load"]["pa_text"])
        except (KeyError, TypeError, ValueError) as e:
            raise LayoutError("%s: malformed layout table (%s: %s)" % (source, type(e).__name__, e))
        for k, v in self.constants.items():
            setattr(self, k, v)
        if self.page_shift not in _BLOCK_LEVELS:
            raise LayoutError("%s: page shift %d is not a granule of the architecture" % (source, self.page_shift))
        self.page_size = 1 << self.page_shift
        self.bits_per_level = self.page_shift - 3
        self.ptrs_per_table = 1 << self.bits_per_level
        self.start_level = 4 - self.levels
        if self.page_shift + self.levels * self.bits_per_level < self.va_bits or self.start_level < 0:
            raise LayoutError("%s: %d levels of %d-bit tables cannot translate %d-bit addresses"
                              % (source, self.levels, self.bits_per_level, self.va_bits))
        if self.constants.get("ROOT_LEVEL", self.start_level) != self.start_level:
            raise LayoutError("%s: ROOT_LEVEL %d does not match %d levels" % (source, self.constants["ROOT_LEVEL"],
                                                                            self.levels))
        self.flavour = d.get("flavour", "")
        self.block_levels = _BLOCK_LEVELS[self.page_shift]
        self.tg0 = _TG0[self.page_shift]
        self.tg1 = _TG1[self.page_shift]
        self.t_sz = 64 - self.va_bits
        self.va_start = u64(MASK64 << self.va_bits)  # first address of the TTBR1 half

    def describe(self):
        shape = "%d-bit VAs, %s pages, %d levels" % (self.va_bits, format_granule(self.page_size), self.levels)
        return "%s (%s)" % (self.flavour, shape) if self.flavour else shape

    # --- tables -------------------------------------------------------------

    def level_shift(self, level):
        return self.page_shift + self.bits_per_level * (3 - level)

    def level_size(self, level):
        return 1 << self.level_shift(level)

    def table_index(self, va, level):
        return (u64(va) >> self.level_shift(level)) & (self.ptrs_per_table - 1)

    def level_name(self, level):
        """Linux's name for a level: the top one is always the pgd."""
        if level == self.start_level:
            return "pgd"
        return ("pgd", "pud", "pmd", "pte")[level]

    def is_canonical(self, va):
        top = u64(va) >> self.va_bits
        return top == 0 or top == (MASK64 >> self.va_bits)

    # --- regions ------------------------------------------------------------

    def name(self, key):
        return self.region_names[key]

    def classify(self, va, text=None, end=None, linear_end=None):
        """The region `va` falls in, as the kernel names it. `text`/`end` place
        the image; `linear_end` (exclusive), when known, splits the linear range
        into RAM-backed and beyond-RAM parts."""
        va = u64(va)
        if not self.is_canonical(va):
            return self.name("non_canonical")
        if va < self.va_start:
            return self.name("user")
        if text is not None and end is not None and text <= va < end:
            return self.name("kernel_image")
        for start, rend, key in self.regions:
            if start <= va < rend:
                if key == "linear" and linear_end is not None and va >= linear_end:
                    return self.name("linear_beyond_ram")
                return self.name(key)
        return self.name("hole")

    def ptdump_markers(self, text=None, end=None):
        """(start, name) of each region marker of the upper half, in address
        order, the image's where it is: the kernel's own dump prints the same."""
        out = []
        for name, at, start in self._markers:
            if at == "text":
                if text is None:
                    continue
                start = text
            elif at == "end":
                if end is None:
                    continue
                start = (end + self.page_size - 1) & ~(self.page_size - 1)
            out.append((start, name))
        out.sort(key=lambda m: m[0])
        return out

    def lower_half_markers(self):
        return [(0, "%s (TTBR0)" % self.name("user"))]


def format_granule(n):
    return "%dK" % (n >> 10)


def load(path):
    """The Layout in the file at `path`."""
    try:
        with open(path) as f:
            d = json.load(f)
    except OSError as e:
        raise LayoutError("cannot read the layout table %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise LayoutError("%s is not valid JSON: %s" % (path, e))
    return Layout(d, path)


def path_next_to(elf_path):
    """Where the image builder puts the table for the ELF at `elf_path`."""
    return os.path.join(os.path.dirname(os.path.abspath(elf_path)), FILE_NAME)
