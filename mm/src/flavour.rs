//! Layout flavours: one arm64 Linux version, page size and VA size, and every
//! number of the virtual address layout that follows from them.
//!
//! A [`Layout`] is a plain value whose methods are `const fn`s, so the same
//! derivations serve three users: [`crate::layout`] turns the flavour chosen
//! at build time into the kernel's constants, the compile-time checks at the
//! bottom of this file run over every flavour the project offers, and the
//! launcher turns its command-line flags into a flavour with [`flavour`]. It
//! needs nothing but integer arithmetic and runs at every boot stage. It is
//! over 400 lines because the derivations of one flavour only make sense read
//! together, and the compile-time checks of every flavour sit next to them.
//!
//! The formulas are those of arm64 Linux's `memory.h`, `pgtable.h`,
//! `pgtable-hwdef.h`, `kernel-pgtable.h` and `mm/init.c`, with KASAN off:
//!
//! - **4.10**: the linear map is the top half of the kernel range,
//!   `PAGE_OFFSET = -(1 << (VA_BITS - 1))`, and everything else (modules, the
//!   image, vmalloc, fixmap, PCI I/O, vmemmap) sits in the bottom half,
//!   starting at `VA_START = -(1 << VA_BITS)`. Linear addresses are told apart
//!   by bit `VA_BITS - 1` alone.
//! - **6.12**: flipped (since 5.4): the linear map is the bottom half,
//!   `[PAGE_OFFSET, PAGE_END)` with `PAGE_OFFSET = -(1 << VA_BITS)` and
//!   `PAGE_END = -(1 << (VA_BITS_MIN - 1))`, then 2 GiB of modules with the
//!   image at `KIMAGE_VADDR = MODULES_END`, vmalloc, and vmemmap, PCI I/O and
//!   the fixmap counted down from the top of the address space. Linear
//!   addresses are found with a range check (since 5.11).
//! - **52-bit VAs (6.12, 64 KiB pages)**: one image runs on CPUs with and
//!   without FEAT_LVA. `PAGE_OFFSET` stays at `-(1 << 52)` and `PAGE_END` at
//!   `-(1 << 47)`, but a CPU without LVA translates only 48 bits
//!   (`vabits_actual = 48`), so RAM is placed at `-(1 << 48)` instead: Linux
//!   lowers `memstart_addr` by `(1 << 52) - (1 << 48)` and `__va` still adds
//!   the fixed `PAGE_OFFSET`. The methods that depend on this take
//!   `vabits_actual`.
//!
//! Not Linux's: the fixmap's contents. vakern's fixmap is a 2 MiB window of
//! page-sized slots under `FIXADDR_TOP` and a 4 MiB window for the device tree
//! below it, in every flavour; only `FIXADDR_TOP` is the version's.

use core::fmt;

/// The arm64 Linux version whose layout and translation rules a flavour follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Linux 4.10: linear map on top, bit test.
    V4_10,
    /// Linux 6.12: linear map at the bottom, range check, 52-bit VAs.
    V6_12,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 2] = [Version::V4_10, Version::V6_12];

    /// As written in flavour names and on the command line: `4.10`, `6.12`.
    pub const fn name(self) -> &'static str {
        match self {
            Version::V4_10 => "4.10",
            Version::V6_12 => "6.12",
        }
    }

    /// The version called `name`.
    pub const fn from_name(name: &str) -> Result<Version, &'static str> {
        Self::from_bytes(name.as_bytes())
    }

    const fn from_bytes(name: &[u8]) -> Result<Version, &'static str> {
        match name {
            b"4.10" => Ok(Version::V4_10),
            b"6.12" => Ok(Version::V6_12),
            _ => Err("unknown layout version: the versions are 4.10 and 6.12"),
        }
    }
}

/// The translation granule, which is also the page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granule {
    /// 4 KiB pages.
    K4,
    /// 16 KiB pages.
    K16,
    /// 64 KiB pages.
    K64,
}

impl Granule {
    /// Every granule, smallest first.
    pub const ALL: [Granule; 3] = [Granule::K4, Granule::K16, Granule::K64];

    /// log2 of the page size.
    pub const fn shift(self) -> u32 {
        match self {
            Granule::K4 => 12,
            Granule::K16 => 14,
            Granule::K64 => 16,
        }
    }

