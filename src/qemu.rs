//! Running the kernel in qemu-system-aarch64.
//!
//! A [`Machine`] describes one boot: RAM (plain `-m`, NUMA nodes, or a
//! reserve=off backend above 16 GiB), CPUs, CPU model, EL2 entry, command
//! line, device tree, GDB. Every run has a timeout that kills QEMU; the
//! captured console is returned either way, so a failing or hung kernel
//! shows its last lines.
//!
//! Device trees reach the kernel in one of three ways:
//! - QEMU's own (default), with `-append` as `/chosen/bootargs`;
//! - `--dtb FILE` through QEMU's `-dtb`: QEMU still rewrites the memory
//!   nodes and `/chosen` from its own settings;
//! - `--raw-dtb FILE` (or `--no-dtb`): QEMU loads the Image and the file
//!   verbatim (`-device loader`) and a 32-byte boot loader in the flash
//!   (`-bios`) enters the kernel with x0 = the file's address (or 0). This
//!   is what a firmware would do, and the only way to hand the kernel a tree
//!   whose memory nodes or structure QEMU would not accept or would rewrite.
//!   A command line (`append`, which carries `test=`, `poweroff` and
//!   `kaslr_seed=`) replaces `/chosen/bootargs` in a copy of the file, as
//!   QEMU's `-append` does in its own tree; without one the file is handed
//!   over untouched. With no tree at all there is nowhere to put a command
//!   line, so [`Machine::validate`] refuses one.
//!
//! Sizes follow QEMU's rule everywhere: a bare number is MiB, or a K, M, G or
//! T suffix; QEMU is always given whole MiB with the unit written out.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::boards::{fdt_edit, linux_dtbs, Board, VIRT};

/// Physical address the boot loader shim places the kernel at.
pub const SHIM_KERNEL_PA: u64 = 0x4020_0000;
/// Physical address the boot loader shim places a raw DTB at.
pub const SHIM_DTB_PA: u64 = 0x4400_0000;
/// The byte the monitor reads as end of input (Ctrl-D).
pub const END_OF_INPUT: u8 = 0x04;
/// Above this much RAM QEMU gets a memory backend that reserves nothing.
pub const BACKEND_ABOVE: u64 = 16 << 30;
/// Where the virt machine's RAM starts.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Least RAM accepted: the Image, its page tables, the heap and a tree.
pub const MIN_RAM: u64 = 64 << 20;

/// CPU models that run AArch64 code at EL1: QEMU 7.2's (`-cpu help` lists
/// 32-bit-only ones too, such as cortex-a15 and cortex-a7, on which the
/// kernel could never start), and later QEMUs' for whoever has one.
pub const AARCH64_CPUS: &[&str] = &[
    "a64fx",
    "cortex-a35",
    "cortex-a53",
    "cortex-a55",
    "cortex-a57",
    "cortex-a72",
    "cortex-a76",
    "cortex-a710",
    "max",
    "neoverse-n1",
    "neoverse-n2",
    "neoverse-v1",
];

/// True if QEMU wrote `line` on stderr to say it refused to start (bad
/// option, unknown CPU, unreadable file), as opposed to a warning.
pub fn is_qemu_error(line: &str) -> bool {
    line.starts_with("qemu-system-aarch64:") && !line.contains("warning:")
}

/// How the device tree is provided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DtbSource {
    /// QEMU generates it.
    #[default]
    Qemu,
    /// QEMU's `-dtb FILE` (QEMU fixes up memory and /chosen).
    QemuFile(PathBuf),
    /// Verbatim, through the boot loader shim.
    Raw(PathBuf),
    /// No device tree at all: x0 = 0.
    None,
}

/// Where the kernel's KASLR seed comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kaslr {
    /// No seed (`-M virt,dtb-randomness=off`): the image stays at
    /// KIMAGE_VADDR, addresses are the same every boot.
    #[default]
    Off,
    /// QEMU's random `/chosen/kaslr-seed`, new every boot.
    Random,
    /// A fixed seed (`kaslr_seed=N` on the command line), for reproducible runs.
    Seed(u64),
}

