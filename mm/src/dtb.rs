//! Memory discovery from a flattened device tree.
//!
//! Boot stage 4 hands this module the DTB that x0 pointed to (mapped through
//! the fixmap) and gets back every RAM range, every reservation and the
//! `/chosen` values the kernel needs. Nothing here trusts the blob: every
//! offset, length, string and nesting level is checked first, and a broken
//! blob is a [`DtbError`] that names the problem, never a panic.
//!
//! The header and the structure block are checked and walked by
//! [`fdt_walk`](crate::fdt_walk), the walker the early KASLR scan uses too;
//! this module adds the UTF-8 checks of names and reads memory, CPUs and
//! `/chosen` from the tokens. Ranges that are not whole pages, empty or
//! overlapping are adjusted rather than refused ([`Adjustment`]). (The `fdt`
//! crate was tried and is not used: see the README, and
//! mm/tests/all/fdt_crate.rs for where it fails.) The file is over 400 lines
//! because memory, reservations, CPUs, `/psci` and `/chosen` are read in one walk
//! with one stack of node frames, each rule next to the others.

use crate::ranges::{Range, RangeError, RangeSet};

use crate::fdt_walk::{be32, be64, Header, RawToken, Walker};
pub use crate::fdt_walk::{header_total_size, FDT_MAGIC};
pub use adjust::{AdjustKind, Adjustment};
pub use error::{DtbError, NodeName};

mod adjust;
mod error;

/// Deepest node nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most RAM ranges kept (after merging adjacent ones).
pub const MAX_RAM_RANGES: usize = 64;
/// Most CPUs recorded.
pub const MAX_CPUS: usize = 32;
/// Most reservations kept.
pub const MAX_RESERVED: usize = 64;
/// Most adjustments recorded for the boot log (later ones still happen).
pub const MAX_ADJUSTMENTS: usize = 16;

/// A device tree whose header and structure block have been checked.
#[derive(Clone, Copy)]
pub struct Dtb<'a> {
    blob: &'a [u8],
    header: Header,
    structs: &'a [u8],
    strings: &'a [u8],
}

/// One token of the structure block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// A node starts (name includes the unit address; the root's name is empty).
    Begin(&'a str),
    /// A property of the current node.
    Prop(&'a str, &'a [u8]),
    /// The current node ends.
    End,
}

/// Iterator over the tokens of a validated structure block (NOPs skipped).
pub struct Tokens<'a> {
    walker: Walker<'a>,
}

/// A name as `str` (names of a validated tree are UTF-8).
fn text(name: &[u8]) -> &str {
    core::str::from_utf8(name).unwrap_or("")
}

impl<'a> Dtb<'a> {
    /// Check the header, the block layout and the whole structure block.
    pub fn new(blob: &'a [u8]) -> Result<Dtb<'a>, DtbError> {
        let header = Header::check(blob)?;
        let (blob, structs, strings) = header.blocks(blob);
        let mut w = Walker::new(structs, strings);
        loop {
            let at = w.offset();
            let bad = |what| DtbError::Malformed { what, offset: at };
            match w.next_token()? {
                None => break,
                Some((RawToken::Begin(name), _)) => {
                    core::str::from_utf8(name).map_err(|_| bad("node name not UTF-8"))?;
                }
                Some((RawToken::Prop { name, .. }, _)) => {
                    core::str::from_utf8(name).map_err(|_| bad("property name outside the strings block"))?;
                }
                Some((RawToken::End, _)) => {}
            }
        }
        Ok(Dtb { blob, header, structs, strings })
    }

    /// The blob's size in bytes (`totalsize`).
    pub fn total_size(&self) -> usize {
        self.blob.len()
    }

    /// The checked bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// Iterate over the structure block.
    pub fn tokens(&self) -> Tokens<'a> {
        Tokens { walker: Walker::new(self.structs, self.strings) }
    }

    /// The `/memreserve/` entries as (address, size), up to the (0, 0) that
    /// `new` found inside the blob.
    pub fn mem_reservations(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let blob = self.blob;
        (self.header.rsvmap..)
            .step_by(16)
            .map(move |off| (be64(blob, off).unwrap_or(0), be64(blob, off + 8).unwrap_or(0)))
            .take_while(|&e| e != (0, 0))
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;
    fn next(&mut self) -> Option<Token<'a>> {
        match self.walker.next_token().ok()?? {
            (RawToken::Begin(name), _) => Some(Token::Begin(text(name))),
            (RawToken::Prop { name, value, .. }, _) => Some(Token::Prop(text(name), value)),
            (RawToken::End, _) => Some(Token::End),
        }
    }
}

