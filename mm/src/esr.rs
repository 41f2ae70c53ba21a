//! Decoding ESR_EL1, the exception syndrome, for fault reports. (Over 400
//! lines: about 130 of them are the name tables, one entry per exception
//! class and per fault status code, kept next to the fields they decode.)
//!
//! The kernel's synchronous exception handler reads ESR_EL1 and FAR_EL1 and
//! hands them here; everything below is arithmetic on those two numbers, so
//! the host tests check it against real syndromes taken from QEMU and
//! hardware. The report has the shape arm64 Linux prints, so a reader who
//! knows Linux oopses reads ours the same way:
//!
//! ```text
//! Unable to handle kernel paging request at virtual address ffff7dfffe800000
//! Mem abort info:
//!   ESR = 0x0000000096000006
//!   EC = 0x25: DABT (current EL), IL = 32 bits
//!   SET = 0, FnV = 0
//!   EA = 0, S1PTW = 0
//!   FSC = 0x06: level 2 translation fault
//! Data abort info:
//!   ISV = 0, ISS = 0x00000006
//!   CM = 0, WnR = 0
//! ```
//!
//! The first line comes from [`fault_headline`], the rest from
//! [`write_mem_abort_info`]. Field positions and names follow the Arm ARM
//! (ESR_ELx, "ISS encoding for an exception from a Data Abort"); the class
//! and fault-status names are the strings Linux prints for them.

use core::fmt;

/// Exception class: unknown reason (e.g. an undefined instruction).
pub const EC_UNKNOWN: u64 = 0x00;
/// Exception class: SVC in AArch64 state.
pub const EC_SVC64: u64 = 0x15;
/// Exception class: MSR, MRS or system instruction trapped (Linux's SYS64).
pub const EC_SYS64: u64 = 0x18;
/// Exception class: instruction abort from a lower exception level.
pub const EC_IABT_LOW: u64 = 0x20;
/// Exception class: instruction abort taken without a change of level.
pub const EC_IABT_CUR: u64 = 0x21;
/// Exception class: PC alignment fault.
pub const EC_PC_ALIGN: u64 = 0x22;
/// Exception class: data abort from a lower exception level.
pub const EC_DABT_LOW: u64 = 0x24;
/// Exception class: data abort taken without a change of level.
pub const EC_DABT_CUR: u64 = 0x25;
/// Exception class: SP alignment fault.
pub const EC_SP_ALIGN: u64 = 0x26;
/// Exception class: SError interrupt.
pub const EC_SERROR: u64 = 0x2f;
/// Exception class: BRK instruction in AArch64 state.
pub const EC_BRK64: u64 = 0x3c;

/// Mask of the instruction-specific syndrome, ISS (bits 24:0).
pub const ISS_MASK: u64 = (1 << 25) - 1;

/// A value of ESR_EL1 (or ESR_ELx), with its fields by name.
///
/// The fault-status accessors ([`Esr::fsc`] and the ones built on it) are
/// meaningful for data and instruction aborts only; for other classes they
/// decode whatever the ISS holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Esr(pub u64);

impl fmt::Debug for Esr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Esr({:#018x}: {})", self.0, self.ec_name())
    }
}

impl Esr {
    const fn bit(self, n: u32) -> bool {
        (self.0 >> n) & 1 != 0
    }

    /// Exception class, EC (bits 31:26).
    pub const fn ec(self) -> u64 {
        (self.0 >> 26) & 0x3f
    }

    /// Instruction length, IL (bit 25): true for a 32-bit instruction (and
    /// for the classes that always set it, such as aborts on data).
    pub const fn il(self) -> bool {
        self.bit(25)
    }

    /// Instruction-specific syndrome, ISS (bits 24:0).
    pub const fn iss(self) -> u64 {
        self.0 & ISS_MASK
    }

    /// The second syndrome field, ISS2 (bits 55:32), zero on older cores.
    pub const fn iss2(self) -> u64 {
        (self.0 >> 32) & 0xff_ffff
    }

