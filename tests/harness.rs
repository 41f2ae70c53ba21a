//! Harness tests: a pass means that input piped into `cargo run` or typed by
//! the test harness reaches the kernel's monitor and nothing else. QEMU's
//! own monitor, which can run host commands, never sees it: the escape
//! `Ctrl-A C` followed by a monitor command is a line of kernel input, no
//! QEMU banner or prompt appears, the host command does not run, and
//! `Ctrl-A X` does not stop QEMU. These boot the kernel in QEMU through the
//! launcher binary itself and through `Machine::run_with_input`.

mod common;
use common::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// A path in the temporary directory that nothing has created.
fn unique_path(tag: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let p = std::env::temp_dir().join(format!("vakern-{tag}-{}-{nanos}", std::process::id()));
    assert!(!p.exists(), "{} already exists", p.display());
    p
}

/// Keystrokes that would drive QEMU's monitor if it were multiplexed on the
/// console: Ctrl-A X (quit), then `help` for the kernel, then Ctrl-A C
/// (switch to the monitor) with `info version` and a `migrate` that runs a
/// host command creating `file`, then one more line for the kernel.
fn escape_attempt(file: &std::path::Path) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"\x01x\n");
    v.extend_from_slice(b"help\n");
    v.extend_from_slice(b"\x01cinfo version\n");
    v.extend_from_slice(format!("\x01cmigrate \"exec:touch {}\"\n", file.display()).as_bytes());
    v.extend_from_slice(b"pa _text\n");
    v
}

/// What must hold of the console after `escape_attempt(file)`.
fn check_only_the_kernel_saw_it(console: &str, file: &std::path::Path) {
    // Ctrl-A X did not stop QEMU: the kernel answered the lines after it.
    has(
        console,
        &[
            "commands (case does not matter; help CMD for one):",
            "__pa(0xffff_0000_0800_0000) = 0x0000_0000_4020_0000",
            "end of input: powering off",
        ],
    );
    // The monitor-command lines were kernel input: echoed at the kernel's
    // prompt and refused as unknown kernel commands.
    for line in ["info version", &format!("migrate \"exec:touch {}\"", file.display())] {
        let echoed = console.lines().find(|l| l.starts_with("vakern> ") && l.contains(line));
        assert!(echoed.is_some(), "the kernel did not receive {line:?}:\n{console}");
    }
    assert!(count(console, "error: unknown command") >= 2, "the kernel did not refuse both lines:\n{console}");
    // QEMU's monitor never answered.
    for qemu in ["(qemu)", "QEMU 7", "QEMU emulator", "monitor - type 'help'"] {
        assert!(!console.contains(qemu), "QEMU's monitor answered ({qemu:?}):\n{console}");
    }
    // And the host command did not run.
    assert!(!file.exists(), "the host command ran: {} exists", file.display());
}

#[test]
fn piped_input_to_cargo_run_never_reaches_qemu_monitor() {
    kernel(false); // build once before timing out the launcher
    let file = unique_path("escape-launcher");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vakern"))
        .args(["--timeout", "120"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the launcher");
    let input = escape_attempt(&file);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for the launcher");
    writer.join().unwrap();
    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "")
        + &String::from_utf8_lossy(&out.stderr).replace('\r', "");
    let _ = std::fs::remove_file(&file);
    // Exit code 0 comes from the kernel powering off at end of input.
    assert_eq!(out.status.code(), Some(0), "launcher exit code; output:\n{console}");
    check_only_the_kernel_saw_it(&console, &file);
}

#[test]
fn harness_input_never_reaches_qemu_monitor() {
    let k = kernel(false);
    let file = unique_path("escape-harness");
    let out = machine().run_with_input(&k.image, Some(&escape_attempt(&file))).unwrap();
    let _ = std::fs::remove_file(&file);
    out.expect_code(0).unwrap();
    check_only_the_kernel_saw_it(&out.console, &file);
}

#[test]
fn launcher_usage_error_is_64() {
    let out = Command::new(env!("CARGO_BIN_EXE_vakern")).arg("--no-such-option").output().unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_vakern")).args(["--timeout", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", String::from_utf8_lossy(&out.stderr));
}
