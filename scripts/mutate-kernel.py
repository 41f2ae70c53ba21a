#!/usr/bin/env python3
"""Mutation testing of the kernel's translation checks (not part of `cargo test`).

Each mutation below is a one-line change to kernel/src/mm/physaddr.rs (and
physaddr/), kernel/src/mm/populate.rs or kernel/src/mm/memblock.rs: an
off-by-one at a check's boundary, a dropped range or hole check, a flipped
comparison, memstart_addr rounded to the page or rounded up. For each one the
script changes the file, runs the host tests that exercise that check
(tests/debug_virtual.rs, which builds and boots the kernel, or, for the
6.12 fast path, the 6.12 flavours' boots in tests/layouts.rs), puts the file
back, and records whether a test failed (caught) or all passed (missed).

A mutation names its change by exact source text. When that text is not in
the file exactly once (the code moved on), the script stops with an error
before changing anything: the list must then be brought up to date.

The files are restored after every mutation, on failure and on Ctrl-C; a
copy of each original is kept in target/mutate-kernel/ while it runs, and a
later run refuses to start while such a copy is left over (restore it or
delete it first).

Usage (from the repository root):
    nice -n 15 python3 scripts/mutate-kernel.py           # all mutations
    python3 scripts/mutate-kernel.py --list               # list them
    python3 scripts/mutate-kernel.py --only pa-limit-off-by-one,memstart-4k
    python3 scripts/mutate-kernel.py --check              # patterns only, no run
Exit code 0 when every mutation is caught, 1 when one is missed, 2 on an
error (a pattern that does not match, a mutation that does not compile, a
test command that cannot run, a filter that selects no test). A mutation
that a compile-time assertion of the kernel refuses is caught ("caught-build").
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKUP = os.path.join(ROOT, "target", "mutate-kernel")

DV = "kernel/src/mm/physaddr/debug_virtual.rs"
PA = "kernel/src/mm/physaddr.rs"
POP = "kernel/src/mm/populate.rs"
MB = "kernel/src/mm/memblock.rs"

# The boundaries case on the four RAM layouts, with debug_virtual.
EDGES = ["every_check_on_its_boundary"]
# ... and without it.
EDGES_BOTH = ["every_check_on_its_boundary", "every_boundary_without_the_flag"]


def stop(case):
    """The corpus tests of a stop case (with the flag it must stop; the
    test without the flag runs too: test-case names carry a number, so one
    filter cannot pick the flavour)."""
    return [case.replace("-", "_")]


# (name, file, old text, new text, test filters): a filter is a test-name
# filter of tests/debug_virtual.rs, or FILE:FILTER for another test file.
# 6.12's fast path: the translate self-test (every count of leading ones and
# both ends of the linear range) in a fixed-VA 6.12 flavour and the 52-bit one.
V612 = ["layouts:6_12_4k_48_1g_expects", "layouts:va_52_translates"]
MUTATIONS = [
    # __pa
    ("pa-fast-off-by-one", DV,
     "if va ^ PAGE_OFFSET >= TRANSLATION.linear_fast_size.load(Relaxed) {",
     "if va ^ PAGE_OFFSET > TRANSLATION.linear_fast_size.load(Relaxed) {", EDGES),
    ("pa-limit-off-by-one", DV,
     "|| va >= t.linear_limit.load(Relaxed) ||",
     "|| va > t.linear_limit.load(Relaxed) ||", EDGES),
    ("pa-lower-bound-flipped", DV,
     "if va < PAGE_OFFSET || va >= t.linear_limit",
     "if va <= PAGE_OFFSET || va >= t.linear_limit", EDGES),
    ("pa-hole-check-removed", DV,
     "|| (t.holes.load(Relaxed) != 0 && !virt_addr_valid(va))",
     "", EDGES),
    ("pa-linear-limit-past-ram", PA,
     "let limit = addr::phys_to_virt(end, TRANSLATION.memstart.load(Relaxed));",
     "let limit = addr::phys_to_virt(end + 1, TRANSLATION.memstart.load(Relaxed));", EDGES),
    ("pa-fast-size-one-more", PA,
     "if holes { 0 } else { limit - PAGE_OFFSET }",
     "if holes { 0 } else { limit - PAGE_OFFSET + 1 }", EDGES),
    # __va
    ("va-fast-off-by-one", DV,
     "if pa.wrapping_sub(t.ram_start.load(Relaxed)) >= t.ram_fast_size.load(Relaxed) {",
     "if pa.wrapping_sub(t.ram_start.load(Relaxed)) > t.ram_fast_size.load(Relaxed) {", EDGES),
    ("va-end-off-by-one", DV,
     "|| pa >= t.ram_end.load(Relaxed)",
     "|| pa > t.ram_end.load(Relaxed)", EDGES),
    ("va-start-flipped", DV,
     "if pa < t.ram_start.load(Relaxed)",
     "if pa <= t.ram_start.load(Relaxed)", EDGES),
    ("va-hole-check-removed", DV,
     "|| (t.holes.load(Relaxed) != 0 && !memblock::is_mapped_ram(pa))",
     "", EDGES),
    ("va-fast-size-one-more", PA,
     "if holes { 0 } else { ram_end - ram_start }",
     "if holes { 0 } else { ram_end - ram_start + 1 }", EDGES),
    # __pa_symbol and lm_alias
    ("pa-symbol-end-excluded", DV,
     "if va.wrapping_sub(text) > end - text {",
     "if va.wrapping_sub(text) >= end - text {", EDGES),
    ("pa-symbol-end-plus-1-allowed", DV,
     "if va.wrapping_sub(text) > end - text {",
     "if va.wrapping_sub(text) > end - text + 1 {", stop("pa-symbol-end-plus-1") + stop("lm-alias-end-plus-1")),
    ("lm-alias-range-check-removed", PA,
     "    #[cfg(feature = \"debug_virtual\")]\n    check_pa_symbol(sym.0);\n    VirtAddr(sym.0.wrapping_sub(",
     "    VirtAddr(sym.0.wrapping_sub(", stop("lm-alias-end-plus-1")),
    ("lm-alias-early-check-removed", PA,
     "if TRANSLATION.linear_limit.load(Relaxed) == u64::MAX {\n        lm_alias_bug",
     "if false {\n        lm_alias_bug", stop("lm-alias-early")),
    ("phys-offset-check-removed", PA,
     "    if m & 1 != 0 {\n        bug(",
     "    if false {\n        bug(", stop("phys-offset-early")),
    # 6.12's unchecked __pa: the count of leading ones and its slots
    ("pa-612-ones-not-counted", PA,
     '"mvn {i}, {va}",',
     '"mov {i}, {va}",', V612),
    ("pa-612-linear-slots-one-more-below", PA,
     "let first = (64 - layout::VA_BITS) as usize;",
     "let first = (63 - layout::VA_BITS) as usize;", V612),
    ("pa-612-linear-slots-one-more-above", PA,
     "let last = 63 - (!layout::PAGE_END).wrapping_add(1).trailing_zeros() as usize;",
     "let last = 64 - (!layout::PAGE_END).wrapping_add(1).trailing_zeros() as usize;", V612),
    ("pa-612-linear-slots-shifted", PA,
     "first <= i && i <= last",
     "first < i && i <= last + 1", V612),
    # populate
    ("pgd-populate-unchecked", POP,
     "unsafe { __pgd_populate(pgdp, physaddr::virt_to_phys(pud)) }",
     "unsafe { __pgd_populate(pgdp, PhysAddr(physaddr::virt_to_phys_nodebug(pud.0))) }", EDGES),
    ("pud-populate-linear-rule", POP,
     "unsafe { __pud_populate(pudp, physaddr::virt_to_phys(pmd)) }",
     "unsafe { __pud_populate(pudp, PhysAddr(physaddr::lm_to_phys(pmd.0))) }", EDGES_BOTH),
    ("pmd-populate-unchecked", POP,
     "unsafe { __pmd_populate(pmdp, physaddr::virt_to_phys(pte_table)) }",
     "unsafe { __pmd_populate(pmdp, PhysAddr(physaddr::virt_to_phys_nodebug(pte_table.0))) }", EDGES),
    # memstart_addr and the RAM bounds
    ("memstart-4k", MB,
     "let memstart = layout::ACTIVE.memstart_addr(lowest, va);",
     "let memstart = layout::align_down(lowest, PAGE_SIZE).wrapping_sub(layout::ACTIVE.memstart_offset(va));", EDGES),
    ("memstart-rounded-up", MB,
     "let memstart = layout::ACTIVE.memstart_addr(lowest, va);",
     "let memstart = layout::ACTIVE.memstart_addr(layout::align_up(lowest, MEMSTART_ALIGN), va);", EDGES),
    ("holes-ignored", MB,
     "let holes = mapped.len() > 1;",
     "let holes = false;", EDGES),
    ("ram-end-of-first-range", MB,
     "let ram_end = mapped.iter().last().map_or(0, |r| r.end);",
     "let ram_end = mapped.iter().next().map_or(0, |r| r.end);", EDGES),
]


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def write(path, text):
    full = os.path.join(ROOT, path)
    tmp = full + ".mutate-tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, full)


def check_patterns(mutations):
    """Every pattern must occur exactly once; return the problems."""
    problems = []
    for name, path, old, _new, _tests in mutations:
        n = read(path).count(old)
        if n != 1:
            problems.append(f"{name}: {path}: the text to mutate occurs {n} times (must be once): {old!r}")
    return problems


def run_tests(filters, log):
    """Run the filters, one cargo test per test file, until one fails."""
    files = {}
    for flt in filters:
        name, _, test = flt.rpartition(":")
        files.setdefault(name or "debug_virtual", []).append(test)
    with open(log, "w") as f:
        for name, tests in files.items():
            cmd = ["cargo", "test", "--test", name, "--"] + tests
            f.write(" ".join(cmd) + "\n")
            f.flush()
            p = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
            if p.returncode != 0:
                break
    out = open(log).read()
    if "evaluation panicked" in out:
        # A compile-time assertion of the kernel refused the mutation.
        return "caught-build"
    if "could not compile" in out or "error[E" in out:
        # The mutation does not compile (the kernel is built inside the
        # tests): the list is wrong, not the tests right.
        return "unviable"
    if p.returncode != 0 and "test result: FAILED" not in out:
        return "error"
    if p.returncode == 0 and " 0 passed" in out and "test result: ok" in out:
        return "no-tests"
    return "caught" if p.returncode != 0 else "missed"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--check", action="store_true", help="check that every pattern matches once, run nothing")
    ap.add_argument("--only", help="comma-separated names of the mutations to run")
    args = ap.parse_args()

    mutations = MUTATIONS
    if args.only:
        want = args.only.split(",")
        unknown = [w for w in want if w not in {m[0] for m in MUTATIONS}]
        if unknown:
            sys.exit(f"error: no such mutation: {', '.join(unknown)} (see --list)")
        mutations = [m for m in MUTATIONS if m[0] in want]
    if args.list:
        for name, path, old, new, tests in mutations:
            print(f"{name:32} {path}\n    - {old!r}\n    + {new!r}\n    tests: {' '.join(tests)}")
        return 0

    problems = check_patterns(mutations)
    if problems:
        print("error: the kernel source no longer matches the mutation list:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 2
    if args.check:
        print(f"all {len(mutations)} patterns match exactly once")
        return 0

    left = [f for f in os.listdir(BACKUP) if os.path.isfile(os.path.join(BACKUP, f))] if os.path.isdir(BACKUP) else []
    if left:
        print(f"error: {BACKUP} holds originals from an interrupted run; restore or delete them first",
              file=sys.stderr)
        return 2
    os.makedirs(BACKUP, exist_ok=True)
    logs = os.path.join(BACKUP, "logs")
    originals = {}
    for path in sorted({m[1] for m in mutations}):
        originals[path] = read(path)
        shutil.copyfile(os.path.join(ROOT, path), os.path.join(BACKUP, path.replace("/", "__")))

    def restore():
        for path, text in originals.items():
            if read(path) != text:
                write(path, text)

    def on_signal(signum, _frame):
        restore()
        print(f"\ninterrupted (signal {signum}): sources restored", file=sys.stderr)
        sys.exit(130)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    results = []
    try:
        os.makedirs(logs, exist_ok=True)
        for name, path, old, new, tests in mutations:
            start = time.time()
            write(path, originals[path].replace(old, new, 1))
            try:
                verdict = run_tests(tests, os.path.join(logs, name + ".log"))
            finally:
                restore()
            results.append((name, verdict))
            print(f"{verdict:12} {name:32} {time.time() - start:6.0f} s", flush=True)
    finally:
        restore()
        for f in os.listdir(BACKUP):
            if os.path.isfile(os.path.join(BACKUP, f)):
                os.remove(os.path.join(BACKUP, f))

    caught = sum(1 for _, v in results if v in ("caught", "caught-build"))
    missed = [n for n, v in results if v == "missed"]
    broken = [(n, v) for n, v in results if v not in ("caught", "caught-build", "missed")]
    print(f"{caught} caught, {len(missed)} missed of {len(results)} mutations (logs in {logs})")
    for n in missed:
        print(f"  missed: {n}")
    for n, v in broken:
        print(f"  {v}: {n} (see its log)")
    return 2 if broken else 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
