//! Self-tests of memory management after boot: `linear` (all RAM and
//! nothing else in the linear map, with the fewest tables), `alloc` (page
//! allocator and heap), `vmalloc` (areas, guard pages, the console's
//! ioremap) and `translate` (good uses of the translations agree with the
//! plain arithmetic and with the CPU).

use crate::arch::at::{at_s1e1r, at_s1e1w};
use crate::image_sym;
use crate::mm::physaddr::{self, PhysAddr, VirtAddr};
use crate::mm::table_access::LinearTables;
use crate::mm::{fixmap, linear_map, memblock, page_alloc, vmalloc};
use crate::pr_info;
use crate::selftest::{check, Outcome, XorShift};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use vakern_mm::fmt::Addr;
use vakern_mm::layout::{self, PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, PMD_SIZE};
use vakern_mm::pgtable;
use vakern_mm::pte::{self, MemType};

/// Physical pages to sample in `[base, end)`: first, last and `n` random ones.
fn samples(base: u64, end: u64, n: usize, rng: &mut XorShift) -> Vec<u64> {
    let pages = (end - base) / PAGE_SIZE;
    let mut v = Vec::from([base, end - PAGE_SIZE]);
    for _ in 0..n {
        v.push(base + (rng.next_u64() % pages) * PAGE_SIZE);
    }
    v
}

pub(super) fn test_linear() -> Outcome {
    let mem = memblock::memory().ok_or("no memory description")?;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for r in mem.mapped.iter() {
        for pa in samples(r.base, r.end, 16, &mut rng) {
            let va = physaddr::__va(pa);
            check!(physaddr::__pa(va) == pa, "__pa(__va({})) = {}", Addr(pa), Addr(physaddr::__pa(va)));
            check!(
                at_s1e1w(va) == Some(pa),
                "CPU translates {} to {:?}, not {}",
                Addr(va),
                at_s1e1w(va).map(Addr),
                Addr(pa)
            );
            if memblock::is_reserved(pa) {
                // Reserved pages (the image, the DTB) are read, not written.
                // SAFETY: mapped RAM.
                let _ = unsafe { core::ptr::read_volatile(va as *const u64) };
            } else {
                let p = va as *mut u64;
                // SAFETY: a free page of RAM, mapped read-write; restored after.
                unsafe {
                    let old = p.read_volatile();
                    p.write_volatile(pa ^ 0x5a5a_5a5a);
                    check!(p.read_volatile() == pa ^ 0x5a5a_5a5a, "write to {} did not stick", Addr(va));
                    p.write_volatile(old);
                }
            }
            check!(physaddr::virt_addr_valid(va), "virt_addr_valid({}) is false", Addr(va));
            checked += 1;
        }
    }
    // Nothing outside RAM: the gaps between ranges, no-map regions, past the end.
    let (_, ram_end) = physaddr::ram_bounds();
    let memstart = physaddr::phys_offset();
    let mut holes = Vec::new();
    let mut prev = memstart;
    for r in mem.mapped.iter() {
        if r.base > prev {
            holes.push((prev, r.base));
        }
        prev = r.end;
    }
    for &(base, end) in &holes {
        pr_info!("linear: hole PA {} .. {} is not mapped", Addr(base), Addr(end));
    }
    holes.push((ram_end, ram_end + PMD_SIZE));
    for (base, end) in holes {
        for pa in [base, end - PAGE_SIZE, base + (end - base) / 2 / PAGE_SIZE * PAGE_SIZE] {
            let va = PAGE_OFFSET + (pa - memstart);
            check!(at_s1e1r(va).is_none(), "{} (PA {}) is outside RAM but mapped", Addr(va), Addr(pa));
            check!(!physaddr::virt_addr_valid(va), "virt_addr_valid({}) is true outside RAM", Addr(va));
        }
    }
    // Never executable: check one descriptor per range through the walker.
    let mut t = LinearTables::new();
    for r in mem.mapped.iter() {
        let w = pgtable::walk(&mut t, LinearTables::root(), physaddr::__va(r.base));
        let (_, d) = w.leaf().ok_or("linear range not mapped")?;
        check!(d & pte::PXN != 0 && d & pte::UXN != 0, "linear map at {} is executable", Addr(physaddr::__va(r.base)));
    }
    // The image's alias: text and rodata read-only, never executable.
    let (text, _) = physaddr::image_bounds();
    let alias = physaddr::lm_alias(physaddr::ImageAddr::from_raw(text));
    check!(at_s1e1r(alias.0).is_some() && at_s1e1w(alias.0).is_none(), "the linear alias of the text is writable");
    let alias_ro = physaddr::lm_alias(image_sym!(PROBE));
    check!(at_s1e1r(alias_ro.0).is_some() && at_s1e1w(alias_ro.0).is_none(), "the linear alias of rodata is writable");
    // Table pages: exactly the fewest possible for the mapped ranges.
    let got = linear_map::linear_table_counts();
    // The linear map is cut where the image's read-only alias starts and ends.
    let mut pieces = Vec::new();
    let _ = linear_map::linear_pieces(&mem.mapped, &mut |pa, size, _| {
        pieces.push((physaddr::__va(pa), size));
        Ok(())
    });
    let want = pgtable::min_tables(pieces.into_iter());
    pr_info!(
        "linear map tables: L1 {} L2 {} L3 {}; fewest possible: L1 {} L2 {} L3 {}",
        got[1],
        got[2],
        got[3],
        want[1],
        want[2],
        want[3]
    );
    check!(got == want, "linear map used {:?} table pages per level, fewest possible is {:?}", got, want);
    pr_info!("checked {} sampled pages in {} range(s)", checked, mem.mapped.len());
    Ok(())
}

