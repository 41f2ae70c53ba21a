#!/usr/bin/env python3
"""Runs the unit tests of the GDB helpers' pure modules (scripts/gdb/tests/), no GDB needed.

Run: python3 scripts/gdb/test_vakern.py
The tests read the layout table the image builder writes next to the kernel's
ELF (build it first: cargo run -- --build-only), or the one $VAKERN_LAYOUT
names; tests/gdb.rs runs them with a freshly written table.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    tests = os.path.join(here, "tests")
    sys.path.insert(0, tests)
    suite = unittest.defaultTestLoader.discover(tests, pattern="test_*.py", top_level_dir=tests)
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
