"""The vk-* GDB commands that set breakpoints or move GDB's symbols.

Needs `gdb`; uses target.py and kernel.py. vk-break-fault breaks in the
exception handler; vk-phys-symbols, vk-virt-symbols and vk-kaslr reload the
kernel's symbols with an offset (`symbol-file -o`) so that they match where
the code runs: at its physical load address before the MMU is on, at its
link address, or where KASLR put it. Each command's docstring is its `help`.
"""

import gdb

from . import kernel as K
from . import target as T
from .layout import hex16, u64
from .translate import symbol_file_offset


def _break_at_entry(name, addr):
    """A breakpoint on the first instruction of `name`, so the arguments (x0, x1)
    are intact. "*NAME" is parsed as C (the Rust parser does not see linker
    symbols); GDB keeps that language for the breakpoint and re-resolves it
    when the symbols move (vk-phys-symbols, vk-kaslr)."""
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
kernel has that symbol. After the stop, vk-esr decodes the live
ESR_EL1/FAR_EL1, vk-walk $FAR_EL1 shows the tables for the address, and bt
goes through the exception entry into the interrupted code."""

    def __init__(self):
        super(VkBreakFault, self).__init__("vk-break-fault", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        n = 0
        for name in ("handle_exception", "do_mem_abort"):
            addr = T.lookup_address(name)
            if addr is None:
                if name == "handle_exception":
                    gdb.write("no symbol handle_exception in %s\n" % T.objfile_path())
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
    path = T.objfile_path()
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

Usage: vk-phys-symbols [PA_OF_TEXT]     (default: where the launcher's machine
                                          loads the Image, from the layout table)

Runs `symbol-file -o OFFSET FILE` on the current symbol file, with OFFSET =
PA_OF_TEXT - VA(_text) taken modulo 2^64, so _text lands on PA_OF_TEXT and
breakpoints on the boot code and early Rust code hit while the CPU runs at
physical addresses. vk-virt-symbols undoes it."""

    def __init__(self):
        super(VkPhysSymbols, self).__init__("vk-phys-symbols", gdb.COMMAND_FILES)

    def invoke(self, arg, from_tty):
        lay = T.layout()
        pa = T.eval_addr(arg) if arg.strip() else lay.load_pa_text
        va_text = T.link_bounds()[0]
        offset = symbol_file_offset(pa, va_text)
        path = _reload_symbols(offset)
        T.state.offset, T.state.mode, T.state.pa_text = offset, "phys", pa
        now = T.lookup_address("_text")
        gdb.write("symbols of %s moved by 0x%x: _text %s -> %s\n" % (
            path, offset, hex16(va_text), "?" if now is None else hex16(now)))
        if now is not None and now != pa:
            gdb.write("warning: _text is at %s, expected %s\n" % (hex16(now), hex16(pa)))


class VkVirtSymbols(gdb.Command):
    """Reload the kernel symbols at their linked (virtual) addresses.

Usage: vk-virt-symbols

Undoes vk-phys-symbols and vk-kaslr: `symbol-file FILE` without an offset."""

    def __init__(self):
        super(VkVirtSymbols, self).__init__("vk-virt-symbols", gdb.COMMAND_FILES)

    def invoke(self, arg, from_tty):
        path = _reload_symbols(0)
        T.state.offset, T.state.mode, T.state.pa_text = 0, "link", None
        now = T.lookup_address("_text")
        gdb.write("symbols of %s at their linked addresses: _text %s\n" % (
            path, "?" if now is None else hex16(now)))


class VkKaslr(gdb.Command):
    """Find where KASLR put the image and move the symbols there.

Usage: vk-kaslr

Walks the live TTBR1 tables over the vmalloc area and takes the mapping that
starts with the Image header (magic ARM\\x64 at offset 56), then
`symbol-file -o OFFSET` so that breakpoints, bt and symbols match the running
kernel. Checks the result against the kernel's own record (KASLR_INFO) and
kimage_voffset. Needs the MMU on and the image mapped high (any time after
early_map_kernel); vk-virt-symbols undoes it."""

    def __init__(self):
        super(VkKaslr, self).__init__("vk-kaslr", gdb.COMMAND_FILES)

    def invoke(self, arg, from_tty):
        T.need_target()
        lay = T.layout()
        T.state.image_cache.clear()
        p = K.placement()
        if not p.mapped:
            raise gdb.GdbError("the image is not mapped high yet (%s): vk-kaslr needs the MMU on" % p.how)
        _reload_symbols(p.displacement)
        T.state.offset, T.state.mode, T.state.pa_text = p.displacement, "kaslr" if p.displacement else "link", None
        gdb.write("image at %s: KASLR offset 0x%x; symbols moved there\n" % (hex16(p.text), p.displacement))
        info = [K.read_kernel_u64("KASLR_INFO", i)[0] for i in range(3)]
        if info[0] is not None:
            kernel_va = lay.KIMAGE_VADDR + info[0]
            same = (p.text & ~(lay.PMD_SIZE - 1)) == kernel_va
            gdb.write("the kernel's KASLR_INFO: offset 0x%x (image slot %s), seed 0x%x: %s\n" % (
                info[0], hex16(kernel_va), info[2] or 0, "agrees" if same else "DIFFERS"))
        voffset, _ = K.read_kernel_u64("kimage_voffset")
        r = T.do_walk(p.text)
        if voffset and r.ok:
            ok = u64(r.pa + voffset) == p.text
            gdb.write("kimage_voffset %s: PA(_text) %s + kimage_voffset = %s: %s\n" % (
                hex16(voffset), hex16(r.pa), hex16(r.pa + voffset), "agrees" if ok else "DIFFERS"))