pub(super) fn test_alloc() -> Outcome {
    let (text, end) = physaddr::image_bounds();
    let image = (physaddr::kimg_to_phys(text), physaddr::kimg_to_phys(end));
    let before = page_alloc::free_bytes();
    let mut got = Vec::new();
    for i in 0..512u64 {
        let n = 1 + (i % 7);
        let pa = page_alloc::alloc_pages(n).ok_or("page allocator ran out")?;
        for k in 0..n {
            let p = pa.0 + k * PAGE_SIZE;
            check!(memblock::is_mapped_ram(p), "page {} is not mapped RAM", Addr(p));
            check!(!memblock::is_reserved(p), "page {} is reserved", Addr(p));
            check!(p < image.0 || p >= image.1, "page {} is inside the kernel image", Addr(p));
            // SAFETY: a page just handed out, mapped through the linear map.
            unsafe { core::ptr::write_volatile(physaddr::__va(p) as *mut u64, p) };
        }
        got.push((pa, n));
    }
    for &(pa, n) in &got {
        for k in 0..n {
            let p = pa.0 + k * PAGE_SIZE;
            // SAFETY: as above.
            let v = unsafe { core::ptr::read_volatile(physaddr::__va(p) as *const u64) };
            check!(v == p, "page {} was handed out twice (reads {})", Addr(p), Addr(v));
        }
    }
    for (pa, n) in got {
        page_alloc::free_pages(pa, n);
    }
    check!(
        page_alloc::free_bytes() == before,
        "free memory {} after freeing all, {} before",
        page_alloc::free_bytes(),
        before
    );
    // The heap: collections work and live in the linear map.
    let mut map = BTreeMap::new();
    for i in 0..1000u64 {
        map.insert(i, format!("value {}", i));
    }
    check!(map.get(&777).map(String::as_str) == Some("value 777"), "BTreeMap lost a value");
    let v: Vec<u64> = (0..10_000).collect();
    let va = v.as_ptr() as u64;
    check!(
        physaddr::is_lm_address(va) && physaddr::virt_addr_valid(va),
        "heap pointer {} is not a valid linear address",
        Addr(va)
    );
    check!(at_s1e1r(va) == Some(physaddr::__pa(va)), "__pa of a heap pointer disagrees with the CPU");
    check!(v.iter().sum::<u64>() == 49_995_000, "heap vector corrupted");
    let (used, free) = crate::mm::heap::usage();
    pr_info!("heap: {} bytes used, {} free; page allocator back to {} free bytes", used, free, before);
    Ok(())
}

