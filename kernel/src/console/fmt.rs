//! Formatting without a heap: a string built in a fixed buffer, and sizes
//! padded for the tables of the boot log. Usable from the first line of
//! `start_kernel` on (before the heap exists).

/// A string built in a fixed buffer (for padding formatted values before
/// there is a heap). Output past the capacity is dropped.
pub struct StrBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for StrBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> StrBuf<N> {
    /// Empty.
    pub const fn new() -> Self {
        StrBuf { buf: [0; N], len: 0 }
    }
    /// The text so far.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> core::fmt::Write for StrBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Pads like a `&str` (so `{:>9}` works on a formatted value).
impl<const N: usize> core::fmt::Display for StrBuf<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Format `v` into a [`StrBuf`], so that width and alignment apply to the whole text.
pub fn padded(v: impl core::fmt::Display) -> StrBuf<32> {
    use core::fmt::Write;
    let mut b = StrBuf::new();
    let _ = write!(b, "{}", v);
    b
}
