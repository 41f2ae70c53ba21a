//! Shared helpers for the tests that boot the kernel in QEMU.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;
use vakern::image::{self, Flavour, Kernel};
use vakern::qemu::{DtbSource, Machine, Outcome};

/// QEMU, dtc and gdb-multiarch, installed first if missing: every helper
/// that runs one of them directly calls this, as a fresh CI machine has none.
pub fn programs() {
    if let Err(e) = vakern::tools::ensure_programs() {
        panic!("{e}");
    }
}

/// The kernel in `flavour`, built once per test binary; the tools are
/// installed first if missing.
pub fn kernel(debug_virtual: bool) -> Kernel {
    if let Err(e) = vakern::tools::ensure_all() {
        panic!("{e}");
    }
    image::build_once(Flavour::default_layout(debug_virtual)).unwrap_or_else(|e| panic!("{e}"))
}

/// The kernel with `debug_pgtable` as well: what [`boot`] and [`selftest`]
/// boot, so every configuration they boot checks every write to a live
/// table (the plain kernel is booted by the GDB, monitor and harness tests).
pub fn kernel_pgt(debug_virtual: bool) -> Kernel {
    if let Err(e) = vakern::tools::ensure_all() {
        panic!("{e}");
    }
    image::build_once(Flavour { debug_pgtable: true, ..Flavour::default_layout(debug_virtual) })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// No unsafe write to a live table was reported (the `pgt:` corpus, which
/// makes them on purpose, is checked by its own test).
pub fn assert_no_pgtable_violation(m: &Machine, console: &str) {
    if m.append.contains("test=pgt:") {
        return;
    }
    assert!(
        !console.contains("debug_pgtable: unsafe write"),
        "debug_pgtable found unsafe writes on {}:\n{console}",
        describe(m)
    );
    if console.contains("debug_pgtable: ") && console.contains("during boot") {
        assert!(console.contains("debug_pgtable: 0 unsafe write(s) to live tables during boot"), "{console}");
    }
}

/// The kernel in `layout` (a flavour name such as `6.12-4K-48`), built once
/// per test binary and flavour; different flavours build in parallel from
/// the test threads, each in its own target directory.
pub fn kernel_in(layout: &str, debug_virtual: bool) -> Kernel {
    if let Err(e) = vakern::tools::ensure_all() {
        panic!("{e}");
    }
    let layout = vakern::mm::flavour::parse(layout).unwrap_or_else(|e| panic!("{layout}: {e}"));
    image::build_once(Flavour { layout, debug_virtual, debug_pgtable: false }).unwrap_or_else(|e| panic!("{e}"))
}

/// The kernel in `layout` with `debug_virtual` and `debug_pgtable` both on:
/// every `__pa`/`__va` and every write to a live table checked, so each boot
/// also says that nothing was misused on the way. The layout tests boot it
/// in every flavour.
pub fn kernel_checked(layout: &str) -> Kernel {
    if let Err(e) = vakern::tools::ensure_all() {
        panic!("{e}");
    }
    let layout = vakern::mm::flavour::parse(layout).unwrap_or_else(|e| panic!("{layout}: {e}"));
    image::build_once(Flavour { layout, debug_virtual: true, debug_pgtable: true }).unwrap_or_else(|e| panic!("{e}"))
}

/// The timeout of every test boot: a boot takes well under a second alone,
/// and a few seconds when two `cargo test` runs share 2 cores with 4-CPU
/// guests; the margin is there so that load never reads as a hang.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A default machine (virt, cortex-a72, 1 GiB, EL1) with [`TEST_TIMEOUT`].
pub fn machine() -> Machine {
    Machine { timeout: TEST_TIMEOUT, ..Machine::default() }
}

/// Boot `m` with the kernel in `flavour`.
pub fn boot(m: &Machine, debug_virtual: bool) -> Outcome {
    let k = kernel_pgt(debug_virtual);
    let out = m.run(&k.image).unwrap_or_else(|e| panic!("{e}"));
    assert_no_pgtable_violation(m, &out.console);
    out
}

/// Boot `test=NAME` on `m` and require exit code `code`; return the console.
pub fn selftest(m: Machine, name: &str, code: i32, debug_virtual: bool) -> String {
    let m = Machine { append: format!("{} test={name}", m.append).trim().to_string(), ..m };
    let out = boot(&m, debug_virtual);
    if let Err(e) = out.expect_code(code) {
        panic!("test={name} on {}: {e}", describe(&m));
    }
    out.console
}

/// Self-test `name`, one of `group`, all of which boot once together on
/// `m` (`test=A,B,..`: the kernel runs them in order, each between its own
/// "selftest NAME: checking" and PASS/FAIL lines). The first `#[test]` that
/// asks for a (machine, group, kernel) boots it; the others of the group
/// read the same console. Requires `name` to pass, and the boot's exit code
/// to be the kernel's rule for the list: 0 when every test passed, else the
/// first failure's. Returns what a boot of `name` alone would have printed:
/// the boot log before the first test, then `name`'s own lines.
pub fn selftest_of(m: Machine, name: &str, group: &[&str], debug_virtual: bool) -> String {
    let key = format!("{m:?}");
    selftest_of_with(&key, name, group, debug_virtual, move || m)
}

/// [`selftest_of`] for a machine that costs something to make (a device
/// tree to compile): `make` runs once, in the `#[test]` that boots; `key`
/// names the machine among the calls of one test file.
pub fn selftest_of_with(
    key: &str,
    name: &str,
    group: &[&str],
    debug_virtual: bool,
    make: impl FnOnce() -> Machine,
) -> String {
    assert!(group.contains(&name), "{name} is not in its group {group:?}");
    type Cell = Arc<OnceLock<(Machine, Outcome)>>;
    static BOOTS: Mutex<Option<HashMap<String, Cell>>> = Mutex::new(None);
    let list = group.join(",");
    let cell = {
        let mut all = BOOTS.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!("{key} test={list} debug_virtual={debug_virtual}");
        all.get_or_insert_with(HashMap::new).entry(key).or_default().clone()
    };
    let (m, out) = cell.get_or_init(|| {
        let m = make();
        let m = Machine { append: format!("{} test={list}", m.append).trim().to_string(), ..m };
        let out = boot(&m, debug_virtual);
        (m, out)
    });
    let c = &out.console;
    let verdict = |t: &str| {
        c.lines().find_map(|l| {
            let rest = l.split_once(&format!("selftest {t}: "))?.1;
            if rest.starts_with("PASS") {
                Some(true)
            } else if rest.starts_with("FAIL") {
                Some(false)
            } else {
                None
            }
        })
    };
    let verdicts: Vec<Option<bool>> = group.iter().map(|t| verdict(t)).collect();
    let want = if verdicts.iter().all(|v| *v == Some(true)) { Some(0) } else { None };
    let at = group.iter().position(|t| *t == name).unwrap();
    match verdicts[at] {
        Some(true) => {}
        Some(false) => panic!("test={name} (in test={list}) on {}: FAIL\n{c}", describe(m)),
        None => panic!(
            "test={name} (in test={list}) on {}: no verdict; the boot ended with {:?}{}:\n{c}",
            describe(m),
            out.code,
            if out.timed_out { " (timed out)" } else { "" }
        ),
    }
    // The list's exit code: 0 if every test passed; a FAIL line before any
    // stop means TEST_FAILED; a test that stopped the kernel has no verdict
    // and its own code, which the tests after it are not blamed for.
    if let Some(w) = want {
        if let Err(e) = out.expect_code(w) {
            panic!("test={list} on {}: every test passed, but {e}", describe(m));
        }
    } else if verdicts.iter().flatten().any(|v| !v) && verdicts.iter().all(|v| v.is_some()) {
        assert_eq!(out.code, Some(1), "test={list}: a FAIL line must give exit code 1:\n{c}");
    }
    let first = format!("selftest {}: checking", group[0]);
    let start = format!("selftest {name}: checking");
    let end = [format!("selftest {name}: PASS"), format!("selftest {name}: FAIL")];
    let line_start = |needle: &str| c.find(needle).map(|i| c[..i].rfind('\n').map_or(0, |j| j + 1));
    let prefix_end = line_start(&first).unwrap_or_else(|| panic!("no {first:?} line in:\n{c}"));
    let own_start = line_start(&start).unwrap_or_else(|| panic!("no {start:?} line in:\n{c}"));
    let own_end = end
        .iter()
        .filter_map(|e| c[own_start..].find(e.as_str()))
        .min()
        .map(|i| own_start + i + c[own_start + i..].find('\n').map_or(c.len() - own_start - i, |j| j + 1))
        .unwrap();
    format!("{}{}", &c[..prefix_end], &c[own_start..own_end])
}

/// The value of `f`, computed once per `key` for every `#[test]` of a test
/// file that asks (the others wait for the first and get a copy): a boot
/// that several tests read, each checking its own part. A panic in `f`
/// fails the test that ran it; the next one to ask tries again.
pub fn shared<T: Clone + Send + Sync + 'static>(key: &str, f: impl FnOnce() -> T) -> T {
    type Cell = Arc<OnceLock<Box<dyn std::any::Any + Send + Sync>>>;
    static VALUES: Mutex<Option<HashMap<String, Cell>>> = Mutex::new(None);
    let cell = {
        let mut all = VALUES.lock().unwrap_or_else(|p| p.into_inner());
        all.get_or_insert_with(HashMap::new).entry(key.to_string()).or_default().clone()
    };
    let v = cell.get_or_init(|| Box::new(f()));
    v.downcast_ref::<T>().unwrap_or_else(|| panic!("shared({key:?}) asked for another type")).clone()
}

