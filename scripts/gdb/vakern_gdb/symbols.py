"""Symbols: the ELF's link-time values, Rust names, and finding the image.

Pure Python, no `gdb`; uses layout.py and ptdump.py.
- `elf_symbols()` reads link-time symbol values straight from the ELF file,
  whatever offset GDB has moved its symbols by.
- `demangle()` turns Rust's legacy mangled names (`_ZN6vakern6faults7trigger17h...E`)
  and GDB's renderings of them (`vakern::faults::trigger::h...`) into the
  path a reader knows (`vakern::faults::trigger`).
- `find_image()` finds where the image runs (under KASLR) from the runs of
  the live TTBR1 tables: the run whose first page holds the Image header.
"""

import re
import struct

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


# The arm64 Image header: the magic "ARM\x64" at offset 56 (the boot protocol).
IMAGE_MAGIC = 0x644d5241
IMAGE_MAGIC_OFFSET = 56

# Escapes of Rust's legacy mangling, inside one path component.
_ESCAPES = {
    "SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ",",
}
_HASH = re.compile(r"^h[0-9a-f]{16}$")


def _unescape(ident):
    out = []
    i = 0
    if ident.startswith("_$"):
        ident = ident[1:]
    while i < len(ident):
        c = ident[i]
        if c == "$":
            j = ident.find("$", i + 1)
            if j < 0:
                return None
            code = ident[i + 1:j]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
            elif code.startswith("u") and re.match(r"^u[0-9a-f]+$", code):
                out.append(chr(int(code[1:], 16)))
            else:
                return None
            i = j + 1
        elif ident.startswith("..", i):
            out.append("::")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def demangle(name):
    """A Rust path for a legacy-mangled symbol (hash dropped); other names as they are,
    except that a trailing ::hHASH (GDB keeps it in some places) is dropped too."""
    base = name.split(".llvm.")[0]
    m = re.match(r"^_?_ZN(.*)E$", base)
    if not m:
        parts = name.split("::")
        if len(parts) > 1 and _HASH.match(parts[-1]):
            return "::".join(parts[:-1])
        return name
    rest = m.group(1)
    parts = []
    while rest:
        n = re.match(r"^(\d+)", rest)
        if not n:
            return name
        length = int(n.group(1))
        start = len(n.group(1))
        ident = rest[start:start + length]
        if len(ident) != length:
            return name
        rest = rest[start + length:]
        parts.append(ident)
    if len(parts) > 1 and _HASH.match(parts[-1]):
        parts.pop()
    out = [_unescape(p) for p in parts]
    if any(p is None for p in out):
        return name
    return "::".join(out)


def demangle_in(text):
    """`text` with every legacy-mangled Rust name in it demangled."""
    return re.sub(r"_?_ZN[0-9A-Za-z_$.]+?E(?![0-9A-Za-z_$])", lambda m: demangle(m.group(0)), text)


def find_image(runs, read_u32):
    """The virtual address where the image runs: the start of the first run
    (of the TTBR1 tables, see ptdump.ptdump_runs) whose first bytes are the
    Image header, read with read_u32(pa). None if no run starts with one."""
    for r in runs:
        try:
            if read_u32(r.pa + IMAGE_MAGIC_OFFSET) == IMAGE_MAGIC:
                return r.start
        except Exception:  # an unreadable page is not the image
            continue
    return None
