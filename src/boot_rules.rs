//! The image builder's check of the boot stub's cache and TLB rules, which
//! QEMU cannot show (it models no caches and keeps no stale translations).
//!
//! Runs on the linked kernel ELF before the Image is written (see
//! `image::check_kernel`): the code of `.idmap.text` is decoded with
//! yaxpeax-arm, each instruction reduced to a canonical form (system
//! register and cache/TLB operation names, `bl` and address targets as
//! symbol names), and these rules are checked in order:
//! - the boot CPU's path (`primary_entry` to its jump to the upper half)
//!   invalidates the early tables to the PoC (`bl dcache_inval_poc`) before
//!   it zeroes them, and again after the last table store (behind a barrier)
//!   and before `bl enable_mmu`;
//! - the only memory it zeroes before `bl enable_mmu` starts at the early
//!   tables; .bss (`__bss_start` to `__bss_stop`) is cleared after it,
//!   before `bl early_map_kernel`;
//! - `dcache_inval_poc` reads CTR_EL0, loops `dc ivac` and ends `dsb sy`;
//! - `enable_mmu` sets SCTLR_EL1 then `isb`, `ic iallu`, `dsb nsh`, `isb`;
//! - `idmap_cpu_replace_ttbr1` goes through the reserved table:
//!   `msr ttbr1_el1`, `isb`, `tlbi vmalle1is`, `dsb ish`, `isb`,
//!   `msr ttbr1_el1`, `isb`.
//!
//! The rules are checked on a [`Insn`] list so that the tests can hand it a
//! stub with one instruction missing and see it rejected.

use crate::elf::Elf;
use std::collections::HashMap;
use yaxpeax_arch::{Arch, Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::ARMv8;

/// One instruction of the stub in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Its address.
    pub addr: u64,
    /// The label (symbol) at this address, if one of the stub's routines starts here.
    pub label: Option<String>,
    /// Canonical text: `dc ivac`, `ic iallu`, `tlbi vmalle1is`,
    /// `msr sctlr_el1`, `bl enable_mmu`, `addr __bss_start`, or yaxpeax's text.
    pub text: String,
}

/// Symbols whose addresses the stub loads, named in the canonical form.
const ADDRESSED: [&str; 5] = ["__early_tables_start", "__early_tables_end", "__bss_start", "__bss_stop", "_end"];
/// Routines of the stub, as labels and `bl` targets.
const ROUTINES: [&str; 5] =
    ["primary_entry", "dcache_inval_poc", "enable_mmu", "idmap_cpu_replace_ttbr1", "early_map_kernel"];

/// A `$+0x..`/`$-0x..` operand of yaxpeax's text, as a signed offset.
fn rel(text: &str) -> Option<i64> {
    let at = text.find('$')?;
    let rest = &text[at + 1..];
    let (sign, hex) = (rest.starts_with('-'), rest.get(1..)?.trim_start_matches("0x"));
    let v = i64::from_str_radix(hex.split(|c: char| !c.is_ascii_hexdigit()).next()?, 16).ok()?;
    Some(if sign { -v } else { v })
}

/// yaxpeax's text of one instruction in canonical form (see [`Insn::text`]).
fn canonical(text: &str) -> String {
    const SYS: [(&str, &str); 5] = [
        ("sys #0x0, c7, c6, #0x1,", "dc ivac"),
        ("sys #0x0, c7, c5, #0x0,", "ic iallu"),
        ("sys #0x0, c8, c3, #0x0,", "tlbi vmalle1is"),
        ("sys #0x0, c8, c7, #0x0,", "tlbi vmalle1"),
        ("sys #0x0, c7, c14, #0x1,", "dc civac"),
    ];
    for (p, name) in SYS {
        if text.starts_with(p) {
            return name.to_string();
        }
    }
    const SYSREG: [(&str, &str); 4] = [
        ("s3_0_c1_c0_0", "sctlr_el1"),
        ("s3_0_c2_c0_1", "ttbr1_el1"),
        ("s3_0_c2_c0_0", "ttbr0_el1"),
        ("s3_3_c0_c0_1", "ctr_el0"),
    ];
    for (enc, name) in SYSREG {
        if text.starts_with("msr ") && text.contains(enc) {
            return format!("msr {name}");
        }
        if text.starts_with("mrs ") && text.contains(enc) {
            return format!("mrs {name}");
        }
    }
    text.to_string()
}

