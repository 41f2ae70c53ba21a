//! The Cadence UART (`cdns,uart-r1p12`, `xlnx,xuartps`): the ZynqMP's
//! console, found through the device tree by `vakern_mm::console`.
//!
//! Reached like every console, first through the fixmap's early-console slot
//! and later through `ioremap`. At reset the control register has the
//! transmitter disabled, so `init` enables both directions; QEMU's model
//! needs no baud-rate setup. Polled, no interrupts.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::registers::ReadWrite;

register_bitfields! {u32,
    /// Control register.
    CR [
        /// Transmitter disable.
        TXDIS OFFSET(5) NUMBITS(1) [],
        /// Transmitter enable.
        TXEN OFFSET(4) NUMBITS(1) [],
        /// Receiver disable.
        RXDIS OFFSET(3) NUMBITS(1) [],
        /// Receiver enable.
        RXEN OFFSET(2) NUMBITS(1) []
    ],
    /// Channel status register.
    SR [
        /// Transmit FIFO full.
        TXFULL OFFSET(4) NUMBITS(1) [],
        /// Transmit FIFO empty.
        TXEMPTY OFFSET(3) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXEMPTY OFFSET(1) NUMBITS(1) []
    ]
}

tock_registers::register_structs! {
    /// The Cadence UART register block.
    #[allow(non_snake_case)]
    pub Registers {
        (0x000 => CR: ReadWrite<u32, CR::Register>),
        (0x004 => _reserved0),
        (0x02c => SR: ReadWrite<u32, SR::Register>),
        (0x030 => FIFO: ReadWrite<u32>),
        (0x034 => @END),
    }
}

/// A Cadence UART at a mapped virtual address.
pub struct Cadence {
    regs: *const Registers,
}

// SAFETY: the console lock serializes all access.
unsafe impl Send for Cadence {}

impl Cadence {
    /// # Safety
    /// `base` must map a Cadence UART's registers as Device memory for as
    /// long as this value is used.
    pub const unsafe fn new(base: u64) -> Cadence {
        Cadence { regs: base as *const Registers }
    }

    fn regs(&self) -> &Registers {
        // SAFETY: guaranteed by `new`'s contract.
        unsafe { &*self.regs }
    }

    /// Enable transmit and receive.
    pub fn init(&self) {
        self.regs().CR.write(CR::TXEN::SET + CR::RXEN::SET);
    }

    /// The register block's virtual address.
    pub fn base(&self) -> u64 {
        self.regs as u64
    }

    /// Send one byte, waiting while the FIFO is full.
    pub fn putc(&self, b: u8) {
        while self.regs().SR.is_set(SR::TXFULL) {
            core::hint::spin_loop();
        }
        self.regs().FIFO.set(b as u32);
    }

    /// A received byte, if one is waiting.
    pub fn getc(&self) -> Option<u8> {
        if self.regs().SR.is_set(SR::RXEMPTY) {
            None
        } else {
            Some(self.regs().FIFO.get() as u8)
        }
    }

    /// Wait until the transmit FIFO has drained.
    pub fn flush(&self) {
        while !self.regs().SR.is_set(SR::TXEMPTY) {
            core::hint::spin_loop();
        }
    }
}
