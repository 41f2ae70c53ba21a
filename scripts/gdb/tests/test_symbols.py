"""symbols.py: link-time symbols from the ELF, Rust demangling, finding the image."""

import os
import struct
import tempfile
import unittest

from common import LAY, TEXT, END, PA_TEXT
from vakern_gdb import symbols as S
from vakern_gdb.ptdump import Run
from vakern_gdb.walk import PhysReadError


class ElfTest(unittest.TestCase):
    def test_symbols(self):
        # A minimal ELF64 LE file: null section, .symtab, .strtab.
        strtab = b"\0_text\0_end\0other\0"
        syms = struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)
        syms += struct.pack("<IBBHQQ", 1, 0, 0, 1, TEXT, 0)
        syms += struct.pack("<IBBHQQ", 7, 0, 0, 1, END, 0)
        syms += struct.pack("<IBBHQQ", 12, 0, 0, 1, 0x1234, 0)
        ehdr_size, shdr_size = 64, 64
        sym_off = ehdr_size
        str_off = sym_off + len(syms)
        sh_off = str_off + len(strtab)
        ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
        ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0, 0, sh_off, 0, ehdr_size, 0, 0,
                                   shdr_size, 3, 0)
        null = bytes(shdr_size)
        symsh = struct.pack("<IIQQQQIIQQ", 0, 2, 0, 0, sym_off, len(syms), 2, 1, 8, 24)
        strsh = struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, str_off, len(strtab), 0, 0, 1, 0)
        data = ehdr + syms + strtab + null + symsh + strsh
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
            path = f.name
        try:
            self.assertEqual(S.elf_symbols(path, ["_text", "_end", "missing"]), {"_text": TEXT, "_end": END})
            with open(path, "r+b") as f:
                f.write(b"\x7fELX")
            with self.assertRaises(ValueError):
                S.elf_symbols(path, ["_text"])
        finally:
            os.unlink(path)


class DemangleTest(unittest.TestCase):
    def test_legacy_paths(self):
        self.assertEqual(S.demangle("_ZN6vakern6faults7trigger17h71d4ad6e3cc65757E"), "vakern::faults::trigger")
        self.assertEqual(S.demangle("_ZN6vakern5traps10EXC_STACKS17h7c33c0cb471ca197E"), "vakern::traps::EXC_STACKS")
        self.assertEqual(S.demangle("_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$.."
                                    "$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE"),
                         "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>")
        self.assertEqual(S.demangle("_ZN56_$LT$vakern..fmt..Addr$u20$as$u20$core..fmt..Display$GT$3fmt"
                                    "17h0000000000000000E"),
                         "<vakern::fmt::Addr as core::fmt::Display>::fmt")

    def test_others_untouched_or_hash_dropped(self):
        self.assertEqual(S.demangle("handle_exception"), "handle_exception")
        self.assertEqual(S.demangle("__exception_entry"), "__exception_entry")
        self.assertEqual(S.demangle("vakern::traps::EXC_STACKS::h7c33c0cb471ca197"), "vakern::traps::EXC_STACKS")
        self.assertEqual(S.demangle("_ZN3foo"), "_ZN3foo")  # not a complete mangled name
        self.assertEqual(S.demangle("_ZN99shortE"), "_ZN99shortE")  # length past the end

    def test_in_text(self):
        self.assertEqual(S.demangle_in("pc at <_ZN6vakern6faults7trigger17h71d4ad6e3cc65757E+100> ok"),
                         "pc at <vakern::faults::trigger+100> ok")


class FindImageTest(unittest.TestCase):
    def runs(self, *starts):
        return [Run(LAY, va, va + 0x1000, 3, 0x793, pa) for va, pa in starts]

    def test_finds_the_run_with_the_header(self):
        moved = LAY.KIMAGE_VADDR + 37 * LAY.PMD_SIZE
        runs = self.runs((LAY.KIMAGE_VADDR, 0x0900_0000), (moved, PA_TEXT), (moved + 0x1000, PA_TEXT + 0x1000))

        def read_u32(pa):
            if pa == 0x0900_0000 + 56:
                raise PhysReadError(pa, "device")
            return S.IMAGE_MAGIC if pa == PA_TEXT + S.IMAGE_MAGIC_OFFSET else 0

        self.assertEqual(S.find_image(runs, read_u32), moved)

    def test_none_without_a_header(self):
        self.assertIsNone(S.find_image(self.runs((TEXT, PA_TEXT)), lambda pa: 0))
        self.assertIsNone(S.find_image([], lambda pa: S.IMAGE_MAGIC))


if __name__ == "__main__":
    unittest.main()
