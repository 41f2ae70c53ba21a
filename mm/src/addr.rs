//! Address types and the translation arithmetic of arm64 Linux, without state,
//! for the flavour the crate is built in ([`crate::layout::ACTIVE`]; other
//! flavours' rules are methods of [`crate::flavour::Layout`]).
//!
//! The kernel's `physaddr.rs` feeds these functions the run-time values
//! (`memstart_addr`, `kimage_voffset`) and adds the `debug_virtual` checks;
//! the host tests check the arithmetic itself.

use crate::layout::{ACTIVE, PAGE_SHIFT};

/// A physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct PhysAddr(pub u64);

/// A kernel virtual address of any kind (linear, image, vmalloc, fixmap…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct VirtAddr(pub u64);

impl PhysAddr {
    /// Page frame number.
    #[doc(alias = "PHYS_PFN")]
    pub const fn pfn(self) -> u64 {
        self.0 >> PAGE_SHIFT
    }
    /// The address of page frame `pfn`.
    #[doc(alias = "PFN_PHYS")]
    pub const fn from_pfn(pfn: u64) -> PhysAddr {
        PhysAddr(pfn << PAGE_SHIFT)
    }
}

impl VirtAddr {
    /// The address of a pointer.
    pub fn of<T: ?Sized>(p: *const T) -> VirtAddr {
        VirtAddr(p as *const u8 as u64)
    }
    /// As a pointer.
    pub const fn as_ptr<T>(self) -> *mut T {
        self.0 as *mut T
    }
}

/// Is `va` in the linear range `[PAGE_OFFSET, PAGE_END)`? One unsigned
/// comparison, exact in every flavour: the check `debug_virtual` relies on.
/// In 6.12 flavours it is Linux's own `__is_lm_address`; 4.10's is the
/// single-bit [`lm_test`], which also accepts canonical-looking user
/// addresses with bit `VA_BITS - 1` set.
#[doc(alias = "__is_lm_address")]
pub const fn is_lm_address(va: u64) -> bool {
    ACTIVE.in_linear_range(va)
}

/// The built flavour's own `__is_lm_address`: bit `VA_BITS - 1` in 4.10,
/// the range check of [`is_lm_address`] in 6.12.
pub const fn lm_test(va: u64) -> bool {
    ACTIVE.lm_test(va)
}

/// Linux's `__lm_to_phys`: a linear address to its physical address
/// (4.10 clears the `PAGE_OFFSET` bits, 6.12 subtracts `PAGE_OFFSET`).
#[doc(alias = "__lm_to_phys")]
pub const fn lm_to_phys(va: u64, phys_offset: u64) -> u64 {
    ACTIVE.lm_to_phys(va, phys_offset)
}

/// Linux's `__kimg_to_phys`: an image address to its physical address.
#[doc(alias = "__kimg_to_phys")]
pub const fn kimg_to_phys(va: u64, kimage_voffset: u64) -> u64 {
    va.wrapping_sub(kimage_voffset)
}

/// Linux's `__phys_to_kimg`: a physical address inside the image to its image address.
#[doc(alias = "__phys_to_kimg")]
pub const fn phys_to_kimg(pa: u64, kimage_voffset: u64) -> u64 {
    pa.wrapping_add(kimage_voffset)
}

/// Linux's `__phys_to_virt`: a physical address to its linear address.
#[doc(alias = "__phys_to_virt")]
pub const fn phys_to_virt(pa: u64, phys_offset: u64) -> u64 {
    ACTIVE.phys_to_virt(pa, phys_offset)
}

/// `__pa` by the exact range check: the linear rule for linear addresses, the
/// image rule otherwise. (The version's own unchecked form, with 4.10's bit
/// test, is [`crate::flavour::Layout::virt_to_phys`].)
pub const fn virt_to_phys(va: u64, phys_offset: u64, kimage_voffset: u64) -> u64 {
    if is_lm_address(va) {
        lm_to_phys(va, phys_offset)
    } else {
        kimg_to_phys(va, kimage_voffset)
    }
}