    /// The page size in bytes.
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }

    /// As written in flavour names and on the command line: `4K`, `16K`, `64K`.
    pub const fn name(self) -> &'static str {
        match self {
            Granule::K4 => "4K",
            Granule::K16 => "16K",
            Granule::K64 => "64K",
        }
    }

    /// The granule called `name` (`4K`, `16K` or `64K`; a lower-case `k` is accepted).
    pub const fn from_name(name: &str) -> Result<Granule, &'static str> {
        Self::from_bytes(name.as_bytes())
    }

    const fn from_bytes(name: &[u8]) -> Result<Granule, &'static str> {
        match name {
            b"4K" | b"4k" => Ok(Granule::K4),
            b"16K" | b"16k" => Ok(Granule::K16),
            b"64K" | b"64k" => Ok(Granule::K64),
            _ => Err("unknown page size: the page sizes are 4K, 16K and 64K"),
        }
    }

    /// TCR_EL1.TG0 (bits 15:14) for this granule: 4K = 0b00, 64K = 0b01, 16K = 0b10.
    pub const fn tg0(self) -> u64 {
        match self {
            Granule::K4 => 0b00,
            Granule::K16 => 0b10,
            Granule::K64 => 0b01,
        }
    }

    /// TCR_EL1.TG1 (bits 31:30), encoded differently from TG0: 16K = 0b01, 4K = 0b10, 64K = 0b11.
    pub const fn tg1(self) -> u64 {
        match self {
            Granule::K4 => 0b10,
            Granule::K16 => 0b01,
            Granule::K64 => 0b11,
        }
    }
}

/// One flavour: a version, a granule and `VA_BITS`, checked against what that
/// version's Kconfig offered. Build one with [`flavour`] or [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    version: Version,
    granule: Granule,
    va_bits: u32,
}

/// The flavour when nothing is chosen: 4.10 with 4 KiB pages and 48-bit VAs.
pub const DEFAULT: Layout = Layout { version: Version::V4_10, granule: Granule::K4, va_bits: 48 };

/// Every flavour vakern builds, in the order `--help` lists them.
pub const FLAVOURS: [Layout; 13] = {
    const fn l(version: Version, granule: Granule, va_bits: u32) -> Layout {
        Layout { version, granule, va_bits }
    }
    use Granule::*;
    use Version::*;
    [
        l(V4_10, K4, 39),
        l(V4_10, K4, 48),
        l(V4_10, K16, 47),
        l(V4_10, K16, 48),
        l(V4_10, K64, 42),
        l(V4_10, K64, 48),
        l(V6_12, K4, 39),
        l(V6_12, K4, 48),
        l(V6_12, K16, 47),
        l(V6_12, K16, 48),
        l(V6_12, K64, 42),
        l(V6_12, K64, 48),
        l(V6_12, K64, 52),
    ]
};

/// The flavour for `version`, `granule` and `va_bits`, or why there is none.
///
/// The choices are those of each version's Kconfig (`ARM64_VA_BITS_*`): 39 or
/// 48 bits with 4 KiB pages, 47 or 48 with 16 KiB, 42 or 48 with 64 KiB, and
/// on 6.12 also 52 with 64 KiB (FEAT_LVA). Two choices Linux had are refused
/// with their own reason: 36 bits with 16 KiB pages (EXPERT-only) and 52 bits
/// with 4 or 16 KiB pages on 6.12 (FEAT_LPA2).
pub const fn flavour(version: Version, granule: Granule, va_bits: u32) -> Result<Layout, &'static str> {
    let ok = match (granule, va_bits) {
        (Granule::K4, 39 | 48) | (Granule::K16, 47 | 48) | (Granule::K64, 42 | 48) => true,
        (Granule::K64, 52) => matches!(version, Version::V6_12),
        _ => false,
    };
    if ok {
        return Ok(Layout { version, granule, va_bits });
    }
    Err(match (version, granule, va_bits) {
        (Version::V4_10, _, 52) => {
            "Linux 4.10 has no 52-bit VAs: the kernel's 52-bit VA support arrived in 5.4 (try --layout 6.12)"
        }
        (_, Granule::K16, 36) => {
            "36-bit VAs with 16K pages were an EXPERT-only Kconfig choice; their 32 GiB linear map cannot hold \
             the 64 GiB test machine, so vakern does not build them"
        }
        (Version::V6_12, Granule::K4 | Granule::K16, 52) => {
            "52-bit VAs with 4K or 16K pages need FEAT_LPA2 (other descriptor formats, and a fifth table level \
             with 4K); vakern builds 52-bit VAs with 64K pages only"
        }
        (_, Granule::K4, _) => "with 4K pages the VA sizes are 39 and 48 bits (and 52 on 6.12 via LPA2, not built)",
        (_, Granule::K16, _) => "with 16K pages the VA sizes are 47 and 48 bits",
        (Version::V4_10, Granule::K64, _) => "with 64K pages Linux 4.10 offered 42 and 48 bits",
        (Version::V6_12, Granule::K64, _) => "with 64K pages Linux 6.12 offers 42, 48 and 52 bits",
    })
}

