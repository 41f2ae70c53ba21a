# GDB helpers for the vakern aarch64 kernel (gdb-multiarch 13.1, QEMU 7.2 gdbstub).
#
# Load with:  source scripts/gdb/vakern.py
#
# Commands (each has `help vk-...`):
#   vk-v2p VA             virtual -> physical by the kernel's rules, checked against a table walk
#   vk-p2v PA             physical -> virtual (__va, and the image alias if PA is in the image)
#   vk-walk VA            walk the translation tables for VA as the MMU would
#   vk-esr [VALUE]        decode an ESR value (default: the live $ESR_EL1, with $FAR_EL1)
#   vk-ptdump [-p] [START [END]]  dump the TTBR1 tables as runs of alike entries
#   vk-break-fault        break on the kernel's exception handler (and do_mem_abort if present)
#   vk-phys-symbols [PA]  reload the symbols at the physical addresses used before the MMU is on
#   vk-virt-symbols       reload the symbols at their linked (virtual) addresses
#   vk-kaslr              find where KASLR put the image and move the symbols there
#   vk-help               list the helpers
#
# The first half of this file is plain Python with no use of `gdb`: address arithmetic,
# descriptor and ESR decoding, the table walker and the page-table dump work over
# functions that read physical memory, so scripts/gdb/test_vakern.py tests them without
# GDB. The GDB commands at the end are thin wrappers around them.
#
# Layout facts (VA_BITS = 48, 4 KiB pages) follow /work/shared/DESIGN.md section 2 and
# mm/src/layout.rs; descriptor and ESR encodings follow the Arm ARM (DDI 0487), VMSAv8-64.

import os
import re
import struct

MASK64 = (1 << 64) - 1

# ---------------------------------------------------------------------------
# Layout constants
# ---------------------------------------------------------------------------

VA_BITS = 48
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PTRS_PER_TABLE = 512
PMD_SIZE = 1 << 21
PUD_SIZE = 1 << 30

VA_START = (MASK64 << VA_BITS) & MASK64  # 0xffff_0000_0000_0000
PAGE_OFFSET = (MASK64 << (VA_BITS - 1)) & MASK64  # 0xffff_8000_0000_0000
LINEAR_SIZE = 1 << (VA_BITS - 1)
MODULES_VADDR = VA_START
MODULES_END = MODULES_VADDR + (128 << 20)
KIMAGE_VADDR = MODULES_END  # 0xffff_0000_0800_0000: where _text is linked
VMEMMAP_SIZE = (LINEAR_SIZE >> PAGE_SHIFT) * 64
VMEMMAP_START = PAGE_OFFSET - VMEMMAP_SIZE
VMALLOC_START = MODULES_END
VMALLOC_END = PAGE_OFFSET - PUD_SIZE - VMEMMAP_SIZE - 0x10000
PCI_IO_END = VMEMMAP_START - PMD_SIZE
PCI_IO_START = PCI_IO_END - (16 << 20)
FIXADDR_TOP = PCI_IO_START - PMD_SIZE
FIXADDR_START = FIXADDR_TOP - PMD_SIZE - 2 * PMD_SIZE

LINK_TEXT = KIMAGE_VADDR
DEFAULT_PA_TEXT = 0x4020_0000

# Descriptor bits (stage 1, 4 KiB granule).
D_VALID = 1 << 0
D_TABLE = 1 << 1  # table at levels 0..2, page at level 3
D_NS = 1 << 5
D_AP1 = 1 << 6  # EL0 access
D_AP2 = 1 << 7  # read-only
D_AF = 1 << 10
D_NG = 1 << 11
D_DBM = 1 << 51
D_CONT = 1 << 52
D_PXN = 1 << 53
D_UXN = 1 << 54
T_PXNTABLE = 1 << 59
T_UXNTABLE = 1 << 60
T_APTABLE0 = 1 << 61  # no EL0 access below
T_APTABLE1 = 1 << 62  # read-only below
T_NSTABLE = 1 << 63
ADDR_MASK = 0x0000_FFFF_FFFF_F000

LEVEL_NAMES = ("pgd", "pud", "pmd", "pte")
LEVEL_UPPER = ("PGD", "PUD", "PMD", "PTE")

# The kernel's MAIR_EL1 layout (mm/src/pte.rs): AttrIndx -> name.
MAIR_NAMES = {
    0: "Device-nGnRnE",
    1: "Device-nGnRE",
    2: "Device-GRE",
    3: "Normal-NC",
    4: "Normal",
    5: "Normal-WT",
}
# The same types as the kernel's (and Linux's) page-table dump spells them.
PTDUMP_MEM_NAMES = {
    0: "DEVICE/nGnRnE",
    1: "DEVICE/nGnRE",
    2: "DEVICE/GRE",
    3: "MEM/NORMAL-NC",
    4: "MEM/NORMAL",
    5: "MEM/NORMAL-WT",
}
SH_NAMES = {0: "Non-shareable", 1: "reserved", 2: "Outer", 3: "Inner"}


class PhysReadError(Exception):
    """Physical memory at an address could not be read."""

    def __init__(self, pa, why=""):
        self.pa = pa
        Exception.__init__(self, "cannot read physical address 0x%x%s" % (pa, (": " + why) if why else ""))


def u64(x):
    return x & MASK64


def hex16(x):
    return "0x%016x" % u64(x)


# ---------------------------------------------------------------------------
# Regions and the translation rules
# ---------------------------------------------------------------------------


def is_canonical(va):
    top = u64(va) >> VA_BITS
    return top == 0 or top == (MASK64 >> VA_BITS)


def classify(va, text=None, end=None, linear_end=None):
    """The region of the layout `va` falls in (the kernel's names, mm/src/layout.rs).

    `text`/`end` place the image; `linear_end` (exclusive), when known, splits the
    linear range into RAM-backed and beyond-RAM parts."""
    va = u64(va)
    if not is_canonical(va):
        return "non-canonical"
    if va < VA_START:
        return "user"
    if va >= PAGE_OFFSET:
        if linear_end is not None and va >= linear_end:
            return "linear map beyond end of RAM"
        return "linear map"
    if va < MODULES_END:
        return "modules"
    if text is not None and end is not None and text <= va < end:
        return "kernel image"
    if va < VMALLOC_END:
        return "vmalloc"
    if va < FIXADDR_START:
        return "unused hole"
    if va < FIXADDR_TOP:
        return "fixmap"
    if PCI_IO_START <= va < PCI_IO_END:
        return "PCI I/O"
    if va >= VMEMMAP_START:
        return "vmemmap"
    return "unused hole"


def memstart_is_set(memstart):
    """memstart_addr starts as an odd sentinel (u64::MAX); a real value is page aligned."""
    return memstart is not None and memstart & 1 == 0


def lm_to_phys(va, memstart):
    """__lm_to_phys: (va & ~PAGE_OFFSET) + PHYS_OFFSET."""
    return u64((u64(va) & ~PAGE_OFFSET & MASK64) + memstart)


def kimg_to_phys(va, voffset):
    """__kimg_to_phys: va - kimage_voffset."""
    return u64(va - voffset)


def phys_to_virt(pa, memstart):
    """__va: (pa - PHYS_OFFSET) | PAGE_OFFSET."""
    return u64(u64(pa - memstart) | PAGE_OFFSET)


def phys_to_kimg(pa, voffset, text, end):
    """The image address of `pa`, or None when `pa` is outside [PA(_text), PA(_end)]."""
    pa_text = u64(text - voffset)
    off = u64(pa - pa_text)
    if off <= end - text:
        return u64(pa + voffset)
    return None


class Translation(object):
    """Result of applying the kernel's virt->phys rules to an address."""

    def __init__(self, va, pa, rule, region, note=""):
        self.va, self.pa, self.rule, self.region, self.note = va, pa, rule, region, note

    def __repr__(self):
        return "Translation(va=%s, pa=%s, rule=%r, region=%r, note=%r)" % (
            hex16(self.va), "None" if self.pa is None else hex16(self.pa), self.rule, self.region, self.note)


