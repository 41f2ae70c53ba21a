//! Passing means: `map_range`, `unmap_range` and `walk`, run over a host buffer standing for physical memory, agree with a reference model on every translation, descriptor, block size, contiguous hint and table count, and report each kind of bad request with the right `MapError`; and every descriptor write they make, replayed in order, keeps the rules of a live table: no write `bbm::check` refuses, a flush between making an entry invalid and making it valid again, no contiguous run whose valid entries disagree at any moment, and a store barrier between zeroing a table and linking it.

use crate::common;

use common::Draws as Rng;
use std::collections::{BTreeMap, BTreeSet};
use vakern_mm::bbm::{self, Reason, Violation};
use vakern_mm::layout::*;
use vakern_mm::pgtable::*;

/// Entries in a contiguous run: 16 at both levels with 4 KiB pages, the
/// granule these host tests run with.
const CONT_ENTRIES: u64 = CONT_PTES;
const _: () = assert!(CONT_PTES == CONT_PMDS);
use vakern_mm::pte::{self, Kind, MemType, Prot};

/// Physical address of table page 0 of the host memory.
const BASE: u64 = 0x4000_0000;
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// One thing the mapper did to the tables, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// A root table was made by the test (zeroed, never linked).
    Root(usize),
    /// `alloc_table` handed out table `t`, zeroed, for `level`.
    Alloc(usize, u32),
    /// `store_barrier`.
    Barrier,
    /// `populate` linked `child` into entry `idx` of `parent`, writing `desc`.
    Populate { parent: usize, idx: usize, child: usize, desc: u64 },
    /// `write`: entry `idx` of table `t` went from `old` to `new`.
    Write { t: usize, idx: usize, old: u64, new: u64 },
    /// `flush` of a virtual address.
    Flush(u64),
}

/// Physical memory for page tables: page `i` is at `BASE + i * 4096`.
/// Every call of the mapper is recorded; dropping the memory replays the
/// record through the rules (see [`replay`]) and fails on any breach.
struct Mem {
    pages: Vec<[u64; ENTRIES]>,
    /// The level each page was allocated for.
    levels: Vec<u32>,
    /// Most tables `alloc_table` may still hand out (roots not counted).
    limit: Option<u64>,
    /// Tables allocated, per level.
    allocs: [u64; 4],
    /// Addresses passed to `flush`.
    flushes: Vec<u64>,
    /// Everything the mapper did, in order.
    log: Vec<Event>,
    /// What the mapper's checked mode reported.
    violations: Vec<Violation>,
    /// Stands for another agent writing the tables: on the next flush, the
    /// entry last made invalid gets its old descriptor back.
    meddle: bool,
    /// Replay the log when dropped.
    replay_on_drop: bool,
}

impl Mem {
    fn new() -> Mem {
        Mem {
            pages: Vec::new(),
            levels: Vec::new(),
            limit: None,
            allocs: [0; 4],
            flushes: Vec::new(),
            log: Vec::new(),
            violations: Vec::new(),
            meddle: false,
            replay_on_drop: true,
        }
    }

    /// A new root (level-0) table, not counted as an allocation.
    fn root(&mut self) -> usize {
        self.pages.push([0; ENTRIES]);
        self.levels.push(0);
        let t = self.pages.len() - 1;
        self.log.push(Event::Root(t));
        t
    }

    fn pa(t: usize) -> u64 {
        BASE + t as u64 * PAGE_SIZE
    }

    /// Replay everything logged so far and require it to be clean, and the
    /// checked mode to have reported nothing.
    fn assert_safe(&self) -> Replay {
        let r = replay(&self.log);
        assert!(r.is_clean(), "{:#x?}", r);
        assert_eq!(self.violations, vec![], "the checked mode reported unsafe writes");
        r
    }

    /// The events logged since `from`.
    fn since(&self, from: usize) -> Vec<Event> {
        self.log[from..].to_vec()
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        if self.replay_on_drop && !std::thread::panicking() {
            self.assert_safe();
        }
    }
}

impl TableAccess for Mem {
    type Table = usize;

    const CHECK_WRITES: bool = true;

    fn alloc_table(&mut self, level: u32) -> Result<usize, MapError> {
        assert!((1..=3).contains(&level), "alloc_table for level {}", level);
        if let Some(limit) = self.limit {
            if self.allocs.iter().sum::<u64>() >= limit {
                return Err(MapError::NoMemory);
            }
        }
        self.allocs[level as usize] += 1;
        self.pages.push([0; ENTRIES]);
        self.levels.push(level);
        let t = self.pages.len() - 1;
        self.log.push(Event::Alloc(t, level));
        Ok(t)
    }

    fn table_at(&mut self, pa: u64, level: u32) -> usize {
        assert!(pa >= BASE && is_aligned(pa, PAGE_SIZE), "table_at({:#x})", pa);
        let t = ((pa - BASE) / PAGE_SIZE) as usize;
        assert!(t < self.pages.len(), "table_at({:#x}): no such table", pa);
        assert_eq!(self.levels[t], level, "table at {:#x} used at the wrong level", pa);
        t
    }

    fn read(&mut self, table: usize, idx: usize) -> u64 {
        self.pages[table][idx]
    }

    fn write(&mut self, table: usize, idx: usize, desc: u64) {
        let old = self.pages[table][idx];
        self.log.push(Event::Write { t: table, idx, old, new: desc });
        self.pages[table][idx] = desc;
    }

    fn populate(&mut self, parent: usize, idx: usize, level: u32, child: usize) {
        assert_eq!(self.levels[parent], level, "populate: parent level");
        assert_eq!(self.levels[child], level + 1, "populate: child level");
        assert_eq!(self.pages[parent][idx], 0, "populate over a live entry");
        assert!(self.pages[child].iter().all(|&d| d == 0), "populate with a non-zero table");
        let desc = pte::table_desc(Mem::pa(child));
        self.log.push(Event::Populate { parent, idx, child, desc });
        self.pages[parent][idx] = desc;
    }

    fn flush(&mut self, va: u64) {
        self.flushes.push(va);
        self.log.push(Event::Flush(va));
        if self.meddle {
            self.meddle = false;
            let broken = self.log.iter().rev().find_map(|e| match *e {
                Event::Write { t, idx, old, new: 0 } if old != 0 => Some((t, idx, old)),
                _ => None,
            });
            let (t, idx, old) = broken.expect("something was made invalid before the flush");
            // Not logged: the mapper did not make this write.
            self.pages[t][idx] = old;
        }
    }

    fn store_barrier(&mut self) {
        self.log.push(Event::Barrier);
    }

    fn unsafe_write(&mut self, v: &Violation) {
        self.violations.push(*v);
    }
}

/// Bits 47..0 of a virtual address: what selects the entries of a walk.
const VA_MASK: u64 = (1 << 48) - 1;

/// What a replay of the log found.
#[derive(Debug, Default)]
struct Replay {
    /// Descriptor writes, populates included.
    writes: usize,
    /// Valid entries made invalid.
    breaks: usize,
    /// Flushes.
    flushes: usize,
    /// Store barriers.
    barriers: usize,
    /// Writes `bbm::check` refuses: (table, index, old, new, why).
    unsafe_writes: Vec<(usize, usize, u64, u64, Reason)>,
    /// Entries made valid again after being made invalid, with no flush
    /// covering them in between: (table, index).
    made_before_flush: Vec<(usize, usize)>,
    /// Entries made invalid and never flushed afterwards.
    never_flushed: Vec<(usize, usize)>,
    /// Tables linked with no store barrier since they were zeroed.
    linked_before_barrier: Vec<usize>,
    /// (table, first index) of runs whose valid entries disagreed after some write.
    mixed_runs: Vec<(usize, usize)>,
    /// Writes whose recorded old value is not what the replay holds:
    /// something wrote the tables behind the mapper's back.
    out_of_sync: Vec<(usize, usize)>,
}

impl Replay {
    fn is_clean(&self) -> bool {
        self.unsafe_writes.is_empty()
            && self.made_before_flush.is_empty()
            && self.never_flushed.is_empty()
            && self.linked_before_barrier.is_empty()
            && self.mixed_runs.is_empty()
            && self.out_of_sync.is_empty()
    }
}

/// True if the valid entries of the aligned group of 16 starting at
/// `first` disagree: some carry the hint and not all of them do, or they
/// differ in attributes, or their output addresses are not consecutive
/// from a run-aligned start. Holes (invalid entries) are allowed: taking a
/// run down entry by entry is safe.
fn run_is_mixed(page: &[u64; ENTRIES], first: usize, level: u32) -> bool {
    let run = &page[first..first + CONT_ENTRIES as usize];
    let valid: Vec<(usize, u64)> = run.iter().copied().enumerate().filter(|&(_, d)| d & pte::VALID != 0).collect();
    if !valid.iter().any(|&(_, d)| d & pte::CONT != 0) {
        return false;
    }
    let sz = level_size(level);
    let (i0, d0) = valid[0];
    let start = pte::desc_addr(d0).wrapping_sub(i0 as u64 * sz);
    level < 2
        || !is_aligned(start, sz * CONT_ENTRIES)
        || valid.iter().any(|&(i, d)| {
            d & pte::CONT == 0
                || d & pte::ATTR_MASK != d0 & pte::ATTR_MASK
                || pte::desc_addr(d) != start.wrapping_add(i as u64 * sz)
        })
}

