//! Making sure the machine has what the kernel needs: the Rust target and
//! components (through `rustup toolchain install`, which reads
//! rust-toolchain.toml) and QEMU, GDB and dtc (through apt-get when running
//! as root). When something cannot be installed, the error says the exact
//! command to run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The project root (where rust-toolchain.toml is).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Debian packages the project uses.
pub const APT_PACKAGES: &[&str] = &["qemu-system-arm", "gdb-multiarch", "device-tree-compiler"];
/// The programs those packages provide.
pub const PROGRAMS: &[&str] = &["qemu-system-aarch64", "gdb-multiarch", "dtc"];

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn target_installed(root: &Path) -> bool {
    let out = Command::new("rustc").args(["--print", "sysroot"]).current_dir(root).output();
    match out {
        Ok(o) if o.status.success() => {
            let sysroot = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            sysroot.join("lib/rustlib/aarch64-unknown-none/lib").is_dir()
        }
        _ => false,
    }
}

/// Install the aarch64-unknown-none target if it is missing.
pub fn ensure_target() -> Result<(), String> {
    let root = project_root();
    if target_installed(&root) {
        return Ok(());
    }
    eprintln!("vakern: the aarch64-unknown-none target is missing; running `rustup toolchain install`");
    // Under cargo, the rustup proxy sets RUSTUP_TOOLCHAIN, which would make
    // rustup ignore rust-toolchain.toml (and its target list): drop it.
    let rustup = |args: &[&str]| {
        Command::new("rustup")
            .args(args)
            .current_dir(&root)
            .env_remove("RUSTUP_TOOLCHAIN")
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut ok = rustup(&["toolchain", "install"]);
    if !(ok && target_installed(&root)) {
        ok = rustup(&["target", "add", "aarch64-unknown-none"]);
    }
    if ok && target_installed(&root) {
        Ok(())
    } else {
        Err(format!(
            "the Rust target aarch64-unknown-none is not installed and could not be installed.\n\
             Run this in {}:\n    rustup toolchain install",
            root.display()
        ))
    }
}

/// Install QEMU, gdb-multiarch and dtc if any is missing. Callers from
/// parallel test threads wait for one another, so apt-get runs once.
pub fn ensure_programs() -> Result<(), String> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let missing: Vec<&str> = PROGRAMS.iter().copied().filter(|p| !runs(p, "--version")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", APT_PACKAGES.join(" "));
    if !is_root() {
        return Err(format!(
            "missing program(s): {}. Install them with:\n    sudo apt-get update && sudo {}",
            missing.join(", "),
            install
        ));
    }
    eprintln!("vakern: installing {} (missing: {})", APT_PACKAGES.join(" "), missing.join(", "));
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive {install} -qq"))
        .stdout(Stdio::null())
        .status();
    let still: Vec<&str> = PROGRAMS.iter().copied().filter(|p| !runs(p, "--version")).collect();
    match status {
        Ok(s) if s.success() && still.is_empty() => Ok(()),
        _ => Err(format!(
            "could not install {} (still missing: {}). Run:\n    apt-get update && {}",
            APT_PACKAGES.join(" "),
            still.join(", "),
            install
        )),
    }
}

/// Everything, once per process.
pub fn ensure_all() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| ensure_target().and_then(|_| ensure_programs())).clone()
}
