//! Passing means: a `RangeTable` over lent storage holds exactly what a
//! `RangeSet` of the same capacity holds under the same random operations,
//! says `Full` at the same moments, and keeps every range when it moves to
//! bigger storage, after which the operation that was refused succeeds.

use proptest::prelude::*;
use vakern_mm::range_table::RangeTable;
use vakern_mm::ranges::{Range, RangeError, RangeSet};

#[derive(Clone, Debug)]
enum Op {
    Add(u64, u64),
    Remove(u64, u64),
    Alloc(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        (0u64..256, 1u64..16).prop_map(|(b, s)| Op::Add(b, s)),
        (0u64..256, 1u64..16).prop_map(|(b, s)| Op::Remove(b, s)),
        (1u64..8).prop_map(Op::Alloc),
    ];
    proptest::collection::vec(op, 1..200)
}

proptest! {
    #[test]
    fn same_as_range_set(ops in ops()) {
        let mut storage = [Range::default(); 8];
        let mut t = RangeTable::new(&mut storage);
        let mut s: RangeSet<8> = RangeSet::new();
        for op in ops {
            let (a, b) = match op {
                Op::Add(base, size) => {
                    let r = Range { base, end: base + size };
                    (t.add(r).map(|_| 0), s.add(r).map(|_| 0))
                }
                Op::Remove(base, size) => {
                    let r = Range { base, end: base + size };
                    (t.remove(r).map(|_| 0), s.remove(r).map(|_| 0))
                }
                Op::Alloc(size) => (t.alloc(size, 1), s.alloc(size, 1)),
            };
            prop_assert_eq!(a, b);
            prop_assert_eq!(t.iter().copied().collect::<Vec<_>>(), s.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(t.total(), s.total());
        }
    }
}

#[test]
fn a_full_table_grows_into_bigger_storage() {
    let mut small = [Range::default(); 2];
    let mut t = RangeTable::new(&mut small);
    t.add(Range { base: 0, end: 1 }).unwrap();
    t.add(Range { base: 4, end: 5 }).unwrap();
    let third = Range { base: 8, end: 9 };
    assert_eq!(t.add(third), Err(RangeError::Full));
    assert_eq!(t.remove(Range { base: 4, end: 4 }), Ok(()), "an empty removal needs no room");
    let mut tiny = [Range::default(); 1];
    let (t, _tiny) = t.move_to(&mut tiny).expect_err("two ranges do not fit in one");
    // Storage of exactly the current count is enough.
    let mut exact = [Range::default(); 2];
    let t = t.move_to(&mut exact).expect("two ranges fit in two entries");
    assert_eq!((t.len(), t.capacity()), (2, 2));
    let mut big = [Range::default(); 4];
    let mut t = t.move_to(&mut big).unwrap();
    assert_eq!(t.capacity(), 4);
    t.add(third).unwrap();
    assert_eq!(
        t.iter().copied().collect::<Vec<_>>(),
        [Range { base: 0, end: 1 }, Range { base: 4, end: 5 }, Range { base: 8, end: 9 }]
    );
}

/// A pass means the table's queries answer for its own ranges: the count,
/// emptiness, the total, and which ranges share an address with the set.
#[test]
fn count_emptiness_total_and_intersection() {
    let mut storage = [Range::default(); 4];
    let mut t = RangeTable::new(&mut storage);
    assert!(t.is_empty());
    assert_eq!((t.len(), t.total()), (0, 0));
    assert!(!t.intersects(&Range { base: 0, end: u64::MAX }));
    t.add(Range { base: 0x1000, end: 0x3000 }).unwrap();
    t.add(Range { base: 0x8000, end: 0x9000 }).unwrap();
    assert!(!t.is_empty());
    assert_eq!((t.len(), t.total()), (2, 0x3000));
    for (base, end, hit) in [
        (0x0, 0x1000, false),
        (0x0, 0x1001, true),
        (0x2fff, 0x3000, true),
        (0x3000, 0x8000, false),
        (0x7fff, 0x8001, true),
        (0x9000, 0xa000, false),
    ] {
        assert_eq!(t.intersects(&Range { base, end }), hit, "[{base:#x}, {end:#x})");
    }
    t.remove(Range { base: 0, end: 0x1_0000 }).unwrap();
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
}
