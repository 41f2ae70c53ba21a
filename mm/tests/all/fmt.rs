//! How addresses and sizes are printed: every digit group of an address in
//! its place, and each size unit at its boundary and one byte off it.

use vakern_mm::fmt::{Addr, Size};

#[test]
fn addresses_print_as_four_groups_of_four_hex_digits() {
    assert_eq!(Addr(0).to_string(), "0x0000_0000_0000_0000");
    assert_eq!(Addr(0xffff_8000_4020_0000).to_string(), "0xffff_8000_4020_0000");
    assert_eq!(Addr(0x0123_4567_89ab_cdef).to_string(), "0x0123_4567_89ab_cdef");
    assert_eq!(Addr(u64::MAX).to_string(), "0xffff_ffff_ffff_ffff");
    assert_eq!(format!("{:?}", Addr(0x1_0000)), "0x0000_0000_0001_0000");
}

#[test]
fn sizes_print_in_the_largest_unit_that_divides_them() {
    let cases = [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1025, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (4096, "4 KiB"),
        ((1 << 20) - 1, "1023.9 KiB"),
        (1 << 20, "1 MiB"),
        (3 << 19, "1.5 MiB"),
        (1 << 30, "1 GiB"),
        ((1 << 30) + (1 << 29), "1.5 GiB"),
        (128 << 40, "128 TiB"),
        (1 << 50, "1 PiB"),
        (u64::MAX, "16383.9 PiB"),
    ];
    for (v, s) in cases {
        assert_eq!(Size(v).to_string(), s, "Size({v:#x})");
        assert_eq!(format!("{:?}", Size(v)), s);
    }
}
