//! `cargo run`: build the kernel and boot it in QEMU. See `--help`, which
//! clap writes from the option definitions below, with every exit code.

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use vakern::image::{self, Flavour};
use vakern::mm::flavour::{Granule, Layout, Version, DEFAULT, FLAVOURS};
use vakern::qemu::{DtbSource, Kaslr, Machine};
use vakern::tools;

/// The launcher's own exit codes, above the kernel's.
mod code {
    /// A bad option or value on the command line (BSD's EX_USAGE; clap's
    /// own 2 would read as the kernel's boot error).
    pub const USAGE: u8 = 64;
    /// QEMU refused to start the machine (an option, the CPU model, a file
    /// it could not open): its own message is shown. QEMU's exit status for
    /// that, 1, would read as the kernel's "self-test failed".
    pub const QEMU_REFUSED: u8 = 69;
    /// The launcher failed: the kernel did not build or pass its checks, a
    /// program is missing, QEMU or GDB could not be started, QEMU ended
    /// without an exit status, or GDB (with `--gdb`) ended with an error.
    pub const LAUNCHER: u8 = 70;
    /// `--timeout` expired and QEMU was killed (as timeout(1) reports it).
    pub const TIMEOUT: u8 = 124;
}

/// The exit-code section of `--help`: the kernel's codes, from the table
/// both sides share, then the launcher's own.
fn exit_codes() -> String {
    let mut s = String::from("Exit codes (the kernel's semihosting exit code becomes this command's):\n");
    for c in 0.. {
        let what = vakern::mm::exit::describe(c);
        if what == "unknown" {
            break;
        }
        s += &format!("  {c:<4}{what}\n");
    }
    s += &format!("  {:<4}usage error: a bad option or value, or options that cannot work together\n", code::USAGE);
    s += &format!("  {:<4}QEMU refused to start the machine (its message is shown)\n", code::QEMU_REFUSED);
    s += &format!(
        "  {:<4}the launcher failed: kernel build or check, missing program, QEMU or\n      \
         GDB could not start, QEMU ended without an exit code, GDB failed\n",
        code::LAUNCHER
    );
    s += &format!("  {:<4}timed out (--timeout); QEMU was killed\n", code::TIMEOUT);
    s += "\n";
    s += "Interactive: stop QEMU with Ctrl-A X (on a terminal only). Piped input reaches\n\
          the kernel alone, never QEMU's monitor, and ends with Ctrl-D (power off).";
    s
}

/// A self-test name: one word, not empty (the kernel lists the names).
fn parse_test(v: &str) -> Result<String, String> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!("{v:?} is not a self-test name (one word, such as layout or fault:null-read)"));
    }
    Ok(v.to_string())
}

fn parse_hex(v: &str) -> Result<u64, String> {
    let t = v.trim_start_matches("0x").replace('_', "");
    u64::from_str_radix(&t, 16).map_err(|_| format!("{v:?} is not a hex address"))
}

