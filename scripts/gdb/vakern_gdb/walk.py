"""The table walk, as the MMU does it, over a function that reads physical memory.

Pure Python, no `gdb`; uses layout.py and desc.py. `walk()` picks TTBR0 or
TTBR1 by the address's top bits, honours TCR_EL1.EPD0/EPD1 and TBI, follows
the table's geometry (4, 16 or 64 KiB granule, two to four levels, and with
52-bit VAs the VA size TxSZ says is in use), reads one descriptor per
level through `read_u64(pa)` and stops at the first invalid, reserved,
block or page entry. `format_walk()` prints the result in
the shape of the kernel's fault report (`[va] pgd=..., pud=...`) with one
line per level.
"""

from .layout import MASK64, hex16
from . import desc as D


class PhysReadError(Exception):
    """Physical memory at an address could not be read."""

    def __init__(self, pa, why=""):
        self.pa = pa
        Exception.__init__(self, "cannot read physical address 0x%x%s" % (pa, (": " + why) if why else ""))


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


def default_tcr(lay):
    """A TCR_EL1 value as the layout would program it (both halves, no EPD)."""
    return lay.t_sz | (lay.tg0 << 14) | (lay.t_sz << 16) | (lay.tg1 << 30)


def _sizes(lay):
    return " or ".join("%d" % v for v in lay.vabits_sizes())


def tcr_warnings(lay, tcr):
    """What in TCR_EL1 differs from the layout the walker follows."""
    if tcr == 0:
        return ["TCR_EL1 is 0 (not programmed yet): assuming the kernel's layout (%s)" % lay.describe()]
    f = tcr_fields(tcr)
    w = []
    for half in ("0", "1"):
        sz = f["t%ssz" % half]
        if 64 - sz not in lay.vabits_sizes():
            w.append("TCR_EL1.T%sSZ=%d (VA size %d bits), the kernel's layout has %s-bit VAs"
                     % (half, sz, 64 - sz, _sizes(lay)))
    if f["tg0"] != lay.tg0:
        w.append("TCR_EL1.TG0=%d is not the %dK granule of the kernel's layout" % (f["tg0"], lay.page_size >> 10))
    if f["tg1"] != lay.tg1:
        w.append("TCR_EL1.TG1=%d is not the %dK granule of the kernel's layout" % (f["tg1"], lay.page_size >> 10))
    return w


def vabits_in_use(lay, tcr, high):
    """The VA size the MMU translates in one half: 64 - TxSZ when that is a size
    the layout runs with (52-bit flavours run with 48 on a CPU without
    FEAT_LVA), else VA_BITS (tcr_warnings says why)."""
    if not tcr:
        return lay.va_bits
    bits = 64 - tcr_fields(tcr)["t1sz" if high else "t0sz"]
    return bits if bits in lay.vabits_sizes() else lay.va_bits


def root_table(lay, ttbr, vabits):
    """(address of the root table the walk starts at, bits set below its alignment)
    from a TTBRn_EL1 value. The root is aligned to its size (at least 64 bytes),
    so TTBR1 may point inside a page: the smaller root of 52-bit VAs on a CPU
    without LVA is the top of the full one (lay.ttbr1_offset). Bit 0 is CnP."""
    align = max(64, 8 * lay.entries(lay.start_level, vabits))
    base = ttbr & (lay.addr_mask | (lay.page_size - 1))
    return base & ~(align - 1), ttbr & (align - 1) & ~1


class WalkStep(object):
    def __init__(self, lay, level, table_pa, index, desc):
        self.level = level
        self.table_pa = table_pa
        self.index = index
        self.entry_pa = table_pa + 8 * index
        self.desc = desc
        self.kind = D.desc_kind(lay, desc, level)


class WalkResult(object):
    def __init__(self, va):
        self.va = va & MASK64
        self.ttbr = None  # "TTBR0" or "TTBR1"
        self.vabits = None  # the VA size translated
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


