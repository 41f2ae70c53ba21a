//! The kernel's ELF file, read with the `object` crate: its sections, its
//! symbols, the relocations kept by `--emit-relocs`, and the loadable
//! segments, copied out once into plain tables that the image builder, the
//! symbol-table writer and the disassembly check use. Host side only; runs
//! after the kernel is linked, before the Image is written.

use object::elf::{self as abi, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader, Rela as _, SectionHeader, Sym};
use object::LittleEndian;
use std::fmt;

pub use object::elf::{RelocationType, SectionType, SymbolType};
pub use object::elf::{SHT_RELA, SHT_SYMTAB, STT_FUNC, STT_SECTION};

/// What is wrong with an ELF file.
#[derive(Debug)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad kernel ELF: {}", self.0)
    }
}

impl std::error::Error for ElfError {}

impl From<object::read::Error> for ElfError {
    fn from(e: object::read::Error) -> Self {
        ElfError(e.to_string())
    }
}

/// A section header.
#[derive(Clone, Debug)]
pub struct Section {
    /// Name.
    pub name: String,
    /// Type (SHT_*).
    pub kind: SectionType,
    /// Address when loaded.
    pub addr: u64,
    /// Offset in the file.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// sh_info (for relocation sections: the section they apply to).
    pub info: u32,
    /// Its index in the section table.
    index: usize,
}

/// A symbol.
#[derive(Clone, Debug)]
pub struct Symbol {
    /// Name, as in the file (mangled; empty for section symbols).
    pub name: String,
    /// Value (address).
    pub value: u64,
    /// Size.
    pub size: u64,
    /// Type (STT_*).
    pub kind: SymbolType,
    /// Index of its section.
    pub shndx: u16,
}

/// A relocation with addend.
#[derive(Clone, Copy, Debug)]
pub struct Rela {
    /// Where it applies (an address in an executable).
    pub offset: u64,
    /// Relocation type (R_AARCH64_*).
    pub kind: RelocationType,
    /// Symbol index.
    pub sym: u32,
    /// Addend.
    pub addend: i64,
}

/// A program header of type PT_LOAD.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// Virtual address.
    pub vaddr: u64,
    /// Offset in the file.
    pub offset: u64,
    /// Bytes in the file.
    pub filesz: u64,
    /// Bytes in memory.
    pub memsz: u64,
}

/// A parsed ELF file: the bytes and the tables read from them.
pub struct Elf {
    data: Vec<u8>,
    /// Sections.
    pub sections: Vec<Section>,
    /// Loadable segments.
    pub segments: Vec<Segment>,
    /// Entry point.
    pub entry: u64,
    symbols: Vec<Symbol>,
    relocations: Vec<Vec<Rela>>,
}

/// The name `object` knows for an AArch64 relocation type (`R_AARCH64_…`).
pub fn relocation_name(kind: RelocationType) -> String {
    abi::machine_names(abi::EM_AARCH64).r.name(kind).map_or(format!("relocation type {}", kind.0), str::to_string)
}