/// Replay a log from empty tables and apply the rules to every step.
fn replay(log: &[Event]) -> Replay {
    let mut r = Replay::default();
    let mut pages: BTreeMap<usize, [u64; ENTRIES]> = BTreeMap::new();
    let mut levels: BTreeMap<usize, u32> = BTreeMap::new();
    // Bits 47..0 of the first address each table maps (roots: 0).
    let mut base: BTreeMap<usize, u64> = BTreeMap::new();
    let mut pending: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut unbarriered: BTreeSet<usize> = BTreeSet::new();
    for &e in log {
        match e {
            Event::Root(t) => {
                pages.insert(t, [0; ENTRIES]);
                levels.insert(t, 0);
                base.insert(t, 0);
            }
            Event::Alloc(t, level) => {
                pages.insert(t, [0; ENTRIES]);
                levels.insert(t, level);
                unbarriered.insert(t);
            }
            Event::Barrier => {
                r.barriers += 1;
                unbarriered.clear();
            }
            Event::Populate { parent, idx, child, desc } => {
                r.writes += 1;
                let level = levels[&parent];
                let old = pages[&parent][idx];
                if let Err(why) = bbm::check(old, desc, level) {
                    r.unsafe_writes.push((parent, idx, old, desc, why));
                }
                if unbarriered.contains(&child) {
                    r.linked_before_barrier.push(child);
                }
                base.insert(child, base[&parent] + idx as u64 * level_size(level));
                pages.get_mut(&parent).unwrap()[idx] = desc;
            }
            Event::Write { t, idx, old, new } => {
                r.writes += 1;
                let level = levels[&t];
                let page = pages.get_mut(&t).unwrap();
                if page[idx] != old {
                    r.out_of_sync.push((t, idx));
                }
                let old = page[idx];
                if let Err(why) = bbm::check(old, new, level) {
                    r.unsafe_writes.push((t, idx, old, new, why));
                }
                let (was, is) = (old & pte::VALID != 0, new & pte::VALID != 0);
                if was && !is {
                    r.breaks += 1;
                    pending.insert((t, idx));
                }
                if is && pending.remove(&(t, idx)) {
                    r.made_before_flush.push((t, idx));
                }
                page[idx] = new;
                let first = idx & !(CONT_ENTRIES as usize - 1);
                if run_is_mixed(page, first, level) {
                    r.mixed_runs.push((t, first));
                }
            }
            Event::Flush(va) => {
                r.flushes += 1;
                let va = va & VA_MASK;
                pending.retain(|&(t, idx)| {
                    let sz = level_size(levels[&t]);
                    let start = base[&t] + idx as u64 * sz;
                    !(start..start + sz).contains(&va)
                });
            }
        }
    }
    r.never_flushed = pending.into_iter().collect();
    r
}

/// One mapping of the reference model.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    va: u64,
    end: u64,
    pa: u64,
    prot: Prot,
    flags: MapFlags,
}

impl Mapping {
    fn pa_of(&self, va: u64) -> u64 {
        self.pa + (va - self.va)
    }
    fn size(&self) -> u64 {
        self.end - self.va
    }
    fn contains(&self, va: u64, len: u64) -> bool {
        self.va <= va && va.checked_add(len).is_some_and(|e| e <= self.end)
    }

    /// The leaf the mapper must have made for `va`: level and descriptor,
    /// computed from the rules (largest block whose whole span lies in the
    /// request with a matching physical alignment; CONT on an aligned run
    /// of 16 inside the request with a run-aligned physical start).
    fn expected_leaf(&self, va: u64) -> (u32, u64) {
        let level = if self.flags.blocks {
            [1u32, 2]
                .into_iter()
                .find(|&l| {
                    let sz = level_size(l);
                    let b = align_down(va, sz);
                    self.contains(b, sz) && is_aligned(self.pa_of(b), sz)
                })
                .unwrap_or(3)
        } else {
            3
        };
        let sz = level_size(level);
        let b = align_down(va, sz);
        let mut desc = pte::leaf_desc(self.pa_of(b), level, self.prot);
        if self.flags.cont && level >= 2 {
            let run = sz * CONT_ENTRIES;
            let rs = align_down(va, run);
            if self.contains(rs, run) && is_aligned(self.pa_of(rs), run) {
                desc |= pte::CONT;
            }
        }
        (level, desc)
    }
}

/// The reference: mappings keyed by first VA, with a root per half of the
/// address space (TTBR0 and TTBR1), as on the hardware.
struct Model {
    mem: Mem,
    roots: [usize; 2],
    maps: BTreeMap<u64, Mapping>,
}

impl Model {
    fn new() -> Model {
        let mut mem = Mem::new();
        let roots = [mem.root(), mem.root()];
        Model { mem, roots, maps: BTreeMap::new() }
    }

    fn root_for(&self, va: u64) -> usize {
        self.roots[(va >> 63) as usize]
    }

    fn lookup(&self, va: u64) -> Option<&Mapping> {
        self.maps.range(..=va).next_back().map(|(_, m)| m).filter(|m| va < m.end)
    }

    fn overlaps(&self, va: u64, end: u64) -> bool {
        if self.lookup(va).is_some() {
            return true;
        }
        self.maps.range(va..end).next().is_some()
    }

    fn map(&mut self, m: Mapping) -> Result<TableCounts, MapError> {
        let before = self.mem.allocs;
        let root = self.root_for(m.va);
        let r = map_range(&mut self.mem, root, m.va, m.pa, m.size(), m.prot, m.flags);
        if let Ok(c) = r {
            let mut delta = [0; 4];
            for l in 0..4 {
                delta[l] = self.mem.allocs[l] - before[l];
            }
            assert_eq!(c.per_level, delta, "reported table counts for {:x?}", m);
            assert_eq!(c.per_level[0], 0);
            self.maps.insert(m.va, m);
        }
        r
    }

    /// Walk `va` and compare with the model.
    fn probe(&mut self, va: u64) {
        let root = self.root_for(va);
        let w = walk(&mut self.mem, root, va);
        assert_eq!(w.va, va);
        match self.lookup(va).copied() {
            Some(m) => {
                let (level, desc) = m.expected_leaf(va);
                assert_eq!(w.leaf(), Some((level, desc)), "leaf for {:#x} in {:x?}", va, m);
                assert_eq!(w.phys(), Some(m.pa_of(va)), "phys of {:#x} in {:x?}", va, m);
                assert_eq!(Prot::from_desc(desc), Some(m.prot));
                // The walk recorded a table for every level down to the leaf.
                for l in 0..=level as usize {
                    assert!(w.tables[l].is_some() && w.descs[l].is_some());
                }
                for l in level as usize + 1..4 {
                    assert!(w.descs[l].is_none());
                }
            }
            None => {
                assert_eq!(w.leaf(), None, "{:#x} should be unmapped", va);
                assert_eq!(w.phys(), None);
            }
        }
    }

    /// Read every table and check that the leaves found are exactly the
    /// model's, and that every contiguous run obeys the architecture's rules.
    fn scan(&mut self) {
        let mut bytes = 0u64;
        for half in 0..2 {
            let top = if half == 1 { 0xffff_u64 << 48 } else { 0 };
            let root = self.roots[half];
            bytes += self.scan_table(root, 0, top);
        }
        let want: u64 = self.maps.values().map(Mapping::size).sum();
        assert_eq!(bytes, want, "bytes mapped in the tables vs the model");
    }

    fn scan_table(&mut self, t: usize, level: u32, base: u64) -> u64 {
        let sz = level_size(level);
        let entries = self.mem.pages[t];
        check_cont_runs(&entries, level);
        let mut bytes = 0;
        for (i, &d) in entries.iter().enumerate() {
            let va = base + i as u64 * sz;
            match pte::kind(d, level) {
                Kind::Invalid => {}
                Kind::Table => {
                    let child = self.mem.table_at(pte::desc_addr(d), level + 1);
                    bytes += self.scan_table(child, level + 1, va);
                }
                Kind::Block | Kind::Page => {
                    let m = *self.lookup(va).unwrap_or_else(|| panic!("leaf at {:#x} not in the model", va));
                    assert_eq!(m.expected_leaf(va), (level, d), "leaf at {:#x} of {:x?}", va, m);
                    bytes += sz;
                }
                Kind::Reserved => panic!("reserved descriptor {:#x} at level {}", d, level),
            }
        }
        bytes
    }
}

/// Every aligned group of 16 entries in which one has the contiguous hint
/// must be 16 valid leaves with the hint, the same attributes, and
/// consecutive output addresses starting at a run-aligned address.
fn check_cont_runs(entries: &[u64; ENTRIES], level: u32) {
    let sz = level_size(level);
    for (g, run) in entries.chunks(CONT_ENTRIES as usize).enumerate() {
        if run.iter().all(|d| d & pte::CONT == 0 || d & pte::VALID == 0) {
            continue;
        }
        assert!(level >= 2, "contiguous hint at level {}", level);
        let first = run[0];
        for (i, &d) in run.iter().enumerate() {
            let k = pte::kind(d, level);
            assert!(
                matches!(k, Kind::Block | Kind::Page) && d & pte::CONT != 0,
                "run {} at level {}: entry {} is {:?} {:#x} in a contiguous run",
                g,
                level,
                i,
                k,
                d
            );
            assert_eq!(d & pte::ATTR_MASK, first & pte::ATTR_MASK, "run {}: entry {} attributes differ", g, i);
            assert_eq!(pte::desc_addr(d), pte::desc_addr(first) + i as u64 * sz, "run {}: entry {} address", g, i);
        }
        assert!(is_aligned(pte::desc_addr(first), sz * CONT_ENTRIES), "run {}: output not aligned", g);
    }
}

