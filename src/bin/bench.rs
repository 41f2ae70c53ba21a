//! `cargo benchmark`: every figure of BENCHMARKS.md in one run.
//!
//! Wall-clock figures are ratios measured side by side in the same run
//! (this machine is shared and noisy): each kernel boot is paired with a
//! boot of a minimal Image that exits at once, under the same QEMU flags,
//! and medians are compared. Guest-side costs use QEMU's `-icount`, which
//! makes the counter and the PMU's instruction count deterministic.
//!
//! Options: `--runs N` (boots per configuration, default 9),
//! `--skip-build-times` (leave out the `cargo test` and clean-build timings),
//! `--no-write` (print, do not rewrite BENCHMARKS.md), `--boards-only`
//! (print the boards' section alone), `--flavours-only` (only the
//! per-flavour section, printed), `--times-only` (only the build and test
//! times, printed with the CPU time and the load average around each: run
//! it after one `cargo test`, so that the suite's build is warm).
//!
//! The file is over 400 lines because it holds one measurement per section
//! of BENCHMARKS.md, each next to the table it writes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vakern::image::{self, Flavour};
use vakern::qemu::Machine;
use vakern::tools;

/// A 96-byte Image: the arm64 header, then a semihosting exit with code 0.
fn minimal_image(dir: &Path) -> PathBuf {
    let mut b = vec![0u8; 0x60];
    let put32 = |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let put64 = |b: &mut Vec<u8>, off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put32(&mut b, 0, 0x1400_0010); // b 0x40
    put64(&mut b, 16, 0x1000); // image_size
    put64(&mut b, 24, 0b1010); // flags: LE, 4 KiB, anywhere
    b[56..60].copy_from_slice(b"ARM\x64");
    put32(&mut b, 0x40, 0xd280_0300); // mov x0, #0x18 (SYS_EXIT)
    put32(&mut b, 0x44, 0x1000_0061); // adr x1, 0x50 (the parameter block)
    put32(&mut b, 0x48, 0xd45e_0000); // hlt #0xf000
    put32(&mut b, 0x4c, 0x1400_0000); // b .
    put64(&mut b, 0x50, 0x20026); // ADP_Stopped_ApplicationExit
    put64(&mut b, 0x58, 0); // exit code 0
    let p = dir.join("minimal.Image");
    std::fs::write(&p, b).unwrap();
    p
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn boot_seconds(m: &Machine, image: &Path) -> f64 {
    let out = m.run(image).unwrap_or_else(|e| panic!("{e}"));
    out.expect_code(0).unwrap_or_else(|e| panic!("benchmark boot failed: {e}"));
    out.elapsed.as_secs_f64()
}

fn ram_machine(ram: &str) -> Machine {
    Machine { ram: ram.into(), timeout: Duration::from_secs(120), ..Machine::default() }
}

fn console(m: &Machine, image: &Path) -> String {
    let out = m.run(image).unwrap_or_else(|e| panic!("{e}"));
    out.expect_code(0).unwrap_or_else(|e| panic!("benchmark boot failed: {e}"));
    out.console
}

/// The whole-number words after `tag` on the first line that has it
/// (words such as `L1` are labels, not numbers).
fn numbers_after(c: &str, tag: &str) -> Vec<u64> {
    c.lines()
        .find_map(|l| l.split_once(tag).map(|x| x.1))
        .unwrap_or_else(|| panic!("no {tag:?} in:\n{c}"))
        .split(|ch: char| ch.is_whitespace() || ch == ';' || ch == ',')
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn run_cmd(cmd: &mut Command) -> f64 {
    let t = Instant::now();
    let st = cmd.status().expect("run");
    assert!(st.success(), "{cmd:?} failed");
    t.elapsed().as_secs_f64()
}

/// CPU time (user + system) of every child reaped so far, in seconds.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes one rusage struct, which lives on this stack.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(r.ru_utime) + secs(r.ru_stime)
}

/// The one-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split(' ').next().map(String::from))
        .unwrap_or_default()
}

/// Run `f`; its wall time, the CPU time of the children it reaped, and the
/// load average before and after, as a table cell.
fn timed(f: impl FnOnce()) -> (f64, String) {
    let (l0, c0, t) = (load(), children_cpu(), Instant::now());
    f();
    let wall = t.elapsed().as_secs_f64();
    (wall, format!("{wall:.1} s wall, {:.1} s CPU, load {l0} → {}", children_cpu() - c0, load()))
}

