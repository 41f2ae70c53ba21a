//! The shape of a kernel function, decoded with the `yaxpeax-arm` AArch64
//! decoder: how many instructions it runs and whether it branches or calls
//! anywhere. Host side, after the kernel is linked: the check that a
//! translation compiles to bare arithmetic without `debug_virtual`. A
//! failing check prints the function's disassembly ([`Shape`]'s `Display`).

use crate::elf::Elf;
use std::fmt;
use yaxpeax_arch::{Arch, Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{ARMv8, Opcode};

/// What a function's code contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The function's name.
    pub name: String,
    /// Instructions, without the frame-record prologue/epilogue and `ret`.
    pub body: usize,
    /// Calls (`bl`, `blr` and their authenticated forms).
    pub calls: usize,
    /// Other branches (`b`, `b.cond`, `cbz`, `tbz`, `br`, …).
    pub branches: usize,
    /// Every instruction: address, word, the decoder's text, and whether it
    /// counts in the body.
    pub listing: Vec<(u64, u32, String, bool)>,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} instruction(s) in the body, {} call(s), {} branch(es)",
            self.name, self.body, self.calls, self.branches
        )?;
        for (addr, word, text, counted) in &self.listing {
            writeln!(f, "  {addr:#018x}: {word:08x}  {text}{}", if *counted { "" } else { "   (frame/return)" })?;
        }
        Ok(())
    }
}

/// The frame-record prologue and epilogue the compiler may wrap any
/// function in, and the return: not part of what the function computes.
const FRAME: &[&str] = &["stp x29, x30, [sp, #-0x10]!", "mov x29, sp", "ldp x29, x30, [sp], #0x10", "ret"];

fn is_call(op: Opcode) -> bool {
    matches!(op, Opcode::BL | Opcode::BLR | Opcode::BLRAA | Opcode::BLRAAZ | Opcode::BLRAB | Opcode::BLRABZ)
}

fn is_branch(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::B
            | Opcode::Bcc(_)
            | Opcode::CBZ
            | Opcode::CBNZ
            | Opcode::TBZ
            | Opcode::TBNZ
            | Opcode::BR
            | Opcode::BRAA
            | Opcode::BRAAZ
            | Opcode::BRAB
            | Opcode::BRABZ
    )
}

/// Decode the function `name` of `elf`.
pub fn shape(elf: &Elf, name: &str) -> Result<Shape, String> {
    let sym = elf.find_symbol(name).map_err(|_| format!("no function {name}"))?;
    let at = elf.symbol_file_range(sym).map_err(|e| e.to_string())?;
    let code = &elf.data()[at];
    let decoder = <ARMv8 as Arch>::Decoder::default();
    let mut s = Shape { name: name.to_string(), body: 0, calls: 0, branches: 0, listing: Vec::new() };
    for (i, bytes) in code.chunks_exact(4).enumerate() {
        let word = u32::from_le_bytes(bytes.try_into().unwrap());
        let addr = sym.value + 4 * i as u64;
        let (text, op) = match decoder.decode(&mut U8Reader::new(bytes)) {
            Ok(inst) => (inst.to_string(), Some(inst.opcode)),
            Err(e) => (format!("<undecodable: {e}>"), None),
        };
        let counted = !FRAME.contains(&text.as_str());
        if counted {
            s.body += 1;
            match op {
                Some(op) if is_call(op) => s.calls += 1,
                Some(op) if is_branch(op) => s.branches += 1,
                _ => {}
            }
        }
        s.listing.push((addr, word, text, counted));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(word: u32) -> (String, Opcode) {
        let i = <ARMv8 as Arch>::Decoder::default().decode(&mut U8Reader::new(&word.to_le_bytes()[..])).unwrap();
        (i.to_string(), i.opcode)
    }

    #[test]
    fn classifies_calls_branches_and_the_frame_record() {
        for w in [0xa9bf_7bfd, 0x9100_03fd, 0xa8c1_7bfd, 0xd65f_03c0] {
            assert!(FRAME.contains(&op(w).0.as_str()), "{w:08x} decodes as {:?}", op(w).0);
        }
        for w in [0x9400_0010, 0xd63f_0100] {
            assert!(is_call(op(w).1), "{w:08x} ({}) is a call", op(w).0);
        }
        for w in [0x1400_0004, 0x5400_0040, 0xb400_0040, 0x3600_0040, 0xd61f_0080] {
            assert!(is_branch(op(w).1) && !is_call(op(w).1), "{w:08x} ({}) is a branch", op(w).0);
        }
        let (text, o) = op(0x9240_0000);
        assert!(!is_call(o) && !is_branch(o) && !FRAME.contains(&text.as_str()), "{text}");
        assert_eq!(text, "and x0, x0, #0x1");
    }
}
