//! Link the kernel with the project's linker script and hand it the layout
//! constants from `vakern-mm`, so the address the image is linked at is
//! written down exactly once.
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let script = dir.join("../linker.ld").canonicalize().expect("linker.ld next to kernel/");
    println!("cargo::rerun-if-changed={}", script.display());
    println!("cargo::rerun-if-changed=../boot/head.S");
    println!("cargo::rustc-link-arg=-T{}", script.display());
    println!("cargo::rustc-link-arg=--defsym=__kimage_vaddr={:#x}", vakern_mm::layout::KIMAGE_VADDR);
    // Sections are aligned to the page size, so each gets its own permissions.
    println!("cargo::rustc-link-arg=--defsym=__page_size={:#x}", vakern_mm::layout::PAGE_SIZE);
    // The largest image the early tables are sized for (linker.ld asserts it).
    println!("cargo::rustc-link-arg=--defsym=__max_image_size={:#x}", vakern_mm::layout::MAX_IMAGE_SIZE);
    // The granule as a cfg: a table's alignment is an attribute, which a
    // constant cannot choose (kernel/src/arch/table.rs).
    println!("cargo::rustc-check-cfg=cfg(vakern_granule, values(\"4K\", \"16K\", \"64K\"))");
    println!("cargo::rustc-cfg=vakern_granule=\"{}\"", vakern_mm::layout::ACTIVE.granule().name());
    // A static position-independent executable whose dynamic relocations are
    // applied by the kernel itself (kernel/src/early/relocate.rs). The fields they
    // patch stay zero in the file, so a missed relocation cannot go unnoticed.
    for arg in ["-pie", "--no-dynamic-linker", "-z", "notext", "--no-apply-dynamic-relocs"] {
        println!("cargo::rustc-link-arg={arg}");
    }
    // Keep the static relocations in the ELF: the image builder reads them to
    // prove that the code run before relocation holds no absolute address.
    println!("cargo::rustc-link-arg=--emit-relocs");
}
