//! `cargo run`: build the kernel and boot it in QEMU. See `--help`.

use std::io::{IsTerminal, Write};
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use vakern::image::{self, Flavour};
use vakern::qemu::{DtbSource, Machine};
use vakern::tools;

const HELP: &str = "\
vakern: build the kernel and boot it in qemu-system-aarch64

USAGE: cargo run -- [OPTIONS]

Machine:
  --ram SIZE          RAM, e.g. 128M, 1G, 64G (default 1G; above 16G QEMU gets
                      a memory backend that reserves nothing)
  --numa SIZE,SIZE..  split RAM into NUMA nodes (sizes must add up to --ram)
  --smp N             CPUs (default 1)
  --cpu MODEL         CPU model (default cortex-a72)
  --el2               enter the kernel at EL2 (virt,virtualization=on)
  --kaslr             randomize the image's address with QEMU's per-boot seed
                      (default: no seed, the image stays at KIMAGE_VADDR)
  --kaslr-seed N      randomize with a fixed seed (kaslr_seed=N), reproducibly
Kernel:
  --append ARGS       kernel command line (/chosen/bootargs)
  --poweroff          power off once boot is complete (same as --append poweroff)
  --test NAME         run a self-test (test=NAME) and exit with its verdict
  --debug-virtual     build with the debug_virtual feature (checked translations)
Device tree:
  --dtb FILE          pass FILE with QEMU's -dtb (QEMU rewrites memory and /chosen)
  --raw-dtb FILE      hand FILE to the kernel verbatim through a tiny boot loader
  --no-dtb            enter the kernel with x0 = 0 (no device tree)
  --load-addr PA      with --raw-dtb/--no-dtb: load the Image at PA (default 0x40200000)
Running:
  --gdb [PORT]        start QEMU paused and gdb-multiarch attached to it on PORT
                      (default 1234), with the kernel's symbols and the helpers
                      of scripts/gdb/vakern.py; the console goes to
                      target/console.log
  --gdb-wait [PORT]   start QEMU paused, waiting for a GDB you attach yourself
  --icount            deterministic instruction counting (-icount shift=0)
  --timeout SECS      kill QEMU after SECS (default 60 with --poweroff/--test,
                      3600 otherwise)
  --qemu-arg ARG      pass ARG to QEMU (repeatable)
  --print-cmd         print the QEMU command line before running it
  --build-only        build and check the Image, do not boot
  -h, --help          this text

The kernel's exit code becomes this command's exit code: 0 success, 1 self-test
failed, 2 boot error (bad input), 3 panic, 4 fault, 5 debug_virtual stop,
6 early boot failure. Interactive: stop QEMU with Ctrl-A X (on a terminal
only; piped input reaches the kernel alone, never QEMU's monitor).";

struct Args {
    machine: Machine,
    flavour: Flavour,
    poweroff: bool,
    test: Option<String>,
    timeout: Option<u64>,
    print_cmd: bool,
    build_only: bool,
    gdb_attach: bool,
}

fn parse(argv: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        machine: Machine::default(),
        flavour: Flavour { debug_virtual: false },
        poweroff: false,
        test: None,
        timeout: None,
        print_cmd: false,
        build_only: false,
        gdb_attach: false,
    };
    let mut it = argv.iter().peekable();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value (see --help)"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--ram" => a.machine.ram = value("--ram")?,
            "--numa" => a.machine.numa = value("--numa")?.split(',').map(str::to_string).collect(),
            "--smp" => {
                let v = value("--smp")?;
                a.machine.smp = v.parse().map_err(|_| format!("--smp {v:?}: not a number"))?;
            }
            "--cpu" => a.machine.cpu = value("--cpu")?,
            "--el2" => a.machine.el2 = true,
            "--kaslr" => a.machine.kaslr = vakern::qemu::Kaslr::Random,
            "--kaslr-seed" => {
                let v = value("--kaslr-seed")?;
                let n = v.parse().map_err(|_| format!("--kaslr-seed {v:?}: not a decimal number"))?;
                a.machine.kaslr = vakern::qemu::Kaslr::Seed(n);
            }
            "--append" => {
                let v = value("--append")?;
                a.machine.append = if a.machine.append.is_empty() { v } else { format!("{} {v}", a.machine.append) };
            }
            "--poweroff" => a.poweroff = true,
            "--test" => a.test = Some(value("--test")?),
            "--debug-virtual" => a.flavour.debug_virtual = true,
            "--dtb" => a.machine.dtb = DtbSource::QemuFile(value("--dtb")?.into()),
            "--raw-dtb" => a.machine.dtb = DtbSource::Raw(value("--raw-dtb")?.into()),
            "--no-dtb" => a.machine.dtb = DtbSource::None,
            "--load-addr" => {
                let v = value("--load-addr")?;
                let t = v.trim_start_matches("0x").replace('_', "");
                a.machine.kernel_pa =
                    u64::from_str_radix(&t, 16).map_err(|_| format!("--load-addr {v:?}: not a hex address"))?;
            }
            "--gdb" | "--gdb-wait" => {
                a.gdb_attach = arg == "--gdb";
                let port = match it.peek() {
                    Some(p) if !p.starts_with("--") => {
                        let p = it.next().unwrap();
                        p.parse().map_err(|_| format!("--gdb {p:?}: not a port number"))?
                    }
                    _ => 1234,
                };
                a.machine.gdb_port = Some(port);
            }
            "--icount" => a.machine.icount = true,
            "--timeout" => {
                let v = value("--timeout")?;
                a.timeout = Some(
                    v.parse()
                        .ok()
                        .filter(|&s: &u64| s > 0)
                        .ok_or(format!("--timeout {v:?}: not a positive number of seconds"))?,
                );
            }
            "--qemu-arg" => {
                let v = value("--qemu-arg")?;
                a.machine.extra.push(v);
            }
            "--print-cmd" => a.print_cmd = true,
            "--build-only" => a.build_only = true,
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    if a.poweroff {
        a.machine.append = format!("{} poweroff", a.machine.append).trim().to_string();
    }
    if let Some(t) = &a.test {
        a.machine.append = format!("{} test={t}", a.machine.append).trim().to_string();
    }
    let batch = a.poweroff || a.test.is_some();
    a.machine.timeout = Duration::from_secs(a.timeout.unwrap_or(if batch { 60 } else { 3600 }));
    a.machine.validate()?;
    Ok(Some(a))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vakern: {e}");
            return ExitCode::from(64);
        }
    };
    let kernel = match image::build(args.flavour, false) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vakern: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.build_only {
        println!("{}", kernel.image.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = tools::ensure_programs() {
        eprintln!("vakern: {e}");
        return ExitCode::FAILURE;
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
    let mut cmd = match machine.command(&kernel.image) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vakern: {e}");
            return ExitCode::from(64);
        }
    };
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
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vakern: cannot start QEMU: {e}");
            return ExitCode::FAILURE;
        }
    };
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
            return vakern::debugger::attach(&kernel.elf, port, &mut child);
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
        return ExitCode::from(124);
    }
    let code = code.unwrap_or(1);
    if code != 0 {
        eprintln!("vakern: kernel exited with code {code} ({})", vakern::mm::exit::describe(code as u32));
    }
    ExitCode::from(code.clamp(0, 255) as u8)
}
