//! Passing means: every descriptor field sits on the bits the VMSAv8-64 stage-1 format (4 KiB granule) gives it, the descriptor type decodes as the architecture says at each level, the MAIR value decodes byte by byte into exactly the memory type each `MemType` names, and the kernel's permissions encode to the architectural bits.

use vakern_mm::pte::{self, Kind, MemType, Prot};

/// The value with exactly the bits numbered in `bits` set.
fn bits(bits: impl IntoIterator<Item = u32>) -> u64 {
    bits.into_iter().map(|b| 1u64 << b).sum()
}

#[test]
fn descriptor_fields_are_on_the_architectures_bits() {
    let fields = [
        ("valid", pte::VALID, bits([0])),
        ("table or page", pte::TABLE_OR_PAGE, bits([1])),
        ("AP[1]", pte::AP_USER, bits([6])),
        ("AP[2]", pte::AP_RDONLY, bits([7])),
        ("SH inner", pte::SH_INNER, bits([8, 9])),
        ("AF", pte::AF, bits([10])),
        ("nG", pte::NG, bits([11])),
        ("DBM", pte::DBM, bits([51])),
        ("contiguous", pte::CONT, bits([52])),
        ("PXN", pte::PXN, bits([53])),
        ("UXN", pte::UXN, bits([54])),
        ("software", pte::SW_MASK, bits(55..=58)),
        ("output address", pte::ADDR_MASK, bits(12..=47)),
        ("attributes", pte::ATTR_MASK, bits((0..12).chain(48..64))),
    ];
    for (name, value, want) in fields {
        assert_eq!(value, want, "{} is {:#x}, the architecture puts it at {:#x}", name, value, want);
    }
    assert_eq!(pte::desc_addr(u64::MAX), bits(12..=47));
}

#[test]
fn descriptor_types_per_level() {
    // Bits 1:0 of a descriptor: 0b11 table (page at level 3), 0b01 block
    // at levels 1 and 2, reserved at levels 0 and 3; bit 0 clear: invalid.
    let want = |low: u64, level: u32| match (low, level) {
        (0 | 2, _) => Kind::Invalid,
        (3, 3) => Kind::Page,
        (3, _) => Kind::Table,
        (1, 1 | 2) => Kind::Block,
        _ => Kind::Reserved,
    };
    for level in 0..4 {
        for low in 0..4u64 {
            for rest in [0, 0x0000_7fff_ffff_f000, !3] {
                assert_eq!(pte::kind(rest | low, level), want(low, level), "{:#x} at level {}", rest | low, level);
            }
        }
    }
    let t = pte::table_desc(0x1234_5678_9000 | 0xfff);
    assert_eq!(t, 0x1234_5678_9000 | 0b11);
    assert_eq!(pte::leaf_desc(0x4020_0000, 2, Prot::KERNEL_RW) & 0b11, 0b01);
    assert_eq!(pte::leaf_desc(0x4020_1000, 3, Prot::KERNEL_RW) & 0b11, 0b11);
}

/// Decode one MAIR_EL1 attribute byte, as the architecture defines it, into
/// the name ptdump uses for it.
fn decode_mair(b: u8) -> &'static str {
    let (outer, inner) = (b >> 4, b & 0xf);
    if outer == 0 {
        // Device memory: 0b0000_dd00.
        assert_eq!(b & 0b11, 0, "device attribute {:#04x} with low bits set", b);
        return ["DEVICE/nGnRnE", "DEVICE/nGnRE", "DEVICE/nGRE", "DEVICE/GRE"][(b >> 2) as usize];
    }
    assert_eq!(outer, inner, "the kernel uses the same policy inside and outside: {:#04x}", b);
    match outer {
        0b0100 => "MEM/NORMAL-NC",
        // Write-back, non-transient, read- and write-allocate.
        0b1111 => "MEM/NORMAL",
        // Write-through, non-transient, read- and write-allocate.
        0b1011 => "MEM/NORMAL-WT",
        _ => panic!("normal attribute {:#04x} the kernel does not use", b),
    }
}

#[test]
fn mair_holds_each_memory_type_at_its_index() {
    for i in 0..8u64 {
        let byte = (pte::MAIR_VALUE >> (8 * i)) as u8;
        match MemType::from_index(i) {
            Some(t) => {
                assert_eq!(decode_mair(byte), t.name(), "attribute {}", i);
                assert_eq!(t.attr(), i << 2, "AttrIndx of {:?}", t);
            }
            None => assert_eq!(byte, 0, "unused attribute {} is not zero", i),
        }
    }
    assert!(MemType::from_index(6).is_none() && MemType::from_index(7).is_none());
}

#[test]
fn kernel_permissions_encode_to_the_architectures_bits() {
    // Valid, AF, UXN; AttrIndx; SH inner for normal memory; AP[2] when
    // read-only; PXN when not executable.
    let cases = [
        (Prot::KERNEL_RW, bits([0, 10, 54, 8, 9, 53]) | 4 << 2),
        (Prot::KERNEL_RO, bits([0, 10, 54, 8, 9, 53, 7]) | 4 << 2),
        (Prot::KERNEL_ROX, bits([0, 10, 54, 8, 9, 7]) | 4 << 2),
        (Prot::DEVICE, bits([0, 10, 54, 53]) | 1 << 2),
        (Prot { write: true, exec: true, mem: MemType::NormalWt }, bits([0, 10, 54, 8, 9]) | 5 << 2),
        (Prot { write: false, exec: false, mem: MemType::DeviceNgnrne }, bits([0, 10, 54, 53, 7])),
    ];
    for (prot, want) in cases {
        assert_eq!(prot.attrs(), want, "{:?}", prot);
        assert_eq!(Prot::from_desc(want | 0x4000_0000), Some(prot));
    }
    // An AttrIndx the kernel never programs decodes to nothing.
    assert_eq!(Prot::from_desc(bits([0, 10]) | 6 << 2), None);
    assert_eq!(Prot::from_desc(bits([0, 10]) | 7 << 2), None);
}

/// A pass means `ttbr_root` keeps only the root table's page address of a
/// TTBR value: not the ASID (bits 63:48), not the offset into the root that
/// 52-bit VAs on a 48-bit CPU add, not CnP (bit 0).
#[test]
fn ttbr_root_drops_asid_offset_and_cnp() {
    let root = 0x0000_8123_4567_9000u64;
    assert_eq!(pte::ttbr_root(root), root);
    for low in [0, 1, 0x40, 0x7c0, 0xfc1] {
        let ttbr = (0xbeefu64 << 48) | root | low;
        assert_eq!(pte::ttbr_root(ttbr), root, "{ttbr:#x}");
    }
    assert_eq!(pte::ttbr_root(u64::MAX), 0x0000_ffff_ffff_f000);
}