fn random_prot(rng: &mut Rng) -> Prot {
    match rng.below(6) {
        0 => Prot::KERNEL_ROX,
        1 => Prot::KERNEL_RO,
        2 => Prot::KERNEL_RW,
        3 => Prot::DEVICE,
        _ => Prot { write: rng.chance(1, 2), exec: rng.chance(1, 2), mem: MemType::from_index(rng.below(6)).unwrap() },
    }
}

/// VA windows the random mappings go to: both halves, level-0 boundaries,
/// bit 47 of user space, the top of the address space.
const WINDOWS: [(u64, u64); 6] = [
    (0, 64 * GIB),
    (0x0000_8000_0000_0000 - 32 * GIB, 0x0000_8000_0000_0000 + 32 * GIB),
    (KIMAGE_VADDR, KIMAGE_VADDR + 64 * GIB),
    (PAGE_OFFSET - 32 * GIB, PAGE_OFFSET + 32 * GIB),
    (PAGE_OFFSET + 100 * GIB, PAGE_OFFSET + 164 * GIB),
    // The last page cannot be mapped: `va + size` must not wrap.
    (0u64.wrapping_sub(64 * GIB), 0u64.wrapping_sub(PAGE_SIZE)),
];

/// A random request, or None if it does not fit its window.
fn random_mapping(rng: &mut Rng) -> Option<Mapping> {
    let (ws, we) = *rng.pick(&WINDOWS);
    let prot = random_prot(rng);
    let (align, size, flags, pa_congruent) = match rng.below(6) {
        // Pages, anywhere.
        0 => (PAGE_SIZE, rng.log_size(PAGE_SIZE, 16 * MIB, PAGE_SIZE), MapFlags::PAGES, false),
        // Largest, but physically misaligned with the VA: pages, some runs.
        1 => (PAGE_SIZE, rng.log_size(PAGE_SIZE, 64 * MIB, PAGE_SIZE), MapFlags::LARGEST, false),
        // Same offset in 2 MiB: blocks in the middle, pages at the ends.
        2 => (PAGE_SIZE, rng.log_size(PAGE_SIZE, 2 * GIB, PAGE_SIZE), MapFlags::LARGEST, true),
        // 1 GiB-aligned pairs.
        3 => (GIB, rng.log_size(2 * MIB, 4 * GIB, 2 * MIB), MapFlags::LARGEST, true),
        // 64 KiB-aligned pairs: contiguous pages.
        4 => (CONT_PTE_SIZE, rng.log_size(PAGE_SIZE, 8 * MIB, PAGE_SIZE), MapFlags::LARGEST, true),
        // 32 MiB-aligned pairs: contiguous blocks.
        _ => (CONT_PMD_SIZE, rng.log_size(2 * MIB, 512 * MIB, 2 * MIB), MapFlags::LARGEST, true),
    };
    let span = we - ws;
    if size > span {
        return None;
    }
    let va = align_down(ws + rng.below(span - size + 1), align).max(align_up(ws, align));
    if va + size > we {
        return None;
    }
    let pa = if pa_congruent {
        // Same offset as the VA within 1 GiB, then keep only the requested alignment.
        let gib = rng.below((1 << 48) / GIB - 8) * GIB;
        let pa = gib + (va & (GIB - 1));
        if align >= GIB {
            gib
        } else {
            pa
        }
    } else {
        rng.below(((1 << 48) - size) / PAGE_SIZE) * PAGE_SIZE
    };
    if pa + size > 1 << 48 {
        return None;
    }
    Some(Mapping { va, end: va + size, pa, prot, flags })
}

#[test]
fn random_mappings_agree_with_model() {
    let seed = 0x009a_6e7a_b1e5_u64;
    println!("seed {:#x}", seed);
    let mut rng = Rng::new(seed);
    let mut model = Model::new();
    let mut made = 0;
    let mut level_hits = [0u64; 4];
    let mut cont_hits = 0u64;
    for round in 0..3 {
        let mut tries = 0;
        while made < 120 * (round + 1) && tries < 10_000 {
            tries += 1;
            let Some(m) = random_mapping(&mut rng) else {
                continue;
            };
            if model.overlaps(m.va, m.end) {
                continue;
            }
            model.map(m).unwrap_or_else(|e| panic!("map {:x?}: {}", m, e));
            made += 1;
        }
        assert_eq!(made, 120 * (round + 1), "could not place enough mappings");
        model.scan();

        // Probe inside mappings (with a bias for their edges) and anywhere in the windows.
        let maps: Vec<Mapping> = model.maps.values().copied().collect();
        for i in 0..20_000 {
            let va = if i % 3 == 0 {
                let (ws, we) = *rng.pick(&WINDOWS);
                ws + rng.below(we - ws)
            } else {
                let m = rng.pick(&maps);
                match rng.below(4) {
                    0 => m.va,
                    1 => m.end - 1,
                    2 => m.end.wrapping_add(rng.below(2 * PAGE_SIZE)),
                    _ => m.va + rng.below(m.size()),
                }
            };
            model.probe(va);
            if let Some(m) = model.lookup(va).copied() {
                let (level, desc) = m.expected_leaf(va);
                level_hits[level as usize] += 1;
                cont_hits += (desc & pte::CONT != 0) as u64;
            }
        }

        // Unmap about a third of the mappings, whole, and check what comes back.
        let doomed: Vec<Mapping> = maps.iter().copied().filter(|_| rng.chance(1, 3)).collect();
        for m in &doomed {
            let mut want = Vec::new();
            let mut va = m.va;
            while va < m.end {
                let (level, desc) = m.expected_leaf(va);
                want.push((va, pte::desc_addr(desc)));
                va = align_down(va, level_size(level)) + level_size(level);
            }
            let mut got = Vec::new();
            let flushes = model.mem.flushes.len();
            let root = model.root_for(m.va);
            unmap_range(&mut model.mem, root, m.va, m.size(), |va, pa| got.push((va, pa))).unwrap();
            assert_eq!(got, want, "unmapped leaves of {:x?}", m);
            assert_eq!(model.mem.flushes.len() - flushes, want.len(), "one flush per leaf");
            model.maps.remove(&m.va);
            for _ in 0..20 {
                model.probe(m.va + rng.below(m.size()));
            }
        }
        model.scan();
    }
    println!("leaf levels hit {:?}, contiguous {}", level_hits, cont_hits);
    // The property covered every leaf size and the hint.
    assert!(level_hits[1] > 100 && level_hits[2] > 100 && level_hits[3] > 100, "{:?}", level_hits);
    assert!(cont_hits > 100);
}

fn fresh() -> (Mem, usize) {
    let mut mem = Mem::new();
    let root = mem.root();
    (mem, root)
}

fn leaf(mem: &mut Mem, root: usize, va: u64) -> Option<(u32, u64)> {
    walk(mem, root, va).leaf()
}

