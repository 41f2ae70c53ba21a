//! Editing a flattened device tree on the host, the way a boot firmware does
//! before it hands the tree to the kernel.
//!
//! This runs in the launcher, before QEMU starts: it is the "firmware" step
//! of a board boot. A blob is read into a [`Tree`] (nodes, properties and
//! the `/memreserve/` block), edited, and written back as a new blob
//! (version 17). Everything the kernel does not need changed is carried
//! over as it was: node order, property order and values, reservations and
//! the boot CPU. The edits a firmware makes are here: the true RAM ranges
//! in the memory node ([`Tree::set_memory`]) and `/chosen` strings such as
//! `bootargs` ([`Tree::set_chosen_string`]).
//!
//! It uses only the standard library and checks every offset and length of
//! the input: a broken blob is an [`FdtError`], never a panic.

use std::fmt;

const MAGIC: u32 = 0xd00d_feed;
const HEADER_LEN: usize = 40;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
/// Deepest nesting accepted (real trees use about 6).
pub const MAX_DEPTH: usize = 32;
/// The version written; the oldest version a reader must understand is 16.
const VERSION: u32 = 17;
const LAST_COMPATIBLE: u32 = 16;

/// What is wrong with a blob or an edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FdtError {
    /// The blob is shorter than its header or `totalsize` says.
    Truncated,
    /// The first word is not 0xd00dfeed.
    BadMagic(u32),
    /// Older than version 16.
    BadVersion(u32),
    /// A block lies outside the blob or is misaligned.
    BadLayout(&'static str),
    /// The structure block is malformed at this offset in it.
    Malformed(&'static str, usize),
    /// `#address-cells`/`#size-cells` of a node are not 1 or 2.
    BadCells {
        /// The node whose children use them.
        node: String,
        /// `#address-cells`.
        address: u32,
        /// `#size-cells`.
        size: u32,
    },
    /// A RAM range that is empty, wraps, overlaps another, or does not fit
    /// the parent's cells.
    BadRange {
        /// Base.
        base: u64,
        /// Size.
        size: u64,
        /// Why.
        why: &'static str,
    },
    /// No RAM range given.
    NoRanges,
    /// A path that names no node.
    NoNode(String),
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdtError::Truncated => write!(f, "truncated device tree"),
            FdtError::BadMagic(m) => write!(f, "not a device tree: magic {m:#010x}, expected 0xd00dfeed"),
            FdtError::BadVersion(v) => write!(f, "device tree version {v} is older than 16"),
            FdtError::BadLayout(what) => write!(f, "bad device tree layout: {what}"),
            FdtError::Malformed(what, at) => {
                write!(f, "malformed device tree structure at offset {at:#x}: {what}")
            }
            FdtError::BadCells { node, address, size } => {
                write!(f, "node {node:?}: #address-cells = {address}, #size-cells = {size} (only 1 or 2 are supported)")
            }
            FdtError::BadRange { base, size, why } => {
                write!(f, "RAM range base {base:#x} size {size:#x}: {why}")
            }
            FdtError::NoRanges => write!(f, "no RAM range given"),
            FdtError::NoNode(p) => write!(f, "no node {p:?} in the device tree"),
        }
    }
}

impl std::error::Error for FdtError {}

/// One property: a name and raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prop {
    /// Name.
    pub name: String,
    /// Value, as stored (big-endian cells, NUL-terminated strings).
    pub value: Vec<u8>,
}

/// One node with its properties and children, in tree order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Name with unit address (`memory@0`); empty for the root.
    pub name: String,
    /// Properties.
    pub props: Vec<Prop>,
    /// Children.
    pub children: Vec<Node>,
}

impl Node {
    /// The property called `name`.
    pub fn prop(&self, name: &str) -> Option<&[u8]> {
        self.props.iter().find(|p| p.name == name).map(|p| p.value.as_slice())
    }

    /// A string property, without its terminating NUL (the first string of a list).
    pub fn prop_str(&self, name: &str) -> Option<&str> {
        let v = self.prop(name)?;
        let first = v.split(|&b| b == 0).next()?;
        std::str::from_utf8(first).ok()
    }

