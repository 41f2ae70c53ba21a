//! Just enough AArch64 decoding to tell, from a function's bytes, how many
//! instructions it runs and whether it branches or calls anywhere: the check
//! that a translation compiles to bare arithmetic without `debug_virtual`.

use crate::elf::Elf;

/// What a function's code contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Instructions, without the frame-record prologue/epilogue and `ret`.
    pub body: usize,
    /// Calls (`bl`, `blr`).
    pub calls: usize,
    /// Other branches (`b`, `b.cond`, `cbz`, `tbz`, `br`).
    pub branches: usize,
    /// The body, one instruction word each.
    pub words: Vec<u32>,
}

const STP_FP_LR: u32 = 0xa9bf_7bfd; // stp x29, x30, [sp, #-16]!
const MOV_FP_SP: u32 = 0x9100_03fd; // mov x29, sp
const LDP_FP_LR: u32 = 0xa8c1_7bfd; // ldp x29, x30, [sp], #16
const RET: u32 = 0xd65f_03c0;

/// Classify the function `name` of `elf`.
pub fn shape(elf: &Elf, name: &str) -> Result<Shape, String> {
    let syms = elf.symbols().map_err(|e| e.to_string())?;
    let sym = syms.iter().find(|s| s.name == name).ok_or(format!("no function {name}"))?;
    let sec = elf.sections.get(sym.shndx as usize).ok_or("symbol without a section")?;
    let bytes = elf.bytes(sec).map_err(|e| e.to_string())?;
    let start = (sym.value - sec.addr) as usize;
    let code = bytes.get(start..start + sym.size as usize).ok_or("function outside its section")?;
    let mut s = Shape { body: 0, calls: 0, branches: 0, words: Vec::new() };
    for w in code.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())) {
        if matches!(w, STP_FP_LR | MOV_FP_SP | LDP_FP_LR | RET) {
            continue;
        }
        if w & 0xfc00_0000 == 0x9400_0000 || w & 0xffff_fc1f == 0xd63f_0000 {
            s.calls += 1; // bl, blr
        } else if w & 0xfc00_0000 == 0x1400_0000
            || w & 0xff00_0010 == 0x5400_0000
            || w & 0x7e00_0000 == 0x3400_0000
            || w & 0x7e00_0000 == 0x3600_0000
            || w & 0xfe00_0000 == 0xd600_0000
        {
            s.branches += 1;
        }
        s.body += 1;
        s.words.push(w);
    }
    Ok(s)
}
