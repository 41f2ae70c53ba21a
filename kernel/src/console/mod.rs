//! The console: the PL011 UART ([`pl011`]), the kernel log with its
//! levels and macros ([`printk`]: `pr_info!`, `println!`, `fatal!`), and
//! small formatting helpers ([`fmt`]). It exists from the first line of
//! `start_kernel` on (through a fixmap slot, later through `ioremap`).
//!
//! May use: `arch` (semihosting for `fatal!`). Everything from `mm` up may
//! use it; `early` may not (it runs before any console exists).

pub mod fmt;
pub mod pl011;
pub mod printk;
