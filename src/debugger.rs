//! `cargo run -- --gdb`: gdb-multiarch in the terminal, attached to a paused QEMU.
//!
//! The launcher has started QEMU with its console in a file and in a process
//! group of its own (see `Machine::console_file`), so the terminal belongs to
//! GDB: Ctrl-C reaches GDB, which stops the kernel, and not QEMU. The
//! launcher itself ignores Ctrl-C while GDB runs (it would otherwise die and
//! leave GDB behind) and GDB gets the default disposition back. When GDB
//! ends, the command's exit code is the kernel's if the kernel exited;
//! otherwise QEMU is stopped, and the launcher exits 0 if GDB ended well
//! and with its own failure code if not. Host only; uses `std` and `libc`
//! (signals).

use crate::tools::project_root;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Ignores Ctrl-C (SIGINT) in this process while it lives.
struct IgnoreInterrupt(libc::sighandler_t);

impl IgnoreInterrupt {
    fn new() -> Self {
        // SAFETY: sets the disposition of SIGINT to SIG_IGN; no handler runs.
        IgnoreInterrupt(unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) })
    }
}

impl Drop for IgnoreInterrupt {
    fn drop(&mut self) {
        // SAFETY: restores the disposition saved by new().
        unsafe { libc::signal(libc::SIGINT, self.0) };
    }
}

/// The gdb-multiarch command that loads `elf`, the helpers and attaches to
/// `target` (":1234" or a socket path). Used by the launcher and the tests.
pub fn gdb_command(elf: &Path, target: &str) -> Command {
    let mut c = Command::new("gdb-multiarch");
    c.arg("-q").arg(elf);
    c.arg("-ex").arg(format!("source {}", project_root().join("scripts/gdb/vakern.py").display()));
    c.arg("-ex").arg(format!("target remote {target}"));
    c
}

/// Run GDB attached to the paused `qemu` on `port`; then stop QEMU if it
/// still runs. `Ok(Some(code))`: the kernel exited with `code`; `Ok(None)`:
/// GDB ended (without an error) before the kernel did; `Err`: GDB could not
/// start or ended with an error, and the kernel did not exit.
pub fn attach(elf: &Path, port: u16, qemu: &mut Child) -> Result<Option<i32>, String> {
    eprintln!("vakern: QEMU is paused at the first instruction; console output goes to target/console.log");
    eprintln!("vakern: in GDB: `vk-phys-symbols` for symbols before the MMU is on, `vk-help` for the helpers");
    let status = {
        let _ignore = IgnoreInterrupt::new();
        let mut gdb = gdb_command(elf, &format!(":{port}"));
        // SAFETY: runs in the child between fork and exec; signal() is
        // async-signal-safe. GDB must not inherit the ignored Ctrl-C.
        unsafe {
            gdb.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        gdb.status()
    };
    // QEMU exits as soon as the kernel does; give it a moment after GDB.
    let deadline = Instant::now() + Duration::from_millis(500);
    let kernel = loop {
        match qemu.try_wait() {
            Ok(Some(s)) => break s.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = qemu.kill();
                let _ = qemu.wait();
                break None;
            }
        }
    };
    match (kernel, status) {
        (Some(code), _) => {
            if code != 0 {
                eprintln!("vakern: kernel exited with code {code} ({})", vakern_mm::exit::describe(code as u32));
            }
            Ok(Some(code))
        }
        (None, Ok(s)) if s.success() => {
            eprintln!("vakern: GDB ended before the kernel did; QEMU stopped");
            Ok(None)
        }
        (None, Ok(s)) => Err(format!("GDB ended with {s} before the kernel did; QEMU stopped")),
        (None, Err(e)) => Err(format!("cannot start gdb-multiarch: {e}")),
    }
}
