//! GDB tests: a pass means gdb-multiarch, driven in batch mode with the
//! helpers of scripts/gdb/ (each QEMU on a Unix socket of its own, attached
//! as soon as it listens), stops a faulting kernel in its exception handler
//! and agrees with the report the kernel prints; `bt` goes from the handler
//! and from inside the vectors into the interrupted function; the helpers are
//! right before the MMU is on, while the identity map lives, under KASLR and
//! on a second CPU, and in every layout flavour (the 52-bit one on CPUs
//! with and without FEAT_LVA); the README's GDB sessions run exactly as printed there
//! and print what the README shows; the Python helpers' unit tests pass
//! against the layout table of every flavour; and
//! the launcher keeps no timeout while a debugger holds QEMU, logs the console
//! in target/console.log, lets Ctrl-C reach GDB and exits with the kernel's
//! code.
//!
//! `VAKERN_BLESS=1 cargo test --test gdb readme` rewrites the README's GDB
//! sessions with the output of a real session.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};
use vakern::qemu::{Kaslr, Machine, Outcome};

/// The function that makes the deliberate faults (`test=fault:KIND`), and
/// the self-test runner that calls it, as GDB names them.
const TRIGGER: &str = "vakern::debug::fault_inject::trigger";
const SELFTEST_RUN: &str = "vakern::selftest::run";

/// How long any GDB session or wait may take before the test gives up.
const DEADLINE: Duration = Duration::from_secs(60);

/// True once a Unix socket at `path` is listening (read from /proc/net/unix,
/// without connecting: a connection would be GDB's one client).
fn unix_listening(path: &Path) -> bool {
    let want = path.to_string_lossy();
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // Flags 00010000: accepting connections.
        f.len() >= 8 && f[7] == want && f[3] == "00010000"
    })
}

/// True once something listens on TCP `port` (/proc/net/tcp and tcp6, state 0A).
fn tcp_listening(port: u16) -> bool {
    let hex = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|t| {
        std::fs::read_to_string(t).unwrap_or_default().lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&hex) && f[3] == "0A"
        })
    })
}

/// Poll `ready` until it holds; panic with `what` at the deadline.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !ready() {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A QEMU paused at the first instruction, waiting for GDB on its own socket.
struct Target {
    sock: PathBuf,
    qemu: std::thread::JoinHandle<Outcome>,
}

fn start(name: &str, m: Machine) -> Target {
    start_in("4.10-4K-48", name, m)
}

