//! Which console to use, found the way Linux finds it.
//!
//! Boot stage 4 calls [`find_console`] with the checked device tree (still
//! in the fixmap) and the command line, before anything is printed; the
//! kernel then maps the answer's physical address into the fixmap's
//! early-console slot. Plain logic over the blob, tested on the host against
//! Linux's trees for real boards and QEMU's virt trees.
//!
//! The order:
//! 1. `/chosen/stdout-path`: a path or an alias from `/aliases`, with any
//!    `:options` after the name ignored. If it names a device of a kind
//!    the kernel drives, that is the console.
//! 2. Otherwise `earlycon=` on the command line, in Linux's syntax:
//!    `earlycon` alone (the stdout-path device, tried above),
//!    `earlycon=pl011,0x9000000`, `earlycon=pl011,mmio32,0x9000000`,
//!    `earlycon=cdns,0xff000000`, `earlycon=bcm2835aux,0x3f215040`, or
//!    `earlycon=smh` (semihosting). Options after the address are ignored.
//! 3. Otherwise none: the kernel runs on without a console.
//!
//! A device's `reg` is a bus address; it becomes a CPU physical address
//! through the `ranges` of every ancestor bus (an empty `ranges` is the
//! identity, a missing one means the bus is not memory-mapped and the
//! device cannot be reached).

use crate::dtb::{Dtb, Token, MAX_DEPTH};
use crate::fdt_walk::{be32, be64};

/// The UARTs the kernel drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// ARM PrimeCell PL011 (`arm,pl011`): QEMU virt, the Pi's first UART.
    Pl011,
    /// Cadence UART (`cdns,uart-r1p12`, `xlnx,xuartps`): the ZynqMP's.
    Cadence,
    /// The BCM2835 auxiliary mini UART (`brcm,bcm2835-aux-uart`).
    Bcm2835Aux,
}

impl UartKind {
    /// The kind a `compatible` string names, if the kernel drives it.
    pub fn from_compatible(c: &str) -> Option<UartKind> {
        match c {
            "arm,pl011" => Some(UartKind::Pl011),
            "cdns,uart-r1p12" | "cdns,uart-r1p8" | "xlnx,xuartps" | "xlnx,zynqmp-uart" => Some(UartKind::Cadence),
            "brcm,bcm2835-aux-uart" => Some(UartKind::Bcm2835Aux),
            _ => None,
        }
    }

    /// The name `earlycon=` uses for it.
    pub fn from_earlycon(name: &str) -> Option<UartKind> {
        match name {
            "pl011" => Some(UartKind::Pl011),
            "cdns" => Some(UartKind::Cadence),
            "bcm2835aux" => Some(UartKind::Bcm2835Aux),
            _ => None,
        }
    }

    /// Short name for the boot log.
    pub fn name(&self) -> &'static str {
        match self {
            UartKind::Pl011 => "PL011",
            UartKind::Cadence => "Cadence UART",
            UartKind::Bcm2835Aux => "BCM2835 mini UART",
        }
    }
}

/// Where the console's choice came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `/chosen/stdout-path`.
    StdoutPath,
    /// `earlycon=` on the command line.
    Earlycon,
}

/// The console to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// A UART at a CPU physical address.
    Uart {
        /// Which driver.
        kind: UartKind,
        /// Physical address of its registers.
        pa: u64,
        /// How it was found.
        source: Source,
    },
    /// The semihosting console (`earlycon=smh`).
    Semihosting,
    /// Nothing the kernel can drive.
    None,
}