/// vakern: build the kernel and boot it in qemu-system-aarch64
#[derive(Parser, Debug)]
#[command(
    name = "vakern",
    override_usage = "cargo run -- [OPTIONS]",
    disable_version_flag = true,
    max_term_width = 100
)]
struct Cli {
    /// The machine: virt (QEMU's, the default), raspi3b (Raspberry Pi 3
    /// Model B) or zcu102 (Xilinx ZCU102). The boards boot with Linux's own
    /// device tree for them (fetched once into target/dtbs, or --dtb FILE),
    /// handed over verbatim with the board's true memory node
    #[arg(long, verbatim_doc_comment, value_name = "NAME", default_value = "virt", help_heading = "Machine")]
    machine: String,
    /// RAM, e.g. 128M, 1G, 64G; a bare number is MiB, as for QEMU (above 16G
    /// QEMU gets memory backends that reserve nothing); at least 64M.
    /// Default 1G; raspi3b takes only 1G, zcu102 1G to 16G (default 4G)
    #[arg(long, verbatim_doc_comment, value_name = "SIZE", help_heading = "Machine")]
    ram: Option<String>,
    /// Split RAM into NUMA nodes (sizes must add up to --ram; same units)
    #[arg(long, verbatim_doc_comment, value_name = "SIZE,SIZE..", value_delimiter = ',', help_heading = "Machine")]
    numa: Vec<String>,
    /// CPUs, 1 to 8 (the boards: 1 to 4; raspi3b always has 4 and the
    /// kernel is told maxcpus=N)
    #[arg(long, verbatim_doc_comment, value_name = "N", default_value_t = 1, help_heading = "Machine")]
    smp: u32,
    /// CPU model (virt only; default cortex-a72): a 64-bit one
    /// (cortex-a35/a53/a57/a72/a76, a64fx, neoverse-n1, max); 32-bit-only
    /// models such as cortex-a15 are refused. The boards have Cortex-A53s
    #[arg(long, verbatim_doc_comment, value_name = "MODEL", help_heading = "Machine")]
    cpu: Option<String>,
    /// Enter the kernel at EL2 (virt,virtualization=on)
    #[arg(long, verbatim_doc_comment, help_heading = "Machine")]
    el2: bool,
    /// Randomize the image's address with QEMU's per-boot seed (default: no
    /// seed, the image stays at KIMAGE_VADDR)
    #[arg(long, verbatim_doc_comment, conflicts_with = "kaslr_seed", help_heading = "Machine")]
    kaslr: bool,
    /// Randomize with a fixed seed (kaslr_seed=N), reproducibly
    #[arg(long, verbatim_doc_comment, value_name = "N", help_heading = "Machine")]
    kaslr_seed: Option<u64>,

    /// Kernel command line (/chosen/bootargs); repeated, the parts are joined
    #[arg(long, verbatim_doc_comment, value_name = "ARGS", allow_hyphen_values = true, help_heading = "Kernel")]
    append: Vec<String>,
    /// Power off once boot is complete (same as --append poweroff)
    #[arg(long, verbatim_doc_comment, help_heading = "Kernel")]
    poweroff: bool,
    /// Run a self-test (test=NAME) and exit with its verdict
    #[arg(long, verbatim_doc_comment, value_name = "NAME", value_parser = parse_test, help_heading = "Kernel")]
    test: Option<String>,
    /// Build with the debug_virtual feature (checked translations)
    #[arg(long, verbatim_doc_comment, help_heading = "Kernel")]
    debug_virtual: bool,
    /// The arm64 Linux version whose address layout and translation rules
    /// the kernel is built with: 4.10 (linear map in the top half, bit test)
    /// or 6.12 (linear map in the bottom half, range check)
    #[arg(long, verbatim_doc_comment, value_name = "VERSION", default_value = "4.10", help_heading = "Layout")]
    layout: String,
    /// Translation granule: 4K, 16K or 64K
    #[arg(long, verbatim_doc_comment, value_name = "SIZE", default_value = "4K", help_heading = "Layout")]
    page_size: String,
    /// VA_BITS (default 48); see the flavours below
    #[arg(long, verbatim_doc_comment, value_name = "N", default_value_t = 48, help_heading = "Layout")]
    va_bits: u32,

    /// Pass FILE with QEMU's -dtb (QEMU rewrites memory and /chosen); on a
    /// board, FILE replaces Linux's tree and is handed over verbatim
    /// (memory node and /chosen written by the launcher)
    #[arg(long, verbatim_doc_comment, value_name = "FILE", group = "tree", help_heading = "Device tree")]
    dtb: Option<PathBuf>,
    /// Hand FILE to the kernel through a tiny boot loader, verbatim, or with
    /// /chosen/bootargs replaced by --append/--poweroff/--test/--kaslr-seed
    #[arg(long, verbatim_doc_comment, value_name = "FILE", group = "tree", help_heading = "Device tree")]
    raw_dtb: Option<PathBuf>,
    /// Enter the kernel with x0 = 0 (no device tree, so no command line)
    #[arg(long, verbatim_doc_comment, group = "tree", help_heading = "Device tree")]
    no_dtb: bool,
    /// With --raw-dtb/--no-dtb: load the Image at PA (hex; default 0x40200000;
    /// the Image and its .bss inside RAM, clear of the tree at 0x44000000)
    #[arg(long, verbatim_doc_comment, value_name = "PA", value_parser = parse_hex, help_heading = "Device tree")]
    load_addr: Option<u64>,