/// Why a range is reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedKind {
    /// An entry of the `/memreserve/` block.
    MemReserve,
    /// A `/reserved-memory` child that may still be mapped.
    ReservedMemory(NodeName),
    /// A `/reserved-memory` child with `no-map`: left out of the linear map.
    NoMap(NodeName),
    /// The kernel image.
    Kernel,
    /// The device tree blob itself.
    Dtb,
}

impl ReservedKind {
    /// Short label for the boot log.
    pub fn label(&self) -> &str {
        match self {
            ReservedKind::MemReserve => "memreserve",
            ReservedKind::ReservedMemory(n) => n.as_str(),
            ReservedKind::NoMap(n) => n.as_str(),
            ReservedKind::Kernel => "kernel image",
            ReservedKind::Dtb => "device tree",
        }
    }
}

/// One reserved range and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The range.
    pub range: Range,
    /// Why.
    pub kind: ReservedKind,
}

/// Everything the kernel learns about memory and boot from the device tree.
#[derive(Clone, Debug)]
pub struct MemoryInfo<'a> {
    /// RAM, sorted and merged.
    pub ram: RangeSet<MAX_RAM_RANGES>,
    /// Number of `reg` entries read from memory nodes (before merging).
    pub ram_entries: usize,
    /// The `reg` entries of memory nodes with a `numa-node-id`, and that node,
    /// in the order found.
    pub numa: [Option<(u32, Range)>; MAX_RAM_RANGES],
    /// Reserved ranges, in the order found.
    pub reserved: [Option<Reservation>; MAX_RESERVED],
    /// `/chosen/bootargs`.
    pub bootargs: Option<&'a str>,
    /// `/chosen/kaslr-seed`.
    pub kaslr_seed: Option<u64>,
    /// `/chosen/stdout-path`.
    pub stdout_path: Option<&'a str>,
    /// `/psci/method` ("hvc" or "smc"): how CPUs are started.
    pub psci_method: Option<&'a str>,
    /// True if `/psci/compatible` names PSCI 0.1 ("arm,psci") before any
    /// later version ("arm,psci-0.2", "arm,psci-1.0"): the function IDs
    /// then come from the node's properties, not the standard ones.
    pub psci_v0_1: bool,
    /// `/psci/cpu_on`: the CPU_ON function ID of a PSCI 0.1 firmware.
    pub psci_cpu_on: Option<u32>,
    /// MPIDR values of the enabled `/cpus/cpu@…` nodes, in tree order.
    pub cpus: [u64; MAX_CPUS],
    /// How many of `cpus` are valid.
    pub ncpus: usize,
    /// Enabled CPU nodes with an MPIDR, including those beyond `MAX_CPUS`.
    pub cpus_total: usize,
    /// What the parse changed (the first [`MAX_ADJUSTMENTS`]).
    pub adjustments: [Option<Adjustment>; MAX_ADJUSTMENTS],
    /// How many changes there were in all.
    pub nadjustments: usize,
}

impl MemoryInfo<'_> {
    /// Iterate over the changes the parse made.
    pub fn adjustments(&self) -> impl Iterator<Item = &Adjustment> + '_ {
        self.adjustments.iter().flatten()
    }

    fn adjusted(&mut self, kind: AdjustKind, node: &str, given: Range, kept: Range) {
        if let Some(slot) = self.adjustments.get_mut(self.nadjustments) {
            *slot = Some(Adjustment { kind, node: NodeName::new(node), given, kept });
        }
        self.nadjustments += 1;
    }

    /// Iterate over the reservations.
    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> + '_ {
        self.reserved.iter().flatten()
    }

    /// Add a reservation (the kernel adds the image and the DTB).
    pub fn reserve(&mut self, range: Range, kind: ReservedKind) -> Result<(), DtbError> {
        let slot = self.reserved.iter_mut().find(|r| r.is_none()).ok_or(DtbError::TooManyRanges)?;
        *slot = Some(Reservation { range, kind });
        Ok(())
    }

    /// RAM that the linear map covers: RAM less the `no-map` reservations.
    pub fn mappable(&self) -> Result<RangeSet<MAX_RAM_RANGES>, RangeError> {
        let mut m = self.ram.clone();
        for r in self.reservations() {
            if let ReservedKind::NoMap(_) = r.kind {
                m.remove(r.range)?;
            }
        }
        Ok(m)
    }
}

#[derive(Clone, Copy)]
struct Frame<'a> {
    name: &'a str,
    /// Cells this node's children use.
    child_cells: (u32, u32),
    device_type_memory: bool,
    disabled: bool,
    no_map: bool,
    numa_node: Option<u32>,
    reg: Option<&'a [u8]>,
}