/// [`start`] with the kernel of layout flavour `flavour`.
fn start_in(flavour: &str, name: &str, m: Machine) -> Target {
    let k = kernel_in(flavour, false);
    let sock = std::env::temp_dir().join(format!("vakern-gdb-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let m = Machine { gdb_socket: Some(sock.clone()), timeout: DEADLINE, ..m };
    let qemu = std::thread::spawn(move || m.run(&k.image).unwrap());
    wait_until(&format!("QEMU to listen on {}", sock.display()), || unix_listening(&sock));
    Target { sock, qemu }
}

impl Target {
    fn finish(self) -> Outcome {
        let out = self.qemu.join().unwrap();
        let _ = std::fs::remove_file(&self.sock);
        out
    }
}

/// Wait for `child` at most DEADLINE; kill it then.
fn wait_child(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            panic!("{what} did not finish within {} s", DEADLINE.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const MARK: &str = "@@vakern-gdb-command@@";

/// Run gdb-multiarch in batch mode on the default kernel's ELF, attached to
/// `t`, with the helpers loaded; then `commands`. Returns what GDB printed
/// before the first command and what each command printed (stdout and
/// stderr in order, through one pipe).
fn gdb_session(t: &Target, commands: &[&str]) -> (String, Vec<String>) {
    gdb_session_in("4.10-4K-48", t, commands)
}

/// [`gdb_session`] on the ELF of layout flavour `flavour` (whose build
/// directory holds that flavour's layout table).
fn gdb_session_in(flavour: &str, t: &Target, commands: &[&str]) -> (String, Vec<String>) {
    let k = kernel_in(flavour, false);
    let mut c = vakern::debugger::gdb_command(&k.elf, &t.sock.to_string_lossy());
    c.args(["-batch", "-nx"]);
    for cmd in commands {
        c.arg("-ex").arg(format!("echo {MARK}\\n"));
        c.arg("-ex").arg(cmd);
    }
    let (mut reader, writer) = std::io::pipe().unwrap();
    c.stdin(Stdio::null()).stdout(writer.try_clone().unwrap()).stderr(writer);
    let mut child = c.spawn().expect("run gdb-multiarch");
    drop(c);
    let collect = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = reader.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    wait_child(&mut child, "GDB");
    let all = collect.join().unwrap();
    let mark = format!("{MARK}\n");
    let mut parts = all.split(&mark).map(str::to_string);
    let pre = parts.next().unwrap_or_default();
    let outs: Vec<String> = parts.collect();
    assert_eq!(outs.len(), commands.len(), "GDB stopped early:\n{all}");
    for bad in ["Python Exception", "Traceback", "Error occurred in Python"] {
        assert!(!all.contains(bad), "{bad} in the GDB session:\n{all}");
    }
    (pre, outs)
}

/// The whole session as one text, for messages and searches.
fn joined(commands: &[&str], outs: &[String]) -> String {
    commands.iter().zip(outs).map(|(c, o)| format!("(gdb) {c}\n{o}")).collect()
}

fn hex_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    let rest = text.split(prefix).nth(1).unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"));
    let end = rest.find(|c: char| !c.is_ascii_hexdigit() && c != 'x' && c != '_').unwrap_or(rest.len());
    &rest[..end]
}

fn parse_hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x").replace('_', "").as_str(), 16)
        .unwrap_or_else(|_| panic!("not hex: {s:?}"))
}

#[test]
fn gdb_stops_at_the_fault_and_agrees_with_the_kernel() {
    let t = start("fault", Machine { append: "test=fault:unmapped-read".into(), ..machine() });
    let cmds = [
        "vk-break-fault",
        "continue",
        "printf \"FAR=%016lx\\n\", $FAR_EL1",
        "printf \"ESR=%08lx\\n\", $ESR_EL1",
        "vk-esr",
        "vk-walk $FAR_EL1",
        "vk-v2p 0xffff800000000000",
        "continue",
    ];
    let (_, outs) = gdb_session(&t, &cmds);
    let g = joined(&cmds, &outs);
    let out = t.finish();
    out.expect_code(4).unwrap_or_else(|e| panic!("{e}\nGDB said:\n{g}"));
    let c = &out.console;
    // GDB stopped in the handler and read the fault registers.
    assert!(outs[1].contains("handle_exception"), "GDB did not stop in the handler:\n{g}");
    let far = hex_after(&outs[2], "FAR=");
    let esr = hex_after(&outs[3], "ESR=");
    // The kernel's own report names the same address and ESR.
    assert!(c.contains(&format!("at virtual address {far}")), "FAR {far} not in the kernel's report:\n{c}");
    assert!(c.contains(&format!("ESR = 0x00000000{esr}")), "ESR {esr} not in the kernel's report:\n{c}");
    // The helper's decode and walk match the kernel's.
    assert!(outs[4].contains("level 0 translation fault") && c.contains("level 0 translation fault"), "{g}\n{c}");
    assert!(outs[4].contains(&format!("({TRIGGER}+0x")), "ELR not named, demangled:\n{g}");
    let kernel_walk =
        c.lines().find(|l| l.contains(&format!("[{far}] pgd="))).unwrap_or_else(|| panic!("no walk in:\n{c}"));
    let pgd = kernel_walk.split("pgd=").nth(1).unwrap().split(',').next().unwrap().trim();
    assert!(outs[5].contains(&format!("[{far}] pgd=0x{pgd}")), "GDB walk differs from the kernel's ({pgd}):\n{g}");
    // After the linear map exists, the helper's v2p agrees with the tables.
    assert!(outs[6].contains("OK: the rule and the tables agree: PA 0x0000000040000000"), "{g}");
}

/// The helpers in every flavour, on `-cpu max` (every granule, and 52-bit
/// VAs in use), and the 52-bit flavour on cortex-a72 (48 bits in use): they
/// read the flavour's table from its build directory, so the walk from the
/// flavour's root level, the linear rule at its PAGE_OFFSET and the image
/// rule at its KIMAGE_VADDR agree with the kernel and the tables.
#[test_case::test_matrix([
    "4.10-4K-39", "4.10-4K-48", "4.10-16K-47", "4.10-16K-48", "4.10-64K-42", "4.10-64K-48",
    "6.12-4K-39", "6.12-4K-48", "6.12-16K-47", "6.12-16K-48", "6.12-64K-42", "6.12-64K-48", "6.12-64K-52"
])]
fn gdb_helpers_follow_every_layout(flavour: &str) {
    helpers_follow_the_layout_on(flavour, "max");
}

