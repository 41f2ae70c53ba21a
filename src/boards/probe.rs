//! A boot-protocol probe: a tiny arm64 Image that reports what the boot
//! loader handed it, so a board's hand-over can be checked without the kernel.
//!
//! It stands where the kernel would (first instruction after the boot
//! firmware) and may use only what a freshly entered kernel has: x0, the
//! exception level, the console UART the tree names, the enable-method of a
//! secondary CPU, and semihosting. It
//! - reads x0, CurrentEL and the first word of the tree x0 points at;
//! - writes "probe-console\n" to a UART (PL011 or BCM2835 mini UART data
//!   register, or a Cadence UART after enabling its transmitter), to show
//!   which `-serial` carries that UART;
//! - releases one secondary CPU, through a spin-table word or PSCI `CPU_ON`
//!   (SMC), and waits (bounded) for it to write its MPIDR | 0x100 to a flag;
//! - prints `x0=… el=… magic=… release=… flag=…` (16 hex digits each) with
//!   semihosting SYS_WRITE0 (QEMU writes it to its standard error) and exits
//!   with SYS_EXIT, code 0.
//!
//! The code was assembled from the listing in the comments; the parameters
//! live in a block at the end that [`probe_image`] fills in.

/// The console the probe writes its marker to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeUart {
    /// No marker.
    None,
    /// A UART whose data register is at offset 0 (PL011 `DR`, mini UART `AUX_MU_IO`).
    DataAtZero(u64),
    /// A Cadence UART (`cdns,uart-r1p12`): enable TX in `CR` (offset 0), write the FIFO at 0x30.
    Cadence(u64),
}

/// How the probe starts a secondary CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeRelease {
    /// It does not.
    None,
    /// Write the entry point to this spin-table word, then `sev`.
    SpinTable(u64),
    /// PSCI `CPU_ON` through SMC for this MPIDR.
    PsciSmc(u64),
}

/// What the probe reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    /// x0 at entry.
    pub x0: u64,
    /// Exception level at entry.
    pub el: u64,
    /// The first word at x0, big-endian (0xd00dfeed for a tree).
    pub magic: u64,
    /// 0 when the release was made (spin table) or PSCI's return value; all ones when none was tried.
    pub release: u64,
    /// MPIDR | 0x100 of the secondary that ran, or 0.
    pub flag: u64,
}

/// Offsets of the data the code addresses (checked when the image is built).
const STRINGS_AT: usize = 0x1b8;
const EXIT_BLOCK_AT: usize = 0x1f0;
const FLAG_AT: usize = 0x200;
const BUF_AT: usize = 0x208;
const PARAMS_AT: usize = 0x2a8;
const IMAGE_LEN: usize = PARAMS_AT + 32;