def virt_to_phys(va, memstart, voffset, text, end):
    """__pa by the kernel's rules.

    Linear addresses (>= PAGE_OFFSET) use memstart_addr; addresses in [_text, _end]
    use kimage_voffset; anything else has no rule (pa None, note says why).
    `memstart`/`voffset` may be None when they could not be read."""
    va = u64(va)
    region = classify(va, text, end)
    if va >= PAGE_OFFSET:
        if memstart is None:
            return Translation(va, None, "__lm_to_phys", region, "memstart_addr unknown")
        if not memstart_is_set(memstart):
            return Translation(va, None, "__lm_to_phys", region,
                               "memstart_addr not set yet (%s)" % hex16(memstart))
        return Translation(va, lm_to_phys(va, memstart), "__lm_to_phys", region)
    if text is not None and end is not None and text <= va <= end:
        if voffset is None:
            return Translation(va, None, "__kimg_to_phys", "kernel image", "kimage_voffset unknown")
        if voffset == 0:
            return Translation(va, None, "__kimg_to_phys", "kernel image", "kimage_voffset not set yet (0)")
        return Translation(va, kimg_to_phys(va, voffset), "__kimg_to_phys", "kernel image")
    return Translation(va, None, None, region, "no __pa rule for the %s region" % region)


# ---------------------------------------------------------------------------
# Descriptors
# ---------------------------------------------------------------------------


def level_shift(level):
    return PAGE_SHIFT + 9 * (3 - level)


def level_size(level):
    return 1 << level_shift(level)


def table_index(va, level):
    return (u64(va) >> level_shift(level)) & (PTRS_PER_TABLE - 1)


def desc_kind(desc, level):
    """'invalid', 'table', 'block', 'page' or 'reserved' for a descriptor at `level`."""
    if not desc & D_VALID:
        return "invalid"
    if level == 3:
        return "page" if desc & D_TABLE else "reserved"
    if desc & D_TABLE:
        return "table"
    if level == 0:
        return "reserved"  # no level-0 blocks with 4 KiB pages (without FEAT_LPA2)
    return "block"


def desc_output(desc, level):
    """Output address of a table/block/page descriptor (the next table for 'table')."""
    kind = desc_kind(desc, level)
    if kind in ("table", "page"):
        return desc & ADDR_MASK
    if kind == "block":
        return desc & ADDR_MASK & ~(level_size(level) - 1)
    return None


def decode_desc(desc, level):
    """Fields of a descriptor as a dict (see the keys below)."""
    kind = desc_kind(desc, level)
    d = {
        "desc": desc,
        "level": level,
        "kind": kind,
        "valid": bool(desc & D_VALID),
        "output": desc_output(desc, level),
    }
    if kind in ("block", "page"):
        attr = (desc >> 2) & 7
        d.update({
            "size": level_size(level),
            "attrindx": attr,
            "memtype": MAIR_NAMES.get(attr, "AttrIndx %d (not used by vakern)" % attr),
            "ns": bool(desc & D_NS),
            "user": bool(desc & D_AP1),
            "ro": bool(desc & D_AP2),
            "sh": (desc >> 8) & 3,
            "sh_name": SH_NAMES[(desc >> 8) & 3],
            "af": bool(desc & D_AF),
            "ng": bool(desc & D_NG),
            "dbm": bool(desc & D_DBM),
            "cont": bool(desc & D_CONT),
            "pxn": bool(desc & D_PXN),
            "uxn": bool(desc & D_UXN),
        })
    elif kind == "table":
        d.update({
            "pxntable": bool(desc & T_PXNTABLE),
            "uxntable": bool(desc & T_UXNTABLE),
            "aptable": (desc >> 61) & 3,
            "nstable": bool(desc & T_NSTABLE),
        })
    return d


def format_leaf_attrs(desc):
    """Attributes of a block/page descriptor, spelled out (used by vk-walk)."""
    attr = (desc >> 2) & 7
    parts = [
        "RO" if desc & D_AP2 else "RW",
        "PXN=%d" % bool(desc & D_PXN),
        "UXN=%d" % bool(desc & D_UXN),
        "AF=%d" % bool(desc & D_AF),
        "SH=%s" % SH_NAMES[(desc >> 8) & 3],
        "AttrIndx=%d (%s)" % (attr, MAIR_NAMES.get(attr, "not used by vakern")),
    ]
    if desc & D_AP1:
        parts.append("EL0-accessible")
    if desc & D_NG:
        parts.append("nG")
    if desc & D_CONT:
        parts.append("CONT")
    if desc & D_DBM:
        parts.append("DBM")
    if desc & D_NS:
        parts.append("NS")
    return ", ".join(parts)


def ptdump_attrs(desc, level=3):
    """Fixed-width attribute columns of the page-table dump (the kernel's layout)."""
    attr = (desc >> 2) & 7
    cols = [
        "USR" if desc & D_AP1 else "   ",
        "ro" if desc & D_AP2 else "RW",
        "NX" if desc & D_PXN else "x ",
        "SHD" if (desc >> 8) & 3 == 3 else "   ",
        "AF" if desc & D_AF else "  ",
        "NG" if desc & D_NG else "  ",
        "CON" if desc & D_CONT else "   ",
        "BLK" if desc_kind(desc | D_VALID, level) == "block" else "   ",
        "UXN" if desc & D_UXN else "   ",
        PTDUMP_MEM_NAMES.get(attr, "ATTRIDX%d" % attr),
    ]
    return " ".join(cols)


def mair_byte_name(b):
    """A MAIR_EL1 attribute byte, in words."""
    fixed = {
        0x00: "Device-nGnRnE", 0x04: "Device-nGnRE", 0x08: "Device-nGRE", 0x0C: "Device-GRE",
        0x44: "Normal-NC", 0xFF: "Normal", 0xBB: "Normal-WT",
    }
    if b in fixed:
        return fixed[b]
    if b & 0xF0 == 0:
        return "Device (0x%02x)" % b
    return "Normal (outer 0x%x, inner 0x%x)" % (b >> 4, b & 0xF)


# ---------------------------------------------------------------------------
# Table walk
# ---------------------------------------------------------------------------


def tcr_fields(tcr):
    return {
        "t0sz": tcr & 0x3F,
        "epd0": bool(tcr >> 7 & 1),
        "tg0": (tcr >> 14) & 3,
        "t1sz": (tcr >> 16) & 0x3F,
        "epd1": bool(tcr >> 23 & 1),
        "tg1": (tcr >> 30) & 3,
        "ips": (tcr >> 32) & 7,
        "tbi0": bool(tcr >> 37 & 1),
        "tbi1": bool(tcr >> 38 & 1),
    }


def tcr_warnings(tcr):
    """What in TCR_EL1 differs from what the walker assumes (4 KiB, 48-bit VAs)."""
    if tcr == 0:
        return ["TCR_EL1 is 0 (not programmed yet): assuming 48-bit VAs and the 4 KiB granule"]
    f = tcr_fields(tcr)
    w = []
    if f["t0sz"] != 16:
        w.append("TCR_EL1.T0SZ=%d (VA size %d bits), the walker assumes 16 (48 bits)" % (f["t0sz"], 64 - f["t0sz"]))
    if f["t1sz"] != 16:
        w.append("TCR_EL1.T1SZ=%d (VA size %d bits), the walker assumes 16 (48 bits)" % (f["t1sz"], 64 - f["t1sz"]))
    if f["tg0"] != 0:
        w.append("TCR_EL1.TG0=%d is not the 4 KiB granule the walker assumes" % f["tg0"])
    if f["tg1"] != 2:
        w.append("TCR_EL1.TG1=%d is not the 4 KiB granule the walker assumes" % f["tg1"])
    return w


class WalkStep(object):
    def __init__(self, level, table_pa, index, desc):
        self.level = level
        self.table_pa = table_pa
        self.index = index
        self.entry_pa = table_pa + 8 * index
        self.desc = desc
        self.kind = desc_kind(desc, level)


class WalkResult(object):
    def __init__(self, va):
        self.va = u64(va)
        self.ttbr = None  # "TTBR0" or "TTBR1"
        self.root = None
        self.steps = []
        self.pa = None
        self.level = None
        self.kind = None  # 'block' or 'page' on success
        self.desc = None  # the leaf descriptor on success
        self.fault = None  # why the walk did not produce an address
        self.fault_level = None
        self.warnings = []
        # Restrictions inherited from table descriptors (APTable, PXNTable, UXNTable).
        self.table_ro = False
        self.table_no_el0 = False
        self.table_pxn = False
        self.table_uxn = False

    @property
    def ok(self):
        return self.pa is not None


