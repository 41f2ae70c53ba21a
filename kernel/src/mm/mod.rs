//! Memory management, in the order `start_kernel` brings it up:
//! - [`physaddr`]: the checked translations (`__pa`, `__va`,
//!   `__pa_symbol`, `lm_alias`) and the values they read;
//! - [`kaslr`]: where the early code placed the image, read back;
//! - [`tlbflush`], [`populate`], [`fixmap`]: barriers and TLB maintenance,
//!   installing tables, the compile-time slots used before the linear map;
//! - [`memblock`]: RAM and reservations from the device tree,
//!   `memstart_addr`;
//! - [`table_access`], [`linear_map`]: how the kernel reaches its tables,
//!   and `paging_init` (`swapper_pg_dir`, the linear map);
//! - [`page_alloc`], [`heap`], [`vmalloc`], [`stack`]: the allocators and
//!   the guarded kernel stacks;
//! - [`wx`], [`layout`]: the W^X check and the layout table at the end of
//!   boot; [`idmap`]: what the identity map held when it was emptied.
//!
//! The pure logic (layout, descriptors, the mapper, ranges, the DTB parser)
//! is in the host-tested crate `vakern_mm`; this folder adds the statics,
//! the hardware and the order.
//!
//! May use: `arch`, `console`, and `early` (the early tables the fixmap
//! hooks into, the KASLR decision). Never `setup`, `cpu`, `debug` or
//! `selftest`.

pub mod fixmap;
pub mod heap;
pub mod idmap;
pub mod kaslr;
pub mod layout;
pub mod linear_map;
pub mod memblock;
pub mod page_alloc;
pub mod physaddr;
pub mod populate;
pub mod stack;
pub mod table_access;
pub mod tlbflush;
pub mod vmalloc;
pub mod wx;
