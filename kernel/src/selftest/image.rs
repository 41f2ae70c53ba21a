//! Self-tests of the image's placement: `layout` (the image runs at
//! KIMAGE_VADDR + KASLR offset + load offset, per-section permissions, no
//! identity map left), `reloc` (stored pointers were relocated), `kaslr`
//! (the image sits at its offset, the seed is gone from the device tree)
//! and `idmap` (the boot's identity map held the image and the device tree
//! rounded to `SWAPPER_BLOCK_SIZE`, inside RAM, and nothing else).

use crate::arch::at::{at_s1e1r, at_s1e1w};
use crate::arch::sections::{__end_rodata, _etext};
use crate::mm::table_access::PhysTables;
use crate::mm::{idmap, kaslr, memblock, physaddr};
use crate::pr_info;
use crate::selftest::{check, Outcome};
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::kaslr::KASLR_ALIGN;
use vakern_mm::layout::{self, PAGE_SIZE, SWAPPER_BLOCK_SIZE, SWAPPER_LEAF_LEVEL};
use vakern_mm::pgtable;
use vakern_mm::ranges::Range;

pub(super) fn test_layout() -> Outcome {
    let (text, end) = physaddr::image_bounds();
    let pa = at_s1e1r(text).ok_or("the CPU cannot translate _text")?;
    let expect = layout::KIMAGE_VADDR + kaslr::offset() + (pa & (KASLR_ALIGN - 1));
    pr_info!("_text: VA {} PA {} (from AT S1E1R)", Addr(text), Addr(pa));
    check!(text == expect, "_text at {} but KIMAGE_VADDR + KASLR offset + load offset is {}", Addr(text), Addr(expect));
    let voff = physaddr::kimage_voffset();
    check!(voff == text.wrapping_sub(pa), "kimage_voffset {} != VA - PA {}", Addr(voff), Addr(text.wrapping_sub(pa)));
    check!(at_s1e1r(end - 1) == Some(pa + (end - 1 - text)), "the image is not mapped contiguously up to _end");
    // Per-section permissions, as the CPU sees them.
    let (etext, rodata_end) = (&raw const _etext as u64, &raw const __end_rodata as u64);
    check!(at_s1e1w(text).is_none(), "text is writable");
    check!(at_s1e1w(etext).is_none(), "rodata is writable");
    check!(at_s1e1w(rodata_end).is_some(), "data is not writable");
    // The low half is empty: no identity map is left.
    check!(at_s1e1r(pa).is_none(), "the identity map is still live at {}", Addr(pa));
    pr_info!("kimage_voffset = {} = VA - PA", Addr(voff));
    Ok(())
}

/// A function reached through a pointer stored in the image.
fn answer() -> u64 {
    42
}
static HOOK: fn() -> u64 = answer;
static GREETING: &str = "relocated";
static TABLE: [&u64; 2] = [&FORTY, &TWO];
static FORTY: u64 = 40;
static TWO: u64 = 2;

pub(super) fn test_reloc() -> Outcome {
    let (text, end) = physaddr::image_bounds();
    let etext = &raw const _etext as u64;
    // Read the stored pointers through volatile loads so the compiler cannot
    // fold them into PC-relative addresses.
    // SAFETY: reading statics.
    let hook = unsafe { core::ptr::read_volatile(&raw const HOOK) };
    let greeting = unsafe { core::ptr::read_volatile(&raw const GREETING) };
    let table = unsafe { core::ptr::read_volatile(&raw const TABLE) };
    let hook_addr = hook as usize as u64;
    pr_info!(
        "HOOK -> {}, GREETING -> {}, TABLE -> {}, {}",
        Addr(hook_addr),
        Addr(greeting.as_ptr() as u64),
        Addr(table[0] as *const u64 as u64),
        Addr(table[1] as *const u64 as u64)
    );
    check!(hook_addr >= text && hook_addr < etext, "function pointer {} is not in the high text", Addr(hook_addr));
    check!(hook() == 42, "calling through the relocated pointer failed");
    let g = greeting.as_ptr() as u64;
    check!(g >= etext && g < end, "string reference {} is not in the high image", Addr(g));
    check!(greeting == "relocated", "string reads {:?}", greeting);
    check!(*table[0] + *table[1] == 42, "table of references reads wrong values");
    Ok(())
}