    /// Start QEMU paused and gdb-multiarch attached to it on PORT (default
    /// 1234), with the kernel's symbols and the helpers of
    /// scripts/gdb/vakern.py; the console goes to target/console.log,
    /// Ctrl-C stops the kernel, and the exit code is the kernel's
    #[arg(long, verbatim_doc_comment,
        value_name = "PORT",
        num_args = 0..=1,
        default_missing_value = "1234",
        value_parser = clap::value_parser!(u16).range(1..),
        conflicts_with = "gdb_wait",
        help_heading = "Running"
    )]
    gdb: Option<u16>,
    /// Start QEMU paused, waiting on PORT (default 1234) for a GDB you attach
    /// yourself; the console stays here and is copied to target/console.log
    #[arg(long, verbatim_doc_comment, value_name = "PORT", num_args = 0..=1, default_missing_value = "1234",
        value_parser = clap::value_parser!(u16).range(1..), help_heading = "Running")]
    gdb_wait: Option<u16>,
    /// Deterministic instruction counting (-icount shift=0)
    #[arg(long, verbatim_doc_comment, help_heading = "Running")]
    icount: bool,
    /// Kill QEMU after SECS (default 60 with --poweroff/--test, or 120 per
    /// CPU with --icount as well; 3600 otherwise; never with --gdb/--gdb-wait)
    #[arg(long, verbatim_doc_comment, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Running")]
    timeout: Option<u64>,
    /// Pass ARG to QEMU (repeatable)
    #[arg(long, verbatim_doc_comment, value_name = "ARG", allow_hyphen_values = true, help_heading = "Running")]
    qemu_arg: Vec<String>,
    /// Print the QEMU command line before running it
    #[arg(long, verbatim_doc_comment, help_heading = "Running")]
    print_cmd: bool,
    /// Build and check the Image, do not boot
    #[arg(long, verbatim_doc_comment, help_heading = "Running")]
    build_only: bool,
    /// Print the flavour's layout table, which VA bits index which table
    /// level, and __pa of three addresses; build and boot nothing
    #[arg(long, verbatim_doc_comment, help_heading = "Layout")]
    show_layout: bool,
}

/// What the launcher does, once the options are checked.
struct Args {
    show_layout: bool,
    machine: Machine,
    flavour: Flavour,
    print_cmd: bool,
    build_only: bool,
    gdb_attach: bool,
}

/// The flavour section of `--help`: every flavour that builds, from the
/// table the kernel is built from.
fn flavours() -> String {
    let mut s = String::from("Layout flavours (--layout VERSION --page-size SIZE --va-bits N):\n");
    for v in Version::ALL {
        let names: Vec<String> = FLAVOURS.iter().filter(|l| l.version() == v).map(|l| l.to_string()).collect();
        s += &format!("  {}\n", names.join("  "));
    }
    s += &format!("Default: {}. Each flavour is its own build (target/kernel/<flavour>).\n\n", DEFAULT);
    s
}

/// The command-line parser, with the flavours and the exit codes after the options.
fn command() -> clap::Command {
    Cli::command().after_help(flavours() + &exit_codes())
}

/// The layout flavour the three layout options name, or why there is none.
fn layout_of(version: &str, page_size: &str, va_bits: u32) -> Result<Layout, String> {
    let v = Version::from_name(version).map_err(|e| format!("--layout {version}: {e}"))?;
    let g = Granule::from_name(page_size).map_err(|e| format!("--page-size {page_size}: {e}"))?;
    vakern::mm::flavour::flavour(v, g, va_bits).map_err(|e| format!("no flavour {version}-{page_size}-{va_bits}: {e}"))
}

/// Parse `argv` (without the program name). `Err` carries the exit code and
/// the text to print: help and its 0, or a usage error and 64.
fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<Args, (u8, String)> {
    let argv = std::iter::once("vakern".to_string()).chain(argv);
    let matches = command().try_get_matches_from(argv).map_err(|e| {
        let status = match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
            _ => code::USAGE,
        };
        (status, e.render().to_string())
    })?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| (code::USAGE, e.render().to_string()))?;
    settle(cli).map_err(|e| (code::USAGE, format!("vakern: {e}\n")))
}