    /// The name Linux prints for the exception class.
    pub const fn ec_name(self) -> &'static str {
        ec_name(self.ec())
    }

    /// A data abort, from this level or from a lower one.
    pub const fn is_data_abort(self) -> bool {
        matches!(self.ec(), EC_DABT_CUR | EC_DABT_LOW)
    }

    /// An instruction abort, from this level or from a lower one.
    pub const fn is_instruction_abort(self) -> bool {
        matches!(self.ec(), EC_IABT_CUR | EC_IABT_LOW)
    }

    /// Fault status code, DFSC or IFSC (bits 5:0).
    pub const fn fsc(self) -> u64 {
        self.0 & 0x3f
    }

    /// The name Linux prints for the fault status code, e.g.
    /// "level 3 translation fault".
    pub const fn fsc_name(self) -> &'static str {
        FSC_NAMES[self.fsc() as usize]
    }

    /// The translation level the fault status names, for address size,
    /// translation, access flag and permission faults and for external
    /// aborts and parity errors on a table walk. `None` for other codes and
    /// for the level -1 codes of 52-bit addressing.
    pub const fn fault_level(self) -> Option<u32> {
        match self.fsc() {
            0x00..=0x0f | 0x14..=0x17 | 0x1c..=0x1f => Some((self.fsc() & 3) as u32),
            _ => None,
        }
    }

    /// An address size fault, at any level.
    pub const fn is_address_size_fault(self) -> bool {
        self.fsc() & 0x3c == 0x00 || self.fsc() == 0x29
    }

    /// A translation fault, at any level: the walk found an invalid descriptor.
    pub const fn is_translation_fault(self) -> bool {
        self.fsc() & 0x3c == 0x04 || self.fsc() == 0x2b
    }

    /// An access flag fault, at any level.
    pub const fn is_access_flag_fault(self) -> bool {
        self.fsc() & 0x3c == 0x08
    }

    /// A permission fault, at any level: the mapping exists but forbids the access.
    pub const fn is_permission_fault(self) -> bool {
        self.fsc() & 0x3c == 0x0c
    }

    /// Instruction syndrome valid, ISV (bit 24): the access size and
    /// register fields ([`Esr::sas`], [`Esr::srt`], ...) are meaningful.
    pub const fn isv(self) -> bool {
        self.bit(24)
    }

    /// Syndrome access size, SAS (bits 23:22): log2 of the access size in bytes.
    pub const fn sas(self) -> u64 {
        (self.0 >> 22) & 3
    }

    /// Syndrome sign extend, SSE (bit 21).
    pub const fn sse(self) -> bool {
        self.bit(21)
    }

    /// Syndrome register transfer, SRT (bits 20:16): the register loaded or stored.
    pub const fn srt(self) -> u64 {
        (self.0 >> 16) & 0x1f
    }

    /// Sixty-four bit register, SF (bit 15).
    pub const fn sf(self) -> bool {
        self.bit(15)
    }

    /// Acquire/release semantics, AR (bit 14).
    pub const fn ar(self) -> bool {
        self.bit(14)
    }

    /// Synchronous error type, SET (bits 12:11), for external aborts.
    pub const fn set(self) -> u64 {
        (self.0 >> 11) & 3
    }

    /// FAR not valid, FnV (bit 10): FAR_EL1 does not hold the faulting address.
    pub const fn fnv(self) -> bool {
        self.bit(10)
    }

    /// External abort type, EA (bit 9).
    pub const fn ea(self) -> bool {
        self.bit(9)
    }

    /// Cache maintenance, CM (bit 8): the abort came from a cache maintenance
    /// or address translation instruction.
    pub const fn cm(self) -> bool {
        self.bit(8)
    }

    /// Stage-2 fault on a stage-1 table walk, S1PTW (bit 7).
    pub const fn s1ptw(self) -> bool {
        self.bit(7)
    }

    /// Write not read, WnR (bit 6): the faulting access was a write.
    pub const fn wnr(self) -> bool {
        self.bit(6)
    }
}