pub(super) fn test_kaslr() -> Outcome {
    let (offset, source, _) = kaslr::info();
    check!(
        offset % KASLR_ALIGN == 0 && offset < crate::early::kaslr::KASLR_WINDOW,
        "offset {:#x} outside the window",
        offset
    );
    let (text, _) = physaddr::image_bounds();
    check!(
        text & !(KASLR_ALIGN - 1) == layout::KIMAGE_VADDR + offset,
        "_text {} is not at KIMAGE_VADDR + {:#x}",
        Addr(text),
        offset
    );
    // Whatever the source (nokaslr included), a seed in the tree is gone.
    let after = kaslr::SEED_IN_DTB_AFTER.get().copied().flatten();
    if let Some(v) = after {
        pr_info!("kaslr: kaslr-seed after the early code: {:#x}", v);
        check!(v == 0, "the device tree still holds the seed: {:#x}", v);
    }
    // The image rule and the CPU agree on every page of the image.
    let (t, e) = physaddr::image_bounds();
    let mut va = t;
    while va < e {
        check!(at_s1e1r(va) == Some(physaddr::kimg_to_phys(va)), "image page {} translates wrongly", Addr(va));
        va += PAGE_SIZE;
    }
    pr_info!("kaslr: offset {:#x}, source {}", offset, source);
    Ok(())
}

/// The identity map the boot stub and the early KASLR code built, as
/// `paging_init` recorded it: every run is identity, made of
/// `SWAPPER_BLOCK_SIZE` entries (2 MiB blocks with 4K pages, pages with 16K
/// and 64K), lies inside the image or the device tree rounded out to that
/// size and inside the RAM the device tree describes, and together the runs
/// cover all of both. With 16K or 64K pages a level-2 block (32 MiB,
/// 512 MiB) anywhere fails it.
pub(super) fn test_idmap() -> Outcome {
    let rec = idmap::recorded().ok_or("no record of the identity map: paging_init has not run")?;
    check!(rec.total <= rec.runs.len(), "{} runs, more than the {} recorded", rec.total, rec.runs.len());
    let mem = memblock::memory().ok_or("no memory description")?;
    let (text, end) = physaddr::image_bounds();
    let pa_text = physaddr::kimg_to_phys(text);
    let (want, n) = idmap::expected(pa_text, end - text);
    pr_info!("idmap: entries of {} at level {}", Size(SWAPPER_BLOCK_SIZE), SWAPPER_LEAF_LEVEL);
    for w in want.iter().flatten() {
        pr_info!("idmap: expect {}-{}", Addr(w.base), Addr(w.end));
    }
    let root = rec.ttbr0 & vakern_mm::pte::ADDR_MASK;
    let mut covered = 0;
    for run in rec.runs.iter().flatten() {
        let r = Range { base: run.start, end: run.end };
        pr_info!("idmap: run {}-{} level {}", Addr(r.base), Addr(r.end), run.level);
        check!(
            run.level == SWAPPER_LEAF_LEVEL,
            "run {}-{} is made of level-{} entries, not the level-{} entries of {}",
            Addr(r.base),
            Addr(r.end),
            run.level,
            SWAPPER_LEAF_LEVEL,
            Size(SWAPPER_BLOCK_SIZE)
        );
        check!(
            want.iter().flatten().any(|w| w.base <= r.base && r.end <= w.end),
            "run {}-{} reaches outside the image and the device tree (rounded to {})",
            Addr(r.base),
            Addr(r.end),
            Size(SWAPPER_BLOCK_SIZE)
        );
        check!(mem.ram.covers(&r), "run {}-{} is not all RAM the device tree describes", Addr(r.base), Addr(r.end));
        for va in [r.base, r.end - PAGE_SIZE] {
            let pa = pgtable::walk(&mut PhysTables, root, va).phys();
            check!(pa == Some(va), "{} translates to {:?}, not to itself", Addr(va), pa.map(Addr));
        }
        covered += r.size();
    }
    let need: u64 = want.iter().flatten().map(Range::size).sum();
    check!(covered == need, "the runs cover {} but the image and the device tree need {}", Size(covered), Size(need));
    pr_info!("idmap: {} in {} run(s), {} range(s) expected", Size(covered), rec.total, n);
    Ok(())
}
