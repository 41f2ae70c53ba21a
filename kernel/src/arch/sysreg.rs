//! System-register values, built from named fields. The boot stub loads
//! them (`boot/head.S`, handed over as `const` operands by `early::head`);
//! the Rust code reads registers through the same names.
//!
//! The fields come from aarch64-cpu (tock-registers underneath). A
//! `FieldValue`'s `+` is not a `const fn`, so the constants OR the fields'
//! `.value`s together, which is what `+` does. Fields aarch64-cpu does not
//! name (SCTLR_EL1's RES1 bits, CPTR_EL2) are named here with the same
//! macro.

use aarch64_cpu::registers::{
    CNTHCTL_EL2, CPACR_EL1, HCR_EL2, ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, SPSR_EL2, TCR_EL1,
};
use tock_registers::register_bitfields;
use vakern_mm::layout::{ACTIVE, VA_BITS, VA_BITS_MIN};
use vakern_mm::pte::MAIR_VALUE;

register_bitfields! {u64,
    /// SCTLR_EL1 bits that are RES1 on ARMv8.0 and name features of later
    /// versions; left set, as a reset leaves them.
    SCTLR_EL1_RES1 [
        /// Exception exit is a context-synchronizing event (RES1 before v8.5).
        EOS OFFSET(11) NUMBITS(1) [],
        /// SCXTNUM_EL0 access not trapped (RES1 before v8.5).
        TSCXT OFFSET(20) NUMBITS(1) [],
        /// Exception entry is a context-synchronizing event (RES1 before v8.5).
        EIS OFFSET(22) NUMBITS(1) [],
        /// PSTATE.PAN left unchanged on exception entry (RES1 before v8.1).
        SPAN OFFSET(23) NUMBITS(1) [],
        /// No trap of load/store multiple to Device memory (RES1 before v8.2).
        nTLSMD OFFSET(28) NUMBITS(1) [],
        /// Load/store multiple atomicity (RES1 before v8.2).
        LSMAOE OFFSET(29) NUMBITS(1) []
    ],
    /// CPTR_EL2 with HCR_EL2.E2H = 0 (the layout vakern runs EL2 with).
    CPTR_EL2 [
        /// Trap CPACR_EL1 accesses.
        TCPAC OFFSET(31) NUMBITS(1) [],
        /// Trap FP/SIMD (Advanced SIMD and floating point) to EL2.
        TFP OFFSET(10) NUMBITS(1) [],
        /// Trap SVE to EL2.
        TZ OFFSET(8) NUMBITS(1) [],
        /// Bits 0-7, 9, 12 and 13: RES1.
        RES1_LOW OFFSET(0) NUMBITS(8) [],
        /// See `RES1_LOW`.
        RES1_9 OFFSET(9) NUMBITS(1) [],
        /// See `RES1_LOW`.
        RES1_12 OFFSET(12) NUMBITS(2) []
    ]
}

/// SCTLR_EL1's RES1 bits.
const SCTLR_RES1: u64 = SCTLR_EL1_RES1::EOS::SET.value
    | SCTLR_EL1_RES1::TSCXT::SET.value
    | SCTLR_EL1_RES1::EIS::SET.value
    | SCTLR_EL1_RES1::SPAN::SET.value
    | SCTLR_EL1_RES1::nTLSMD::SET.value
    | SCTLR_EL1_RES1::LSMAOE::SET.value;

/// SCTLR_EL1 with the MMU and the caches off (a known state at entry).
pub const SCTLR_MMU_OFF: u64 = SCTLR_RES1;

/// SCTLR_EL1 for the rest of the run: MMU, data and instruction caches on,
/// SP alignment checked at EL1 and EL0.
pub const SCTLR_MMU_ON: u64 = SCTLR_RES1
    | SCTLR_EL1::M::Enable.value
    | SCTLR_EL1::C::Cacheable.value
    | SCTLR_EL1::SA::Enable.value
    | SCTLR_EL1::SA0::Enable.value
    | SCTLR_EL1::I::Cacheable.value;

/// TCR_EL1 without IPS (the stub fills [`TCR_IPS_SHIFT`] from
/// ID_AA64MMFR0_EL1.PARange): a `VA_BITS` upper half (T1SZ) and a
/// `VA_BITS_MIN` lower half (T0SZ; they differ only with 52-bit VAs, where
/// the identity map needs no more than 48 bits and the stub lowers T1SZ
/// to 48 bits on a CPU without FEAT_LVA) with the flavour's granule (TG0,
/// TG1), table walks inner-shareable and write-back cacheable.
pub const TCR_VALUE: u64 = TCR_EL1::T0SZ.val(ACTIVE.tcr_txsz(VA_BITS_MIN)).value
    | TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::SH0::Inner.value
    | TCR_EL1::T1SZ.val(ACTIVE.tcr_txsz(VA_BITS)).value
    | TCR_EL1::IRGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::ORGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable.value
    | TCR_EL1::SH1::Inner.value
    | ACTIVE.tcr_granule_bits();
// The flavour's TG0/TG1 encodings are the register's.
const _: () = assert!(
    ACTIVE.tcr_granule_bits()
        == match ACTIVE.granule() {
            vakern_mm::layout::Granule::K4 => TCR_EL1::TG0::KiB_4.value | TCR_EL1::TG1::KiB_4.value,
            vakern_mm::layout::Granule::K16 => TCR_EL1::TG0::KiB_16.value | TCR_EL1::TG1::KiB_16.value,
            vakern_mm::layout::Granule::K64 => TCR_EL1::TG0::KiB_64.value | TCR_EL1::TG1::KiB_64.value,
        }
);