fn decode_reg(
    reg: &[u8],
    cells: (u32, u32),
    node: &str,
    mut each: impl FnMut(u64, u64) -> Result<(), DtbError>,
) -> Result<(), DtbError> {
    let (ac, sc) = cells;
    if !(1..=2).contains(&ac) || !(1..=2).contains(&sc) {
        return Err(DtbError::BadCells { node: NodeName::new(node), address: ac, size: sc });
    }
    let entry = 4 * (ac + sc) as usize;
    if reg.is_empty() || !reg.len().is_multiple_of(entry) {
        return Err(DtbError::BadReg(NodeName::new(node)));
    }
    let read = |off: usize, cells: u32| {
        if cells == 1 {
            be32(reg, off).map(u64::from)
        } else {
            be64(reg, off)
        }
    };
    for start in (0..reg.len()).step_by(entry) {
        match (read(start, ac), read(start + 4 * ac as usize, sc)) {
            (Some(base), Some(size)) => each(base, size)?,
            _ => return Err(DtbError::BadReg(NodeName::new(node))),
        }
    }
    Ok(())
}

/// `[base, base + size)` if it wraps nowhere and ends inside 48 bits;
/// `None` for size zero.
fn check_range(node: &str, base: u64, size: u64) -> Result<Option<Range>, DtbError> {
    if size == 0 {
        return Ok(None);
    }
    match Range::new(base, size) {
        Some(r) if r.end <= 1 << 48 => Ok(Some(r)),
        _ => Err(DtbError::RangeTooHigh { node: NodeName::new(node), base, size }),
    }
}

const PAGE: u64 = crate::layout::PAGE_SIZE;

/// `r` trimmed inward to whole pages (empty if no page is whole).
fn trim_to_pages(r: Range) -> Range {
    let base = r.base.div_ceil(PAGE) * PAGE;
    let end = r.end / PAGE * PAGE;
    Range { base, end: end.max(base) }
}

/// `r` rounded outward to whole pages (saturating at the top of the space).
fn round_to_pages(r: Range) -> Range {
    Range { base: r.base / PAGE * PAGE, end: r.end.div_ceil(PAGE).saturating_mul(PAGE) }
}

