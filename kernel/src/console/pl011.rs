//! The PL011 UART (`arm,pl011`): QEMU virt's console.
//!
//! The register block is described once with tock-registers. The UART is
//! reached first through a fixmap slot (earlycon, `setup/start_kernel.rs`) and, once the
//! identity map is gone and vmalloc exists, through `ioremap` (`mm/vmalloc.rs`).
//! QEMU's PL011 needs no baud-rate setup; the driver enables the transmitter
//! and the receiver and polls.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// Flag register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Control register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ]
}

tock_registers::register_structs! {
    /// The PL011 register block.
    #[allow(non_snake_case)]
    pub Registers {
        (0x000 => DR: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x018 => FR: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x030 => CR: ReadWrite<u32, CR::Register>),
        (0x034 => _reserved2),
        (0x044 => ICR: WriteOnly<u32>),
        (0x048 => @END),
    }
}

/// A PL011 at a mapped virtual address.
pub struct Pl011 {
    regs: *const Registers,
}

// SAFETY: the console lock serializes all access.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must map a PL011's registers as Device memory for as long as
    /// this value is used.
    pub const unsafe fn new(base: u64) -> Pl011 {
        Pl011 { regs: base as *const Registers }
    }

    fn regs(&self) -> &Registers {
        // SAFETY: guaranteed by `new`'s contract.
        unsafe { &*self.regs }
    }

    /// Enable transmit and receive.
    pub fn init(&self) {
        self.regs().ICR.set(0x7ff);
        self.regs().CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// The register block's virtual address.
    pub fn base(&self) -> u64 {
        self.regs as u64
    }

    /// Send one byte, waiting while the FIFO is full.
    pub fn putc(&self, b: u8) {
        while self.regs().FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs().DR.set(b as u32);
    }

    /// A received byte, if one is waiting.
    pub fn getc(&self) -> Option<u8> {
        if self.regs().FR.is_set(FR::RXFE) {
            None
        } else {
            Some(self.regs().DR.get() as u8)
        }
    }

    /// Wait until everything sent has left the UART.
    pub fn flush(&self) {
        while self.regs().FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }
}
