//! Sets of physical (or virtual) address ranges in a fixed-size array.
//!
//! This is the bookkeeping of the early allocator (memblock-like), of the
//! page-frame allocator that follows it and of the vmalloc address space.
//! Its size depends on how fragmented memory is, never on how much there is:
//! 64 GiB of RAM in one range costs one entry.

/// A half-open range `[base, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    /// First address.
    pub base: u64,
    /// End address (exclusive).
    pub end: u64,
}

impl Range {
    /// `[base, base + size)`; `None` if it wraps.
    pub fn new(base: u64, size: u64) -> Option<Range> {
        base.checked_add(size).map(|end| Range { base, end })
    }
    /// Bytes covered.
    pub fn size(&self) -> u64 {
        self.end - self.base
    }
    /// True if the ranges share at least one address.
    pub fn overlaps(&self, o: &Range) -> bool {
        self.base < o.end && o.base < self.end && self.base < self.end && o.base < o.end
    }
    /// True if `addr` is inside.
    pub fn contains(&self, addr: u64) -> bool {
        self.base <= addr && addr < self.end
    }
}

/// Why a range operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// The fixed-size table is full.
    Full,
    /// Nothing large enough is free.
    Exhausted,
}

/// A sorted set of disjoint, non-adjacent ranges, at most `N` of them.
#[derive(Clone, Debug)]
pub struct RangeSet<const N: usize> {
    items: [Range; N],
    len: usize,
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RangeSet<N> {
    /// An empty set.
    pub const fn new() -> Self {
        RangeSet { items: [Range { base: 0, end: 0 }; N], len: 0 }
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

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.iter().map(Range::size).sum()
    }

    /// True if some range contains `addr`.
    pub fn contains(&self, addr: u64) -> bool {
        self.iter().any(|r| r.contains(addr))
    }

    /// True if any address of `r` is in the set.
    pub fn intersects(&self, r: &Range) -> bool {
        self.iter().any(|x| x.overlaps(r))
    }

    /// True if every address of `r` is in the set.
    pub fn covers(&self, r: &Range) -> bool {
        self.iter().any(|x| x.base <= r.base && r.end <= x.end)
    }

    /// Add `r`, merging with overlapping and adjacent ranges.
    pub fn add(&mut self, r: Range) -> Result<(), RangeError> {
        crate::range_table::add(&mut self.items, &mut self.len, r)
    }

    /// Remove every address of `r` from the set.
    pub fn remove(&mut self, r: Range) -> Result<(), RangeError> {
        crate::range_table::remove(&mut self.items, &mut self.len, r)
    }

    /// Take `size` bytes aligned to `align` (a power of two) from the lowest
    /// range that can give them, and return their base.
    pub fn alloc(&mut self, size: u64, align: u64) -> Result<u64, RangeError> {
        self.alloc_where(size, align, |_| true)
    }

    /// Like [`RangeSet::alloc`], restricted to candidate ranges for which `ok` holds.
    pub fn alloc_where(&mut self, size: u64, align: u64, ok: impl Fn(&Range) -> bool) -> Result<u64, RangeError> {
        crate::range_table::alloc_where(&mut self.items, &mut self.len, size, align, ok)
    }
}
