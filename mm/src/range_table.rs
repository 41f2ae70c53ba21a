//! A range set whose storage its owner supplies, and can swap for a bigger
//! one: the page allocator's free list, which grows the way Linux's memblock
//! grows its arrays (it takes a table twice the size from the memory it
//! tracks, moves the entries over and gives the old table back).
//!
//! The set logic itself (sorted, disjoint, merged ranges; lowest-first
//! allocation) lives here once, over a slice and a length, and
//! [`RangeSet`](crate::ranges::RangeSet) uses it too.

use crate::ranges::{Range, RangeError};

/// Add `r` to the sorted set `items[..*len]`, merging with overlapping and
/// adjacent ranges. `Full` (set unchanged) if a new entry does not fit.
pub fn add(items: &mut [Range], len: &mut usize, r: Range) -> Result<(), RangeError> {
    if r.base >= r.end {
        return Ok(());
    }
    let mut merged = r;
    // First range that ends at or after r.base (could merge).
    let first = items[..*len].partition_point(|x| x.end < merged.base);
    let mut last = first;
    while last < *len && items[last].base <= merged.end {
        merged.base = merged.base.min(items[last].base);
        merged.end = merged.end.max(items[last].end);
        last += 1;
    }
    let removed = last - first;
    if removed == 0 {
        if *len == items.len() {
            return Err(RangeError::Full);
        }
        items.copy_within(first..*len, first + 1);
        *len += 1;
    } else {
        items.copy_within(last..*len, first + 1);
        *len -= removed - 1;
    }
    items[first] = merged;
    Ok(())
}

/// Remove every address of `r` from the set. `Full` (set unchanged) if a
/// range would split in two and there is no room for the second half.
pub fn remove(items: &mut [Range], len: &mut usize, r: Range) -> Result<(), RangeError> {
    if r.base >= r.end {
        return Ok(());
    }
    let mut i = 0;
    while i < *len {
        let x = items[i];
        if !x.overlaps(&r) {
            i += 1;
            continue;
        }
        let left = Range { base: x.base, end: r.base };
        let right = Range { base: r.end, end: x.end };
        match (x.base < r.base, r.end < x.end) {
            (true, true) => {
                if *len == items.len() {
                    return Err(RangeError::Full);
                }
                items.copy_within(i + 1..*len, i + 2);
                items[i] = left;
                items[i + 1] = right;
                *len += 1;
                return Ok(());
            }
            (true, false) => {
                // The next turn finds `left` clear of `r` and moves on.
                items[i] = left;
            }
            (false, true) => {
                items[i] = right;
                return Ok(());
            }
            (false, false) => {
                items.copy_within(i + 1..*len, i);
                *len -= 1;
            }
        }
    }
    Ok(())
}

/// Take `size` bytes aligned to `align` (a power of two) from the lowest
/// range that can give them and for which `ok` holds; return their base.
pub fn alloc_where(
    items: &mut [Range],
    len: &mut usize,
    size: u64,
    align: u64,
    ok: impl Fn(&Range) -> bool,
) -> Result<u64, RangeError> {
    let found = items[..*len].iter().find_map(|x| {
        // Not layout::align_up: it saturates, which would land below x.base.
        let base = x.base.checked_add(align - 1)? & !(align - 1);
        let r = Range::new(base, size)?;
        (r.end <= x.end && ok(&r)).then_some(r)
    });
    let r = found.ok_or(RangeError::Exhausted)?;
    remove(items, len, r)?;
    Ok(r.base)
}

/// A sorted set of disjoint, non-adjacent ranges in storage the owner lends.
#[derive(Debug)]
pub struct RangeTable<'a> {
    items: &'a mut [Range],
    len: usize,
}

impl<'a> RangeTable<'a> {
    /// An empty set over `storage` (its capacity is `storage.len()`).
    pub fn new(storage: &'a mut [Range]) -> Self {
        RangeTable { items: storage, len: 0 }
    }

    /// The ranges, sorted by address.
    pub fn iter(&self) -> impl Iterator<Item = &Range> + '_ {
        self.items[..self.len].iter()
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many ranges fit.
    pub fn capacity(&self) -> usize {
        self.items.len()
    }

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.iter().map(Range::size).sum()
    }

    /// True if any address of `r` is in the set.
    pub fn intersects(&self, r: &Range) -> bool {
        self.iter().any(|x| x.overlaps(r))
    }

    /// Add `r`, merging; `Full` (unchanged) if it needs an entry and none is left.
    pub fn add(&mut self, r: Range) -> Result<(), RangeError> {
        add(self.items, &mut self.len, r)
    }

    /// Remove every address of `r`; `Full` (unchanged) if a split does not fit.
    pub fn remove(&mut self, r: Range) -> Result<(), RangeError> {
        remove(self.items, &mut self.len, r)
    }

    /// Take `size` bytes aligned to `align` from the lowest range that has them.
    pub fn alloc(&mut self, size: u64, align: u64) -> Result<u64, RangeError> {
        alloc_where(self.items, &mut self.len, size, align, |_| true)
    }

    /// The same set in `bigger` storage; `Err` gives `bigger` back untouched
    /// if it cannot hold the current ranges.
    pub fn move_to<'b>(self, bigger: &'b mut [Range]) -> Result<RangeTable<'b>, (Self, &'b mut [Range])> {
        if bigger.len() < self.len {
            return Err((self, bigger));
        }
        bigger[..self.len].copy_from_slice(&self.items[..self.len]);
        Ok(RangeTable { items: bigger, len: self.len })
    }
}
