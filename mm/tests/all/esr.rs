//! Passing means: real ESR_EL1 values decode to the exception class, fault status, level and ISS bits the Arm ARM gives them, the "Mem abort info" block is byte for byte the text arm64 Linux prints, and the fault headline picks Linux's wording for NULL dereferences, writes to read-only memory, execution of non-executable memory and paging requests.

use vakern_mm::esr::*;

/// Decode `esr` into the fields a test compares, in one line for readable failures.
fn fields(esr: u64) -> (u64, &'static str, u64, &'static str, Option<u32>, bool) {
    let e = Esr(esr);
    (e.ec(), e.ec_name(), e.fsc(), e.fsc_name(), e.fault_level(), e.wnr())
}

#[test]
fn data_abort_translation_faults() {
    // Loads through unmapped kernel addresses, missing at level 0, 1, 2, 3.
    assert_eq!(fields(0x9600_0004), (0x25, "DABT (current EL)", 0x04, "level 0 translation fault", Some(0), false));
    assert_eq!(fields(0x9600_0005), (0x25, "DABT (current EL)", 0x05, "level 1 translation fault", Some(1), false));
    assert_eq!(fields(0x9600_0006), (0x25, "DABT (current EL)", 0x06, "level 2 translation fault", Some(2), false));
    assert_eq!(fields(0x9600_0007), (0x25, "DABT (current EL)", 0x07, "level 3 translation fault", Some(3), false));
    // The same as stores.
    assert_eq!(fields(0x9600_0044), (0x25, "DABT (current EL)", 0x04, "level 0 translation fault", Some(0), true));
    assert_eq!(fields(0x9600_0045), (0x25, "DABT (current EL)", 0x05, "level 1 translation fault", Some(1), true));
    for esr in [0x9600_0004, 0x9600_0005, 0x9600_0006, 0x9600_0007, 0x9600_0044, 0x9600_0045] {
        let e = Esr(esr);
        assert!(e.is_data_abort() && !e.is_instruction_abort(), "{:?}", e);
        assert!(e.is_translation_fault() && !e.is_permission_fault(), "{:?}", e);
        assert!(e.il(), "{:?}", e);
        assert_eq!(e.iss(), esr & 0x1ff_ffff);
    }
}

#[test]
fn permission_faults() {
    // A store to a read-only page (e.g. kernel rodata), at level 3.
    let e = Esr(0x9600_004f);
    assert_eq!(fields(e.0), (0x25, "DABT (current EL)", 0x0f, "level 3 permission fault", Some(3), true));
    assert!(e.is_permission_fault() && !e.is_translation_fault());
    // A store to a read-only 2 MiB block.
    assert_eq!(fields(0x9600_004e), (0x25, "DABT (current EL)", 0x0e, "level 2 permission fault", Some(2), true));
    // An instruction fetch from a non-executable page.
    let i = Esr(0x8600_000f);
    assert_eq!(fields(i.0), (0x21, "IABT (current EL)", 0x0f, "level 3 permission fault", Some(3), false));
    assert!(i.is_instruction_abort() && !i.is_data_abort() && i.is_permission_fault());
    // From EL0.
    assert_eq!(Esr(0x8200_000f).ec_name(), "IABT (lower EL)");
    assert_eq!(Esr(0x9200_0047).ec_name(), "DABT (lower EL)");
    assert!(Esr(0x9200_0047).is_data_abort() && Esr(0x8200_000f).is_instruction_abort());
}

