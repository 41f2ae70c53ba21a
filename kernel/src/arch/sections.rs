//! The image's section boundaries, as `linker.ld` defines them, declared
//! once for every stage: the early code reads them PC-relative through
//! `early::pc_rel!` before relocation, everything later takes their address
//! with `&raw const`.
//!
//! ```text
//! [_text, _etext)          text        read-only, executable
//! [_etext, __end_rodata)   rodata      read-only (includes .rela.dyn)
//! [__end_rodata, _edata)   data
//! [_edata, _end)           bss
//! ```

extern "C" {
    /// Start of the image (its first byte, the Image header).
    pub static _text: u8;
    /// End of the text, start of rodata (page aligned).
    pub static _etext: u8;
    /// End of rodata, start of data (page aligned).
    pub static __end_rodata: u8;
    /// End of the data (page aligned); .bss follows.
    pub static _edata: u8;
    /// End of the image including .bss.
    pub static _end: u8;
    /// Start of the dynamic relocations (`Elf64_Rela` entries).
    pub static __rela_start: u8;
    /// End of the dynamic relocations.
    pub static __rela_end: u8;
}
