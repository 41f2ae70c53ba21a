//! Boot stages 1 and 2: the Image header and the boot stub (`boot/head.S`).
//!
//! This file only assembles the stub and gives it what it needs from Rust:
//! constants (MAIR, TCR, SCTLR values from `arch::sysreg`, the identity
//! map's leaf attributes, exit codes) and the symbols of the tables and the
//! stack it uses, which live here in `.bss`. See `boot/head.S` for the steps.
//!
//! The identity map covers the image with `SWAPPER_BLOCK_SIZE` entries:
//! 2 MiB level-2 blocks with 4K pages (the image starts on a 2 MiB boundary
//! in RAM, so its first block is RAM), pages with 16K and 64K pages, whose
//! level-2 blocks (32 MiB, 512 MiB) would cover whatever lies next to the
//! image as Normal memory the CPU may read speculatively. The number of
//! tables of each level is computed here from the largest image
//! (`MAX_IMAGE_SIZE`, enforced by linker.ld) and its 2 MiB alignment.
//! The stub continues into `early_map_kernel` (`map_kernel.rs`) and then,
//! by link name, into `start_kernel` (`setup/start_kernel.rs`).

use crate::arch::semihosting::ADP_STOPPED_APPLICATION_EXIT;
use crate::arch::sysreg;
use crate::arch::table::Table;
use vakern_mm::cpufeat;
use vakern_mm::layout::{
    tables_spanned, Granule, ACTIVE, IMAGE_LOAD_ALIGN, MAX_IMAGE_SIZE, PAGE_SHIFT, PMD_SIZE, PUD_SIZE, ROOT_LEVEL,
    SWAPPER_BLOCK_SIZE, SWAPPER_LEAF_LEVEL, VA_BITS_MIN,
};
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

/// Root table of the identity map (TTBR0 until the final tables are in
/// place), at [`ROOT_LEVEL`]; with two levels it holds the blocks itself.
#[link_section = ".bss.early_tables"]
pub static mut IDMAP_PG_DIR: Table = Table::new();
/// Level-1 tables of the identity map below the root: one with four levels,
/// none with fewer (the root is the level-1 table, or there is none).
pub(crate) const IDMAP_PUDS: usize = (ROOT_LEVEL == 0) as usize;
/// See [`IDMAP_PUDS`].
#[link_section = ".bss.early_tables"]
pub static mut IDMAP_PUD: [Table; IDMAP_PUDS] = [const { Table::new() }; IDMAP_PUDS];
/// Level-2 tables of the identity map: as many as the largest image
/// ([`MAX_IMAGE_SIZE`], at a 2 MiB-aligned address) can straddle level-1
/// entries (1 GiB with 4K pages): two; none with two levels, where the root
/// is the level-2 table.
pub(crate) const IDMAP_PMDS: usize =
    if ROOT_LEVEL < 2 { tables_spanned(MAX_IMAGE_SIZE, IMAGE_LOAD_ALIGN, PUD_SIZE) } else { 0 };
/// See [`IDMAP_PMDS`].
#[link_section = ".bss.early_tables"]
pub static mut IDMAP_PMD: [Table; IDMAP_PMDS] = [const { Table::new() }; IDMAP_PMDS];
/// Level-3 tables of the identity map, with 16K and 64K pages, where it maps
/// the image page by page: as many as the largest image can straddle
/// level-2 entries (32 MiB or 512 MiB each): two. None with 4K pages, where
/// the level-2 entries are the 2 MiB blocks themselves.
pub(crate) const IDMAP_PTES: usize =
    if SWAPPER_LEAF_LEVEL == 3 { tables_spanned(MAX_IMAGE_SIZE, IMAGE_LOAD_ALIGN, PMD_SIZE) } else { 0 };
/// See [`IDMAP_PTES`].
#[link_section = ".bss.early_tables"]
pub static mut IDMAP_PTE: [Table; IDMAP_PTES] = [const { Table::new() }; IDMAP_PTES];

/// The identity map's index fields for the stub's `ubfx`: the lowest VA bit
/// and the width of the index at `level` (the root's is narrower when
/// `VA_BITS` does not fill it). Levels above the root are never used.
const fn index_field(level: u32) -> (u32, u32) {
    if level.checked_sub(ROOT_LEVEL).is_none() {
        return (0, 1);
    }
    (ACTIVE.level_shift(level), ACTIVE.entries(level).trailing_zeros())
}

/// Identity-map leaf entries (2 MiB blocks or pages, [`SWAPPER_LEAF_LEVEL`]):
/// normal memory, writable and executable. They exist only while the stub
/// and the early code run; W^X applies from the high mapping on.
const IDMAP_LEAF_ATTRS: u64 =
    pte::leaf_desc(0, SWAPPER_LEAF_LEVEL, Prot { write: true, exec: true, mem: MemType::Normal });

/// Image header flags: bit 0 = 0 little-endian, bits 1-2 the page size
/// (1 = 4 KiB, 2 = 16 KiB, 3 = 64 KiB), bit 3 = 1 "may be placed anywhere
/// in physical memory".
const HEADER_FLAGS: u64 = (HEADER_PAGE_SIZE << 1) | (1 << 3);
const HEADER_PAGE_SIZE: u64 = match ACTIVE.granule() {
    Granule::K4 => 1,
    Granule::K16 => 2,
    Granule::K64 => 3,
};

