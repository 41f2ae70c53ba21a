//! Building the kernel and turning its ELF into an arm64 boot-protocol Image.
//!
//! The kernel crate is built for aarch64-unknown-none by a nested `cargo
//! build`, with the layout flavour in `VAKERN_FLAVOUR` and one target
//! directory per flavour and feature set
//! (`target/kernel/<flavour>[-debug_virtual]`), so switching between them
//! never rebuilds another one. Before the Image is written,
//! two build-time checks run on the ELF:
//! - every dynamic relocation is R_AARCH64_RELATIVE, the only kind the early
//!   code applies;
//! - the code that runs before relocation (`.idmap.text`, between
//!   `__idmap_text_start` and `__idmap_text_end`) holds no absolute address:
//!   its relocations (kept by `--emit-relocs`) are all PC-relative, every
//!   call and jump stays inside the section, and nothing it addresses is a
//!   word that a dynamic relocation would patch.

use crate::elf::{relocation_name, Elf, RelocationType, Section, SHT_RELA};
use crate::tools::project_root;
use object::elf as abi;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use vakern_mm::flavour::Layout;

/// What a kernel build is chosen by: the layout flavour and the features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flavour {
    /// The layout (Linux version, page size, VA bits).
    pub layout: Layout,
    /// Build with the `debug_virtual` feature.
    pub debug_virtual: bool,
}

impl Flavour {
    /// The default layout (4.10-4K-48), with or without `debug_virtual`.
    pub const fn default_layout(debug_virtual: bool) -> Flavour {
        Flavour { layout: vakern_mm::flavour::DEFAULT, debug_virtual }
    }

    /// The build's name, also its target directory's: `6.12-4K-48` or
    /// `6.12-4K-48-debug_virtual`.
    pub fn name(&self) -> String {
        if self.debug_virtual {
            format!("{}-debug_virtual", self.layout)
        } else {
            self.layout.to_string()
        }
    }
}

/// A built kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The ELF, with symbols and debug information (for GDB).
    pub elf: PathBuf,
    /// The Image QEMU boots.
    pub image: PathBuf,
    /// Size of the Image file.
    pub image_len: u64,
    /// `_end - _text`.
    pub image_size: u64,
}

/// Relocation types that are PC-relative (or page-offset halves of a
/// PC-relative pair) and so position-independent.
const PC_RELATIVE: &[RelocationType] = &[
    abi::R_AARCH64_PREL32,
    abi::R_AARCH64_LD_PREL_LO19,
    abi::R_AARCH64_ADR_PREL_LO21,
    abi::R_AARCH64_ADR_PREL_PG_HI21,
    abi::R_AARCH64_ADR_PREL_PG_HI21_NC,
    abi::R_AARCH64_ADD_ABS_LO12_NC,
    abi::R_AARCH64_LDST8_ABS_LO12_NC,
    abi::R_AARCH64_TSTBR14,
    abi::R_AARCH64_CONDBR19,
    abi::R_AARCH64_JUMP26,
    abi::R_AARCH64_CALL26,
    abi::R_AARCH64_LDST16_ABS_LO12_NC,
    abi::R_AARCH64_LDST32_ABS_LO12_NC,
    abi::R_AARCH64_LDST64_ABS_LO12_NC,
    abi::R_AARCH64_LDST128_ABS_LO12_NC,
];

/// Check the ELF as described in the module comment. Returns a short summary.
pub fn check_kernel(elf: &Elf) -> Result<String, String> {
    let e = |x: crate::elf::ElfError| x.to_string();
    let dynrela = elf.section(".rela.dyn").ok_or("no .rela.dyn section: the kernel was not linked -pie")?;
    let dyn_relocs = elf.relocations(dynrela);
    if let Some(r) = dyn_relocs.iter().find(|r| r.kind != abi::R_AARCH64_RELATIVE) {
        return Err(format!(
            "dynamic relocation of {} at {:#x}: the early code applies only R_AARCH64_RELATIVE",
            relocation_name(r.kind),
            r.offset
        ));
    }
    let start = elf.symbol("__idmap_text_start").map_err(e)?;
    let end = elf.symbol("__idmap_text_end").map_err(e)?;
    if end <= start {
        return Err("empty .idmap.text".into());
    }
    let symbols = elf.symbols();
    let name_at = |a: u64| {
        symbols
            .iter()
            .filter(|s| !s.name.is_empty() && s.value <= a && a < s.value + s.size.max(1))
            .map(|s| crate::kallsyms::demangle(&s.name))
            .next()
            .unwrap_or_else(|| format!("{a:#x}"))
    };
    let mut checked = 0;
    let rela_sections: Vec<&Section> =
        elf.sections.iter().filter(|s| s.kind == SHT_RELA && s.name != ".rela.dyn").collect();
    for rs in rela_sections {
        let Some(target) = elf.sections.get(rs.info as usize) else { continue };
        if target.addr == 0 {
            continue; // debug information
        }
        for r in elf.relocations(rs) {
            if r.offset < start || r.offset >= end {
                continue;
            }
            checked += 1;
            let site = name_at(r.offset);
            if !PC_RELATIVE.contains(&r.kind) {
                return Err(format!(
                    "pre-relocation code holds an absolute address: {} relocation at {:#x} in {}",
                    relocation_name(r.kind),
                    r.offset,
                    site
                ));
            }
            let sym = symbols.get(r.sym as usize).ok_or("relocation names a missing symbol")?;
            let dest = sym.value.wrapping_add(r.addend as u64);
            if [abi::R_AARCH64_JUMP26, abi::R_AARCH64_CALL26].contains(&r.kind) && !(start..end).contains(&dest) {
                return Err(format!(
                    "pre-relocation code in {} branches to {} outside .idmap.text, which is not checked",
                    site,
                    name_at(dest)
                ));
            }
            if let Some(d) = dyn_relocs.iter().find(|d| d.offset >= dest && d.offset < dest + 8) {
                return Err(format!(
                    "pre-relocation code in {} reads {:#x} ({}), a word patched by relocation only later",
                    site,
                    d.offset,
                    name_at(d.offset)
                ));
            }
        }
    }
    if checked == 0 {
        return Err("found no relocations in .idmap.text: was the kernel linked with --emit-relocs?".into());
    }
    Ok(format!(
        "{} dynamic relocations (all RELATIVE); {} relocations in .idmap.text, all PC-relative and local",
        dyn_relocs.len(),
        checked
    ))
}

