"""`bt` through an exception, and to its true end.

Needs `gdb`; uses target.py and the kernel's own symbols and debug
information. The vector code is assembly without call-frame information, so
GDB's own unwinders stop at `__exception_entry` ("corrupt stack?"). This
unwinder takes over for frames whose pc is in the vector table
(`__vectors`, 16 entries of 0x80 bytes) or in `__exception_entry`, and gives
GDB the registers of the interrupted code:
- once the entry has saved them (the call to the handler and after), from
  the trap frame at SP, laid out as the kernel's `TrapFrame` type says in
  the debug information (the type of the handler's second argument);
- before that, from where the entry parks them: ELR_EL1 (the interrupted
  pc), SP_EL0 (the interrupted SP, once saved), TPIDRRO_EL0/TPIDR_EL0
  (x0, x1), the rest still live in the registers.
The places inside `__exception_entry` (the call, the instruction that
restores SP) are found by disassembling it, so no offset is typed here.
A frame filter ends `bt` at the first Rust function the boot code called
(see OutermostFilter).
"""

import re

import gdb
import gdb.unwinder

from . import target as T

MASK64 = (1 << 64) - 1
VECTOR_TABLE_SIZE = 0x800  # 16 vectors of 0x80 bytes (the architecture's VBAR layout)
VECTOR_SIZE = 0x80


class FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _Code(object):
    """Addresses of the vector code where GDB's symbols are now."""

    def __init__(self, vectors, entry, call, restore_sp, eret, frame_type):
        self.vectors, self.entry, self.call, self.restore_sp, self.eret = vectors, entry, call, restore_sp, eret
        self.frame_type = frame_type
        self.offsets = {}
        if frame_type is not None:
            for f in frame_type.fields():
                self.offsets[f.name] = f.bitpos // 8


_cache = {}


def clear_cache(*_):
    _cache.clear()


def _symbols():
    """(vectors, entry) where GDB's symbols are now, or None."""
    key = ("syms", T.objfile_path(), T.state.offset)
    if key not in _cache:
        vectors = T.lookup_address("__vectors")
        entry = T.lookup_address("__exception_entry")
        _cache[key] = (vectors, entry) if vectors is not None and entry is not None else None
    return _cache[key]


def _analyse(arch, vectors, entry):
    """Find the parts of __exception_entry by disassembling it; None if it cannot
    be read now (not cached then) or does not look like an exception entry."""
    key = ("code", T.objfile_path(), T.state.offset)
    if key in _cache:
        return _cache[key]
    call = restore_sp = eret = handler = None
    try:
        insns = arch.disassemble(entry, count=160)
    except (gdb.error, gdb.MemoryError):
        return None
    for i in insns:
        asm = i["asm"]
        if call is None and re.match(r"bl\s", asm):
            call = i["addr"]
            m = re.search(r"0x([0-9a-f]+)", asm)
            handler = int(m.group(1), 16) if m else None
        elif call is not None and restore_sp is None and re.match(r"mov\s+sp, x\d+", asm):
            restore_sp = i["addr"]
        elif re.match(r"eret\b", asm):
            eret = i["addr"]
            break
    frame_type = None
    if handler is not None:
        try:
            fn = gdb.block_for_pc(handler).function
            if fn is not None:
                params = fn.type.fields()
                if len(params) >= 2:
                    frame_type = params[1].type.strip_typedefs().target().strip_typedefs()
        except (gdb.error, RuntimeError, AttributeError):
            frame_type = None
    code = None
    if call is not None and eret is not None:
        code = _Code(vectors, entry, call, restore_sp or eret, eret, frame_type)
    _cache[key] = code
    return code


def _value(pf, name, v):
    return gdb.Value(v & MASK64).cast(pf.read_register(name).type)


def _u(v):
    return int(v) & MASK64


