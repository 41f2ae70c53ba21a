//! The boot firmware the launcher plays on a board: the code that runs
//! before the kernel and hands it the device tree untouched.
//!
//! It sits at the very start of a board boot, in place of QEMU's own
//! built-in boot code (which would rewrite the tree). Two pieces:
//! - the 32-byte shim of `crate::qemu::boot_shim` (x0 = tree, x1..x3 = 0,
//!   jump to the Image), for machines where CPU 0 alone starts and the others
//!   wait, powered off, for PSCI `CPU_ON` (virt, ZCU102);
//! - [`raspi_armstub`], for the Raspberry Pi, where all four cores start
//!   together at address 0 in EL3, as on the real SoC. It plays the part of
//!   the Pi firmware's `armstub8`: drop to EL2, send CPU 0 into the Image and
//!   park the others on the spin table at 0xd8 that the Pi's device tree
//!   names in each CPU's `cpu-release-addr`.
//!
//! - [`zynqmp_shim`], the 32-byte shim plus the step a ZynqMP first-stage
//!   loader takes for the console: its Cadence UART enabled.
//!
//! Pure functions returning bytes; the caller writes them to a file that QEMU
//! loads (`-device loader`).

/// Where the Pi's spin table starts: core N polls the 64-bit word at
/// `SPIN_TABLE + 8 * N` (0xd8, 0xe0, 0xe8, 0xf0 for cores 0 to 3), the
/// addresses Linux's bcm2837 and bcm2711 trees give as `cpu-release-addr`.
pub const SPIN_TABLE: u64 = 0xd8;
/// Size of the armstub blob: code, literals and the zeroed spin table.
pub const ARMSTUB_LEN: usize = 0x100;
/// Offset of the two literals (tree address, Image address) in the armstub.
const ARMSTUB_LITERALS: usize = 0x68;

/// The Raspberry Pi armstub, loaded at physical address 0.
///
/// Every core runs it from reset. At EL3 it sets SCR_EL3 (non-secure,
/// AArch64 below, HVC on, SMC off: there is no secure firmware) and returns
/// to the same code at EL2 with interrupts masked. Then core 0 (MPIDR Aff0 =
/// 0) jumps to `kernel_pa` with x0 = `dtb_pa`, x1..x3 = 0; every other core
/// waits with `wfe` until its spin-table word is non-zero and jumps there
/// with x0..x3 = 0. The kernel releases a core by writing its entry point to
/// the word and executing `sev`.
pub fn raspi_armstub(dtb_pa: u64, kernel_pa: u64) -> Vec<u8> {
    let words: [u32; 26] = [
        0xd538_4246, // 00: mrs  x6, CurrentEL
        0xf100_30df, // 04: cmp  x6, #0xc            (EL3?)
        0x5400_0101, // 08: b.ne 0x28                (already below EL3)
        0xd280_b625, // 0c: mov  x5, #0x5b1          (SCR_EL3: NS, RES1, SMD, HCE, RW)
        0xd51e_1105, // 10: msr  scr_el3, x5
        0xd280_7925, // 14: mov  x5, #0x3c9          (SPSR: EL2h, D, A, I, F masked)
        0xd51e_4005, // 18: msr  spsr_el3, x5
        0x1000_0065, // 1c: adr  x5, 0x28            (return address: the next stage below)
        0xd51e_4025, // 20: msr  elr_el3, x5
        0xd69f_03e0, // 24: eret
        0xd538_00a6, // 28: mrs  x6, mpidr_el1
        0x9240_1cc6, // 2c: and  x6, x6, #0xff       (Aff0: the core number)
        0xb400_00e6, // 30: cbz  x6, 0x4c            (core 0 boots the kernel)
        0xd280_1b05, // 34: mov  x5, #0xd8           (SPIN_TABLE)
        0xd503_205f, // 38: wfe
        0xf866_78a4, // 3c: ldr  x4, [x5, x6, lsl #3] (this core's release word)
        0xb4ff_ffc4, // 40: cbz  x4, 0x38            (not released yet)
        0xaa1f_03e0, // 44: mov  x0, xzr
        0x1400_0003, // 48: b    0x54
        0x5800_00e0, // 4c: ldr  x0, 0x68            (the tree's address)
        0x5800_0104, // 50: ldr  x4, 0x70            (the Image's address)
        0xaa1f_03e1, // 54: mov  x1, xzr
        0xaa1f_03e2, // 58: mov  x2, xzr
        0xaa1f_03e3, // 5c: mov  x3, xzr
        0xd61f_0080, // 60: br   x4
        0xd503_201f, // 64: nop                      (aligns the literals)
    ];
    let mut b: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    debug_assert_eq!(b.len(), ARMSTUB_LITERALS);
    b.extend_from_slice(&dtb_pa.to_le_bytes());
    b.extend_from_slice(&kernel_pa.to_le_bytes());
    debug_assert!(b.len() as u64 <= SPIN_TABLE);
    b.resize(ARMSTUB_LEN, 0);
    b
}

