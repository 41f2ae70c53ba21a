//! Address types and the translation arithmetic of arm64 Linux, without state.
//!
//! The kernel's `physaddr.rs` feeds these functions the run-time values
//! (`memstart_addr`, `kimage_voffset`) and adds the `debug_virtual` checks;
//! the host tests check the arithmetic itself.

use crate::layout::{PAGE_OFFSET, PAGE_SHIFT};

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

/// Linux's `__is_lm_address`, as a range check: the linear map is the top
/// half of the kernel range, `[PAGE_OFFSET, 2^64)`. (The single-bit test
/// on bit 47 would also accept canonical-looking user addresses.)
#[doc(alias = "__is_lm_address")]
pub const fn is_lm_address(va: u64) -> bool {
    va >= PAGE_OFFSET
}

/// Linux's `__lm_to_phys`: a linear address to its physical address.
#[doc(alias = "__lm_to_phys")]
pub const fn lm_to_phys(va: u64, phys_offset: u64) -> u64 {
    (va & !PAGE_OFFSET).wrapping_add(phys_offset)
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
    pa.wrapping_sub(phys_offset) | PAGE_OFFSET
}

/// Linux's `__virt_to_phys_nodebug`: linear rule for linear addresses, image rule otherwise.
pub const fn virt_to_phys(va: u64, phys_offset: u64, kimage_voffset: u64) -> u64 {
    if is_lm_address(va) {
        lm_to_phys(va, phys_offset)
    } else {
        kimg_to_phys(va, kimage_voffset)
    }
}