/// Read every enabled memory node (any node named `memory`/`memory@…` under
/// the root, or with `device_type = "memory"` anywhere), the reservations and
/// `/chosen`.
pub fn parse_memory<'a>(dtb: &Dtb<'a>) -> Result<MemoryInfo<'a>, DtbError> {
    let mut info = MemoryInfo {
        ram: RangeSet::new(),
        ram_entries: 0,
        numa: [None; MAX_RAM_RANGES],
        reserved: [None; MAX_RESERVED],
        bootargs: None,
        kaslr_seed: None,
        stdout_path: None,
        psci_method: None,
        psci_v0_1: false,
        psci_cpu_on: None,
        cpus: [0; MAX_CPUS],
        ncpus: 0,
        cpus_total: 0,
        adjustments: [None; MAX_ADJUSTMENTS],
        nadjustments: 0,
    };
    let mut raw: [Range; MAX_RAM_RANGES] = [Range::default(); MAX_RAM_RANGES];
    let empty = Frame {
        name: "",
        child_cells: (2, 1),
        device_type_memory: false,
        disabled: false,
        no_map: false,
        numa_node: None,
        reg: None,
    };
    let mut stack = [empty; MAX_DEPTH + 1];
    let mut depth = 0usize;
    for tok in dtb.tokens() {
        match tok {
            Token::Begin(name) => {
                depth += 1;
                stack[depth] = Frame { name, ..empty };
            }
            Token::Prop(name, value) => {
                let f = &mut stack[depth];
                let cell = || be32(value, 0).unwrap_or(0);
                match name {
                    "#address-cells" => f.child_cells.0 = cell(),
                    "#size-cells" => f.child_cells.1 = cell(),
                    "device_type" => f.device_type_memory = value.split(|&b| b == 0).next() == Some(b"memory"),
                    "status" => {
                        let s = value.split(|&b| b == 0).next().unwrap_or(b"");
                        f.disabled = s != b"okay" && s != b"ok";
                    }
                    "no-map" => f.no_map = true,
                    "numa-node-id" => f.numa_node = be32(value, 0).filter(|_| value.len() == 4),
                    "reg" => f.reg = Some(value),
                    _ => {}
                }
                if depth == 2
                    && stack[1].name.is_empty()
                    && stack[2].name.split('@').next() == Some("psci")
                    && name == "method"
                {
                    info.psci_method = core::str::from_utf8(value).ok().map(|s| s.trim_end_matches('\0'));
                }
                if depth == 2 && stack[1].name.is_empty() && stack[2].name.split('@').next() == Some("psci") {
                    match name {
                        // The first PSCI string in the list decides, as the
                        // most specific compatible wins.
                        "compatible" => {
                            info.psci_v0_1 = value
                                .split(|&b| b == 0)
                                .find(|c| matches!(*c, b"arm,psci" | b"arm,psci-0.2" | b"arm,psci-1.0"))
                                == Some(b"arm,psci".as_slice())
                        }
                        "cpu_on" => info.psci_cpu_on = be32(value, 0).filter(|_| value.len() == 4),
                        _ => {}
                    }
                }
                if depth == 2 && stack[1].name.is_empty() && stack[2].name == "chosen" {
                    let text = || core::str::from_utf8(value).ok().map(|s| s.trim_end_matches('\0'));
                    match name {
                        "bootargs" => info.bootargs = text(),
                        "stdout-path" => info.stdout_path = text(),
                        "kaslr-seed" => info.kaslr_seed = be64(value, 0).filter(|_| value.len() == 8),
                        _ => {}
                    }
                }
            }
            Token::End => {
                let node = stack[depth];
                let parent = stack[depth - 1];
                let base_name = node.name.split('@').next().unwrap_or("");
                let is_memory = (depth == 2 && base_name == "memory") || node.device_type_memory;
                let is_cpu = depth == 3 && stack[2].name == "cpus" && base_name == "cpu";
                if is_cpu && !node.disabled {
                    if let Some(reg) = node.reg {
                        let mpidr = match parent.child_cells.0 {
                            1 => be32(reg, 0).map(u64::from),
                            2 => be64(reg, 0),
                            _ => None,
                        };
                        if let Some(m) = mpidr {
                            info.cpus_total += 1;
                            if info.ncpus < MAX_CPUS {
                                info.cpus[info.ncpus] = m;
                                info.ncpus += 1;
                            }
                        }
                    }
                }
                let in_reserved = depth == 3
                    && stack[1].name.is_empty()
                    && stack[2].name.split('@').next() == Some("reserved-memory");
                if is_memory && !node.disabled {
                    if let Some(reg) = node.reg {
                        decode_reg(reg, parent.child_cells, node.name, |b, s| {
                            let Some(given) = check_range(node.name, b, s)? else {
                                info.adjusted(
                                    AdjustKind::ZeroSizeSkipped,
                                    node.name,
                                    Range { base: b, end: b },
                                    Range::default(),
                                );
                                return Ok(());
                            };
                            let r = trim_to_pages(given);
                            if r != given {
                                info.adjusted(AdjustKind::RamTrimmed, node.name, given, r);
                            }
                            if r.base >= r.end {
                                return Ok(());
                            }
                            if info.ram_entries == MAX_RAM_RANGES {
                                return Err(DtbError::TooManyRanges);
                            }
                            if raw[..info.ram_entries].iter().any(|o| o.overlaps(&r)) {
                                info.adjusted(AdjustKind::RamMerged, node.name, given, r);
                            }
                            raw[info.ram_entries] = r;
                            info.numa[info.ram_entries] = node.numa_node.map(|n| (n, r));
                            info.ram_entries += 1;
                            info.ram.add(r).map_err(|_| DtbError::TooManyRanges)
                        })?;
                    }
                } else if in_reserved && !node.disabled && !stack[2].disabled {
                    if let Some(reg) = node.reg {
                        let name = NodeName::new(node.name);
                        let kind =
                            if node.no_map { ReservedKind::NoMap(name) } else { ReservedKind::ReservedMemory(name) };
                        decode_reg(reg, parent.child_cells, node.name, |b, s| {
                            let Some(given) = check_range(node.name, b, s)? else {
                                info.adjusted(
                                    AdjustKind::ZeroSizeSkipped,
                                    node.name,
                                    Range { base: b, end: b },
                                    Range::default(),
                                );
                                return Ok(());
                            };
                            let r = round_to_pages(given);
                            if r != given {
                                info.adjusted(AdjustKind::ReservationRounded, node.name, given, r);
                            }
                            info.reserve(r, kind)
                        })?;
                    }
                }
                depth -= 1;
            }
        }
    }
    if info.ram.is_empty() {
        return Err(DtbError::NoMemory);
    }
    for (base, size) in dtb.mem_reservations() {
        if size > 0 {
            let given = Range::new(base, size).ok_or(DtbError::RangeTooHigh {
                node: NodeName::new("/memreserve/"),
                base,
                size,
            })?;
            let r = round_to_pages(given);
            if r != given {
                info.adjusted(AdjustKind::ReservationRounded, "/memreserve/", given, r);
            }
            info.reserve(r, ReservedKind::MemReserve)?;
        }
    }
    Ok(info)
}