/// Parse a flavour name such as `4.10-4K-48` or `6.12-64K-52`.
pub const fn parse(name: &str) -> Result<Layout, &'static str> {
    const FORMAT: &str = "a flavour is written VERSION-PAGESIZE-VABITS, for example 4.10-4K-48";
    let b = name.as_bytes();
    let mut dash = [0usize; 2];
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            if n == 2 {
                return Err(FORMAT);
            }
            dash[n] = i;
            n += 1;
        }
        i += 1;
    }
    if n != 2 {
        return Err(FORMAT);
    }
    let (v, rest) = b.split_at(dash[0]);
    let (g, bits) = rest.split_at(dash[1] - dash[0]);
    let g = g.split_at(1).1; // drop the dashes
    let bits = bits.split_at(1).1;
    let version = match Version::from_bytes(v) {
        Ok(v) => v,
        Err(e) => return Err(e),
    };
    let granule = match Granule::from_bytes(g) {
        Ok(g) => g,
        Err(e) => return Err(e),
    };
    let va_bits = match parse_bits(bits) {
        Some(v) => v,
        None => return Err("VA bits must be a number such as 39, 48 or 52"),
    };
    flavour(version, granule, va_bits)
}

/// A decimal number of at most two digits.
const fn parse_bits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 2 {
        return None;
    }
    let mut v = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    Some(v)
}

impl fmt::Display for Layout {
    /// The flavour's name, such as `4.10-4K-48`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.version.name(), self.granule.name(), self.va_bits)
    }
}

const SZ_64K: u64 = 1 << 16;
const SZ_2M: u64 = 1 << 21;
const SZ_8M: u64 = 1 << 23;
const SZ_16M: u64 = 1 << 24;
const SZ_128M: u64 = 1 << 27;
const SZ_1G: u64 = 1 << 30;
const SZ_2G: u64 = 1 << 31;

/// `-(1 << bits)` as an address: the first address of a `bits`-wide TTBR1 half.
const fn neg_pow2(bits: u32) -> u64 {
    u64::MAX << bits
}

/// Identity and table geometry.
impl Layout {
    /// The Linux version.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// The translation granule.
    pub const fn granule(&self) -> Granule {
        self.granule
    }

    /// `VA_BITS`: the largest VA size the flavour can use.
    pub const fn va_bits(&self) -> u32 {
        self.va_bits
    }

    /// `VA_BITS_MIN`: the VA size every CPU running the image must handle.
    /// It differs from `VA_BITS` only with 52-bit VAs (48; 47 with 16 KiB pages).
    pub const fn va_bits_min(&self) -> u32 {
        if self.va_bits > 48 {
            match self.granule {
                Granule::K16 => 47,
                _ => 48,
            }
        } else {
            self.va_bits
        }
    }

    /// True if the VA size is decided at boot (52-bit VAs).
    pub const fn has_vabits_actual(&self) -> bool {
        self.va_bits != self.va_bits_min()
    }

    /// `vabits_actual`: the VA size in use on a CPU that has (or lacks)
    /// FEAT_LVA (ID_AA64MMFR2_EL1.VARange = 1).
    pub const fn vabits_actual(&self, cpu_has_lva: bool) -> u32 {
        if self.has_vabits_actual() && !cpu_has_lva {
            self.va_bits_min()
        } else {
            self.va_bits
        }
    }

    /// True if `vabits_actual` is a VA size this flavour can run with.
    pub const fn valid_vabits_actual(&self, vabits_actual: u32) -> bool {
        vabits_actual == self.va_bits || vabits_actual == self.va_bits_min()
    }

    const fn check_vabits(&self, vabits_actual: u32) {
        assert!(self.valid_vabits_actual(vabits_actual), "vabits_actual is neither VA_BITS nor VA_BITS_MIN");
    }

    /// `PAGE_SHIFT`.
    pub const fn page_shift(&self) -> u32 {
        self.granule.shift()
    }

    /// `PAGE_SIZE`.
    pub const fn page_size(&self) -> u64 {
        self.granule.size()
    }

    /// Index bits resolved by one table level (`PAGE_SHIFT - 3`).
    pub const fn bits_per_level(&self) -> u32 {
        self.page_shift() - 3
    }

    /// `CONFIG_PGTABLE_LEVELS`: `ceil((VA_BITS - PAGE_SHIFT) / (PAGE_SHIFT - 3))`.
    pub const fn levels(&self) -> u32 {
        (self.va_bits - 4) / self.bits_per_level()
    }

    /// The architectural level of the root table (0 for four levels, 1 for
    /// three, 2 for two). Levels count up to 3, the page level.
    pub const fn root_level(&self) -> u32 {
        4 - self.levels()
    }

