//! The kernel's page-table dump: Linux's kernel_page_tables format over the
//! live upper-half tables (TTBR1), one `---[ Region ]---` marker per region
//! of the layout. From the `ptdump` boot option and the monitor.

use crate::console::fmt::StrBuf;
use crate::mm::physaddr::image_bounds;
use crate::mm::table_access::PhysTables;
use aarch64_cpu::registers::{Readable, TTBR1_EL1};
use vakern_mm::layout::*;
use vakern_mm::ptdump::{self, Marker};
use vakern_mm::pte;

/// The region markers, in address order, with the image where it really is.
pub fn markers() -> [Marker; 9] {
    let (text, end) = image_bounds();
    [
        Marker { start: MODULES_VADDR, name: "Modules" },
        Marker { start: VMALLOC_START, name: "vmalloc() area" },
        Marker { start: text, name: "Kernel image" },
        Marker { start: align_up(end, PAGE_SIZE), name: "vmalloc() area (after the image)" },
        Marker { start: crate::mm::vmalloc::vmalloc_end(), name: "Unused hole" },
        Marker { start: FIXADDR_START, name: "Fixmap" },
        Marker { start: PCI_IO_START, name: "PCI I/O" },
        Marker { start: VMEMMAP_START, name: "vmemmap" },
        Marker { start: PAGE_OFFSET, name: "Linear mapping" },
    ]
}

/// Dump the upper half, line by line, to `emit`.
pub fn dump(emit: &mut dyn FnMut(&str)) {
    let root = pte::ttbr_root(TTBR1_EL1.get());
    let mut out = LineWriter { line: StrBuf::new(), emit };
    let _ = ptdump::dump(&mut PhysTables, root, VA_START, 0, &markers(), &mut out);
    if !out.line.as_str().is_empty() {
        (out.emit)(out.line.as_str());
    }
}

/// Splits formatted output into lines for `emit`.
struct LineWriter<'a> {
    line: StrBuf<256>,
    emit: &'a mut dyn FnMut(&str),
}

impl core::fmt::Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                (self.emit)(self.line.as_str());
                self.line = StrBuf::new();
            }
            let _ = self.line.write_str(part);
        }
        Ok(())
    }
}