class ExceptionUnwinder(gdb.unwinder.Unwinder):
    def __init__(self):
        super(ExceptionUnwinder, self).__init__("vakern-exception")

    def __call__(self, pf):
        try:
            pc = _u(pf.read_register("pc"))
        except gdb.error:
            return None
        syms = _symbols()
        if syms is None:
            return None
        vectors, entry = syms
        in_vectors = vectors <= pc < vectors + VECTOR_TABLE_SIZE
        if not in_vectors and not entry <= pc < entry + 4 * 160:
            return None
        try:
            code = _analyse(pf.architecture(), vectors, entry)
        except gdb.error:
            return None
        if code is None or (not in_vectors and pc > code.eret):
            return None
        sp = _u(pf.read_register("sp"))
        # Until the entry saves them, the interrupted code's registers are
        # the live ones, except those the entry has parked or changed.
        regs = dict(("x%d" % i, _u(pf.read_register("x%d" % i))) for i in range(31))
        if in_vectors:
            # Nothing saved yet: SP is the interrupted one, x0/x1 are parked
            # in TPIDRRO_EL0/TPIDR_EL0 once the first two instructions ran.
            off = (pc - code.vectors) % VECTOR_SIZE
            base = pc - off
            regs["pc"] = _u(pf.read_register("ELR_EL1"))
            regs["sp"] = sp
            if off >= 4:
                regs["x0"] = _u(pf.read_register("TPIDRRO_EL0"))
            if off >= 8:
                regs["x1"] = _u(pf.read_register("TPIDR_EL0"))
            fid = FrameId(sp, base)
        elif pc < code.call or pc > code.restore_sp:
            # On the way in (before the handler's call) or out (SP restored):
            # the interrupted pc is in ELR_EL1, its SP in SP_EL0 on the way in.
            regs["pc"] = _u(pf.read_register("ELR_EL1"))
            regs["sp"] = _u(pf.read_register("SP_EL0")) if pc < code.call else sp
            if pc < code.call:
                regs["x0"] = _u(pf.read_register("TPIDRRO_EL0"))
                regs["x1"] = _u(pf.read_register("TPIDR_EL0"))
            fid = FrameId(sp, code.entry)
        else:
            # The trap frame is complete at SP.
            regs = {}
            o = code.offsets
            if not all(k in o for k in ("regs", "sp", "elr", "spsr")):
                return None
            mem = gdb.selected_inferior()
            try:
                raw = bytes(mem.read_memory(sp, max(o.values()) + 8))
            except (gdb.error, gdb.MemoryError):
                return None

            def word(off):
                return int.from_bytes(raw[off:off + 8], "little")

            for i in range(31):
                regs["x%d" % i] = word(o["regs"] + 8 * i)
            regs["sp"] = word(o["sp"])
            regs["pc"] = word(o["elr"])
            regs["cpsr"] = word(o["spsr"]) & 0xFFFFFFFF
            fid = FrameId(sp, code.entry)
        info = pf.create_unwind_info(FrameId(_value(pf, "sp", fid.sp), _value(pf, "pc", fid.pc)))
        for name, v in regs.items():
            try:
                info.add_saved_register(name, _value(pf, name, v))
            except (gdb.error, ValueError):
                pass
        return info


class OutermostFilter(object):
    """bt ends at the first Rust function the boot code called: its return
    address is 0, which GDB would show as a frame `0x0 in ?? ()` and then
    report as "previous frame identical ... (corrupt stack?)". This frame
    filter leaves that frame out, says so plainly when the chain ends in the
    boot assembly (which has no call-frame information), and still prints
    any other reason to stop."""

    def __init__(self):
        self.name = "vakern-outermost"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        return _until_zero_pc(frames)


def _until_zero_pc(frames):
    last = None
    for fd in frames:
        f = fd.inferior_frame()
        if last is not None and f.pc() == 0:
            return
        last = f
        yield fd
    if last is None:
        return
    reason = last.unwind_stop_reason()
    if reason == gdb.FRAME_UNWIND_SAME_ID and last.find_sal().symtab is None:
        # The boot stubs (primary and secondary entry) are assembly without
        # call-frame information: the chain honestly ends in them.
        gdb.write("(bt ends in %s: boot assembly without call-frame information)\n" % (last.name() or "assembly"))
    elif reason >= getattr(gdb, "FRAME_UNWIND_FIRST_ERROR", gdb.FRAME_UNWIND_UNAVAILABLE):
        gdb.write("Backtrace stopped: %s\n" % gdb.frame_stop_reason_string(reason))


def register():
    gdb.unwinder.register_unwinder(None, ExceptionUnwinder(), replace=True)
    gdb.frame_filters["vakern-outermost"] = OutermostFilter()
    try:
        gdb.events.new_objfile.connect(clear_cache)
        gdb.events.clear_objfiles.connect(clear_cache)
    except AttributeError:
        pass
