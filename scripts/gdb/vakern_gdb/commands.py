"""The vk-* GDB commands about addresses, and the list of all of them.

Needs `gdb`; thin wrappers: target.py and kernel.py read the CPU, memory and
the kernel's values, the pure modules do the logic. vk-v2p, vk-p2v, vk-walk,
vk-esr and vk-ptdump are here; the commands that set breakpoints or move
GDB's symbols are in symcommands.py. Each command's docstring is its `help`.
"""

import gdb

from . import kernel as K
from . import symcommands as SC
from . import target as T
from .desc import format_size
from .esr import format_esr
from .layout import hex16
from .ptdump import ptdump_runs, format_ptdump, half_bounds
from .translate import is_linear, memstart_is_set, phys_to_kimg, phys_to_virt, virt_to_phys
from .walk import format_walk, root_table, tcr_fields, tcr_warnings, vabits_in_use


def _symbol_notes(p):
    st = T.state
    if st.mode == "phys":
        return ["note: GDB's symbols are at physical addresses (vk-phys-symbols, offset 0x%x); "
                "vk-virt-symbols restores them" % st.offset]
    if st.mode == "link" and p.displacement:
        return ["note: the image runs at %s (%s) but GDB's symbols are at their link addresses: "
                "vk-kaslr moves them there" % (hex16(p.text), p.how)]
    return []


def _kernel_values():
    memstart, ms_how = K.read_kernel_u64("memstart_addr")
    voffset, vo_how = K.read_kernel_u64("kimage_voffset")
    return memstart, ms_how, voffset, vo_how


def _symbols_match():
    """True when GDB's symbols name what runs at their addresses now."""
    st = T.state
    if st.mode == "phys":
        return not T.mmu_on()
    return st.mode == "kaslr" or not K.placement().displacement


def _where(va):
    s = T.symbol_at(va) if _symbols_match() else None
    return " (%s)" % s if s else ""


