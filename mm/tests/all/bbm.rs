//! Passing means: `bbm::check` accepts every write from or to an invalid descriptor and every in-place change of only PXN, AP[2], DBM, the software bits or global-to-not-global, and refuses each other change of a live valid descriptor with the right reason (output address, descriptor type, contiguous bit flipped, live contiguous run changed, other attributes with exactly the offending bits), for every single-bit change of real descriptors at every level.

use vakern_mm::bbm::{check, Reason, Violation, MAY_CHANGE};
use vakern_mm::layout::level_size;
use vakern_mm::pte::{self, MemType, Prot};

const RW: Prot = Prot::KERNEL_RW;

/// A leaf at `level` mapping `pa`.
fn leaf(pa: u64, level: u32, prot: Prot) -> u64 {
    pte::leaf_desc(pa, level, prot)
}

#[test]
fn to_and_from_invalid_is_always_safe() {
    for level in 0..4 {
        for d in [leaf(0x4000_0000, level, RW), pte::table_desc(0x4000_0000), leaf(0, level, RW) | pte::CONT, u64::MAX]
        {
            assert_eq!(check(0, d, level), Ok(()), "{:#x} at level {}", d, level);
            assert_eq!(check(d, 0, level), Ok(()), "{:#x} at level {}", d, level);
            // Invalid means bit 0 clear, whatever else the entry holds.
            assert_eq!(check(d & !pte::VALID, d ^ pte::ADDR_MASK, level), Ok(()));
            assert_eq!(check(d ^ pte::ADDR_MASK, d & !pte::VALID, level), Ok(()));
            // Writing exactly what is there changes nothing, hint or not.
            assert_eq!(check(d, d, level), Ok(()));
        }
    }
}

#[test]
fn each_kind_of_violation_is_caught() {
    let page = leaf(0x4001_0000, 3, RW);
    let block = leaf(0x4020_0000, 2, RW);
    let table = pte::table_desc(0x4500_0000);
    let cases: &[(u64, u64, u32, Reason)] = &[
        // A live page pointed at another frame.
        (page, leaf(0x4002_0000, 3, RW), 3, Reason::OutputAddressChanged),
        // A live block moved.
        (block, leaf(0x4040_0000, 2, RW), 2, Reason::OutputAddressChanged),
        // A table descriptor pointed at another table.
        (table, pte::table_desc(0x4600_0000), 1, Reason::OutputAddressChanged),
        // A 2 MiB block replaced by a table of pages for the same memory, and back.
        (block, pte::table_desc(0x4020_0000), 2, Reason::BlockSizeChanged),
        (pte::table_desc(0x4020_0000), block, 2, Reason::BlockSizeChanged),
        // A level-3 page made a reserved encoding.
        (page, page & !pte::TABLE_OR_PAGE, 3, Reason::BlockSizeChanged),
        // The hint set or cleared on a live entry.
        (page, page | pte::CONT, 3, Reason::ContiguousFlipped),
        (block | pte::CONT, block, 2, Reason::ContiguousFlipped),
        // A permission change Linux allows elsewhere, inside a live run.
        (page | pte::CONT, leaf(0x4001_0000, 3, Prot::KERNEL_RO) | pte::CONT, 3, Reason::ContiguousRunChanged),
        // Memory type: AttrIndx 4 (Normal) to 1 (Device-nGnRE), which also
        // drops inner shareability, or to 3 (Normal non-cacheable).
        (page, leaf(0x4001_0000, 3, Prot::DEVICE), 3, Reason::AttributesChanged { mask: (4 ^ 1) << 2 | 0x3 << 8 }),
        (
            page,
            leaf(0x4001_0000, 3, Prot { mem: MemType::NormalNc, ..RW }),
            3,
            Reason::AttributesChanged { mask: (4 ^ 3) << 2 },
        ),
        // Not global to global.
        (page | pte::NG, page, 3, Reason::AttributesChanged { mask: pte::NG }),
        // UXN, AF and AP[1] are not among the bits that may change.
        (page, page & !pte::UXN, 3, Reason::AttributesChanged { mask: pte::UXN }),
        (page, page & !pte::AF, 3, Reason::AttributesChanged { mask: pte::AF }),
        (page, page | pte::AP_USER, 3, Reason::AttributesChanged { mask: pte::AP_USER }),
        // Several offending bits at once, next to an allowed one.
        (
            page,
            (page | pte::AP_USER | pte::PXN) & !pte::AF,
            3,
            Reason::AttributesChanged { mask: pte::AP_USER | pte::AF },
        ),
    ];
    for &(old, new, level, want) in cases {
        assert_eq!(check(old, new, level), Err(want), "{:#x} -> {:#x} at level {}", old, new, level);
    }
}

