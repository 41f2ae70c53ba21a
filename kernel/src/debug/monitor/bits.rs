//! The monitor's `bits`: a picture of a virtual address as the MMU splits
//! it, field by field, with the level whose table each index selects. Runs
//! after boot; the field boundaries come from `vakern_mm::layout` (page size,
//! VA size, root level), so the picture follows the built layout.

use super::translate::{index_bits, level_name};
use crate::println;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{PAGE_SHIFT, PAGE_SIZE, ROOT_LEVEL, VA_BITS};

pub const BITS_HELP: &str = "\
A picture of VA as the MMU splits it: the top bits that select TTBR0 or
TTBR1, the table index for each level, and the offset inside the page, each
field with its bit range and the level whose table it indexes.";

/// One field of the picture: bits `[hi:lo]`, its value, and two label lines.
struct Field {
    hi: u32,
    lo: u32,
    value: String,
    what: String,
    level: String,
}

pub fn cmd_bits(va: u64) {
    let field = |hi: u32, lo: u32| (va >> lo) & (u64::MAX >> (63 - (hi - lo)));
    let mut fields = Vec::new();
    let top = field(63, VA_BITS);
    let sel = match top {
        0 => "TTBR0",
        t if t == u64::MAX >> VA_BITS => "TTBR1",
        _ => "neither",
    };
    fields.push(Field {
        hi: 63,
        lo: VA_BITS,
        value: format!("{top:#x}"),
        what: String::from(sel),
        level: String::from("select"),
    });
    for level in ROOT_LEVEL..=3 {
        let (hi, lo) = index_bits(level);
        fields.push(Field {
            hi,
            lo,
            value: format!("{}", field(hi, lo)),
            what: format!("{} index", level_name(level)),
            level: format!("level {level}"),
        });
    }
    fields.push(Field {
        hi: PAGE_SHIFT - 1,
        lo: 0,
        value: format!("{:#x}", field(PAGE_SHIFT - 1, 0)),
        what: String::from("page offset"),
        level: format!("{} page", Size(PAGE_SIZE)),
    });
    let widths: Vec<usize> = fields
        .iter()
        .map(|f| {
            let range = format!("{}..{}", f.hi, f.lo).len();
            range.max(f.value.len()).max(f.what.len()).max(f.level.len()) + 2
        })
        .collect();
    println!("{} as the MMU splits it ({} pages, {}-bit VAs):", Addr(va), Size(PAGE_SIZE), VA_BITS);
    let mut rule = String::from("+");
    let (mut nums, mut vals, mut whats, mut levels) = (String::new(), String::from("|"), String::new(), String::new());
    for (f, &w) in fields.iter().zip(&widths) {
        let hi = format!("{}", f.hi);
        let lo = format!("{}", f.lo);
        nums += &format!(" {hi}{:pad$}{lo}", "", pad = w.saturating_sub(hi.len() + lo.len()));
        rule += &"-".repeat(w);
        rule.push('+');
        vals += &format!("{:^w$}|", f.value);
        whats += &format!(" {:<w$}", f.what);
        levels += &format!(" {:<w$}", f.level);
    }
    println!("{nums}");
    println!("{rule}");
    println!("{vals}");
    println!("{rule}");
    println!("{}", whats.trim_end());
    println!("{}", levels.trim_end());
    let bin = |hi: u32, lo: u32| format!("{:0w$b}", field(hi, lo), w = (hi - lo + 1) as usize);
    let parts: Vec<String> = fields.iter().map(|f| bin(f.hi, f.lo)).collect();
    println!("binary: {}", parts.join(" "));
    if sel == "neither" {
        println!("bits [63:{VA_BITS}] are neither all zeros nor all ones: the address is not canonical");
    }
}