class VkV2P(gdb.Command):
    """Translate a virtual address to physical by the kernel's rules, and check it.

Usage: vk-v2p VA      (VA: a number or an expression, e.g. _text or &some_static)

Rules (arm64 Linux's __pa):
  VA in [PAGE_OFFSET, PAGE_END):  VA - PAGE_OFFSET + memstart_addr   (PAGE_END: 2^64 in 4.10)
  VA in [_text, _end]:            VA - kimage_voffset      (where the image runs now)
  otherwise: no rule; the region of the layout is named and the table walk is used.
memstart_addr and kimage_voffset are read from the kernel's variables of those
names; PAGE_OFFSET and the regions come from the layout table next to the ELF.
The result is compared with a walk of the CPU's tables (see vk-walk)."""

    def __init__(self):
        super(VkV2P, self).__init__("vk-v2p", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        T.need_target()
        lay = T.layout()
        va = T.eval_addr(arg)
        p = K.placement()
        memstart, ms_how, voffset, vo_how = _kernel_values()
        lines = _symbol_notes(p)
        vabits = vabits_in_use(lay, T.reg("TCR_EL1"), bool(va >> 55 & 1))
        lines.append("VA %s: %s region%s" % (hex16(va), lay.classify(va, p.text, p.end, vabits=vabits), _where(va)))
        if p.displacement:
            lines.append("image: _text at %s, _end at %s (%s)" % (hex16(p.text), hex16(p.end), p.how))
        if memstart is None:
            lines.append("memstart_addr: unknown (%s)" % ms_how)
        else:
            lines.append("memstart_addr  = %s%s  (%s)" % (
                hex16(memstart), "" if memstart_is_set(memstart) else " [not set yet]", ms_how))
        if voffset is None:
            lines.append("kimage_voffset: unknown (%s)" % vo_how)
        else:
            lines.append("kimage_voffset = %s%s  (%s)" % (hex16(voffset), " [not set yet]" if voffset == 0 else "",
                                                          vo_how))
        t = virt_to_phys(lay, va, memstart, voffset, p.text, p.end, vabits)
        if t.pa is not None:
            lines.append("%s: PA %s%s" % (t.rule, hex16(t.pa), ("  (" + t.note + ")") if t.note else ""))
        elif t.rule:
            lines.append("%s: cannot apply: %s" % (t.rule, t.note))
        else:
            lines.append("%s; falling back to the table walk" % t.note)
        lines.extend(T.cpu_notes())
        T.emit(lines)
        try:
            r = T.do_walk(va)
        except gdb.GdbError as e:
            gdb.write("table walk: %s\n" % e)
            return
        T.emit(format_walk(lay, r, T.reg("MAIR_EL1")))
        if t.pa is None:
            if r.ok:
                gdb.write("PA (from the tables) = %s\n" % hex16(r.pa))
            return
        if r.ok and r.pa == t.pa:
            gdb.write("OK: the rule and the tables agree: PA %s\n" % hex16(r.pa))
        elif r.ok:
            gdb.write("MISMATCH: the kernel's rule gives PA %s, the tables give PA %s\n" % (hex16(t.pa), hex16(r.pa)))
        elif t.rule == "__kimg_to_phys" and va == p.end:
            gdb.write("OK: %s is _end, the first address past the image: the rule gives PA %s and "
                      "nothing needs to be mapped there\n" % (hex16(va), hex16(t.pa)))
        else:
            hint = ""
            if is_linear(lay, va):
                hint = " (the linear map covers only RAM: is the PA beyond the end of RAM?)"
            gdb.write("MISMATCH: the kernel's rule gives PA %s but the tables do not map the address%s\n"
                      % (hex16(t.pa), hint))


class VkP2V(gdb.Command):
    """Translate a physical address to virtual addresses (__va and the image alias).

Usage: vk-p2v PA

  __va(PA) = (PA - memstart_addr) | PAGE_OFFSET      (the linear-map address)
  and, if PA lies inside the kernel image (PA - PA(_text) <= _end - _text),
  the image address PA + kimage_voffset, where the image runs now.
The linear address is checked with a table walk when the tables can be read."""

    def __init__(self):
        super(VkP2V, self).__init__("vk-p2v", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        T.need_target()
        lay = T.layout()
        pa = T.eval_addr(arg)
        p = K.placement()
        memstart, ms_how, voffset, vo_how = _kernel_values()
        lines = ["PA %s" % hex16(pa)]
        lin = None
        if memstart is None:
            lines.append("__va: memstart_addr unknown (%s)" % ms_how)
        elif not memstart_is_set(memstart):
            lines.append("__va: memstart_addr not set yet (%s)" % hex16(memstart))
        else:
            lin = phys_to_virt(lay, pa, memstart)
            note = ""
            if pa < memstart:
                note = "  (PA below memstart_addr %s: not a linear-map address)" % hex16(memstart)
            elif pa - memstart >= lay.LINEAR_SIZE:
                note = "  (PA beyond the %s the linear map can cover)" % format_size(lay.LINEAR_SIZE)
            lines.append("__va (linear map): %s%s" % (hex16(lin), note))
        if voffset is None:
            lines.append("image alias: kimage_voffset unknown (%s)" % vo_how)
        elif voffset == 0:
            lines.append("image alias: kimage_voffset not set yet")
        else:
            img = phys_to_kimg(pa, voffset, p.text, p.end)
            if img is None:
                lines.append("image alias: none (PA outside the image, PA(_text) = %s)" % hex16(p.text - voffset))
            else:
                lines.append("image address (__kimg): %s  (_text + 0x%x)%s" % (
                    hex16(img), img - p.text, _where(img) if img != p.text else ""))
        T.emit(lines)
        if lin is not None and memstart <= pa:
            try:
                r = T.do_walk(lin)
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

Chooses TTBR1_EL1 when the top bits of VA are all ones, TTBR0_EL1 when all
zeros (otherwise: non-canonical), honours TCR_EL1.EPD0/EPD1 and TBI, and
follows the kernel's layout (VA bits, granule, levels from the layout table;
it warns where TCR_EL1 says otherwise). Tables are read from physical memory
through QEMU's gdbstub (Qqemu.PhyMemMode). Prints
  [VA] pgd=0x..., pud=0x..., pmd=0x..., pte=0x...
(stopping at the first invalid or block entry), one line per level with the
entry's physical address, and the decoded result: PA, level, block/page and the
attributes (RO/RW, PXN, UXN, AF, SH, AttrIndx with the MAIR type)."""

    def __init__(self):
        super(VkWalk, self).__init__("vk-walk", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        T.need_target()
        lay = T.layout()
        va = T.eval_addr(arg)
        r = T.do_walk(va)
        T.emit(T.cpu_notes())
        T.emit(format_walk(lay, r, T.reg("MAIR_EL1")))


class VkEsr(gdb.Command):
    """Decode an Exception Syndrome Register value.

Usage: vk-esr [VALUE]     (default: the live $ESR_EL1, shown with $FAR_EL1)

Prints EC with its class name (e.g. 0x25 DABT (current EL), 0x21 IABT (current
EL), 0x24/0x20 lower EL, 0x15 SVC64, 0x3c BRK64, 0x00 unknown), IL and ISS; for
aborts the fault status (translation / access flag / permission / address size
fault with its level, external abort, alignment), SET, FnV, EA, S1PTW and, for
data aborts, ISV, CM and WnR. Live: ELR_EL1 first, with the function it is in."""

    def __init__(self):
        super(VkEsr, self).__init__("vk-esr", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        far = None
        if arg.strip():
            esr = T.eval_addr(arg)
        else:
            T.need_target()
            esr = T.reg("ESR_EL1")
            if esr is None:
                raise gdb.GdbError("the target shows no ESR_EL1 register")
            far = T.reg("FAR_EL1")
            elr = T.reg("ELR_EL1")
            if elr is not None:
                T.emit(["ELR_EL1 = %s%s" % (hex16(elr), _where(elr))])
        T.emit(format_esr(esr, far))


class VkPtdump(gdb.Command):
    """Dump the translation tables as runs of alike entries.

Usage: vk-ptdump [-p] [-0 | -a] [START [END]]

One line per run of entries with the same level and attributes:
  0xSTART-0xEND   SIZE LEVEL attributes
under a ---[ Region ]--- marker per region of the layout: for the upper half
(TTBR1_EL1, the default) the same format and markers as the kernel's own dump
(the `ptdump` boot option), so they can be diffed. -0 dumps the lower half
(TTBR0_EL1: the identity map while the boot still has one), -a both halves;
a START in the lower half picks it too. START/END limit the dump. -p also
prints the physical address of each run and splits runs that are not
physically contiguous. Invalid entries are skipped at the level they are
found, so empty space is cheap."""

    def __init__(self):
        super(VkPtdump, self).__init__("vk-ptdump", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        T.need_target()
        lay = T.layout()
        args = gdb.string_to_argv(arg)
        phys = "-p" in args
        halves = [True]
        if "-0" in args:
            halves = [False]
        if "-a" in args:
            halves = [False, True]
        args = [a for a in args if a not in ("-p", "-0", "-a")]
        if len(args) > 2:
            raise gdb.GdbError("usage: vk-ptdump [-p] [-0 | -a] [START [END]]")
        start = T.eval_addr(args[0]) if len(args) > 0 else None
        end = T.eval_addr(args[1]) if len(args) > 1 else None
        if end == 0:
            end = 1 << 64
        if start is not None:
            if start < 1 << lay.va_bits:
                halves = [False]
            elif start >= lay.va_start:
                halves = [True]
            else:
                raise gdb.GdbError("%s is not a canonical address: neither half holds it" % hex16(start))
        T.emit(T.cpu_notes())
        tcr = T.reg("TCR_EL1")
        if tcr is not None:
            for w in tcr_warnings(lay, tcr):
                gdb.write("warning: %s\n" % w)
        p = K.placement()
        for upper in halves:
            self.dump_half(lay, upper, tcr, p, phys, start, end)

    def dump_half(self, lay, upper, tcr, p, phys, start, end):
        name = "TTBR1_EL1" if upper else "TTBR0_EL1"
        ttbr = T.reg(name)
        if ttbr is None:
            raise gdb.GdbError("the target shows no %s register" % name)
        if tcr is not None and tcr_fields(tcr)["epd1" if upper else "epd0"]:
            gdb.write("note: TCR_EL1.EPD%d is set: the MMU does not walk %s's tables now\n"
                      % (1 if upper else 0, name))
        vabits = vabits_in_use(lay, tcr, upper)
        root = root_table(lay, ttbr, vabits)[0]
        lo, hi = half_bounds(lay, upper, vabits)
        s = lo if start is None else max(start, lo)
        e = hi if end is None else min(end, hi)
        gdb.write("%s = %s, root table at PA %s\n" % (name, hex16(ttbr), hex16(root)))
        if root == 0:
            gdb.write("(%s holds no table address: nothing to dump)\n" % name)
            return
        cache = {}

        def read_table(pa, count):
            if (pa, count) not in cache:
                cache[(pa, count)] = T.read_phys_table(pa, count)
            return cache[(pa, count)]

        with T.PhysMode():
            runs, problems = ptdump_runs(lay, root, read_table, s, e, upper=upper, split_phys=phys, vabits=vabits)
        markers = lay.ptdump_markers(p.text, p.end) if upper else lay.lower_half_markers()
        T.emit(format_ptdump(lay, runs, markers, phys, s, e))
        for pr in problems:
            gdb.write("warning: %s\n" % pr)
        if not runs:
            gdb.write("(no valid mappings in range)\n")


COMMANDS = (("vk-v2p VA", VkV2P), ("vk-p2v PA", VkP2V), ("vk-walk VA", VkWalk),
            ("vk-esr [VALUE]", VkEsr), ("vk-ptdump [-p] [-0|-a] [START [END]]", VkPtdump),
            ("vk-break-fault", SC.VkBreakFault), ("vk-phys-symbols [PA]", SC.VkPhysSymbols),
            ("vk-virt-symbols", SC.VkVirtSymbols), ("vk-kaslr", SC.VkKaslr))


class VkHelp(gdb.Command):
    """List the vakern GDB helpers with a line about each.

Usage: vk-help          (then `help vk-NAME` for the details of one)"""

    def __init__(self):
        super(VkHelp, self).__init__("vk-help", gdb.COMMAND_SUPPORT)

    def invoke(self, arg, from_tty):
        for usage, cls in COMMANDS:
            gdb.write("  %-36s %s\n" % (usage, cls.__doc__.splitlines()[0]))
        gdb.write("`help vk-NAME` for details. Tables are read physically through QEMU's gdbstub "
                  "(Qqemu.PhyMemMode); the layout comes from %s.\n" % (T.layout_path() or "the ELF's directory"))


def register():
    for _usage, cls in COMMANDS:
        cls()
    VkHelp()