/// The kernel build of `features` into its own fresh target directory.
fn kernel_build(root: &Path, dir: &Path, features: Option<&str>) -> Command {
    let mut c = Command::new("cargo");
    c.args([
        "build",
        "--quiet",
        "--release",
        "--target",
        "aarch64-unknown-none",
        "--manifest-path",
        "kernel/Cargo.toml",
    ])
    .arg("--target-dir")
    .arg(dir.join(features.unwrap_or("default")))
    .current_dir(root)
    .env("VAKERN_FLAVOUR", vakern::mm::flavour::DEFAULT.to_string())
    .env_remove("RUSTFLAGS");
    if let Some(f) = features {
        c.args(["--features", f]);
    }
    c
}

/// The warm `cargo test` and a clean build, as table rows: the host crates
/// and tests, then the two default kernels (plain and `debug_virtual`)
/// built at the same time, as the tests' threads build them.
fn times_section(root: &Path) -> String {
    let (_, warm) = timed(|| {
        run_cmd(Command::new("cargo").arg("test").arg("--quiet").current_dir(root).env_remove("CARGO_TARGET_DIR"));
    });
    let clean_dir = std::env::temp_dir().join(format!("vakern-clean-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&clean_dir);
    let (host_wall, host) = timed(|| {
        run_cmd(
            Command::new("cargo")
                .args(["build", "--quiet", "--workspace", "--tests"])
                .current_dir(root)
                .env("CARGO_TARGET_DIR", clean_dir.join("host")),
        );
    });
    let (kernels_wall, kernels) = timed(|| {
        std::thread::scope(|s| {
            for f in [None, Some("debug_virtual")] {
                let mut c = kernel_build(root, &clean_dir, f);
                s.spawn(move || run_cmd(&mut c));
            }
        });
    });
    let _ = std::fs::remove_dir_all(&clean_dir);
    let mut md = String::from(
        "| what | figures (wall, CPU of the build, load average before → after) | target |\n|---|---|---|\n",
    );
    writeln!(md, "| `cargo test`, warm build | {warm} | ≤ 60 s |").unwrap();
    writeln!(
        md,
        "| clean build of everything: {:.1} s wall | host crates and tests: {host}; both default kernels at once: {kernels} | ≤ 90 s |",
        host_wall + kernels_wall
    )
    .unwrap();
    md
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0) >> 20)
        })
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let qemu = Command::new("qemu-system-aarch64")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
        .unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .current_dir(tools::project_root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} GiB RAM; {qemu}; {rustc}")
}

/// The real boards: boot to ready against the minimal Image on the same
/// board (same hand-over: Linux's tree patched, loaded verbatim with the
/// board's firmware step), and the ZCU102's linear-map tables around its hole.
fn boards_section(md: &mut String, runs: usize, kernel: &Path, minimal: &Path) {
    eprintln!("bench: boards...");
    writeln!(md, "\n## Real boards\n\nMedian wall time from QEMU's start to its exit, {runs} runs each, the kernel (`poweroff`) and the minimal Image interleaved on the same board with the same hand-over (Linux's tree with the board's true memory node, loaded verbatim with the board's firmware step).\n").unwrap();
    writeln!(md, "| board | RAM | minimal Image | vakern (`poweroff`) | ratio |\n|---|---|---|---|---|").unwrap();
    let board = |name: &str, ram: &str| Machine {
        board: vakern::boards::board(name).unwrap(),
        ram: ram.into(),
        timeout: Duration::from_secs(120),
        ..Machine::default()
    };
    for (name, ram) in [("virt", "1G"), ("raspi3b", "1G"), ("zcu102", "4G")] {
        let mk = Machine { append: "poweroff".into(), ..board(name, ram) };
        let mm = board(name, ram);
        let (mut tk, mut tm) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            tm.push(boot_seconds(&mm, minimal));
            tk.push(boot_seconds(&mk, kernel));
        }
        let (a, b) = (median(&mut tm), median(&mut tk));
        writeln!(md, "| {name} | {ram} | {:.1} ms | {:.1} ms | {:.3}× |", a * 1e3, b * 1e3, b / a).unwrap();
        eprintln!("bench:   {name}: minimal {:.1} ms, kernel {:.1} ms, ratio {:.3}", a * 1e3, b * 1e3, b / a);
    }
    writeln!(md, "\nZCU102 linear-map table pages (RAM [0, 2 GiB) plus the rest from 0x8_0000_0000; the 30 GiB hole between them stays unmapped), from the `linear` self-test, next to `min_tables`:\n").unwrap();
    writeln!(md, "| RAM | L1 | L2 | L3 | fewest possible | equal |\n|---|---|---|---|---|---|").unwrap();
    for ram in ["4G", "16G"] {
        let m = Machine { append: "test=linear".into(), ..board("zcu102", ram) };
        let c = console(&m, kernel);
        let v = numbers_after(&c, "linear map tables: ");
        let eq = if v[0..3] == v[3..6] { "yes" } else { "**no**" };
        writeln!(md, "| {ram} | {} | {} | {} | {} / {} / {} | {eq} |", v[0], v[1], v[2], v[3], v[4], v[5]).unwrap();
    }
}

