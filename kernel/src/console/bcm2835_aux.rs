//! The BCM2835 auxiliary mini UART (`brcm,bcm2835-aux-uart`): the console
//! Linux's Raspberry Pi 3 tree names (`serial1`), found through the device
//! tree by `vakern_mm::console`.
//!
//! The device tree's `reg` points at the UART's own registers inside the
//! auxiliary block (0x3f21_5040 on the BCM2837), so the data register is at
//! offset 0 and the line status at 0x14. The firmware (or QEMU) has set the
//! baud rate and enabled the UART; the driver only polls.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields! {u32,
    /// Line status register.
    LSR [
        /// Transmitter idle (FIFO empty, nothing being sent).
        TX_IDLE OFFSET(6) NUMBITS(1) [],
        /// Transmit FIFO can take a byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// A received byte is waiting.
        DATA_READY OFFSET(0) NUMBITS(1) []
    ]
}

tock_registers::register_structs! {
    /// The mini UART's registers (from `AUX_MU_IO`).
    #[allow(non_snake_case)]
    pub Registers {
        (0x000 => IO: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x014 => LSR: ReadOnly<u32, LSR::Register>),
        (0x018 => @END),
    }
}

/// A mini UART at a mapped virtual address.
pub struct MiniUart {
    regs: *const Registers,
}

// SAFETY: the console lock serializes all access.
unsafe impl Send for MiniUart {}

impl MiniUart {
    /// # Safety
    /// `base` must map the mini UART's registers (from `AUX_MU_IO`) as
    /// Device memory for as long as this value is used.
    pub const unsafe fn new(base: u64) -> MiniUart {
        MiniUart { regs: base as *const Registers }
    }

    fn regs(&self) -> &Registers {
        // SAFETY: guaranteed by `new`'s contract.
        unsafe { &*self.regs }
    }

    /// The register block's virtual address.
    pub fn base(&self) -> u64 {
        self.regs as u64
    }

    /// Send one byte, waiting until the FIFO has room.
    pub fn putc(&self, b: u8) {
        while !self.regs().LSR.is_set(LSR::TX_EMPTY) {
            core::hint::spin_loop();
        }
        self.regs().IO.set(b as u32);
    }

    /// A received byte, if one is waiting.
    pub fn getc(&self) -> Option<u8> {
        if self.regs().LSR.is_set(LSR::DATA_READY) {
            Some(self.regs().IO.get() as u8)
        } else {
            None
        }
    }

    /// Wait until everything sent has left the UART.
    pub fn flush(&self) {
        while !self.regs().LSR.is_set(LSR::TX_IDLE) {
            core::hint::spin_loop();
        }
    }
}
