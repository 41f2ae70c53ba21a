//! The console and leveled logging.
//!
//! Messages go to the console device once `console_init` has given it one
//! (earlycon through the fixmap at first, the ioremapped address later).
//! Each line carries a timestamp from the generic timer and is printed only
//! if its level is at or above the `loglevel=` boot option, as in Linux.
//! Before a console exists nothing can be printed; fatal errors then leave
//! through the semihosting exit code alone.

use crate::console::uart::Uart;
use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTPCT_EL0};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use spin::Mutex;

/// Log levels, most severe first (Linux's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Something failed; the kernel usually stops.
    Err = 3,
    /// Something is odd but the kernel carries on.
    Warn = 4,
    /// Normal boot messages.
    Info = 6,
    /// Details for debugging.
    Debug = 7,
}

static CONSOLE: Mutex<Option<Uart>> = Mutex::new(None);
static LOGLEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static BOOT_COUNTER: AtomicU64 = AtomicU64::new(0);
/// Number of messages at `Warn` or worse printed so far.
pub static WARNINGS: AtomicU64 = AtomicU64::new(0);

/// Use `uart` as the console from now on.
pub fn console_init(uart: Uart) {
    uart.init();
    if BOOT_COUNTER.load(Ordering::Relaxed) == 0 {
        BOOT_COUNTER.store(CNTPCT_EL0.get(), Ordering::Relaxed);
    }
    *CONSOLE.lock() = Some(uart);
}

/// Physical address of the console UART's registers, once one is found.
static CONSOLE_PA: spin::Once<u64> = spin::Once::new();

/// Record the console UART's physical address (for the self-tests).
pub fn set_console_pa(pa: u64) {
    CONSOLE_PA.call_once(|| pa);
}

/// Physical address of the console UART's registers, if the console is a UART.
pub fn console_pa() -> Option<u64> {
    CONSOLE_PA.get().copied()
}

/// Virtual address of the console's registers, if there is a console.
pub fn console_base() -> Option<u64> {
    CONSOLE.lock().as_ref().and_then(Uart::base)
}

/// Print only messages at `level` or more severe.
pub fn set_loglevel(level: u8) {
    LOGLEVEL.store(level, Ordering::Relaxed);
}

/// Read a byte from the console, if one is waiting.
pub fn getc() -> Option<u8> {
    CONSOLE.lock().as_ref().and_then(Uart::getc)
}

struct Writer<'a>(&'a Uart);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.putc(b'\r');
            }
            self.0.putc(b);
        }
        Ok(())
    }
}

fn with_console(f: impl FnOnce(&mut Writer)) {
    // A panic or fault report must get out even if the lock is held by the
    // code that failed: after a while, print without it.
    let mut spins = 0u32;
    loop {
        if let Some(guard) = CONSOLE.try_lock() {
            if let Some(uart) = guard.as_ref() {
                f(&mut Writer(uart));
            }
            return;
        }
        spins += 1;
        if spins > 1_000_000 {
            // SAFETY: only on the failure path, when the holder is stuck;
            // interleaved output beats none.
            unsafe { CONSOLE.force_unlock() };
            spins = 0;
        }
        core::hint::spin_loop();
    }
}

/// Print without level or timestamp (the monitor, tables).
pub fn print(args: fmt::Arguments) {
    with_console(|w| {
        let _ = w.write_fmt(args);
    });
}

/// Seconds.microseconds since the console came up, like Linux's printk time.
fn timestamp() -> (u64, u64) {
    let freq = CNTFRQ_EL0.get().max(1);
    let ticks = CNTPCT_EL0.get().wrapping_sub(BOOT_COUNTER.load(Ordering::Relaxed));
    (ticks / freq, (ticks % freq) * 1_000_000 / freq)
}

/// Print one log line at `level`.
pub fn log(level: Level, args: fmt::Arguments) {
    if level <= Level::Warn {
        WARNINGS.fetch_add(1, Ordering::Relaxed);
    }
    if level as u8 > LOGLEVEL.load(Ordering::Relaxed) {
        return;
    }
    let (s, us) = timestamp();
    let tag = match level {
        Level::Err => "",
        Level::Warn => "WARNING: ",
        _ => "",
    };
    with_console(|w| {
        let _ = write!(w, "[{:5}.{:06}] {}", s, us, tag);
        let _ = w.write_fmt(args);
        let _ = w.write_str("\n");
    });
}

/// Print without a newline or level.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::printk::print(format_args!($($arg)*)) };
}

/// Print a line without level or timestamp.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::printk::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Log an error.
#[macro_export]
macro_rules! pr_err {
    ($($arg:tt)*) => { $crate::console::printk::log($crate::console::printk::Level::Err, format_args!($($arg)*)) };
}

/// Log a warning.
#[macro_export]
macro_rules! pr_warn {
    ($($arg:tt)*) => { $crate::console::printk::log($crate::console::printk::Level::Warn, format_args!($($arg)*)) };
}

/// Log an informational message.
#[macro_export]
macro_rules! pr_info {
    ($($arg:tt)*) => { $crate::console::printk::log($crate::console::printk::Level::Info, format_args!($($arg)*)) };
}

/// Log a debug message (printed with `loglevel=7`).
#[macro_export]
macro_rules! pr_debug {
    ($($arg:tt)*) => { $crate::console::printk::log($crate::console::printk::Level::Debug, format_args!($($arg)*)) };
}

/// Print an error and stop with `code` (a `vakern_mm::exit` code).
#[macro_export]
macro_rules! fatal {
    ($code:expr, $($arg:tt)*) => {{
        $crate::pr_err!($($arg)*);
        $crate::pr_err!("stopping: {} (exit code {})", vakern_mm::exit::describe($code), $code);
        $crate::arch::semihosting::exit($code)
    }};
}
