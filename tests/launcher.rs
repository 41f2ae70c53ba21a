//! The launcher (`cargo run`) run as a user would, with odd options: a pass
//! means every option either takes effect with every device-tree source or
//! is refused with a message and the usage code (64), that what QEMU itself
//! refuses comes back as QEMU's message with code 69, and that a self-test
//! behind `--raw-dtb` really runs.

mod common;
use common::*;
use std::process::{Command, Output};

fn vakern(args: &[&str]) -> (i32, String) {
    let Output { status, stdout, stderr } =
        Command::new(env!("CARGO_BIN_EXE_vakern")).args(args).args(["--timeout", "120"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    (status.code().expect("the launcher ended by a signal"), text)
}

fn expect(args: &[&str], code: i32, needle: &str) -> String {
    let (c, text) = vakern(args);
    assert_eq!(c, code, "vakern {args:?}: exit {c}, expected {code}:\n{text}");
    assert!(text.contains(needle), "vakern {args:?}: missing {needle:?} in:\n{text}");
    text
}

/// QEMU's own 1 GiB tree, with no command line, as a file.
fn plain_tree(name: &str) -> String {
    let memory =
        "\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 0x40000000 0x00 0x40000000>;\n\t};\n";
    custom_dtb(name, "1G", memory, "").display().to_string()
}

#[test]
fn test_behind_raw_dtb_really_runs() {
    let f = plain_tree("launcher-raw");
    expect(&["--raw-dtb", &f, "--test", "fault:null-read"], 4, "Unable to handle kernel");
    let out =
        expect(&["--raw-dtb", &f, "--poweroff", "--append", "loglevel=7", "--kaslr-seed", "3"], 0, "Boot complete");
    assert!(out.contains("Kernel command line: loglevel=7 poweroff kaslr_seed=3"), "{out}");
}

#[test]
fn combinations_that_cannot_work_are_refused() {
    let f = plain_tree("launcher-refused");
    for (args, needle) in [
        (&["--no-dtb", "--test", "layout"][..], "--no-dtb"),
        (&["--no-dtb", "--poweroff"], "--no-dtb"),
        (&["--raw-dtb", &f, "--kaslr"], "--kaslr-seed"),
        (&["--load-addr", "0x48000000", "--poweroff"], "--load-addr needs --raw-dtb"),
        (&["--test", ""], "not a self-test name"),
        (&["--append", "test="], "names no self-test"),
        (&["--gdb", "0"], "0 is not in 1..=65535"),
        (&["--cpu", "cortex-a15", "--poweroff"], "not a 64-bit (AArch64) model"),
        (&["--cpu", "cortex-a7", "--poweroff"], "not a 64-bit (AArch64) model"),
        (&["--ram", "7", "--poweroff"], "at least 64 MiB"),
        (&["--raw-dtb", "Cargo.toml", "--test", "layout"], "cannot write the command line"),
        // Where the Image goes: inside RAM, .bss included, clear of the tree.
        (&["--no-dtb", "--load-addr", "0x30000000"], "must lie inside RAM"),
        (&["--raw-dtb", &f, "--load-addr", "0x7fff0000"], "must lie inside RAM"),
        (&["--raw-dtb", &f, "--load-addr", "0x43f80000"], "overlaps the device tree"),
    ] {
        expect(args, 64, needle);
    }
}

#[test]
fn what_qemu_refuses_is_reported_as_qemus_error() {
    expect(&["--qemu-arg", "-no-such-qemu-option", "--poweroff"], 69, "QEMU refused to start the machine");
    expect(&["--dtb", "Cargo.toml", "--poweroff"], 69, "FDT_ERR_BADMAGIC");
}

#[test]
fn a_bare_ram_size_is_mib_for_everyone() {
    let out = expect(&["--ram", "256", "--poweroff"], 0, "Boot complete");
    assert!(out.contains("Memory: 256 MiB total"), "{out}");
}

#[test]
fn numa_nodes_above_16g_boot() {
    let out = expect(&["--ram", "64G", "--numa", "32G,32G", "--poweroff"], 0, "Boot complete");
    assert!(out.contains("Memory: 64 GiB total"), "{out}");
}