def walk(va, read_u64, ttbr0=None, ttbr1=None, tcr=0):
    """Translate `va` through the stage-1 EL1&0 tables as the MMU would.

    read_u64(pa) returns the little-endian u64 at physical `pa` or raises
    PhysReadError. ttbr0/ttbr1 are the raw register values (None: unknown)."""
    r = WalkResult(va)
    va = r.va
    r.warnings.extend(tcr_warnings(tcr))
    f = tcr_fields(tcr)
    high = bool(va >> 55 & 1)
    tbi = f["tbi1"] if high else f["tbi0"]
    top = (va >> VA_BITS) & (0xFF if tbi else 0xFFFF)
    want = (0xFF if tbi else 0xFFFF) if high else 0
    if top != want:
        r.fault = "non-canonical address (bits 63:48 neither all zeros nor all ones)"
        r.fault_level = 0
        return r
    if tbi:
        r.warnings.append("TCR_EL1.TBI%d set: the top byte is ignored" % (1 if high else 0))
    r.ttbr = "TTBR1" if high else "TTBR0"
    if (f["epd1"] if high else f["epd0"]):
        r.fault = "translation fault, level 0: TCR_EL1.EPD%d is set (walks through %s_EL1 disabled)" % (
            1 if high else 0, r.ttbr)
        r.fault_level = 0
        return r
    ttbr = ttbr1 if high else ttbr0
    if ttbr is None:
        r.fault = "%s_EL1 unknown" % r.ttbr
        return r
    table = ttbr & ADDR_MASK
    if ttbr & 0xFFE:
        r.warnings.append("%s_EL1 has bits set in [11:1]: %s" % (r.ttbr, hex16(ttbr)))
    r.root = table
    for level in range(4):
        idx = table_index(va, level)
        try:
            desc = read_u64(table + 8 * idx)
        except PhysReadError as e:
            r.fault = "synchronous external abort on translation table walk, level %d (%s)" % (level, e)
            r.fault_level = level
            return r
        step = WalkStep(level, table, idx, desc)
        r.steps.append(step)
        if step.kind == "invalid":
            r.fault = "translation fault, level %d (%s entry invalid)" % (level, LEVEL_NAMES[level])
            r.fault_level = level
            return r
        if step.kind == "reserved":
            r.fault = "translation fault, level %d (reserved %s encoding %s)" % (
                level, LEVEL_NAMES[level], hex16(desc))
            r.fault_level = level
            return r
        if step.kind == "table":
            r.table_pxn |= bool(desc & T_PXNTABLE)
            r.table_uxn |= bool(desc & T_UXNTABLE)
            r.table_no_el0 |= bool(desc & T_APTABLE0)
            r.table_ro |= bool(desc & T_APTABLE1)
            table = desc & ADDR_MASK
            continue
        # block or page
        size = level_size(level)
        r.pa = desc_output(desc, level) | (va & (size - 1))
        r.level = level
        r.kind = step.kind
        r.desc = desc
        if not desc & D_AF:
            r.warnings.append("AF=0: the first access takes an access flag fault, level %d" % level)
        return r
    raise AssertionError("unreachable")


def walk_summary_line(r):
    """The Linux show_pte shape: [va] pgd=0x..., pud=0x..., pmd=0x..., pte=0x..."""
    parts = ["%s=%s" % (LEVEL_NAMES[s.level], hex16(s.desc)) for s in r.steps]
    return "[%016x] %s" % (r.va, ", ".join(parts) if parts else "(no table entry read)")


def format_walk(r, mair=None):
    """Lines describing a walk: the summary line, one line per level, the decoded result."""
    lines = []
    if r.ttbr and r.root is not None:
        lines.append("%s_EL1 walk for %s, root table at PA %s" % (r.ttbr, hex16(r.va), hex16(r.root)))
    for w in r.warnings:
        lines.append("warning: " + w)
    lines.append(walk_summary_line(r))
    for s in r.steps:
        extra = ""
        if s.kind == "table":
            extra = " -> next table at PA %s" % hex16(s.desc & ADDR_MASK)
            hier = []
            if s.desc & T_APTABLE1:
                hier.append("APTable RO")
            if s.desc & T_APTABLE0:
                hier.append("APTable no-EL0")
            if s.desc & T_PXNTABLE:
                hier.append("PXNTable")
            if s.desc & T_UXNTABLE:
                hier.append("UXNTable")
            if hier:
                extra += " (" + ", ".join(hier) + ")"
        elif s.kind in ("block", "page"):
            extra = " -> %s %s at PA %s" % (format_size(level_size(s.level)), s.kind,
                                            hex16(desc_output(s.desc, s.level)))
        lines.append("  level %d %s[%3d] at PA %s = %s  %s%s" % (
            s.level, LEVEL_NAMES[s.level], s.index, hex16(s.entry_pa), hex16(s.desc), s.kind, extra))
    if r.ok:
        attrs = format_leaf_attrs(r.desc)
        ro = bool(r.desc & D_AP2) or r.table_ro
        pxn = bool(r.desc & D_PXN) or r.table_pxn
        summary = "%s, %s at EL1" % ("read-only" if ro else "read-write",
                                     "never executable" if pxn else "executable")
        lines.append("=> PA %s: level %d %s (%s), %s; %s" % (
            hex16(r.pa), r.level, r.kind, format_size(level_size(r.level)), attrs, summary))
        inherited = [n for n, on in (("RO", r.table_ro), ("no EL0", r.table_no_el0),
                                     ("PXN", r.table_pxn), ("UXN", r.table_uxn)) if on]
        if inherited:
            lines.append("   inherited from table descriptors: " + ", ".join(inherited))
        if mair is not None:
            idx = (r.desc >> 2) & 7
            b = (mair >> (8 * idx)) & 0xFF
            live = mair_byte_name(b)
            expect = MAIR_NAMES.get(idx)
            note = "" if live == expect else "  (the kernel's layout says %s!)" % expect
            lines.append("   MAIR_EL1[%d] = 0x%02x: %s%s" % (idx, b, live, note))
    else:
        lines.append("=> no translation: %s" % r.fault)
    return lines


# ---------------------------------------------------------------------------
# Page-table dump
# ---------------------------------------------------------------------------

# Attribute bits that define a run (everything but the address and the valid/type bits).
RUN_ATTR_MASK = (MASK64 & ~ADDR_MASK) & ~0x3


class Run(object):
    """[start, end) mapped by entries of one level with the same attributes."""

    def __init__(self, start, end, level, desc, pa):
        self.start, self.end, self.level, self.desc, self.pa = start, end, level, desc, pa
        self.pa_end = pa + (end - start)

    @property
    def key(self):
        return (self.level, self.desc & RUN_ATTR_MASK)

    def __repr__(self):
        return "Run(%s-%s, level %d, %s)" % (hex16(self.start), hex16(self.end), self.level, hex16(self.desc))


def ptdump_markers(text=None, end=None):
    """(start, name) of each region of the upper half, in address order: the same
    markers the kernel's own dump prints (kernel/src/ptdump.rs)."""
    m = [(MODULES_VADDR, "Modules"), (VMALLOC_START, "vmalloc() area")]
    if text is not None and end is not None:
        m.append((text, "Kernel image"))
        m.append(((end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), "vmalloc() area (after the image)"))
    m += [(VMALLOC_END, "Unused hole"), (FIXADDR_START, "Fixmap"), (PCI_IO_START, "PCI I/O"),
          (VMEMMAP_START, "vmemmap"), (PAGE_OFFSET, "Linear mapping")]
    return m


