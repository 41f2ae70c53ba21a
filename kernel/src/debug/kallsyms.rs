//! Symbol names for backtraces and the monitor's `sym` command.
//!
//! The image reserves [`KALLSYMS_SIZE`] bytes in `.rodata`; after linking,
//! the image builder (src/image.rs in the launcher) fills them with the
//! kernel's function symbols, so the addresses in the image do not move:
//!
//! ```text
//! u32 magic "KSYM", u32 count,
//! count x { u32 offset from _text, u32 size, u32 name offset },
//! names, NUL-terminated, demangled
//! ```
//!
//! Entries are sorted by address. A kernel that was not post-processed
//! (magic missing) prints bare addresses.

use crate::mm::physaddr::image_bounds;

/// Bytes reserved for the table.
pub const KALLSYMS_SIZE: usize = 96 * 1024;
const MAGIC: u32 = u32::from_le_bytes(*b"KSYM");

/// The table, filled in after linking.
#[link_section = ".kallsyms"]
#[used]
#[no_mangle]
pub static KALLSYMS: [u8; KALLSYMS_SIZE] = [0; KALLSYMS_SIZE];

fn table() -> &'static [u8] {
    // Read through a volatile pointer: the compiler must not assume the zeros.
    // SAFETY: the static is always mapped; its bytes are plain data.
    unsafe { core::slice::from_raw_parts(core::ptr::read_volatile(&&raw const KALLSYMS) as *const u8, KALLSYMS_SIZE) }
}

fn u32_at(t: &[u8], off: usize) -> Option<u32> {
    t.get(off..off + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A symbol found for an address.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    /// The function's name.
    pub name: &'static str,
    /// Offset of the address inside it.
    pub offset: u64,
    /// The function's size.
    pub size: u64,
}

impl core::fmt::Display for Found {
    /// Linux's `%pS` shape: `name+0xoff/0xsize`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}+{:#x}/{:#x}", self.name, self.offset, self.size)
    }
}

/// The function containing `addr`, if the table has it.
pub fn lookup(addr: u64) -> Option<Found> {
    let t = table();
    if u32_at(t, 0)? != MAGIC {
        return None;
    }
    let count = u32_at(t, 4)? as usize;
    let (text, _) = image_bounds();
    let off = addr.checked_sub(text)?;
    let entry = |i: usize| -> Option<(u64, u64, usize)> {
        let e = 8 + i * 12;
        Some((u32_at(t, e)? as u64, u32_at(t, e + 4)? as u64, u32_at(t, e + 8)? as usize))
    };
    // Last entry starting at or below `off`.
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry(mid)?.0 <= off {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let (start, size, name_off) = entry(lo.checked_sub(1)?)?;
    if off >= start + size.max(1) {
        return None;
    }
    let names = t.get(name_off..)?;
    let len = names.iter().position(|&b| b == 0)?;
    let name = core::str::from_utf8(&names[..len]).ok()?;
    Some(Found { name, offset: off - start, size })
}

/// The address of the function called `name`: its full path
/// (`vakern::setup::start_kernel`) or, if only one function has it, its last
/// component (`start_kernel`).
pub fn address_of(name: &str) -> Option<u64> {
    let t = table();
    if u32_at(t, 0)? != MAGIC || name.is_empty() {
        return None;
    }
    let (text, _) = image_bounds();
    let mut by_suffix = None;
    let mut suffix_matches = 0;
    for i in 0..u32_at(t, 4)? as usize {
        let e = 8 + i * 12;
        let (start, name_off) = (u32_at(t, e)? as u64, u32_at(t, e + 8)? as usize);
        let names = t.get(name_off..)?;
        let len = names.iter().position(|&b| b == 0)?;
        let full = &names[..len];
        if full == name.as_bytes() {
            return Some(text + start);
        }
        if full.len() > name.len() + 2
            && full.ends_with(name.as_bytes())
            && full[..full.len() - name.len()].ends_with(b"::")
        {
            by_suffix = Some(text + start);
            suffix_matches += 1;
        }
    }
    if suffix_matches == 1 {
        by_suffix
    } else {
        None
    }
}

/// Every function name in the table, in address order (for completion).
pub fn names() -> impl Iterator<Item = &'static str> {
    let t = table();
    let count = if u32_at(t, 0) == Some(MAGIC) { u32_at(t, 4).unwrap_or(0) as usize } else { 0 };
    (0..count).filter_map(move |i| {
        let name_off = u32_at(t, 8 + i * 12 + 8)? as usize;
        let names = t.get(name_off..)?;
        let len = names.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&names[..len]).ok()
    })
}
