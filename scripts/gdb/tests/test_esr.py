"""esr.py: ESR fields and the fault report, for the classes the kernel takes."""

import unittest

import common  # noqa: F401  (puts the package on the path)
from vakern_gdb import esr as E


class EsrTest(unittest.TestCase):
    def test_dabt_l2_translation_read(self):
        d = E.decode_esr(0x96000006)
        self.assertEqual(d["ec"], 0x25)
        self.assertEqual(d["ec_name"], "DABT (current EL)")
        self.assertEqual(d["il"], 1)
        self.assertEqual(d["fsc"], 0x06)
        self.assertEqual(d["fsc_name"], "level 2 translation fault")
        self.assertEqual(d["fault_level"], 2)
        self.assertEqual(d["wnr"], 0)
        text = "\n".join(E.format_esr(0x96000006, far=0xFFFF_8000_4000_0000))
        self.assertIn("EC = 0x25: DABT (current EL), IL = 32 bits", text)
        self.assertIn("FSC = 0x06: level 2 translation fault", text)
        self.assertIn("WnR = 0", text)
        self.assertIn("FAR_EL1 = 0xffff800040000000", text)

    def test_dabt_l3_permission_write(self):
        d = E.decode_esr(0x9600004F)
        self.assertEqual(d["ec"], 0x25)
        self.assertEqual(d["fsc_name"], "level 3 permission fault")
        self.assertEqual(d["wnr"], 1)
        self.assertEqual(d["cm"], 0)
        self.assertIn("WnR = 1 (write)", "\n".join(E.format_esr(0x9600004F)))

    def test_iabt_l3_permission(self):
        d = E.decode_esr(0x8600000F)
        self.assertEqual(d["ec"], 0x21)
        self.assertEqual(d["ec_name"], "IABT (current EL)")
        self.assertEqual(d["fsc_name"], "level 3 permission fault")
        self.assertTrue(d["is_abort"])
        self.assertFalse(d["is_data_abort"])
        self.assertNotIn("wnr", d)
        self.assertNotIn("WnR", "\n".join(E.format_esr(0x8600000F)))

    def test_lower_el_and_other_classes(self):
        self.assertEqual(E.decode_esr(0x92000007)["ec_name"], "DABT (lower EL)")
        self.assertEqual(E.decode_esr(0x82000007)["ec_name"], "IABT (lower EL)")
        self.assertEqual(E.decode_esr(0x0)["ec_name"], "UNKNOWN (unknown reason)")
        self.assertEqual(E.decode_esr(0x0)["il"], 0)
        svc = E.decode_esr(0x56000042)
        self.assertEqual((svc["ec"], svc["ec_name"], svc["imm16"]), (0x15, "SVC64", 0x42))
        brk = E.decode_esr(0xF2000800)
        self.assertEqual((brk["ec"], brk["ec_name"], brk["imm16"]), (0x3C, "BRK64", 0x800))
        self.assertFalse(brk["is_abort"])

    def test_fault_status_codes(self):
        f = E.fault_status_name
        self.assertEqual(f(0x00), "level 0 address size fault")
        self.assertEqual(f(0x04), "level 0 translation fault")
        self.assertEqual(f(0x07), "level 3 translation fault")
        self.assertEqual(f(0x09), "level 1 access flag fault")
        self.assertEqual(f(0x0B), "level 3 access flag fault")
        self.assertEqual(f(0x0D), "level 1 permission fault")
        self.assertEqual(f(0x10), "synchronous external abort (not on a table walk)")
        self.assertEqual(f(0x15), "synchronous external abort on table walk, level 1")
        self.assertEqual(f(0x21), "alignment fault")
        self.assertEqual(f(0x30), "TLB conflict abort")

    def test_abort_flags(self):
        # FnV, EA, CM, S1PTW, ISV with SAS/SRT.
        esr = (0x25 << 26) | (1 << 25) | (1 << 24) | (3 << 22) | (5 << 16) | (1 << 15) | (1 << 10) | (1 << 9) \
            | (1 << 8) | (1 << 7) | 0x07
        d = E.decode_esr(esr)
        self.assertEqual((d["isv"], d["sas"], d["srt"], d["sf"]), (1, 3, 5, 1))
        self.assertEqual((d["fnv"], d["ea"], d["cm"], d["s1ptw"]), (1, 1, 1, 1))
        text = "\n".join(E.format_esr(esr, far=0x1234))
        self.assertIn("not valid: FnV = 1", text)
        self.assertIn("SRT = x5", text)


if __name__ == "__main__":
    unittest.main()
