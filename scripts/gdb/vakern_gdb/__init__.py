"""GDB helpers for the vakern kernel (gdb-multiarch, QEMU's gdbstub).

GDB loads the package through scripts/gdb/vakern.py (`source
scripts/gdb/vakern.py`); the launcher's `--gdb` does that for you. The
modules, in the order they build on each other:

  layout     the kernel's layout, read from vakern-layout.json, which the
             image builder writes next to the ELF (no constant typed here)
  translate  __pa/__va and the image rule, as arithmetic
  desc       what a descriptor's bits say
  walk       the table walk, as the MMU does it
  ptdump     the page-table dump, in the kernel's format
  esr        ESR decoding
  symbols    link-time ELF symbols, Rust demangling, finding the image
  --- the modules above are plain Python, tested without GDB (scripts/gdb/tests)
  target     registers, physical memory, the kernel's run-time values
             (memstart_addr, kimage_voffset, KASLR_INFO) and where the image runs
  unwind     bt through the exception vectors, from the trap frame
  commands   the vk-* commands

Addresses are printed as GDB prints them (0x0000000040200000), so that any
of them can be pasted back into a GDB command.
"""


def gdb_main():
    """Set GDB up for the kernel: demangled names, the unwinder, the commands."""
    import gdb
    from . import commands, target, unwind

    gdb.execute("set print asm-demangle on", to_string=True)
    unwind.register()
    commands.register()
    names = " ".join(usage.split()[0] for usage, _ in commands.COMMANDS)
    gdb.write("vakern GDB helpers loaded: %s (vk-help lists them)\n" % names)
    if target.objfile_path():
        try:
            lay = target.layout()
            gdb.write("vakern: layout %s, from %s\n" % (lay.describe(), lay.source))
        except gdb.GdbError as e:
            gdb.write("vakern: %s\n" % e)
