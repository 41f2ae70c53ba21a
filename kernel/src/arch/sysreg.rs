//! System-register values the boot stub loads (`boot/head.S`, handed over
//! as `const` operands by `early::head`) and the Rust code compares against.

/// SCTLR_EL1 bits that are RES1 on ARMv8.0 (bits 11, 20, 22, 23, 28, 29).
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// SCTLR_EL1 with the MMU and caches off.
pub const SCTLR_MMU_OFF: u64 = SCTLR_RES1;
/// SCTLR_EL1 with M (MMU), C (data cache), SA/SA0 (stack alignment checks), I (instruction cache).
pub const SCTLR_MMU_ON: u64 = SCTLR_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);

/// TCR_EL1 without IPS (the stub fills it from ID_AA64MMFR0_EL1):
/// T0SZ = T1SZ = 16 (48-bit halves), 4 KiB granules, inner-shareable
/// write-back walks for both halves.
#[allow(clippy::identity_op)]
pub const TCR_VALUE: u64 = (64 - vakern_mm::layout::VA_BITS as u64) // T0SZ
    | (0b01 << 8) // IRGN0: write-back, write-allocate
    | (0b01 << 10) // ORGN0
    | (0b11 << 12) // SH0: inner shareable
    | (0b00 << 14) // TG0: 4 KiB
    | ((64 - vakern_mm::layout::VA_BITS as u64) << 16) // T1SZ
    | (0b01 << 24) // IRGN1
    | (0b01 << 26) // ORGN1
    | (0b11 << 28) // SH1
    | (0b10 << 30); // TG1: 4 KiB