    /// Lowest VA bit indexing a table at `level`; its entries each cover
    /// `1 << level_shift(level)` bytes.
    pub const fn level_shift(&self, level: u32) -> u32 {
        self.page_shift() + self.bits_per_level() * (3 - level)
    }

    /// Size covered by one entry at `level`.
    pub const fn level_size(&self, level: u32) -> u64 {
        1 << self.level_shift(level)
    }

    /// Entries in a table at `level`: fewer at the root when `VA_BITS` does not
    /// fill it (`PTRS_PER_PGD`).
    pub const fn entries(&self, level: u32) -> u64 {
        if level == self.root_level() {
            1 << (self.va_bits - self.level_shift(level))
        } else {
            1 << self.bits_per_level()
        }
    }

    /// Index of `va` in the table at `level`. For the root this uses
    /// `VA_BITS`, so with 52-bit VAs on a 48-bit CPU the kernel half's indices
    /// are the top 64 of the root table (see [`Layout::ttbr1_offset`]).
    pub const fn table_index(&self, va: u64, level: u32) -> usize {
        ((va >> self.level_shift(level)) & (self.entries(level) - 1)) as usize
    }

    /// True if a block descriptor may map a whole entry at `level` (levels
    /// below 3; level 3 always maps pages). Level-2 blocks exist with every
    /// granule; level-1 blocks only with 4 KiB pages (without FEAT_LPA2).
    pub const fn block_allowed(&self, level: u32) -> bool {
        match level {
            2 => true,
            1 => matches!(self.granule, Granule::K4),
            _ => false,
        }
    }

    /// `PMD_SIZE`: one level-2 entry (2 MiB, 32 MiB or 512 MiB).
    pub const fn pmd_size(&self) -> u64 {
        self.level_size(2)
    }

    /// One level-1 entry (1 GiB, 64 GiB or 4 TiB), whether or not level 1 exists.
    pub const fn pud_size(&self) -> u64 {
        self.level_size(1)
    }

    /// `PGDIR_SIZE`: one entry of the root table.
    pub const fn pgdir_size(&self) -> u64 {
        self.level_size(self.root_level())
    }

    /// Linux's `PUD_SIZE`, which folds into `PGDIR_SIZE` when there are fewer
    /// than four levels (and so is 512 MiB with 64 KiB pages and 42-bit VAs).
    pub const fn linux_pud_size(&self) -> u64 {
        if self.levels() > 3 {
            self.pud_size()
        } else {
            self.pgdir_size()
        }
    }

    /// `CONT_PTES`: pages in a contiguous-hint run (16, 128 or 32).
    pub const fn cont_ptes(&self) -> u64 {
        match self.granule {
            Granule::K4 => 16,
            Granule::K16 => 128,
            Granule::K64 => 32,
        }
    }

    /// `CONT_PMDS`: level-2 blocks in a contiguous-hint run (16, 32 or 32).
    pub const fn cont_pmds(&self) -> u64 {
        match self.granule {
            Granule::K4 => 16,
            Granule::K16 | Granule::K64 => 32,
        }
    }

    /// Entries in a contiguous run at `level`; 1 where Linux never sets the
    /// contiguous bit (levels 0 and 1).
    pub const fn cont_entries(&self, level: u32) -> u64 {
        match level {
            3 => self.cont_ptes(),
            2 => self.cont_pmds(),
            _ => 1,
        }
    }

    /// `CONT_PTE_SIZE` (64 KiB, 2 MiB or 2 MiB).
    pub const fn cont_pte_size(&self) -> u64 {
        self.cont_ptes() * self.page_size()
    }

    /// `CONT_PMD_SIZE` (32 MiB, 1 GiB or 16 GiB).
    pub const fn cont_pmd_size(&self) -> u64 {
        self.cont_pmds() * self.pmd_size()
    }

    /// `SWAPPER_BLOCK_SIZE`: what the early image mapping uses. Physical and
    /// virtual image addresses agree only modulo 2 MiB, so level-2 blocks
    /// serve with 4 KiB pages and pages with the larger granules.
    pub const fn swapper_block_size(&self) -> u64 {
        if self.pmd_size() <= SZ_2M {
            self.pmd_size()
        } else {
            self.page_size()
        }
    }

    /// `ARM64_MEMSTART_ALIGN`: `memstart_addr` is RAM's base rounded down to
    /// this. The block the linear map is best built from (a level-1 block with
    /// 4 KiB pages, a run of 32 level-2 blocks with 16 KiB, a level-2 block
    /// with 64 KiB), but at least a sparsemem section (1 GiB on 4.10; 128 MiB,
    /// or 512 MiB with 64 KiB pages, on 6.12).
    pub const fn memstart_align(&self) -> u64 {
        let shift = match self.granule {
            Granule::K4 => self.linux_pud_size().trailing_zeros(),
            Granule::K16 => self.cont_pmd_size().trailing_zeros(),
            Granule::K64 => self.level_shift(2),
        };
        let section = match (self.version, self.granule) {
            (Version::V4_10, _) => 30,
            (Version::V6_12, Granule::K64) => 29,
            (Version::V6_12, _) => 27,
        };
        1 << if shift > section { shift } else { section }
    }

