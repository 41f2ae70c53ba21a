"""The page-table dump: runs of alike leaf entries, in the kernel's format.

Pure Python, no `gdb`; uses layout.py and desc.py. The output is the same
as the kernel's own dump (the `ptdump` boot option and monitor command,
Linux's kernel_page_tables format), with the same region markers taken from
the layout table, so the two can be diffed:

  ---[ Kernel image ]---
  0xffff000008000000-0xffff000008024000         144K PTE     ro x  SHD AF            UXN MEM/NORMAL

Tables are read a whole table at a time through `read_table(pa)`, and
invalid entries are skipped at the level they are found, so a dump of a
half that is almost empty costs a handful of reads.
"""

from .layout import MASK64, u64
from . import desc as D
from .walk import PhysReadError

LEVEL_UPPER = ("PGD", "PUD", "PMD", "PTE")


class Run(object):
    """[start, end) mapped by entries of one level with the same attributes."""

    def __init__(self, lay, start, end, level, desc, pa):
        self.start, self.end, self.level, self.desc, self.pa = start, end, level, desc, pa
        self.pa_end = pa + (end - start)
        self.attr_mask = (MASK64 & ~lay.addr_mask) & ~0x3

    @property
    def key(self):
        return (self.level, self.desc & self.attr_mask)

    def __repr__(self):
        return "Run(0x%x-0x%x, level %d, 0x%x)" % (self.start, self.end, self.level, self.desc)


def half_bounds(lay, upper, vabits=None):
    """[start, end) of the TTBR1 (upper) or TTBR0 (lower) half with `vabits`-bit VAs (default VA_BITS)."""
    bits = lay.va_bits if vabits is None else vabits
    return (lay.half_start(bits), 1 << 64) if upper else (0, 1 << bits)


def ptdump_runs(lay, root_pa, read_table, start=None, end=None, upper=True, split_phys=False, max_tables=8192,
                vabits=None):
    """Runs of same-level, same-attribute leaf entries of the tables at `root_pa`
    (the root of the upper or lower half, where TTBRn points) that overlap
    [start, end) (default: the whole half) when `vabits`-bit VAs are
    translated (default VA_BITS). `read_table(pa, count)` returns the `count`
    entries of the table at physical `pa`. With split_phys, runs also break
    where the output addresses stop being contiguous.
    Returns (runs, problems): problems are text lines (reserved entries, read errors)."""
    base_va, half_end = half_bounds(lay, upper, vabits)
    start = base_va if start is None else max(start, base_va)
    end = half_end if end is None else min(end, half_end)
    runs = []
    problems = []
    tables = [0]
    cur = [None]

    def close():
        if cur[0] is not None:
            runs.append(cur[0])
            cur[0] = None

    def leaf(va, level, desc):
        size = lay.level_size(level)
        pa = D.desc_output(lay, desc, level)
        c = cur[0]
        r = Run(lay, va, va + size, level, desc, pa)
        if c is not None and c.end == va and c.key == r.key and (not split_phys or c.pa_end == pa):
            c.end = va + size
            c.pa_end = c.pa + (c.end - c.start)
            return
        close()
        cur[0] = r

    def visit(table_pa, level, va_base):
        count = lay.entries(level, vabits)
        tables[0] += 1
        if tables[0] > max_tables:
            if tables[0] == max_tables + 1:
                problems.append("stopped after %d tables" % max_tables)
            return
        try:
            entries = read_table(table_pa, count)
        except PhysReadError as e:
            close()
            problems.append("level %d table at PA 0x%016x unreadable: %s" % (level, table_pa, e))
            return
        size = lay.level_size(level)
        first = 0 if start <= va_base else (start - va_base) // size
        last = min(count - 1, (end - 1 - va_base) // size)
        for i in range(int(first), int(last) + 1):
            desc = entries[i]
            va = va_base + i * size
            kind = D.desc_kind(lay, desc, level)
            if kind == "table":
                visit(D.desc_output(lay, desc, level), level + 1, va)
            elif kind in ("block", "page"):
                leaf(va, level, desc)
            else:
                close()
                if kind == "reserved":
                    problems.append("reserved %s entry 0x%016x for 0x%016x" % (lay.level_name(level), desc, va))

    if end > start:
        visit(root_pa, lay.start_level, base_va)
    close()
    return runs, problems


def ptdump_line(lay, start, end, level, desc, pa=None):
    """One run in the kernel's layout: 0xSTART-0xEND   SIZE LEVEL attribute columns MEMTYPE"""
    line = "0x%016x-0x%016x   %10s %s %s" % (start, u64(end), D.format_size(end - start), LEVEL_UPPER[level],
                                           D.ptdump_attrs(lay, desc, level))
    if pa is not None:
        line += "  -> PA 0x%x" % pa
    return line


def format_ptdump(lay, runs, markers, show_phys=False, start=0, end=1 << 64):
    """Lines of the dump: every region marker overlapping [start, end) as
    ---[ Name ]---, each followed by the runs (split at marker boundaries) in it."""
    bounds = [m[0] for m in markers[1:]] + [1 << 64]
    lines = []
    ri = 0
    pieces = []
    for r in runs:  # split runs where a marker starts inside them
        s0, pa = r.start, r.pa
        for b in sorted(m[0] for m in markers):
            if s0 < b < r.end:
                pieces.append((s0, b, r, pa))
                pa += b - s0
                s0 = b
        pieces.append((s0, r.end, r, pa))
    while ri < len(pieces) and markers and pieces[ri][0] < markers[0][0]:  # before the first marker
        s0, e0, r, pa = pieces[ri]
        lines.append(ptdump_line(lay, s0, e0, r.level, r.desc, pa if show_phys else None))
        ri += 1
    for (mstart, name), mend in zip(markers, bounds):
        if mend <= start or mstart >= end:  # region outside the requested range
            continue
        lines.append("---[ %s ]---" % name)
        while ri < len(pieces) and pieces[ri][0] < mend:
            s0, e0, r, pa = pieces[ri]
            lines.append(ptdump_line(lay, s0, e0, r.level, r.desc, pa if show_phys else None))
            ri += 1
    while ri < len(pieces):
        s0, e0, r, pa = pieces[ri]
        lines.append(ptdump_line(lay, s0, e0, r.level, r.desc, pa if show_phys else None))
        ri += 1
    return lines


def table_reader_from_u64(lay, read_u64):
    """A read_table for ptdump_runs built on a read_u64."""
    def read_table(pa, count=None):
        return [read_u64(pa + 8 * i) for i in range(lay.ptrs_per_table if count is None else count)]
    return read_table
