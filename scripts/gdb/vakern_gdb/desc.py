"""Stage-1 translation table descriptors: what the bits say.

Pure Python, no `gdb`; uses layout.py for the granule, the levels that
may hold blocks, the output-address mask and the kernel's MAIR value. The bit positions are the architecture's
(Arm ARM, VMSAv8-64 stage 1 descriptors), not the kernel's choice, so they
are spelled here; what the kernel chose (MAIR_EL1, which AttrIndx means
which memory type) comes from the layout table.
"""

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

SH_NAMES = {0: "Non-shareable", 1: "reserved", 2: "Outer", 3: "Inner"}


def attr_index(desc):
    return (desc >> 2) & 7


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


def mair_byte(mair, index):
    return (mair >> (8 * index)) & 0xFF


def memtype_name(lay, index):
    """What AttrIndx `index` means in the kernel's MAIR_EL1, in words."""
    if index not in lay.mem_types:
        return "AttrIndx %d (not used by vakern)" % index
    return mair_byte_name(mair_byte(lay.mair, index))


def desc_kind(lay, desc, level):
    """'invalid', 'table', 'block', 'page' or 'reserved' for a descriptor at `level`."""
    if not desc & D_VALID:
        return "invalid"
    if level == 3:
        return "page" if desc & D_TABLE else "reserved"
    if desc & D_TABLE:
        return "table"
    if level in lay.block_levels:
        return "block"
    return "reserved"  # e.g. no level-0 blocks with 4 KiB pages (without FEAT_LPA2)


def _oa_align(lay, kind, level):
    """The alignment of what a descriptor points at: a page (tables and pages) or the block's size."""
    return lay.level_size(level) if kind == "block" else lay.page_size


def desc_output(lay, desc, level):
    """Output address of a table/block/page descriptor (the next table for 'table'):
    the address bits from the granule's (or the block's) alignment up."""
    kind = desc_kind(lay, desc, level)
    if kind in ("table", "page", "block"):
        return desc & lay.addr_mask & ~(_oa_align(lay, kind, level) - 1)
    return None


def oa_res0_bits(lay, desc, level):
    """Bits of the output-address field below the alignment of what the
    descriptor points at (RES0; 0 for a well-formed descriptor). With 64 KiB
    pages and FEAT_LPA, bits 15:12 would carry PA[51:48]; the kernel uses
    48-bit PAs, so they must be 0 there too."""
    kind = desc_kind(lay, desc, level)
    if kind not in ("table", "page", "block"):
        return 0
    return desc & lay.addr_mask & (_oa_align(lay, kind, level) - 1)


def decode_desc(lay, desc, level):
    """Fields of a descriptor as a dict (see the keys below)."""
    kind = desc_kind(lay, desc, level)
    d = {
        "desc": desc,
        "level": level,
        "kind": kind,
        "valid": bool(desc & D_VALID),
        "output": desc_output(lay, desc, level),
        "oa_res0": oa_res0_bits(lay, desc, level),
    }
    if kind in ("block", "page"):
        attr = attr_index(desc)
        d.update({
            "size": lay.level_size(level),
            "attrindx": attr,
            "memtype": memtype_name(lay, attr),
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


def format_leaf_attrs(lay, desc):
    """Attributes of a block/page descriptor, spelled out (used by vk-walk)."""
    attr = attr_index(desc)
    parts = [
        "RO" if desc & D_AP2 else "RW",
        "PXN=%d" % bool(desc & D_PXN),
        "UXN=%d" % bool(desc & D_UXN),
        "AF=%d" % bool(desc & D_AF),
        "SH=%s" % SH_NAMES[(desc >> 8) & 3],
        "AttrIndx=%d (%s)" % (attr, memtype_name(lay, attr)),
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


def ptdump_attrs(lay, desc, level=3):
    """Fixed-width attribute columns of the page-table dump (the kernel's layout)."""
    attr = attr_index(desc)
    cols = [
        "USR" if desc & D_AP1 else "   ",
        "ro" if desc & D_AP2 else "RW",
        "NX" if desc & D_PXN else "x ",
        "SHD" if (desc >> 8) & 3 == 3 else "   ",
        "AF" if desc & D_AF else "  ",
        "NG" if desc & D_NG else "  ",
        "CON" if desc & D_CONT else "   ",
        "BLK" if desc_kind(lay, desc | D_VALID, level) == "block" else "   ",
        "UXN" if desc & D_UXN else "   ",
        lay.mem_types.get(attr, "ATTRIDX%d" % attr),
    ]
    return " ".join(cols)


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
