"""Exception Syndrome Register (ESR_ELx) decoding.

Pure Python, no `gdb`; uses layout.py only for u64/hex16. The field layout
and the exception class and fault status codes are the architecture's (Arm
ARM, ESR_ELx); the report has the shape of the kernel's own "Mem abort info"
block, so the two can be read side by side.
"""

import re

from .layout import u64, hex16

EC_NAMES = {
    0x00: "UNKNOWN (unknown reason)",
    0x01: "WFx (trapped WFI/WFE)",
    0x03: "CP15 MCR/MRC (AArch32)",
    0x04: "CP15 MCRR/MRRC (AArch32)",
    0x05: "CP14 MCR/MRC (AArch32)",
    0x06: "CP14 LDC/STC (AArch32)",
    0x07: "FP/ASIMD access trapped",
    0x0A: "LD64B/ST64B trapped",
    0x0C: "CP14 MRRC (AArch32)",
    0x0D: "BTI (branch target exception)",
    0x0E: "ILL (illegal execution state)",
    0x11: "SVC32",
    0x15: "SVC64",
    0x16: "HVC64",
    0x17: "SMC64",
    0x18: "SYS64 (trapped MSR/MRS/system instruction)",
    0x19: "SVE access trapped",
    0x1C: "FPAC (pointer authentication failure)",
    0x20: "IABT (lower EL)",
    0x21: "IABT (current EL)",
    0x22: "PC alignment fault",
    0x24: "DABT (lower EL)",
    0x25: "DABT (current EL)",
    0x26: "SP alignment fault",
    0x28: "FP exception (AArch32)",
    0x2C: "FP exception (AArch64)",
    0x2F: "SError",
    0x30: "Breakpoint (lower EL)",
    0x31: "Breakpoint (current EL)",
    0x32: "Software step (lower EL)",
    0x33: "Software step (current EL)",
    0x34: "Watchpoint (lower EL)",
    0x35: "Watchpoint (current EL)",
    0x38: "BKPT (AArch32)",
    0x3C: "BRK64",
}

ABORT_ECS = (0x20, 0x21, 0x24, 0x25)


def fault_status_name(fsc):
    """DFSC/IFSC in words, with the level where the code carries one."""
    low = fsc & 3
    group = fsc >> 2
    if group == 0:
        return "level %d address size fault" % low
    if group == 1:
        return "level %d translation fault" % low
    if group == 2:
        return "level %d access flag fault" % low
    if group == 3:
        return "level %d permission fault" % low
    names = {
        0x10: "synchronous external abort (not on a table walk)",
        0x11: "synchronous tag check fault",
        0x13: "synchronous external abort on table walk, level -1",
        0x18: "synchronous parity or ECC error on memory access",
        0x1B: "synchronous parity or ECC error on table walk, level -1",
        0x21: "alignment fault",
        0x22: "granule protection fault (not on a table walk)",
        0x23: "granule protection fault on table walk, level -1",
        0x29: "level -1 address size fault",
        0x2B: "level -1 translation fault",
        0x30: "TLB conflict abort",
        0x31: "unsupported atomic hardware update fault",
        0x34: "IMPLEMENTATION DEFINED fault (lockdown)",
        0x35: "IMPLEMENTATION DEFINED fault (unsupported exclusive or atomic access)",
    }
    if fsc in names:
        return names[fsc]
    if 0x14 <= fsc <= 0x17:
        return "synchronous external abort on table walk, level %d" % (fsc - 0x14)
    if 0x1C <= fsc <= 0x1F:
        return "synchronous parity or ECC error on table walk, level %d" % (fsc - 0x1C)
    if 0x24 <= fsc <= 0x27:
        return "granule protection fault on table walk, level %d" % (fsc - 0x24)
    return "unknown fault status 0x%02x" % fsc


