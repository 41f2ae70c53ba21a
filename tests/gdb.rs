//! GDB test: a pass means gdb-multiarch, driven in batch mode with the
//! helpers of scripts/gdb/vakern.py, stops a faulting kernel in its
//! exception handler, reads FAR and ESR from the CPU, decodes them and walks
//! the tables, and that all of it agrees with the report the kernel prints
//! when it is let go; and that the Python helpers' own unit tests pass.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;
use vakern::qemu::Machine;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Run gdb-multiarch in batch mode on `elf`, attached to `port`, with the
/// helpers loaded and `commands` after; everything it printed.
fn gdb_batch(elf: &std::path::Path, port: u16, commands: &[&str]) -> String {
    let script = vakern::tools::project_root().join("scripts/gdb/vakern.py");
    let mut c = Command::new("timeout");
    c.arg("60").arg("gdb-multiarch").args(["-batch", "-nx"]).arg(elf);
    c.arg("-ex").arg(format!("source {}", script.display()));
    c.arg("-ex").arg(format!("target remote :{port}"));
    for cmd in commands {
        c.arg("-ex").arg(cmd);
    }
    let out = c.stdin(Stdio::null()).output().expect("run gdb-multiarch");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn gdb_stops_at_the_fault_and_agrees_with_the_kernel() {
    let k = kernel(false);
    let port = free_port();
    let m = Machine {
        append: "test=fault:unmapped-read".into(),
        gdb_port: Some(port),
        timeout: Duration::from_secs(60),
        ..machine()
    };
    let qemu = std::thread::spawn({
        let image = k.image.clone();
        move || m.run(&image).unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    let g = gdb_batch(
        &k.elf,
        port,
        &[
            "vk-break-fault",
            "continue",
            "printf \"FAR=%016lx\\n\", $FAR_EL1",
            "printf \"ESR=%08lx\\n\", $ESR_EL1",
            "vk-esr",
            "vk-walk $FAR_EL1",
            "vk-v2p 0xffff800000000000",
            "continue",
        ],
    );
    let out = qemu.join().unwrap();
    out.expect_code(4).unwrap_or_else(|e| panic!("{e}\nGDB said:\n{g}"));
    let c = &out.console;
    // GDB stopped in the handler and read the fault registers.
    assert!(g.contains("handle_exception"), "GDB did not stop in the handler:\n{g}");
    let far =
        g.lines().find_map(|l| l.strip_prefix("FAR=")).unwrap_or_else(|| panic!("no FAR in:\n{g}")).trim().to_string();
    let esr =
        g.lines().find_map(|l| l.strip_prefix("ESR=")).unwrap_or_else(|| panic!("no ESR in:\n{g}")).trim().to_string();
    // The kernel's own report names the same address and ESR.
    assert!(c.contains(&format!("at virtual address {far}")), "FAR {far} not in the kernel's report:\n{c}");
    assert!(c.contains(&format!("ESR = 0x00000000{esr}")), "ESR {esr} not in the kernel's report:\n{c}");
    // The helper's decode and walk match the kernel's.
    assert!(g.contains("level 0 translation fault") && c.contains("level 0 translation fault"), "{g}\n{c}");
    let kernel_walk =
        c.lines().find(|l| l.contains(&format!("[{far}] pgd="))).unwrap_or_else(|| panic!("no walk in:\n{c}"));
    let pgd = kernel_walk.split("pgd=").nth(1).unwrap().split(',').next().unwrap().trim();
    assert!(g.contains(&format!("[{far}] pgd=0x{pgd}")), "GDB walk differs from the kernel's ({pgd}):\n{g}");
    // After the linear map exists, the helper's v2p agrees with the tables.
    assert!(g.contains("OK: the rule and the tables agree: PA 0x0000000040000000"), "{g}");
}

#[test]
fn python_helpers_unit_tests() {
    let script = vakern::tools::project_root().join("scripts/gdb/test_vakern.py");
    let table = vakern::gdb_layout::write_into(&scratch("gdb-layout")).unwrap();
    let out = Command::new("python3").arg(&script).env("VAKERN_LAYOUT", &table).output().expect("python3");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("OK"), "{text}");
}

#[test]
fn gdb_finds_the_image_under_kaslr() {
    let k = kernel(false);
    let port = free_port();
    let m = Machine {
        kaslr: vakern::qemu::Kaslr::Seed(77),
        append: "test=hang".into(),
        extra: vec!["-gdb".into(), format!("tcp::{port}")],
        timeout: Duration::from_secs(20),
        ..machine()
    };
    let qemu = std::thread::spawn({
        let image = k.image.clone();
        move || m.run(&image).unwrap()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let g = gdb_batch(&k.elf, port, &["vk-kaslr", "info symbol $pc", "kill"]);
    let out = qemu.join().unwrap();
    let text = out
        .console
        .lines()
        .find_map(|l| l.split("_text  0x").nth(1))
        .map(|t| t.replace('_', ""))
        .unwrap_or_else(|| panic!("no _text in:\n{}", out.console));
    assert_ne!(text, "ffff000008000000", "the seed did not move the image");
    assert!(
        g.contains(&format!("image at {text}")) || g.contains(&format!("image at 0x{text}")),
        "vk-kaslr did not find {text}:\n{g}"
    );
    assert!(g.contains("in section .text"), "$pc is not in a kernel function after vk-kaslr:\n{g}");
}
