"""The kernel's address layout, as the image builder wrote it down.

Pure Python, no `gdb`: used by every other module of the package and by the
unit tests. Nothing here is typed in by hand. The image builder
(src/gdb_layout.rs) writes `vakern-layout.json` next to the kernel's ELF
from the same Rust constants the kernel is built with: VA bits, page size,
the geometry of the tables (per level: the VA bits it indexes, its entries,
whether it may hold blocks; with 52-bit VAs the smaller root of a CPU
without FEAT_LVA and its TTBR1 offset), every layout constant by its Rust
name, the region table, the
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
FORMAT = 2
MASK64 = (1 << 64) - 1


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
            g = d["geometry"]
            self.va_bits_min = int(g["va_bits_min"])
            self.bits_per_level = int(g["bits_per_level"])
            self.start_level = int(g["root_level"])
            self.tg0, self.tg1 = int(g["tg0"]), int(g["tg1"])
            self._levels = dict((int(e["level"]), (int(e["shift"]), int(e["entries"]), _num(e["size"]),
                                                   bool(e["block"])))
                                for e in g["levels"])
            self._vabits = dict((int(v["va_bits"]), (int(v["root_entries"]), _num(v["ttbr1_offset"])))
                                for v in g["vabits"])
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
        self.page_size = 1 << self.page_shift
        self.ptrs_per_table = 1 << self.bits_per_level  # entries of every table below the root
        self._check_geometry()
        self.flavour = d.get("flavour", "")
        self.block_levels = tuple(lv for lv in sorted(self._levels) if self._levels[lv][3])
        self.t_sz = 64 - self.va_bits
        self.va_start = u64(MASK64 << self.va_bits)  # first address of the TTBR1 half

    def _check_geometry(self):
        """The geometry must be one a VMSAv8-64 walk can follow: one table per
        level from the root down to level 3, each level indexing the bits
        just above the next one's, the root covering what is left of VA_BITS.
        A table that says otherwise is refused, not half followed."""
        src = self.source

        def bad(why):
            raise LayoutError("%s: %s" % (src, why))

        if self.page_shift not in (12, 14, 16):  # the 4, 16 and 64 KiB granules
            bad("page shift %d is not a granule of the architecture" % self.page_shift)
        if self.bits_per_level != self.page_shift - 3:  # a table is one page of 8-byte entries
            bad("%d index bits per level do not fill a %d-byte table" % (self.bits_per_level, self.page_size))
        if self.start_level < 0 or self.start_level + self.levels != 4:
            bad("%d levels cannot start at level %d and end at level 3" % (self.levels, self.start_level))
        if sorted(self._levels) != list(range(self.start_level, 4)):
            bad("the table lists levels %s, a %d-level walk visits %s"
                % (sorted(self._levels), self.levels, list(range(self.start_level, 4))))
        if self._levels[3][0] != self.page_shift:
            bad("level 3 indexes from bit %d, not the page shift %d" % (self._levels[3][0], self.page_shift))
        for lv in range(self.start_level, 3):
            if self._levels[lv][0] != self._levels[lv + 1][0] + self.bits_per_level:
                bad("level %d does not index the %d bits above level %d's" % (lv, self.bits_per_level, lv + 1))
        for lv, (shift, entries, size, _block) in self._levels.items():
            want = (1 << (self.va_bits - shift)) if lv == self.start_level else self.ptrs_per_table
            if entries != want or size != 1 << shift or entries > self.ptrs_per_table:
                bad("level %d: %d entries of 0x%x bytes do not fit %d-bit VAs with %d-bit tables"
                    % (lv, entries, size, self.va_bits, self.bits_per_level))
        if self.va_bits not in self._vabits or self.va_bits_min not in self._vabits:
            bad("no root geometry for %d-bit (and %d-bit) VAs" % (self.va_bits, self.va_bits_min))
        root_shift, full = self._levels[self.start_level][:2]
        for v, (entries, offset) in self._vabits.items():
            if v <= root_shift or entries != 1 << (v - root_shift) or offset != 8 * (full - entries):
                bad("%d-bit VAs: a root of %d entries at offset 0x%x does not fit" % (v, entries, offset))
        if self.page_shift + self.levels * self.bits_per_level < self.va_bits:
            bad("%d levels of %d-bit tables cannot translate %d-bit addresses"
                % (self.levels, self.bits_per_level, self.va_bits))

    def describe(self):
        shape = "%d-bit VAs, %s pages, %d levels" % (self.va_bits, format_granule(self.page_size), self.levels)
        return "%s (%s)" % (self.flavour, shape) if self.flavour else shape

    # --- tables -------------------------------------------------------------

    def level_shift(self, level):
        """Lowest VA bit the table at `level` indexes."""
        return self._levels[level][0]

    def level_size(self, level):
        """What one entry at `level` maps."""
        return self._levels[level][2]

    def vabits_sizes(self):
        """The VA sizes the flavour runs with: VA_BITS, and VA_BITS_MIN with 52-bit VAs."""
        return sorted(self._vabits, reverse=True)

    def entries(self, level, vabits=None):
        """Entries of the table at `level` when `vabits` bits are translated
        (default VA_BITS): the root has fewer when the VA size does not fill it."""
        if level == self.start_level:
            return self._vabits[self.va_bits if vabits is None else vabits][0]
        return self._levels[level][1]

    def ttbr1_offset(self, vabits):
        """Bytes from the root table to where TTBR1 points for `vabits`-bit VAs
        (nonzero only for the smaller root of 52-bit VAs on a CPU without LVA)."""
        return self._vabits[vabits][1]

    def table_index(self, va, level, vabits=None):
        return (u64(va) >> self.level_shift(level)) & (self.entries(level, vabits) - 1)

    def half_start(self, vabits=None):
        """First address of the TTBR1 half with `vabits`-bit VAs."""
        return u64(MASK64 << (self.va_bits if vabits is None else vabits))

    def level_name(self, level):
        """Linux's name for a level: the top one is always the pgd."""
        if level == self.start_level:
            return "pgd"
        return ("pgd", "pud", "pmd", "pte")[level]

    def is_canonical(self, va, vabits=None):
        bits = self.va_bits if vabits is None else vabits
        top = u64(va) >> bits
        return top == 0 or top == (MASK64 >> bits)

    # --- regions ------------------------------------------------------------

    def name(self, key):
        return self.region_names[key]

    def classify(self, va, text=None, end=None, linear_end=None, vabits=None):
        """The region `va` falls in, as the kernel names it. `text`/`end` place
        the image; `linear_end` (exclusive), when known, splits the linear range
        into RAM-backed and beyond-RAM parts; `vabits` is the VA size in use
        (default VA_BITS; 48 for a 52-bit flavour on a CPU without LVA, where
        the bottom of the 52-bit linear range is not canonical)."""
        va = u64(va)
        if not self.is_canonical(va, vabits):
            return self.name("non_canonical")
        if va < self.half_start(vabits):
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
