//! Boot stages 1 and 2: the Image header and the boot stub (`boot/head.S`).
//!
//! This file only assembles the stub and gives it what it needs from Rust:
//! constants (MAIR, TCR, SCTLR values, the identity map's block attributes,
//! exit codes) and the symbols of the tables and the stack it uses, which
//! live here in `.bss`. See `boot/head.S` for the steps.

use vakern_mm::pte::{self, MemType, Prot};

/// A page-aligned page table.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    /// An empty table (all entries invalid).
    pub const fn new() -> Table {
        Table([0; 512])
    }
}

/// Size of the boot stack, used until the kernel stacks exist.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Stack([u8; BOOT_STACK_SIZE]);

/// The boot stack, in .bss.
#[no_mangle]
static mut BOOT_STACK: Stack = Stack([0; BOOT_STACK_SIZE]);

/// Level-0 table of the identity map (TTBR0 until the final tables are in place).
pub static mut IDMAP_PG_DIR: Table = Table::new();
/// Level-1 table of the identity map.
pub static mut IDMAP_PUD: Table = Table::new();
/// Two level-2 tables of the identity map: the image may straddle a 1 GiB line.
pub static mut IDMAP_PMD: [Table; 2] = [Table::new(), Table::new()];

/// SCTLR_EL1 bits that are RES1 on ARMv8.0 (bits 11, 20, 22, 23, 28, 29).
const SCTLR_RES1: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// SCTLR_EL1 with the MMU and caches off.
const SCTLR_MMU_OFF: u64 = SCTLR_RES1;
/// SCTLR_EL1 with M (MMU), C (data cache), SA/SA0 (stack alignment checks), I (instruction cache).
const SCTLR_MMU_ON: u64 = SCTLR_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);

/// TCR_EL1 without IPS (the stub fills it from ID_AA64MMFR0_EL1):
/// T0SZ = T1SZ = 16 (48-bit halves), 4 KiB granules, inner-shareable
/// write-back walks for both halves.
#[allow(clippy::identity_op)]
const TCR_VALUE: u64 = (64 - vakern_mm::layout::VA_BITS as u64) // T0SZ
    | (0b01 << 8) // IRGN0: write-back, write-allocate
    | (0b01 << 10) // ORGN0
    | (0b11 << 12) // SH0: inner shareable
    | (0b00 << 14) // TG0: 4 KiB
    | ((64 - vakern_mm::layout::VA_BITS as u64) << 16) // T1SZ
    | (0b01 << 24) // IRGN1
    | (0b01 << 26) // ORGN1
    | (0b11 << 28) // SH1
    | (0b10 << 30); // TG1: 4 KiB

/// Identity-map blocks: normal memory, writable and executable. They exist
/// only while the stub and the early code run; W^X applies from the high
/// mapping on.
const IDMAP_BLOCK_ATTRS: u64 = pte::leaf_desc(0, 2, Prot { write: true, exec: true, mem: MemType::Normal });

/// Image header flags: bit 0 = 0 little-endian, bits 1-2 = 1 for 4 KiB
/// pages, bit 3 = 1 "may be placed anywhere in physical memory".
const HEADER_FLAGS: u64 = (1 << 1) | (1 << 3);

core::arch::global_asm!(
    include_str!("../../boot/head.S"),
    header_flags = const HEADER_FLAGS,
    sctlr_mmu_off = const SCTLR_MMU_OFF,
    sctlr_mmu_on = const SCTLR_MMU_ON,
    mair = const pte::MAIR_VALUE,
    tcr = const TCR_VALUE,
    idmap_block_attrs = const IDMAP_BLOCK_ATTRS,
    boot_stack = sym BOOT_STACK,
    boot_stack_size = const BOOT_STACK_SIZE,
    idmap_pg_dir = sym IDMAP_PG_DIR,
    idmap_pud = sym IDMAP_PUD,
    idmap_pmd = sym IDMAP_PMD,
    init_pg_dir = sym crate::early::INIT_PG_DIR,
    exit_early = const vakern_mm::exit::EARLY_BOOT_FAILED,
    adp_exit = const crate::semihosting::ADP_STOPPED_APPLICATION_EXIT,
    start_kernel = sym crate::setup::start_kernel,
    swapper_pg_dir = sym crate::linear_map::SWAPPER_PG_DIR,
    secondary_stacks = sym crate::smp::SECONDARY_STACKS,
    secondary_start = sym crate::smp::secondary_start_kernel,
);