/// Where the flavour's granule sits in ID_AA64MMFR0_EL1 (TGran4, TGran16 or
/// TGran64), and the values of that field that mean "implemented": 0 to 7
/// for the signed TGran4 and TGran64 (0xf is "absent"), 1 and up for the
/// unsigned TGran16 (0 is "absent").
const TGRAN_SHIFT: u32 = match ACTIVE.granule() {
    Granule::K4 => 28,
    Granule::K16 => 20,
    Granule::K64 => 24,
};
const TGRAN_MIN: u64 = if matches!(ACTIVE.granule(), Granule::K16) { 1 } else { 0 };
const TGRAN_MAX: u64 = if matches!(ACTIVE.granule(), Granule::K16) { 15 } else { 7 };
// The stub's test agrees with the host-tested decoding for every field value.
const _: () = {
    let mut v: u64 = 0;
    while v < 16 {
        let ok = v.wrapping_sub(TGRAN_MIN) <= TGRAN_MAX - TGRAN_MIN;
        assert!(ok == cpufeat::has_granule(v << TGRAN_SHIFT, ACTIVE.granule()));
        v += 1;
    }
};

/// Room for the early messages, NUL-terminated for semihosting's SYS_WRITE0.
const MSG_LEN: usize = 320;

/// `parts` joined into a NUL-terminated buffer (at compile time).
const fn message(parts: &[&str]) -> [u8; MSG_LEN] {
    let mut out = [0u8; MSG_LEN];
    let mut n = 0;
    let mut p = 0;
    while p < parts.len() {
        let b = parts[p].as_bytes();
        let mut i = 0;
        while i < b.len() {
            out[n] = b[i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(n < MSG_LEN);
    out
}

/// The flavour's name, as the launcher passed it.
const FLAVOUR_NAME: &str = match option_env!("VAKERN_FLAVOUR") {
    Some(n) if !n.is_empty() => n,
    _ => "4.10-4K-48",
};

/// What the stub prints through semihosting when the CPU lacks the
/// flavour's granule: no console exists yet. Lives in `.idmap.text`, which
/// the stub reaches PC-relative before relocation; plain bytes, so no
/// relocation ever patches it.
#[link_section = ".idmap.text"]
static NO_GRANULE_MSG: [u8; MSG_LEN] = message(&[
    "vakern: early boot failed: the CPU has no ",
    ACTIVE.granule().name(),
    " translation granule (ID_AA64MMFR0_EL1.",
    cpufeat::tgran_name(ACTIVE.granule()),
    " says not implemented), and this kernel is built for the ",
    FLAVOUR_NAME,
    " flavour: build another --page-size or choose another --cpu\n",
]);

core::arch::global_asm!(
    include_str!("../../../boot/head.S"),
    header_flags = const HEADER_FLAGS,
    tgran_shift = const TGRAN_SHIFT,
    tgran_min = const TGRAN_MIN,
    tgran_max = const TGRAN_MAX,
    no_granule_msg = sym NO_GRANULE_MSG,
    root_level = const ROOT_LEVEL,
    idmap_step = const SWAPPER_BLOCK_SIZE,
    idmap_pages = const (SWAPPER_LEAF_LEVEL == 3) as u64,
    idmap_pmds_max = const IDMAP_PMDS.saturating_sub(1),
    idmap_ptes_max = const IDMAP_PTES.saturating_sub(1),
    page_shift = const PAGE_SHIFT,
    idmap_va_bits = const VA_BITS_MIN,
    has_vabits_actual = const ACTIVE.has_vabits_actual() as u64,
    t1sz_min = const sysreg::T1SZ_MIN,
    t1sz_shift = const sysreg::TCR_T1SZ_SHIFT,
    t1sz_bits = const sysreg::TCR_T1SZ_BITS,
    ttbr1_offset_min = const sysreg::TTBR1_OFFSET_MIN,
    l0_shift = const index_field(0).0,
    l0_bits = const index_field(0).1,
    l1_shift = const index_field(1).0,
    l1_bits = const index_field(1).1,
    l2_shift = const index_field(2).0,
    l2_bits = const index_field(2).1,
    l3_shift = const index_field(3).0,
    l3_bits = const index_field(3).1,
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
    idmap_leaf_attrs = const IDMAP_LEAF_ATTRS,
    boot_stack = sym BOOT_STACK,
    boot_stack_size = const BOOT_STACK_SIZE,
    idmap_pg_dir = sym IDMAP_PG_DIR,
    idmap_pud = sym IDMAP_PUD,
    idmap_pmd = sym IDMAP_PMD,
    idmap_pte = sym IDMAP_PTE,
    init_pg_dir = sym crate::early::map_kernel::INIT_PG_DIR,
    exit_early = const vakern_mm::exit::EARLY_BOOT_FAILED,
    adp_exit = const ADP_STOPPED_APPLICATION_EXIT,
);