/// One QEMU boot.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The machine: QEMU's virt or a board model ([`crate::boards`]).
    pub board: &'static Board,
    /// RAM size, as QEMU writes it ("1G", "128M").
    pub ram: String,
    /// NUMA node sizes; their sum is the RAM.
    pub numa: Vec<String>,
    /// CPU count.
    pub smp: u32,
    /// CPU model.
    pub cpu: String,
    /// Enter at EL2 (`virtualization=on`).
    pub el2: bool,
    /// KASLR seed.
    pub kaslr: Kaslr,
    /// Kernel command line.
    pub append: String,
    /// Device tree.
    pub dtb: DtbSource,
    /// Wait for GDB on this TCP port (`-S -gdb`).
    pub gdb_port: Option<u16>,
    /// Wait for GDB on this Unix socket instead (`-S -gdb unix:PATH`): a
    /// name no other process can take, unlike a port.
    pub gdb_socket: Option<PathBuf>,
    /// Deterministic instruction counting (`-icount shift=0`).
    pub icount: bool,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Where the boot loader shim loads the Image (raw DTB or no DTB only).
    pub kernel_pa: u64,
    /// Send the console to this file instead of stdio (used with `--gdb`,
    /// where GDB has the terminal). QEMU then runs in a process group of its
    /// own, out of reach of the terminal's Ctrl-C, and dies with its parent.
    pub console_file: Option<PathBuf>,
    /// Keep the console on stdio and copy it to this file too (`--gdb-wait`).
    pub console_log: Option<PathBuf>,
    /// Stdio is a person's terminal: multiplex QEMU's own monitor on it, so
    /// that Ctrl-A X stops QEMU (`-nographic`). Off (the default), stdio is
    /// the serial console alone, with no monitor anywhere: bytes on stdin
    /// reach only the kernel, never QEMU, whatever they are.
    pub terminal: bool,
    /// Extra QEMU arguments.
    pub extra: Vec<String>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            board: &VIRT,
            ram: "1G".into(),
            numa: Vec::new(),
            smp: 1,
            cpu: "cortex-a72".into(),
            el2: false,
            kaslr: Kaslr::Off,
            append: String::new(),
            dtb: DtbSource::Qemu,
            gdb_port: None,
            gdb_socket: None,
            icount: false,
            timeout: Duration::from_secs(60),
            kernel_pa: SHIM_KERNEL_PA,
            console_file: None,
            console_log: None,
            terminal: false,
            extra: Vec::new(),
        }
    }
}

/// Parse a size with QEMU's rule: a bare number is MiB, otherwise the
/// suffix K, M, G or T (either case) gives the unit. Returns bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("bad size {s:?}: the unit must be K, M, G or T (a bare number is MiB)")),
            };
            (&s[..i], shift)
        }
        _ => (s, 20),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    n.checked_shl(shift).filter(|v| v >> shift == n && *v > 0).ok_or(format!("bad size {s:?}"))
}

