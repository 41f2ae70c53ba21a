//! The console: the UART drivers ([`pl011`], [`cadence`], [`bcm2835_aux`])
//! behind one device ([`uart`]) that the device tree chooses, the kernel log with its
//! levels and macros ([`printk`]: `pr_info!`, `println!`, `fatal!`), and
//! small formatting helpers ([`fmt`]). It exists from the first line of
//! `start_kernel` on (through a fixmap slot, later through `ioremap`).
//!
//! May use: `arch` (semihosting for `fatal!`). Everything from `mm` up may
//! use it; `early` may not (it runs before any console exists).

pub mod bcm2835_aux;
pub mod cadence;
pub mod fmt;
pub mod pl011;
pub mod printk;
pub mod uart;
