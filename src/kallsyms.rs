//! The symbol table written into the kernel after linking (see
//! kernel/src/kallsyms.rs for the layout), and a demangler for Rust's legacy
//! symbol names so backtraces read `vakern::setup::start_kernel`.

use crate::elf::{Elf, STT_FUNC};

const MAGIC: &[u8; 4] = b"KSYM";

/// Demangle a legacy Rust symbol (`_ZN…E`), dropping the hash; other names
/// are returned as they are.
pub fn demangle(sym: &str) -> String {
    let Some(mut rest) = sym.strip_prefix("_ZN").and_then(|s| s.strip_suffix('E')) else {
        return sym.to_string();
    };
    let mut parts = Vec::new();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(len) = rest[..digits].parse::<usize>() else { return sym.to_string() };
        let Some(part) = rest.get(digits..digits + len) else { return sym.to_string() };
        parts.push(part);
        rest = &rest[digits + len..];
    }
    if parts
        .last()
        .is_some_and(|p| p.len() == 17 && p.starts_with('h') && p[1..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        parts.pop();
    }
    let mut out = parts.join("::");
    for (from, to) in [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$C$", ","),
        ("$u20$", " "),
        ("$u27$", "'"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u7e$", "~"),
        ("..", "::"),
    ] {
        out = out.replace(from, to);
    }
    out.strip_prefix('_').filter(|s| s.starts_with('<')).map(str::to_string).unwrap_or(out)
}

/// Build the table for `elf`'s functions, relative to `_text`.
pub fn build_table(elf: &Elf, text: u64, capacity: usize) -> Result<Vec<u8>, String> {
    let mut funcs: Vec<(u64, u64, String)> = elf
        .symbols()
        .map_err(|e| e.to_string())?
        .into_iter()
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
            "symbol table needs {} bytes, the kernel reserves {} (KALLSYMS_SIZE in kernel/src/kallsyms.rs)",
            entries.len(),
            capacity
        ));
    }
    Ok(entries)
}

/// Write the table into the reserved `KALLSYMS` bytes of the ELF file image `data`.
pub fn patch(elf: &Elf, data: &mut [u8]) -> Result<usize, String> {
    let syms = elf.symbols().map_err(|e| e.to_string())?;
    let k = syms.iter().find(|s| s.name == "KALLSYMS").ok_or("no KALLSYMS symbol in the kernel")?;
    let sec = elf.sections.get(k.shndx as usize).ok_or("KALLSYMS has no section")?;
    let text = elf.symbol("_text").map_err(|e| e.to_string())?;
    let table = build_table(elf, text, k.size as usize)?;
    let off = (sec.offset + (k.value - sec.addr)) as usize;
    data.get_mut(off..off + table.len()).ok_or("KALLSYMS outside the file")?.copy_from_slice(&table);
    Ok(table.len())
}

#[cfg(test)]
mod tests {
    use super::demangle;

    #[test]
    fn demangles_legacy_names() {
        assert_eq!(demangle("_ZN6vakern5setup12start_kernel17h0123456789abcdefE"), "vakern::setup::start_kernel");
        assert_eq!(demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE"), "core::ptr::drop_in_place");
        assert_eq!(
            demangle("_ZN77_$LT$vakern..mmu..LinearTables$u20$as$u20$vakern_mm..pgtable..TableAccess$GT$4read17h0123456789abcdefE"),
            "<vakern::mmu::LinearTables as vakern_mm::pgtable::TableAccess>::read"
        );
        assert_eq!(demangle("early_map_kernel"), "early_map_kernel");
    }
}