/// A size for QEMU in whole MiB with the unit written out (QEMU reads a
/// bare number as MiB for `-m` but as bytes for a memory backend's `size=`).
fn qemu_size(s: &str) -> Result<String, String> {
    let b = parse_size(s)?;
    if !b.is_multiple_of(1 << 20) {
        return Err(format!("size {s:?} is not a whole number of MiB"));
    }
    Ok(format!("{}M", b >> 20))
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// QEMU's exit code (the kernel's semihosting code), if it exited.
    pub code: Option<i32>,
    /// True if the timeout killed QEMU.
    pub timed_out: bool,
    /// Everything QEMU printed (console and QEMU's own messages).
    pub console: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Outcome {
    /// The last `n` lines of the console.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `Ok` if QEMU exited with `code`, otherwise an error with the console's tail.
    pub fn expect_code(&self, code: i32) -> Result<&Self, String> {
        match (self.timed_out, self.code) {
            (true, _) => Err(format!(
                "timed out after {:.1} s (expected exit code {code}); last console lines:\n{}",
                self.elapsed.as_secs_f64(),
                self.tail(25)
            )),
            (false, Some(c)) if c == code => Ok(self),
            (false, c) => Err(format!(
                "exit code {} ({}), expected {code}; last console lines:\n{}",
                c.map_or("none".into(), |c| c.to_string()),
                c.map_or("killed", |c| vakern_mm::exit::describe(c as u32)),
                self.tail(25)
            )),
        }
    }
}

/// A QEMU command line and the files written for it alone, which are
/// removed when this is dropped (after QEMU has exited).
#[derive(Debug)]
pub struct Invocation {
    /// The `qemu-system-aarch64` command.
    pub command: Command,
    files: Vec<PathBuf>,
}

impl Invocation {
    /// The files written for this run.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Write `bytes` to a new file in the temporary directory that no other
/// run (thread or process) can be using: the name holds the process id and
/// a per-process counter, and the file is created exclusively.
fn write_own_file(tag: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("vakern-{tag}-{}-{n}.bin", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A KASLR seed for `--kaslr` on a board, where the launcher plays the
/// firmware that would put one in `/chosen/kaslr-seed`: the host's random
/// source, or the clock if it cannot be read.
fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
    }
}

/// The 32-byte boot loader: x0 = DTB (or 0), x1..x3 = 0, jump to the kernel.
pub fn boot_shim(dtb_pa: u64, kernel_pa: u64) -> Vec<u8> {
    let words: [u32; 6] = [
        0x5800_00c0, // ldr x0, #0x18  (the DTB address below)
        0xaa1f_03e1, // mov x1, xzr
        0xaa1f_03e2, // mov x2, xzr
        0xaa1f_03e3, // mov x3, xzr
        0x5800_0084, // ldr x4, #0x10  (the kernel address below)
        0xd61f_0080, // br  x4
    ];
    let mut b: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    b.extend_from_slice(&dtb_pa.to_le_bytes());
    b.extend_from_slice(&kernel_pa.to_le_bytes());
    b
}

impl Machine {
    /// Check the settings before QEMU sees them.
    pub fn validate(&self) -> Result<(), String> {
        let ram = parse_size(&self.ram).map_err(|e| format!("--ram: {e}"))?;
        qemu_size(&self.ram).map_err(|e| format!("--ram: {e}"))?;
        if ram < MIN_RAM {
            return Err(format!("--ram {}: the kernel needs at least {} MiB", self.ram, MIN_RAM >> 20));
        }
        if !self.numa.is_empty() {
            let mut sum = 0u64;
            for s in &self.numa {
                qemu_size(s).map_err(|e| format!("--numa: {e}"))?;
                sum += parse_size(s)?;
            }
            if sum != ram {
                return Err(format!("--numa: the nodes add up to {} MiB, --ram is {} MiB", sum >> 20, ram >> 20));
            }
        }
        if self.is_board() {
            self.board.check_ram(ram)?;
            self.board.check_smp(self.smp)?;
            if !self.numa.is_empty() {
                return Err(format!("--numa: only the virt machine has NUMA nodes, not {}", self.board.name));
            }
            if matches!(self.dtb, DtbSource::Raw(_) | DtbSource::None) || self.kernel_pa != SHIM_KERNEL_PA {
                return Err(format!(
                    "--raw-dtb, --no-dtb and --load-addr are for virt; {} always gets its tree verbatim \
                     (Linux's, or --dtb FILE) with the Image at {:#x}",
                    self.board.name, self.board.kernel_pa
                ));
            }
        } else if self.smp == 0 || self.smp > 8 {
            return Err(format!("--smp {}: the virt machine here takes 1 to 8 CPUs", self.smp));
        }
        if self.cpu.is_empty() || !self.cpu.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("--cpu {:?}: not a CPU model name", self.cpu));
        }
        if !AARCH64_CPUS.contains(&self.cpu.as_str()) {
            return Err(format!(
                "--cpu {}: not a 64-bit (AArch64) model the kernel can run on; use one of: {}",
                self.cpu,
                AARCH64_CPUS.join(", ")
            ));
        }
        if self.gdb_port.is_some() && self.gdb_socket.is_some() {
            return Err("GDB on a port and on a socket at once".into());
        }
        if !self.kernel_pa.is_multiple_of(4096) {
            return Err(format!("kernel load address {:#x} is not page aligned", self.kernel_pa));
        }
        if let DtbSource::QemuFile(f) | DtbSource::Raw(f) = &self.dtb {
            if !f.is_file() {
                return Err(format!("device tree file {} does not exist", f.display()));
            }
        }
        let cmdline = !self.full_cmdline().is_empty();
        match &self.dtb {
            DtbSource::Qemu | DtbSource::QemuFile(_) => {
                if self.kernel_pa != SHIM_KERNEL_PA {
                    return Err("a load address needs --raw-dtb or --no-dtb (QEMU places the Image itself)".into());
                }
            }
            DtbSource::None => {
                if cmdline {
                    return Err("with --no-dtb the kernel gets no command line: --append, --poweroff, --test and \
                                --kaslr-seed have nowhere to go"
                        .into());
                }
                if self.kaslr == Kaslr::Random {
                    return Err("--kaslr needs a device tree for QEMU's seed".into());
                }
            }
            DtbSource::Raw(f) => {
                if self.kaslr == Kaslr::Random {
                    return Err(format!(
                        "--kaslr: QEMU writes its seed only into its own tree, not into {}; use --kaslr-seed N",
                        f.display()
                    ));
                }
                let len = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?.len();
                if RAM_BASE + ram < SHIM_DTB_PA + len {
                    return Err(format!(
                        "--raw-dtb is loaded at {SHIM_DTB_PA:#x}, past the end of {} MiB of RAM",
                        ram >> 20
                    ));
                }
                if cmdline {
                    self.raw_tree_with_cmdline(f)?;
                }
            }
        }
        Ok(())
    }

    /// True for the board models (not virt).
    pub fn is_board(&self) -> bool {
        self.board.name != VIRT.name
    }

    /// The kernel command line: [`Machine::full_cmdline`] and, on a board
    /// whose tree lists more CPUs than `--smp` asks for (the Pi always has
    /// all four), `maxcpus=N`.
    pub fn bootargs(&self) -> String {
        let mut append = self.full_cmdline();
        if self.is_board() && self.smp < self.board.smp.1 {
            append = format!("{append} maxcpus={}", self.smp);
        }
        append.trim().to_string()
    }

    /// The tree a board boots with: Linux's for the board (fetched once)
    /// or `--dtb FILE`, with the board's true memory node, the command line
    /// in `/chosen/bootargs` and, with `--kaslr`, a fresh `/chosen/kaslr-seed`.
    pub fn board_tree(&self) -> Result<Vec<u8>, String> {
        let b = self.board;
        let src = match (&self.dtb, b.linux_dtb) {
            (DtbSource::QemuFile(f), _) => f.clone(),
            (_, Some(rel)) => linux_dtbs::ensure(rel)?,
            (_, None) => return Err(format!("{}: no device tree to hand over", b.name)),
        };
        let blob = std::fs::read(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        let ram = parse_size(&self.ram)?;
        let mut t = fdt_edit::Tree::parse(&blob).map_err(|e| format!("{}: {e}", src.display()))?;
        t.set_memory(&b.ram_ranges(ram)).map_err(|e| format!("{}: {e}", src.display()))?;
        t.set_chosen_string("bootargs", &self.bootargs());
        if self.kaslr == Kaslr::Random {
            t.set_chosen_u64("kaslr-seed", random_seed());
        }
        Ok(t.to_blob())
    }

    /// Check where the Image goes against RAM and the raw tree, once its
    /// size in memory (`image_size`, .bss included) is known. Only the raw
    /// and no-tree boots place the Image themselves.
    pub fn check_load(&self, image_size: u64) -> Result<(), String> {
        if matches!(self.dtb, DtbSource::Qemu | DtbSource::QemuFile(_)) {
            return Ok(());
        }
        let ram_end = RAM_BASE + parse_size(&self.ram)?;
        let pa = self.kernel_pa;
        let end = pa.checked_add(image_size).ok_or(format!("--load-addr {pa:#x}: the image wraps"))?;
        if pa < RAM_BASE || end > ram_end {
            return Err(format!(
                "--load-addr {pa:#x}: the image and its .bss ({image_size:#x} bytes) must lie inside RAM \
                 [{RAM_BASE:#x}, {ram_end:#x})"
            ));
        }
        if let DtbSource::Raw(f) = &self.dtb {
            let len = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?.len();
            if pa < SHIM_DTB_PA + len && SHIM_DTB_PA < end {
                return Err(format!(
                    "--load-addr {pa:#x}: the image [{pa:#x}, {end:#x}) overlaps the device tree at \
                     [{SHIM_DTB_PA:#x}, {:#x})",
                    SHIM_DTB_PA + len
                ));
            }
        }
        Ok(())
    }

    /// The command line the kernel gets: `append`, and `kaslr_seed=N` for a fixed seed.
    pub fn full_cmdline(&self) -> String {
        match self.kaslr {
            Kaslr::Seed(seed) => format!("{} kaslr_seed={seed}", self.append).trim().to_string(),
            _ => self.append.trim().to_string(),
        }
    }

    /// A copy of the raw tree `f` whose `/chosen/bootargs` is the command line.
    fn raw_tree_with_cmdline(&self, f: &Path) -> Result<Vec<u8>, String> {
        let blob = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let mut tree = crate::boards::fdt_edit::Tree::parse(&blob).map_err(|e| {
            format!(
                "--raw-dtb {}: cannot write the command line (--append, --poweroff, --test, --kaslr-seed) \
                 into it: {e}",
                f.display()
            )
        })?;
        tree.set_chosen_string("bootargs", &self.full_cmdline());
        Ok(tree.to_blob())
    }

    /// The QEMU command for booting `image`, with the files it needs
    /// (removed when the returned [`Invocation`] is dropped).
    pub fn command(&self, image: &Path) -> Result<Invocation, String> {
        self.validate()?;
        let mut files = Vec::new();
        let ram = parse_size(&self.ram)?;
        let ram_arg = qemu_size(&self.ram)?;
        let mut c = Command::new("qemu-system-aarch64");
        let append = self.bootargs();
        if self.is_board() {
            c.envs(self.board.qemu_env.iter().copied());
            c.args(self.board.qemu_machine_args(ram, self.smp, self.el2)?);
        } else {
            let mut machine = String::from("virt");
            if self.el2 {
                machine.push_str(",virtualization=on");
            }
            if self.kaslr != Kaslr::Random {
                machine.push_str(",dtb-randomness=off");
            }
            c.args(["-M", &machine, "-cpu", &self.cpu, "-smp", &self.smp.to_string()]);
            // Above 16 GiB no backend reserves its memory up front (the host
            // need not have it; the kernel touches little of it).
            let reserve = if ram > BACKEND_ABOVE { ",reserve=off" } else { "" };
            if !self.numa.is_empty() {
                c.args(["-m", &ram_arg]);
                for (i, size) in self.numa.iter().enumerate() {
                    let size = qemu_size(size)?;
                    c.args(["-object", &format!("memory-backend-ram,id=m{i},size={size}{reserve}")]);
                    c.args(["-numa", &format!("node,nodeid={i},memdev=m{i}")]);
                }
            } else if ram > BACKEND_ABOVE {
                c.args(["-object", &format!("memory-backend-ram,id=ram,size={ram_arg}{reserve}")]);
                c.args(["-machine", "memory-backend=ram", "-m", &ram_arg]);
            } else {
                c.args(["-m", &ram_arg]);
            }
        }
        // QEMU's monitor can run host commands (`migrate "exec:…"`), so it
        // is only ever multiplexed on a terminal a person types into; piped
        // input and the tests get a plain serial console and no monitor. On
        // a board the console is the `-serial` its tree names; the other
        // ports go nowhere. `console_log` copies whatever the console shows
        // to a file.
        let log =
            self.console_log.as_ref().map_or(String::new(), |l| format!(",logfile={},logappend=off", qemu_opt(l)));
        let serial = |c: &mut Command, console: &str| {
            if self.is_board() {
                c.args(self.board.serial_args(console));
            } else {
                c.args(["-serial", console]);
            }
        };
        match (&self.console_file, self.terminal) {
            (None, true) if log.is_empty() && !self.is_board() => {
                c.arg("-nographic");
            }
            // What -nographic sets up (console and monitor muxed on stdio), with the log.
            (None, true) => {
                c.args(["-display", "none", "-chardev"]).arg(format!("stdio,id=con0,mux=on{log}"));
                c.args(["-mon", "chardev=con0"]);
                serial(&mut c, "chardev:con0");
            }
            (None, false) => {
                c.args(["-display", "none", "-monitor", "none", "-chardev"]);
                c.arg(format!("stdio,id=console,mux=off,signal=off{log}"));
                serial(&mut c, "chardev:console");
            }
            (Some(f), _) => {
                c.args(["-display", "none", "-monitor", "none"]);
                serial(&mut c, &format!("file:{}", f.display()));
                off_the_terminal(&mut c);
            }
        }
        c.args(["-nic", "none", "-no-reboot"]);
        c.args(["-semihosting-config", "enable=on,target=native"]);
        match &self.dtb {
            _ if self.is_board() => {
                let tree = write_own_file("tree", &self.board_tree()?)?;
                files.push(tree.clone());
                let fw = write_own_file("firmware", &self.board.firmware_blob())?;
                files.push(fw.clone());
                c.args(self.board.handover_args(image, &tree, &fw));
            }
            DtbSource::Qemu | DtbSource::QemuFile(_) => {
                c.arg("-kernel").arg(image);
                if !append.is_empty() {
                    c.args(["-append", &append]);
                }
                if let DtbSource::QemuFile(f) = &self.dtb {
                    c.arg("-dtb").arg(f);
                }
            }
            DtbSource::Raw(_) | DtbSource::None => {
                let dtb_pa = if let DtbSource::Raw(_) = self.dtb { SHIM_DTB_PA } else { 0 };
                let shim = write_own_file("shim", &boot_shim(dtb_pa, self.kernel_pa))?;
                c.arg("-bios").arg(&shim);
                files.push(shim);
                c.args([
                    "-device",
                    &format!("loader,file={},addr={:#x},force-raw=on", image.display(), self.kernel_pa),
                ]);
                if let DtbSource::Raw(f) = &self.dtb {
                    let f = if append.is_empty() {
                        f.clone()
                    } else {
                        let edited = write_own_file("dtb", &self.raw_tree_with_cmdline(f)?)?;
                        files.push(edited.clone());
                        edited
                    };
                    c.args(["-device", &format!("loader,file={},addr={:#x},force-raw=on", f.display(), SHIM_DTB_PA)]);
                }
            }
        }
        if self.icount {
            c.args(["-icount", "shift=0"]);
        }
        if let Some(port) = self.gdb_port {
            c.args(["-S", "-gdb", &format!("tcp::{port}")]);
        } else if let Some(sock) = &self.gdb_socket {
            c.args(["-S", "-gdb"]).arg(format!("unix:{},server=on,wait=off", qemu_opt(sock)));
        }
        c.args(&self.extra);
        Ok(Invocation { command: c, files })
    }

    /// Boot `image` with no input, capture everything, kill at the timeout.
    pub fn run(&self, image: &Path) -> Result<Outcome, String> {
        self.run_with_input(image, None)
    }

    /// Like [`Machine::run`], typing `input` on the console, then Ctrl-D
    /// (end of input: the monitor powers off).
    pub fn run_with_input(&self, image: &Path, input: Option<&[u8]>) -> Result<Outcome, String> {
        let mut invocation = self.command(image)?;
        let cmd = &mut invocation.command;
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("cannot start qemu-system-aarch64: {e}"))?;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            let mut data = data.to_vec();
            data.push(END_OF_INPUT);
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let console = Arc::new(Mutex::new(Vec::new()));
        let readers = [collect(child.stdout.take(), &console), collect(child.stderr.take(), &console)];
        let (code, timed_out) = wait(&mut child, self.timeout);
        for r in readers {
            let _ = r.join();
        }
        let bytes = console.lock().unwrap().clone();
        Ok(Outcome {
            code,
            timed_out,
            console: String::from_utf8_lossy(&bytes).replace('\r', ""),
            elapsed: start.elapsed(),
        })
    }
}

