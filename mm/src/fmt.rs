//! How addresses and sizes are printed everywhere: `0xffff_8000_4020_0000`
//! and `1 GiB`, in the boot log, the reports and the launcher alike.

use core::fmt;

/// An address printed as 16 hex digits in groups of four.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Addr(pub u64);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(f, "0x{:04x}_{:04x}_{:04x}_{:04x}", v >> 48, (v >> 32) & 0xffff, (v >> 16) & 0xffff, v & 0xffff)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A size printed in the largest binary unit that divides it (or with one decimal).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 5] = [("PiB", 50), ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
        let v = self.0;
        for (name, shift) in UNITS {
            if v >> shift != 0 {
                return if v & ((1u64 << shift) - 1) == 0 {
                    write!(f, "{} {}", v >> shift, name)
                } else {
                    let tenths = (v as u128 * 10) >> shift;
                    write!(f, "{}.{} {}", tenths / 10, tenths % 10, name)
                };
            }
        }
        write!(f, "{} B", v)
    }
}

impl fmt::Debug for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