#[test]
fn other_fault_status_codes() {
    let cases: [(u64, &str, Option<u32>); 10] = [
        (0x9600_0010, "synchronous external abort", None),
        (0x9600_0021, "alignment fault", None),
        (0x9600_0030, "TLB conflict abort", None),
        (0x9600_0031, "Unsupported atomic hardware update fault", None),
        (0x9600_0000, "ttbr address size fault", Some(0)),
        (0x9600_0003, "level 3 address size fault", Some(3)),
        (0x9600_000a, "level 2 access flag fault", Some(2)),
        (0x9600_0015, "level 1 (translation table walk)", Some(1)),
        (0x9600_0012, "unknown 18", None),
        (0x9600_002b, "level -1 translation fault", None),
    ];
    for (esr, name, level) in cases {
        let e = Esr(esr);
        assert_eq!((e.fsc_name(), e.fault_level()), (name, level), "{:#x}", esr);
    }
    assert!(Esr(0x9600_002b).is_translation_fault());
    assert!(Esr(0x9600_000a).is_access_flag_fault());
    assert!(Esr(0x9600_0003).is_address_size_fault());
    assert!(!Esr(0x9600_0010).is_translation_fault() && !Esr(0x9600_0010).is_permission_fault());
}

#[test]
fn exception_class_names() {
    let cases: [(u64, &str); 12] = [
        (0x00, "Unknown/Uncategorized"),
        (0x07, "ASIMD"),
        (0x15, "SVC (AArch64)"),
        (0x18, "MSR/MRS (AArch64)"),
        (0x20, "IABT (lower EL)"),
        (0x21, "IABT (current EL)"),
        (0x22, "PC Alignment"),
        (0x24, "DABT (lower EL)"),
        (0x25, "DABT (current EL)"),
        (0x26, "SP Alignment"),
        (0x2f, "SError"),
        (0x3c, "BRK (AArch64)"),
    ];
    for (ec, name) in cases {
        let e = Esr(ec << 26 | 1 << 25);
        assert_eq!((e.ec(), e.ec_name()), (ec, name));
        assert_eq!(ec_name(ec), name);
    }
    for ec in [0x02, 0x0a, 0x1b, 0x23, 0x3f] {
        assert_eq!(Esr(ec << 26).ec_name(), "UNRECOGNIZED EC", "EC {:#x}", ec);
    }
    // A BRK #0x800 (what a Rust panic hook or BUG() might use).
    let brk = Esr(0xf200_0800);
    assert_eq!((brk.ec(), brk.ec_name(), brk.iss()), (0x3c, "BRK (AArch64)", 0x800));
    assert!(!brk.is_data_abort() && !brk.is_instruction_abort());
}

#[test]
fn iss_bits() {
    // Each single-bit field on its own, over a level 3 translation fault.
    let base = 0x9600_0007u64;
    let bit = |n: u32| Esr(base | 1 << n);
    assert!(bit(6).wnr() && !Esr(base).wnr());
    assert!(bit(7).s1ptw() && !Esr(base).s1ptw());
    assert!(bit(8).cm() && !Esr(base).cm());
    assert!(bit(9).ea() && !Esr(base).ea());
    assert!(bit(10).fnv() && !Esr(base).fnv());
    assert!(bit(24).isv() && !Esr(base).isv());
    assert_eq!(Esr(base | 2 << 11).set(), 2);
    assert_eq!(Esr(base | 3 << 11).set(), 3);
    assert_eq!(Esr(base).set(), 0);
    // IL clear: a 16-bit instruction (only possible from AArch32 state).
    assert!(!Esr(0x9400_0007).il());
    // The syndrome of a valid-ISV store: STR X3, 8 bytes, 64-bit register.
    let s = Esr(0x97c3_8047);
    assert!(s.isv() && s.wnr() && s.sf() && !s.sse() && !s.ar());
    assert_eq!((s.sas(), s.srt(), s.fsc()), (3, 3, 0x07));
}

/// The text `write_mem_abort_info` produces for `esr`.
fn info(esr: u64) -> String {
    let mut s = String::new();
    write_mem_abort_info(&mut s, esr).unwrap();
    s
}

#[test]
fn mem_abort_info_level2_translation_read() {
    assert_eq!(
        info(0x9600_0006),
        "Mem abort info:\n\
         \x20 ESR = 0x0000000096000006\n\
         \x20 EC = 0x25: DABT (current EL), IL = 32 bits\n\
         \x20 SET = 0, FnV = 0\n\
         \x20 EA = 0, S1PTW = 0\n\
         \x20 FSC = 0x06: level 2 translation fault\n\
         Data abort info:\n\
         \x20 ISV = 0, ISS = 0x00000006\n\
         \x20 CM = 0, WnR = 0\n"
    );
}

