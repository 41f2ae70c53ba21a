"""The target as GDB sees it: registers, memory, symbols.

Needs `gdb`; uses the pure modules. Imported only inside GDB. It answers,
for the CPU GDB has selected:
- the layout table of the ELF GDB debugs (read next to it, reloaded when the
  file changes);
- registers by name, and physical memory through QEMU's gdbstub
  (`maintenance packet Qqemu.PhyMemMode:1`, undone on the way out);
- symbols by name, link-time values from the ELF, names at addresses;
- where GDB's symbols are (`state`): at link addresses, moved to the
  physical load address (vk-phys-symbols) or to the KASLR address (vk-kaslr).
"""

import os
import re
import struct

import gdb

from . import layout as L
from . import symbols as S
from .layout import MASK64, u64
from .walk import PhysReadError, walk, default_tcr, root_table, vabits_in_use


class State(object):
    """Where GDB's symbols are: moved by `offset` from their link addresses;
    `mode` is "link", "phys" (vk-phys-symbols, with pa_text) or "kaslr"."""

    def __init__(self):
        self.offset = 0
        self.mode = "link"
        self.pa_text = None
        self.image_cache = {}


state = State()

# --- layout -------------------------------------------------------------------

_layout_cache = {}


def objfile_path():
    p = gdb.current_progspace().filename
    if not p:
        objs = gdb.objfiles()
        p = objs[0].filename if objs else None
    return p


def layout_path():
    p = objfile_path()
    return L.path_next_to(p) if p else None


def layout():
    """The Layout of the ELF GDB debugs; gdb.GdbError when there is none."""
    path = layout_path()
    if path is None:
        raise gdb.GdbError("no kernel ELF loaded (file target/kernel/4.10-4K-48/aarch64-unknown-none/release/vakern)")
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        raise gdb.GdbError("no layout table %s: the image builder writes it next to the ELF "
                           "(cargo run -- --build-only)" % path)
    if key not in _layout_cache:
        try:
            _layout_cache.clear()
            _layout_cache[key] = L.load(path)
        except L.LayoutError as e:
            raise gdb.GdbError(str(e))
    return _layout_cache[key]


# --- registers ------------------------------------------------------------------


def reg(*names):
    """A register of the selected CPU by one of its names, or None."""
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


def need_target():
    try:
        ok = gdb.selected_inferior().pid > 0 and gdb.selected_thread() is not None
    except gdb.error:
        ok = False
    if not ok:
        raise gdb.GdbError("not connected to a running target (target remote first)")
    ensure_virtual()


def ensure_virtual():
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


def mmu_on():
    sctlr = reg("SCTLR_EL1", "SCTLR")
    return sctlr is not None and bool(sctlr & 1)


def cpu_notes():
    """Lines about the CPU's state that change how addresses are read."""
    sctlr = reg("SCTLR_EL1", "SCTLR")
    cpsr = reg("cpsr")
    notes = []
    try:
        t = gdb.selected_thread()
        cpu = "CPU %d" % (t.num - 1) if t is not None else "this CPU"
    except gdb.error:
        cpu = "this CPU"
    if sctlr is not None and not sctlr & 1:
        notes.append("note: the MMU is off on %s (SCTLR_EL1.M=0): it uses VA == PA now; "
                     "the tables are shown as they would be used" % cpu)
    if cpsr is not None and (cpsr >> 2) & 3 != 1:
        notes.append("note: %s is at EL%d, not EL1" % (cpu, (cpsr >> 2) & 3))
    return notes


# --- memory ---------------------------------------------------------------------


def read_virt(addr, size):
    return bytes(gdb.selected_inferior().read_memory(addr, size))


class PhysMode(object):
    """Memory reads are physical inside `with PhysMode():`, and virtual again after."""

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


def read_phys_u64(pa):
    """Inside PhysMode."""
    try:
        return struct.unpack("<Q", read_virt(pa, 8))[0]
    except (gdb.MemoryError, gdb.error) as e:
        raise PhysReadError(pa, str(e))


