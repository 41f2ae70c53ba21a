//! Fault tests: a pass means every kind of kernel fault is reported in arm64
//! Linux's shape (headline, Mem abort info, region, table walk, registers,
//! symbolized call trace) and stops the kernel with a failing exit code
//! within the timeout, never a hang or a fault loop; and that the page-table
//! dump shows the regions and attributes the kernel set up.

mod common;
use common::*;
use vakern::qemu::Machine;

fn fault(kind: &str, code: i32) -> String {
    selftest(machine(), &format!("fault:{kind}"), code, false)
}

const COMMON: &[&str] = &[
    "Mem abort info:",
    "Internal error: Oops:",
    "pc : vakern::",
    "Call trace:",
    "Kernel panic - not syncing: Oops: Fatal exception",
    "stopping: kernel fault (exit code 4)",
];

#[test]
fn null_read() {
    let c = fault("null-read", 4);
    has(&c, COMMON);
    has(
        &c,
        &[
            "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
            "EC = 0x25: DABT (current EL)",
            "WnR = 0",
            "is in: user",
            "user pgtable: empty (TTBR0 walks disabled)",
            " vakern::debug::fault_inject::trigger+",
            " vakern::selftest::run+",
        ],
    );
}

#[test]
fn unmapped_kernel_read() {
    let c = fault("unmapped-read", 4);
    has(&c, COMMON);
    has(
        &c,
        &[
            "Unable to handle kernel paging request at virtual address ffff010008000000",
            "level 0 translation fault",
            "is in: vmalloc",
            "swapper pgtable: 4k pages, 48-bit VAs",
            "[ffff010008000000] pgd=0000000000000000",
        ],
    );
}

#[test]
fn non_canonical_read() {
    let c = fault("noncanonical", 4);
    has(
        &c,
        &[
            "Unable to handle kernel paging request at virtual address 1234000000000000",
            "is in: non-canonical",
            "address between user and kernel address ranges",
        ],
    );
}

#[test]
fn write_to_rodata() {
    let c = fault("rodata-write", 4);
    has(&c, COMMON);
    has(
        &c,
        &[
            "Unable to handle kernel write to read-only memory at virtual address ffff0000080",
            "level 3 permission fault",
            "WnR = 1",
            "is in: kernel image",
            ", pte=",
        ],
    );
}

#[test]
fn write_to_text() {
    let c = fault("text-write", 4);
    has(
        &c,
        &[
            "Unable to handle kernel write to read-only memory",
            "level 3 permission fault",
            "WnR = 1",
            "is in: kernel image",
        ],
    );
}

#[test]
fn execute_from_data() {
    let c = fault("exec-data", 4);
    has(
        &c,
        &[
            "Unable to handle kernel execute from non-executable memory at virtual address ffff0000080",
            "EC = 0x21: IABT (current EL)",
            "level 3 permission fault",
        ],
    );
}

#[test]
fn stack_overflow_is_caught_on_the_exception_stack() {
    let c = fault("stack-overflow", 4);
    has(
        &c,
        &[
            "Insufficient stack space to handle exception!",
            "kernel stack overflow",
            "its guard page is below it",
            "exception stack",
            "level 3 translation fault",
            "pc : vakern::debug::fault_inject::recurse+",
        ],
    );
}

#[test]
fn fault_in_the_fault_handler_stops() {
    let c = fault("fault-in-handler", 7);
    has(
        &c,
        &[
            "Recursive fault: exception (Synchronous from EL1h)",
            "stopping: fault inside the fault handler (exit code 7)",
        ],
    );
}

#[test]
fn breakpoint_is_an_oops() {
    let c = fault("brk", 4);
    has(&c, &["Internal error: Oops - BRK (AArch64)", "Call trace:"]);
}

#[test]
fn ptdump_shows_regions_runs_and_attributes() {
    let m = Machine { append: "ptdump poweroff".into(), ..machine() };
    let out = boot(&m, false);
    out.expect_code(0).unwrap();
    let c = &out.console;
    // Every region marker, in address order.
    let markers = [
        "---[ Modules ]---",
        "---[ vmalloc() area ]---",
        "---[ Kernel image ]---",
        "---[ Fixmap ]---",
        "---[ PCI I/O ]---",
        "---[ vmemmap ]---",
        "---[ Linear mapping ]---",
    ];
    let mut at = 0;
    for m in markers {
        let i = c[at..].find(m).unwrap_or_else(|| panic!("marker {m} missing or out of order:\n{c}"));
        at += i;
    }
    let line =
        |start: &str| c.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no run at {start}:\n{c}"));
    // Text: one merged run of pages, read-only, executable.
    let text = line("0xffff000008000000-");
    assert!(text.contains(" PTE ") && text.contains(" ro x ") && text.contains("MEM/NORMAL"), "{text}");
    // Rodata follows: read-only, never executable; then data: read-write, never executable.
    let ro = c
        .lines()
        .find(|l| l.starts_with("0xffff0000080") && l.contains(" ro NX ") && !l.contains(" BLK "))
        .unwrap_or_else(|| panic!("no rodata run:\n{c}"));
    assert!(ro.contains(" PTE "), "{ro}");
    assert!(
        c.lines().any(|l| l.starts_with("0xffff0000080") && l.contains(" RW NX ") && l.contains(" PTE ")),
        "no data run:\n{c}"
    );
    // The UART's ioremap: one device page.
    assert!(c.lines().any(|l| l.contains("4K PTE") && l.contains("DEVICE/nGnRE")), "no UART mapping:\n{c}");
    // The linear map: 2 MiB blocks up to the image's alias, whose text and
    // rodata are read-only pages, then read-write again.
    let lin = line("0xffff800000000000-0xffff800000200000");
    assert!(lin.contains("2M PMD") && lin.contains(" RW NX ") && lin.contains("BLK"), "{lin}");
    let alias = line("0xffff800000200000-");
    assert!(alias.contains(" PTE ") && alias.contains(" ro NX "), "{alias}");
    assert!(c.contains("Checked W+X mappings: passed, no W+X pages found"), "{c}");
    // No writable and executable run anywhere.
    assert!(!c.lines().any(|l| l.starts_with("0x") && l.contains(" RW x ")), "W+X mapping:\n{c}");
}

#[test]
fn wx_checker_catches_a_writable_executable_page() {
    let c = selftest(machine(), "wx-violation", 3, false);
    assert!(c.contains("Checked W+X mappings: FAILED, 1 W+X pages found"), "{c}");
    assert!(c.contains("Checked executable mappings: FAILED, 1 executable pages outside the kernel text"), "{c}");
    assert!(c.contains("Kernel panic - not syncing: W^X violated"), "{c}");
}