/// Why stdout-path did not give a console (for the boot log once one exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped<'a> {
    /// No `/chosen/stdout-path`.
    NoStdoutPath,
    /// The alias or path names no node.
    NoSuchNode(&'a str),
    /// The node's `compatible` names no driver the kernel has.
    NoDriver(&'a str),
    /// The node has no usable `reg`, or a bus above it is not memory-mapped.
    NotMapped(&'a str),
}

/// What [`find_console`] decided, and why stdout-path was passed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found<'a> {
    /// The console.
    pub console: Console,
    /// Why stdout-path gave none (when it did not).
    pub skipped: Option<Skipped<'a>>,
}

/// Parse the value of `earlycon=` (None for a bare `earlycon` or one the
/// kernel does not understand).
pub fn parse_earlycon(value: &str) -> Option<Console> {
    let mut parts = value.split(',');
    let name = parts.next()?;
    if name == "smh" {
        return Some(Console::Semihosting);
    }
    let kind = UartKind::from_earlycon(name)?;
    let mut addr = parts.next()?;
    if matches!(addr, "mmio" | "mmio32") {
        addr = parts.next()?;
    }
    let hex = addr.strip_prefix("0x").or_else(|| addr.strip_prefix("0X"))?;
    let pa = u64::from_str_radix(hex, 16).ok()?;
    Some(Console::Uart { kind, pa, source: Source::Earlycon })
}

/// The `earlycon` option of a command line: `Some(None)` for a bare
/// `earlycon`, `Some(Some(v))` for `earlycon=v`, `None` if absent.
fn earlycon_option(cmdline: &str) -> Option<Option<&str>> {
    cmdline.split_ascii_whitespace().rev().find_map(|w| match w.split_once('=') {
        Some(("earlycon", v)) => Some(Some(v)),
        None if w == "earlycon" => Some(None),
        _ => None,
    })
}

/// A NUL-terminated string property's text.
fn text(v: &[u8]) -> Option<&str> {
    core::str::from_utf8(v).ok().map(|s| s.split('\0').next().unwrap_or(""))
}

/// The node path stdout-path names: the alias resolved, options dropped.
pub fn stdout_node<'a>(dtb: &Dtb<'a>) -> Result<&'a str, Skipped<'a>> {
    let mut stdout = None;
    let mut depth = 0usize;
    let mut at_chosen = false;
    for tok in dtb.tokens() {
        match tok {
            Token::Begin(name) => {
                depth += 1;
                at_chosen = depth == 2 && name == "chosen";
            }
            Token::End => {
                depth = depth.saturating_sub(1);
                at_chosen = false;
            }
            Token::Prop("stdout-path", v) if at_chosen => stdout = text(v),
            Token::Prop(..) => {}
        }
    }
    let spec = stdout.ok_or(Skipped::NoStdoutPath)?;
    let name = spec.split(':').next().unwrap_or("");
    if name.starts_with('/') {
        return Ok(name);
    }
    // An alias: a property of /aliases.
    let mut depth = 0usize;
    let mut at_aliases = false;
    for tok in dtb.tokens() {
        match tok {
            Token::Begin(n) => {
                depth += 1;
                at_aliases = depth == 2 && n == "aliases";
            }
            Token::End => {
                depth = depth.saturating_sub(1);
                at_aliases = false;
            }
            Token::Prop(p, v) if at_aliases && p == name => {
                return text(v).filter(|t| t.starts_with('/')).ok_or(Skipped::NoSuchNode(name));
            }
            Token::Prop(..) => {}
        }
    }
    Err(Skipped::NoSuchNode(name))
}

/// One level on the way down to the node.
#[derive(Clone, Copy)]
struct Level<'a> {
    cells: (u32, u32),
    ranges: Option<&'a [u8]>,
}

fn read_cells(b: &[u8], at: usize, cells: u32) -> Option<u64> {
    match cells {
        1 => be32(b, at).map(u64::from),
        2 => be64(b, at),
        _ => None,
    }
}

/// Translate `addr`, a `reg` address of a node whose ancestors (root first)
/// are `levels`, into a CPU physical address.
fn translate(levels: &[Level], mut addr: u64) -> Option<u64> {
    // levels[0] is the root; levels[k] (k >= 1) is a bus whose `ranges`
    // maps its children's addresses into levels[k - 1]'s.
    for k in (1..levels.len()).rev() {
        let bus = levels[k];
        let ranges = bus.ranges?;
        if ranges.is_empty() {
            continue;
        }
        let (ca, cs) = bus.cells;
        let pa = levels[k - 1].cells.0;
        let entry = 4 * (ca + pa + cs) as usize;
        if entry == 0 || !ranges.len().is_multiple_of(entry) {
            return None;
        }
        addr = ranges.chunks_exact(entry).find_map(|e| {
            let child = read_cells(e, 0, ca)?;
            let parent = read_cells(e, 4 * ca as usize, pa)?;
            let size = read_cells(e, 4 * (ca + pa) as usize, cs)?;
            (addr >= child && addr - child < size).then(|| parent + (addr - child))
        })?;
    }
    Some(addr)
}

/// True if node name `name` matches path component `want` (with or without
/// its unit address).
fn name_matches(name: &str, want: &str) -> bool {
    name == want || (!want.contains('@') && name.split('@').next() == Some(want))
}