#[test]
fn table_counts() {
    // 4 GiB, 1 GiB-aligned: four level-1 blocks in one new level-1 table.
    let (mut mem, root) = fresh();
    let c = map_range(&mut mem, root, PAGE_OFFSET, 0x4000_0000, 4 * GIB, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(c.per_level, [0, 1, 0, 0]);
    assert_eq!(c.total(), 1);
    for i in 0..4 {
        let (level, d) = leaf(&mut mem, root, PAGE_OFFSET + i * GIB + 0x1234).unwrap();
        assert_eq!((level, pte::kind(d, level)), (1, Kind::Block));
        assert_eq!(walk(&mut mem, root, PAGE_OFFSET + i * GIB + 0x1234).phys(), Some(0x4000_0000 + i * GIB + 0x1234));
    }
    assert_eq!(leaf(&mut mem, root, PAGE_OFFSET + 4 * GIB), None);

    // 2 MiB-aligned, not 1 GiB-aligned, 1 GiB long: spans two level-1
    // entries, so two level-2 tables of 2 MiB blocks.
    let (mut mem, root) = fresh();
    let va = PAGE_OFFSET + 2 * MIB;
    let c = map_range(&mut mem, root, va, 0x4020_0000, GIB, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(c.per_level, [0, 1, 2, 0]);
    assert_eq!(leaf(&mut mem, root, va).unwrap().0, 2);
    assert_eq!(leaf(&mut mem, root, va + GIB - 1).unwrap().0, 2);
    assert_eq!(leaf(&mut mem, root, va + GIB), None);

    // The same with 2 MiB blocks not allowed by the PA: pages everywhere.
    let (mut mem, root) = fresh();
    let c = map_range(&mut mem, root, va, 0x4020_1000, 4 * MIB, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(c.per_level, [0, 1, 1, 2]);

    // Pages: three pages in one level-3 table; then two more across a 2 MiB
    // boundary need a second level-3 table.
    let (mut mem, root) = fresh();
    let c =
        map_range(&mut mem, root, PAGE_OFFSET + 0x1000, 0x8000_0000, 0x3000, Prot::KERNEL_RO, MapFlags::PAGES).unwrap();
    assert_eq!(c.per_level, [0, 1, 1, 1]);
    let c = map_range(
        &mut mem,
        root,
        PAGE_OFFSET + 2 * MIB - 0x1000,
        0x9000_0000,
        0x2000,
        Prot::KERNEL_RO,
        MapFlags::PAGES,
    )
    .unwrap();
    assert_eq!(c.per_level, [0, 0, 0, 1]);
    // 1 GiB with pages only: 512 level-3 tables.
    let c = map_range(&mut mem, root, PAGE_OFFSET + GIB, 0x4000_0000, GIB, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    assert_eq!(c.per_level, [0, 0, 1, 512]);
    // A new level-0 entry (another 512 GiB) needs a whole new chain.
    let c =
        map_range(&mut mem, root, PAGE_OFFSET + PGDIR_SIZE, 0x1000, 0x1000, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    assert_eq!(c.per_level, [0, 1, 1, 1]);
    assert_eq!(mem.allocs, [0, 2, 3, 515]);

    // The linear map of QEMU's 1 GiB at 0x4000_0000 is one block.
    let (mut mem, root) = fresh();
    let c = map_range(&mut mem, root, PAGE_OFFSET, 0x4000_0000, GIB, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(c.per_level, [0, 1, 0, 0]);
    // And the image at KIMAGE_VADDR, in the lower part of the kernel half.
    let c = map_range(&mut mem, root, KIMAGE_VADDR, 0x4020_0000, 0x18_0000, Prot::KERNEL_ROX, MapFlags::PAGES).unwrap();
    assert_eq!(c.per_level, [0, 1, 1, 1]);
    assert_eq!(walk(&mut mem, root, KIMAGE_VADDR + 0x1234).phys(), Some(0x4020_1234));
}

/// The contiguous-hint bits of the 16 level-3 entries of the run holding `va`.
fn cont_bits(mem: &mut Mem, root: usize, va: u64, level: u32) -> Vec<bool> {
    let step = level_size(level);
    let run = align_down(va, step * CONT_ENTRIES);
    (0..CONT_ENTRIES)
        .map(|i| {
            let (l, d) = leaf(mem, root, run + i * step).expect("mapped");
            assert_eq!(l, level);
            d & pte::CONT != 0
        })
        .collect()
}

#[test]
fn contiguous_hint() {
    let va = PAGE_OFFSET + 0x10_0000;
    // 16 pages, VA and PA 64 KiB-aligned: all carry the hint.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, 0x4001_0000, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(cont_bits(&mut mem, root, va, 3), vec![true; 16]);
    assert_eq!(leaf(&mut mem, root, va + CONT_PTE_SIZE), None);

    // The same with PAGES: no hint.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, 0x4001_0000, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    assert_eq!(cont_bits(&mut mem, root, va, 3), vec![false; 16]);

    // PA off by one page: no run can be aligned, no hint.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, 0x4001_1000, 4 * CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    for r in 0..4 {
        assert_eq!(cont_bits(&mut mem, root, va + r * CONT_PTE_SIZE, 3), vec![false; 16]);
    }

    // 17 pages: the first 16 are a run, the last page is not.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, 0x4001_0000, CONT_PTE_SIZE + PAGE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(cont_bits(&mut mem, root, va, 3), vec![true; 16]);
    assert_eq!(leaf(&mut mem, root, va + CONT_PTE_SIZE).unwrap().1 & pte::CONT, 0);

    // Start one page into a run: only the runs wholly inside get the hint.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va + PAGE_SIZE, 0x4001_1000, 2 * CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST)
        .unwrap();
    assert_eq!(leaf(&mut mem, root, va + PAGE_SIZE).unwrap().1 & pte::CONT, 0);
    assert_eq!(cont_bits(&mut mem, root, va + CONT_PTE_SIZE, 3), vec![true; 16]);
    assert_eq!(leaf(&mut mem, root, va + 2 * CONT_PTE_SIZE).unwrap().1 & pte::CONT, 0);

    // 32 MiB of 2 MiB blocks, 32 MiB-aligned: all 16 blocks carry the hint.
    let bva = PAGE_OFFSET + CONT_PMD_SIZE;
    let (mut mem, root) = fresh();
    let c = map_range(&mut mem, root, bva, 0x4200_0000, CONT_PMD_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(c.per_level, [0, 1, 1, 0]);
    assert_eq!(cont_bits(&mut mem, root, bva, 2), vec![true; 16]);
    // PA only 2 MiB-aligned: blocks, no hint.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, bva, 0x4220_0000, CONT_PMD_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    assert_eq!(cont_bits(&mut mem, root, bva, 2), vec![false; 16]);
    // 1 GiB blocks never carry it.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, PAGE_OFFSET, 0, 16 * GIB, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    for i in 0..16 {
        let (l, d) = leaf(&mut mem, root, PAGE_OFFSET + i * GIB).unwrap();
        assert_eq!((l, d & pte::CONT), (1, 0));
    }
}

#[test]
fn bad_requests() {
    let (mut mem, root) = fresh();
    let rw = Prot::KERNEL_RW;
    let f = MapFlags::LARGEST;
    for (va, pa, size) in [
        (PAGE_OFFSET + 1, 0x4000_0000, 0x1000),
        (PAGE_OFFSET, 0x4000_0800, 0x1000),
        (PAGE_OFFSET, 0x4000_0000, 0x1001),
        (PAGE_OFFSET, 0x4000_0000, 0x800),
    ] {
        assert_eq!(map_range(&mut mem, root, va, pa, size, rw, f), Err(MapError::Misaligned { va, pa, size }));
    }
    for (va, pa, size) in [
        // Empty.
        (PAGE_OFFSET, 0x4000_0000, 0),
        // Wraps past 2^64.
        (0xffff_ffff_fff0_0000, 0x4000_0000, 0x20_0000),
        // Output beyond 48 bits.
        (PAGE_OFFSET, (1 << 48) - 0x1000, 0x2000),
        (PAGE_OFFSET, 1 << 48, 0x1000),
        // Non-canonical, or leaving the user half.
        (0x0001_0000_0000_0000, 0x4000_0000, 0x1000),
        (0x8000_0000_0000_0000, 0x4000_0000, 0x1000),
        (0x0000_ffff_ffff_f000, 0x4000_0000, 0x2000),
        // From non-canonical into the kernel half.
        (0xfffe_ffff_ffff_f000, 0x4000_0000, 0x2000),
        // The largest request from the top of the user half ends in the
        // non-canonical hole, nowhere near the kernel half.
        (0x0000_ffff_ffff_f000, 0, 1 << 48),
        // Starting in the hole, ending in the kernel half.
        (0xfffe_0000_0000_0000, 0, 1 << 48),
    ] {
        assert_eq!(map_range(&mut mem, root, va, pa, size, rw, f), Err(MapError::OutOfRange { va, size }), "{:#x}", va);
    }
    assert_eq!(mem.allocs, [0; 4], "rejected requests allocate nothing");
    assert!(mem.pages[root].iter().all(|&d| d == 0));

    // The edges that are allowed: the last PA, the top of user space, the
    // bottom of the kernel half.
    map_range(&mut mem, root, PAGE_OFFSET, (1 << 48) - 0x1000, 0x1000, rw, f).unwrap();
    map_range(&mut mem, root, 0x0000_ffff_ffff_f000, 0x1000, 0x1000, rw, f).unwrap();
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, VA_START, 0x1000, 0x1000, rw, f).unwrap();
    map_range(&mut mem, root, 0xffff_ffff_ffff_e000, 0x2000, 0x1000, rw, f).unwrap();
}

#[test]
fn overlaps() {
    let (mut mem, root) = fresh();
    let rw = Prot::KERNEL_RW;
    let va = PAGE_OFFSET + GIB;
    map_range(&mut mem, root, va, 0x4000_0000, 4 * PAGE_SIZE, rw, MapFlags::PAGES).unwrap();
    // The same translation again is accepted and changes nothing.
    let before = mem.pages.clone();
    let c = map_range(&mut mem, root, va, 0x4000_0000, 4 * PAGE_SIZE, rw, MapFlags::PAGES).unwrap();
    assert_eq!(c.total(), 0);
    assert_eq!(mem.pages, before);
    // A different PA over the third page: Overlap at that page.
    let (_, third) = leaf(&mut mem, root, va + 2 * PAGE_SIZE).unwrap();
    assert_eq!(
        map_range(&mut mem, root, va + 2 * PAGE_SIZE, 0x5000_0000, 8 * PAGE_SIZE, rw, MapFlags::PAGES),
        Err(MapError::Overlap { va: va + 2 * PAGE_SIZE, existing: third })
    );
    // Different permissions, same PA.
    assert!(matches!(
        map_range(&mut mem, root, va, 0x4000_0000, PAGE_SIZE, Prot::KERNEL_RO, MapFlags::PAGES),
        Err(MapError::Overlap { va: v, .. }) if v == va
    ));
    // A 2 MiB block over the level-3 table holding those pages.
    let l2 = walk(&mut mem, root, va).descs[2].unwrap();
    assert_eq!(pte::kind(l2, 2), Kind::Table);
    assert_eq!(
        map_range(&mut mem, root, va, 0x4000_0000, 2 * MIB, rw, MapFlags::LARGEST),
        Err(MapError::Overlap { va, existing: l2 })
    );
    // Pages inside a block.
    let bva = PAGE_OFFSET + 2 * GIB;
    map_range(&mut mem, root, bva, 0x4000_0000, 2 * MIB, rw, MapFlags::LARGEST).unwrap();
    let (l, block) = leaf(&mut mem, root, bva).unwrap();
    assert_eq!(l, 2);
    assert_eq!(
        map_range(&mut mem, root, bva + 0x1000, 0x7000_1000, 0x1000, rw, MapFlags::PAGES),
        Err(MapError::Overlap { va: bva + 0x1000, existing: block })
    );
    // The same block mapped again with pages (same PA, smaller leaves) still overlaps.
    assert!(matches!(
        map_range(&mut mem, root, bva, 0x4000_0000, 2 * MIB, rw, MapFlags::PAGES),
        Err(MapError::Overlap { .. })
    ));
    // ...even with `replace`, which only swaps leaves of the same size.
    let replace = MapFlags { replace: true, ..MapFlags::PAGES };
    assert!(matches!(
        map_range(&mut mem, root, bva, 0x4000_0000, 2 * MIB, Prot::KERNEL_RO, replace),
        Err(MapError::Overlap { .. })
    ));
    let replace_blocks = MapFlags { replace: true, ..MapFlags::LARGEST };
    assert!(matches!(
        map_range(&mut mem, root, va, 0x4000_0000, 2 * MIB, Prot::KERNEL_RO, replace_blocks),
        Err(MapError::Overlap { .. })
    ));
    assert_eq!(leaf(&mut mem, root, bva), Some((2, block)), "the block is untouched");
}

#[test]
fn no_memory() {
    // A request that needs one table per level.
    let req =
        |mem: &mut Mem, root| map_range(mem, root, PAGE_OFFSET, 0x4000_0000, 0x1000, Prot::KERNEL_RW, MapFlags::PAGES);
    for limit in 0..3 {
        let (mut mem, root) = fresh();
        mem.limit = Some(limit);
        assert_eq!(req(&mut mem, root), Err(MapError::NoMemory), "limit {}", limit);
        assert_eq!(leaf(&mut mem, root, PAGE_OFFSET), None);
    }
    let (mut mem, root) = fresh();
    mem.limit = Some(3);
    assert_eq!(req(&mut mem, root).unwrap().per_level, [0, 1, 1, 1]);

    // Random requests: exactly as many tables as a fresh mapping reports is
    // enough, one fewer is NoMemory.
    let mut rng = Rng::new(0x0e0e);
    for _ in 0..40 {
        let Some(m) = random_mapping(&mut rng) else {
            continue;
        };
        let mut probe = Model::new();
        let need = probe.map(m).unwrap().total();
        let mut model = Model::new();
        model.mem.limit = Some(need);
        model.map(m).unwrap();
        if need > 0 {
            let mut model = Model::new();
            model.mem.limit = Some(need - 1);
            assert_eq!(model.map(m), Err(MapError::NoMemory), "{:x?}", m);
        }
    }
}

#[test]
fn unmap() {
    let (mut mem, root) = fresh();
    let rw = Prot::KERNEL_RW;
    // A 1 GiB block, 2 MiB blocks and pages: [GIB - 4 KiB, 2 GiB + 2 MiB + 8 KiB).
    let va = PAGE_OFFSET + GIB - PAGE_SIZE;
    let pa = 0x1_0000_0000 - PAGE_SIZE;
    let size = PAGE_SIZE + GIB + 2 * MIB + 2 * PAGE_SIZE;
    map_range(&mut mem, root, va, pa, size, rw, MapFlags::LARGEST).unwrap();
    let tables = mem.pages.len();

    // Unmapping half a block is refused.
    assert!(matches!(
        unmap_range(&mut mem, root, PAGE_OFFSET + GIB, GIB / 2, |_, _| ()),
        Err(MapError::Overlap { va: v, .. }) if v == PAGE_OFFSET + GIB
    ));
    assert!(matches!(unmap_range(&mut mem, root, va + 1, PAGE_SIZE, |_, _| ()), Err(MapError::Misaligned { .. })));
    assert!(matches!(unmap_range(&mut mem, root, va, 0x800, |_, _| ()), Err(MapError::Misaligned { .. })));
    assert!(matches!(
        unmap_range(&mut mem, root, 0xffff_ffff_ffff_f000, 0x2000, |_, _| ()),
        Err(MapError::OutOfRange { .. })
    ));
    assert!(walk(&mut mem, root, PAGE_OFFSET + GIB).phys().is_some(), "refused unmap left the block");

    let mut got = Vec::new();
    mem.flushes.clear();
    unmap_range(&mut mem, root, va, size, |v, p| got.push((v, p))).unwrap();
    assert_eq!(
        got,
        vec![
            (va, pa),
            (PAGE_OFFSET + GIB, 0x1_0000_0000),
            (PAGE_OFFSET + 2 * GIB, 0x1_4000_0000),
            (PAGE_OFFSET + 2 * GIB + 2 * MIB, 0x1_4020_0000),
            (PAGE_OFFSET + 2 * GIB + 2 * MIB + PAGE_SIZE, 0x1_4020_1000),
        ]
    );
    assert_eq!(mem.flushes, got.iter().map(|g| g.0).collect::<Vec<_>>());
    for a in [va, PAGE_OFFSET + GIB, PAGE_OFFSET + GIB + 12345, PAGE_OFFSET + 2 * GIB + 2 * MIB + 0x1fff] {
        assert_eq!(walk(&mut mem, root, a).phys(), None);
    }
    // Nothing left to unmap: no callbacks. Remapping reuses the tables.
    unmap_range(&mut mem, root, va, size, |_, _| panic!("nothing is mapped")).unwrap();
    map_range(&mut mem, root, va, pa, size, rw, MapFlags::LARGEST).unwrap();
    assert_eq!(mem.pages.len(), tables);
    assert_eq!(walk(&mut mem, root, va + size - 1).phys(), Some(pa + size - 1));
}

#[test]
fn replace_changes_permissions() {
    let (mut mem, root) = fresh();
    let va = KIMAGE_VADDR;
    let pa = 0x4020_0000;
    // An image-like mapping: 4 MiB of pages, then 4 MiB of LARGEST (2 MiB blocks).
    map_range(&mut mem, root, va, pa, 4 * MIB, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    map_range(&mut mem, root, va + 4 * MIB, pa + 4 * MIB, 4 * MIB, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    let tables = mem.pages.len();

    // Without `replace`: Overlap.
    assert!(matches!(
        map_range(&mut mem, root, va, pa, 0x10_0000, Prot::KERNEL_ROX, MapFlags::PAGES),
        Err(MapError::Overlap { .. })
    ));
    // With it: text becomes ROX, one flush per page.
    mem.flushes.clear();
    let replace = MapFlags { replace: true, ..MapFlags::PAGES };
    map_range(&mut mem, root, va, pa, 0x10_0000, Prot::KERNEL_ROX, replace).unwrap();
    assert_eq!(mem.flushes.len(), 256);
    assert_eq!(mem.pages.len(), tables, "no new tables");
    for off in [0, 0xf_f000] {
        let (l, d) = leaf(&mut mem, root, va + off).unwrap();
        assert_eq!((l, Prot::from_desc(d)), (3, Some(Prot::KERNEL_ROX)));
        assert_eq!(walk(&mut mem, root, va + off).phys(), Some(pa + off));
    }
    let (_, d) = leaf(&mut mem, root, va + 0x10_0000).unwrap();
    assert_eq!(Prot::from_desc(d), Some(Prot::KERNEL_RW), "the next page is unchanged");
    // Blocks can be replaced by blocks.
    let replace_blocks = MapFlags { replace: true, ..MapFlags::LARGEST };
    map_range(&mut mem, root, va + 4 * MIB, pa + 4 * MIB, 2 * MIB, Prot::KERNEL_RO, replace_blocks).unwrap();
    let (l, d) = leaf(&mut mem, root, va + 4 * MIB + 5).unwrap();
    assert_eq!((l, Prot::from_desc(d)), (2, Some(Prot::KERNEL_RO)));
    let (l, d) = leaf(&mut mem, root, va + 6 * MIB).unwrap();
    assert_eq!((l, Prot::from_desc(d)), (2, Some(Prot::KERNEL_RW)));
    // Replacing with the same descriptor flushes nothing.
    mem.flushes.clear();
    map_range(&mut mem, root, va, pa, 0x10_0000, Prot::KERNEL_ROX, replace).unwrap();
    assert!(mem.flushes.is_empty());
}

/// Changing part of a contiguous run must not leave a run whose entries
/// disagree: the TLB may use any entry of a run for all of it.
#[test]
fn replace_and_unmap_keep_contiguous_runs_consistent() {
    let va = PAGE_OFFSET + 0x10_0000;
    let pa = 0x4001_0000;
    let scan = |mem: &Mem| {
        for (t, page) in mem.pages.iter().enumerate() {
            check_cont_runs(page, mem.levels[t]);
        }
    };
    // Replace one page of a run of 16.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, 2 * CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    scan(&mem);
    let replace = MapFlags { replace: true, ..MapFlags::LARGEST };
    map_range(&mut mem, root, va + 3 * PAGE_SIZE, pa + 3 * PAGE_SIZE, PAGE_SIZE, Prot::KERNEL_RO, replace).unwrap();
    scan(&mem);
    let (_, d) = leaf(&mut mem, root, va + 3 * PAGE_SIZE).unwrap();
    assert_eq!(Prot::from_desc(d), Some(Prot::KERNEL_RO));
    for i in 0..32 {
        assert_eq!(walk(&mut mem, root, va + i * PAGE_SIZE).phys(), Some(pa + i * PAGE_SIZE));
    }
    // The second run was not touched and keeps its hint.
    assert_eq!(cont_bits(&mut mem, root, va + CONT_PTE_SIZE, 3), vec![true; 16]);

    // Unmap one page of a run of 16.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    unmap_range(&mut mem, root, va + 5 * PAGE_SIZE, PAGE_SIZE, |_, _| ()).unwrap();
    scan(&mem);
    assert_eq!(walk(&mut mem, root, va + 5 * PAGE_SIZE).phys(), None);
    assert_eq!(walk(&mut mem, root, va + 6 * PAGE_SIZE).phys(), Some(pa + 6 * PAGE_SIZE));

    // The same with 2 MiB blocks.
    let bva = PAGE_OFFSET + CONT_PMD_SIZE;
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, bva, 0x4200_0000, CONT_PMD_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    map_range(&mut mem, root, bva, 0x4200_0000, PMD_SIZE, Prot::KERNEL_RO, replace).unwrap();
    scan(&mem);
    unmap_range(&mut mem, root, bva + PMD_SIZE, PMD_SIZE, |_, _| ()).unwrap();
    scan(&mem);
    // Replacing a whole run keeps the hint on it.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RO, replace).unwrap();
    scan(&mem);
    assert_eq!(cont_bits(&mut mem, root, va, 3), vec![true; 16]);
}

/// Tables emptied by `unmap_range` stay in place; a later block mapping
/// over them must not be refused as an overlap.
#[test]
fn blocks_over_emptied_tables() {
    let (mut mem, root) = fresh();
    let rw = Prot::KERNEL_RW;
    let va = PAGE_OFFSET + GIB;
    // Pages in a 2 MiB slot, unmapped again: the level-3 table stays, empty.
    map_range(&mut mem, root, va + 0x3000, 0x7000_3000, 0x2000, rw, MapFlags::PAGES).unwrap();
    unmap_range(&mut mem, root, va + 0x3000, 0x2000, |_, _| ()).unwrap();
    assert_eq!(pte::kind(walk(&mut mem, root, va).descs[2].unwrap(), 2), Kind::Table);
    let c = map_range(&mut mem, root, va, 0x8000_0000, 2 * MIB, Prot::KERNEL_RO, MapFlags::LARGEST).unwrap();
    assert_eq!(c.total(), 0);
    let (l, d) = leaf(&mut mem, root, va + 0x3000).unwrap();
    assert_eq!((l, pte::desc_addr(d), Prot::from_desc(d)), (2, 0x8000_0000, Some(Prot::KERNEL_RO)));

    // The same one level up: a whole emptied level-2 table under a 1 GiB block.
    let va2 = PAGE_OFFSET + 4 * GIB;
    map_range(&mut mem, root, va2 + 0x1000, 0x9000_1000, 0x1000, rw, MapFlags::PAGES).unwrap();
    map_range(&mut mem, root, va2 + 0x40_0000, 0x9040_0000, 2 * MIB, rw, MapFlags::LARGEST).unwrap();
    unmap_range(&mut mem, root, va2, GIB, |_, _| ()).unwrap();
    map_range(&mut mem, root, va2, 0x1_0000_0000, GIB, rw, MapFlags::LARGEST).unwrap();
    assert_eq!(leaf(&mut mem, root, va2 + 0x1000).map(|(l, _)| l), Some(1));
    assert_eq!(walk(&mut mem, root, va2 + 0x40_1234).phys(), Some(0x1_0040_1234));

    // A table that still maps something keeps refusing the block.
    let va3 = PAGE_OFFSET + 8 * GIB;
    map_range(&mut mem, root, va3, 0x7000_0000, 0x2000, rw, MapFlags::PAGES).unwrap();
    unmap_range(&mut mem, root, va3, 0x1000, |_, _| ()).unwrap();
    assert!(matches!(
        map_range(&mut mem, root, va3, 0x8000_0000, 2 * MIB, rw, MapFlags::LARGEST),
        Err(MapError::Overlap { .. })
    ));
    assert_eq!(walk(&mut mem, root, va3 + 0x1000).phys(), Some(0x7000_1000));
}

#[test]
fn walk_of_empty_and_reserved_entries() {
    let (mut mem, root) = fresh();
    let w = walk(&mut mem, root, PAGE_OFFSET);
    assert_eq!(w.descs, [Some(0), None, None, None]);
    assert_eq!(w.tables, [Some(root), None, None, None]);
    assert_eq!((w.leaf(), w.phys()), (None, None));
    // A level-0 "block" is a reserved encoding: not a mapping.
    let idx = table_index(PAGE_OFFSET, 0);
    mem.pages[root][idx] = 0x4000_0000 | pte::Prot::KERNEL_RW.attrs();
    assert_eq!(pte::kind(mem.pages[root][idx], 0), Kind::Reserved);
    assert_eq!(walk(&mut mem, root, PAGE_OFFSET).leaf(), None);
    // A level-3 entry with bit 1 clear is reserved too.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, PAGE_OFFSET, 0x4000_0000, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    let w = walk(&mut mem, root, PAGE_OFFSET);
    let l3 = w.tables[3].unwrap();
    mem.pages[l3][0] &= !pte::TABLE_OR_PAGE;
    assert_eq!(walk(&mut mem, root, PAGE_OFFSET).leaf(), None);
}

#[test]
fn descriptors_round_trip() {
    let mut rng = Rng::new(0xde5c);
    for _ in 0..10_000 {
        let prot = random_prot(&mut rng);
        let level = rng.range_incl(1, 3) as u32;
        let pa = align_down(rng.below(1 << 48), level_size(level));
        let d = pte::leaf_desc(pa, level, prot);
        assert_eq!(Prot::from_desc(d), Some(prot));
        assert_eq!(pte::desc_addr(d), pa);
        assert_eq!(pte::kind(d, level), if level == 3 { Kind::Page } else { Kind::Block });
        assert_ne!(d & pte::AF, 0, "access flag set");
        assert_ne!(d & pte::UXN, 0, "never user-executable");
        assert_eq!(d & pte::AP_USER, 0, "never user-accessible");
        assert_eq!(d & pte::CONT, 0);
        let t = pte::table_desc(pa);
        assert_eq!((pte::kind(t, 0), pte::desc_addr(t)), (Kind::Table, pa));
    }
}

#[test]
fn error_messages_name_the_problem() {
    let cases = [
        (MapError::Misaligned { va: 0xffff_8000_0000_0001, pa: 0, size: 0x1000 }, "misaligned", "0xffff800000000001"),
        (MapError::OutOfRange { va: 0x1_0000_0000_0000, size: 0x1000 }, "out of range", "0x1000000000000"),
        (MapError::Overlap { va: 0xffff_8000_0020_0000, existing: 0x40000705 }, "overlapping", "0xffff800000200000"),
        (MapError::NoMemory, "out of memory", "page tables"),
    ];
    for (e, what, detail) in cases {
        let s = e.to_string();
        assert!(s.contains(what) && s.contains(detail), "{:?} displays as {:?}", e, s);
    }
    let s = MapError::Overlap { va: 0, existing: 0x40000705 }.to_string();
    assert!(s.contains("0x0000000040000705"), "{}", s);
}

/// The replay is the oracle of every mapper test here: each breach it
/// looks for, made by hand, is found.
#[test]
fn replay_finds_each_breach() {
    let page = |pa: u64| pte::leaf_desc(pa, 3, Prot::KERNEL_RW);
    let cont = |pa: u64| page(pa) | pte::CONT;
    // Root 0 -> level 1 (1) -> level 2 (2) -> level 3 (3), linked at index
    // 256 (PAGE_OFFSET), then 0, 0: table 3 maps PAGE_OFFSET onwards.
    let mut chain = vec![Event::Root(0)];
    for (t, idx) in [(1usize, 256usize), (2, 0), (3, 0)] {
        chain.push(Event::Alloc(t, t as u32));
        chain.push(Event::Barrier);
        chain.push(Event::Populate { parent: t - 1, idx, child: t, desc: pte::table_desc(Mem::pa(t)) });
    }
    let w = |idx: usize, old: u64, new: u64| Event::Write { t: 3, idx, old, new };
    let with = |tail: &[Event]| replay(&[chain.as_slice(), tail].concat());

    let clean = with(&[w(0, 0, page(0x1000)), w(0, page(0x1000), 0), Event::Flush(PAGE_OFFSET), w(0, 0, page(0x2000))]);
    assert!(clean.is_clean(), "{:#x?}", clean);
    assert_eq!((clean.writes, clean.breaks, clean.flushes, clean.barriers), (6, 1, 1, 3));

    // A changed output address in place.
    let r = with(&[w(0, 0, page(0x1000)), w(0, page(0x1000), page(0x2000))]);
    assert_eq!(r.unsafe_writes, vec![(3, 0, page(0x1000), page(0x2000), Reason::OutputAddressChanged)]);
    // Made valid again with no flush, or with a flush of another page.
    for flush in [vec![], vec![Event::Flush(PAGE_OFFSET + PAGE_SIZE)]] {
        let r = with(
            &[&[w(0, 0, page(0x1000)), w(0, page(0x1000), 0)], flush.as_slice(), &[w(0, 0, page(0x2000))]].concat(),
        );
        assert_eq!(r.made_before_flush, vec![(3, 0)]);
        assert!(r.unsafe_writes.is_empty() && r.never_flushed.is_empty());
    }
    // Made invalid and never flushed.
    let r = with(&[w(5, 0, page(0x1000)), w(5, page(0x1000), 0)]);
    assert_eq!(r.never_flushed, vec![(3, 5)]);
    // A flush of an address inside a block covers the block.
    let blk = pte::leaf_desc(0x4000_0000, 2, Prot::KERNEL_RW);
    let r = replay(
        &[
            &chain[..7],
            &[
                Event::Write { t: 2, idx: 3, old: 0, new: blk },
                Event::Write { t: 2, idx: 3, old: blk, new: 0 },
                Event::Flush(PAGE_OFFSET + 3 * PMD_SIZE + 0x1234),
            ],
        ]
        .concat(),
    );
    assert!(r.is_clean(), "{:#x?}", r);
    // Linked with no barrier since the table was zeroed.
    let mut nobarrier = chain.clone();
    nobarrier.remove(nobarrier.iter().rposition(|e| *e == Event::Barrier).unwrap());
    assert_eq!(replay(&nobarrier).linked_before_barrier, vec![3]);
    // A run that mixes: a hinted entry next to a valid unhinted one, or
    // hinted entries with different attributes; holes are fine.
    let r = with(&[w(0, 0, cont(0x1_0000)), w(1, 0, page(0x1_1000))]);
    assert_eq!(r.mixed_runs, vec![(3, 0)]);
    let ro = pte::leaf_desc(0x1_1000, 3, Prot::KERNEL_RO) | pte::CONT;
    assert_eq!(with(&[w(0, 0, cont(0x1_0000)), w(1, 0, ro)]).mixed_runs, vec![(3, 0)]);
    assert_eq!(with(&[w(17, 0, cont(0x1_0000))]).mixed_runs, vec![(3, 16)], "output not aligned to the run");
    let r = with(&[w(0, 0, cont(0x1_0000)), w(2, 0, cont(0x1_2000)), w(16, 0, page(0x9000))]);
    assert!(r.is_clean(), "{:#x?}", r);
    // A write whose old value is not what the tables held.
    assert_eq!(with(&[w(0, page(0x1000), 0)]).out_of_sync, vec![(3, 0)]);
}

/// The write log of one operation with everything before `from` dropped,
/// flushes and writes only.
fn ops(mem: &Mem, from: usize) -> Vec<Event> {
    mem.since(from).into_iter().filter(|e| matches!(e, Event::Write { .. } | Event::Flush(_))).collect()
}

/// Changing part or all of a live contiguous run is break-before-make over
/// the whole run: all 16 entries invalid, all 16 flushed, then the new
/// entries; no write `bbm::check` refuses. A new output address is refused.
#[test]
fn live_runs_change_break_before_make() {
    let va = PAGE_OFFSET + 0x10_0000;
    let pa = 0x4001_0000;
    let replace = MapFlags { replace: true, ..MapFlags::LARGEST };
    let rw = |pa: u64, level: u32| pte::leaf_desc(pa, level, Prot::KERNEL_RW) | pte::CONT;
    let page_va = |i: u64| va + i * PAGE_SIZE;

    // Replace one page of a run.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, 2 * CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    let l3 = walk(&mut mem, root, va).tables[3].unwrap();
    let from = mem.log.len();
    map_range(&mut mem, root, page_va(3), pa + 3 * PAGE_SIZE, PAGE_SIZE, Prot::KERNEL_RO, replace).unwrap();
    let idx = table_index(va, 3);
    let mut want: Vec<Event> =
        (0..16).map(|i| Event::Write { t: l3, idx: idx + i, old: rw(pa + i as u64 * PAGE_SIZE, 3), new: 0 }).collect();
    want.extend((0..16).map(|i| Event::Flush(page_va(i))));
    want.extend((0..16).filter(|&i| i != 3).map(|i| Event::Write {
        t: l3,
        idx: idx + i,
        old: 0,
        new: rw(pa + i as u64 * PAGE_SIZE, 3) & !pte::CONT,
    }));
    want.push(Event::Write {
        t: l3,
        idx: idx + 3,
        old: 0,
        new: pte::leaf_desc(pa + 3 * PAGE_SIZE, 3, Prot::KERNEL_RO),
    });
    assert_eq!(ops(&mem, from), want);
    let r = mem.assert_safe();
    assert_eq!(r.unsafe_writes.len(), 0);
    assert_eq!(cont_bits(&mut mem, root, va + CONT_PTE_SIZE, 3), vec![true; 16], "the next run keeps its hint");

    // Unmap one page of a run: the other 15 come back without the hint.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    let l3 = walk(&mut mem, root, va).tables[3].unwrap();
    let from = mem.log.len();
    let mut got = Vec::new();
    unmap_range(&mut mem, root, page_va(5), PAGE_SIZE, |v, p| got.push((v, p))).unwrap();
    assert_eq!(got, vec![(page_va(5), pa + 5 * PAGE_SIZE)]);
    let mut want: Vec<Event> =
        (0..16).map(|i| Event::Write { t: l3, idx: idx + i, old: rw(pa + i as u64 * PAGE_SIZE, 3), new: 0 }).collect();
    want.extend((0..16).map(|i| Event::Flush(page_va(i))));
    want.extend((0..16).filter(|&i| i != 5).map(|i| Event::Write {
        t: l3,
        idx: idx + i,
        old: 0,
        new: rw(pa + i as u64 * PAGE_SIZE, 3) & !pte::CONT,
    }));
    assert_eq!(ops(&mem, from), want);
    assert_eq!(mem.assert_safe().unsafe_writes.len(), 0);

    // Unmap a whole run, and the page after it: the run goes invalid whole,
    // then is flushed, and nothing comes back; the page alone.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE + PAGE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    let l3 = walk(&mut mem, root, va).tables[3].unwrap();
    let from = mem.log.len();
    let mut got = Vec::new();
    unmap_range(&mut mem, root, va, CONT_PTE_SIZE + PAGE_SIZE, |v, p| got.push((v, p))).unwrap();
    assert_eq!(got, (0..17).map(|i| (page_va(i), pa + i * PAGE_SIZE)).collect::<Vec<_>>());
    let mut want: Vec<Event> =
        (0..16).map(|i| Event::Write { t: l3, idx: idx + i, old: rw(pa + i as u64 * PAGE_SIZE, 3), new: 0 }).collect();
    want.extend((0..16).map(|i| Event::Flush(page_va(i))));
    let last = pte::leaf_desc(pa + CONT_PTE_SIZE, 3, Prot::KERNEL_RW);
    want.extend([Event::Write { t: l3, idx: idx + 16, old: last, new: 0 }, Event::Flush(page_va(16))]);
    assert_eq!(ops(&mem, from), want);
    assert_eq!(mem.assert_safe().unsafe_writes.len(), 0);

    // 2 MiB blocks: replace the first block of a run, then unmap the second
    // (no longer in a run: one break, one flush).
    let bva = PAGE_OFFSET + CONT_PMD_SIZE;
    let bpa = 0x4200_0000;
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, bva, bpa, CONT_PMD_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    let l2 = walk(&mut mem, root, bva).tables[2].unwrap();
    let bidx = table_index(bva, 2);
    let from = mem.log.len();
    map_range(&mut mem, root, bva, bpa, PMD_SIZE, Prot::KERNEL_RO, replace).unwrap();
    let mut want: Vec<Event> =
        (0..16).map(|i| Event::Write { t: l2, idx: bidx + i, old: rw(bpa + i as u64 * PMD_SIZE, 2), new: 0 }).collect();
    want.extend((0..16).map(|i| Event::Flush(bva + i as u64 * PMD_SIZE)));
    want.extend((1..16).map(|i| Event::Write {
        t: l2,
        idx: bidx + i,
        old: 0,
        new: rw(bpa + i as u64 * PMD_SIZE, 2) & !pte::CONT,
    }));
    want.push(Event::Write { t: l2, idx: bidx, old: 0, new: pte::leaf_desc(bpa, 2, Prot::KERNEL_RO) });
    assert_eq!(ops(&mem, from), want);
    let from = mem.log.len();
    unmap_range(&mut mem, root, bva + PMD_SIZE, PMD_SIZE, |_, _| ()).unwrap();
    let old = pte::leaf_desc(bpa + PMD_SIZE, 2, Prot::KERNEL_RW);
    assert_eq!(ops(&mem, from), vec![Event::Write { t: l2, idx: bidx + 1, old, new: 0 }, Event::Flush(bva + PMD_SIZE)]);
    assert_eq!(mem.assert_safe().unsafe_writes.len(), 0);

    // Replace a whole run: all 16 go before any comes back, with the hint.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    let l3 = walk(&mut mem, root, va).tables[3].unwrap();
    let from = mem.log.len();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RO, replace).unwrap();
    let mut want: Vec<Event> =
        (0..16).map(|i| Event::Write { t: l3, idx: idx + i, old: rw(pa + i as u64 * PAGE_SIZE, 3), new: 0 }).collect();
    want.extend((0..16).map(|i| Event::Flush(page_va(i))));
    want.extend((0..16).map(|i| Event::Write {
        t: l3,
        idx: idx + i,
        old: 0,
        new: pte::leaf_desc(pa + i as u64 * PAGE_SIZE, 3, Prot::KERNEL_RO) | pte::CONT,
    }));
    assert_eq!(ops(&mem, from), want);
    assert_eq!(mem.assert_safe().unsafe_writes.len(), 0);

    // A new output address is refused even with `replace`, and nothing is written.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    let from = mem.log.len();
    let existing = pte::leaf_desc(pa, 3, Prot::KERNEL_RW);
    let r = map_range(
        &mut mem,
        root,
        va,
        pa + MIB,
        PAGE_SIZE,
        Prot::KERNEL_RW,
        MapFlags { replace: true, ..MapFlags::PAGES },
    );
    assert_eq!(r, Err(MapError::Overlap { va, existing }));
    assert_eq!(ops(&mem, from), vec![]);
}

/// A new table is zeroed, a store barrier follows, then it is linked; the
/// leaf goes into the linked table last.
#[test]
fn new_tables_are_linked_after_a_barrier() {
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, PAGE_OFFSET + GIB, 0x4000_0000, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    let link = |parent: usize, idx: usize, child: usize| Event::Populate {
        parent,
        idx,
        child,
        desc: pte::table_desc(Mem::pa(child)),
    };
    let leaf = pte::leaf_desc(0x4000_0000, 3, Prot::KERNEL_RW);
    assert_eq!(
        mem.since(1),
        vec![
            Event::Alloc(1, 1),
            Event::Barrier,
            link(root, 256, 1),
            Event::Alloc(2, 2),
            Event::Barrier,
            link(1, 1, 2),
            Event::Alloc(3, 3),
            Event::Barrier,
            link(2, 0, 3),
            Event::Write { t: 3, idx: 0, old: 0, new: leaf },
        ]
    );
    // Tables already there: no barrier, no link.
    let from = mem.log.len();
    map_range(&mut mem, root, PAGE_OFFSET + GIB + PAGE_SIZE, 0x4000_1000, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES)
        .unwrap();
    assert_eq!(mem.since(from), vec![Event::Write { t: 3, idx: 1, old: 0, new: leaf + PAGE_SIZE }]);
}

/// An emptied table gives way to a block deepest link first, each link
/// invalid and flushed before the one above it goes, the block last.
#[test]
fn emptied_tables_are_unlinked_deepest_first() {
    let (mut mem, root) = fresh();
    let rw = Prot::KERNEL_RW;
    let va = PAGE_OFFSET + 4 * GIB;
    map_range(&mut mem, root, va + 0x1000, 0x9000_1000, 0x1000, rw, MapFlags::PAGES).unwrap();
    map_range(&mut mem, root, va + 0x40_1000, 0x9040_1000, 0x1000, rw, MapFlags::PAGES).unwrap();
    unmap_range(&mut mem, root, va, GIB, |_, _| ()).unwrap();
    let w = walk(&mut mem, root, va);
    let (l1, l2) = (w.tables[1].unwrap(), w.tables[2].unwrap());
    let (d1, d2a) = (w.descs[1].unwrap(), w.descs[2].unwrap());
    let d2b = walk(&mut mem, root, va + 0x40_0000).descs[2].unwrap();
    let from = mem.log.len();
    map_range(&mut mem, root, va, 0x1_0000_0000, GIB, rw, MapFlags::LARGEST).unwrap();
    let block = pte::leaf_desc(0x1_0000_0000, 1, rw);
    assert_eq!(
        ops(&mem, from),
        vec![
            Event::Write { t: l2, idx: 0, old: d2a, new: 0 },
            Event::Flush(va),
            Event::Write { t: l2, idx: 2, old: d2b, new: 0 },
            Event::Flush(va + 2 * PMD_SIZE),
            Event::Write { t: l1, idx: 4, old: d1, new: 0 },
            Event::Flush(va),
            Event::Write { t: l1, idx: 4, old: 0, new: block },
        ]
    );
    mem.assert_safe();
}

/// With `CHECK_WRITES`, the mapper checks each write against what the
/// table holds at that moment. Another agent rewriting an entry between
/// the break and the make is caught and reported with the address, both
/// descriptors, the reason and the caller.
#[test]
fn checked_mode_reports_unsafe_writes() {
    let va = PAGE_OFFSET + 0x10_0000;
    let pa = 0x4001_0000;
    let (mut mem, root) = fresh();
    mem.replay_on_drop = false;
    map_range(&mut mem, root, va, pa, PAGE_SIZE, Prot::KERNEL_RW, MapFlags::PAGES).unwrap();
    mem.meddle = true;
    let replace = MapFlags { replace: true, ..MapFlags::PAGES };
    let (line, r) = (line!(), map_range(&mut mem, root, va, pa, PAGE_SIZE, Prot::DEVICE, replace));
    r.unwrap();
    let (old, new) = (pte::leaf_desc(pa, 3, Prot::KERNEL_RW), pte::leaf_desc(pa, 3, Prot::DEVICE));
    assert_eq!(mem.violations.len(), 1, "{:#x?}", mem.violations);
    let v = mem.violations[0];
    assert_eq!((v.va, v.level, v.old, v.new), (va, 3, old, new));
    // Memory type and shareability may not change in place.
    assert_eq!(v.reason, Reason::AttributesChanged { mask: (old ^ new) & (0x7 << 2 | 0x3 << 8) });
    assert_eq!((v.caller.file(), v.caller.line()), (file!(), line));
    let s = v.to_string();
    assert!(
        s.contains("0xffff_8000_0010_0000") && s.contains(&format!("{:#018x}", old)) && s.contains("attributes"),
        "{}",
        s
    );
    // The replay sees the write behind the mapper's back.
    let l3 = walk(&mut mem, root, va).tables[3].unwrap();
    assert_eq!(replay(&mem.log).out_of_sync, vec![(l3, table_index(va, 3))]);

    // The same inside a contiguous run being broken: the entry given back
    // its hint is then written without it, in place.
    let (mut mem, root) = fresh();
    mem.replay_on_drop = false;
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    mem.meddle = true;
    unmap_range(&mut mem, root, va, PAGE_SIZE, |_, _| ()).unwrap();
    let reasons: Vec<(u64, Reason)> = mem.violations.iter().map(|v| (v.va, v.reason)).collect();
    assert_eq!(reasons, vec![(va + 15 * PAGE_SIZE, Reason::ContiguousFlipped)]);
    assert!(mem.violations[0].caller.file().ends_with("pgtable.rs"));

    // Without meddling the same operations report nothing.
    let (mut mem, root) = fresh();
    map_range(&mut mem, root, va, pa, CONT_PTE_SIZE, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
    unmap_range(&mut mem, root, va, PAGE_SIZE, |_, _| ()).unwrap();
    map_range(
        &mut mem,
        root,
        va + PAGE_SIZE,
        pa + PAGE_SIZE,
        PAGE_SIZE,
        Prot::DEVICE,
        MapFlags { replace: true, ..MapFlags::PAGES },
    )
    .unwrap();
    assert!(mem.violations.is_empty());
}

/// The fewest table pages, counted chunk by chunk: a level-1 table per
/// level-0 entry any range touches, a level-2 table per 1 GiB and a
/// level-3 table per 2 MiB that some range touches without covering.
fn brute_min_tables(ranges: &[(u64, u64)]) -> [u64; 4] {
    let mut sets: [BTreeSet<u64>; 4] = Default::default();
    for &(va, size) in ranges {
        let last = va + (size - 1);
        for (level, shift) in [(1usize, 39u32), (2, 30), (3, 21)] {
            for c in va >> shift..=last >> shift {
                let (cs, ce) = (c << shift, (c << shift) + ((1u64 << shift) - 1));
                if level == 1 || cs < va || ce > last {
                    sets[level].insert(c);
                }
            }
        }
    }
    [0, sets[1].len() as u64, sets[2].len() as u64, sets[3].len() as u64]
}

/// `min_tables` over ranges that span three and more level-0 entries,
/// against the chunk-by-chunk count and against what the mapper really
/// allocates for them on a fresh root.
#[test]
fn min_tables_across_many_level0_entries() {
    let tib = 1u64 << 40;
    let cases: &[&[(u64, u64)]] = &[
        // 1.5 TiB from a level-0 boundary: three level-1 tables, nothing below.
        &[(PAGE_OFFSET, 3 * PGDIR_SIZE)],
        // From the middle of one level-0 entry into the fourth after it,
        // with ragged ends at every level.
        &[(PAGE_OFFSET + PGDIR_SIZE / 2 + 3 * GIB + 5 * PMD_SIZE + 7 * PAGE_SIZE, 2 * tib + 40 * PAGE_SIZE)],
        // Two ranges, the second starting in the level-0 entry where the
        // first ends, each spanning several.
        &[(PAGE_OFFSET + GIB, 2 * PGDIR_SIZE), (PAGE_OFFSET + 2 * PGDIR_SIZE + 3 * GIB + PAGE_SIZE, 3 * PGDIR_SIZE)],
        // Ending exactly on a level-0 boundary, and one page past one.
        &[(PAGE_OFFSET + PMD_SIZE, 4 * PGDIR_SIZE - PMD_SIZE)],
        &[(PAGE_OFFSET, 4 * PGDIR_SIZE + PAGE_SIZE)],
    ];
    for ranges in cases {
        let want = brute_min_tables(ranges);
        assert_eq!(min_tables(ranges.iter().copied()), want, "{:x?}", ranges);
        assert!(want[1] >= 3, "the case spans three level-0 entries or more: {:?}", want);
        // The mapper with PA - VA a multiple of 1 GiB makes exactly that many.
        let (mut mem, root) = fresh();
        let mut got = [0; 4];
        for &(va, size) in ranges.iter() {
            let pa = va - PAGE_OFFSET + 4 * GIB;
            let c = map_range(&mut mem, root, va, pa, size, Prot::KERNEL_RW, MapFlags::LARGEST).unwrap();
            for (g, n) in got.iter_mut().zip(c.per_level) {
                *g += n;
            }
        }
        assert_eq!(got, want, "{:x?}", ranges);
        mem.assert_safe();
    }
}