/// Build the probe Image.
pub fn probe_image(uart: ProbeUart, release: ProbeRelease) -> Vec<u8> {
    // The arm64 Image header: branch to 0x40, text_offset 0, image_size
    // 4 KiB, flags (little-endian, 4K pages, placed anywhere), magic.
    let mut b = Vec::with_capacity(IMAGE_LEN);
    b.extend_from_slice(&0x1400_0010u32.to_le_bytes()); // 000: b 0x40 (start)
    b.extend_from_slice(&0u32.to_le_bytes());
    for v in [0u64, 0x1000, 0xa, 0, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(b"ARM\x64");
    b.extend_from_slice(&0u32.to_le_bytes());
    let code: [u32; 94] = [
        // start:
        0xaa00_03f3, // 040: mov x19, x0
        0xd538_4254, // 044: mrs x20, CurrentEL
        0xd342_fe94, // 048: lsr x20, x20, #2
        0xb940_0275, // 04c: ldr w21, [x19]
        0x5ac0_0ab5, // 050: rev w21, w21                 (the tree header is big-endian)
        0x9280_0016, // 054: mov x22, #-1                 (no release tried)
        0xd280_0017, // 058: mov x23, #0
        0x5800_1261, // 05c: ldr x1, p_uart               (UART address)
        0x5800_1282, // 060: ldr x2, p_uart_kind          (0 none, 1 data at 0, 2 Cadence)
        0xb400_0162, // 064: cbz x2, release              (no marker)
        0xf100_085f, // 068: cmp x2, #2
        0x5400_0081, // 06c: b.ne 0x7c
        0x5280_0283, // 070: mov w3, #0x14                (Cadence CR: TX and RX enabled)
        0xb900_0023, // 074: str w3, [x1]
        0x9100_c021, // 078: add x1, x1, #0x30            (Cadence TX FIFO)
        0x5000_0ae4, // 07c: adr x4, marker
        0x3840_1483, // 080: ldrb w3, [x4], #1
        0x3400_0063, // 084: cbz w3, release              (end of the marker)
        0xb900_0023, // 088: str w3, [x1]
        0x17ff_fffd, // 08c: b 0x80
        // release:
        0x1000_0845, // 090: adr x5, secondary
        0x5800_1122, // 094: ldr x2, p_release            (0 none, 1 spin table, 2 PSCI SMC)
        0xf100_045f, // 098: cmp x2, #1
        0x5400_00e1, // 09c: b.ne 0xb8
        0x5800_1101, // 0a0: ldr x1, p_release_addr
        0xf900_0025, // 0a4: str x5, [x1]
        0xd503_3f9f, // 0a8: dsb sy
        0xd503_209f, // 0ac: sev
        0xd280_0016, // 0b0: mov x22, #0
        0x1400_000a, // 0b4: b wait
        0xf100_085f, // 0b8: cmp x2, #2
        0x5400_01c1, // 0bc: b.ne report
        0xd280_0060, // 0c0: mov x0, #3                   (PSCI CPU_ON, SMC64: 0xc400_0003)
        0xf2b8_8000, // 0c4: movk x0, #50176, lsl #16
        0x5800_0fc1, // 0c8: ldr x1, p_release_addr
        0xaa05_03e2, // 0cc: mov x2, x5
        0xaa1f_03e3, // 0d0: mov x3, xzr
        0xd400_0003, // 0d4: smc #0
        0xaa00_03f6, // 0d8: mov x22, x0
        // wait:
        0x1000_0926, // 0dc: adr x6, flag
        0xd2a2_0007, // 0e0: mov x7, #0x1000_0000         (bounded wait: seconds, for a loaded host)
        0xf940_00d7, // 0e4: ldr x23, [x6]
        0xb500_0077, // 0e8: cbnz x23, report
        0xf100_04e7, // 0ec: subs x7, x7, #1
        0x54ff_ffa1, // 0f0: b.ne 0xe4
        // report:
        0x1000_08aa, // 0f4: adr x10, buf
        0x1000_060b, // 0f8: adr x11, t_x0
        0xaa13_03e9, // 0fc: mov x9, x19
        0x9400_0017, // 100: bl field
        0x1000_05cb, // 104: adr x11, t_el
        0xaa14_03e9, // 108: mov x9, x20
        0x9400_0014, // 10c: bl field
        0x3000_058b, // 110: adr x11, t_magic
        0xaa15_03e9, // 114: mov x9, x21
        0x9400_0011, // 118: bl field
        0x3000_056b, // 11c: adr x11, t_release
        0xaa16_03e9, // 120: mov x9, x22
        0x9400_000e, // 124: bl field
        0x7000_054b, // 128: adr x11, t_flag
        0xaa17_03e9, // 12c: mov x9, x23
        0x9400_000b, // 130: bl field
        0x5280_0143, // 134: mov w3, #'\n'
        0x3800_1543, // 138: strb w3, [x10], #1
        0x3900_015f, // 13c: strb wzr, [x10]
        0x1000_0641, // 140: adr x1, buf
        0xd280_0080, // 144: mov x0, #4                   (SYS_WRITE0)
        0xd45e_0000, // 148: hlt #0xf000
        0x1000_0521, // 14c: adr x1, exit_block
        0xd280_0300, // 150: mov x0, #0x18                (SYS_EXIT)
        0xd45e_0000, // 154: hlt #0xf000
        0x1400_0000, // 158: b 0x158
        // field:
        0x3840_1563, // 15c: ldrb w3, [x11], #1
        0x3400_0063, // 160: cbz w3, 0x16c
        0x3800_1543, // 164: strb w3, [x10], #1
        0x17ff_fffd, // 168: b field
        0xd280_020c, // 16c: mov x12, #16
        0x93c9_f129, // 170: ror x9, x9, #60
        0x1200_0d23, // 174: and w3, w9, #0xf
        0x7100_287f, // 178: cmp w3, #10
        0x1100_c06d, // 17c: add w13, w3, #48
        0x1101_5c6e, // 180: add w14, w3, #87
        0x1a8e_31a3, // 184: csel w3, w13, w14, lo        (digit or letter)
        0x3800_1543, // 188: strb w3, [x10], #1
        0xf100_058c, // 18c: subs x12, x12, #1
        0x54ff_ff01, // 190: b.ne 0x170
        0xd65f_03c0, // 194: ret
        // secondary:
        0xd538_00a7, // 198: mrs x7, MPIDR_EL1
        0xb278_00e7, // 19c: orr x7, x7, #0x100           (never zero)
        0x1000_0306, // 1a0: adr x6, flag
        0xf900_00c7, // 1a4: str x7, [x6]
        0xd503_3f9f, // 1a8: dsb sy
        0xd503_209f, // 1ac: sev
        0xd503_205f, // 1b0: wfe
        0x17ff_ffff, // 1b4: b 0x1b0
                     // t_x0:
    ];
    b.extend(code.iter().flat_map(|w| w.to_le_bytes()));
    assert_eq!(b.len(), STRINGS_AT);
    b.extend_from_slice(b"x0=\0 el=\0 magic=\0 release=\0 flag=\0probe-console\n\0");
    b.resize(EXIT_BLOCK_AT, 0);
    // SYS_EXIT's block: ADP_Stopped_ApplicationExit, exit code 0.
    b.extend_from_slice(&0x20026u64.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    assert_eq!(b.len(), FLAG_AT);
    b.resize(BUF_AT, 0);
    b.resize(PARAMS_AT, 0);
    let (uart_pa, uart_kind) = match uart {
        ProbeUart::None => (0, 0),
        ProbeUart::DataAtZero(pa) => (pa, 1),
        ProbeUart::Cadence(pa) => (pa, 2),
    };
    let (rel_kind, rel_arg) = match release {
        ProbeRelease::None => (0, 0),
        ProbeRelease::SpinTable(addr) => (1, addr),
        ProbeRelease::PsciSmc(mpidr) => (2, mpidr),
    };
    for v in [uart_pa, uart_kind, rel_kind, rel_arg] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(b.len(), IMAGE_LEN);
    b
}

/// Find the probe's report line in QEMU's output.
pub fn parse_report(output: &str) -> Option<ProbeReport> {
    let line = output.lines().find(|l| l.starts_with("x0="))?;
    let mut vals = [0u64; 5];
    let keys = ["x0", "el", "magic", "release", "flag"];
    for (i, part) in line.split_whitespace().enumerate() {
        let (k, v) = part.split_once('=')?;
        if keys.get(i) != Some(&k) || v.len() != 16 {
            return None;
        }
        vals[i] = u64::from_str_radix(v, 16).ok()?;
    }
    Some(ProbeReport { x0: vals[0], el: vals[1], magic: vals[2], release: vals[3], flag: vals[4] })
}
