"""The kernel's virtual <-> physical rules, as plain arithmetic.

Pure Python, no `gdb`; uses layout.py. These are arm64 Linux's rules, which
the kernel implements (kernel/src/physaddr.rs over mm/src/addr.rs):

  __pa(va), va in the linear range [PAGE_OFFSET, PAGE_END):  va - PAGE_OFFSET + memstart_addr
  __pa(va), va in the image [_text, _end]:                   va - kimage_voffset
  __va(pa):                                                  pa - memstart_addr + PAGE_OFFSET
  the image address of pa, if pa is in the image:            pa + kimage_voffset

(Linux 4.10 writes the linear rules with & ~PAGE_OFFSET and | PAGE_OFFSET,
and its linear range is the top half, PAGE_END = 2^64: the same numbers.)

`memstart_addr` and `kimage_voffset` are run-time values: the caller passes
what it read from the kernel (None when it could not).
"""

from .layout import u64, hex16


def memstart_is_set(memstart):
    """memstart_addr starts as an odd sentinel; a real value is page aligned."""
    return memstart is not None and memstart & 1 == 0


def is_linear(lay, va):
    """True for an address of the linear range [PAGE_OFFSET, PAGE_END) (PAGE_END 0: 2^64)."""
    end = lay.PAGE_END or (1 << 64)
    return lay.PAGE_OFFSET <= u64(va) < end


def lm_to_phys(lay, va, memstart):
    """__lm_to_phys: va - PAGE_OFFSET + PHYS_OFFSET."""
    return u64(u64(va) - lay.PAGE_OFFSET + memstart)


def kimg_to_phys(va, voffset):
    """__kimg_to_phys: va - kimage_voffset."""
    return u64(va - voffset)


def phys_to_virt(lay, pa, memstart):
    """__va: pa - PHYS_OFFSET + PAGE_OFFSET."""
    return u64(pa - memstart + lay.PAGE_OFFSET)


def phys_to_kimg(pa, voffset, text, end):
    """The image address of `pa`, or None when `pa` is outside [PA(_text), PA(_end)]."""
    pa_text = u64(text - voffset)
    off = u64(pa - pa_text)
    if off <= end - text:
        return u64(pa + voffset)
    return None


def symbol_file_offset(pa_text, va_text):
    """The offset for `symbol-file -o` that moves _text from va_text to pa_text,
    as an unsigned 64-bit value (address arithmetic in GDB wraps)."""
    return u64(pa_text - va_text)


class Translation(object):
    """Result of applying the kernel's virt->phys rules to an address."""

    def __init__(self, va, pa, rule, region, note=""):
        self.va, self.pa, self.rule, self.region, self.note = va, pa, rule, region, note

    def __repr__(self):
        return "Translation(va=%s, pa=%s, rule=%r, region=%r, note=%r)" % (
            hex16(self.va), "None" if self.pa is None else hex16(self.pa), self.rule, self.region, self.note)


def virt_to_phys(lay, va, memstart, voffset, text, end, vabits=None):
    """__pa by the kernel's rules.

    Linear addresses ([PAGE_OFFSET, PAGE_END)) use memstart_addr; addresses in
    [_text, _end] (where the image runs now) use kimage_voffset; anything else
    has no rule (pa None, note says why). `vabits`: the VA size in use, when
    it is not VA_BITS (52-bit flavours on a CPU without LVA)."""
    va = u64(va)
    region = lay.classify(va, text, end, vabits=vabits)
    if not lay.is_canonical(va, vabits):
        return Translation(va, None, None, region, "not canonical with the %d-bit VAs in use; the linear map "
                           "starts at %s" % (vabits or lay.va_bits, hex16(lay.half_start(vabits))))
    if is_linear(lay, va):
        if memstart is None:
            return Translation(va, None, "__lm_to_phys", region, "memstart_addr unknown")
        if not memstart_is_set(memstart):
            return Translation(va, None, "__lm_to_phys", region,
                               "memstart_addr not set yet (%s)" % hex16(memstart))
        return Translation(va, lm_to_phys(lay, va, memstart), "__lm_to_phys", region)
    if text is not None and end is not None and text <= va <= end:
        region = lay.name("kernel_image")
        if voffset is None:
            return Translation(va, None, "__kimg_to_phys", region, "kimage_voffset unknown")
        if voffset == 0:
            return Translation(va, None, "__kimg_to_phys", region, "kimage_voffset not set yet (0)")
        return Translation(va, kimg_to_phys(va, voffset), "__kimg_to_phys", region)
    return Translation(va, None, None, region, "no __pa rule for the %s region" % region)