def ptdump_runs(root_pa, read_table, start=VA_START, end=1 << 64, base_va=VA_START,
                split_phys=False, max_tables=8192):
    """Runs of same-level, same-attribute leaf entries of the tables at `root_pa`
    that overlap [start, end). `read_table(pa)` returns the 512 entries of the
    table at physical `pa`. Invalid entries are skipped one entry at a time at
    the level where they are found, so an empty 512 GiB slot costs nothing more
    than its entry in the root table. With split_phys, runs also break where the
    output addresses stop being contiguous.
    Returns (runs, problems): problems are text lines (reserved entries, read errors)."""
    runs = []
    problems = []
    tables = [0]
    cur = [None]

    def close():
        if cur[0] is not None:
            runs.append(cur[0])
            cur[0] = None

    def leaf(va, level, desc):
        size = level_size(level)
        pa = desc_output(desc, level)
        c = cur[0]
        if (c is not None and c.end == va and c.key == (level, desc & RUN_ATTR_MASK)
                and (not split_phys or c.pa_end == pa)):
            c.end = va + size
            c.pa_end = c.pa + (c.end - c.start)
            return
        close()
        cur[0] = Run(va, va + size, level, desc, pa)

    def visit(table_pa, level, va_base):
        tables[0] += 1
        if tables[0] > max_tables:
            if tables[0] == max_tables + 1:
                problems.append("stopped after %d tables" % max_tables)
            return
        try:
            entries = read_table(table_pa)
        except PhysReadError as e:
            close()
            problems.append("level %d table at PA %s unreadable: %s" % (level, hex16(table_pa), e))
            return
        size = level_size(level)
        first = 0 if start <= va_base else (start - va_base) // size
        last = min(PTRS_PER_TABLE - 1, (end - 1 - va_base) // size)
        for i in range(int(first), int(last) + 1):
            desc = entries[i]
            va = va_base + i * size
            kind = desc_kind(desc, level)
            if kind == "table":
                visit(desc & ADDR_MASK, level + 1, va)
            elif kind in ("block", "page"):
                leaf(va, level, desc)
            else:
                close()
                if kind == "reserved":
                    problems.append("reserved %s entry %s for %s" % (LEVEL_NAMES[level], hex16(desc), hex16(va)))

    if end > start:
        visit(root_pa, 0, base_va)
    close()
    return runs, problems


def format_size(n):
    """Sizes as the page-table dump prints them: whole KiB, scaled while divisible by 1024
    (4K, 88K, 2M, 600M, 1G)."""
    if n % 1024:
        return "%dB" % n
    n >>= 10
    units = "KMGTPE"
    u = 0
    while n and n % 1024 == 0 and u + 1 < len(units):
        n //= 1024
        u += 1
    return "%d%s" % (n, units[u])


def ptdump_line(start, end, level, desc, pa=None):
    """One run in the kernel's (Linux's kernel_page_tables) layout:
    0xSTART-0xEND   SIZE LEVEL attribute columns MEMTYPE"""
    line = "0x%016x-0x%016x   %10s %s %s" % (start, u64(end), format_size(end - start), LEVEL_UPPER[level],
                                           ptdump_attrs(desc, level))
    if pa is not None:
        line += "  -> PA 0x%x" % pa
    return line


def format_ptdump(runs, markers=None, show_phys=False, start=VA_START, end=1 << 64):
    """Lines of the dump: every region marker overlapping [start, end) as
    ---[ Name ]---, each followed by the runs (split at marker boundaries) in it."""
    if markers is None:
        markers = ptdump_markers()
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
    for (mstart, name), mend in zip(markers, bounds):
        if mend <= start or mstart >= end:  # region outside the requested range
            continue
        lines.append("---[ %s ]---" % name)
        while ri < len(pieces) and pieces[ri][0] < mend:
            s0, e0, r, pa = pieces[ri]
            lines.append(ptdump_line(s0, e0, r.level, r.desc, pa if show_phys else None))
            ri += 1
    while ri < len(pieces):  # below the first marker (cannot happen in the upper half)
        s0, e0, r, pa = pieces[ri]
        lines.append(ptdump_line(s0, e0, r.level, r.desc, pa if show_phys else None))
        ri += 1
    return lines


def table_reader_from_u64(read_u64):
    """A read_table for ptdump_runs built on a read_u64."""
    def read_table(pa):
        return [read_u64(pa + 8 * i) for i in range(PTRS_PER_TABLE)]
    return read_table


# ---------------------------------------------------------------------------
# ESR decoding
# ---------------------------------------------------------------------------

EC_NAMES = {
    0x00: "UNKNOWN (unknown reason)",
    0x01: "WFx (trapped WFI/WFE)",
    0x03: "CP15 MCR/MRC (AArch32)",
    0x04: "CP15 MCRR/MRRC (AArch32)",
    0x05: "CP14 MCR/MRC (AArch32)",
    0x06: "CP14 LDC/STC (AArch32)",
    0x07: "FP/ASIMD access trapped",
    0x0A: "LD64B/ST64B trapped",
    0x0C: "CP14 MRRC (AArch32)",
    0x0D: "BTI (branch target exception)",
    0x0E: "ILL (illegal execution state)",
    0x11: "SVC32",
    0x15: "SVC64",
    0x16: "HVC64",
    0x17: "SMC64",
    0x18: "SYS64 (trapped MSR/MRS/system instruction)",
    0x19: "SVE access trapped",
    0x1C: "FPAC (pointer authentication failure)",
    0x20: "IABT (lower EL)",
    0x21: "IABT (current EL)",
    0x22: "PC alignment fault",
    0x24: "DABT (lower EL)",
    0x25: "DABT (current EL)",
    0x26: "SP alignment fault",
    0x28: "FP exception (AArch32)",
    0x2C: "FP exception (AArch64)",
    0x2F: "SError",
    0x30: "Breakpoint (lower EL)",
    0x31: "Breakpoint (current EL)",
    0x32: "Software step (lower EL)",
    0x33: "Software step (current EL)",
    0x34: "Watchpoint (lower EL)",
    0x35: "Watchpoint (current EL)",
    0x38: "BKPT (AArch32)",
    0x3C: "BRK64",
}

ABORT_ECS = (0x20, 0x21, 0x24, 0x25)


def fault_status_name(fsc):
    """DFSC/IFSC in words, with the level where the code carries one."""
    low = fsc & 3
    group = fsc >> 2
    if group == 0:
        return "level %d address size fault" % low
    if group == 1:
        return "level %d translation fault" % low
    if group == 2:
        return "level %d access flag fault" % low
    if group == 3:
        return "level %d permission fault" % low
    names = {
        0x10: "synchronous external abort (not on a table walk)",
        0x11: "synchronous tag check fault",
        0x13: "synchronous external abort on table walk, level -1",
        0x18: "synchronous parity or ECC error on memory access",
        0x1B: "synchronous parity or ECC error on table walk, level -1",
        0x21: "alignment fault",
        0x22: "granule protection fault (not on a table walk)",
        0x23: "granule protection fault on table walk, level -1",
        0x29: "level -1 address size fault",
        0x2B: "level -1 translation fault",
        0x30: "TLB conflict abort",
        0x31: "unsupported atomic hardware update fault",
        0x34: "IMPLEMENTATION DEFINED fault (lockdown)",
        0x35: "IMPLEMENTATION DEFINED fault (unsupported exclusive or atomic access)",
    }
    if fsc in names:
        return names[fsc]
    if 0x14 <= fsc <= 0x17:
        return "synchronous external abort on table walk, level %d" % (fsc - 0x14)
    if 0x1C <= fsc <= 0x1F:
        return "synchronous parity or ECC error on table walk, level %d" % (fsc - 0x1C)
    if 0x24 <= fsc <= 0x27:
        return "granule protection fault on table walk, level %d" % (fsc - 0x24)
    return "unknown fault status 0x%02x" % fsc


def decode_esr(esr):
    """ESR_ELx fields as a dict. Abort classes get fsc/fsc_name/wnr/... keys."""
    esr = u64(esr)
    ec = (esr >> 26) & 0x3F
    iss = esr & 0x1FFFFFF
    d = {
        "esr": esr,
        "ec": ec,
        "ec_name": EC_NAMES.get(ec, "reserved/unallocated EC"),
        "il": (esr >> 25) & 1,
        "iss": iss,
        "iss2": (esr >> 32) & 0xFFFFFF,
        "is_abort": ec in ABORT_ECS,
        "is_data_abort": ec in (0x24, 0x25),
    }
    if d["is_abort"]:
        fsc = iss & 0x3F
        d.update({
            "fsc": fsc,
            "fsc_name": fault_status_name(fsc),
            "set": (iss >> 11) & 3,
            "fnv": (iss >> 10) & 1,
            "ea": (iss >> 9) & 1,
            "s1ptw": (iss >> 7) & 1,
        })
        m = re.match(r"level (-?\d) ", d["fsc_name"])
        d["fault_level"] = int(m.group(1)) if m else None
        if d["is_data_abort"]:
            d.update({
                "isv": (iss >> 24) & 1,
                "sas": (iss >> 22) & 3,
                "sse": (iss >> 21) & 1,
                "srt": (iss >> 16) & 0x1F,
                "sf": (iss >> 15) & 1,
                "ar": (iss >> 14) & 1,
                "vncr": (iss >> 13) & 1,
                "cm": (iss >> 8) & 1,
                "wnr": (iss >> 6) & 1,
            })
    elif ec in (0x11, 0x15, 0x16, 0x17, 0x3C, 0x38):
        d["imm16"] = iss & 0xFFFF
    elif ec == 0x18:
        d.update({
            "op0": (iss >> 20) & 3, "op2": (iss >> 17) & 7, "op1": (iss >> 14) & 7,
            "crn": (iss >> 10) & 0xF, "rt": (iss >> 5) & 0x1F, "crm": (iss >> 1) & 0xF,
            "read": iss & 1,
        })
    return d


def format_esr(esr, far=None):
    """A report in the shape of Linux's "Mem abort info" block."""
    d = decode_esr(esr)
    lines = []
    lines.append("ESR = 0x%016x" % d["esr"] if d["esr"] >> 32 else "ESR = 0x%08x" % d["esr"])
    lines.append("  EC = 0x%02x: %s, IL = %d bits" % (d["ec"], d["ec_name"], 32 if d["il"] else 16))
    lines.append("  ISS = 0x%07x" % d["iss"] + (", ISS2 = 0x%06x" % d["iss2"] if d["iss2"] else ""))
    if d["is_abort"]:
        lines.append("  SET = %d, FnV = %d" % (d["set"], d["fnv"]))
        lines.append("  EA = %d, S1PTW = %d" % (d["ea"], d["s1ptw"]))
        lines.append("  FSC = 0x%02x: %s" % (d["fsc"], d["fsc_name"]))
        if d["is_data_abort"]:
            lines.append("Data abort info:")
            if d["isv"]:
                lines.append("  ISV = 1, SAS = %d (%d bytes), SSE = %d, SRT = x%d, SF = %d, AR = %d" % (
                    d["sas"], 1 << d["sas"], d["sse"], d["srt"], d["sf"], d["ar"]))
            else:
                lines.append("  ISV = 0 (no syndrome for the access register)")
            lines.append("  CM = %d, WnR = %d (%s)" % (d["cm"], d["wnr"], "write" if d["wnr"] else "read"))
        if far is not None:
            if d["fnv"]:
                lines.append("FAR_EL1 = %s (not valid: FnV = 1)" % hex16(far))
            else:
                if not d["is_data_abort"]:
                    what = "instruction fetch"
                else:
                    what = "data write" if d["wnr"] else "data read"
                lines.append("FAR_EL1 = %s: %s at this address" % (hex16(far), what))
    else:
        if "imm16" in d:
            lines.append("  imm16 = 0x%04x" % d["imm16"])
        if d["ec"] == 0x18:
            lines.append("  %s S%d_%d_C%d_C%d_%d, Rt = x%d" % (
                "MRS (read)" if d["read"] else "MSR (write)",
                d["op0"], d["op1"], d["crn"], d["crm"], d["op2"], d["rt"]))
        if far is not None:
            lines.append("FAR_EL1 = %s (not meaningful for this class)" % hex16(far))
    return lines


# ---------------------------------------------------------------------------
# ELF symbols (for the link-time address of _text, independent of GDB's offsets)
# ---------------------------------------------------------------------------


def elf_symbols(path, names):
    """{name: value} for the wanted names in an ELF64 little-endian file's .symtab."""
    want = set(names)
    found = {}
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("%s: not a 64-bit little-endian ELF file" % path)
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        sh_type, = struct.unpack_from("<I", data, off + 4)
        sh_offset, sh_size = struct.unpack_from("<QQ", data, off + 0x18)
        sh_link, = struct.unpack_from("<I", data, off + 0x28)
        sh_entsize, = struct.unpack_from("<Q", data, off + 0x38)
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_entsize))
    for sh_type, sh_offset, sh_size, sh_link, sh_entsize in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        str_off = sections[sh_link][1]
        for off in range(sh_offset, sh_offset + sh_size, sh_entsize or 24):
            st_name, = struct.unpack_from("<I", data, off)
            st_value, = struct.unpack_from("<Q", data, off + 8)
            end = data.index(b"\0", str_off + st_name)
            name = data[str_off + st_name:end].decode("utf-8", "replace")
            if name in want and name not in found:
                found[name] = st_value
    return found