/// The matrix above names every flavour.
#[test]
fn the_gdb_matrix_lists_every_flavour() {
    let src = include_str!("gdb.rs");
    let end = src.find("fn gdb_helpers_follow_every_layout(").unwrap();
    let head = &src[src[..end].rfind("#[test_case::test_matrix(").unwrap()..end];
    for l in vakern::mm::flavour::FLAVOURS {
        assert!(head.contains(&format!("\"{l}\"")), "{l} is not in the GDB matrix");
    }
}

/// The 52-bit flavour on a CPU without FEAT_LVA: TTBR1 points into the
/// root and `memstart_addr` is lowered; the helpers follow both.
#[test]
fn gdb_helpers_follow_52_bit_on_a_48_bit_cpu() {
    helpers_follow_the_layout_on("6.12-64K-52", "cortex-a72");
}

/// Stop the kernel of `flavour` on CPU model `cpu` at a deliberate fault;
/// `vk-walk` of the faulting address must print the same root entry as the
/// kernel's own report, and `vk-v2p` of the linear map's first address and
/// of KIMAGE_VADDR must agree with a walk of the tables (RAM at 0x4000_0000,
/// the image 2 MiB in).
fn helpers_follow_the_layout_on(flavour: &str, cpu: &str) {
    let l = vakern::mm::flavour::parse(flavour).unwrap();
    let m = Machine { append: "test=fault:unmapped-read".into(), cpu: cpu.into(), ..machine() };
    let t = start_in(flavour, &format!("fault-{flavour}-{cpu}"), m);
    let vabits_actual = if cpu == "max" { l.va_bits() } else { l.va_bits_min() };
    let v2p_lin = format!("vk-v2p {:#x}", l.linear_start(vabits_actual));
    let v2p_img = format!("vk-v2p {:#x}", l.kimage_vaddr());
    let cmds = [
        "vk-break-fault",
        "continue",
        "printf \"FAR=%016lx\\n\", $FAR_EL1",
        "vk-walk $FAR_EL1",
        &v2p_lin,
        &v2p_img,
        "continue",
    ];
    let (_, outs) = gdb_session_in(flavour, &t, &cmds);
    let g = joined(&cmds, &outs);
    let out = t.finish();
    out.expect_code(4).unwrap_or_else(|e| panic!("{flavour}: {e}\nGDB said:\n{g}"));
    let c = &out.console;
    let far = hex_after(&outs[2], "FAR=");
    let kernel_walk =
        c.lines().find(|l| l.contains(&format!("[{far}] pgd="))).unwrap_or_else(|| panic!("no walk in:\n{c}"));
    let pgd = kernel_walk.split("pgd=").nth(1).unwrap().split(',').next().unwrap().trim();
    assert!(outs[3].contains(&format!("[{far}] pgd=0x{pgd}")), "GDB walk differs from the kernel's ({pgd}):\n{g}");
    assert!(outs[4].contains("OK: the rule and the tables agree: PA 0x0000000040000000"), "{g}");
    assert!(outs[5].contains("OK: the rule and the tables agree: PA 0x0000000040200000"), "{g}");
}