/// Decode `.idmap.text` of `elf` into canonical instructions.
pub fn stub_listing(elf: &Elf) -> Result<Vec<Insn>, String> {
    let sym = |n: &str| elf.symbol(n).map_err(|e| e.to_string());
    let (start, end) = (sym("__idmap_text_start")?, sym("__idmap_text_end")?);
    let sec = elf
        .sections
        .iter()
        .find(|s| s.addr <= start && end <= s.addr + s.size)
        .ok_or("no section holds .idmap.text")?;
    let bytes = elf.bytes(sec).map_err(|e| e.to_string())?;
    // Several names may share an address (the tables' end is .bss's start,
    // .bss's end is `_end`): the canonical text lists them all.
    let mut names: HashMap<u64, Vec<&str>> = HashMap::new();
    for n in ROUTINES.iter().chain(ADDRESSED.iter()) {
        if let Ok(a) = elf.symbol(n) {
            names.entry(a).or_default().push(n);
        }
    }
    let decoder = <ARMv8 as Arch>::Decoder::default();
    let mut pages: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::new();
    for addr in (start..end).step_by(4) {
        let off = (addr - sec.addr) as usize;
        let word = bytes.get(off..off + 4).ok_or("stub outside its section")?;
        let raw = decoder.decode(&mut U8Reader::new(word)).map(|i| i.to_string()).unwrap_or_default();
        let mnemonic = raw.split_whitespace().next().unwrap_or("");
        let dest = raw.split_whitespace().nth(1).unwrap_or("").trim_end_matches(',').to_string();
        let target = match mnemonic {
            "bl" | "adr" => rel(&raw).map(|r| addr.wrapping_add_signed(r)),
            "adrp" => {
                let page = rel(&raw).map(|r| (addr & !0xfff).wrapping_add_signed(r));
                if let Some(p) = page {
                    pages.insert(dest.clone(), p);
                }
                page
            }
            "add" => {
                // add xd, xn, #imm after adrp xn: an exact address.
                let parts: Vec<&str> = raw.split(", ").collect();
                match (parts.get(1).and_then(|n| pages.get(*n)), parts.get(2)) {
                    (Some(p), Some(imm)) if !raw.contains("lsl") => {
                        u64::from_str_radix(imm.trim_start_matches("#0x"), 16).ok().map(|i| p + i)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let text = match (mnemonic, target.and_then(|t| names.get(&t))) {
            ("bl", Some(n)) => format!("bl {}", n.join("|")),
            ("adr" | "add", Some(n)) => format!("addr {}", n.join("|")),
            _ => canonical(&raw),
        };
        let label = names.get(&addr).and_then(|n| n.iter().find(|n| ROUTINES.contains(n))).map(|n| n.to_string());
        out.push(Insn { addr, label, text });
    }
    Ok(out)
}

/// The instructions of routine `name`: from its label to the first `ret`
/// (or, for `primary_entry`, to its first `br`).
fn body<'a>(list: &'a [Insn], name: &str) -> Result<&'a [Insn], String> {
    let at =
        list.iter().position(|i| i.label.as_deref() == Some(name)).ok_or(format!("boot stub: no routine {name}"))?;
    let stop = if name == "primary_entry" { "br " } else { "ret" };
    let len =
        list[at..].iter().position(|i| i.text.starts_with(stop)).ok_or(format!("boot stub: {name} never ends"))?;
    Ok(&list[at..=at + len])
}

/// Require `steps` in this order (not necessarily adjacent) in `code`.
fn in_order(code: &[Insn], routine: &str, steps: &[&str], rule: &str) -> Result<(), String> {
    let mut from = 0;
    for s in steps {
        match code[from..].iter().position(|i| i.text.contains(s)) {
            Some(k) => from += k + 1,
            None => return Err(format!("boot stub: {routine} lacks `{s}` where the rule needs it ({rule})")),
        }
    }
    Ok(())
}

fn find(code: &[Insn], text: &str) -> Option<usize> {
    code.iter().position(|i| i.text.contains(text))
}

/// Check the rules of the module comment; a summary, or the first rule broken.
pub fn check_stub(list: &[Insn]) -> Result<String, String> {
    let p = body(list, "primary_entry")?;
    let e = find(p, "bl enable_mmu").ok_or("boot stub: primary_entry never calls enable_mmu")?;
    let (before, after) = (&p[..e], &p[e..]);
    let inval = |c: &[Insn]| c.iter().filter(|i| i.text == "bl dcache_inval_poc").count();
    // Invalidate, zero, build, barrier, invalidate, MMU on.
    in_order(
        before,
        "primary_entry",
        &["addr __early_tables_start", "bl dcache_inval_poc", "stp xzr, xzr", "str ", "dmb sy", "bl dcache_inval_poc"],
        "the early tables are invalidated to the PoC before and after they are written with the MMU off",
    )?;
    let last_store = before.iter().rposition(|i| i.text.starts_with("str") || i.text.starts_with("stp")).unwrap_or(0);
    if inval(&before[last_store..]) == 0 {
        return Err("boot stub: a table store follows the last invalidation before the MMU is turned on".into());
    }
    // Every zeroing loop before the MMU is on starts at the early tables
    // (the last address loaded before it), never at .bss.
    for (k, i) in before.iter().enumerate() {
        if i.text.starts_with("stp xzr, xzr") {
            let from = before[..k].iter().rev().find(|i| i.text.starts_with("addr "));
            if !from.is_some_and(|a| a.text.contains("__early_tables_start")) {
                return Err(format!(
                    "boot stub: memory other than the early tables is cleared before the MMU is on, at {:#x} \
                     (rule: clear .bss with the caches on)",
                    i.addr
                ));
            }
        }
    }
    in_order(
        after,
        "primary_entry",
        &["bl enable_mmu", "__bss_start", "__bss_stop", "stp xzr, xzr", "bl early_map_kernel"],
        ".bss is cleared once the MMU is on, before the Rust code runs",
    )?;
    in_order(
        body(list, "dcache_inval_poc")?,
        "dcache_inval_poc",
        &["mrs ctr_el0", "dc ivac", "dsb sy", "ret"],
        "invalidate by VA to the PoC, line by line, then wait",
    )?;
    in_order(
        body(list, "enable_mmu")?,
        "enable_mmu",
        &["msr sctlr_el1", "isb", "ic iallu", "dsb nsh", "isb", "ret"],
        "drop instructions fetched with the MMU off once it is on",
    )?;
    in_order(
        body(list, "idmap_cpu_replace_ttbr1")?,
        "idmap_cpu_replace_ttbr1",
        &["msr ttbr1_el1", "isb", "tlbi vmalle1is", "dsb ish", "isb", "msr ttbr1_el1", "isb"],
        "TTBR1 is switched through the reserved table with the TLB invalidated in between",
    )?;
    Ok(format!("boot stub: {} instructions, cache and TLB rules in order", list.len()))
}
