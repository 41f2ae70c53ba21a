//! A minimal reader for the kernel's ELF64 little-endian executable: the
//! sections, the symbols, the relocations kept by `--emit-relocs`, and the
//! loadable segments. Enough to build the Image and to check it; nothing more.

use std::fmt;

/// What is wrong with an ELF file.
#[derive(Debug)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad kernel ELF: {}", self.0)
    }
}

impl std::error::Error for ElfError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(msg.into()))
}

/// A section header.
#[derive(Clone, Debug)]
pub struct Section {
    /// Name.
    pub name: String,
    /// Type (SHT_*).
    pub kind: u32,
    /// Address when loaded.
    pub addr: u64,
    /// Offset in the file.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// sh_link.
    pub link: u32,
    /// sh_info (for relocation sections: the section they apply to).
    pub info: u32,
}

/// A symbol.
#[derive(Clone, Debug)]
pub struct Symbol {
    /// Name (empty for section symbols).
    pub name: String,
    /// Value (address).
    pub value: u64,
    /// Size.
    pub size: u64,
    /// Type (STT_*).
    pub kind: u8,
    /// Section index.
    pub shndx: u16,
}

/// A relocation with addend.
#[derive(Clone, Copy, Debug)]
pub struct Rela {
    /// Where it applies (an address in an executable).
    pub offset: u64,
    /// Relocation type (R_AARCH64_*).
    pub kind: u32,
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

/// A parsed ELF file.
pub struct Elf {
    data: Vec<u8>,
    /// Sections.
    pub sections: Vec<Section>,
    /// Loadable segments.
    pub segments: Vec<Segment>,
    /// Entry point.
    pub entry: u64,
}

/// Section type: symbol table.
pub const SHT_SYMTAB: u32 = 2;
/// Section type: relocations with addends.
pub const SHT_RELA: u32 = 4;
/// Symbol type: function.
pub const STT_FUNC: u8 = 2;
/// Symbol type: section.
pub const STT_SECTION: u8 = 3;

impl Elf {
    /// Parse `data`.
    pub fn parse(data: Vec<u8>) -> Result<Elf, ElfError> {
        if data.len() < 64 || &data[..4] != b"\x7fELF" {
            return err("not an ELF file");
        }
        if data[4] != 2 || data[5] != 1 {
            return err("not 64-bit little-endian");
        }
        let r16 = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
        if r16(18) != 183 {
            return err("not an AArch64 file (e_machine != 183)");
        }
        let mut elf = Elf { data: Vec::new(), sections: Vec::new(), segments: Vec::new(), entry: 0 };
        let rd = Reader(&data);
        elf.entry = rd.u64(24)?;
        let (phoff, shoff) = (rd.u64(32)? as usize, rd.u64(40)? as usize);
        let (phentsize, phnum) = (r16(54) as usize, r16(56) as usize);
        let (shentsize, shnum, shstrndx) = (r16(58) as usize, r16(60) as usize, r16(62) as usize);
        for i in 0..phnum {
            let o = phoff + i * phentsize;
            if rd.u32(o)? == 1 {
                elf.segments.push(Segment {
                    offset: rd.u64(o + 8)?,
                    vaddr: rd.u64(o + 16)?,
                    filesz: rd.u64(o + 32)?,
                    memsz: rd.u64(o + 40)?,
                });
            }
        }
        let mut raw = Vec::new();
        for i in 0..shnum {
            let o = shoff + i * shentsize;
            raw.push((
                rd.u32(o)?,
                Section {
                    name: String::new(),
                    kind: rd.u32(o + 4)?,
                    addr: rd.u64(o + 16)?,
                    offset: rd.u64(o + 24)?,
                    size: rd.u64(o + 32)?,
                    link: rd.u32(o + 40)?,
                    info: rd.u32(o + 44)?,
                },
            ));
        }
        let strtab = raw.get(shstrndx).map(|s| s.1.clone()).ok_or(ElfError("no section name table".into()))?;
        for (name_off, mut s) in raw {
            s.name = rd.cstr(strtab.offset as usize + name_off as usize)?;
            elf.sections.push(s);
        }
        elf.data = data;
        Ok(elf)
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The file bytes of a section.
    pub fn bytes(&self, s: &Section) -> Result<&[u8], ElfError> {
        let (o, n) = (s.offset as usize, s.size as usize);
        self.data.get(o..o + n).ok_or(ElfError(format!("section {} outside the file", s.name)))
    }

    /// The whole file.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// All symbols of the symbol table.
    pub fn symbols(&self) -> Result<Vec<Symbol>, ElfError> {
        let Some(symtab) = self.sections.iter().find(|s| s.kind == SHT_SYMTAB) else {
            return err("no symbol table");
        };
        let strtab = self.sections.get(symtab.link as usize).ok_or(ElfError("no string table".into()))?;
        let rd = Reader(&self.data);
        let mut out = Vec::new();
        for i in 0..(symtab.size / 24) as usize {
            let o = symtab.offset as usize + i * 24;
            out.push(Symbol {
                name: rd.cstr(strtab.offset as usize + rd.u32(o)? as usize)?,
                kind: self.data[o + 4] & 0xf,
                shndx: u16::from_le_bytes([self.data[o + 6], self.data[o + 7]]),
                value: rd.u64(o + 8)?,
                size: rd.u64(o + 16)?,
            });
        }
        Ok(out)
    }

    /// Address of the symbol called `name`.
    pub fn symbol(&self, name: &str) -> Result<u64, ElfError> {
        self.symbols()?
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.value)
            .ok_or(ElfError(format!("no symbol {name}")))
    }

    /// The entries of a SHT_RELA section.
    pub fn relocations(&self, s: &Section) -> Result<Vec<Rela>, ElfError> {
        let rd = Reader(&self.data);
        (0..(s.size / 24) as usize)
            .map(|i| {
                let o = s.offset as usize + i * 24;
                let info = rd.u64(o + 8)?;
                Ok(Rela {
                    offset: rd.u64(o)?,
                    kind: info as u32,
                    sym: (info >> 32) as u32,
                    addend: rd.u64(o + 16)? as i64,
                })
            })
            .collect()
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&self, o: usize) -> Result<u32, ElfError> {
        self.0
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .ok_or(ElfError(format!("read past the end at {o:#x}")))
    }
    fn u64(&self, o: usize) -> Result<u64, ElfError> {
        self.0
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .ok_or(ElfError(format!("read past the end at {o:#x}")))
    }
    fn cstr(&self, o: usize) -> Result<String, ElfError> {
        let rest = self.0.get(o..).ok_or(ElfError("string offset past the end".into()))?;
        let n = rest.iter().position(|&b| b == 0).ok_or(ElfError("unterminated string".into()))?;
        Ok(String::from_utf8_lossy(&rest[..n]).into_owned())
    }
}