def read_phys_u32(pa):
    """Inside PhysMode."""
    try:
        return struct.unpack("<I", read_virt(pa, 4))[0]
    except (gdb.MemoryError, gdb.error) as e:
        raise PhysReadError(pa, str(e))


def read_phys_table(pa, count=None):
    """The `count` entries (default: a whole table) of the table at `pa`. Inside PhysMode."""
    lay = layout()
    n = lay.ptrs_per_table if count is None else count
    try:
        data = read_virt(pa, 8 * n)
    except (gdb.MemoryError, gdb.error) as e:
        raise PhysReadError(pa, str(e))
    return list(struct.unpack("<%dQ" % n, data))


# --- symbols ----------------------------------------------------------------------


def info_address(name):
    try:
        out = gdb.execute("info address %s" % name, to_string=True)
    except gdb.error:
        return None
    m = re.search(r"\bat (?:address )?(0x[0-9a-fA-F]+)", out)
    return int(m.group(1), 16) if m else None


def lookup_address(name):
    """Address of a symbol by name (where GDB has it now): debug symbols, then minimal symbols."""
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
    return info_address(name)


def search_minsyms(kind, word, regex):
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


_elf_cache = {}


def link_symbols():
    """{name: link-time value} of the symbols the helpers place the image by."""
    path = objfile_path()
    if not path:
        return {}
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        return {}
    if key not in _elf_cache:
        try:
            _elf_cache.clear()
            _elf_cache[key] = S.elf_symbols(path, ["_text", "_end", "KASLR_INFO"])
        except (OSError, ValueError, struct.error):
            _elf_cache[key] = {}
    return _elf_cache[key]


def link_bounds():
    """Link-time (_text, _end)."""
    syms = link_symbols()
    text, end = syms.get("_text"), syms.get("_end")
    if text is None or end is None:
        a, b = lookup_address("_text"), lookup_address("_end")
        text = u64(a - state.offset) if a is not None else None
        end = u64(b - state.offset) if b is not None else None
    if text is None or end is None:
        raise gdb.GdbError("no _text/_end symbols in %s" % objfile_path())
    return text, end


def symbol_at(addr):
    """'name+0xoff' for an address (where GDB's symbols are now), demangled; or None."""
    try:
        out = gdb.execute("info symbol 0x%x" % addr, to_string=True)
    except gdb.error:
        return None
    m = re.match(r"^(.*?)(?: \+ (\d+))? in section (\S+)", out.strip())
    if not m:
        return None
    name = S.demangle(m.group(1).strip())
    off = int(m.group(2) or 0)
    return "%s+0x%x" % (name, off) if off else name


def ttbr1_root():
    """(root table address, VA size in use) of the TTBR1 half now: the root
    address 0 when TTBR1_EL1 is unset or unreadable."""
    lay = layout()
    ttbr1 = reg("TTBR1_EL1")
    vabits = vabits_in_use(lay, reg("TCR_EL1"), True)
    return (root_table(lay, ttbr1, vabits)[0] if ttbr1 else 0), vabits


def do_walk(va):
    lay = layout()
    ttbr0 = reg("TTBR0_EL1")
    ttbr1 = reg("TTBR1_EL1")
    tcr = reg("TCR_EL1")
    if ttbr0 is None and ttbr1 is None:
        raise gdb.GdbError("the target shows no TTBR0_EL1/TTBR1_EL1 registers")
    res_warn = []
    if tcr is None:
        res_warn.append("TCR_EL1 not readable: assuming the kernel's layout, both halves enabled")
        tcr = default_tcr(lay)
    with PhysMode():
        r = walk(lay, va, read_phys_u64, ttbr0, ttbr1, tcr)
    r.warnings[:0] = res_warn
    return r


# --- expressions ------------------------------------------------------------------


def eval_addr(expr):
    expr = expr.strip()
    if not expr:
        raise gdb.GdbError("an address is needed")
    try:
        return int(expr, 0) & MASK64
    except ValueError:
        pass
    if re.match(r"^[A-Za-z_][\w:$.]*$", expr):
        a = lookup_address(expr)
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


def emit(lines):
    for line in lines:
        gdb.write(S.demangle_in(line) + "\n")