#[test]
fn bt_goes_through_the_exception_entry_into_the_interrupted_code() {
    let t = start("bt", Machine { append: "test=fault:unmapped-read".into(), ..machine() });
    let brk = format!("break '{TRIGGER}'");
    let cmds = [
        brk.as_str(),
        "continue",
        "break *($VBAR + 0x200)",
        "continue",
        "printf \"ELR=%lx\\n\", $ELR_EL1",
        "x/i $ELR_EL1",
        "bt",
        "stepi 6",
        "bt",
        "vk-break-fault",
        "continue",
        "bt",
        "kill",
    ];
    let (_, outs) = gdb_session(&t, &cmds);
    let g = joined(&cmds, &outs);
    t.finish();
    // Stopped on the vector for a synchronous exception from EL1 with SP_EL1.
    assert!(outs[3].contains("in __vectors ()"), "not at the vector:\n{g}");
    let elr = hex_after(&outs[4], "ELR=");
    assert!(outs[5].contains(&format!("0x{elr} <{TRIGGER}+")), "x/i not demangled:\n{g}");
    let interrupted = format!("0x{elr} in {TRIGGER}");
    // In the vector, in __exception_entry before the registers are saved, and
    // in the handler: each time the frame below is the interrupted function.
    for (i, at) in [(6, "__vectors"), (8, "__exception_entry"), (11, "__exception_entry")] {
        let bt = &outs[i];
        assert!(bt.contains(at), "bt without {at}:\n{g}");
        assert!(bt.contains(&interrupted), "bt does not reach {interrupted}:\n{bt}");
        assert!(bt.contains(SELFTEST_RUN), "bt stops early:\n{bt}");
        assert!(!bt.contains("_ZN"), "mangled names in bt:\n{bt}");
    }
    assert!(outs[11].starts_with("#0  ") && outs[11].lines().next().unwrap().contains("::handle_exception"), "{g}");
}

#[test]
fn helpers_before_the_mmu_and_with_the_identity_map() {
    let t = start("idmap", Machine { append: "test=fault:unmapped-read".into(), ..machine() });
    let cmds = [
        "vk-v2p _text",
        "vk-ptdump -a",
        "vk-phys-symbols",
        "break early_map_kernel",
        "continue",
        "vk-ptdump -0 -p",
        "vk-walk 0x40200000",
        "vk-virt-symbols",
        "vk-break-fault",
        "continue",
        "vk-ptdump -0",
        "vk-ptdump",
        "kill",
    ];
    let (_, outs) = gdb_session(&t, &cmds);
    let g = joined(&cmds, &outs);
    t.finish();
    // At the first instruction: no values yet, no tables, and the helpers say so.
    assert!(outs[0].contains("kimage_voffset not set yet"), "{g}");
    assert!(outs[0].contains("the MMU is off"), "{g}");
    assert!(outs[0].contains("TTBR1_EL1 holds no table address (0)"), "{g}");
    assert!(outs[1].contains("(TTBR0_EL1 holds no table address: nothing to dump)"), "{g}");
    // In early_map_kernel the identity map (TTBR0) covers the image, 1:1.
    let idmap = outs[5]
        .lines()
        .find(|l| l.starts_with("0x00000000402") && l.contains("-> PA 0x402"))
        .unwrap_or_else(|| panic!("no identity mapping of the image in:\n{g}"));
    let (va, pa) = (parse_hex(&idmap[..18]), parse_hex(idmap.rsplit("-> PA ").next().unwrap()));
    assert_eq!(va, pa, "not an identity mapping: {idmap}");
    assert!(outs[5].contains("---[ user (TTBR0) ]---"), "{g}");
    assert!(outs[6].contains("TTBR0_EL1 walk") && outs[6].contains("=> PA 0x0000000040200000"), "{g}");
    // After boot TTBR0 maps nothing (an empty table, or no walks at all).
    assert!(!outs[10].contains("0x0000000040200000-"), "the identity map is still live after boot:\n{g}");
    assert!(outs[10].contains("(no valid mappings in range)") || outs[10].contains("holds no table address"), "{g}");
    assert!(outs[11].contains("---[ Kernel image ]---") && outs[11].contains("---[ Linear mapping ]---"), "{g}");
}