    /// TCR_EL1.T0SZ / T1SZ: `64 - vabits_actual`.
    pub const fn tcr_txsz(&self, vabits_actual: u32) -> u64 {
        self.check_vabits(vabits_actual);
        64 - vabits_actual as u64
    }

    /// TG0 and TG1 in place (bits 15:14 and 31:30).
    pub const fn tcr_granule_bits(&self) -> u64 {
        (self.granule.tg0() << 14) | (self.granule.tg1() << 30)
    }

    /// What to add to the root table's address in TTBR1_EL1. With 52-bit VAs
    /// on a 48-bit CPU the walk starts in a 64-entry table; pointing TTBR1 at
    /// the last 64 entries of the 1024-entry root lets one table serve both
    /// (Linux's `TTBR1_BADDR_4852_OFFSET`). Zero otherwise.
    pub const fn ttbr1_offset(&self, vabits_actual: u32) -> u64 {
        self.check_vabits(vabits_actual);
        if vabits_actual == self.va_bits {
            0
        } else {
            let root = self.level_shift(self.root_level());
            ((1 << (self.va_bits - root)) - (1 << (vabits_actual - root))) * 8
        }
    }
}

/// The regions of the kernel's address space.
impl Layout {
    /// First address of the TTBR1 half for `VA_BITS` (4.10's `VA_START`).
    pub const fn va_start(&self) -> u64 {
        neg_pow2(self.va_bits)
    }

    /// `PAGE_OFFSET`: the virtual address of `PHYS_OFFSET`, start of the linear map.
    pub const fn page_offset(&self) -> u64 {
        match self.version {
            Version::V4_10 => neg_pow2(self.va_bits - 1),
            Version::V6_12 => neg_pow2(self.va_bits),
        }
    }

    /// `PAGE_END`: the end (exclusive) of the linear range. 0 stands for 2^64
    /// in 4.10, where the linear map runs to the top of the address space.
    pub const fn page_end(&self) -> u64 {
        match self.version {
            Version::V4_10 => 0,
            Version::V6_12 => neg_pow2(self.va_bits_min() - 1),
        }
    }

    /// Where the linear map starts on a CPU using `vabits_actual` bits:
    /// `PAGE_OFFSET`, except with 52-bit VAs on a 48-bit CPU, where it is
    /// `-(1 << 48)` (`_PAGE_OFFSET(vabits_actual)`).
    pub const fn linear_start(&self, vabits_actual: u32) -> u64 {
        self.check_vabits(vabits_actual);
        match self.version {
            Version::V4_10 => self.page_offset(),
            Version::V6_12 => neg_pow2(vabits_actual),
        }
    }

    /// The size of the linear map's usable range: `PAGE_END -
    /// _PAGE_OFFSET(vabits_actual)` (`linear_region_size` in `arm64_memblock_init`).
    pub const fn linear_region_size(&self, vabits_actual: u32) -> u64 {
        self.page_end().wrapping_sub(self.linear_start(vabits_actual))
    }

    /// How much `arm64_memblock_init` lowers `memstart_addr` so that RAM
    /// lands at [`Layout::linear_start`] while `__va` keeps adding the fixed
    /// `PAGE_OFFSET`: `_PAGE_OFFSET(vabits_actual) - _PAGE_OFFSET(52)` with
    /// 52-bit VAs on a 48-bit CPU, else 0.
    pub const fn memstart_offset(&self, vabits_actual: u32) -> u64 {
        self.linear_start(vabits_actual).wrapping_sub(self.page_offset())
    }

    /// `memstart_addr` for RAM starting at `dram_start`: rounded down to
    /// `ARM64_MEMSTART_ALIGN`, then lowered by [`Layout::memstart_offset`]
    /// (so it may wrap below zero, as Linux's signed `memstart_addr` does).
    /// Linux's linear-map randomization is not part of it.
    pub const fn memstart_addr(&self, dram_start: u64, vabits_actual: u32) -> u64 {
        let base = dram_start & !(self.memstart_align() - 1);
        base.wrapping_sub(self.memstart_offset(vabits_actual))
    }

    /// `MODULES_VADDR`: `VA_START` in 4.10, `PAGE_END` in 6.12.
    pub const fn modules_vaddr(&self) -> u64 {
        match self.version {
            Version::V4_10 => self.va_start(),
            Version::V6_12 => self.page_end(),
        }
    }

