//! The symbol table written into the kernel after linking (see
//! kernel/src/debug/kallsyms.rs for the layout), with every name demangled by
//! `rustc-demangle` (legacy `_ZN…E` and v0 `_R…` alike, without the hash), so
//! that backtraces and the monitor read `vakern::setup::start_kernel`.

use crate::elf::{Elf, STT_FUNC};

const MAGIC: &[u8; 4] = b"KSYM";

/// The readable form of a symbol name: a Rust path without its hash, or the
/// name itself when it is not a mangled Rust name.
pub fn demangle(sym: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(sym))
}

/// Build the table for `elf`'s functions, relative to `_text`.
pub fn build_table(elf: &Elf, text: u64, capacity: usize) -> Result<Vec<u8>, String> {
    let mut funcs: Vec<(u64, u64, String)> = elf
        .symbols()
        .iter()
        .filter(|s| s.kind == STT_FUNC && s.value >= text && s.size > 0)
        .map(|s| (s.value - text, s.size, demangle(&s.name)))
        .collect();
    funcs.sort();
    funcs.dedup_by_key(|f| f.0);
    let header = 8 + funcs.len() * 12;
    let mut names = Vec::new();
    let mut entries = Vec::with_capacity(header);
    entries.extend_from_slice(MAGIC);
    entries.extend_from_slice(&(funcs.len() as u32).to_le_bytes());
    for (off, size, name) in &funcs {
        entries.extend_from_slice(&(*off as u32).to_le_bytes());
        entries.extend_from_slice(&(*size as u32).to_le_bytes());
        entries.extend_from_slice(&((header + names.len()) as u32).to_le_bytes());
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    entries.extend_from_slice(&names);
    if entries.len() > capacity {
        return Err(format!(
            "symbol table needs {} bytes, the kernel reserves {} (KALLSYMS_SIZE in kernel/src/debug/kallsyms.rs)",
            entries.len(),
            capacity
        ));
    }
    Ok(entries)
}

/// Write the table into the reserved `KALLSYMS` bytes of the ELF file image `data`.
pub fn patch(elf: &Elf, data: &mut [u8]) -> Result<usize, String> {
    let k = elf.find_symbol("KALLSYMS").map_err(|e| e.to_string())?;
    let at = elf.symbol_file_range(k).map_err(|e| e.to_string())?;
    let text = elf.symbol("_text").map_err(|e| e.to_string())?;
    let table = build_table(elf, text, k.size as usize)?;
    data.get_mut(at.start..at.start + table.len()).ok_or("KALLSYMS outside the file")?.copy_from_slice(&table);
    Ok(table.len())
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn demangles_rust_names() {
        assert_eq!(demangle("_ZN6vakern5setup12start_kernel17h0123456789abcdefE"), "vakern::setup::start_kernel");
        assert_eq!(demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE"), "core::ptr::drop_in_place");
        assert_eq!(
            demangle("_ZN77_$LT$vakern..mmu..LinearTables$u20$as$u20$vakern_mm..pgtable..TableAccess$GT$4read17h0123456789abcdefE"),
            "<vakern::mmu::LinearTables as vakern_mm::pgtable::TableAccess>::read"
        );
        assert_eq!(demangle("early_map_kernel"), "early_map_kernel");
        // The v0 scheme (`-C symbol-mangling-version=v0`).
        assert_eq!(demangle("_RNvNtCs1234_6vakern5setup12start_kernel"), "vakern::setup::start_kernel");
    }
}