#[test]
fn helpers_are_right_under_kaslr_on_every_cpu() {
    let m = Machine { kaslr: Kaslr::Seed(77), smp: 2, append: "test=fault:unmapped-read".into(), ..machine() };
    let t = start("kaslr", m);
    let cmds = [
        "vk-phys-symbols",
        "break early_map_kernel",
        "continue",
        "break *$x30",
        "continue",
        "vk-kaslr",
        "vk-break-fault",
        "continue",
        "vk-v2p _text",
        "vk-p2v 0x40200000",
        "vk-v2p _end",
        "bt",
        "thread 2",
        "vk-v2p _text",
        "bt",
        "continue",
    ];
    let (_, outs) = gdb_session(&t, &cmds);
    let g = joined(&cmds, &outs);
    let out = t.finish();
    out.expect_code(4).unwrap_or_else(|e| panic!("{e}\nGDB said:\n{g}"));
    // Where the kernel says KASLR put the image.
    let line = out.console.lines().find(|l| l.contains("KASLR: image at")).unwrap_or_else(|| panic!("{}", out.console));
    let text = parse_hex(line.rsplit(" = ").next().unwrap().split_whitespace().next().unwrap());
    let link = vakern::mm::layout::KIMAGE_VADDR;
    assert_ne!(text, link, "the seed did not move the image");
    let text = format!("{text:#018x}");
    assert!(outs[5].contains(&format!("image at {text}")), "vk-kaslr did not find {text}:\n{g}");
    assert!(outs[5].contains("KASLR_INFO") && !outs[5].contains("DIFFERS"), "{g}");
    assert!(outs[7].contains("handle_exception"), "the breakpoint did not move with the symbols:\n{g}");
    // _text: in the image, the image rule, agreeing with the tables.
    for (i, cpu) in [(8, 0), (13, 1)] {
        let o = &outs[i];
        assert!(o.contains(&format!("VA {text}: kernel image region")), "CPU {cpu}:\n{o}");
        assert!(o.contains("__kimg_to_phys: PA 0x0000000040200000"), "CPU {cpu}:\n{o}");
        assert!(o.contains("OK: the rule and the tables agree: PA 0x0000000040200000"), "CPU {cpu}:\n{o}");
    }
    assert!(outs[9].contains(&format!("image address (__kimg): {text}  (_text + 0x0)")), "{g}");
    assert!(outs[10].contains("OK: ") && !outs[10].contains("MISMATCH"), "{g}");
    assert!(outs[11].contains("__exception_entry") && outs[11].contains(TRIGGER), "{g}");
    assert!(outs[14].contains("secondary_start_kernel"), "CPU 1 is not in its idle loop:\n{g}");
}

/// The Python helpers' unit tests, once for every layout flavour the project
/// builds: each run reads that flavour's table (written here, no kernel
/// build needed) and derives its expectations from it, so a helper that
/// holds a constant of one flavour fails in the others. The runs go in
/// parallel; a failure names its flavours.
#[test]
fn python_helpers_unit_tests() {
    let script = vakern::tools::project_root().join("scripts/gdb/test_vakern.py");
    let runs: Vec<_> = vakern::mm::flavour::FLAVOURS
        .iter()
        .map(|l| {
            let dir = scratch(&format!("gdb-layout/{l}"));
            let table = vakern::gdb_layout::write_into(&dir, l).unwrap();
            // The report goes to a file: a pipe could fill while the runs wait their turn.
            let log = dir.join("unittest.log");
            let child = Command::new("python3")
                .arg(&script)
                .env("VAKERN_LAYOUT", &table)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.join("unittest.out")).unwrap())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("python3");
            (l.to_string(), child, log)
        })
        .collect();
    let mut failed = Vec::new();
    let mut counts = Vec::new();
    for (name, mut child, log) in runs {
        let status = wait_child(&mut child, &format!("the helpers' unit tests for {name}"));
        let text = std::fs::read_to_string(&log).unwrap();
        let ran: usize =
            text.split("Ran ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
        counts.push(ran);
        if !status.success() || !text.contains("\nOK") || ran < 50 {
            failed.push(format!("--- {name}: {ran} tests ---\n{text}"));
        }
    }
    assert!(failed.is_empty(), "the helpers' unit tests fail in {} flavour(s):\n{}", failed.len(), failed.join("\n"));
    // Every flavour runs the same tests.
    assert!(counts.windows(2).all(|w| w[0] == w[1]), "test counts differ between flavours: {counts:?}");
}

// --- The README's GDB sessions, run as printed --------------------------------

/// One README session: the machine its `$ cargo run -- --gdb…` line asks
/// for, and its (command, shown output) pairs; plus `$ tail -n N
/// target/console.log` lines after them.
struct Session {
    machine: Machine,
    steps: Vec<(String, String)>,
    tail: Option<(usize, String)>,
}

/// The README's GDB section (from its heading to the next `## `).
fn gdb_section(readme: &str) -> (usize, usize) {
    let start = readme.find("\n## Debugging with GDB").expect("README has no '## Debugging with GDB' section") + 1;
    let end = readme[start + 3..].find("\n## ").map_or(readme.len(), |e| start + 3 + e + 1);
    (start, end)
}

