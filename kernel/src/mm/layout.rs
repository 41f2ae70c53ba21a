//! The virtual memory layout with this boot's real values (Linux 4.x printed
//! it as "Virtual kernel memory layout"), from the end of boot and from the
//! monitor's `layout` command. The regions themselves are defined in
//! `vakern_mm::layout`; this file adds where the image and its sections
//! really are.

use crate::arch::sections::{__end_rodata, _edata, _etext};
use crate::console::fmt::padded;
use crate::mm::physaddr;
use crate::println;
use vakern_mm::fmt::{Addr, Size};
use vakern_mm::layout::{span, ACTIVE};

/// Print the layout, one region per line, the image split into its sections.
pub fn print_layout() {
    let at = physaddr::placement();
    let (etext, rodata_end, edata) =
        (&raw const _etext as u64, &raw const __end_rodata as u64, &raw const _edata as u64);
    let row = |name: &str, start: u64, end: u64| {
        println!("{:>11} : {} - {}   ({:>9})", name, Addr(start), Addr(end), padded(Size(span(start, end))));
    };
    println!("Virtual kernel memory layout:");
    for r in ACTIVE.layout_rows(&at, crate::arch::sysreg::vabits_actual()) {
        if r.name == "  .image" {
            row(".text", at.text, etext);
            row(".rodata", etext, rodata_end);
            row(".data", rodata_end, edata);
            row(".bss", edata, at.end);
        } else {
            row(r.name, r.start, r.end);
        }
    }
}