# The KASLR window (kernel/src/early.rs): the image moves in 2 MiB steps
# inside [KIMAGE_VADDR, KIMAGE_VADDR + 512 MiB).
KASLR_WINDOW = 512 << 20
IMAGE_MAGIC = 0x644d5241  # "ARM\x64" at offset 56 of the Image header


def find_image(translate, read_u32):
    """Find where the image runs: the first 2 MiB slot of the KASLR window
    whose address translates (translate(va) -> PA or None) to a page that
    starts with the Image header (read_u32(pa) reads physical memory).
    Returns the image's virtual address or None."""
    for k in range(KASLR_WINDOW // PMD_SIZE):
        va = KIMAGE_VADDR + k * PMD_SIZE
        pa = translate(va)
        if pa is not None and read_u32(pa + 56) == IMAGE_MAGIC:
            return va
    return None


def symbol_file_offset(pa_text, va_text):
    """The offset for `symbol-file -o` that moves _text from va_text to pa_text,
    as an unsigned 64-bit value (address arithmetic in GDB wraps)."""
    return u64(pa_text - va_text)


# ---------------------------------------------------------------------------
# GDB commands
# ---------------------------------------------------------------------------

try:
    import gdb  # noqa: E402
except ImportError:  # plain Python (tests)
    gdb = None


if gdb is not None:

    # Where vk-phys-symbols put the symbols: offset added to link addresses, PA of _text.
    _state = {"offset": 0, "pa_text": None}

    def _reg(*names):
        """A register by one of its names, or None if the target has none of them."""
        for n in names:
            try:
                v = gdb.parse_and_eval("$" + n)
            except gdb.error:
                continue
            if v.type.code == gdb.TYPE_CODE_VOID:
                continue
            try:
                return int(v) & MASK64
            except (gdb.error, ValueError):
                continue
        return None

    def _need_target():
        try:
            ok = gdb.selected_inferior().pid > 0 and gdb.selected_thread() is not None
        except gdb.error:
            ok = False
        if not ok:
            raise gdb.GdbError("not connected to a running target (target remote :PORT first)")
        _ensure_virtual()

    def _ensure_virtual():
        """QEMU keeps the physical-memory mode across GDB connections: if a session died
        inside a physical read, every later virtual read would silently be physical."""
        try:
            out = gdb.execute("maintenance packet qqemu.PhyMemMode", to_string=True)
        except gdb.error:
            return
        if 'received: "1"' in out:
            gdb.execute("maintenance packet Qqemu.PhyMemMode:0", to_string=True)
            gdb.execute("maintenance flush dcache", to_string=True)
            gdb.write("vakern: the gdbstub was left in physical-memory mode (by an earlier session?); "
                      "switched back to virtual addresses\n")

    def _info_address(name):
        try:
            out = gdb.execute("info address %s" % name, to_string=True)
        except gdb.error:
            return None
        m = re.search(r"\bat (?:address )?(0x[0-9a-fA-F]+)", out)
        return int(m.group(1), 16) if m else None

    def _lookup_address(name):
        """Address of a symbol by name: debug symbols, then minimal symbols."""
        for fn in (getattr(gdb, "lookup_static_symbol", None), gdb.lookup_global_symbol):
            if fn is None:
                continue
            try:
                s = fn(name)
            except gdb.error:
                s = None
            if s is not None and (s.is_variable or s.is_function):
                try:
                    v = s.value()
                    a = v.address if v.address is not None else v
                    return int(a) & MASK64
                except gdb.error:
                    pass
        return _info_address(name)

    def _search_minsyms(kind, word, regex):
        """(address, name) of the non-debugging symbols that `info variables|functions WORD`
        lists and whose name matches the Python `regex`."""
        try:
            out = gdb.execute("info %s %s" % (kind, word), to_string=True)
        except gdb.error:
            return []
        res = []
        in_nondebug = False
        for line in out.splitlines():
            if line.startswith("Non-debugging symbols:"):
                in_nondebug = True
                continue
            if in_nondebug:
                m = re.match(r"\s*(0x[0-9a-fA-F]+)\s+(\S.*)$", line)
                if m and re.search(regex, m.group(2).strip()):
                    res.append((int(m.group(1), 16), m.group(2).strip()))
        return res

    # Kernel variables: the exported names first, then the Rust statics they are renamed from.
    _VARS = {
        "memstart_addr": (["memstart_addr", "vakern::physaddr::memstart_addr", "vakern::physaddr::MEMSTART_ADDR"],
                          "MEMSTART_ADDR", r"(^|::)MEMSTART_ADDR(::h[0-9a-f]{16})?$"),
        "kimage_voffset": (["kimage_voffset", "vakern::physaddr::kimage_voffset", "vakern::physaddr::KIMAGE_VOFFSET"],
                           "KIMAGE_VOFFSET", r"(^|::)KIMAGE_VOFFSET(::h[0-9a-f]{16})?$"),
    }

    def _kernel_var_address(var):
        """(address, the name it was found under) of a kernel variable: the exported
        name, the Rust static by path, then the static's hashed (mangled) symbol."""
        names, word, regex = _VARS[var]
        for n in names:
            a = _lookup_address(n)
            if a is not None:
                return a, n
        for a, n in _search_minsyms("variables", word, regex):
            return a, n
        return None, None

    def _read_virt(addr, size):
        return bytes(gdb.selected_inferior().read_memory(addr, size))

    class _PhysMode(object):
        """Memory reads are physical inside `with _PhysMode():`, and virtual again after."""

        def __enter__(self):
            out = gdb.execute("maintenance packet Qqemu.PhyMemMode:1", to_string=True)
            if 'received: "OK"' not in out:
                try:
                    gdb.execute("maintenance packet Qqemu.PhyMemMode:0", to_string=True)
                except gdb.error:
                    pass
                raise gdb.GdbError("the stub refused Qqemu.PhyMemMode:1 (%s); physical reads need "
                                   "QEMU's gdbstub" % out.strip().replace("\n", " "))
            gdb.execute("maintenance flush dcache", to_string=True)
            return self

        def __exit__(self, *exc):
            try:
                out = gdb.execute("maintenance packet Qqemu.PhyMemMode:0", to_string=True)
                if 'received: "OK"' not in out:
                    gdb.write("vakern: WARNING: switching back to virtual reads failed: %s\n" % out.strip())
            finally:
                gdb.execute("maintenance flush dcache", to_string=True)
            return False

    def _read_phys_u64(pa):
        try:
            return struct.unpack("<Q", _read_virt(pa, 8))[0]
        except (gdb.MemoryError, gdb.error) as e:
            raise PhysReadError(pa, str(e))

    def _read_phys_table(pa):
        try:
            data = _read_virt(pa, PAGE_SIZE)
        except (gdb.MemoryError, gdb.error) as e:
            raise PhysReadError(pa, str(e))
        return list(struct.unpack("<512Q", data))

    def _read_kernel_u64(var):
        """(value, how) for a kernel u64 variable; value None and how = the reason on failure."""
        addr, name = _kernel_var_address(var)
        if addr is None:
            return None, "no symbol %s (nor its Rust static)" % var
        where = name if name == var else "%s, found as %s" % (var, name)
        try:
            return struct.unpack("<Q", _read_virt(addr, 8))[0], where
        except (gdb.MemoryError, gdb.error) as e:
            err = str(e)
        # Symbols may be at physical addresses (vk-phys-symbols), or the MMU may be off:
        # read the image copy physically.
        pa_text = _state["pa_text"] if _state["pa_text"] is not None else DEFAULT_PA_TEXT
        link_addr = u64(addr - _state["offset"])
        pa = u64(link_addr - _link_text() + pa_text)
        try:
            with _PhysMode():
                v = _read_phys_u64(pa)
            return v, "%s, read at PA 0x%x assuming the image at PA 0x%x" % (where, pa, pa_text)
        except (PhysReadError, gdb.GdbError, gdb.error):
            return None, "reading %s at %s failed: %s" % (where, hex16(addr), err)

    def _objfile_path():
        p = gdb.current_progspace().filename
        if not p:
            objs = gdb.objfiles()
            p = objs[0].filename if objs else None
        return p

    _elf_cache = {}

    def _elf_link_symbols():
        path = _objfile_path()
        if not path:
            return {}
        try:
            key = (path, os.stat(path).st_mtime)
        except OSError:
            return {}
        if key not in _elf_cache:
            try:
                _elf_cache[key] = elf_symbols(path, ["_text", "_end", "_etext"])
            except (OSError, ValueError, struct.error):
                _elf_cache[key] = {}
        return _elf_cache[key]

    def _link_text():
        v = _elf_link_symbols().get("_text")
        if v is not None:
            return v
        a = _lookup_address("_text")
        return u64(a - _state["offset"]) if a is not None else LINK_TEXT

    def _image_bounds():
        syms = _elf_link_symbols()
        text = syms.get("_text")
        end = syms.get("_end")
        if text is None:
            a = _lookup_address("_text")
            text = u64(a - _state["offset"]) if a is not None else None
        if end is None:
            a = _lookup_address("_end")
            end = u64(a - _state["offset"]) if a is not None else None
        return text, end

    def _eval_addr(expr):
        expr = expr.strip()
        if not expr:
            raise gdb.GdbError("an address is needed")
        try:
            return int(expr, 0) & MASK64
        except ValueError:
            pass
        if re.match(r"^[A-Za-z_][\w:$.]*$", expr):
            a = _lookup_address(expr)
            if a is not None:
                return a

        def conv(v):
            if v.type.code in (gdb.TYPE_CODE_FUNC, gdb.TYPE_CODE_ARRAY) and v.address is not None:
                v = v.address
            return int(v) & MASK64

        try:
            return conv(gdb.parse_and_eval(expr))
        except gdb.error as first:
            lang = gdb.parameter("language")
            try:
                gdb.execute("set language c", to_string=True)
                return conv(gdb.parse_and_eval(expr))
            except gdb.error:
                raise gdb.GdbError("cannot evaluate %r: %s" % (expr, first))
            finally:
                gdb.execute("set language %s" % lang, to_string=True)

    def _mmu_note():
        sctlr = _reg("SCTLR_EL1", "SCTLR")
        cpsr = _reg("cpsr")
        notes = []
        if sctlr is not None and not sctlr & 1:
            notes.append("note: the MMU is off (SCTLR_EL1.M=0): the CPU uses VA == PA now; "
                         "the tables are shown as they would be used")
        if cpsr is not None and (cpsr >> 2) & 3 != 1:
            notes.append("note: the CPU is at EL%d, not EL1" % ((cpsr >> 2) & 3))
        return notes

    def _do_walk(va):
        ttbr0 = _reg("TTBR0_EL1")
        ttbr1 = _reg("TTBR1_EL1")
        tcr = _reg("TCR_EL1")
        if ttbr0 is None and ttbr1 is None:
            raise gdb.GdbError("the target shows no TTBR0_EL1/TTBR1_EL1 registers")
        res_warn = []
        if tcr is None:
            res_warn.append("TCR_EL1 not readable: assuming T0SZ=T1SZ=16, 4 KiB granule, no EPD")
            tcr = 16 | (16 << 16) | (2 << 30)
        with _PhysMode():
            r = walk(va, _read_phys_u64, ttbr0, ttbr1, tcr)
        r.warnings[:0] = res_warn
        return r

    def _print(lines):
        for line in lines:
            gdb.write(line + "\n")

    def _symbol_note():
        if _state["offset"]:
            return ["note: symbols are at physical addresses (vk-phys-symbols, offset 0x%x); "
                    "vk-virt-symbols restores them" % _state["offset"]]
        return []

    class VkV2P(gdb.Command):
        """Translate a virtual address to physical by the kernel's rules, and check it.

Usage: vk-v2p VA      (VA: a number or an expression, e.g. _text or &some_static)

Rules (arm64 Linux's __pa):
  VA >= PAGE_OFFSET (0xffff800000000000): (VA & ~PAGE_OFFSET) + memstart_addr
  VA in [_text, _end]:                   VA - kimage_voffset
  otherwise: no rule; the region of the layout is named and the table walk is used.
memstart_addr and kimage_voffset are read from the kernel's variables of those names
(or the Rust statics MEMSTART_ADDR/KIMAGE_VOFFSET). The result is compared with a
walk of the CPU's tables (see vk-walk) and any mismatch is flagged."""

        def __init__(self):
            super(VkV2P, self).__init__("vk-v2p", gdb.COMMAND_DATA)

        def invoke(self, arg, from_tty):
            _need_target()
            va = _eval_addr(arg)
            text, end = _image_bounds()
            memstart, ms_how = _read_kernel_u64("memstart_addr")
            voffset, vo_how = _read_kernel_u64("kimage_voffset")
            lines = _symbol_note()
            lines.append("VA %s: %s region" % (hex16(va), classify(va, text, end)))
            if memstart is None:
                lines.append("memstart_addr: unknown (%s)" % ms_how)
            else:
                lines.append("memstart_addr  = %s%s  (%s)" % (
                    hex16(memstart), "" if memstart_is_set(memstart) else " [not set yet]", ms_how))
            if voffset is None:
                lines.append("kimage_voffset: unknown (%s)" % vo_how)
            else:
                lines.append("kimage_voffset = %s  (%s)" % (hex16(voffset), vo_how))
            t = virt_to_phys(va, memstart, voffset, text, end)
            if t.pa is not None:
                lines.append("%s: PA %s%s" % (t.rule, hex16(t.pa), ("  (" + t.note + ")") if t.note else ""))
            elif t.rule:
                lines.append("%s: cannot apply: %s" % (t.rule, t.note))
            else:
                lines.append("%s; falling back to the table walk" % t.note)
            lines.extend(_mmu_note())
            _print(lines)
            try:
                r = _do_walk(va)
            except gdb.GdbError as e:
                gdb.write("table walk: %s\n" % e)
                return
            mair = _reg("MAIR_EL1")
            _print(format_walk(r, mair))
            if t.pa is not None:
                if not r.ok:
                    hint = ""
                    if va >= PAGE_OFFSET:
                        hint = " (the linear map covers only RAM: is the PA beyond the end of RAM?)"
                    gdb.write("MISMATCH: the kernel's rule gives PA %s but the tables do not map the address%s\n"
                              % (hex16(t.pa), hint))
                elif r.pa != t.pa:
                    gdb.write("MISMATCH: the kernel's rule gives PA %s, the tables give PA %s\n"
                              % (hex16(t.pa), hex16(r.pa)))
                else:
                    gdb.write("OK: the rule and the tables agree: PA %s\n" % hex16(r.pa))
            elif r.ok:
                gdb.write("PA (from the tables) = %s\n" % hex16(r.pa))

    class VkP2V(gdb.Command):
        """Translate a physical address to virtual addresses (__va and the image alias).

Usage: vk-p2v PA

  __va(PA) = (PA - memstart_addr) | PAGE_OFFSET      (the linear-map address)
  and, if PA lies inside the kernel image (PA - PA(_text) <= _end - _text),
  the image address PA + kimage_voffset.
The linear address is checked with a table walk when the tables can be read."""

        def __init__(self):
            super(VkP2V, self).__init__("vk-p2v", gdb.COMMAND_DATA)

        def invoke(self, arg, from_tty):
            _need_target()
            pa = _eval_addr(arg)
            text, end = _image_bounds()
            memstart, ms_how = _read_kernel_u64("memstart_addr")
            voffset, vo_how = _read_kernel_u64("kimage_voffset")
            lines = ["PA %s" % hex16(pa)]
            lin = None
            if memstart is None:
                lines.append("__va: memstart_addr unknown (%s)" % ms_how)
            elif not memstart_is_set(memstart):
                lines.append("__va: memstart_addr not set yet (%s)" % hex16(memstart))
            else:
                lin = phys_to_virt(pa, memstart)
                note = ""
                if pa < memstart:
                    note = "  (PA below memstart_addr %s: not a linear-map address)" % hex16(memstart)
                elif pa - memstart >= LINEAR_SIZE:
                    note = "  (PA beyond the 128 TiB the linear map can cover)"
                lines.append("__va (linear map): %s%s" % (hex16(lin), note))
            if voffset is None or text is None or end is None:
                lines.append("image alias: kimage_voffset unknown (%s)" % vo_how)
            elif voffset == 0:
                lines.append("image alias: kimage_voffset not set yet")
            else:
                img = phys_to_kimg(pa, voffset, text, end)
                if img is None:
                    lines.append("image alias: none (PA outside the image, PA(_text) = %s)" % hex16(text - voffset))
                else:
                    lines.append("image address (__kimg): %s  (_text + 0x%x)" % (hex16(img), img - text))
            _print(lines)
            if lin is not None and memstart <= pa:
                try:
                    r = _do_walk(lin)
                except gdb.GdbError as e:
                    gdb.write("check: %s\n" % e)
                    return
                if r.ok and r.pa == pa:
                    gdb.write("check: the tables map %s back to PA %s\n" % (hex16(lin), hex16(pa)))
                elif r.ok:
                    gdb.write("MISMATCH: the tables map %s to PA %s\n" % (hex16(lin), hex16(r.pa)))
                else:
                    gdb.write("check: %s is not mapped now: %s\n" % (hex16(lin), r.fault))

    class VkWalk(gdb.Command):
        """Walk the translation tables for a virtual address, as the MMU would.

Usage: vk-walk VA

Chooses TTBR1_EL1 when bits 63:48 of VA are all ones, TTBR0_EL1 when all zeros
(otherwise: non-canonical), honours TCR_EL1.EPD0/EPD1, assumes the 4 KiB granule
and 48-bit VAs (warns if TCR_EL1 says otherwise). Tables are read from physical
memory through QEMU's gdbstub (Qqemu.PhyMemMode). Prints
  [VA] pgd=0x..., pud=0x..., pmd=0x..., pte=0x...
(stopping at the first invalid or block entry), one line per level with the
entry's physical address, and the decoded result: PA, level, block/page and the
attributes (RO/RW, PXN, UXN, AF, SH, AttrIndx with the MAIR type)."""

        def __init__(self):
            super(VkWalk, self).__init__("vk-walk", gdb.COMMAND_DATA)

        def invoke(self, arg, from_tty):
            _need_target()
            va = _eval_addr(arg)
            r = _do_walk(va)
            _print(_mmu_note())
            _print(format_walk(r, _reg("MAIR_EL1")))

    class VkEsr(gdb.Command):
        """Decode an Exception Syndrome Register value.

Usage: vk-esr [VALUE]     (default: the live $ESR_EL1, shown with $FAR_EL1)

Prints EC with its class name (e.g. 0x25 DABT (current EL), 0x21 IABT (current
EL), 0x24/0x20 lower EL, 0x15 SVC64, 0x3c BRK64, 0x00 unknown), IL and ISS; for
aborts the fault status (translation / access flag / permission / address size
fault with its level, external abort, alignment), SET, FnV, EA, S1PTW and, for
data aborts, ISV, CM and WnR."""

        def __init__(self):
            super(VkEsr, self).__init__("vk-esr", gdb.COMMAND_DATA)

        def invoke(self, arg, from_tty):
            far = None
            if arg.strip():
                esr = _eval_addr(arg)
            else:
                _need_target()
                esr = _reg("ESR_EL1")
                if esr is None:
                    raise gdb.GdbError("the target shows no ESR_EL1 register")
                far = _reg("FAR_EL1")
                elr = _reg("ELR_EL1")
                if elr is not None:
                    gdb.write("ELR_EL1 = %s\n" % hex16(elr))
            _print(format_esr(esr, far))

    class VkPtdump(gdb.Command):
        """Dump the kernel's (TTBR1_EL1) translation tables as runs of alike entries.

Usage: vk-ptdump [-p] [START [END]]

One line per run of entries with the same level and attributes:
  0xSTART-0xEND   SIZE LEVEL attributes
under a ---[ Region ]--- marker per region of the layout: the same format and
markers as the kernel's own dump (the `ptdump` boot option), so they can be diffed.
START/END limit the dump (default: the whole upper half). -p also prints the
physical address of each run and splits runs that are not physically contiguous.
Invalid entries are skipped at the level they are found, so empty space is cheap."""

        def __init__(self):
            super(VkPtdump, self).__init__("vk-ptdump", gdb.COMMAND_DATA)

        def invoke(self, arg, from_tty):
            _need_target()
            args = gdb.string_to_argv(arg)
            phys = False
            if "-p" in args:
                phys = True
                args.remove("-p")
            start = _eval_addr(args[0]) if len(args) > 0 else VA_START
            end = _eval_addr(args[1]) if len(args) > 1 else 1 << 64
            if end == 0:
                end = 1 << 64
            if start < VA_START:
                raise gdb.GdbError("vk-ptdump dumps the TTBR1 half (addresses from %s)" % hex16(VA_START))
            ttbr1 = _reg("TTBR1_EL1")
            tcr = _reg("TCR_EL1")
            if ttbr1 is None:
                raise gdb.GdbError("the target shows no TTBR1_EL1 register")
            if tcr is not None:
                for w in tcr_warnings(tcr):
                    gdb.write("warning: %s\n" % w)
                if tcr_fields(tcr)["epd1"]:
                    gdb.write("note: TCR_EL1.EPD1 is set: the MMU does not walk these tables now\n")
            _print(_mmu_note())
            text, tend = _image_bounds()
            root = ttbr1 & ADDR_MASK
            gdb.write("TTBR1_EL1 = %s, root table at PA %s\n" % (hex16(ttbr1), hex16(root)))
            cache = {}

            def read_table(pa):
                if pa not in cache:
                    cache[pa] = _read_phys_table(pa)
                return cache[pa]

            with _PhysMode():
                runs, problems = ptdump_runs(root, read_table, start, end, VA_START, phys)
            _print(format_ptdump(runs, ptdump_markers(text, tend), phys, start, end))
            for p in problems:
                gdb.write("warning: %s\n" % p)
            if not runs:
                gdb.write("(no valid mappings in range)\n")

    def _break_at_entry(name, addr):
        """A breakpoint on the first instruction of `name`, so the arguments (x0, x1)
        are intact. "*NAME" is parsed as C (the Rust parser does not see linker
        symbols); GDB keeps that language for the breakpoint and re-resolves it
        when the symbols move (vk-phys-symbols)."""
        lang = gdb.parameter("language")
        try:
            gdb.execute("set language c", to_string=True)
            try:
                return gdb.Breakpoint("*" + name)
            except gdb.error:
                pass
        finally:
            gdb.execute("set language %s" % lang, to_string=True)
        for spec in (name, "*0x%x" % addr):
            try:
                return gdb.Breakpoint(spec)
            except gdb.error:
                continue
        return None

    class VkBreakFault(gdb.Command):
        """Set breakpoints on the kernel's exception handler.

Usage: vk-break-fault

Breaks on the first instruction of handle_exception (the Rust handler the
vectors call, so its arguments are still in x0/x1) and of do_mem_abort if the
kernel has that symbol. After the stop, vk-esr decodes the
live ESR_EL1/FAR_EL1 and vk-walk $FAR_EL1 shows the tables for the address."""

        def __init__(self):
            super(VkBreakFault, self).__init__("vk-break-fault", gdb.COMMAND_BREAKPOINTS)

        def invoke(self, arg, from_tty):
            n = 0
            for name in ("handle_exception", "do_mem_abort"):
                addr = _lookup_address(name)
                if addr is None:
                    if name == "handle_exception":
                        gdb.write("no symbol handle_exception in %s\n" % _objfile_path())
                    continue
                bp = _break_at_entry(name, addr)
                if bp is None:
                    gdb.write("could not set a breakpoint on %s\n" % name)
                    continue
                locs = getattr(bp, "locations", None)
                where = ", ".join("0x%x" % loc.address for loc in locs) if locs else "0x%x" % addr
                gdb.write("breakpoint %d on %s at %s\n" % (bp.number, name, where))
                n += 1
            if not n:
                raise gdb.GdbError("no exception handler symbol found")

    def _reload_symbols(offset):
        path = _objfile_path()
        if not path:
            raise gdb.GdbError("no symbol file loaded")
        confirm = gdb.parameter("confirm")
        gdb.execute("set confirm off")
        try:
            if offset:
                gdb.execute("symbol-file -o 0x%x %s" % (offset, path), to_string=True)
            else:
                gdb.execute("symbol-file %s" % path, to_string=True)
        finally:
            gdb.execute("set confirm %s" % ("on" if confirm else "off"))
        return path

    class VkPhysSymbols(gdb.Command):
        """Reload the kernel symbols at the physical addresses used before the MMU is on.

Usage: vk-phys-symbols [PA_OF_TEXT]     (default 0x40200000, where QEMU loads the Image)

Runs `symbol-file -o OFFSET FILE` on the current symbol file, with OFFSET =
PA_OF_TEXT - VA(_text) taken modulo 2^64, so _text (linked at 0xffff000008000000)
lands on PA_OF_TEXT and breakpoints on the boot code and early Rust code hit while
the CPU runs at physical addresses. vk-virt-symbols undoes it."""

        def __init__(self):
            super(VkPhysSymbols, self).__init__("vk-phys-symbols", gdb.COMMAND_FILES)

        def invoke(self, arg, from_tty):
            pa = _eval_addr(arg) if arg.strip() else DEFAULT_PA_TEXT
            va_text = _link_text()
            offset = symbol_file_offset(pa, va_text)
            path = _reload_symbols(offset)
            _state["offset"] = offset
            _state["pa_text"] = pa
            now = _lookup_address("_text")
            gdb.write("symbols of %s moved by 0x%x: _text %s -> %s\n" % (
                path, offset, hex16(va_text), "?" if now is None else hex16(now)))
            if now is not None and now != pa:
                gdb.write("warning: _text is at %s, expected %s\n" % (hex16(now), hex16(pa)))

    class VkVirtSymbols(gdb.Command):
        """Reload the kernel symbols at their linked (virtual) addresses.

Usage: vk-virt-symbols

Undoes vk-phys-symbols: `symbol-file FILE` without an offset."""

        def __init__(self):
            super(VkVirtSymbols, self).__init__("vk-virt-symbols", gdb.COMMAND_FILES)

        def invoke(self, arg, from_tty):
            path = _reload_symbols(0)
            _state["offset"] = 0
            _state["pa_text"] = None
            now = _lookup_address("_text")
            gdb.write("symbols of %s at their linked addresses: _text %s\n" % (
                path, "?" if now is None else hex16(now)))

    class VkKaslr(gdb.Command):
        """Find where KASLR put the image and move the symbols there.

Usage: vk-kaslr

Walks the live TTBR1 tables for each 2 MiB slot of the KASLR window
(KIMAGE_VADDR + 0 .. 512 MiB) and takes the first one that maps the Image
header (magic ARM\\x64 at offset 56); then `symbol-file -o OFFSET` so that
breakpoints and symbols match the running kernel. Needs the MMU on and the
image mapped high (any time after early_map_kernel)."""

        def __init__(self):
            super(VkKaslr, self).__init__("vk-kaslr", gdb.COMMAND_FILES)

        def invoke(self, arg, from_tty):
            _need_target()

            def translate(va):
                r = _do_walk(va)
                return r.pa if r.ok else None

            def read_u32(pa):
                with _PhysMode():
                    return struct.unpack("<I", _read_virt(pa, 4))[0]

            va = find_image(translate, read_u32)
            if va is None:
                raise gdb.GdbError("no mapped Image header in the KASLR window (is the MMU on yet?)")
            offset = u64(va - _link_text())
            _reload_symbols(offset)
            _state["offset"] = offset
            _state["pa_text"] = None
            gdb.write("image at %s: KASLR offset 0x%x; symbols moved there\n" % (hex16(va), offset))

    _COMMANDS = (("vk-v2p VA", VkV2P), ("vk-p2v PA", VkP2V), ("vk-walk VA", VkWalk),
                 ("vk-esr [VALUE]", VkEsr), ("vk-ptdump [-p] [START [END]]", VkPtdump),
                 ("vk-break-fault", VkBreakFault), ("vk-phys-symbols [PA]", VkPhysSymbols),
                 ("vk-virt-symbols", VkVirtSymbols), ("vk-kaslr", VkKaslr))

    class VkHelp(gdb.Command):
        """List the vakern GDB helpers with a line about each.

Usage: vk-help          (then `help vk-NAME` for the details of one)"""

        def __init__(self):
            super(VkHelp, self).__init__("vk-help", gdb.COMMAND_SUPPORT)

        def invoke(self, arg, from_tty):
            for usage, cls in _COMMANDS:
                gdb.write("  %-30s %s\n" % (usage, cls.__doc__.splitlines()[0]))
            gdb.write("`help vk-NAME` for details. Tables are read physically through QEMU's gdbstub "
                      "(Qqemu.PhyMemMode).\n")

    for _usage, _cls in _COMMANDS:
        _cls()
    VkHelp()
    gdb.write("vakern GDB helpers loaded: vk-v2p vk-p2v vk-walk vk-esr vk-ptdump vk-break-fault "
              "vk-phys-symbols vk-virt-symbols vk-kaslr (vk-help lists them)\n")