def walk(lay, va, read_u64, ttbr0=None, ttbr1=None, tcr=0):
    """Translate `va` through the stage-1 EL1&0 tables as the MMU would.

    read_u64(pa) returns the little-endian u64 at physical `pa` or raises
    PhysReadError. ttbr0/ttbr1 are the raw register values (None: unknown)."""
    r = WalkResult(va)
    va = r.va
    r.warnings.extend(tcr_warnings(lay, tcr))
    f = tcr_fields(tcr)
    high = bool(va >> 55 & 1)
    vabits = r.vabits = vabits_in_use(lay, tcr, high)
    tbi = f["tbi1"] if high else f["tbi0"]
    top_bits = (56 if tbi else 64) - vabits
    top = (va >> vabits) & ((1 << top_bits) - 1)
    want = ((1 << top_bits) - 1) if high else 0
    if top != want:
        r.fault = "non-canonical address (bits 63:%d neither all zeros nor all ones)" % vabits
        r.fault_level = lay.start_level
        return r
    if tbi:
        r.warnings.append("TCR_EL1.TBI%d set: the top byte is ignored" % (1 if high else 0))
    r.ttbr = "TTBR1" if high else "TTBR0"
    if f["epd1"] if high else f["epd0"]:
        r.fault = "translation fault, level %d: TCR_EL1.EPD%d is set (walks through %s_EL1 disabled)" % (
            lay.start_level, 1 if high else 0, r.ttbr)
        r.fault_level = lay.start_level
        return r
    ttbr = ttbr1 if high else ttbr0
    if ttbr is None:
        r.fault = "%s_EL1 unknown" % r.ttbr
        return r
    table, low = root_table(lay, ttbr, vabits)
    if table == 0:
        r.fault = "%s_EL1 holds no table address (0): not programmed yet" % r.ttbr
        r.fault_level = lay.start_level
        return r
    if low:
        r.warnings.append("%s_EL1 has bits set below its %d-entry root table's alignment: %s"
                          % (r.ttbr, lay.entries(lay.start_level, vabits), hex16(ttbr)))
    r.root = table
    for level in range(lay.start_level, 4):
        idx = lay.table_index(va, level, vabits)
        try:
            desc = read_u64(table + 8 * idx)
        except PhysReadError as e:
            r.fault = "synchronous external abort on translation table walk, level %d (%s)" % (level, e)
            r.fault_level = level
            return r
        step = WalkStep(lay, level, table, idx, desc)
        r.steps.append(step)
        name = lay.level_name(level)
        if step.kind == "invalid":
            r.fault = "translation fault, level %d (%s entry invalid)" % (level, name)
            r.fault_level = level
            return r
        if step.kind == "reserved":
            r.fault = "translation fault, level %d (reserved %s encoding %s)" % (level, name, hex16(desc))
            r.fault_level = level
            return r
        if step.kind == "table":
            r.table_pxn |= bool(desc & D.T_PXNTABLE)
            r.table_uxn |= bool(desc & D.T_UXNTABLE)
            r.table_no_el0 |= bool(desc & D.T_APTABLE0)
            r.table_ro |= bool(desc & D.T_APTABLE1)
            table = D.desc_output(lay, desc, level)
            if D.oa_res0_bits(lay, desc, level):
                r.warnings.append(_res0_warning(lay, desc, level))
            continue
        # block or page
        size = lay.level_size(level)
        r.pa = D.desc_output(lay, desc, level) | (va & (size - 1))
        r.level = level
        r.kind = step.kind
        r.desc = desc
        if D.oa_res0_bits(lay, desc, level):
            r.warnings.append(_res0_warning(lay, desc, level))
        if not desc & D.D_AF:
            r.warnings.append("AF=0: the first access takes an access flag fault, level %d" % level)
        return r
    raise AssertionError("unreachable")