/// Where TCR_EL1.T1SZ sits, and how wide it is, for the stub's `bfi`.
pub const TCR_T1SZ_SHIFT: usize = TCR_EL1::T1SZ.shift;
/// See [`TCR_T1SZ_SHIFT`].
pub const TCR_T1SZ_BITS: u32 = TCR_EL1::T1SZ.mask.count_ones();
/// T1SZ on a CPU without FEAT_LVA (`vabits_actual` = `VA_BITS_MIN`).
pub const T1SZ_MIN: u64 = ACTIVE.tcr_txsz(VA_BITS_MIN);
/// What the stub adds to TTBR1 on such a CPU: the walk then starts at the
/// last 64 entries of the 1024-entry root table.
pub const TTBR1_OFFSET_MIN: u64 = ACTIVE.ttbr1_offset(VA_BITS_MIN);

/// The VA size the upper half translates on this boot: `VA_BITS`, or
/// `VA_BITS_MIN` where the stub found no FEAT_LVA (read back from T1SZ).
pub fn vabits_actual() -> u32 {
    use aarch64_cpu::registers::Readable;
    64 - TCR_EL1.read(TCR_EL1::T1SZ) as u32
}

/// Where TCR_EL1.IPS sits, and how wide it is, for the stub's `bfi`.
pub const TCR_IPS_SHIFT: usize = TCR_EL1::IPS.shift;
/// See [`TCR_IPS_SHIFT`].
pub const TCR_IPS_BITS: u32 = TCR_EL1::IPS.mask.count_ones();
/// TCR_EL1.EPD0: no walks of TTBR0 (set once the identity map is gone).
pub const TCR_EPD0: u64 = TCR_EL1::EPD0::DisableTTBR0Walks.value;

/// The mask of ID_AA64MMFR0_EL1.PARange (at bit 0).
pub const PARANGE_MASK: u64 = ID_AA64MMFR0_EL1::PARange.mask << ID_AA64MMFR0_EL1::PARange.shift;
/// The largest physical address size the kernel uses: 48 bits. PARange and
/// TCR_EL1.IPS share the encoding, so the stub caps one and stores it as the other.
pub const PARANGE_48: u64 = ID_AA64MMFR0_EL1::PARange::Bits_48.value;
const _: () = assert!(ID_AA64MMFR0_EL1::PARange.shift == 0);
const _: () = assert!(TCR_EL1::IPS::Bits_48.value >> TCR_IPS_SHIFT == PARANGE_48);

/// MAIR_EL1: the attributes of each `vakern_mm::pte::MemType` at its index, as arm64
/// Linux numbers them.
pub const MAIR: u64 = MAIR_EL1::Attr0_Device::nonGathering_nonReordering_noEarlyWriteAck.value
    | MAIR_EL1::Attr1_Device::nonGathering_nonReordering_EarlyWriteAck.value
    | MAIR_EL1::Attr2_Device::Gathering_Reordering_EarlyWriteAck.value
    | MAIR_EL1::Attr3_Normal_Outer::NonCacheable.value
    | MAIR_EL1::Attr3_Normal_Inner::NonCacheable.value
    | MAIR_EL1::Attr4_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc.value
    | MAIR_EL1::Attr4_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc.value
    | MAIR_EL1::Attr5_Normal_Outer::WriteThrough_NonTransient_ReadWriteAlloc.value
    | MAIR_EL1::Attr5_Normal_Inner::WriteThrough_NonTransient_ReadWriteAlloc.value;
// The host-tested descriptor code (vakern_mm::pte) decodes with the same table.
const _: () = assert!(MAIR == MAIR_VALUE);

/// CPACR_EL1: FP/SIMD not trapped (Rust code may use the SIMD registers).
pub const CPACR_FP_ON: u64 = CPACR_EL1::FPEN::TrapNothing.value;

/// HCR_EL2 when leaving EL2: EL1 runs AArch64; nothing else is trapped or
/// virtualised.
pub const HCR_EL1_AARCH64: u64 = HCR_EL2::RW::EL1IsAarch64.value;

/// CNTHCTL_EL2 bits that let EL1 read the physical counter and use the
/// physical timer.
pub const CNTHCTL_EL1_ACCESS: u64 = CNTHCTL_EL2::EL1PCTEN::SET.value | CNTHCTL_EL2::EL1PCEN::SET.value;

/// CPTR_EL2: RES1 bits, FP/SIMD not trapped; SVE trapped (the kernel uses none).
pub const CPTR_EL2_VALUE: u64 = CPTR_EL2::RES1_LOW.val(0xff).value
    | CPTR_EL2::RES1_9::SET.value
    | CPTR_EL2::RES1_12.val(0b11).value
    | CPTR_EL2::TZ::SET.value;

/// SPSR_EL2 for the `eret` to EL1: EL1 with its own stack pointer (EL1h),
/// debug, SError, IRQ and FIQ masked.
pub const SPSR_EL1H_MASKED: u64 = SPSR_EL2::D::Masked.value
    | SPSR_EL2::A::Masked.value
    | SPSR_EL2::I::Masked.value
    | SPSR_EL2::F::Masked.value
    | SPSR_EL2::M::EL1h.value;
