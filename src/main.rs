//! `cargo run`: build the kernel and boot it in QEMU. See `--help`, which
//! clap writes from the option definitions below, with every exit code.

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use vakern::image::{self, Flavour};
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
    /// RAM, e.g. 128M, 1G, 64G; a bare number is MiB, as for QEMU (above 16G
    /// QEMU gets memory backends that reserve nothing); at least 64M
    #[arg(long, verbatim_doc_comment, value_name = "SIZE", default_value = "1G", help_heading = "Machine")]
    ram: String,
    /// Split RAM into NUMA nodes (sizes must add up to --ram; same units)
    #[arg(long, verbatim_doc_comment, value_name = "SIZE,SIZE..", value_delimiter = ',', help_heading = "Machine")]
    numa: Vec<String>,
    /// CPUs, 1 to 8
    #[arg(long, verbatim_doc_comment, value_name = "N", default_value_t = 1, help_heading = "Machine")]
    smp: u32,
    /// CPU model: a 64-bit one (cortex-a35/a53/a57/a72/a76, a64fx,
    /// neoverse-n1, max); 32-bit-only models such as cortex-a15 are refused
    #[arg(long, verbatim_doc_comment, value_name = "MODEL", default_value = "cortex-a72", help_heading = "Machine")]
    cpu: String,
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

    /// Pass FILE with QEMU's -dtb (QEMU rewrites memory and /chosen)
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
}

/// What the launcher does, once the options are checked.
struct Args {
    machine: Machine,
    flavour: Flavour,
    print_cmd: bool,
    build_only: bool,
    gdb_attach: bool,
}

/// The command-line parser, with the exit codes after the options.
fn command() -> clap::Command {
    Cli::command().after_help(exit_codes())
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
    let mut m = Machine {
        ram: cli.ram,
        numa: cli.numa,
        smp: cli.smp,
        cpu: cli.cpu,
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
    Ok(Args {
        machine: m,
        flavour: Flavour { debug_virtual: cli.debug_virtual },
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
        // One unit rule: a bare number is MiB for the launcher and for QEMU.
        let a = args(&["--ram", "2048", "--numa", "1024,1G"]).unwrap_or_else(|e| panic!("{}", e.1));
        let cmd = a.machine.command(std::path::Path::new("Image")).unwrap();
        let argv: Vec<String> = cmd.command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(argv.windows(2).any(|w| w == ["-m", "2048M"]), "{argv:?}");
        assert!(argv.iter().any(|a| a == "memory-backend-ram,id=m0,size=1024M"), "{argv:?}");
    }
}
