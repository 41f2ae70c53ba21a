//! The kernel heap (kmalloc-like): linked_list_allocator over pages of the
//! linear map, so `__pa` of any heap pointer is valid.

use crate::mm::page_alloc;
use crate::mm::physaddr;
use crate::pr_info;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use spin::Mutex;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::PAGE_SIZE;

struct KernelHeap(Mutex<Heap>);

// SAFETY: the mutex serializes all use of the heap.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout.
            unsafe { self.0.lock().deallocate(p, layout) };
        }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Mutex::new(Heap::empty()));

/// Heap size: 1/64 of free memory, between 1 and 16 MiB.
fn heap_size() -> u64 {
    (page_alloc::free_bytes() / 64).clamp(1 << 20, 16 << 20) & !(PAGE_SIZE - 1)
}

/// Give the heap its pages. Called once, after the page allocator exists.
pub fn init() {
    let size = heap_size();
    let pa = page_alloc::alloc_pages(size / PAGE_SIZE).expect("no memory for the kernel heap");
    let va = physaddr::phys_to_virt(pa);
    // SAFETY: the pages are free, mapped through the linear map, and given to
    // the heap for good.
    unsafe { HEAP.0.lock().init(va.as_ptr(), size as usize) };
    pr_info!("Heap: {} at {} (linear map, PA {})", Size(size), Addr(va.0), Addr(pa.0));
}

/// (used, free) bytes.
pub fn usage() -> (usize, usize) {
    let h = HEAP.0.lock();
    (h.used(), h.free())
}