/// Turn the parsed options into a machine.
fn settle(cli: Cli) -> Result<Args, String> {
    let board = vakern::boards::board(&cli.machine)?;
    let default = Machine::default();
    if cli.cpu.is_some() && board.cpu_fixed {
        return Err(format!("--cpu: {} has {} CPUs, the model cannot be chosen", board.name, board.cpu));
    }
    let mut m = Machine {
        board,
        ram: cli.ram.unwrap_or_else(|| vakern::boards::qemu_size(board.ram.default)),
        numa: cli.numa,
        smp: cli.smp,
        cpu: cli.cpu.unwrap_or(default.cpu),
        el2: cli.el2,
        icount: cli.icount,
        extra: cli.qemu_arg,
        ..Machine::default()
    };
    m.kaslr = match (cli.kaslr, cli.kaslr_seed) {
        (_, Some(n)) => Kaslr::Seed(n),
        (true, None) => Kaslr::Random,
        (false, None) => Kaslr::Off,
    };
    for word in cli.append.iter().flat_map(|a| a.split_whitespace()) {
        if word == "test=" {
            return Err("--append: \"test=\" names no self-test (use --test NAME)".into());
        }
    }
    if cli.load_addr.is_some() && cli.raw_dtb.is_none() && !cli.no_dtb {
        return Err("--load-addr needs --raw-dtb or --no-dtb: with QEMU's tree QEMU places the Image itself".into());
    }
    let mut append = cli.append;
    if cli.poweroff {
        append.push("poweroff".into());
    }
    if let Some(t) = &cli.test {
        append.push(format!("test={t}"));
    }
    m.append = append.join(" ").trim().to_string();
    m.dtb = match (cli.dtb, cli.raw_dtb, cli.no_dtb) {
        (Some(f), _, _) => DtbSource::QemuFile(f),
        (_, Some(f), _) => DtbSource::Raw(f),
        (_, _, true) => DtbSource::None,
        _ => DtbSource::Qemu,
    };
    if let Some(pa) = cli.load_addr {
        m.kernel_pa = pa;
    }
    m.gdb_port = cli.gdb.or(cli.gdb_wait);
    let batch = cli.poweroff || cli.test.is_some();
    m.timeout = Duration::from_secs(cli.timeout.unwrap_or(default_timeout(batch, m.icount, m.smp)));
    m.validate()?;
    let layout = layout_of(&cli.layout, &cli.page_size, cli.va_bits)?;
    Ok(Args {
        show_layout: cli.show_layout,
        machine: m,
        flavour: Flavour { layout, debug_virtual: cli.debug_virtual },
        print_cmd: cli.print_cmd,
        build_only: cli.build_only,
        gdb_attach: cli.gdb.is_some(),
    })
}

/// The timeout when `--timeout` is not given, in seconds. Under `--icount`
/// QEMU runs every CPU in one thread, round-robin, and a CPU spinning on
/// another's answer burns its whole time slice: `--icount --smp 4 --test smp`
/// takes about 50 s alone and over 80 s on a loaded 2-core machine, so
/// `--icount` allows 120 s per CPU.
fn default_timeout(batch: bool, icount: bool, smp: u32) -> u64 {
    match (batch, icount) {
        (false, _) => 3600,
        (true, false) => 60,
        (true, true) => 120 * u64::from(smp.max(1)),
    }
}