#[test]
fn mem_abort_info_write_to_read_only() {
    assert_eq!(
        info(0x9600_004f),
        "Mem abort info:\n\
         \x20 ESR = 0x000000009600004f\n\
         \x20 EC = 0x25: DABT (current EL), IL = 32 bits\n\
         \x20 SET = 0, FnV = 0\n\
         \x20 EA = 0, S1PTW = 0\n\
         \x20 FSC = 0x0f: level 3 permission fault\n\
         Data abort info:\n\
         \x20 ISV = 0, ISS = 0x0000004f\n\
         \x20 CM = 0, WnR = 1\n"
    );
}

#[test]
fn mem_abort_info_instruction_abort_has_no_data_block() {
    assert_eq!(
        info(0x8600_000f),
        "Mem abort info:\n\
         \x20 ESR = 0x000000008600000f\n\
         \x20 EC = 0x21: IABT (current EL), IL = 32 bits\n\
         \x20 SET = 0, FnV = 0\n\
         \x20 EA = 0, S1PTW = 0\n\
         \x20 FSC = 0x0f: level 3 permission fault\n"
    );
}

#[test]
fn mem_abort_info_external_abort_and_valid_syndrome() {
    // An external abort with FnV, SET = 2 (restartable) and EA.
    let text = info(0x9600_1610);
    assert!(text.contains("\n  SET = 2, FnV = 1\n  EA = 1, S1PTW = 0\n"), "{}", text);
    assert!(text.contains("\n  FSC = 0x10: synchronous external abort\n"), "{}", text);
    // ISV set: the access is decoded instead of the raw ISS.
    let text = info(0x97c3_8047);
    assert!(
        text.ends_with(
            "Data abort info:\n  Access size = 8 byte(s)\n  SSE = 0, SRT = 3\n  SF = 1, AR = 0\n  CM = 0, WnR = 1\n"
        ),
        "{}",
        text
    );
    assert!(!text.contains("ISV = 0"));
}

#[test]
fn headlines() {
    let line = |esr: u64, far: u64| fault_headline(esr, far).to_string();
    assert_eq!(
        line(0x9600_0004, 0),
        "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000"
    );
    assert_eq!(
        line(0x9600_0045, 0xff8),
        "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000ff8"
    );
    assert_eq!(
        line(0x9600_004f, 0xffff_0000_0881_0000),
        "Unable to handle kernel write to read-only memory at virtual address ffff000008810000"
    );
    assert_eq!(
        line(0x8600_000f, 0xffff_0000_0890_0000),
        "Unable to handle kernel execute from non-executable memory at virtual address ffff000008900000"
    );
    assert_eq!(
        line(0x9600_0006, 0xffff_7dff_fe80_0000),
        "Unable to handle kernel paging request at virtual address ffff7dfffe800000"
    );
    // The first page is the NULL guard; the second is an ordinary address.
    assert_eq!(fault_headline(0x9600_0004, 0x1000).kind, FaultKind::PagingRequest);
    assert_eq!(fault_headline(0x9600_0004, 0xfff).kind, FaultKind::NullDereference);
    // Like Linux, the access decides a permission fault's wording, not the address.
    assert_eq!(fault_headline(0x9600_004f, 0x10).kind, FaultKind::WriteToReadOnly);
    assert_eq!(fault_headline(0x9600_000f, 0xffff_0000_0881_0000).kind, FaultKind::ReadUnreadable);
    assert_eq!(
        line(0x9600_000f, 0xffff_0000_0881_0000),
        "Unable to handle kernel read from unreadable memory at virtual address ffff000008810000"
    );
    // A store hitting a translation fault is a paging request, not a write to read-only memory.
    assert_eq!(fault_headline(0x9600_0047, 0xffff_8000_0000_0000).kind, FaultKind::PagingRequest);
    // Not an abort at all (an SP alignment fault): the FSC bits mean nothing.
    assert_eq!(fault_headline(0x9a00_000f, 0xffff_8000_0000_0008).kind, FaultKind::PagingRequest);
}