def _res0_warning(lay, desc, level):
    return ("level %d descriptor %s has output-address bits set below its %s alignment (mask 0x%x): "
            "RES0 with 48-bit PAs, ignored" % (level, hex16(desc), D.format_size(
                lay.level_size(level) if D.desc_kind(lay, desc, level) == "block" else lay.page_size),
                D.oa_res0_bits(lay, desc, level)))


def walk_summary_line(lay, r):
    """The kernel's (and Linux's show_pte) shape: [va] pgd=0x..., pud=0x..., pmd=0x..., pte=0x..."""
    parts = ["%s=%s" % (lay.level_name(s.level), hex16(s.desc)) for s in r.steps]
    return "[%016x] %s" % (r.va, ", ".join(parts) if parts else "(no table entry read)")


def format_walk(lay, r, mair=None):
    """Lines describing a walk: the summary line, one line per level, the decoded result.
    `mair` is the live MAIR_EL1, compared with the kernel's."""
    lines = []
    if r.ttbr and r.root is not None:
        extra = ""
        if r.vabits != lay.va_bits:
            extra = " (%d-bit VAs in use: a %d-entry root)" % (r.vabits, lay.entries(lay.start_level, r.vabits))
        lines.append("%s_EL1 walk for %s, root table at PA %s%s" % (r.ttbr, hex16(r.va), hex16(r.root), extra))
    for w in r.warnings:
        lines.append("warning: " + w)
    lines.append(walk_summary_line(lay, r))
    for s in r.steps:
        extra = ""
        if s.kind == "table":
            extra = " -> next table at PA %s" % hex16(D.desc_output(lay, s.desc, s.level))
            hier = []
            if s.desc & D.T_APTABLE1:
                hier.append("APTable RO")
            if s.desc & D.T_APTABLE0:
                hier.append("APTable no-EL0")
            if s.desc & D.T_PXNTABLE:
                hier.append("PXNTable")
            if s.desc & D.T_UXNTABLE:
                hier.append("UXNTable")
            if hier:
                extra += " (" + ", ".join(hier) + ")"
        elif s.kind in ("block", "page"):
            extra = " -> %s %s at PA %s" % (D.format_size(lay.level_size(s.level)), s.kind,
                                            hex16(D.desc_output(lay, s.desc, s.level)))
        lines.append("  level %d %s[%3d] at PA %s = %s  %s%s" % (
            s.level, lay.level_name(s.level), s.index, hex16(s.entry_pa), hex16(s.desc), s.kind, extra))
    if r.ok:
        attrs = D.format_leaf_attrs(lay, r.desc)
        ro = bool(r.desc & D.D_AP2) or r.table_ro
        pxn = bool(r.desc & D.D_PXN) or r.table_pxn
        summary = "%s, %s at EL1" % ("read-only" if ro else "read-write",
                                     "never executable" if pxn else "executable")
        lines.append("=> PA %s: level %d %s (%s), %s; %s" % (
            hex16(r.pa), r.level, r.kind, D.format_size(lay.level_size(r.level)), attrs, summary))
        inherited = [n for n, on in (("RO", r.table_ro), ("no EL0", r.table_no_el0),
                                     ("PXN", r.table_pxn), ("UXN", r.table_uxn)) if on]
        if inherited:
            lines.append("   inherited from table descriptors: " + ", ".join(inherited))
        if mair is not None:
            idx = D.attr_index(r.desc)
            b = D.mair_byte(mair, idx)
            live = D.mair_byte_name(b)
            note = ""
            if b != D.mair_byte(lay.mair, idx):
                note = "  (the kernel's MAIR value says %s!)" % D.mair_byte_name(D.mair_byte(lay.mair, idx))
            lines.append("   MAIR_EL1[%d] = 0x%02x: %s%s" % (idx, b, live, note))
    else:
        lines.append("=> no translation: %s" % r.fault)
    return lines