/// The name Linux prints for exception class `ec` ("UNRECOGNIZED EC" for
/// classes it does not name).
pub const fn ec_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "Unknown/Uncategorized",
        0x01 => "WFI/WFE",
        0x03 => "CP15 MCR/MRC",
        0x04 => "CP15 MCRR/MRRC",
        0x05 => "CP14 MCR/MRC",
        0x06 => "CP14 LDC/STC",
        0x07 => "ASIMD",
        0x08 => "CP10 MRC/VMRS",
        0x09 => "PAC",
        0x0c => "CP14 MCRR/MRRC",
        0x0d => "BTI",
        0x0e => "PSTATE.IL",
        0x11 => "SVC (AArch32)",
        0x12 => "HVC (AArch32)",
        0x13 => "SMC (AArch32)",
        0x15 => "SVC (AArch64)",
        0x16 => "HVC (AArch64)",
        0x17 => "SMC (AArch64)",
        0x18 => "MSR/MRS (AArch64)",
        0x19 => "SVE",
        0x1a => "ERET/ERETAA/ERETAB",
        0x1c => "FPAC",
        0x1d => "SME",
        0x1f => "EL3 IMP DEF",
        0x20 => "IABT (lower EL)",
        0x21 => "IABT (current EL)",
        0x22 => "PC Alignment",
        0x24 => "DABT (lower EL)",
        0x25 => "DABT (current EL)",
        0x26 => "SP Alignment",
        0x27 => "MOPS",
        0x28 => "FP (AArch32)",
        0x2c => "FP (AArch64)",
        0x2d => "Guarded Control Stack",
        0x2f => "SError",
        0x30 => "Breakpoint (lower EL)",
        0x31 => "Breakpoint (current EL)",
        0x32 => "Software Step (lower EL)",
        0x33 => "Software Step (current EL)",
        0x34 => "Watchpoint (lower EL)",
        0x35 => "Watchpoint (current EL)",
        0x38 => "BKPT (AArch32)",
        0x3a => "Vector catch (AArch32)",
        0x3c => "BRK (AArch64)",
        _ => "UNRECOGNIZED EC",
    }
}

/// Fault status names, indexed by DFSC/IFSC, as Linux prints them. Codes the
/// architecture leaves unallocated print as "unknown N".
const FSC_NAMES: [&str; 64] = [
    // 0x00..0x0f: address size, translation, access flag, permission; levels 0..3.
    "ttbr address size fault",
    "level 1 address size fault",
    "level 2 address size fault",
    "level 3 address size fault",
    "level 0 translation fault",
    "level 1 translation fault",
    "level 2 translation fault",
    "level 3 translation fault",
    "level 0 access flag fault",
    "level 1 access flag fault",
    "level 2 access flag fault",
    "level 3 access flag fault",
    "level 0 permission fault",
    "level 1 permission fault",
    "level 2 permission fault",
    "level 3 permission fault",
    // 0x10..0x1f: external aborts and parity errors, on the access or on the walk.
    "synchronous external abort",
    "synchronous tag check fault",
    "unknown 18",
    "level -1 (translation table walk)",
    "level 0 (translation table walk)",
    "level 1 (translation table walk)",
    "level 2 (translation table walk)",
    "level 3 (translation table walk)",
    "synchronous parity or ECC error",
    "unknown 25",
    "unknown 26",
    "level -1 synchronous parity error (translation table walk)",
    "level 0 synchronous parity error (translation table walk)",
    "level 1 synchronous parity error (translation table walk)",
    "level 2 synchronous parity error (translation table walk)",
    "level 3 synchronous parity error (translation table walk)",
    // 0x20..0x2f: alignment, and the level -1 faults of 52-bit addressing.
    "unknown 32",
    "alignment fault",
    "unknown 34",
    "unknown 35",
    "unknown 36",
    "unknown 37",
    "unknown 38",
    "unknown 39",
    "unknown 40",
    "level -1 address size fault",
    "unknown 42",
    "level -1 translation fault",
    "unknown 44",
    "unknown 45",
    "unknown 46",
    "unknown 47",
    // 0x30..0x3f: TLB conflicts, atomics, implementation defined.
    "TLB conflict abort",
    "Unsupported atomic hardware update fault",
    "unknown 50",
    "unknown 51",
    "implementation fault (lockdown abort)",
    "implementation fault (unsupported exclusive)",
    "unknown 54",
    "unknown 55",
    "unknown 56",
    "unknown 57",
    "unknown 58",
    "unknown 59",
    "unknown 60",
    "section domain fault",
    "page domain fault",
    "unknown 63",
];