    /// A one-cell property.
    pub fn prop_u32(&self, name: &str) -> Option<u32> {
        let v = self.prop(name)?;
        (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    /// Set (or add, at the end) a property.
    pub fn set_prop(&mut self, name: &str, value: Vec<u8>) {
        match self.props.iter_mut().find(|p| p.name == name) {
            Some(p) => p.value = value,
            None => self.props.push(Prop { name: name.to_string(), value }),
        }
    }

    /// The child called exactly `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The child called exactly `name`, to edit.
    pub fn child_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// `#address-cells` and `#size-cells` that this node's children use
    /// (2 and 1 when absent, as the specification says).
    pub fn child_cells(&self) -> (u32, u32) {
        (self.prop_u32("#address-cells").unwrap_or(2), self.prop_u32("#size-cells").unwrap_or(1))
    }

    /// True for a memory node: named `memory` or `memory@…`, or with
    /// `device_type = "memory"`.
    pub fn is_memory(&self) -> bool {
        self.name.split('@').next() == Some("memory") || self.prop_str("device_type") == Some("memory")
    }
}

/// A whole device tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    /// `/memreserve/` entries (base, size).
    pub memreserve: Vec<(u64, u64)>,
    /// `boot_cpuid_phys` from the header.
    pub boot_cpuid: u32,
    /// The root node.
    pub root: Node,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(((be32(b, at)? as u64) << 32) | be32(b, at + 4)? as u64)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Tree {
    /// Read a blob.
    pub fn parse(blob: &[u8]) -> Result<Tree, FdtError> {
        let word = |i: usize| be32(blob, i * 4).ok_or(FdtError::Truncated);
        let magic = word(0)?;
        if magic != MAGIC {
            return Err(FdtError::BadMagic(magic));
        }
        if blob.len() < HEADER_LEN {
            return Err(FdtError::Truncated);
        }
        let total = word(1)? as usize;
        if total > blob.len() || total < HEADER_LEN {
            return Err(FdtError::Truncated);
        }
        let blob = &blob[..total];
        let (off_struct, off_strings, off_rsv) = (word(2)? as usize, word(3)? as usize, word(4)? as usize);
        let version = word(5)?;
        if version < 16 {
            return Err(FdtError::BadVersion(version));
        }
        let boot_cpuid = word(7)?;
        let size_strings = word(8)? as usize;
        // Version 16 has no size_dt_struct: the block runs to the end at most.
        let size_struct = if version >= 17 { word(9)? as usize } else { total.saturating_sub(off_struct) };
        let within = |off: usize, len: usize| off.checked_add(len).is_some_and(|end| end <= total);
        if !within(off_struct, size_struct) || off_struct % 4 != 0 {
            return Err(FdtError::BadLayout("structure block outside the blob or misaligned"));
        }
        if !within(off_strings, size_strings) {
            return Err(FdtError::BadLayout("strings block outside the blob"));
        }
        if off_rsv % 8 != 0 || off_rsv >= total {
            return Err(FdtError::BadLayout("reservation block outside the blob or misaligned"));
        }
        let mut memreserve = Vec::new();
        let mut at = off_rsv;
        loop {
            let (base, size) = match (be64(blob, at), be64(blob, at + 8)) {
                (Some(b), Some(s)) => (b, s),
                _ => return Err(FdtError::BadLayout("reservation block runs past the end")),
            };
            if base == 0 && size == 0 {
                break;
            }
            memreserve.push((base, size));
            at += 16;
        }
        let structs = &blob[off_struct..off_struct + size_struct];
        let strings = &blob[off_strings..off_strings + size_strings];
        let root = parse_structure(structs, strings)?;
        Ok(Tree { memreserve, boot_cpuid, root })
    }

    /// Write the tree as a version-17 blob.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut strings: Vec<u8> = Vec::new();
        let mut structs: Vec<u8> = Vec::new();
        write_node(&self.root, &mut structs, &mut strings);
        structs.extend_from_slice(&END.to_be_bytes());
        let off_rsv = HEADER_LEN; // 40: already 8-aligned
        let rsv_len = (self.memreserve.len() + 1) * 16;
        let off_struct = off_rsv + rsv_len;
        let off_strings = off_struct + structs.len();
        let total = off_strings + strings.len();
        let header = [
            MAGIC,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            VERSION,
            LAST_COMPATIBLE,
            self.boot_cpuid,
            strings.len() as u32,
            structs.len() as u32,
        ];
        let mut out = Vec::with_capacity(total);
        for w in header {
            out.extend_from_slice(&w.to_be_bytes());
        }
        for &(base, size) in self.memreserve.iter().chain(std::iter::once(&(0, 0))) {
            out.extend_from_slice(&base.to_be_bytes());
            out.extend_from_slice(&size.to_be_bytes());
        }
        out.extend_from_slice(&structs);
        out.extend_from_slice(&strings);
        out
    }

    /// The node at an absolute path such as `/soc/serial@7e215040` (`/` is the root).
    pub fn node(&self, path: &str) -> Option<&Node> {
        let mut n = &self.root;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            n = n.child(part)?;
        }
        Some(n)
    }