/// The ZynqMP boot shim, loaded in the on-chip RAM with CPU 0's PC there:
/// it enables the console UART's transmitter and receiver (a Cadence UART
/// at `uart_pa`), as the board's first-stage loader leaves it, then enters
/// the Image at `kernel_pa` with x0 = `dtb_pa` and x1..x3 = 0. QEMU's
/// Cadence model drops what arrives while its receiver is disabled (the
/// reset state), so without this step input typed before the kernel's
/// console driver starts would be lost.
pub fn zynqmp_shim(dtb_pa: u64, kernel_pa: u64, uart_pa: u64) -> Vec<u8> {
    let words: [u32; 10] = [
        0x5800_01c5, // 00: ldr  x5, 0x38            (the UART's address)
        0x5280_0286, // 04: mov  w6, #0x14           (CR: TXEN | RXEN)
        0xb900_00a6, // 08: str  w6, [x5]
        0x5800_00e0, // 0c: ldr  x0, 0x28            (the tree's address)
        0xaa1f_03e1, // 10: mov  x1, xzr
        0xaa1f_03e2, // 14: mov  x2, xzr
        0xaa1f_03e3, // 18: mov  x3, xzr
        0x5800_00a4, // 1c: ldr  x4, 0x30            (the Image's address)
        0xd61f_0080, // 20: br   x4
        0xd503_201f, // 24: nop                      (aligns the literals)
    ];
    let mut b: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    for v in [dtb_pa, kernel_pa, uart_pa] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// The (tree, Image) addresses an armstub blob jumps to, read back from its literals.
pub fn armstub_targets(stub: &[u8]) -> Option<(u64, u64)> {
    let lit = |at: usize| stub.get(at..at + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
    Some((lit(ARMSTUB_LITERALS)?, lit(ARMSTUB_LITERALS + 8)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaxpeax_arch::{Decoder, U8Reader};
    use yaxpeax_arm::armv8::a64::InstDecoder;

    fn listing(code: &[u8]) -> Vec<String> {
        let d = InstDecoder::default();
        code.chunks(4)
            .map(|w| {
                let mut r = U8Reader::new(w);
                d.decode(&mut r).map(|i| i.to_string()).unwrap_or_else(|e| format!("bad: {e:?}"))
            })
            .collect()
    }

    /// A pass means an independent decoder reads the shim as the comments
    /// say, with the literals where the loads look.
    #[test]
    fn zynqmp_shim_decodes_as_written() {
        let b = zynqmp_shim(0x800_0000, 0x20_0000, 0xff00_0000);
        let l = listing(&b[..0x28]);
        assert_eq!(l[0], "ldr x5, $+0x38");
        assert_eq!(l[1], "mov w6, #0x14");
        assert_eq!(l[2], "str w6, [x5]");
        assert_eq!(l[3], "ldr x0, $+0x1c");
        assert_eq!(l[7], "ldr x4, $+0x14");
        assert_eq!(l[8], "br x4");
        let lit = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        assert_eq!((lit(0x28), lit(0x30), lit(0x38)), (0x800_0000, 0x20_0000, 0xff00_0000));
    }
}