/// A pass means an `Esr` debug-prints as its raw value and its class name.
#[test]
fn debug_form_shows_the_value_and_the_class() {
    assert_eq!(format!("{:?}", Esr(0x9600_0045)), "Esr(0x0000000096000045: DABT (current EL))");
    assert_eq!(format!("{:?}", Esr(0xf200_0800)), "Esr(0x00000000f2000800: BRK (AArch64))");
}

/// A pass means the fields come from their own bits only: ISS2 is bits
/// 55:32, ISS bits 24:0, IL bit 25, EC bits 31:26.
#[test]
fn iss2_and_iss_take_their_own_bits() {
    let e = Esr(0xffab_cdef_9700_0041);
    assert_eq!(e.iss2(), 0xab_cdef);
    assert_eq!(e.iss(), 0x0100_0041);
    assert_eq!((e.ec(), e.il()), (0x25, true));
    assert_eq!(Esr(0x9600_0045).iss2(), 0);
}

/// A pass means each fault kind is exactly its status codes: address size
/// 0x00 to 0x03 and 0x29 (level -1), translation 0x04 to 0x07 and 0x2b,
/// access flag 0x08 to 0x0b, permission 0x0c to 0x0f.
#[test]
fn fault_kinds_are_exactly_their_status_codes() {
    for fsc in 0..64u64 {
        let e = Esr((0x25 << 26) | (1 << 25) | fsc);
        let kinds =
            (e.is_address_size_fault(), e.is_translation_fault(), e.is_access_flag_fault(), e.is_permission_fault());
        let want = (
            fsc <= 0x03 || fsc == 0x29,
            (0x04..=0x07).contains(&fsc) || fsc == 0x2b,
            (0x08..=0x0b).contains(&fsc),
            (0x0c..=0x0f).contains(&fsc),
        );
        assert_eq!(kinds, want, "FSC {fsc:#x}");
    }
}

/// The data abort ISS fields of `e`, in bit order from the top.
fn abort_fields(e: Esr) -> [u64; 12] {
    let b = u64::from;
    [
        b(e.isv()),
        e.sas(),
        b(e.sse()),
        e.srt(),
        b(e.sf()),
        b(e.ar()),
        e.set(),
        b(e.fnv()),
        b(e.ea()),
        b(e.cm()),
        b(e.s1ptw()),
        b(e.wnr()),
    ]
}

/// A pass means each data abort ISS field reads its own bits and nothing
/// else: ISV 24, SAS 23:22, SSE 21, SRT 20:16, SF 15, AR 14, SET 12:11,
/// FnV 10, EA 9, CM 8, S1PTW 7, WnR 6.
#[test]
fn data_abort_fields_read_their_own_bits() {
    // (lowest bit, width) of each field, in the order of `abort_fields`.
    let fields =
        [(24, 1), (22, 2), (21, 1), (16, 5), (15, 1), (14, 1), (11, 2), (10, 1), (9, 1), (8, 1), (7, 1), (6, 1)];
    let base = 0x25 << 26;
    assert_eq!(abort_fields(Esr(base)), [0; 12]);
    for (i, &(lo, width)) in fields.iter().enumerate() {
        for v in 1..1u64 << width {
            let mut want = [0; 12];
            want[i] = v;
            assert_eq!(abort_fields(Esr(base | (v << lo))), want, "field {i} = {v}");
        }
    }
    // Every other bit set: every field still reads its own value.
    let all = base | 0x01ff_ffc0;
    let want = fields.map(|(_, width)| (1u64 << width) - 1);
    assert_eq!(abort_fields(Esr(all)), want);
}