/// A path as a value in a QEMU option list, where a comma is written twice.
fn qemu_opt(p: &Path) -> String {
    p.display().to_string().replace(',', ",,")
}

/// Run QEMU in a process group of its own (the terminal's Ctrl-C goes to
/// GDB, not to QEMU) and have it killed when its parent dies (else it would
/// outlive a launcher killed by a closed terminal).
fn off_the_terminal(c: &mut Command) {
    use std::os::unix::process::CommandExt;
    c.process_group(0);
    // SAFETY: runs in the child between fork and exec and calls only prctl,
    // which is async-signal-safe and touches no memory of the parent.
    unsafe {
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

fn collect(src: Option<impl Read + Send + 'static>, into: &Arc<Mutex<Vec<u8>>>) -> std::thread::JoinHandle<()> {
    let into = Arc::clone(into);
    std::thread::spawn(move || {
        if let Some(mut src) = src {
            let mut buf = [0u8; 4096];
            while let Ok(n) = src.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    })
}

/// Wait for `child` at most `timeout` (`Duration::MAX`: for ever); kill it
/// after. Returns (code, timed out).
pub fn wait(child: &mut Child, timeout: Duration) -> (Option<i32>, bool) {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (status.code(), false),
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return (None, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(m: &Machine) -> Vec<String> {
        m.command(Path::new("Image")).unwrap().command.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn no_monitor_unless_on_a_terminal() {
        let a = args(&Machine::default());
        assert!(!a.iter().any(|x| x == "-nographic" || x.contains("mon:") || x.contains("mux=on")), "{a:?}");
        let at = a.iter().position(|x| x == "-monitor").expect("-monitor");
        assert_eq!(a[at + 1], "none");
        assert!(a.iter().any(|x| x == "stdio,id=console,mux=off,signal=off"), "{a:?}");
        let a = args(&Machine { terminal: true, ..Machine::default() });
        assert!(a.iter().any(|x| x == "-nographic"), "{a:?}");
        let a = args(&Machine { console_file: Some("c.log".into()), terminal: true, ..Machine::default() });
        assert!(!a.iter().any(|x| x == "-nographic"), "{a:?}");
        assert!(a.iter().any(|x| x == "file:c.log"), "{a:?}");
    }

    /// A pass means a board's console goes on the `-serial` its tree names,
    /// the others on `null`, QEMU's monitor only on a terminal, and the tree
    /// handed over is Linux's with the board's true RAM and the command line.
    #[test]
    fn boards_get_their_console_port_and_their_tree() {
        use crate::boards::{RASPI3B, ZCU102};
        let pi = Machine { board: &RASPI3B, smp: 2, append: "poweroff".into(), ..Machine::default() };
        let a = args(&pi);
        let serials: Vec<&str> =
            a.iter().zip(a.iter().skip(1)).filter(|(k, _)| *k == "-serial").map(|(_, v)| v.as_str()).collect();
        assert_eq!(serials, ["null", "chardev:console"], "{a:?}");
        assert!(a.iter().any(|x| x == "stdio,id=console,mux=off,signal=off"), "{a:?}");
        assert!(!a.iter().any(|x| x == "-kernel" || x == "-dtb" || x == "-nographic" || x.contains("mux=on")), "{a:?}");
        let at = a.iter().position(|x| x == "-monitor").expect("-monitor");
        assert_eq!(a[at + 1], "none");
        let a = args(&Machine { terminal: true, ..pi.clone() });
        assert!(a.iter().any(|x| x == "stdio,id=con0,mux=on") && a.iter().any(|x| x == "chardev=con0"), "{a:?}");
        let serials: Vec<&str> =
            a.iter().zip(a.iter().skip(1)).filter(|(k, _)| *k == "-serial").map(|(_, v)| v.as_str()).collect();
        assert_eq!(serials, ["null", "chardev:con0"], "{a:?}");

        let inv = pi.command(Path::new("Image")).unwrap();
        let tree = fdt_edit::Tree::parse(&std::fs::read(&inv.files()[0]).unwrap()).unwrap();
        assert_eq!(tree.memory().unwrap(), [(0, 0x3c00_0000)]);
        assert_eq!(tree.node("/chosen").unwrap().prop_str("bootargs"), Some("poweroff maxcpus=2"));
        assert_eq!(std::fs::read(&inv.files()[1]).unwrap(), RASPI3B.firmware_blob());

        let z = Machine { board: &ZCU102, ram: "4G".into(), kaslr: Kaslr::Random, ..Machine::default() };
        let inv = z.command(Path::new("Image")).unwrap();
        let tree = fdt_edit::Tree::parse(&std::fs::read(&inv.files()[0]).unwrap()).unwrap();
        assert_eq!(tree.memory().unwrap(), [(0, 0x8000_0000), (0x8_0000_0000, 0x8000_0000)]);
        assert_eq!(tree.node("/chosen").unwrap().prop("kaslr-seed").map(<[u8]>::len), Some(8));
        let a: Vec<String> = inv.command.get_args().map(|x| x.to_string_lossy().into_owned()).collect();
        assert!(a.iter().any(|x| x.ends_with("addr=0xfffc0000,force-raw=on,cpu-num=0")), "{a:?}");
    }

    #[test]
    fn each_run_writes_its_own_shim_and_removes_it() {
        let m = Machine { dtb: DtbSource::None, ..Machine::default() };
        let (a, b) = (m.command(Path::new("Image")).unwrap(), m.command(Path::new("Image")).unwrap());
        let (fa, fb) = (a.files()[0].clone(), b.files()[0].clone());
        assert_ne!(fa, fb);
        assert_eq!(std::fs::read(&fa).unwrap(), boot_shim(0, SHIM_KERNEL_PA));
        drop(a);
        assert!(!fa.exists() && fb.exists());
        drop(b);
        assert!(!fb.exists());
    }
}