/// `--show-layout`: the flavour as its own `mm` code computes it, for RAM at
/// PA 0x4000_0000 and the Image loaded at 0x4020_0000 (QEMU virt), on a
/// CPU with and without 52-bit VAs where the flavour has them.
fn show_layout(l: &Layout) -> String {
    use vakern::mm::fmt::Addr;
    use vakern::mm::layout::Placement;
    const DRAM: u64 = 0x4000_0000;
    const LOAD: u64 = 0x4020_0000;
    let mut s = format!(
        "{l}: Linux {} layout, {} pages, VA_BITS={}, {} levels (root at level {}), PAGE_OFFSET {}, PAGE_END {}\n",
        l.version().name(),
        l.granule().name(),
        l.va_bits(),
        l.levels(),
        l.root_level(),
        Addr(l.page_offset()),
        if l.page_end() == 0 { "2^64".to_string() } else { Addr(l.page_end()).to_string() }
    );
    s += "VA bits: ";
    for level in l.root_level()..=3 {
        let lo = l.level_shift(level);
        let hi = if level == l.root_level() { l.va_bits() - 1 } else { l.level_shift(level - 1) - 1 };
        s += &format!("[{hi}:{lo}] L{level} ({} entries)  ", l.entries(level));
    }
    s += &format!("[{}:0] offset in the page\n", l.page_shift() - 1);
    let mut vabits = vec![l.va_bits()];
    if l.has_vabits_actual() {
        vabits.push(l.va_bits_min());
    }
    for va in vabits {
        let memstart = l.memstart_addr(DRAM, va);
        let kimage_voffset = l.kimage_vaddr().wrapping_sub(LOAD);
        s += &format!(
            "vabits_actual={va}: linear map from {}, memstart_addr {}\n",
            Addr(l.linear_start(va)),
            Addr(memstart)
        );
        let at = Placement {
            text: l.kimage_vaddr(),
            end: l.kimage_vaddr() + (2 << 20),
            linear_end: l.linear_start(va) + (1 << 30),
        };
        for r in l.layout_rows(&at, va) {
            let end = if r.end == 0 { "2^64".to_string() } else { Addr(r.end).to_string() };
            s += &format!("  {:>9} : {} - {}\n", r.name.trim(), Addr(r.start), end);
        }
        for (what, v) in [
            ("linear map + 0x1000", l.linear_start(va) + 0x1000),
            ("_text + 0x1000", l.kimage_vaddr() + 0x1000),
            ("user, bit 47 set", 0x0000_8000_0000_1000),
        ] {
            let rule = if l.lm_test(v) { "linear rule" } else { "image rule" };
            s += &format!(
                "  __pa({}) = {} ({rule}; {what})\n",
                Addr(v),
                Addr(l.virt_to_phys(v, memstart, kimage_voffset))
            );
        }
    }
    s
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err((0, help)) => {
            print!("{help}");
            return ExitCode::SUCCESS;
        }
        Err((status, e)) => {
            eprint!("{e}");
            return ExitCode::from(status);
        }
    };
    if args.show_layout {
        print!("{}", show_layout(&args.flavour.layout));
        return ExitCode::SUCCESS;
    }
    let kernel = match image::build(args.flavour, false) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vakern: {e}");
            return ExitCode::from(code::LAUNCHER);
        }
    };
    if let Err(e) = args.machine.check_load(kernel.image_size) {
        eprintln!("vakern: {e}");
        return ExitCode::from(code::USAGE);
    }
    if args.build_only {
        println!("{}", kernel.image.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = tools::ensure_programs() {
        eprintln!("vakern: {e}");
        return ExitCode::from(code::LAUNCHER);
    }
    let mut machine = args.machine.clone();
    if args.gdb_attach {
        machine.console_file = Some(tools::project_root().join("target/console.log"));
    } else if machine.gdb_port.is_some() {
        machine.console_log = Some(tools::project_root().join("target/console.log"));
    }
    // A terminal goes straight to QEMU (which puts it in raw mode), with
    // QEMU's monitor multiplexed on it for Ctrl-A X. Any other input is
    // forwarded to a serial console that has no monitor (the monitor can run
    // host commands, so nothing piped in may reach it), then Ctrl-D, so
    // `echo ptdump | cargo run` powers off when its input ends.
    let forward = !args.gdb_attach && !std::io::stdin().is_terminal();
    machine.terminal = !args.gdb_attach && !forward;
    let mut invocation = match machine.command(&kernel.image) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vakern: {e}");
            return ExitCode::from(code::LAUNCHER);
        }
    };
    let cmd = &mut invocation.command;
    if args.print_cmd {
        let parts: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        eprintln!("vakern: {}", parts.join(" "));
    }
    if forward {
        cmd.stdin(Stdio::piped());
    } else if args.gdb_attach {
        cmd.stdin(Stdio::null());
    }
    // QEMU's own messages pass through, and its refusal to start is told
    // apart from the kernel's exit code 1.
    cmd.stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vakern: cannot start QEMU: {e}");
            return ExitCode::from(code::LAUNCHER);
        }
    };
    let refusal = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut first_error = None;
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if first_error.is_none() && vakern::qemu::is_qemu_error(&line) {
                    first_error = Some(line);
                }
            }
            first_error
        })
    });
    if forward {
        if let Some(mut to_qemu) = child.stdin.take() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_qemu);
                let _ = to_qemu.write_all(&[vakern::qemu::END_OF_INPUT]);
            });
        }
    }
    if let Some(port) = machine.gdb_port {
        if args.gdb_attach {
            return match vakern::debugger::attach(&kernel.elf, port, &mut child) {
                Ok(Some(code)) => ExitCode::from(code.clamp(0, 255) as u8),
                Ok(None) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vakern: {e}");
                    ExitCode::from(code::LAUNCHER)
                }
            };
        }
        eprintln!(
            "vakern: QEMU is paused (console also in target/console.log); attach with: gdb-multiarch {} -ex 'source scripts/gdb/vakern.py' -ex 'target remote :{port}'",
            kernel.elf.display()
        );
    }
    // No timeout while QEMU waits for, or is stopped by, a debugger.
    let timeout = if machine.gdb_port.is_some() { Duration::MAX } else { args.machine.timeout };
    let (code, timed_out) = vakern::qemu::wait(&mut child, timeout);
    if timed_out {
        eprintln!("vakern: timed out after {} s; QEMU killed", args.machine.timeout.as_secs());
        return ExitCode::from(code::TIMEOUT);
    }
    let Some(code) = code else {
        eprintln!("vakern: QEMU ended without an exit code (killed by a signal?)");
        return ExitCode::from(code::LAUNCHER);
    };
    if let Some(line) = refusal.and_then(|t| t.join().ok().flatten()) {
        if code == 1 {
            eprintln!("vakern: QEMU refused to start the machine: {line}");
            return ExitCode::from(code::QEMU_REFUSED);
        }
    }
    if code != 0 {
        eprintln!("vakern: kernel exited with code {code} ({})", vakern::mm::exit::describe(code as u32));
    }
    ExitCode::from(code.clamp(0, 255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Args, (u8, String)> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn help_lists_every_exit_code() {
        let Err((0, help)) = args(&["--help"]) else { panic!("--help is not help") };
        for c in (0..=7).chain([64, 69, 70, 124]) {
            let listed = help.lines().any(|l| l.trim_start().starts_with(&format!("{c} ")));
            assert!(listed, "exit code {c} missing from --help:\n{help}");
        }
        // The kernel's codes come from the shared table, so 7 is there.
        assert!(help.contains("7   fault inside the fault handler"), "{help}");
        assert_eq!(vakern::mm::exit::describe(8), "unknown", "a new kernel exit code needs a line here");
        for opt in [
            "--machine",
            "--ram",
            "--numa",
            "--smp",
            "--cpu",
            "--el2",
            "--kaslr",
            "--kaslr-seed",
            "--append",
            "--poweroff",
            "--test",
            "--debug-virtual",
            "--dtb",
            "--raw-dtb",
            "--no-dtb",
            "--load-addr",
            "--gdb",
            "--gdb-wait",
            "--icount",
            "--timeout",
            "--qemu-arg",
            "--print-cmd",
            "--build-only",
        ] {
            assert!(help.contains(&format!("{opt} ")), "{opt} missing from --help");
        }
    }

    #[test]
    fn usage_errors_are_64() {
        for bad in [
            &["--bogus"][..],
            &["--timeout", "0"],
            &["--timeout", "x"],
            &["--smp", "9"],
            &["--smp"],
            &["--ram", "12Q"],
            &["--numa", "1G,1G"],
            &["--load-addr", "zz"],
            &["--gdb", "70000"],
            &["--kaslr", "--kaslr-seed", "3"],
            &["--dtb", "Cargo.toml", "--no-dtb"],
            &["--gdb", "--gdb-wait"],
            &["--raw-dtb", "/nonexistent.dtb"],
            &["--machine", "pc"],
            &["--machine", "raspi3b", "--ram", "2G"],
            &["--machine", "raspi3b", "--smp", "5"],
            &["--machine", "zcu102", "--ram", "32G"],
            &["--machine", "zcu102", "--cpu", "cortex-a72"],
            &["--machine", "zcu102", "--numa", "2G,2G", "--ram", "4G"],
            &["--machine", "raspi3b", "--raw-dtb", "Cargo.toml"],
            &["--machine", "raspi3b", "--no-dtb"],
            &["--machine", "zcu102", "--load-addr", "0x40000000"],
            &["--machine", "raspi3b", "--dtb", "/nonexistent.dtb"],
            &["--test", ""],
            &["--test", "a b"],
            &["--append", "loglevel=3 test="],
            &["--gdb", "0"],
            &["--gdb-wait", "0"],
            &["--cpu", "cortex-a15"],
            &["--cpu", "cortex-a7"],
            &["--cpu", "arm926"],
            &["--load-addr", "0x48000000"],
            &["--dtb", "Cargo.toml", "--load-addr", "0x48000000"],
            &["--no-dtb", "--test", "layout"],
            &["--no-dtb", "--poweroff"],
            &["--no-dtb", "--append", "loglevel=3"],
            &["--no-dtb", "--kaslr-seed", "4"],
            &["--no-dtb", "--kaslr"],
            &["--raw-dtb", "Cargo.toml", "--kaslr"],
            &["--raw-dtb", "Cargo.toml", "--test", "layout"],
            &["--ram", "32"],
            &["--ram", "1536K"],
            &["--ram", "2G", "--numa", "1024,1025"],
        ] {
            match args(bad) {
                Err((64, _)) => {}
                Err((c, e)) => panic!("{bad:?}: exit {c}, not 64: {e}"),
                Ok(_) => panic!("{bad:?} accepted"),
            }
        }
    }

    #[test]
    fn options_reach_the_machine() {
        let a = args(&[
            "--ram",
            "2G",
            "--numa",
            "1G,1G",
            "--smp",
            "4",
            "--cpu",
            "cortex-a53",
            "--el2",
            "--kaslr-seed",
            "7",
            "--append",
            "loglevel=3",
            "--append",
            "bootstats",
            "--poweroff",
            "--test",
            "layout",
            "--debug-virtual",
            "--icount",
            "--qemu-arg",
            "-d",
            "--qemu-arg",
            "int",
            "--print-cmd",
            "--build-only",
        ])
        .unwrap_or_else(|e| panic!("{}", e.1));
        let m = &a.machine;
        assert_eq!(
            (m.ram.as_str(), m.numa.clone(), m.smp, m.cpu.as_str()),
            ("2G", vec!["1G".into(), "1G".into()], 4, "cortex-a53")
        );
        assert!(m.el2 && m.icount && a.flavour.debug_virtual && a.print_cmd && a.build_only);
        assert_eq!(m.kaslr, Kaslr::Seed(7));
        assert_eq!(m.append, "loglevel=3 bootstats poweroff test=layout");
        assert_eq!(m.extra, ["-d", "int"]);
        assert_eq!(m.timeout, Duration::from_secs(480), "--icount --smp 4 batch default");

        let a = args(&["--raw-dtb", "Cargo.toml", "--load-addr", "0x4780_0000", "--gdb"])
            .unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!(a.machine.dtb, DtbSource::Raw("Cargo.toml".into()));
        assert_eq!(a.machine.kernel_pa, 0x4780_0000);
        assert_eq!((a.machine.gdb_port, a.gdb_attach), (Some(1234), true));
        assert_eq!(a.machine.timeout, Duration::from_secs(3600));

        let a = args(&["--gdb-wait", "4321", "--no-dtb", "--timeout", "5"]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!((a.machine.gdb_port, a.gdb_attach), (Some(4321), false));
        assert_eq!((a.machine.dtb.clone(), a.machine.kaslr), (DtbSource::None, Kaslr::Off));
        assert_eq!(a.machine.timeout, Duration::from_secs(5));
        let a = args(&["--kaslr"]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!(a.machine.kaslr, Kaslr::Random);

        let a = args(&["--dtb", "Cargo.toml", "--test", "smp"]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!(a.machine.dtb, DtbSource::QemuFile("Cargo.toml".into()));
        assert_eq!(a.machine.timeout, Duration::from_secs(60));
        let a = args(&["--gdb", "--poweroff"]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!((a.machine.gdb_port, a.machine.append.as_str()), (Some(1234), "poweroff"));
        let a = args(&[]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!((a.machine.ram.as_str(), a.machine.smp, a.machine.kaslr), ("1G", 1, Kaslr::Off));
        assert_eq!(a.machine.board.name, "virt");

        // The boards: their own default RAM, --smp within their CPUs, the
        // Pi told maxcpus when it has more cores than asked for.
        let a = args(&["--machine", "zcu102", "--gdb-wait", "--debug-virtual"]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!((a.machine.board.name, a.machine.ram.as_str(), a.machine.gdb_port), ("zcu102", "4G", Some(1234)));
        assert!(a.flavour.debug_virtual);
        let a = args(&["--machine", "raspi3b", "--smp", "2", "--kaslr-seed", "5", "--poweroff"])
            .unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!((a.machine.ram.as_str(), a.machine.smp), ("1G", 2));
        assert_eq!(a.machine.bootargs(), "poweroff kaslr_seed=5 maxcpus=2");
        let a = args(&["--machine", "raspi3b", "--smp", "4"]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!(a.machine.bootargs(), "");
        let a =
            args(&["--machine", "zcu102", "--ram", "16G", "--dtb", "Cargo.toml"]).unwrap_or_else(|e| panic!("{}", e.1));
        assert_eq!(a.machine.dtb, DtbSource::QemuFile("Cargo.toml".into()));
        // One unit rule: a bare number is MiB for the launcher and for QEMU.
        let a = args(&["--ram", "2048", "--numa", "1024,1G"]).unwrap_or_else(|e| panic!("{}", e.1));
        let cmd = a.machine.command(std::path::Path::new("Image")).unwrap();
        let argv: Vec<String> = cmd.command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(argv.windows(2).any(|w| w == ["-m", "2048M"]), "{argv:?}");
        assert!(argv.iter().any(|a| a == "memory-backend-ram,id=m0,size=1024M"), "{argv:?}");
    }

    #[test]
    fn layout_flags_pick_a_flavour_or_say_why() {
        let name = |a: &[&str]| args(a).map(|x| x.flavour.layout.to_string()).map_err(|e| e.0);
        assert_eq!(name(&[]), Ok("4.10-4K-48".to_string()));
        assert_eq!(name(&["--layout", "6.12"]), Ok("6.12-4K-48".to_string()));
        assert_eq!(name(&["--layout", "6.12", "--page-size", "64K", "--va-bits", "52"]), Ok("6.12-64K-52".to_string()));
        assert_eq!(name(&["--page-size", "16k", "--va-bits", "47"]), Ok("4.10-16K-47".to_string()));
        for bad in [
            &["--layout", "4.10", "--page-size", "64K", "--va-bits", "52"][..],
            &["--page-size", "4K", "--va-bits", "42"],
            &["--layout", "5.4"],
            &["--page-size", "8K"],
        ] {
            let Err((code, text)) = args(bad) else { panic!("{bad:?} was accepted") };
            assert_eq!(code, code::USAGE, "{bad:?}");
            assert!(text.contains("--layout") || text.contains("--page-size") || text.contains("no flavour"), "{text}");
        }
        let Err((_, text)) = args(&["--layout", "4.10", "--page-size", "64K", "--va-bits", "52"]) else {
            unreachable!()
        };
        assert!(text.contains("Linux 4.10 has no 52-bit VAs"), "{text}");
        let Err((0, help)) = args(&["--help"]) else { panic!("--help is not help") };
        for l in vakern::mm::flavour::FLAVOURS {
            assert!(help.contains(&l.to_string()), "--help does not list {l}");
        }
    }

    #[test]
    fn show_layout_prints_the_flavours_own_numbers() {
        let l = vakern::mm::flavour::parse("6.12-64K-52").unwrap();
        let s = show_layout(&l);
        assert!(s.contains("VA bits: [51:42] L1 (1024 entries)  [41:29] L2 (8192 entries)"), "{s}");
        assert!(s.contains("vabits_actual=52: linear map from 0xfff0_0000_0000_0000"), "{s}");
        assert!(
            s.contains(&format!(
                "vabits_actual=48: linear map from 0xffff_0000_0000_0000, memstart_addr {}",
                vakern::mm::fmt::Addr(l.memstart_addr(0x4000_0000, 48))
            )),
            "{s}"
        );
        let old = show_layout(&vakern::mm::flavour::DEFAULT);
        assert!(old.contains("__pa(0x0000_8000_0000_1000) = 0x0000_0000_4000_1000 (linear rule"), "{old}");
    }
}