/// Per flavour: instructions per translation with and without
/// `debug_virtual`, and the linear map's table pages at 1 GiB and 64 GiB
/// next to the fewest possible.
fn flavour_section() -> String {
    let mut md = String::new();
    writeln!(md, "## Per layout flavour\n\nEvery flavour (`--layout`, `--page-size`, `--va-bits`), booted on `-cpu max` (every granule; FEAT_LVA, so `vabits_actual` is 52 for the 52-bit flavour). Instructions per call as in the section above (INST_RETIRED under `-icount`, less an empty probe); linear-map table pages from the `linear` self-test as L1/L2/L3, next to `min_tables`.\n").unwrap();
    writeln!(md, "| flavour | `__pa` | `__va` | `__pa_symbol` | `lm_alias` | tables at 1 GiB (fewest) | tables at 64 GiB (fewest) |\n|---|---|---|---|---|---|---|").unwrap();
    for layout in vakern::mm::flavour::FLAVOURS {
        let name = layout.to_string();
        let k = image::build(Flavour { layout, debug_virtual: false, debug_pgtable: false }, true)
            .unwrap_or_else(|e| panic!("{e}"));
        let kd = image::build(Flavour { layout, debug_virtual: true, debug_pgtable: false }, true)
            .unwrap_or_else(|e| panic!("{e}"));
        let max = |m: Machine| Machine { cpu: "max".into(), ..m };
        let m = max(Machine { append: "test=probe-cost".into(), icount: true, ..ram_machine("1G") });
        let (c0, c1) = (console(&m, &k.image), console(&m, &kd.image));
        let mut row = format!("| {name} |");
        for t in ["__pa", "__va", "__pa_symbol", "lm_alias"] {
            let tag = format!("probe-cost {t}: ");
            write!(row, " {} / {} |", numbers_after(&c0, &tag)[0], numbers_after(&c1, &tag)[0]).unwrap();
        }
        for ram in ["1G", "64G"] {
            let c = console(&max(Machine { append: "test=linear".into(), ..ram_machine(ram) }), &k.image);
            let v = numbers_after(&c, "linear map tables: ");
            write!(row, " {}/{}/{} ({}/{}/{}) |", v[0], v[1], v[2], v[3], v[4], v[5]).unwrap();
        }
        writeln!(md, "{row}").unwrap();
        eprintln!("bench:   {row}");
    }
    writeln!(md, "\nEach translation cell is without / with `debug_virtual`. 6.12's unchecked `__pa` is Linux's exact range check `PAGE_OFFSET <= va < PAGE_END`, as the number of leading ones of the address (`mvn`, `clz`: both ends of the range are runs of ones from bit 63 down) indexing 65 offsets, where 4.10's single-bit test indexes two: `adrp`, `mvn`, `clz`, `ldr`, `sub`. Targets: 4.10 meets at most 4 for `__pa`; 6.12 meets at most 6 with 52-bit VAs (5) and misses at most 4 with a fixed VA size (5). Four leave one instruction to turn the address into the index, and no single instruction does that exactly: a bit field would need the 17 bits from 63 down to `VA_BITS - 1` (a 2^17-entry table), and `cls`, which counts leading sign bits, gives a user address with bit `VA_BITS - 1` set the same count as a linear address, which is 4.10's caveat. `tests/layouts.rs` (`unchecked_translation_is_branch_free`) holds every flavour to these counts.").unwrap();
    md
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--flavours-only") {
        if let Err(e) = tools::ensure_all() {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
        print!("{}", flavour_section());
        return;
    }
    if args.iter().any(|a| a == "--times-only") {
        if let Err(e) = tools::ensure_all() {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
        print!("{}", times_section(&tools::project_root()));
        return;
    }
    let runs: usize =
        args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(9);
    let build_times = !args.iter().any(|a| a == "--skip-build-times");
    let write = !args.iter().any(|a| a == "--no-write");
    if let Err(e) = tools::ensure_all() {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
    let root = tools::project_root();
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let k = image::build(Flavour::default_layout(false), true).unwrap_or_else(|e| panic!("{e}"));
    let kd = image::build(Flavour::default_layout(true), true).unwrap_or_else(|e| panic!("{e}"));
    let minimal = minimal_image(&dir);
    let mut md = String::new();
    if args.iter().any(|a| a == "--boards-only") {
        boards_section(&mut md, runs, &k.image, &minimal);
        println!("{md}");
        return;
    }
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    writeln!(md, "# Benchmarks\n\nMeasured {date} by `cargo benchmark` on {}.\n", machine_description()).unwrap();

    // 1. Boot to ready and power off, against a minimal Image, per RAM size.
    eprintln!("bench: boot times ({runs} runs per size)...");
    writeln!(md, "## Boot to ready and power off\n\nMedian wall time of `qemu-system-aarch64` from start to exit, {runs} runs each, kernel and minimal Image (header + semihosting exit) interleaved, same flags (`-M virt -cpu cortex-a72 -display none -monitor none -serial stdio -nic none`, RAM as listed; above 16 GiB a `reserve=off` memory backend).\n").unwrap();
    writeln!(md, "| RAM | minimal Image | vakern (`poweroff`) | ratio | target |\n|---|---|---|---|---|").unwrap();
    let mut kernel_medians = Vec::new();
    for ram in ["128M", "1G", "4G", "16G", "64G"] {
        let mk = Machine { append: "poweroff".into(), ..ram_machine(ram) };
        let mm = ram_machine(ram);
        let (mut tk, mut tm) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            tm.push(boot_seconds(&mm, &minimal));
            tk.push(boot_seconds(&mk, &k.image));
        }
        let (a, b) = (median(&mut tm), median(&mut tk));
        kernel_medians.push((ram, a, b));
        let target = if ram == "1G" { "≤ 1.15×" } else { "" };
        writeln!(md, "| {ram} | {:.1} ms | {:.1} ms | {:.3}× | {target} |", a * 1e3, b * 1e3, b / a).unwrap();
        eprintln!("bench:   {ram}: minimal {:.1} ms, kernel {:.1} ms, ratio {:.3}", a * 1e3, b * 1e3, b / a);
    }
    let one = kernel_medians.iter().find(|x| x.0 == "1G").unwrap();
    let sixty4 = kernel_medians.iter().find(|x| x.0 == "64G").unwrap();
    let growth = (sixty4.2 / sixty4.1) / (one.2 / one.1);
    writeln!(md, "\nGrowth from 1 GiB to 64 GiB (ratio to the minimal Image at 64 GiB over the same at 1 GiB): **{growth:.3}×** (target ≤ 1.05×; arm64 Linux 6.1 under the same QEMU: 3.6×).\n").unwrap();

    // 2. Guest-side cost of each boot phase, deterministic under -icount.
    eprintln!("bench: boot phases under -icount...");
    writeln!(md, "## Boot phases (guest side)\n\nCNTPCT_EL0 ticks at 62.5 MHz under `-icount shift=0` (one instruction per virtual nanosecond, so a tick is about 16 instructions); from the `bootstats` boot option.\n").unwrap();
    writeln!(md, "| RAM | .bss + identity map + MMU on | image mapping + relocation | memory discovery | linear map | allocators |\n|---|---|---|---|---|---|").unwrap();
    let mut linear = Vec::new();
    for ram in ["128M", "1G", "4G", "16G", "64G"] {
        let m = Machine { append: "bootstats poweroff".into(), icount: true, ..ram_machine(ram) };
        let c = console(&m, &k.image);
        let v = numbers_after(&c, "bootstats-raw:");
        linear.push((ram, v[3]));
        writeln!(md, "| {ram} | {} | {} | {} | {} | {} |", v[0], v[1], v[2], v[3], v[4]).unwrap();
    }
    let l1 = linear.iter().find(|x| x.0 == "1G").unwrap().1 as f64;
    let l64 = linear.iter().find(|x| x.0 == "64G").unwrap().1 as f64;
    writeln!(md, "\nLinear map at 64 GiB over 1 GiB: **{:.3}×** (target ≤ 1.5×).\n", l64 / l1).unwrap();

    // 3. Table pages of the linear map against the fewest possible.
    eprintln!("bench: linear map table pages...");
    writeln!(md, "## Linear map table pages\n\nNew table pages per level (the root is `swapper_pg_dir`), from the `linear` self-test, next to the fewest possible for the same layout (`vakern_mm::pgtable::min_tables`, counted independently of the mapper). The image's read-only alias cuts the first GiB into 2 MiB blocks and one page table.\n").unwrap();
    writeln!(md, "| layout | L1 | L2 | L3 | fewest possible | equal |\n|---|---|---|---|---|---|").unwrap();
    let layouts: Vec<(&str, Machine)> = vec![
        ("128 MiB", ram_machine("128M")),
        ("1 GiB", ram_machine("1G")),
        ("4 GiB", ram_machine("4G")),
        ("16 GiB", ram_machine("16G")),
        ("64 GiB", ram_machine("64G")),
        ("2 NUMA nodes of 1 GiB", Machine { numa: vec!["1G".into(), "1G".into()], ..ram_machine("2G") }),
    ];
    for (name, m) in layouts {
        let m = Machine { append: "test=linear".into(), ..m };
        let c = console(&m, &k.image);
        let v = numbers_after(&c, "linear map tables: ");
        let eq = if v[0..3] == v[3..6] { "yes" } else { "**no**" };
        writeln!(md, "| {name} | {} | {} | {} | {} / {} / {} | {eq} |", v[0], v[1], v[2], v[3], v[4], v[5]).unwrap();
    }

    boards_section(&mut md, runs, &k.image, &minimal);

    // 4. Instructions per translation, counted by the PMU under -icount.
    eprintln!("bench: instructions per translation...");
    writeln!(md, "\n## Instructions per translation\n\nINST_RETIRED per call of each `probe_*` function (kernel/src/selftest/probes.rs), less an empty function of the same shape, 1000 calls, from the `probe-cost` self-test under `-icount`. This is the fast path: a valid address, no report.\n").unwrap();
    writeln!(md, "| translation | without `debug_virtual` | with | ratio | targets: ≤ 4 without, ≤ 3× with |\n|---|---|---|---|---|").unwrap();
    let m = Machine { append: "test=probe-cost".into(), icount: true, ..ram_machine("1G") };
    let (c0, c1) = (console(&m, &k.image), console(&m, &kd.image));
    for name in ["__pa", "__va", "__pa_symbol", "lm_alias"] {
        let tag = format!("probe-cost {name}: ");
        let (a, b) = (numbers_after(&c0, &tag)[0], numbers_after(&c1, &tag)[0]);
        let ok = if a <= 4 && b <= 3 * a {
            "met"
        } else if a <= 4 {
            "without: met; with: **missed**"
        } else {
            "**missed**"
        };
        writeln!(md, "| `{name}` | {a} | {b} | {:.2}× | {ok} |", b as f64 / a as f64).unwrap();
    }

    eprintln!("bench: per flavour...");
    writeln!(md).unwrap();
    md += &flavour_section();

    // 5. Build and test times.
    if build_times {
        eprintln!("bench: cargo test (warm) and a clean build...");
        writeln!(md, "\n## Build and test times\n").unwrap();
        md += &times_section(&root);
    }

    println!("{md}");
    if write {
        let notes = std::fs::read_to_string(root.join("BENCHMARKS.md"))
            .ok()
            .and_then(|s| s.split_once("<!-- notes -->").map(|x| x.1.to_string()))
            .unwrap_or_else(|| "\n## Notes\n\n(Explanations of missed targets go here; they are kept when the figures are rewritten.)\n".into());
        std::fs::write(root.join("BENCHMARKS.md"), format!("{md}\n<!-- notes -->{notes}")).unwrap();
        eprintln!("bench: wrote BENCHMARKS.md");
    }
}
