"""The kernel's run-time values and where its image runs, read from the kernel.

Needs `gdb`; uses target.py and the pure modules. Nothing here is assumed:
- `placement()`: where the image runs now: its link address until the MMU
  maps it high, then wherever the TTBR1 tables map the Image header (KASLR
  moves it); found once per set of tables;
- `read_kernel_u64()`: memstart_addr, kimage_voffset and KASLR_INFO from
  the kernel's own symbols, read where the image runs (virtually once it is
  mapped high, physically before);
- `image_pa_text()`: the physical address of _text, from the tables when
  they map the image.
"""

import re
import struct

import gdb

from . import symbols as S
from .layout import u64
from .ptdump import ptdump_runs
from .target import (state, layout, mmu_on, objfile_path, link_bounds, do_walk, read_virt, PhysMode,
                     read_phys_u64, read_phys_u32, read_phys_table, lookup_address, search_minsyms, ttbr1_root)
from .walk import PhysReadError


class Placement(object):
    """Where the image runs: [text, end) are run-time virtual addresses;
    `displacement` is text minus the link address; `how` says how it was found."""

    def __init__(self, text, end, displacement, how, mapped):
        self.text, self.end, self.displacement, self.how, self.mapped = text, end, displacement, how, mapped


def _has_header(pa):
    with PhysMode():
        try:
            return read_phys_u32(pa + S.IMAGE_MAGIC_OFFSET) == S.IMAGE_MAGIC
        except PhysReadError:
            return False


def placement():
    """Where the image runs now (see Placement)."""
    lay = layout()
    text, end = link_bounds()
    size = end - text
    root, vabits = ttbr1_root()
    if not mmu_on() or root == 0:
        return Placement(text, end, 0, "not mapped high yet (MMU off or TTBR1_EL1 unset): link addresses", False)
    key = (objfile_path(), root)
    if key in state.image_cache:
        va, how = state.image_cache[key]
        return Placement(va, va + size, u64(va - text), how, True)
    r = do_walk(text)
    if r.ok and _has_header(r.pa):
        va, how = text, "at its link address"
    else:
        with PhysMode():
            runs, _ = ptdump_runs(lay, root, read_phys_table, lay.KIMAGE_VADDR, lay.VMALLOC_END, vabits=vabits)
            va = S.find_image(runs, read_phys_u32)
        if va is None:
            return Placement(text, end, 0, "no Image header mapped in TTBR1 yet: link addresses", False)
        how = "moved by KASLR; found by its Image header in the TTBR1 tables"
    state.image_cache[key] = (va, how)
    return Placement(va, va + size, u64(va - text), how, True)


# Kernel variables: the exported names first, then the Rust statics they are renamed from.
_VARS = {
    "memstart_addr": (["memstart_addr"], "MEMSTART_ADDR", r"(^|::)MEMSTART_ADDR(::h[0-9a-f]{16})?$"),
    "kimage_voffset": (["kimage_voffset"], "KIMAGE_VOFFSET", r"(^|::)KIMAGE_VOFFSET(::h[0-9a-f]{16})?$"),
    "KASLR_INFO": (["KASLR_INFO"], "KASLR_INFO", r"(^|::)KASLR_INFO(::h[0-9a-f]{16})?$"),
}


def kernel_var_address(var):
    """(address where GDB has it now, the name it was found under)."""
    names, word, regex = _VARS.get(var, ([var], var, r"(^|::)%s$" % re.escape(var)))
    for n in names:
        a = lookup_address(n)
        if a is not None:
            return a, n
    for a, n in search_minsyms("variables", word, regex):
        return a, n
    return None, None


def image_pa_text():
    """(PA of _text, how): from the tables once the image is mapped high, else
    where vk-phys-symbols said, else where the launcher's machine loads it."""
    if mmu_on():
        p = placement()
        if p.mapped:
            r = do_walk(p.text)
            if r.ok:
                return r.pa, "from the tables"
    if state.pa_text is not None:
        return state.pa_text, "as given to vk-phys-symbols"
    return layout().load_pa_text, "the launcher's load address"


def read_kernel_u64(var, index=0):
    """(value, how) of a kernel u64 variable (or element `index` of an array of
    them); value None and how = the reason on failure. Read where the image runs
    now: virtually once the MMU maps it high, otherwise physically."""
    addr, name = kernel_var_address(var)
    if addr is None:
        return None, "no symbol %s" % var
    where = name if name == var else "%s, found as %s" % (var, S.demangle(name))
    link_addr = u64(addr - state.offset + 8 * index)
    text = link_bounds()[0]
    err = "not mapped"
    if mmu_on():
        p = placement()
        if p.mapped:
            try:
                return struct.unpack("<Q", read_virt(u64(link_addr + p.displacement), 8))[0], where
            except (gdb.MemoryError, gdb.error) as e:
                err = str(e)
    pa_text, _ = image_pa_text()
    pa = u64(link_addr - text + pa_text)
    try:
        with PhysMode():
            v = read_phys_u64(pa)
        return v, "%s, read at PA 0x%x" % (where, pa)
    except (PhysReadError, gdb.GdbError, gdb.error) as e:
        return None, "reading %s failed: %s; %s" % (where, err, e)


