//! What the CPU offers that a layout flavour needs, decoded from the ID
//! registers: the translation granule (ID_AA64MMFR0_EL1.TGran4/16/64), the
//! physical address size (PARange) and 52-bit VAs (ID_AA64MMFR2_EL1.VARange).
//!
//! Only the decoding lives here, as plain functions of the register values:
//! the boot stub reads the registers before the MMU is on and stops with
//! [`crate::exit::EARLY_BOOT_FAILED`] on a [`CpuError`]; the host tests feed
//! it register values.

use crate::flavour::{Granule, Layout};
use core::fmt;

/// Why the CPU cannot run the flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuError {
    /// ID_AA64MMFR0_EL1 says the granule is not implemented; `field` is its TGran value.
    NoGranule {
        /// The flavour's granule.
        granule: Granule,
        /// The 4-bit TGran field as read.
        field: u64,
    },
    /// PARange holds a value the architecture does not define.
    UnknownPaRange(u64),
    /// RAM reaches above the physical addresses the CPU can output.
    RamBeyondPaRange {
        /// The CPU's physical address size in bits.
        pa_bits: u32,
        /// End (exclusive) of the RAM found.
        ram_end: u64,
    },
}

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpuError::NoGranule { granule, field } => write!(
                f,
                "the CPU has no {} translation granule (ID_AA64MMFR0_EL1.{} = {:#x}): build a flavour with \
                 another page size or choose another CPU",
                granule.name(),
                tgran_name(granule),
                field
            ),
            CpuError::UnknownPaRange(v) => write!(f, "ID_AA64MMFR0_EL1.PARange = {:#x} is not a defined size", v),
            CpuError::RamBeyondPaRange { pa_bits, ram_end } => write!(
                f,
                "RAM ends at {}, above the CPU's {}-bit physical address space",
                crate::fmt::Addr(ram_end),
                pa_bits
            ),
        }
    }
}

/// The name of the ID_AA64MMFR0_EL1 field for `g`.
pub const fn tgran_name(g: Granule) -> &'static str {
    match g {
        Granule::K4 => "TGran4",
        Granule::K16 => "TGran16",
        Granule::K64 => "TGran64",
    }
}

/// The 4-bit TGran field for `g`: bits 31:28 (4K), 23:20 (16K), 27:24 (64K).
pub const fn tgran_field(mmfr0: u64, g: Granule) -> u64 {
    let shift = match g {
        Granule::K4 => 28,
        Granule::K16 => 20,
        Granule::K64 => 24,
    };
    (mmfr0 >> shift) & 0xf
}

/// True if the CPU implements granule `g` for stage-1 translation. TGran4 and
/// TGran64 are signed (0 = present, 1 = present with 52-bit addresses for
/// TGran4, 0xf = absent: present if the value is 0..=7); TGran16 is unsigned
/// (0 = absent, 1 = present, 2 = present with 52-bit addresses).
pub const fn has_granule(mmfr0: u64, g: Granule) -> bool {
    let v = tgran_field(mmfr0, g);
    match g {
        Granule::K4 | Granule::K64 => v <= 7,
        Granule::K16 => v >= 1,
    }
}

/// The physical address size ID_AA64MMFR0_EL1.PARange (bits 3:0) gives,
/// or `None` for a value the architecture does not define.
pub const fn pa_bits(mmfr0: u64) -> Option<u32> {
    match mmfr0 & 0xf {
        0 => Some(32),
        1 => Some(36),
        2 => Some(40),
        3 => Some(42),
        4 => Some(44),
        5 => Some(48),
        6 => Some(52),
        7 => Some(56),
        _ => None,
    }
}

/// True if the CPU has FEAT_LVA: ID_AA64MMFR2_EL1.VARange (bits 19:16) = 1,
/// 52-bit VAs with the 64 KiB granule.
pub const fn has_lva(mmfr2: u64) -> bool {
    (mmfr2 >> 16) & 0xf == 1
}

/// The check made before the MMU is turned on: the granule must exist.
/// Returns `vabits_actual` for the flavour on this CPU.
pub const fn check_early(layout: &Layout, mmfr0: u64, mmfr2: u64) -> Result<u32, CpuError> {
    let g = layout.granule();
    if !has_granule(mmfr0, g) {
        return Err(CpuError::NoGranule { granule: g, field: tgran_field(mmfr0, g) });
    }
    Ok(layout.vabits_actual(has_lva(mmfr2)))
}

/// The check made once RAM is known: every byte of it must be addressable.
/// Returns the CPU's physical address size.
pub const fn check_ram(mmfr0: u64, ram_end: u64) -> Result<u32, CpuError> {
    let Some(bits) = pa_bits(mmfr0) else {
        return Err(CpuError::UnknownPaRange(mmfr0 & 0xf));
    };
    // `bits` is at most 56, so the shift cannot overflow.
    if ram_end > 1 << bits {
        return Err(CpuError::RamBeyondPaRange { pa_bits: bits, ram_end });
    }
    Ok(bits)
}
