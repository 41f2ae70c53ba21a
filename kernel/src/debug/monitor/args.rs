//! The monitor's one number rule, and symbol names as addresses.
//!
//! Addresses are hex, with or without `0x`, underscores allowed, as the
//! kernel itself prints them (`0xffff_8000_4020_0000`, `ffff800040200000`),
//! or a symbol name. Sizes and counts are decimal unless they carry `0x`,
//! and may end in `K`, `M` or `G` (binary units). Errors name the problem.
//! Runs after boot, from the monitor; uses `mm` for the image bounds and
//! `debug::kallsyms` for names.

use crate::debug::kallsyms;
use crate::mm::physaddr;
use alloc::format;
use alloc::string::String;

/// The rule as `help` states it.
pub const NUMBER_RULE: &str = "\
numbers: addresses are hex, with or without 0x, underscores allowed
  (0xffff_8000_4020_0000, ffff800040200000: anything the kernel prints),
  or a symbol (_text, _etext, __end_rodata, _edata, _end, a function name);
  sizes and counts are decimal unless they carry 0x, and may end in K, M or G
  (x 16, vmalloc 0x3000, vmalloc 8K).";

/// A hex number in `s` (optional `0x`, underscores), or why not.
fn hex(s: &str) -> Result<Option<u64>, String> {
    let body = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 16 {
        return Err(format!("{s:?} does not fit in 64 bits ({} hex digits)", significant.len()));
    }
    Ok(u64::from_str_radix(if significant.is_empty() { "0" } else { significant }, 16).ok())
}

/// An address: hex (with or without `0x`) or a symbol.
pub fn addr(s: &str) -> Result<u64, String> {
    if let Some(v) = hex(s)? {
        return Ok(v);
    }
    symbol(s).ok_or_else(|| {
        if s.starts_with("0x") || s.starts_with("0X") {
            format!("{s:?} is not a hex number")
        } else {
            format!("{s:?} is not a number (addresses are hex) nor a known symbol")
        }
    })
}

/// The address of a section symbol or a function called `name`.
pub fn symbol(name: &str) -> Option<u64> {
    linker_symbol(name).or_else(|| kallsyms::address_of(name))
}

/// The image's section symbols, with their addresses.
pub fn linker_symbols() -> [(&'static str, u64); 5] {
    use crate::arch::sections::{__end_rodata, _edata, _etext};
    let (text, end) = physaddr::image_bounds();
    [
        ("_text", text),
        ("_etext", &raw const _etext as u64),
        ("__end_rodata", &raw const __end_rodata as u64),
        ("_edata", &raw const _edata as u64),
        ("_end", end),
    ]
}

fn linker_symbol(name: &str) -> Option<u64> {
    linker_symbols().iter().find(|s| s.0 == name).map(|s| s.1)
}

/// A size or count: decimal, or hex with `0x`; optional `K`/`M`/`G` suffix.
pub fn size(s: &str) -> Result<u64, String> {
    let (body, shift) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let (digits, radix) = match clean.strip_prefix("0x").or_else(|| clean.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (clean.as_str(), 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        let what = if radix == 16 { "hex" } else { "decimal (or 0x hex)" };
        return Err(format!("{s:?} is not a size: sizes are {what}, with an optional K, M or G"));
    }
    let too_big = || format!("{s:?} does not fit in 64 bits");
    let v = u64::from_str_radix(digits, radix).map_err(|_| too_big())?;
    v.checked_mul(1 << shift).ok_or_else(too_big)
}

/// "1 page", "3 pages".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
