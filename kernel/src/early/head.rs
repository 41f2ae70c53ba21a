//! Boot stages 1 and 2: the Image header and the boot stub (`boot/head.S`).
//!
//! This file only assembles the stub and gives it what it needs from Rust:
//! constants (MAIR, TCR, SCTLR values from `arch::sysreg`, the identity
//! map's block attributes, exit codes) and the symbols of the tables and the
//! stack it uses, which live here in `.bss`. See `boot/head.S` for the steps.
//! The stub continues into `early_map_kernel` (`map_kernel.rs`) and then,
//! by link name, into `start_kernel` (`setup/start_kernel.rs`).

use crate::arch::semihosting::ADP_STOPPED_APPLICATION_EXIT;
use crate::arch::sysreg;
use crate::arch::table::Table;
use vakern_mm::pte::{self, MemType, Prot};

/// Size of the boot stack, used until the kernel stacks exist.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Stack([u8; BOOT_STACK_SIZE]);

/// The boot stack, in .bss.
#[no_mangle]
static mut BOOT_STACK: Stack = Stack([0; BOOT_STACK_SIZE]);

// The identity-map tables are written by the stub with the MMU off, so they
// sit in the early-tables group (linker.ld), which the stub zeroes and
// invalidates to the PoC itself, apart from .bss.

/// Level-0 table of the identity map (TTBR0 until the final tables are in place).
#[link_section = ".bss.early_tables"]
pub static mut IDMAP_PG_DIR: Table = Table::new();
/// Level-1 table of the identity map.
#[link_section = ".bss.early_tables"]
pub static mut IDMAP_PUD: Table = Table::new();
/// Two level-2 tables of the identity map: the image may straddle a 1 GiB line.
#[link_section = ".bss.early_tables"]
pub static mut IDMAP_PMD: [Table; 2] = [Table::new(), Table::new()];

/// Identity-map blocks: normal memory, writable and executable. They exist
/// only while the stub and the early code run; W^X applies from the high
/// mapping on.
const IDMAP_BLOCK_ATTRS: u64 = pte::leaf_desc(0, 2, Prot { write: true, exec: true, mem: MemType::Normal });

/// Image header flags: bit 0 = 0 little-endian, bits 1-2 = 1 for 4 KiB
/// pages, bit 3 = 1 "may be placed anywhere in physical memory".
const HEADER_FLAGS: u64 = (1 << 1) | (1 << 3);

core::arch::global_asm!(
    include_str!("../../../boot/head.S"),
    header_flags = const HEADER_FLAGS,
    sctlr_mmu_off = const sysreg::SCTLR_MMU_OFF,
    sctlr_mmu_on = const sysreg::SCTLR_MMU_ON,
    mair = const sysreg::MAIR,
    tcr = const sysreg::TCR_VALUE,
    ips_shift = const sysreg::TCR_IPS_SHIFT,
    ips_bits = const sysreg::TCR_IPS_BITS,
    tcr_epd0 = const sysreg::TCR_EPD0,
    parange_mask = const sysreg::PARANGE_MASK,
    parange_48 = const sysreg::PARANGE_48,
    cpacr_fp_on = const sysreg::CPACR_FP_ON,
    hcr = const sysreg::HCR_EL1_AARCH64,
    cnthctl_el1 = const sysreg::CNTHCTL_EL1_ACCESS,
    cptr_el2 = const sysreg::CPTR_EL2_VALUE,
    spsr_el1h = const sysreg::SPSR_EL1H_MASKED,
    idmap_block_attrs = const IDMAP_BLOCK_ATTRS,
    boot_stack = sym BOOT_STACK,
    boot_stack_size = const BOOT_STACK_SIZE,
    idmap_pg_dir = sym IDMAP_PG_DIR,
    idmap_pud = sym IDMAP_PUD,
    idmap_pmd = sym IDMAP_PMD,
    init_pg_dir = sym crate::early::map_kernel::INIT_PG_DIR,
    exit_early = const vakern_mm::exit::EARLY_BOOT_FAILED,
    adp_exit = const ADP_STOPPED_APPLICATION_EXIT,
);