pub(super) fn test_vmalloc() -> Outcome {
    // The free space runs to the layout's VMALLOC_END for the VA size in
    // use (the boot log's table), above the image's level-2 entries.
    let (_, top) = vmalloc::free_span().ok_or("vmalloc not initialised")?;
    let end = layout::ACTIVE.vmalloc_end(crate::arch::sysreg::vabits_actual());
    check!(top == end, "vmalloc space ends at {}, VMALLOC_END is {}", Addr(top), Addr(end));
    let a = vmalloc::vmalloc(5 * PAGE_SIZE).map_err(|e| format!("vmalloc: {}", e))?;
    let b = vmalloc::vmalloc(1).map_err(|e| format!("vmalloc: {}", e))?;
    check!(
        physaddr::region_of(a.0) == layout::Region::Vmalloc,
        "vmalloc address {} is not in the vmalloc area",
        Addr(a.0)
    );
    let areas = vmalloc::areas();
    let area = areas.iter().find(|x| x.va == a.0).ok_or("area not recorded")?;
    let vmalloc::AreaKind::Vmalloc(pages) = &area.kind else { return Err("wrong area kind".into()) };
    let mut t = LinearTables::new();
    for (i, pa) in pages.iter().enumerate() {
        let va = a.0 + i as u64 * PAGE_SIZE;
        let w = pgtable::walk(&mut t, LinearTables::root(), va);
        check!(w.phys() == Some(pa.0), "walk of {} gives {:?}, page is {}", Addr(va), w.phys().map(Addr), Addr(pa.0));
        check!(at_s1e1w(va) == Some(pa.0), "CPU translation of {} disagrees", Addr(va));
        // SAFETY: mapped read-write just now.
        unsafe { (va as *mut u64).write_volatile(va) };
    }
    let guard = a.0 + 5 * PAGE_SIZE;
    check!(at_s1e1r(guard).is_none(), "guard page {} is mapped", Addr(guard));
    check!(b.0 >= guard + PAGE_SIZE || b.0 + PAGE_SIZE <= a.0, "areas overlap a guard page");
    // Physical contiguity is not required: report what we got.
    let contiguous = pages.windows(2).all(|w| w[1].0 == w[0].0 + PAGE_SIZE);
    pr_info!(
        "vmalloc area {} -> pages {:?} (contiguous: {})",
        Addr(a.0),
        pages.iter().map(|p| Addr(p.0)).collect::<Vec<_>>(),
        contiguous
    );
    vmalloc::vfree(a).map_err(|e| format!("vfree: {}", e))?;
    check!(at_s1e1r(a.0).is_none(), "vfree left {} mapped", Addr(a.0));
    check!(vmalloc::vfree(a).is_err(), "double vfree was accepted");
    vmalloc::vfree(b).map_err(|e| format!("vfree: {}", e))?;
    check!(vmalloc::vmalloc(0).is_err(), "vmalloc(0) succeeded");
    // The console's ioremap: Device-nGnRE, never executable.
    let uart = crate::console::printk::console_base().ok_or("no console")?;
    let w = pgtable::walk(&mut t, LinearTables::root(), uart);
    let (_, d) = w.leaf().ok_or("UART not mapped")?;
    check!(
        pte::Prot::from_desc(d).map(|p| p.mem) == Some(MemType::DeviceNgnre),
        "UART mapping is not Device-nGnRE: {:#x}",
        d
    );
    check!(d & pte::PXN != 0, "UART mapping is executable");
    let pa = crate::console::printk::console_pa().ok_or("the console is not a UART")?;
    check!(w.phys() == Some(pa), "UART maps to {:?}, not {}", w.phys().map(Addr), Addr(pa));
    check!(at_s1e1r(fixmap::fix_to_virt(fixmap::FixSlot::EarlyCon)).is_none(), "earlycon fixmap slot still mapped");
    Ok(())
}

static PROBE: [u8; 64] = [0xa5; 64];

