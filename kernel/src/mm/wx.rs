//! The W^X check: after boot, walk every kernel mapping (TTBR1) and count
//! pages that are writable and executable, and executable pages outside the
//! kernel text, the way Linux's ptdump "Checked W+X mappings" does. Either
//! count being non-zero is a broken invariant: the kernel panics.

use crate::arch::sections::_etext;
use crate::mm::physaddr::image_bounds;
use crate::mm::table_access::PhysTables;
use crate::pr_info;
use aarch64_cpu::registers::{Readable, TCR_EL1, TTBR1_EL1};
use vakern_mm::layout::{PAGE_SIZE, VA_START};
use vakern_mm::ptdump;
use vakern_mm::pte;

/// Page counts found by [`check`].
#[derive(Clone, Copy, Debug, Default)]
pub struct WxReport {
    /// Pages writable and executable at EL1.
    pub wx_pages: u64,
    /// Executable pages outside `[_text, _etext)`.
    pub exec_outside_text: u64,
    /// Executable pages inside the text (for the log).
    pub text_pages: u64,
}

/// Walk the live upper-half tables and count.
pub fn check() -> WxReport {
    let (text, _) = image_bounds();
    let etext = &raw const _etext as u64;
    let root = pte::ttbr_root(TTBR1_EL1.get());
    let mut r = WxReport::default();
    ptdump::runs(&mut PhysTables, root, VA_START, 0, |run| {
        let pages = run.end.wrapping_sub(run.start) / PAGE_SIZE;
        let writable = run.attrs & pte::AP_RDONLY == 0;
        let exec = run.attrs & pte::PXN == 0;
        if writable && exec {
            r.wx_pages += pages;
        }
        if exec {
            let inside = run.start.max(text).min(etext)..run.end.wrapping_sub(1).max(text).min(etext);
            let inside_pages =
                if run.start >= text && run.end <= etext { pages } else { (inside.end - inside.start) / PAGE_SIZE };
            r.text_pages += inside_pages;
            r.exec_outside_text += pages - inside_pages;
        }
    });
    r
}

/// Run the check, log it like Linux, and panic on a violation. Also checks
/// that the low half (TTBR0) is switched off.
pub fn check_and_report() {
    let r = check();
    if r.wx_pages == 0 {
        pr_info!("Checked W+X mappings: passed, no W+X pages found");
    } else {
        crate::pr_err!("Checked W+X mappings: FAILED, {} W+X pages found", r.wx_pages);
    }
    if r.exec_outside_text == 0 {
        pr_info!("Checked executable mappings: passed, {} executable pages, all in the kernel text", r.text_pages);
    } else {
        crate::pr_err!(
            "Checked executable mappings: FAILED, {} executable pages outside the kernel text",
            r.exec_outside_text
        );
    }
    let epd0 = TCR_EL1.matches_all(TCR_EL1::EPD0::DisableTTBR0Walks);
    assert!(epd0, "the identity map (TTBR0) is still live after boot");
    assert!(r.wx_pages == 0 && r.exec_outside_text == 0, "W^X violated: {:?}", r);
}