/// The node at `path`: its first `compatible` the kernel drives (or the
/// first one), and the CPU physical address of its first `reg` entry.
pub fn device_at<'a>(dtb: &Dtb<'a>, path: &'a str) -> Result<(UartKind, u64), Skipped<'a>> {
    let want: heapless_path::Parts = heapless_path::split(path).ok_or(Skipped::NoSuchNode(path))?;
    let root = Level { cells: (2, 1), ranges: None };
    // levels[depth - 1] for a node at `depth`, at most MAX_DEPTH.
    let mut levels = [root; MAX_DEPTH];
    // depth 0: outside the root; depth 1: the root; matched: how many of
    // `want` the current path matches.
    let mut depth = 0usize;
    let mut matched = 0usize;
    let mut compatible: Option<&[u8]> = None;
    let mut reg: Option<&[u8]> = None;
    let mut found = false;
    for tok in dtb.tokens() {
        match tok {
            Token::Begin(name) => {
                if found {
                    break;
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Skipped::NoSuchNode(path));
                }
                levels[depth - 1] = Level { cells: (2, 1), ranges: None };
                if depth == 1 {
                    continue;
                }
                if matched == depth - 2 && want.get(matched).is_some_and(|w| name_matches(name, w)) {
                    matched += 1;
                    found = matched == want.len;
                }
            }
            Token::Prop(p, v) => {
                let inside = matched + 1 == depth;
                if found && inside {
                    match p {
                        "compatible" => compatible = Some(v),
                        "reg" => reg = Some(v),
                        _ => {}
                    }
                } else if inside {
                    let l = &mut levels[depth - 1];
                    match p {
                        "#address-cells" => l.cells.0 = be32(v, 0).unwrap_or(0),
                        "#size-cells" => l.cells.1 = be32(v, 0).unwrap_or(0),
                        "ranges" => l.ranges = Some(v),
                        _ => {}
                    }
                }
            }
            Token::End => {
                if found {
                    break;
                }
                if matched + 1 == depth && matched > 0 {
                    matched -= 1;
                }
                depth = depth.saturating_sub(1);
            }
        }
    }
    if !found {
        return Err(Skipped::NoSuchNode(path));
    }
    let kind = compatible
        .into_iter()
        .flat_map(|c| c.split(|&b| b == 0))
        .filter_map(|c| core::str::from_utf8(c).ok())
        .find_map(UartKind::from_compatible)
        .ok_or(Skipped::NoDriver(path))?;
    // The node's parent is levels[depth - 2] (the bus whose cells size `reg`).
    let parent = depth - 2;
    let addr = reg.and_then(|r| read_cells(r, 0, levels[parent].cells.0)).ok_or(Skipped::NotMapped(path))?;
    let pa = translate(&levels[..=parent], addr).ok_or(Skipped::NotMapped(path))?;
    Ok((kind, pa))
}

/// Choose the console: see the module comment.
pub fn find_console<'a>(dtb: &Dtb<'a>, cmdline: &str) -> Found<'a> {
    let skipped = match stdout_node(dtb).and_then(|p| device_at(dtb, p)) {
        Ok((kind, pa)) => {
            return Found { console: Console::Uart { kind, pa, source: Source::StdoutPath }, skipped: None }
        }
        Err(s) => s,
    };
    let console = match earlycon_option(cmdline) {
        Some(Some(v)) => parse_earlycon(v).unwrap_or(Console::None),
        _ => Console::None,
    };
    Found { console, skipped: Some(skipped) }
}

/// A node path split into its components, without a heap.
mod heapless_path {
    /// Most components a path may have.
    const MAX: usize = crate::dtb::MAX_DEPTH;

    /// The components of a path.
    pub struct Parts<'a> {
        parts: [&'a str; MAX],
        pub len: usize,
    }

    impl<'a> Parts<'a> {
        /// Component `i`, if the path has that many.
        pub fn get(&self, i: usize) -> Option<&'a str> {
            self.parts[..self.len].get(i).copied()
        }
    }

    /// Split `/a/b@1/c`; `None` if it is too deep. The root's path, `/`,
    /// has no components: no node matches it.
    pub fn split(path: &str) -> Option<Parts<'_>> {
        let mut p = Parts { parts: [""; MAX], len: 0 };
        for c in path.split('/').filter(|c| !c.is_empty()) {
            *p.parts.get_mut(p.len)? = c;
            p.len += 1;
        }
        Some(p)
    }
}
