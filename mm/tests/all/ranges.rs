//! Passing means: `RangeSet` add/remove/alloc behave exactly like a bitmap reference under random operations (same contents, always sorted, disjoint and merged), report `Full` and `Exhausted` when they must and leave the set unchanged then, and hand out correctly aligned blocks that were free.

use crate::common;

use proptest::prelude::*;
use std::cell::RefCell;
use vakern_mm::ranges::{Range, RangeError, RangeSet};

/// The reference: one bool per address of a small space.
struct Bitmap(Vec<bool>);

impl Bitmap {
    fn set(&mut self, r: Range, v: bool) {
        for a in r.base..r.end {
            self.0[a as usize] = v;
        }
    }

    /// The maximal runs of set addresses, in order.
    fn runs(&self) -> Vec<Range> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, &b) in self.0.iter().chain([false].iter()).enumerate() {
            match (b, start) {
                (true, None) => start = Some(i as u64),
                (false, Some(s)) => {
                    out.push(Range { base: s, end: i as u64 });
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    /// Lowest run-order allocation: first run (by address) where the
    /// aligned start plus `size` fits, as `RangeSet::alloc` documents.
    fn alloc_base(&self, size: u64, align: u64) -> Option<u64> {
        self.runs().into_iter().find_map(|r| {
            let base = r.base.div_ceil(align) * align;
            (base + size <= r.end).then_some(base)
        })
    }
}

fn contents<const N: usize>(s: &RangeSet<N>) -> Vec<Range> {
    s.iter().copied().collect()
}

fn check_invariants<const N: usize>(s: &RangeSet<N>) {
    let v = contents(s);
    assert_eq!(v.len(), s.len());
    assert!(s.len() <= N);
    assert_eq!(s.is_empty(), v.is_empty());
    for r in &v {
        assert!(r.base < r.end, "empty range {:?} kept", r);
    }
    for w in v.windows(2) {
        assert!(w[0].end < w[1].base, "not sorted, disjoint and merged: {:?}", v);
    }
    assert_eq!(s.total(), v.iter().map(Range::size).sum::<u64>());
}

const SPACE: u64 = 2048;

/// A range of the small space: empty, tiny, small or large.
fn ranges() -> impl Strategy<Value = Range> {
    let len = prop_oneof![Just(0u64), 1u64..=4, 1u64..=64, 1..=SPACE / 4];
    (0..SPACE, len).prop_map(|(base, len)| Range { base, end: (base + len).min(SPACE) })
}

#[derive(Clone, Debug)]
enum Op {
    Add(Range),
    Remove(Range),
    Alloc { size: u64, align: u64 },
}

/// One step: an operation, then point and range queries.
fn steps() -> impl Strategy<Value = (Op, Vec<(u64, Range)>)> {
    let op = prop_oneof![
        4 => ranges().prop_map(Op::Add),
        3 => ranges().prop_map(Op::Remove),
        3 => (1u64..=128, 0u32..8).prop_map(|(size, shift)| Op::Alloc { size, align: 1 << shift }),
    ];
    (op, prop::collection::vec((0..SPACE, ranges()), 4))
}

/// Run `ops` on a set of capacity `N` and on the bitmap; count the outcomes
/// in `seen`: add ok, add full, remove ok, remove full, alloc ok, alloc
/// exhausted.
fn run_ops<const N: usize>(ops: &[(Op, Vec<(u64, Range)>)], seen: &mut [u64; 6]) {
    let mut set = RangeSet::<N>::new();
    let mut model = Bitmap(vec![false; SPACE as usize]);
    for (step, (op, queries)) in ops.iter().enumerate() {
        let before = contents(&set);
        match *op {
            Op::Add(r) => match set.add(r) {
                Ok(()) => {
                    model.set(r, true);
                    seen[0] += 1;
                }
                Err(RangeError::Full) => {
                    // Only when a new entry was needed and the table was full.
                    assert_eq!(set.len(), N);
                    assert_eq!(contents(&set), before, "Full must leave the set unchanged");
                    let touches = before.iter().any(|x| x.base <= r.end && r.base <= x.end);
                    assert!(!touches, "step {}: add({:?}) could merge but said Full", step, r);
                    seen[1] += 1;
                }
                Err(e) => panic!("add: {:?}", e),
            },
            Op::Remove(r) => match set.remove(r) {
                Ok(()) => {
                    model.set(r, false);
                    seen[2] += 1;
                }
                Err(RangeError::Full) => {
                    assert_eq!(set.len(), N);
                    assert_eq!(contents(&set), before);
                    let splits = before.iter().any(|x| x.base < r.base && r.end < x.end);
                    assert!(splits, "step {}: remove({:?}) said Full without a split", step, r);
                    seen[3] += 1;
                }
                Err(e) => panic!("remove: {:?}", e),
            },
            Op::Alloc { size, align } => {
                let want = model.alloc_base(size, align);
                match set.alloc(size, align) {
                    Ok(base) => {
                        assert_eq!(Some(base), want, "step {}: alloc({}, {})", step, size, align);
                        assert_eq!(base % align, 0);
                        let r = Range { base, end: base + size };
                        assert!(
                            before.iter().any(|x| x.base <= r.base && r.end <= x.end),
                            "allocated a non-free block"
                        );
                        assert!(!set.intersects(&r), "allocated block still in the set");
                        model.set(r, false);
                        seen[4] += 1;
                    }
                    Err(RangeError::Exhausted) => {
                        assert_eq!(want, None, "step {}: alloc({}, {}) said Exhausted", step, size, align);
                        assert_eq!(contents(&set), before);
                        seen[5] += 1;
                    }
                    Err(RangeError::Full) => {
                        // The block found would split a range and the table is full.
                        assert!(want.is_some());
                        assert_eq!(set.len(), N);
                        assert_eq!(contents(&set), before);
                    }
                }
            }
        }
        check_invariants(&set);
        assert_eq!(contents(&set), model.runs(), "after step {}", step);
        // Point queries agree too.
        for &(a, r) in queries {
            assert_eq!(set.contains(a), model.0[a as usize], "contains({})", a);
            let bits = &model.0[r.base as usize..r.end as usize];
            assert_eq!(set.intersects(&r), bits.iter().any(|&b| b), "intersects({:?})", r);
            if r.base < r.end {
                assert_eq!(set.covers(&r), bits.iter().all(|&b| b), "covers({:?})", r);
            }
        }
    }
}

/// Runs of operations on a set of capacity `N`, `cases` runs of `steps / 2`
/// to `steps` operations; the outcome counts over all runs.
fn random_ops<const N: usize>(cases: u32, steps: usize) -> [u64; 6] {
    let seen = RefCell::new([0u64; 6]);
    common::runner(cases, file!())
        .run(&prop::collection::vec(self::steps(), steps / 2..=steps), |ops| {
            run_ops::<N>(&ops, &mut seen.borrow_mut());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("capacity {N}: {e}"));
    seen.into_inner()
}

#[test]
fn random_operations_match_bitmap() {
    // Roomy: Full never happens, the set grows fragmented.
    let seen = random_ops::<256>(24, 500);
    println!("capacity 256: {:?}", seen);
    assert!(seen[0] > 1000 && seen[2] > 1000 && seen[4] > 200 && seen[5] > 10, "{:?}", seen);
    // Tight: Full on add and on remove both happen.
    let seen = random_ops::<6>(24, 500);
    println!("capacity 6: {:?}", seen);
    assert!(seen[1] > 20 && seen[3] > 20, "Full not exercised: {:?}", seen);
    let seen = random_ops::<1>(48, 250);
    println!("capacity 1: {:?}", seen);
    assert!(seen[1] > 20 && seen[3] > 20, "{:?}", seen);
}

fn r(base: u64, end: u64) -> Range {
    Range { base, end }
}

#[test]
fn merging() {
    let mut s = RangeSet::<8>::new();
    s.add(r(0x1000, 0x2000)).unwrap();
    s.add(r(0x3000, 0x4000)).unwrap();
    assert_eq!(contents(&s), [r(0x1000, 0x2000), r(0x3000, 0x4000)]);
    // Adjacent on both sides: one range.
    s.add(r(0x2000, 0x3000)).unwrap();
    assert_eq!(contents(&s), [r(0x1000, 0x4000)]);
    // Adjacent below, overlapping, contained, empty and inverted ranges.
    s.add(r(0x800, 0x1000)).unwrap();
    s.add(r(0x3800, 0x5000)).unwrap();
    s.add(r(0x2000, 0x2800)).unwrap();
    s.add(r(0x9000, 0x9000)).unwrap();
    s.add(r(0x9000, 0x8000)).unwrap();
    assert_eq!(contents(&s), [r(0x800, 0x5000)]);
    // One add that swallows several.
    s.add(r(0x6000, 0x7000)).unwrap();
    s.add(r(0x8000, 0x9000)).unwrap();
    s.add(r(0xa000, 0xb000)).unwrap();
    assert_eq!(s.len(), 4);
    s.add(r(0x4fff, 0xa001)).unwrap();
    assert_eq!(contents(&s), [r(0x800, 0xb000)]);
    assert_eq!(s.total(), 0xa800);

    // Remove: split, trim both ends, across ranges, nothing.
    s.remove(r(0x1000, 0x2000)).unwrap();
    assert_eq!(contents(&s), [r(0x800, 0x1000), r(0x2000, 0xb000)]);
    s.remove(r(0x0, 0x900)).unwrap();
    s.remove(r(0xa000, 0xc000)).unwrap();
    assert_eq!(contents(&s), [r(0x900, 0x1000), r(0x2000, 0xa000)]);
    s.remove(r(0xf00, 0x2100)).unwrap();
    assert_eq!(contents(&s), [r(0x900, 0xf00), r(0x2100, 0xa000)]);
    s.remove(r(0x1000, 0x2000)).unwrap();
    s.remove(r(0x5000, 0x5000)).unwrap();
    assert_eq!(contents(&s), [r(0x900, 0xf00), r(0x2100, 0xa000)]);
    s.remove(r(0, u64::MAX)).unwrap();
    assert!(s.is_empty());
}

#[test]
fn full() {
    let mut s = RangeSet::<3>::new();
    for i in 0..3 {
        s.add(r(i * 0x10, i * 0x10 + 8)).unwrap();
    }
    let before = contents(&s);
    assert_eq!(s.add(r(0x100, 0x108)), Err(RangeError::Full));
    assert_eq!(contents(&s), before);
    // Merging needs no new slot, so a full set still accepts it.
    s.add(r(0x8, 0x10)).unwrap();
    assert_eq!(contents(&s), [r(0, 0x18), r(0x20, 0x28)]);
    s.add(r(0x100, 0x108)).unwrap();
    // Splitting a range needs one.
    let before = contents(&s);
    assert_eq!(s.remove(r(0x2, 0x4)), Err(RangeError::Full));
    assert_eq!(contents(&s), before);
    // Trimming does not.
    s.remove(r(0x0, 0x4)).unwrap();
    s.remove(r(0x104, 0x200)).unwrap();
    assert_eq!(contents(&s), [r(0x4, 0x18), r(0x20, 0x28), r(0x100, 0x104)]);
    // An allocation inside a range splits it: Full, and nothing is taken.
    let before = contents(&s);
    assert_eq!(s.alloc(4, 8), Err(RangeError::Full));
    assert_eq!(contents(&s), before);
    // From the start of a range: no split needed.
    assert_eq!(s.alloc(4, 4), Ok(0x4));
    // Capacity zero can hold nothing.
    let mut z = RangeSet::<0>::new();
    assert_eq!(z.add(r(1, 2)), Err(RangeError::Full));
    assert_eq!(z.add(r(2, 2)), Ok(()));
}

#[test]
fn alloc_alignment() {
    let mut s = RangeSet::<16>::new();
    // RAM-like: 1 GiB at 1 GiB with a hole punched.
    s.add(r(0x4000_0000, 0x8000_0000)).unwrap();
    s.remove(r(0x4000_0000, 0x4020_1000)).unwrap();
    // 4 KiB pages come from the lowest address.
    assert_eq!(s.alloc(0x1000, 0x1000), Ok(0x4020_1000));
    assert_eq!(s.alloc(0x1000, 0x1000), Ok(0x4020_2000));
    // A 2 MiB-aligned block skips to the next 2 MiB boundary and leaves the gap free.
    assert_eq!(s.alloc(0x20_0000, 0x20_0000), Ok(0x4040_0000));
    assert!(s.covers(&r(0x4020_3000, 0x4040_0000)));
    assert!(!s.intersects(&r(0x4040_0000, 0x4060_0000)));
    // The gap is still used by small requests.
    assert_eq!(s.alloc(0x3000, 0x1000), Ok(0x4020_3000));
    // 1 GiB aligned: the only candidate would be 0x8000_0000, past the end.
    assert_eq!(s.alloc(0x1000, 0x4000_0000), Err(RangeError::Exhausted));
    // Too big.
    assert_eq!(s.alloc(0x4000_0000, 0x1000), Err(RangeError::Exhausted));
    // alloc_where: only below 0x5000_0000 and 64 KiB aligned.
    let low = s.alloc_where(0x1_0000, 0x1_0000, |c| c.end <= 0x5000_0000).unwrap();
    assert_eq!(low, 0x4021_0000);
    assert_eq!(s.alloc_where(0x1000_0000, 0x1000, |c| c.end <= 0x5000_0000), Err(RangeError::Exhausted));
    // Size 0 takes nothing.
    let before = contents(&s);
    let b = s.alloc(0, 0x1000).unwrap();
    assert_eq!(b % 0x1000, 0);
    assert_eq!(contents(&s), before);
}

proptest! {
    #![proptest_config(common::config(64))]

    /// Random requests on RAM-like ranges: every block is aligned, was free,
    /// and no two overlap; what was handed out and what is left add up.
    #[test]
    fn alloc_hands_out_aligned_free_blocks(reqs in prop::collection::vec((12u32..=22, 1u64..=64), 1..2000)) {
        let mut s = RangeSet::<64>::new();
        s.add(r(0x4000_0000, 0x4400_0000)).unwrap();
        s.add(r(0x4800_1000, 0x4c00_0000)).unwrap();
        let free0 = contents(&s);
        let mut taken: Vec<Range> = Vec::new();
        for (shift, pages) in reqs {
            let (align, size) = (1u64 << shift, pages * 0x1000);
            match s.alloc(size, align) {
                Ok(b) => {
                    let got = r(b, b + size);
                    prop_assert_eq!(b % align, 0);
                    prop_assert!(free0.iter().any(|x| x.base <= got.base && got.end <= x.end));
                    prop_assert!(taken.iter().all(|t| !t.overlaps(&got)), "{:?} handed out twice", got);
                    taken.push(got);
                }
                Err(RangeError::Exhausted) => break,
                Err(RangeError::Full) => {}
            }
        }
        let used: u64 = taken.iter().map(Range::size).sum();
        prop_assert_eq!(used + s.total(), free0.iter().map(Range::size).sum::<u64>());
    }
}

/// Ranges at the very top of the 64-bit space (vmalloc-like bookkeeping of
/// kernel VAs can get there): alignment must not wrap below the range.
#[test]
fn top_of_the_address_space() {
    assert_eq!(Range::new(u64::MAX - 1, 2), None);
    assert_eq!(Range::new(u64::MAX - 1, 1), Some(r(u64::MAX - 1, u64::MAX)));
    let mut s = RangeSet::<4>::new();
    s.add(r(0xffff_ffff_ffff_f001, u64::MAX)).unwrap();
    // Aligning 0xffff_ffff_ffff_f001 up to 4 KiB overflows: nothing fits.
    assert_eq!(s.alloc(0x10, 0x1000), Err(RangeError::Exhausted));
    assert_eq!(s.alloc(0x10, 0x10), Ok(0xffff_ffff_ffff_f010));
    assert_eq!(contents(&s), [r(0xffff_ffff_ffff_f001, 0xffff_ffff_ffff_f010), r(0xffff_ffff_ffff_f020, u64::MAX)]);
    assert_eq!(s.alloc(0xfe0, 1), Err(RangeError::Exhausted));
    assert_eq!(s.alloc(0xfdf, 1), Ok(0xffff_ffff_ffff_f020));
    assert_eq!(s.alloc(0xf, 1), Ok(0xffff_ffff_ffff_f001));
    assert!(s.is_empty());
}

#[test]
fn range_helpers() {
    let a = r(0x1000, 0x2000);
    assert_eq!(a.size(), 0x1000);
    assert!(a.contains(0x1000) && a.contains(0x1fff) && !a.contains(0x2000) && !a.contains(0xfff));
    assert!(a.overlaps(&r(0x1fff, 0x3000)) && !a.overlaps(&r(0x2000, 0x3000)) && !a.overlaps(&r(0, 0x1000)));
    assert!(!a.overlaps(&r(0x1800, 0x1800)), "an empty range overlaps nothing");
    assert!(!r(0x1800, 0x1800).overlaps(&a), "an empty range overlaps nothing");
    let mut s = RangeSet::<4>::default();
    s.add(a).unwrap();
    assert!(s.covers(&r(0x1000, 0x2000)) && !s.covers(&r(0x1000, 0x2001)));
}
