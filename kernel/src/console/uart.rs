//! The console device: whichever UART `vakern_mm::console` found in the
//! device tree (or on the command line), or semihosting. `printk` holds one
//! [`Uart`] and calls it without knowing which it is.
//!
//! May use: the drivers beside it and `arch::semihosting`.

use crate::console::bcm2835_aux::MiniUart;
use crate::console::cadence::Cadence;
use crate::console::pl011::Pl011;
use vakern_mm::console::UartKind;

/// Size of a UART's MMIO window, for `ioremap`: its registers lie in one
/// aligned 4 KiB block, whatever the page size.
pub const MMIO_SIZE: u64 = 0x1000;

/// A console device.
pub enum Uart {
    /// A PL011.
    Pl011(Pl011),
    /// A Cadence UART.
    Cadence(Cadence),
    /// A BCM2835 mini UART.
    MiniUart(MiniUart),
    /// QEMU's semihosting console (write only).
    Semihosting,
}

impl Uart {
    /// The driver for `kind` at the mapped virtual address `va`.
    ///
    /// # Safety
    /// `va` must map that UART's registers as Device memory for as long as
    /// the value is used.
    pub unsafe fn new(kind: UartKind, va: u64) -> Uart {
        // SAFETY: the caller's guarantee, passed on.
        unsafe {
            match kind {
                UartKind::Pl011 => Uart::Pl011(Pl011::new(va)),
                UartKind::Cadence => Uart::Cadence(Cadence::new(va)),
                UartKind::Bcm2835Aux => Uart::MiniUart(MiniUart::new(va)),
            }
        }
    }

    /// Make it ready to send and receive.
    pub fn init(&self) {
        match self {
            Uart::Pl011(u) => u.init(),
            Uart::Cadence(u) => u.init(),
            Uart::MiniUart(_) | Uart::Semihosting => {}
        }
    }

    /// The registers' virtual address (None for semihosting).
    pub fn base(&self) -> Option<u64> {
        match self {
            Uart::Pl011(u) => Some(u.base()),
            Uart::Cadence(u) => Some(u.base()),
            Uart::MiniUart(u) => Some(u.base()),
            Uart::Semihosting => None,
        }
    }

    /// Send one byte.
    pub fn putc(&self, b: u8) {
        match self {
            Uart::Pl011(u) => u.putc(b),
            Uart::Cadence(u) => u.putc(b),
            Uart::MiniUart(u) => u.putc(b),
            Uart::Semihosting => crate::arch::semihosting::writec(b),
        }
    }

    /// A received byte, if one is waiting (semihosting: never).
    pub fn getc(&self) -> Option<u8> {
        match self {
            Uart::Pl011(u) => u.getc(),
            Uart::Cadence(u) => u.getc(),
            Uart::MiniUart(u) => u.getc(),
            Uart::Semihosting => None,
        }
    }

    /// Wait until everything sent has left.
    pub fn flush(&self) {
        match self {
            Uart::Pl011(u) => u.flush(),
            Uart::Cadence(u) => u.flush(),
            Uart::MiniUart(u) => u.flush(),
            Uart::Semihosting => {}
        }
    }
}