/// Flatten the ELF's single loadable segment into the Image bytes.
pub fn elf_to_image(elf: &Elf) -> Result<(Vec<u8>, u64), String> {
    let text = elf.symbol("_text").map_err(|x| x.to_string())?;
    let [seg] = elf.segments[..] else {
        return Err(format!("expected one PT_LOAD segment, found {}", elf.segments.len()));
    };
    if seg.vaddr != text {
        return Err(format!("the segment starts at {:#x}, not at _text {:#x}", seg.vaddr, text));
    }
    let bytes = elf
        .data()
        .get(seg.offset as usize..(seg.offset + seg.filesz) as usize)
        .ok_or("segment outside the file")?
        .to_vec();
    if bytes.len() < 64 || bytes[56..60] != *b"ARM\x64" {
        return Err("no arm64 Image header (magic ARM\\x64 at offset 56)".into());
    }
    let image_size = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    if image_size != seg.memsz {
        return Err(format!("header image_size {:#x} != memory size {:#x}", image_size, seg.memsz));
    }
    Ok((bytes, image_size))
}

/// Replace `path` with `bytes` so that a reader (a QEMU or GDB of a test
/// running in another process) sees the old file or the new one, never a
/// half-written one: write a file of this process's own, then rename it.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

/// Build (if needed) and check the kernel in `flavour`. Serialized within
/// the process per flavour (two flavours build at once in their own target
/// directories); cargo's own lock serializes a build across processes, and
/// the patched ELF and the Image are replaced by renaming, so that another
/// process booting them never reads a half-written file.
pub fn build(flavour: Flavour, quiet: bool) -> Result<Kernel, String> {
    static LOCKS: Mutex<Option<HashMap<Flavour, Arc<Mutex<()>>>>> = Mutex::new(None);
    let lock = {
        let mut all = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
        all.get_or_insert_with(HashMap::new).entry(flavour).or_default().clone()
    };
    let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
    crate::tools::ensure_target()?;
    let root = project_root();
    let name = flavour.name();
    let target_dir = root.join("target/kernel").join(&name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", "aarch64-unknown-none", "--manifest-path", "kernel/Cargo.toml"])
        .arg("--target-dir")
        .arg(&target_dir);
    if flavour.debug_virtual {
        cmd.args(["--features", "debug_virtual"]);
    }
    if quiet {
        cmd.arg("--quiet");
    }
    cmd.env("VAKERN_FLAVOUR", flavour.layout.to_string());
    // An environment RUSTFLAGS would replace the kernel's flags in .cargo/config.toml.
    for var in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "CARGO_BUILD_RUSTFLAGS"]
    {
        cmd.env_remove(var);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the kernel ({name}) failed"));
    }
    let elf_path = target_dir.join("aarch64-unknown-none/release/vakern");
    let data = std::fs::read(&elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let elf = Elf::parse(data.clone()).map_err(|e| e.to_string())?;
    let summary = check_kernel(&elf).map_err(|e| format!("kernel check failed: {e}"))?;
    // Fill in the symbol table (same bytes in the ELF for GDB and in the Image).
    let mut data = data;
    let ksyms = crate::kallsyms::patch(&elf, &mut data)?;
    write_atomically(&elf_path, &data)?;
    crate::gdb_layout::write_next_to(&elf_path, &flavour.layout)?;
    let elf = Elf::parse(data).map_err(|e| e.to_string())?;
    let summary = format!("{summary}; {ksyms} bytes of symbols");
    let (bytes, image_size) = elf_to_image(&elf)?;
    let image = target_dir.join("Image");
    write_atomically(&image, &bytes)?;
    if !quiet {
        eprintln!("vakern: {} ({} bytes, {} with .bss); {}", image.display(), bytes.len(), image_size, summary);
    }
    Ok(Kernel { elf: elf_path, image, image_len: bytes.len() as u64, image_size })
}

/// Build once per process and flavour (for the tests). Different flavours
/// may build at the same time from different threads.
pub fn build_once(flavour: Flavour) -> Result<Kernel, String> {
    type Cell = Arc<OnceLock<Result<Kernel, String>>>;
    static CELLS: Mutex<Option<HashMap<Flavour, Cell>>> = Mutex::new(None);
    let cell = {
        let mut all = CELLS.lock().unwrap_or_else(|p| p.into_inner());
        all.get_or_insert_with(HashMap::new).entry(flavour).or_default().clone()
    };
    cell.get_or_init(|| build(flavour, true)).clone()
}