    /// `MODULES_VSIZE`: 128 MiB in 4.10, 2 GiB in 6.12.
    pub const fn modules_vsize(&self) -> u64 {
        match self.version {
            Version::V4_10 => SZ_128M,
            Version::V6_12 => SZ_2G,
        }
    }

    /// `MODULES_END`.
    pub const fn modules_end(&self) -> u64 {
        self.modules_vaddr() + self.modules_vsize()
    }

    /// `KIMAGE_VADDR`: the image is linked right above the modules.
    pub const fn kimage_vaddr(&self) -> u64 {
        self.modules_end()
    }

    /// `sizeof(struct page)` in the model.
    pub const fn struct_page_size(&self) -> u64 {
        64
    }

    /// `VMEMMAP_SIZE`: a `struct page` for every page of the linear range
    /// (`1 << (VA_BITS - PAGE_SHIFT - 1 + 6)` in 4.10; for `[PAGE_OFFSET,
    /// PAGE_END)` in 6.12, so sized for 52 bits with 52-bit VAs).
    pub const fn vmemmap_size(&self) -> u64 {
        match self.version {
            Version::V4_10 => 1 << (self.va_bits - self.page_shift() - 1 + 6),
            Version::V6_12 => {
                (self.page_end().wrapping_sub(self.page_offset()) >> self.page_shift()) * self.struct_page_size()
            }
        }
    }

    /// `VMEMMAP_END`: `PAGE_OFFSET` in 4.10, 1 GiB below the top in 6.12.
    pub const fn vmemmap_end(&self) -> u64 {
        match self.version {
            Version::V4_10 => self.page_offset(),
            Version::V6_12 => SZ_1G.wrapping_neg(),
        }
    }

    /// `VMEMMAP_START`.
    pub const fn vmemmap_start(&self) -> u64 {
        self.vmemmap_end() - self.vmemmap_size()
    }

    /// The part of vmemmap in use: `virt_to_page(linear_start)`. Above
    /// `VMEMMAP_START` with 52-bit VAs on a 48-bit CPU, else equal to it.
    pub const fn vmemmap_start_in_use(&self, vabits_actual: u32) -> u64 {
        let unused_pages = self.memstart_offset(vabits_actual) >> self.page_shift();
        self.vmemmap_start() + unused_pages * self.struct_page_size()
    }

    /// `VMALLOC_START`: right above the modules; the image sits at its start.
    pub const fn vmalloc_start(&self) -> u64 {
        self.modules_end()
    }

    /// `VMALLOC_END`. 4.10: `PAGE_OFFSET - PUD_SIZE - VMEMMAP_SIZE - 64 KiB`
    /// (Linux's folded `PUD_SIZE`). 6.12: 8 MiB below the vmemmap in use, so it
    /// moves up with 52-bit VAs on a 48-bit CPU.
    pub const fn vmalloc_end(&self, vabits_actual: u32) -> u64 {
        match self.version {
            Version::V4_10 => self.page_offset() - self.linux_pud_size() - self.vmemmap_size() - SZ_64K,
            Version::V6_12 => self.vmemmap_start_in_use(vabits_actual) - SZ_8M,
        }
    }

    /// `PCI_IO_SIZE`.
    pub const fn pci_io_size(&self) -> u64 {
        SZ_16M
    }

    /// `PCI_IO_START`: 16 MiB and 2 MiB below vmemmap (4.10), 8 MiB above it (6.12).
    pub const fn pci_io_start(&self) -> u64 {
        match self.version {
            Version::V4_10 => self.pci_io_end() - self.pci_io_size(),
            Version::V6_12 => self.vmemmap_end() + SZ_8M,
        }
    }

    /// `PCI_IO_END`.
    pub const fn pci_io_end(&self) -> u64 {
        match self.version {
            Version::V4_10 => self.vmemmap_start() - SZ_2M,
            Version::V6_12 => self.pci_io_start() + self.pci_io_size(),
        }
    }

    /// `FIXADDR_TOP`: 2 MiB below PCI I/O (4.10), 8 MiB below the top (6.12).
    pub const fn fixaddr_top(&self) -> u64 {
        match self.version {
            Version::V4_10 => self.pci_io_start() - SZ_2M,
            Version::V6_12 => SZ_8M.wrapping_neg(),
        }
    }

    /// Size of the window of page-sized fixmap slots right under `FIXADDR_TOP`.
    pub const fn fix_slots_size(&self) -> u64 {
        SZ_2M
    }