pub(super) fn test_translate() -> Outcome {
    let mem = memblock::memory().ok_or("no memory description")?;
    // lm_alias(sym) reads the same bytes as sym.
    let alias = physaddr::lm_alias(image_sym!(PROBE));
    check!(physaddr::is_lm_address(alias.0), "lm_alias gave a non-linear address {}", Addr(alias.0));
    // SAFETY: the linear alias of an image static: mapped RAM.
    let bytes = unsafe { core::slice::from_raw_parts(alias.as_ptr::<u8>(), 64) };
    check!(bytes == &PROBE[..], "lm_alias(PROBE) reads different bytes");
    check!(physaddr::__pa(alias.0) == physaddr::pa_symbol(image_sym!(PROBE)).0, "__pa(lm_alias(x)) != __pa_symbol(x)");
    // The fast paths agree with the plain arithmetic of vakern_mm::addr.
    check!(
        alias == physaddr::lm_alias_composed(image_sym!(PROBE)),
        "lm_alias fast path disagrees with __va(__pa_symbol())"
    );
    let (po, ko) = (physaddr::phys_offset(), physaddr::kimage_voffset());
    let (text0, end0) = physaddr::image_bounds();
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    for _ in 0..1000 {
        let r = mem.mapped.iter().nth((rng.next_u64() % mem.mapped.len() as u64) as usize).unwrap();
        let pa = r.base + rng.next_u64() % r.size();
        let lin = vakern_mm::addr::phys_to_virt(pa, po);
        check!(
            physaddr::__pa(lin) == vakern_mm::addr::virt_to_phys(lin, po, ko),
            "__pa fast path wrong at {}",
            Addr(lin)
        );
        let img = text0 + rng.next_u64() % (end0 - text0);
        let nodebug = physaddr::virt_to_phys_nodebug(img);
        check!(nodebug == vakern_mm::addr::virt_to_phys(img, po, ko), "__pa fast path wrong at {}", Addr(img));
    }
    // The fast path picks the version's rule for every address, kernel or
    // not: addresses with each count of leading ones (0 to 64, the index of
    // 6.12's table), and both ends of the linear range.
    let rule = |x: u64| {
        let sub = if vakern_mm::addr::lm_test(x) { PAGE_OFFSET.wrapping_sub(po) } else { ko };
        x.wrapping_sub(sub)
    };
    let end_of_linear = layout::PAGE_END;
    let edges = [PAGE_OFFSET.wrapping_sub(1), PAGE_OFFSET, end_of_linear.wrapping_sub(1), end_of_linear];
    for ones in 0..=64u32 {
        let top = u64::MAX.checked_shl(64 - ones).unwrap_or(0);
        let below = (u64::MAX >> ones) >> 1;
        for x in [top, top | (rng.next_u64() & below), top | below].into_iter().chain(edges) {
            let fast = physaddr::virt_to_phys_nodebug(x);
            check!(fast == rule(x), "__pa fast path at {} gives {}, the rule {}", Addr(x), Addr(fast), Addr(rule(x)));
        }
    }
    // __pa_symbol(_end) is allowed.
    let (_, end) = physaddr::image_bounds();
    let pa_end = physaddr::__pa_symbol(end);
    check!(pa_end == end - physaddr::kimage_voffset(), "__pa_symbol(_end) = {}", Addr(pa_end));
    // Round trips at the edges of every range.
    for r in mem.mapped.iter() {
        for pa in [r.base, r.base + 8, r.end - 8, r.end - PAGE_SIZE] {
            let va = physaddr::phys_to_virt(PhysAddr(pa));
            check!(physaddr::virt_to_phys(va) == PhysAddr(pa), "round trip of {} failed", Addr(pa));
            check!(physaddr::virt_to_pfn(va) == pa >> PAGE_SHIFT, "virt_to_pfn wrong");
            check!(physaddr::pfn_to_virt(pa >> PAGE_SHIFT) == VirtAddr(va.0 & !(PAGE_SIZE - 1)), "pfn_to_virt wrong");
            check!(physaddr::pfn_valid(pa >> PAGE_SHIFT), "pfn_valid false for RAM");
        }
    }
    if let Some(uart) = crate::console::printk::console_pa() {
        check!(!physaddr::pfn_valid(uart >> PAGE_SHIFT), "pfn_valid true for the UART at {}", Addr(uart));
    }
    // pfn_valid and virt_addr_valid agree page by page over all RAM and the
    // holes in it; no-map RAM is neither (Linux 4.10: memblock_is_map_memory).
    let (ram_start, ram_end) = physaddr::ram_bounds();
    let (mut pages, mut no_map) = (0u64, 0u64);
    let mut pa = ram_start;
    while pa < ram_end {
        let va = physaddr::phys_to_virt_unchecked(pa);
        let (pv, vv) = (physaddr::pfn_valid(pa >> PAGE_SHIFT), physaddr::virt_addr_valid(va));
        check!(pv == vv, "pfn_valid({:#x}) = {} but virt_addr_valid({}) = {}", pa >> PAGE_SHIFT, pv, Addr(va), vv);
        if memblock::is_ram(pa) && !memblock::is_mapped_ram(pa) {
            check!(!pv, "pfn_valid true for no-map RAM at {}", Addr(pa));
            no_map += 1;
        }
        pages += 1;
        pa += 64 * PAGE_SIZE;
    }
    pr_info!("pfn_valid agrees with virt_addr_valid on {} sampled pages, {} of them no-map RAM", pages, no_map);
    check!(!physaddr::is_lm_address(0x0000_8000_0000_0000), "a user address with bit 47 set passed __is_lm_address");
    pr_info!("debug_virtual reports so far: {}", physaddr::reports());
    check!(physaddr::reports() == 0, "{} debug_virtual report(s) during good uses", physaddr::reports());
    Ok(())
}