    /// Replace the RAM description with `ranges` (base, size): the first
    /// memory node under the root becomes `memory@<first base>` holding all of
    /// them, encoded with the root's `#address-cells`/`#size-cells`; every other
    /// memory node under the root is removed. A range too large for one size
    /// cell is written as several entries of at most 2 GiB.
    pub fn set_memory(&mut self, ranges: &[(u64, u64)]) -> Result<(), FdtError> {
        let (acells, scells) = self.root.child_cells();
        if !(1..=2).contains(&acells) || !(1..=2).contains(&scells) {
            return Err(FdtError::BadCells { node: "/".into(), address: acells, size: scells });
        }
        let reg = encode_reg(ranges, acells, scells)?;
        let mut sorted = ranges.to_vec();
        sorted.sort();
        let node = Node {
            name: format!("memory@{:x}", sorted[0].0),
            props: vec![
                Prop { name: "device_type".into(), value: b"memory\0".to_vec() },
                Prop { name: "reg".into(), value: reg },
            ],
            children: Vec::new(),
        };
        let children = &mut self.root.children;
        match children.iter().position(Node::is_memory) {
            Some(first) => {
                children[first] = node;
                let mut i = 0;
                children.retain(|c| {
                    let keep = i == first || !c.is_memory();
                    i += 1;
                    keep
                });
            }
            None => children.push(node),
        }
        Ok(())
    }

    /// Set a string property of `/chosen` (creating the node if needed).
    pub fn set_chosen_string(&mut self, name: &str, value: &str) {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.chosen().set_prop(name, v);
    }

    /// Set a 64-bit property of `/chosen` (two cells, big-endian), such as
    /// `kaslr-seed`.
    pub fn set_chosen_u64(&mut self, name: &str, value: u64) {
        self.chosen().set_prop(name, value.to_be_bytes().to_vec());
    }

    fn chosen(&mut self) -> &mut Node {
        if self.root.child("chosen").is_none() {
            self.root.children.push(Node { name: "chosen".into(), ..Node::default() });
        }
        self.root.child_mut("chosen").expect("just added")
    }

    /// The RAM ranges the memory nodes under the root describe, in tree order.
    pub fn memory(&self) -> Result<Vec<(u64, u64)>, FdtError> {
        let (acells, scells) = self.root.child_cells();
        let mut out = Vec::new();
        for n in self.root.children.iter().filter(|n| n.is_memory()) {
            if let Some(reg) = n.prop("reg") {
                out.extend(decode_reg(reg, acells, scells, &n.name)?);
            }
        }
        Ok(out)
    }
}

