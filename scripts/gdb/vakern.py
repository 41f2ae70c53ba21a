# GDB helpers for the vakern aarch64 kernel (gdb-multiarch, QEMU's gdbstub).
#
# Load with:  source scripts/gdb/vakern.py
# (`cargo run -- --gdb` does, with the kernel's ELF loaded.)
#
# This file only puts the package next to it (scripts/gdb/vakern_gdb/) on
# Python's path and starts it; the package's __init__.py says what each
# module does. The helpers read the kernel's layout from vakern-layout.json,
# which the image builder writes next to the ELF, and the run-time values
# from the kernel's own symbols.
#
# Commands (each has `help vk-...`; vk-help lists them):
#   vk-v2p VA             virtual -> physical by the kernel's rules, checked against a table walk
#   vk-p2v PA             physical -> virtual (__va, and the image alias if PA is in the image)
#   vk-walk VA            walk the translation tables for VA as the MMU would
#   vk-esr [VALUE]        decode an ESR value (default: the live $ESR_EL1, with $FAR_EL1)
#   vk-ptdump [-p] [-0|-a] [START [END]]  dump the TTBR1 (or TTBR0, or both) tables as runs
#   vk-break-fault        break on the kernel's exception handler
#   vk-phys-symbols [PA]  move the symbols to the physical addresses used before the MMU is on
#   vk-virt-symbols       move the symbols back to their linked (virtual) addresses
#   vk-kaslr              find where KASLR put the image and move the symbols there
# and `bt` unwinds through the exception vectors into the interrupted code.

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree


def _load():
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    # Sourcing again picks up edited modules.
    for name in [m for m in sys.modules if m == "vakern_gdb" or m.startswith("vakern_gdb.")]:
        del sys.modules[name]
    import vakern_gdb
    vakern_gdb.gdb_main()


_load()
