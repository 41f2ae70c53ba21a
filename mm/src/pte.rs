//! VMSAv8-64 stage-1 descriptors for the 4 KiB granule, and the memory types.
//!
//! The kernel builds every table entry through this module; the boot stub
//! receives the MAIR value and the idmap block attributes from here as `const`
//! operands, so the encodings exist once.

/// Descriptor is valid.
pub const VALID: u64 = 1;
/// At levels 0..=2: the entry points to a table; at level 3: a page.
pub const TABLE_OR_PAGE: u64 = 1 << 1;
/// AP[1]: EL0 may access.
pub const AP_USER: u64 = 1 << 6;
/// AP[2]: read-only.
pub const AP_RDONLY: u64 = 1 << 7;
/// Inner shareable.
pub const SH_INNER: u64 = 3 << 8;
/// Access flag: set, so no access-flag fault is taken.
pub const AF: u64 = 1 << 10;
/// Not global.
pub const NG: u64 = 1 << 11;
/// Dirty bit modifier: with hardware dirty-state management, a write sets
/// AP[2] to writable (Linux's `PTE_WRITE`). The kernel never sets it.
pub const DBM: u64 = 1 << 51;
/// Contiguous hint: one of 16 aligned entries mapping a contiguous range alike.
pub const CONT: u64 = 1 << 52;
/// Privileged execute-never.
pub const PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
pub const UXN: u64 = 1 << 54;
/// Bits 55..=58 of a block or page descriptor: ignored by the hardware,
/// left to software (Linux keeps its dirty and special flags there).
pub const SW_MASK: u64 = 0xf << 55;
/// Output address bits [47:12].
pub const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;
/// Bits of a block or page descriptor that are attributes (everything but the address).
pub const ATTR_MASK: u64 = !ADDR_MASK;

/// Memory types, as indexes into MAIR_EL1 (the same numbering as arm64 Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MemType {
    /// Device-nGnRnE.
    DeviceNgnrne = 0,
    /// Device-nGnRE: what ioremap gives.
    DeviceNgnre = 1,
    /// Device-GRE.
    DeviceGre = 2,
    /// Normal, non-cacheable.
    NormalNc = 3,
    /// Normal, write-back cacheable.
    Normal = 4,
    /// Normal, write-through.
    NormalWt = 5,
}

impl MemType {
    /// Decode the AttrIndx field.
    pub const fn from_index(i: u64) -> Option<MemType> {
        Some(match i {
            0 => MemType::DeviceNgnrne,
            1 => MemType::DeviceNgnre,
            2 => MemType::DeviceGre,
            3 => MemType::NormalNc,
            4 => MemType::Normal,
            5 => MemType::NormalWt,
            _ => return None,
        })
    }

    /// Name in the page-table dump, as Linux's ptdump prints it.
    pub const fn name(self) -> &'static str {
        match self {
            MemType::DeviceNgnrne => "DEVICE/nGnRnE",
            MemType::DeviceNgnre => "DEVICE/nGnRE",
            MemType::DeviceGre => "DEVICE/GRE",
            MemType::NormalNc => "MEM/NORMAL-NC",
            MemType::Normal => "MEM/NORMAL",
            MemType::NormalWt => "MEM/NORMAL-WT",
        }
    }

    /// The AttrIndx field for this type.
    pub const fn attr(self) -> u64 {
        (self as u64) << 2
    }
}

/// MAIR_EL1: the attribute byte of each [`MemType`] at its index (byte `i`
/// of the register is attribute `i`).
pub const MAIR_VALUE: u64 = u64::from_le_bytes([
    0x00, // 0: Device-nGnRnE
    0x04, // 1: Device-nGnRE
    0x0c, // 2: Device-GRE
    0x44, // 3: Normal, inner/outer non-cacheable
    0xff, // 4: Normal, inner/outer write-back, read/write-allocate
    0xbb, // 5: Normal, inner/outer write-through
    0x00, // 6, 7: unused
    0x00,
]);

/// What a mapping allows, independent of its level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prot {
    /// Writable at EL1.
    pub write: bool,
    /// Executable at EL1.
    pub exec: bool,
    /// Memory type.
    pub mem: MemType,
}

impl Prot {
    /// Kernel text: read-only, executable.
    pub const KERNEL_ROX: Prot = Prot { write: false, exec: true, mem: MemType::Normal };
    /// Kernel read-only data, never executable.
    pub const KERNEL_RO: Prot = Prot { write: false, exec: false, mem: MemType::Normal };
    /// Kernel data: read-write, never executable.
    pub const KERNEL_RW: Prot = Prot { write: true, exec: false, mem: MemType::Normal };
    /// Device MMIO: read-write, never executable, Device-nGnRE.
    pub const DEVICE: Prot = Prot { write: true, exec: false, mem: MemType::DeviceNgnre };

    /// The attribute bits of a block or page descriptor with these permissions.
    /// Kernel mappings are never user-accessible and never user-executable.
    pub const fn attrs(self) -> u64 {
        let mut a = VALID | AF | UXN | self.mem.attr();
        if matches!(self.mem, MemType::Normal | MemType::NormalNc | MemType::NormalWt) {
            a |= SH_INNER;
        }
        if !self.write {
            a |= AP_RDONLY;
        }
        if !self.exec {
            a |= PXN;
        }
        a
    }

    /// Decode the permissions of a block or page descriptor.
    pub const fn from_desc(d: u64) -> Option<Prot> {
        match MemType::from_index((d >> 2) & 7) {
            Some(mem) => Some(Prot { write: d & AP_RDONLY == 0, exec: d & PXN == 0, mem }),
            None => None,
        }
    }
}

/// Descriptor of a next-level table at `pa`.
pub const fn table_desc(pa: u64) -> u64 {
    (pa & ADDR_MASK) | TABLE_OR_PAGE | VALID
}

/// Block (levels 1, 2) or page (level 3) descriptor for `pa` with `prot`.
pub const fn leaf_desc(pa: u64, level: u32, prot: Prot) -> u64 {
    let kind = if level == 3 { TABLE_OR_PAGE } else { 0 };
    (pa & ADDR_MASK) | prot.attrs() | kind
}

/// What a descriptor at a given level is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not valid: translation fault.
    Invalid,
    /// Points to a next-level table.
    Table,
    /// Maps a block (level 2, and level 1 with 4 KiB pages).
    Block,
    /// Maps a page (level 3).
    Page,
    /// Reserved encoding (a level-3 entry with bit 1 clear, or a block where
    /// the granule allows none: level 0, and level 1 with 16 or 64 KiB pages).
    Reserved,
}

/// Decode the kind of descriptor `d` found at `level`.
pub const fn kind(d: u64, level: u32) -> Kind {
    if d & VALID == 0 {
        Kind::Invalid
    } else if d & TABLE_OR_PAGE != 0 {
        if level == 3 {
            Kind::Page
        } else {
            Kind::Table
        }
    } else if crate::layout::ACTIVE.block_allowed(level) {
        Kind::Block
    } else {
        Kind::Reserved
    }
}

/// The root table's physical address in a TTBR value. With 52-bit VAs on a
/// CPU without FEAT_LVA, TTBR1 points into its root table (at
/// `Layout::ttbr1_offset`), so the page offset is dropped too.
pub const fn ttbr_root(ttbr: u64) -> u64 {
    ttbr & ADDR_MASK & !(crate::layout::PAGE_SIZE - 1)
}

/// Output (or next-table) address of a descriptor.
pub const fn desc_addr(d: u64) -> u64 {
    d & ADDR_MASK
}