/// Encode (base, size) pairs, sorted by base, as a `reg` value with the
/// given cell counts.
pub fn encode_reg(ranges: &[(u64, u64)], acells: u32, scells: u32) -> Result<Vec<u8>, FdtError> {
    if ranges.is_empty() {
        return Err(FdtError::NoRanges);
    }
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for (i, &(base, size)) in sorted.iter().enumerate() {
        let bad = |why| Err(FdtError::BadRange { base, size, why });
        if size == 0 {
            return bad("size is zero");
        }
        let Some(end) = base.checked_add(size) else { return bad("wraps past 2^64") };
        if acells == 1 && end > 1 << 32 {
            return bad("ends above 4 GiB but the tree has one address cell");
        }
        if let Some(&(next, _)) = sorted.get(i + 1) {
            if next < end {
                return bad("overlaps the next range");
            }
        }
    }
    let mut out = Vec::new();
    let mut cell = |v: u64, cells: u32| {
        if cells == 2 {
            out.extend_from_slice(&v.to_be_bytes());
        } else {
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
    };
    for &(base, size) in &sorted {
        let (mut b, mut left) = (base, size);
        while left > 0 {
            let chunk = if scells == 1 && left > u32::MAX as u64 { 1 << 31 } else { left };
            cell(b, acells);
            cell(chunk, scells);
            b += chunk;
            left -= chunk;
        }
    }
    Ok(out)
}

/// Decode a `reg` value into (base, size) pairs.
pub fn decode_reg(reg: &[u8], acells: u32, scells: u32, node: &str) -> Result<Vec<(u64, u64)>, FdtError> {
    if !(1..=2).contains(&acells) || !(1..=2).contains(&scells) {
        return Err(FdtError::BadCells { node: node.into(), address: acells, size: scells });
    }
    let entry = 4 * (acells + scells) as usize;
    if !reg.len().is_multiple_of(entry) {
        return Err(FdtError::Malformed("reg is not a whole number of entries", 0));
    }
    let read = |at: usize, cells: u32| if cells == 2 { be64(reg, at) } else { be32(reg, at).map(u64::from) };
    Ok(reg
        .chunks_exact(entry)
        .enumerate()
        .filter_map(|(i, _)| {
            let at = i * entry;
            Some((read(at, acells)?, read(at + 4 * acells as usize, scells)?))
        })
        .collect())
}

fn parse_structure(s: &[u8], strings: &[u8]) -> Result<Node, FdtError> {
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut at = 0usize;
    loop {
        let tok = be32(s, at).ok_or(FdtError::Malformed("structure block ends without FDT_END", at))?;
        let here = at;
        at += 4;
        match tok {
            BEGIN_NODE => {
                if root.is_some() {
                    return Err(FdtError::Malformed("a second root node", here));
                }
                let rest = &s[at..];
                let len = rest.iter().position(|&b| b == 0).ok_or(FdtError::Malformed("unterminated node name", at))?;
                let name = std::str::from_utf8(&rest[..len])
                    .map_err(|_| FdtError::Malformed("node name is not UTF-8", at))?
                    .to_string();
                at = align4(at + len + 1);
                if stack.len() == MAX_DEPTH {
                    return Err(FdtError::Malformed("nodes nested too deeply", here));
                }
                stack.push(Node { name, ..Node::default() });
            }
            END_NODE => {
                let node = stack.pop().ok_or(FdtError::Malformed("FDT_END_NODE without a node", here))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            PROP => {
                let (len, nameoff) = match (be32(s, at), be32(s, at + 4)) {
                    (Some(l), Some(n)) => (l as usize, n as usize),
                    _ => return Err(FdtError::Malformed("truncated property header", here)),
                };
                at += 8;
                let node = stack.last_mut().ok_or(FdtError::Malformed("property outside any node", here))?;
                let value = at
                    .checked_add(len)
                    .and_then(|end| s.get(at..end))
                    .ok_or(FdtError::Malformed("property value runs past the block", here))?;
                let name_bytes = strings.get(nameoff..).ok_or(FdtError::Malformed("name offset past strings", here))?;
                let nlen = name_bytes
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(FdtError::Malformed("unterminated property name", here))?;
                let name = std::str::from_utf8(&name_bytes[..nlen])
                    .map_err(|_| FdtError::Malformed("property name is not UTF-8", here))?;
                node.props.push(Prop { name: name.to_string(), value: value.to_vec() });
                at = align4(at + len);
            }
            NOP => {}
            END => {
                if !stack.is_empty() {
                    return Err(FdtError::Malformed("FDT_END inside a node", here));
                }
                return root.ok_or(FdtError::Malformed("no root node", here));
            }
            _ => return Err(FdtError::Malformed("unknown token", here)),
        }
    }
}

fn string_offset(strings: &mut Vec<u8>, name: &str) -> u32 {
    // Reuse an existing entry (whole string) to keep the block small.
    let mut at = 0;
    for s in strings.split(|&b| b == 0) {
        if s == name.as_bytes() && at + s.len() < strings.len() {
            return at as u32;
        }
        at += s.len() + 1;
    }
    let off = strings.len();
    strings.extend_from_slice(name.as_bytes());
    strings.push(0);
    off as u32
}

fn write_node(n: &Node, out: &mut Vec<u8>, strings: &mut Vec<u8>) {
    out.extend_from_slice(&BEGIN_NODE.to_be_bytes());
    out.extend_from_slice(n.name.as_bytes());
    out.push(0);
    out.resize(align4(out.len()), 0);
    for p in &n.props {
        out.extend_from_slice(&PROP.to_be_bytes());
        out.extend_from_slice(&(p.value.len() as u32).to_be_bytes());
        out.extend_from_slice(&string_offset(strings, &p.name).to_be_bytes());
        out.extend_from_slice(&p.value);
        out.resize(align4(out.len()), 0);
    }
    for c in &n.children {
        write_node(c, out, strings);
    }
    out.extend_from_slice(&END_NODE.to_be_bytes());
}

/// The firmware step of a board boot: `blob` with its memory node replaced
/// by `ranges` and, when given, `/chosen/bootargs` set.
pub fn patch_for_boot(blob: &[u8], ranges: &[(u64, u64)], bootargs: Option<&str>) -> Result<Vec<u8>, FdtError> {
    let mut t = Tree::parse(blob)?;
    t.set_memory(ranges)?;
    if let Some(args) = bootargs {
        t.set_chosen_string("bootargs", args);
    }
    Ok(t.to_blob())
}

/// `blob` with its memory node replaced by `ranges`.
pub fn patch_memory(blob: &[u8], ranges: &[(u64, u64)]) -> Result<Vec<u8>, FdtError> {
    patch_for_boot(blob, ranges, None)
}

/// Translate a `reg` address of the node at `path` into a CPU physical
/// address through every parent's `ranges` (an empty `ranges` is the
/// identity; a missing one means the bus is not memory-mapped: `None`).
pub fn translate(tree: &Tree, path: &str, addr: u64) -> Option<u64> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // nodes[i] is the ancestor at depth i (0 = root).
    let mut nodes = vec![&tree.root];
    for p in &parts {
        nodes.push(nodes.last()?.child(p)?);
    }
    let mut addr = addr;
    // The node's parent is nodes[len-2]; walk from it up to (not including) the root.
    for depth in (1..nodes.len() - 1).rev() {
        let bus = nodes[depth];
        let (child_a, child_s) = bus.child_cells();
        let (parent_a, _) = nodes[depth - 1].child_cells();
        let ranges = bus.prop("ranges")?;
        if ranges.is_empty() {
            continue;
        }
        let entry = 4 * (child_a + parent_a + child_s) as usize;
        if entry == 0 || ranges.len() % entry != 0 {
            return None;
        }
        let read = |b: &[u8], at: usize, cells: u32| -> Option<u64> {
            match cells {
                1 => be32(b, at).map(u64::from),
                2 => be64(b, at),
                _ => None,
            }
        };
        let mut mapped = None;
        for e in ranges.chunks_exact(entry) {
            let child = read(e, 0, child_a)?;
            let parent = read(e, 4 * child_a as usize, parent_a)?;
            let size = read(e, 4 * (child_a + parent_a) as usize, child_s)?;
            if addr >= child && addr - child < size {
                mapped = Some(parent + (addr - child));
                break;
            }
        }
        addr = mapped?;
    }
    Some(addr)
}

/// Resolve `/chosen/stdout-path` (an alias or a path, `:options` dropped) to a node path.
pub fn stdout_node_path(tree: &Tree) -> Option<String> {
    let sp = tree.node("/chosen")?.prop_str("stdout-path")?;
    let name = sp.split(':').next()?;
    if name.starts_with('/') {
        return Some(name.to_string());
    }
    tree.node("/aliases")?.prop_str(name).map(str::to_string)
}