/// A one-line description of a machine for failure messages.
pub fn describe(m: &Machine) -> String {
    format!("ram={} numa={:?} smp={} el2={} append={:?} dtb={:?}", m.ram, m.numa, m.smp, m.el2, m.append, m.dtb)
}

/// A scratch directory of this test process alone (a second `cargo test`
/// running at the same time gets its own): `target/test-scratch/PID/name`.
/// Directories left by processes that have ended are removed on first use.
pub fn scratch(name: &str) -> PathBuf {
    static CLEANED: Once = Once::new();
    let base = vakern::tools::project_root().join("target/test-scratch");
    CLEANED.call_once(|| {
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let pid = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok());
            if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) || pid.is_none() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
    let d = base.join(std::process::id().to_string()).join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A file name no other call in this process uses (`stem-N.ext`).
pub fn unique_name(stem: &str, ext: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{stem}-{}.{ext}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// QEMU's own device tree for a virt machine with `ram`, as DTS source
/// (dumped with `dumpdtb`, decompiled with dtc; no random seeds).
pub fn qemu_dts(ram: &str, dir: &Path) -> String {
    programs();
    let dtb = dir.join(unique_name(&format!("qemu-{ram}"), "dtb"));
    let out = Command::new("qemu-system-aarch64")
        .args(["-M", &format!("virt,dumpdtb={},dtb-randomness=off", dtb.display())])
        .args([
            "-cpu",
            "cortex-a72",
            "-m",
            ram,
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-nic",
            "none",
        ])
        .output()
        .expect("run qemu");
    assert!(dtb.is_file(), "QEMU did not dump its DTB: {}", String::from_utf8_lossy(&out.stderr));
    let dts = Command::new("dtc").args(["-I", "dtb", "-O", "dts", "-q"]).arg(&dtb).output().expect("run dtc");
    assert!(dts.status.success(), "dtc failed: {}", String::from_utf8_lossy(&dts.stderr));
    String::from_utf8(dts.stdout).unwrap()
}

/// Compile DTS source to a DTB file.
pub fn compile_dts(dts: &str, path: &Path) -> PathBuf {
    programs();
    let src = path.with_extension("dts");
    std::fs::write(&src, dts).unwrap();
    let out =
        Command::new("dtc").args(["-I", "dts", "-O", "dtb", "-q", "-o"]).arg(path).arg(&src).output().expect("run dtc");
    assert!(out.status.success(), "dtc failed on {}: {}", src.display(), String::from_utf8_lossy(&out.stderr));
    path.to_path_buf()
}

/// QEMU's DTS for `ram` with its memory node replaced by `memory` (DTS text
/// placed at the root) and `/chosen` given `bootargs`.
pub fn custom_dtb(name: &str, ram: &str, memory: &str, bootargs: &str) -> PathBuf {
    let dir = scratch("dtb");
    let dts = qemu_dts(ram, &dir);
    let start = dts.find("\tmemory@").expect("memory node in QEMU's DTS");
    let end = start + dts[start..].find("\t};\n").expect("end of memory node") + 4;
    let mut s = format!("{}{}{}", &dts[..start], memory, &dts[end..]);
    let chosen = s.find("\tchosen {").expect("chosen node");
    s.insert_str(chosen + "\tchosen {".len(), &format!("\n\t\tbootargs = \"{bootargs}\";"));
    compile_dts(&s, &dir.join(format!("{name}.dtb")))
}

/// A machine that gets `dtb` verbatim through the boot loader shim.
pub fn raw(m: Machine, dtb: PathBuf) -> Machine {
    Machine { dtb: DtbSource::Raw(dtb), ..m }
}

/// Count the lines of `console` containing `needle`.
pub fn count(console: &str, needle: &str) -> usize {
    console.lines().filter(|l| l.contains(needle)).count()
}

/// Panic, showing `c`, unless it contains every needle.
pub fn has(c: &str, needles: &[&str]) {
    for n in needles {
        assert!(c.contains(n), "missing {n:?} in:\n{c}");
    }
}