fn launcher_machine(line: &str) -> Machine {
    let mut m = machine();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut it = words.iter().skip_while(|w| **w != "--").skip(1).peekable();
    while let Some(w) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{w} needs a value in README line {line:?}"));
        match *w {
            "--gdb" | "--gdb-wait" => {}
            "--test" => m.append = format!("{} test={}", m.append, value()).trim().to_string(),
            "--kaslr-seed" => m.kaslr = Kaslr::Seed(value().parse().unwrap()),
            "--smp" => m.smp = value().parse().unwrap(),
            "#" => break,
            other => panic!("README line {line:?}: option {other} is not replayed by tests/gdb.rs"),
        }
    }
    m
}

fn readme_sessions(section: &str) -> Vec<Session> {
    let mut sessions: Vec<Session> = Vec::new();
    let mut in_block = false;
    let mut current: Option<(String, String)> = None;
    let mut in_tail = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            if let (Some(step), Some(s)) = (current.take(), sessions.last_mut()) {
                s.steps.push(step);
            }
            in_tail = false;
            continue;
        }
        if !in_block {
            continue;
        }
        if line.starts_with("$ cargo run -- --gdb ") {
            sessions.push(Session { machine: launcher_machine(line), steps: Vec::new(), tail: None });
        } else if let Some(cmd) = line.strip_prefix("(gdb) ") {
            if let (Some(step), Some(s)) = (current.take(), sessions.last_mut()) {
                s.steps.push(step);
            }
            current = Some((cmd.to_string(), String::new()));
        } else if let Some(n) = line.strip_prefix("$ tail -n ").and_then(|r| r.strip_suffix(" target/console.log")) {
            if let (Some(step), Some(s)) = (current.take(), sessions.last_mut()) {
                s.steps.push(step);
            }
            let s = sessions.last_mut().expect("a tail before any session");
            s.tail = Some((n.parse().unwrap(), String::new()));
            in_tail = true;
        } else if line.starts_with("$ ") {
            if let (Some(step), Some(s)) = (current.take(), sessions.last_mut()) {
                s.steps.push(step);
            }
        } else if in_tail {
            let s = sessions.last_mut().unwrap();
            s.tail.as_mut().unwrap().1.push_str(&format!("{line}\n"));
        } else if let Some((_, out)) = current.as_mut() {
            out.push_str(&format!("{line}\n"));
        }
    }
    sessions
}