    /// Size of the device tree window under the slots: a 2 MiB device tree at
    /// any 8-byte alignment fits two 2 MiB blocks, or `2 MiB + PAGE_SIZE` of pages.
    pub const fn fix_fdt_size(&self) -> u64 {
        2 * SZ_2M
    }

    /// True if the device tree window is mapped with level-2 blocks (4 KiB
    /// pages); with 16 and 64 KiB pages a level-2 block is far larger than
    /// the window, so it is mapped with pages from the slots' level-3 table.
    pub const fn fdt_block_mapped(&self) -> bool {
        self.pmd_size() == SZ_2M
    }

    /// The fixmap's size: the device tree window and the slots.
    pub const fn fixaddr_size(&self) -> u64 {
        self.fix_fdt_size() + self.fix_slots_size()
    }

    /// `FIXADDR_START`.
    pub const fn fixaddr_start(&self) -> u64 {
        self.fixaddr_top() - self.fixaddr_size()
    }

    /// Base of the device tree window (the bottom of the fixmap).
    pub const fn fix_fdt_base(&self) -> u64 {
        self.fixaddr_start()
    }

    /// Base of the slot window (the top 2 MiB of the fixmap).
    pub const fn fix_slots_base(&self) -> u64 {
        self.fixaddr_top() - self.fix_slots_size()
    }
}

/// The translation rules of the flavour's version, given the run-time values
/// `PHYS_OFFSET` (`memstart_addr`) and `kimage_voffset`.
impl Layout {
    /// The version's own `__is_lm_address`. 4.10 tests the single bit
    /// `VA_BITS - 1`, which is also set in the top half of user space and in
    /// non-canonical addresses; 6.12 checks `(va - PAGE_OFFSET) < (PAGE_END -
    /// PAGE_OFFSET)`.
    #[doc(alias = "__is_lm_address")]
    pub const fn lm_test(&self, va: u64) -> bool {
        match self.version {
            Version::V4_10 => va & (1 << (self.va_bits - 1)) != 0,
            Version::V6_12 => self.in_linear_range(va),
        }
    }

    /// True if `va` is in `[PAGE_OFFSET, PAGE_END)`, as one unsigned
    /// comparison. The same as [`Layout::lm_test`] on 6.12; on 4.10 it is the
    /// exact check the bit test stands in for.
    pub const fn in_linear_range(&self, va: u64) -> bool {
        va.wrapping_sub(self.page_offset()) < self.page_end().wrapping_sub(self.page_offset())
    }

    /// `__lm_to_phys`: 4.10 clears the `PAGE_OFFSET` bits, 6.12 subtracts
    /// `PAGE_OFFSET`; they agree for every linear address.
    #[doc(alias = "__lm_to_phys")]
    pub const fn lm_to_phys(&self, va: u64, phys_offset: u64) -> u64 {
        match self.version {
            Version::V4_10 => (va & !self.page_offset()).wrapping_add(phys_offset),
            Version::V6_12 => va.wrapping_sub(self.page_offset()).wrapping_add(phys_offset),
        }
    }

    /// `__phys_to_virt` (`__va`): `(pa - PHYS_OFFSET) | PAGE_OFFSET` in both versions.
    #[doc(alias = "__phys_to_virt")]
    pub const fn phys_to_virt(&self, pa: u64, phys_offset: u64) -> u64 {
        pa.wrapping_sub(phys_offset) | self.page_offset()
    }

    /// `__virt_to_phys_nodebug` (`__pa` without checks): the linear rule where
    /// the version's [`Layout::lm_test`] says linear, else the image rule.
    pub const fn virt_to_phys(&self, va: u64, phys_offset: u64, kimage_voffset: u64) -> u64 {
        if self.lm_test(va) {
            self.lm_to_phys(va, phys_offset)
        } else {
            va.wrapping_sub(kimage_voffset)
        }
    }

    /// True if `va` is canonical with `vabits_actual` bits: the bits above
    /// are all zero (TTBR0) or all one (TTBR1).
    pub const fn is_canonical(&self, va: u64, vabits_actual: u32) -> bool {
        self.check_vabits(vabits_actual);
        let top = va >> vabits_actual;
        top == 0 || top == u64::MAX >> vabits_actual
    }
}