/// Write the "Mem abort info" block for `esr`, and for a data abort the
/// "Data abort info" block after it, one line each as Linux prints them
/// (see the module documentation for an example). Every line ends in `\n`.
///
/// When ISV is set the data abort block decodes the access instead of
/// printing the raw ISS: "Access size = N byte(s)", "SSE = .., SRT = ..",
/// "SF = .., AR = ..".
pub fn write_mem_abort_info(w: &mut impl fmt::Write, esr: u64) -> fmt::Result {
    let e = Esr(esr);
    let b = |v: bool| v as u8;
    writeln!(w, "Mem abort info:")?;
    writeln!(w, "  ESR = {:#018x}", esr)?;
    writeln!(w, "  EC = {:#04x}: {}, IL = {} bits", e.ec(), e.ec_name(), if e.il() { 32 } else { 16 })?;
    writeln!(w, "  SET = {}, FnV = {}", e.set(), b(e.fnv()))?;
    writeln!(w, "  EA = {}, S1PTW = {}", b(e.ea()), b(e.s1ptw()))?;
    writeln!(w, "  FSC = {:#04x}: {}", e.fsc(), e.fsc_name())?;
    if e.is_data_abort() {
        writeln!(w, "Data abort info:")?;
        if e.isv() {
            writeln!(w, "  Access size = {} byte(s)", 1u32 << e.sas())?;
            writeln!(w, "  SSE = {}, SRT = {}", b(e.sse()), e.srt())?;
            writeln!(w, "  SF = {}, AR = {}", b(e.sf()), b(e.ar()))?;
        } else {
            writeln!(w, "  ISV = 0, ISS = {:#010x}", e.iss())?;
        }
        writeln!(w, "  CM = {}, WnR = {}", b(e.cm()), b(e.wnr()))?;
    }
    Ok(())
}

/// Faults on addresses below this are reported as NULL pointer dereferences.
pub const NULL_GUARD: u64 = crate::layout::PAGE_SIZE;

/// What a kernel fault was, for the first line of its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A write hit a read-only mapping (permission fault, WnR set).
    WriteToReadOnly,
    /// An instruction fetch hit a non-executable mapping (instruction abort,
    /// permission fault).
    ExecuteNonExecutable,
    /// Any other permission fault: a read the mapping does not allow.
    ReadUnreadable,
    /// Anything else at an address below [`NULL_GUARD`].
    NullDereference,
    /// Anything else: nothing (usable) is mapped there.
    PagingRequest,
}

impl FaultKind {
    /// The words Linux puts after "Unable to handle kernel ".
    pub const fn message(self) -> &'static str {
        match self {
            FaultKind::WriteToReadOnly => "write to read-only memory",
            FaultKind::ExecuteNonExecutable => "execute from non-executable memory",
            FaultKind::ReadUnreadable => "read from unreadable memory",
            FaultKind::NullDereference => "NULL pointer dereference",
            FaultKind::PagingRequest => "paging request",
        }
    }
}

/// The first line of a kernel fault report; see [`fault_headline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headline {
    /// What the fault was.
    pub kind: FaultKind,
    /// The faulting virtual address (FAR_EL1).
    pub far: u64,
}

impl fmt::Display for Headline {
    /// "Unable to handle kernel MESSAGE at virtual address %016x", the address
    /// in 16 lowercase hex digits without `0x`, as Linux prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unable to handle kernel {} at virtual address {:016x}", self.kind.message(), self.far)
    }
}

/// Classify a kernel fault the way Linux's `__do_kernel_fault` does.
///
/// A permission fault on an abort is named by the access first (write, then
/// instruction fetch, then read), whatever the address; otherwise an address
/// below [`NULL_GUARD`] is a NULL pointer dereference, and anything else a
/// paging request.
pub fn fault_headline(esr: u64, far: u64) -> Headline {
    let e = Esr(esr);
    let abort = e.is_data_abort() || e.is_instruction_abort();
    let kind = if abort && e.is_permission_fault() {
        if e.is_data_abort() && e.wnr() {
            FaultKind::WriteToReadOnly
        } else if e.is_instruction_abort() {
            FaultKind::ExecuteNonExecutable
        } else {
            FaultKind::ReadUnreadable
        }
    } else if far < NULL_GUARD {
        FaultKind::NullDereference
    } else {
        FaultKind::PagingRequest
    };
    Headline { kind, far }
}