/// Output as the README shows it: paths relative to the project, no
/// trailing blanks.
fn clean(s: &str) -> String {
    let root = vakern::tools::project_root().display().to_string() + "/";
    s.replace(&root, "").lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

/// What may differ between two real sessions besides that: console
/// timestamps, and every number. The kernel's code layout, and so its
/// addresses, line numbers, table indices and symbol hashes, depend on where
/// the project is checked out (a path dependency's place goes into its
/// symbols' hashes, and those order the code), so two clones print the same
/// session with other numbers. What is compared is the rest: which commands
/// ran, what each printed around its numbers, every name and every word.
fn normalize(s: &str) -> String {
    let no_times: String = clean(s)
        .lines()
        .map(|line| match (line.strip_prefix('['), line.find(']')) {
            (Some(_), Some(i)) if line[1..i].trim().parse::<f64>().is_ok() => format!("[T]{}\n", &line[i + 1..]),
            _ => format!("{line}\n"),
        })
        .collect();
    mask_numbers(&no_times)
}

/// Each run of hex-digit characters that holds a digit and is at least two
/// long becomes `#`; words without digits (`add`, `bad`) stay.
fn mask_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 2 && run.bytes().any(|b| b.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[test]
fn numbers_are_masked_and_words_are_not() {
    assert_eq!(
        mask_numbers("Breakpoint 3 at 0xffff000008010620: file a.rs, line 62."),
        "Breakpoint 3 at 0x#: file a.rs, line #."
    );
    assert_eq!(mask_numbers("EXC_STACKS::hb00a4b84a88aa2d7+16112> add bad"), "EXC_STACKS::h#+#> add bad");
    assert_ne!(mask_numbers("level 3 pte[#] invalid"), mask_numbers("level 2 pmd[#] invalid"));
}

/// Replace each command's output in the section with `real` (in order),
/// and each console tail with `tails`.
fn bless(section: &str, real: &[Vec<String>], tails: &[Option<String>]) -> String {
    let mut out = String::new();
    let (mut si, mut ci, mut started) = (0usize, 0usize, false);
    let (mut in_block, mut skipping) = (false, false);
    for line in section.lines() {
        let mut keep = true;
        if line.starts_with("```") {
            in_block = !in_block;
            skipping = false;
        } else if !in_block {
        } else if line.starts_with("$ cargo run -- --gdb ") {
            si += usize::from(started);
            started = true;
            ci = 0;
            skipping = false;
        } else if line.starts_with("(gdb) ") {
            out.push_str(&format!("{line}\n{}", real[si][ci]));
            ci += 1;
            (keep, skipping) = (false, true);
        } else if line.starts_with("$ tail -n ") {
            out.push_str(&format!("{line}\n{}", tails[si].as_deref().unwrap_or("")));
            (keep, skipping) = (false, true);
        } else if line.starts_with("$ ") {
            skipping = false;
        } else if skipping {
            keep = false;
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn readme_gdb_sessions_run_as_printed() {
    let path = vakern::tools::project_root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (from, to) = gdb_section(&readme);
    let section = &readme[from..to];
    let sessions = readme_sessions(section);
    assert!(sessions.len() >= 2, "expected the fault and the KASLR sessions in the README");
    let mut real = Vec::new();
    let mut tails = Vec::new();
    let mut problems = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        assert!(!s.steps.is_empty(), "README session {i} has no (gdb) commands");
        let t = start(&format!("readme{i}"), s.machine.clone());
        let cmds: Vec<&str> = s.steps.iter().map(|(c, _)| c.as_str()).collect();
        let (_, outs) = gdb_session(&t, &cmds);
        let out = t.finish();
        let outs: Vec<String> = outs.iter().map(|o| clean(o)).collect();
        for ((cmd, shown), got) in s.steps.iter().zip(&outs) {
            if normalize(shown) != normalize(got) {
                problems.push(format!("session {i}, (gdb) {cmd}\n--- README shows:\n{shown}--- GDB printed:\n{got}"));
            }
        }
        let tail = s.tail.as_ref().map(|(n, shown)| {
            let lines: Vec<&str> = out.console.lines().collect();
            let got = clean(&lines[lines.len().saturating_sub(*n)..].join("\n"));
            if normalize(shown) != normalize(&got) {
                problems.push(format!("session {i}, console tail\n--- README shows:\n{shown}--- console:\n{got}"));
            }
            got
        });
        real.push(outs);
        tails.push(tail);
    }
    if problems.is_empty() {
        return;
    }
    if std::env::var_os("VAKERN_BLESS").is_some() {
        let new = format!("{}{}{}", &readme[..from], bless(section, &real, &tails), &readme[to..]);
        std::fs::write(&path, new).unwrap();
        eprintln!("README.md: {} outputs rewritten from real sessions", problems.len());
        return;
    }
    panic!(
        "the README's GDB sessions print something else now ({} outputs); rerun with VAKERN_BLESS=1 to \
         rewrite them:\n\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// --- The launcher under GDB ---------------------------------------------------

/// The launcher tests share target/console.log: one at a time.
static LAUNCHER: Mutex<()> = Mutex::new(());

/// A TCP port no other test of this project holds: a lock file per port,
/// created exclusively (stale ones, whose process is gone, are taken over),
/// and a port nothing else listens on.
struct PortLock {
    port: u16,
    path: PathBuf,
}

impl Drop for PortLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn reserve_port() -> PortLock {
    let dir = scratch("gdb-ports");
    let first = std::process::id() % 10_000;
    for i in 0..10_000u32 {
        let port = (20_000 + (first + i) % 10_000) as u16;
        let path = dir.join(format!("{port}.lock"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                let lock = PortLock { port, path };
                if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
                    return lock;
                }
            }
            Err(_) => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                if !owner.is_empty() && !Path::new(&format!("/proc/{}", owner.trim())).exists() {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
    panic!("no free TCP port in 20000..30000");
}

fn launcher() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vakern"));
    c.current_dir(vakern::tools::project_root());
    c
}

#[test]
fn launcher_gdb_wait_has_no_timeout_and_logs_the_console() {
    let _one = LAUNCHER.lock().unwrap_or_else(|p| p.into_inner());
    let k = kernel(false);
    let port = reserve_port();
    let log = vakern::tools::project_root().join("target/console.log");
    let _ = std::fs::remove_file(&log);
    let mut l = launcher()
        .args(["--gdb-wait", &port.port.to_string(), "--test", "fault:unmapped-read", "--timeout", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the launcher's QEMU to listen", || tcp_listening(port.port));
    // Paused longer than --timeout: a timeout would kill QEMU now.
    std::thread::sleep(Duration::from_millis(1500));
    programs();
    let g = Command::new("gdb-multiarch")
        .args(["-batch", "-nx"])
        .arg(&k.elf)
        .arg("-ex")
        .arg(format!("target remote :{}", port.port))
        .args(["-ex", "continue"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let g = String::from_utf8_lossy(&g.stdout).to_string() + &String::from_utf8_lossy(&g.stderr);
    let status = wait_child(&mut l, "the launcher");
    let mut stdout = String::new();
    l.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    // (GDB may see the exit or, racing QEMU's exit, a closed connection: the
    // exit code is what counts.)
    assert_eq!(status.code(), Some(4), "the launcher's exit code is not the kernel's; GDB said:\n{g}");
    // The console is on the terminal and in target/console.log.
    let logged = std::fs::read_to_string(&log).expect("target/console.log written");
    for c in [&logged, &stdout] {
        assert!(c.contains("Unable to handle kernel paging request"), "console missing:\n{c}");
    }
}

/// Reads a child's output as it comes.
struct Stream(mpsc::Receiver<Vec<u8>>, String);

impl Stream {
    fn new(mut r: impl Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Stream(rx, String::new())
    }

    /// Wait for `needle`, consuming the output up to it.
    fn expect(&mut self, needle: &str) {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(i) = self.1.find(needle) {
                self.1.drain(..i + needle.len());
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(b) => self.1.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => panic!("no {needle:?} in the terminal; last output:\n{}", self.1),
            }
        }
    }
}

/// `cargo run -- --gdb ARGS` in a pseudo-terminal (script(1)), driven by
/// `drive` with what it types and what it waits for; the launcher's exit code.
fn in_a_terminal(args: &str, drive: impl FnOnce(&mut dyn Write, &mut Stream)) -> Option<i32> {
    let _one = LAUNCHER.lock().unwrap_or_else(|p| p.into_inner());
    kernel(false);
    let port = reserve_port();
    // script(1) runs the command through $SHELL -c. dash (Debian's /bin/sh)
    // does not exec a lone command, so it would stay in the terminal's
    // process group and die of the Ctrl-C that is meant for GDB, and script
    // would report 130. `exec` makes the launcher the terminal's process, as
    // `cargo run` (which execs the launcher) does for a person.
    let cmd = format!("exec {} --gdb {} {args}", env!("CARGO_BIN_EXE_vakern"), port.port);
    let mut s = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .current_dir(vakern::tools::project_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run script(1)");
    let mut input = s.stdin.take().unwrap();
    let mut out = Stream::new(s.stdout.take().unwrap());
    out.expect("(gdb) ");
    drive(&mut input, &mut out);
    let status = wait_child(&mut s, "the launcher under script(1)");
    status.code()
}

#[test]
fn launcher_gdb_ctrl_c_interrupts_the_kernel() {
    let code = in_a_terminal("--test hang", |input, out| {
        input.write_all(b"continue\n").unwrap();
        out.expect("Continuing.");
        std::thread::sleep(Duration::from_millis(500));
        input.write_all(b"\x03").unwrap();
        out.expect("received signal SIGINT");
        out.expect("(gdb) ");
        input.write_all(b"bt\n").unwrap();
        out.expect("test_hang");
        out.expect("(gdb) ");
        input.write_all(b"set confirm off\n").unwrap();
        out.expect("(gdb) ");
        input.write_all(b"quit\n").unwrap();
        out.expect("GDB ended before the kernel did");
    });
    assert_eq!(code, Some(0), "quitting GDB before the kernel ends is GDB's success");
}

#[test]
fn launcher_gdb_exits_with_the_kernels_code() {
    let code = in_a_terminal("--test fault:unmapped-read", |input, out| {
        input.write_all(b"continue\n").unwrap();
        out.expect("Continuing.");
        // GDB reports the exit (or, racing QEMU's exit, a closed connection).
        out.expect("(gdb) ");
        input.write_all(b"quit\n").unwrap();
        out.expect("kernel exited with code 4");
    });
    assert_eq!(code, Some(4));
}