/// The checks every flavour must pass, for one `vabits_actual`.
const fn check(l: &Layout, va: u32) {
    let g = l.page_size();
    // Geometry: two to four levels, a root with 2 to 1024*8 entries.
    assert!(l.levels() >= 2 && l.levels() <= 4);
    assert!(l.root_level() + l.levels() == 4);
    assert!(l.level_shift(l.root_level()) < l.va_bits);
    assert!(l.level_shift(l.root_level()) + l.bits_per_level() >= l.va_bits);
    assert!(l.entries(l.root_level()) >= 2 && l.entries(l.root_level()) <= 1 << l.bits_per_level());
    assert!(l.tcr_txsz(va) >= 12 && l.tcr_txsz(va) <= 25);
    // The TTBR1 offset keeps TTBR's 64-byte alignment.
    assert!(l.ttbr1_offset(va).is_multiple_of(64));

    // The linear range and what surrounds it.
    let po = l.page_offset();
    let pe = l.page_end();
    assert!(po == l.va_start() || po == l.va_start() + (1 << (l.va_bits - 1)));
    assert!(l.linear_start(va) >= po);
    assert!(l.in_linear_range(l.linear_start(va)) && l.in_linear_range(pe.wrapping_sub(1)));
    assert!(!l.in_linear_range(po.wrapping_sub(1)) && !l.in_linear_range(pe));
    // Room for the 64 GiB test machine above a 1 GiB-aligned RAM base.
    assert!(l.linear_region_size(va) >= 128 << 30);
    // vmemmap has a struct page for every page of the linear range in use.
    assert!(l.vmemmap_end() - l.vmemmap_start_in_use(va) >= (l.linear_region_size(va) / g) * l.struct_page_size());

    // The regions are in address order and do not overlap.
    match l.version {
        Version::V4_10 => {
            assert!(l.modules_vaddr() == l.va_start());
            assert!(l.modules_end() <= l.vmalloc_start());
            assert!(l.vmalloc_start() < l.vmalloc_end(va));
            assert!(l.vmalloc_end(va) <= l.fixaddr_start());
            assert!(l.fixaddr_top() <= l.pci_io_start());
            assert!(l.pci_io_end() <= l.vmemmap_start());
            assert!(l.vmemmap_end() == po);
            assert!(l.lm_test(po) && !l.lm_test(po - 1) && l.lm_test(u64::MAX));
        }
        Version::V6_12 => {
            assert!(l.va_start() == po);
            assert!(pe <= l.modules_vaddr());
            assert!(l.modules_end() <= l.vmalloc_start());
            assert!(l.vmalloc_start() < l.vmalloc_end(va));
            assert!(l.vmalloc_end(va) < l.vmemmap_start_in_use(va));
            assert!(l.vmemmap_end() <= l.pci_io_start());
            assert!(l.pci_io_end() <= l.fixaddr_start());
            assert!(l.fixaddr_top() > l.fixaddr_start());
            assert!(l.lm_test(po) && !l.lm_test(pe) && !l.lm_test(u64::MAX));
        }
    }
    // Alignment: the image may be placed at any 2 MiB boundary; regions start on pages.
    assert!(l.kimage_vaddr().is_multiple_of(SZ_2M));
    assert!(l.vmalloc_end(va).is_multiple_of(g) && l.vmemmap_start().is_multiple_of(g));
    assert!(l.pci_io_start().is_multiple_of(g) && l.fixaddr_start().is_multiple_of(g));
    assert!(l.memstart_align() >= l.swapper_block_size() && l.memstart_align().is_power_of_two());
    // The fixmap: its windows are 2 MiB-aligned and all of it hangs off one
    // level-2 table (so one static table set serves it); mapped with pages,
    // all of it also lies in one level-3 table.
    assert!(l.fix_fdt_base().is_multiple_of(SZ_2M) && l.fix_slots_base().is_multiple_of(SZ_2M));
    assert!(l.fixaddr_start() >> l.level_shift(1) == (l.fixaddr_top() - 1) >> l.level_shift(1));
    if !l.fdt_block_mapped() {
        assert!(l.fixaddr_start() >> l.level_shift(2) == (l.fixaddr_top() - 1) >> l.level_shift(2));
        assert!(l.fix_fdt_size() >= (2 << 20) + g);
    }

    // __va and __pa undo each other at both ends of the linear map in use.
    let dram = 0x4000_0000;
    let memstart = l.memstart_addr(dram, va);
    assert!(l.phys_to_virt(dram, memstart) == l.linear_start(va));
    let last = dram + l.linear_region_size(va) - 1;
    assert!(l.phys_to_virt(last, memstart) == pe.wrapping_sub(1));
    assert!(l.lm_to_phys(l.phys_to_virt(last, memstart), memstart) == last);
    assert!(l.virt_to_phys(l.linear_start(va), memstart, 0) == dram);
}

const _: () = {
    let mut i = 0;
    while i < FLAVOURS.len() {
        let l = &FLAVOURS[i];
        check(l, l.va_bits());
        if l.has_vabits_actual() {
            check(l, l.va_bits_min());
        }
        // The list holds exactly what `flavour` accepts, and names parse back.
        assert!(flavour(l.version, l.granule, l.va_bits).is_ok());
        i += 1;
    }
};