impl Elf {
    /// Parse `data`, which must be a 64-bit little-endian AArch64 ELF file.
    pub fn parse(data: Vec<u8>) -> Result<Elf, ElfError> {
        let bytes = &data[..];
        let header = FileHeader64::<LittleEndian>::parse(bytes)?;
        let e = header.endian()?;
        if header.e_machine(e) != abi::EM_AARCH64 {
            return Err(ElfError(format!("not an AArch64 file (e_machine {})", header.e_machine(e).0)));
        }
        let table = header.sections(e, bytes)?;
        let mut sections = Vec::new();
        let mut relocations = Vec::new();
        for (index, s) in table.enumerate() {
            let name = String::from_utf8_lossy(table.section_name(e, s)?).into_owned();
            sections.push(Section {
                name,
                kind: s.sh_type(e),
                addr: s.sh_addr(e),
                offset: s.sh_offset(e),
                size: s.sh_size(e),
                info: s.sh_info(e),
                index: index.0,
            });
            let relas = match s.rela(e, bytes)? {
                Some((rs, _)) => rs
                    .iter()
                    .map(|r| Rela {
                        offset: r.r_offset(e),
                        kind: r.r_type(e, false),
                        sym: r.r_sym(e, false),
                        addend: r.r_addend(e),
                    })
                    .collect(),
                None => Vec::new(),
            };
            relocations.push(relas);
        }
        let symtab = table.symbols(e, bytes, abi::SHT_SYMTAB)?;
        let strings = symtab.strings();
        let symbols = symtab
            .symbols()
            .iter()
            .map(|s| {
                Ok(Symbol {
                    name: String::from_utf8_lossy(s.name(e, strings)?).into_owned(),
                    value: s.st_value(e),
                    size: s.st_size(e),
                    kind: s.st_type(),
                    shndx: s.st_shndx(e).0,
                })
            })
            .collect::<Result<Vec<_>, ElfError>>()?;
        let segments = header
            .program_headers(e, bytes)?
            .iter()
            .filter(|p| p.p_type(e) == abi::PT_LOAD)
            .map(|p| Segment { vaddr: p.p_vaddr(e), offset: p.p_offset(e), filesz: p.p_filesz(e), memsz: p.p_memsz(e) })
            .collect();
        let entry = header.e_entry(e);
        Ok(Elf { data, sections, segments, entry, symbols, relocations })
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The file bytes of a section.
    pub fn bytes(&self, s: &Section) -> Result<&[u8], ElfError> {
        let (o, n) = (s.offset as usize, s.size as usize);
        o.checked_add(n)
            .and_then(|end| self.data.get(o..end))
            .ok_or(ElfError(format!("section {} outside the file", s.name)))
    }

    /// The whole file.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Every symbol of the symbol table, by index (index 0 is the null
    /// symbol, as relocations count them). Empty if there is no table.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbol called `name`.
    pub fn find_symbol(&self, name: &str) -> Result<&Symbol, ElfError> {
        self.symbols.iter().find(|s| s.name == name).ok_or(ElfError(format!("no symbol {name}")))
    }

    /// Address of the symbol called `name`.
    pub fn symbol(&self, name: &str) -> Result<u64, ElfError> {
        self.find_symbol(name).map(|s| s.value)
    }

    /// The entries of a SHT_RELA section (none for other sections).
    pub fn relocations(&self, s: &Section) -> &[Rela] {
        &self.relocations[s.index]
    }

    /// Where the bytes of `sym` are in the file, and how many there are.
    pub fn symbol_file_range(&self, sym: &Symbol) -> Result<std::ops::Range<usize>, ElfError> {
        let sec =
            self.sections.get(sym.shndx as usize).ok_or(ElfError(format!("symbol {} has no section", sym.name)))?;
        let start = sym
            .value
            .checked_sub(sec.addr)
            .filter(|off| off + sym.size <= sec.size)
            .ok_or(ElfError(format!("symbol {} lies outside its section {}", sym.name, sec.name)))?;
        let from = (sec.offset + start) as usize;
        let range = from..from + sym.size as usize;
        self.data.get(range.clone()).ok_or(ElfError(format!("symbol {} outside the file", sym.name)))?;
        Ok(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_an_aarch64_elf() {
        assert!(Elf::parse(b"not an ELF file at all, just some text padding it out to 64 bytes".to_vec()).is_err());
        // This test binary is an ELF for the host: x86-64 or AArch64 Linux.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        match Elf::parse(me) {
            Err(e) => assert!(e.0.contains("AArch64"), "{e}"),
            Ok(elf) => assert!(!elf.symbols().is_empty() && !elf.segments.is_empty()),
        }
    }

    #[test]
    fn names_relocations() {
        assert_eq!(relocation_name(abi::R_AARCH64_CALL26), "R_AARCH64_CALL26");
        assert_eq!(relocation_name(abi::R_AARCH64_RELATIVE), "R_AARCH64_RELATIVE");
        assert_eq!(relocation_name(RelocationType(4095)), "relocation type 4095");
    }
}