def decode_esr(esr):
    """ESR_ELx fields as a dict. Abort classes get fsc/fsc_name/wnr/... keys."""
    esr = u64(esr)
    ec = (esr >> 26) & 0x3F
    iss = esr & 0x1FFFFFF
    d = {
        "esr": esr,
        "ec": ec,
        "ec_name": EC_NAMES.get(ec, "reserved/unallocated EC"),
        "il": (esr >> 25) & 1,
        "iss": iss,
        "iss2": (esr >> 32) & 0xFFFFFF,
        "is_abort": ec in ABORT_ECS,
        "is_data_abort": ec in (0x24, 0x25),
    }
    if d["is_abort"]:
        fsc = iss & 0x3F
        d.update({
            "fsc": fsc,
            "fsc_name": fault_status_name(fsc),
            "set": (iss >> 11) & 3,
            "fnv": (iss >> 10) & 1,
            "ea": (iss >> 9) & 1,
            "s1ptw": (iss >> 7) & 1,
        })
        m = re.match(r"level (-?\d) ", d["fsc_name"])
        d["fault_level"] = int(m.group(1)) if m else None
        if d["is_data_abort"]:
            d.update({
                "isv": (iss >> 24) & 1,
                "sas": (iss >> 22) & 3,
                "sse": (iss >> 21) & 1,
                "srt": (iss >> 16) & 0x1F,
                "sf": (iss >> 15) & 1,
                "ar": (iss >> 14) & 1,
                "vncr": (iss >> 13) & 1,
                "cm": (iss >> 8) & 1,
                "wnr": (iss >> 6) & 1,
            })
    elif ec in (0x11, 0x15, 0x16, 0x17, 0x3C, 0x38):
        d["imm16"] = iss & 0xFFFF
    elif ec == 0x18:
        d.update({
            "op0": (iss >> 20) & 3, "op2": (iss >> 17) & 7, "op1": (iss >> 14) & 7,
            "crn": (iss >> 10) & 0xF, "rt": (iss >> 5) & 0x1F, "crm": (iss >> 1) & 0xF,
            "read": iss & 1,
        })
    return d


def format_esr(esr, far=None):
    """A report in the shape of Linux's "Mem abort info" block."""
    d = decode_esr(esr)
    lines = []
    lines.append("ESR = 0x%016x" % d["esr"] if d["esr"] >> 32 else "ESR = 0x%08x" % d["esr"])
    lines.append("  EC = 0x%02x: %s, IL = %d bits" % (d["ec"], d["ec_name"], 32 if d["il"] else 16))
    lines.append("  ISS = 0x%07x" % d["iss"] + (", ISS2 = 0x%06x" % d["iss2"] if d["iss2"] else ""))
    if d["is_abort"]:
        lines.append("  SET = %d, FnV = %d" % (d["set"], d["fnv"]))
        lines.append("  EA = %d, S1PTW = %d" % (d["ea"], d["s1ptw"]))
        lines.append("  FSC = 0x%02x: %s" % (d["fsc"], d["fsc_name"]))
        if d["is_data_abort"]:
            lines.append("Data abort info:")
            if d["isv"]:
                lines.append("  ISV = 1, SAS = %d (%d bytes), SSE = %d, SRT = x%d, SF = %d, AR = %d" % (
                    d["sas"], 1 << d["sas"], d["sse"], d["srt"], d["sf"], d["ar"]))
            else:
                lines.append("  ISV = 0 (no syndrome for the access register)")
            lines.append("  CM = %d, WnR = %d (%s)" % (d["cm"], d["wnr"], "write" if d["wnr"] else "read"))
        if far is not None:
            if d["fnv"]:
                lines.append("FAR_EL1 = %s (not valid: FnV = 1)" % hex16(far))
            else:
                if not d["is_data_abort"]:
                    what = "instruction fetch"
                else:
                    what = "data write" if d["wnr"] else "data read"
                lines.append("FAR_EL1 = %s: %s at this address" % (hex16(far), what))
    else:
        if "imm16" in d:
            lines.append("  imm16 = 0x%04x" % d["imm16"])
        if d["ec"] == 0x18:
            lines.append("  %s S%d_%d_C%d_C%d_%d, Rt = x%d" % (
                "MRS (read)" if d["read"] else "MSR (write)",
                d["op0"], d["op1"], d["crn"], d["crm"], d["op2"], d["rt"]))
        if far is not None:
            lines.append("FAR_EL1 = %s (not meaningful for this class)" % hex16(far))
    return lines
