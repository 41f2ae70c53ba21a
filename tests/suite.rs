//! Every integration test of the host crate in one test binary, so that
//! `cargo test` runs them in one pool of test threads instead of one binary
//! after another (each binary waited for its slowest test while the other
//! core idled), links one binary instead of one per file, and builds each
//! kernel flavour once per run. Each file under tests/ is a module here and
//! keeps its own name in the test paths (`boot::panic_is_reported`); it is
//! also a target of its own, built only on request, for working on one
//! file: `cargo test --test boot`. A file that is in neither place would
//! still run as its own binary; `every_test_file_is_in_the_suite` below
//! keeps the list whole.
// Each file declares `mod common;` itself, as it must when built alone,
// so the helpers are compiled once per file here: that duplication is meant.
#![allow(clippy::duplicate_mod)]

#[path = "badinput.rs"]
mod badinput;
#[path = "boards.rs"]
mod boards;
#[path = "boards_handoff.rs"]
mod boards_handoff;
#[path = "boards_host.rs"]
mod boards_host;
#[path = "boot.rs"]
mod boot;
#[path = "console_discovery.rs"]
mod console_discovery;
#[path = "debug_pgtable.rs"]
mod debug_pgtable;
#[path = "debug_virtual.rs"]
mod debug_virtual;
#[path = "faults.rs"]
mod faults;
#[path = "flavour_features.rs"]
mod flavour_features;
#[path = "gdb.rs"]
mod gdb;
#[path = "harness.rs"]
mod harness;
#[path = "kaslr.rs"]
mod kaslr;
#[path = "launcher.rs"]
mod launcher;
#[path = "layouts.rs"]
mod layouts;
#[path = "linear_map.rs"]
mod linear_map;
#[path = "monitor.rs"]
mod monitor;
#[path = "monitor_pty.rs"]
mod monitor_pty;
#[path = "smp.rs"]
mod smp;
#[path = "tree.rs"]
mod tree;

/// Every tests/*.rs file is a module of this binary and a test target of
/// its own that plain `cargo test` does not run again.
#[test]
fn every_test_file_is_in_the_suite() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let me = std::fs::read_to_string(root.join("tests/suite.rs")).unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("tests")).unwrap() {
        let p = e.unwrap().path();
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else { continue };
        if p.extension().is_none_or(|x| x != "rs") || stem == "suite" {
            continue;
        }
        if !me.contains(&format!("#[path = \"{stem}.rs\"]\nmod {stem};")) {
            missing.push(format!("tests/suite.rs lacks `#[path = \"{stem}.rs\"] mod {stem};`"));
        }
        let target = format!("[[test]]\nname = \"{stem}\"\npath = \"tests/{stem}.rs\"\ntest = false\n");
        if !manifest.contains(&target) {
            missing.push(format!("Cargo.toml lacks the target {target:?}"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
