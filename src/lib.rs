//! Host side of vakern: build the kernel Image, check it, and run it in
//! qemu-system-aarch64. `cargo run` uses it through `src/main.rs`; the
//! integration tests in `tests/` use it to boot test kernels.

pub mod boards;
pub mod boot_rules;
pub mod debugger;
pub mod disasm;
pub mod elf;
pub mod gdb_layout;
pub mod image;
pub mod kallsyms;
pub mod qemu;
pub mod tools;

pub use vakern_mm as mm;