#[test]
fn permission_changes_linux_allows_are_safe() {
    let page = leaf(0x4001_0000, 3, RW);
    for new in [
        leaf(0x4001_0000, 3, Prot::KERNEL_RO),
        leaf(0x4001_0000, 3, Prot::KERNEL_ROX),
        leaf(0x4001_0000, 3, Prot { exec: true, ..RW }),
        page | pte::NG,
        page | pte::DBM,
        page | pte::SW_MASK,
        page ^ MAY_CHANGE,
    ] {
        assert_eq!(check(page, new, 3), Ok(()), "{:#x} -> {:#x}", page, new);
        if new & pte::NG == 0 {
            assert_eq!(check(new, page, 3), Ok(()), "{:#x} -> {:#x}", new, page);
        }
    }
    let block = leaf(0x4000_0000, 1, RW);
    assert_eq!(check(block, leaf(0x4000_0000, 1, Prot::KERNEL_RO), 1), Ok(()));
}

/// Every one-bit change of real descriptors at every level, against the
/// rule written out bit by bit.
#[test]
fn every_single_bit_change() {
    let prots = [Prot::KERNEL_RW, Prot::KERNEL_ROX, Prot::KERNEL_RO, Prot::DEVICE];
    let mut descs = Vec::new();
    for level in 0..4u32 {
        let pa = 0x8000_0000_0000 - level_size(level.max(1)) * 16;
        if level < 3 {
            descs.push((pte::table_desc(0x4500_0000), level));
        }
        for prot in prots {
            if level > 0 {
                descs.push((leaf(pa, level, prot), level));
                descs.push((leaf(pa, level, prot) | pte::NG, level));
            }
            if level >= 2 {
                descs.push((leaf(pa, level, prot) | pte::CONT, level));
            }
        }
    }
    for &(old, level) in &descs {
        // The bits by number, as the descriptor format gives them: 0 valid,
        // 1 type, 47..12 address, 52 contiguous, 11 nG; and the ones that
        // may change in place: 7 AP[2], 11 nG, 51 DBM, 53 PXN, 58..55 software.
        let (cont, ng) = (1u64 << 52, 1u64 << 11);
        for bit in 0..64u32 {
            let b = 1u64 << bit;
            let new = old ^ b;
            let want = match bit {
                0 => Ok(()),
                1 => Err(Reason::BlockSizeChanged),
                12..=47 => Err(Reason::OutputAddressChanged),
                52 => Err(Reason::ContiguousFlipped),
                _ if old & cont != 0 => Err(Reason::ContiguousRunChanged),
                11 if old & ng != 0 => Err(Reason::AttributesChanged { mask: ng }),
                7 | 11 | 51 | 53 | 55..=58 => Ok(()),
                _ => Err(Reason::AttributesChanged { mask: b }),
            };
            assert_eq!(check(old, new, level), want, "{:#x} -> {:#x} (bit {}) at level {}", old, new, bit, level);
        }
    }
}

#[test]
fn reasons_and_violations_print_what_happened() {
    let cases = [
        (Reason::OutputAddressChanged, "output address"),
        (Reason::BlockSizeChanged, "block size"),
        (Reason::ContiguousFlipped, "contiguous bit flipped"),
        (Reason::ContiguousRunChanged, "contiguous run"),
        (Reason::AttributesChanged { mask: pte::UXN }, "0x0040000000000000"),
    ];
    for (r, want) in cases {
        assert!(r.to_string().contains(want), "{:?} prints {:?}", r, r.to_string());
    }
    let v = Violation {
        va: 0xffff_8000_4020_0000,
        level: 2,
        old: 0x0060_0000_4020_0711,
        new: 0x0060_0000_4040_0711,
        reason: Reason::OutputAddressChanged,
        caller: core::panic::Location::caller(),
    };
    let s = v.to_string();
    for want in
        ["0xffff_8000_4020_0000", "level 2", "0x0060000040200711", "0x0060000040400711", "output address", file!()]
    {
        assert!(s.contains(want), "{:?} lacks {:?}", s, want);
    }
}
