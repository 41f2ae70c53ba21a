// Boot stage 1 and 2: the arm64 Image header and the boot stub.
//
// QEMU (or any arm64 boot loader) loads the Image at a 2 MiB-aligned physical
// address and jumps to its first byte with the MMU off, x0 = physical address
// of the DTB and x1-x3 = 0, at EL2 or EL1. This stub:
//   1. keeps the DTB address and the entry exception level,
//   2. drops from EL2 to EL1 if entered at EL2,
//   3. enables FP/SIMD (Rust code may use SIMD registers),
//   4. zeroes the early tables, checks that the CPU implements the
//      flavour's translation granule (ID_AA64MMFR0_EL1.TGranN; if not, it
//      prints why through semihosting and exits with EARLY_BOOT_FAILED),
//      and builds the identity map of the image in the early tables, with
//      cache maintenance around it (see "Caches" below),
//   5. programs MAIR/TCR/TTBR0/TTBR1 and turns on the MMU and the caches,
//   6. clears .bss (now through the cache) and sets the boot stack in it,
//   7. calls early_map_kernel (kernel/src/early/map_kernel.rs), still at the physical
//      address, which relocates the image and maps it at KIMAGE_VADDR,
//   8. jumps to the high mapping and calls start_kernel.
//
// Everything before step 8 runs at the physical address, so it only uses
// PC-relative addressing (adr/adrp) and constants: the image builder checks
// this section's relocations (src/image.rs in the launcher).
//
// Caches. With the MMU off every data access is Device memory: stores go
// to memory, past the caches, and stale lines for the same addresses (left
// by the boot loader, or fetched speculatively) may still sit in the cache.
// Once the MMU and the caches are on, a load or a table walk can hit such a
// stale line instead of what was stored. The rule (Arm ARM, "cache
// maintenance with the MMU off"): invalidate by VA to the Point of Coherency
// (dc ivac) what was written with the MMU off before reading it with the
// caches on. So the early tables (their own linker group, written here with
// the MMU off) are invalidated before they are written (no dirty line can be
// evicted on top of them later) and again after (no line fetched meanwhile
// survives); .bss, which nothing touches before, is cleared only once the
// MMU is on, through the cache, as arm64 Linux does. The image builder
// checks this order in the assembled stub (src/image.rs, boot_rules).
//
// The file is over 400 lines because the stub's steps (the identity map for
// every table geometry, the MMU switch with 52-bit VAs, the secondary
// entries and the failure exits) share its registers and labels.
//
// Constants come from Rust as `const` operands (kernel/src/early/head.rs);
// symbols in braces are filled in there too. The later stages (start_kernel,
// secondary_start_kernel, swapper_pg_dir, SECONDARY_STACKS, SPIN_TABLE_CPU) are named by
// their link names, as the only references from the early code upwards.

    .section ".head.text", "ax"
    .global _head
_head:
    b       primary_entry                   // code0: branch over the header
    .long   0                               // code1
    .quad   0                               // text_offset: load 2 MiB aligned
    .quad   __image_size                    // image_size, incl. .bss (linker.ld)
    .quad   {header_flags}                  // little-endian, the page size, anywhere
    .quad   0                               // res2
    .quad   0                               // res3
    .quad   0                               // res4
    .ascii  "ARM\x64"                       // magic 0x644d5241
    .long   0                               // res5 (no PE/COFF header)

    .section ".idmap.text", "ax"
primary_entry:
    mov     x19, x0                         // x19 = DTB physical address (callee-saved)
    mrs     x23, cntpct_el0                 // x23..x25: boot-phase timestamps (bootstats)
    mrs     x20, CurrentEL
    ubfx    x20, x20, #2, #2                // x20 = entry exception level
    cmp     x20, #2
    b.ne    1f
    bl      el2_to_el1                      // returns at EL1
1:
    ldr     x0, ={sctlr_mmu_off}            // known state: MMU and caches off
    msr     sctlr_el1, x0
    isb
    ldr     x0, ={cpacr_fp_on}              // CPACR_EL1.FPEN: no FP/SIMD traps
    msr     cpacr_el1, x0
    adr     x0, early_vectors               // any exception before the high vectors:
    msr     vbar_el1, x0                    // exit with EARLY_BOOT_FAILED, not a hang
    isb

    // Stack: the top of the boot stack in .bss. Nothing is stored on it
    // before .bss is cleared, except by the failure exits, which stop.
    adrp    x0, {boot_stack}
    add     x0, x0, :lo12:{boot_stack}
    add     x0, x0, #{boot_stack_size}
    mov     sp, x0
    mov     x29, xzr                        // end of the frame-record chain

    // The early tables, written below with the MMU off. Rule: invalidate
    // them to the PoC first, so that no dirty line the loader left can be
    // written back over them later; then zero them with plain stores.
    adrp    x0, __early_tables_start
    add     x0, x0, :lo12:__early_tables_start
    adrp    x1, __early_tables_end
    add     x1, x1, :lo12:__early_tables_end
    bl      dcache_inval_poc
    adrp    x0, __early_tables_start
    add     x0, x0, :lo12:__early_tables_start
2:  cmp     x0, x1
    b.hs    3f
    stp     xzr, xzr, [x0], #16
    b       2b
3:

    // The granule the tables are built for must exist on this CPU.
    mrs     x0, id_aa64mmfr0_el1
    ubfx    x0, x0, #{tgran_shift}, #4
    cmp     x0, #{tgran_min}
    b.lo    no_granule
    cmp     x0, #{tgran_max}
    b.hi    no_granule

    // Identity map [_text, _end) rounded out to {idmap_step} bytes: 2 MiB
    // level-2 blocks with 4K pages, pages (level-3 entries) with 16K and 64K
    // pages, whose level-2 blocks (32 MiB, 512 MiB) would reach far past
    // the image, over whatever lies next to it (device registers, or no
    // memory at all), as Normal cacheable memory that the CPU may read
    // speculatively. A 2 MiB block is safe: the image starts at a 2 MiB
    // boundary inside RAM, so its first block is RAM; see README, "The
    // boot, stage by stage", for its last. The tables, from the root at
    // level {root_level} down: with four levels idmap_pg_dir (L0) ->
    // idmap_pud (L1) -> idmap_pmd[] (L2); with three the root is the L1
    // table; with two (64K pages, 42-bit VAs) the root is the L2 table.
    // With pages, the L2 entries point at idmap_pte[] (L3). How many of each
    // the largest image can straddle is computed in early/head.rs; the
    // checks below stop with idmap_fail rather than write past them. The
    // assembler keeps only the steps of the flavour's levels.
    adrp    x21, _text                      // x21 = physical address of _text
    adrp    x0, {idmap_pg_dir}
    add     x0, x0, :lo12:{idmap_pg_dir}    // x0 = root table
    .if {root_level} == 0
    adrp    x1, {idmap_pud}
    add     x1, x1, :lo12:{idmap_pud}       // x1 = L1 table
    .else
    mov     x1, x0                          // the root is the L1 table
    .endif
    .if {root_level} <= 1
    adrp    x2, {idmap_pmd}
    add     x2, x2, :lo12:{idmap_pmd}       // x2 = first L2 table
    .endif
    .if {idmap_pages}
    adrp    x11, {idmap_pte}
    add     x11, x11, :lo12:{idmap_pte}     // x11 = first L3 table
    .endif
    ldr     x10, ={idmap_step}              // x10 = block or page size
    sub     x5, x10, #1
    bic     x3, x21, x5                     // x3 = first block or page
    adrp    x4, _end
    add     x4, x4, :lo12:_end
    add     x4, x4, x5
    bic     x4, x4, x5                      // x4 = end of the last one
    sub     x6, x4, #1                      // the identity map reaches only
    lsr     x6, x6, #{idmap_va_bits}        // PAs below 2^VA_BITS (T0SZ)
    cbnz    x6, idmap_fail
    .if {root_level} == 0
    ubfx    x5, x3, #{l0_shift}, #{l0_bits} // L0 index of the start...
    sub     x6, x4, #1
    ubfx    x6, x6, #{l0_shift}, #{l0_bits} // ...must equal that of the end
    cmp     x5, x6
    b.ne    idmap_fail
    orr     x6, x1, #3                      // table descriptor for the L1 table
    str     x6, [x0, x5, lsl #3]
    .endif
    .if {root_level} <= 1
    lsr     x7, x3, #{l1_shift}             // x7 = L1 entry number of the start
    .endif
    .if {idmap_pages}
    lsr     x12, x3, #{l2_shift}            // x12 = L2 entry number of the start
    .endif
    ldr     x8, ={idmap_leaf_attrs}         // normal memory, RWX, for the stub
4:
    .if {root_level} <= 1
    ubfx    x5, x3, #{l1_shift}, #{l1_bits} // L1 index of this block or page
    lsr     x6, x3, #{l1_shift}
    sub     x6, x6, x7                      // which of the L2 tables
    cmp     x6, #{idmap_pmds_max}
    b.hi    idmap_fail                      // more L1 entries than tables: impossible
    lsl     x6, x6, #{page_shift}
    add     x6, x2, x6                      // x6 = that L2 table
    orr     x9, x6, #3
    str     x9, [x1, x5, lsl #3]            // L1 entry -> L2 table (rewritten alike)
    .else
    mov     x6, x0                          // the root is the L2 table
    .endif
    ubfx    x5, x3, #{l2_shift}, #{l2_bits} // L2 index
    .if {idmap_pages}
    lsr     x9, x3, #{l2_shift}
    sub     x9, x9, x12                     // which of the L3 tables
    cmp     x9, #{idmap_ptes_max}
    b.hi    idmap_fail                      // more L2 entries than tables: impossible
    lsl     x9, x9, #{page_shift}
    add     x9, x11, x9                     // x9 = that L3 table
    orr     x13, x9, #3
    str     x13, [x6, x5, lsl #3]           // L2 entry -> L3 table (rewritten alike)
    mov     x6, x9
    ubfx    x5, x3, #{l3_shift}, #{l3_bits} // L3 index
    .endif
    orr     x9, x3, x8
    str     x9, [x6, x5, lsl #3]            // level-2 block or page, identity
    add     x3, x3, x10
    cmp     x3, x4
    b.lo    4b
    // Rule: the tables were stored with the MMU off, and the walker reads
    // them through the cache once the MMU is on. Invalidate them to the PoC
    // again, dropping any line fetched speculatively while they were
    // written; dcache_inval_poc ends with dsb sy, so every store and every
    // invalidation is complete before the walker looks.
    dmb     sy                              // the stores before the invalidation
    adrp    x0, __early_tables_start
    add     x0, x0, :lo12:__early_tables_start
    adrp    x1, __early_tables_end
    add     x1, x1, :lo12:__early_tables_end
    bl      dcache_inval_poc

    adrp    x1, {init_pg_dir}               // high half: empty until early_map_kernel
    bl      enable_mmu
    mrs     x24, cntpct_el0                 // identity map built, MMU on

    // Clear .bss now that the MMU and the caches are on (rule: memory
    // written through the cache needs no maintenance before it is read
    // through the cache). The early tables are not in [__bss_start,
    // __bss_stop): the identity map in use stays as built.
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_stop
    add     x1, x1, :lo12:__bss_stop
2:  cmp     x0, x1
    b.hs    3f
    stp     xzr, xzr, [x0], #16
    b       2b
3:

    // Stage 3: relocate and map the image high (Rust, still at the PA).
    mov     x0, x21                         // physical address of _text
    mov     x1, x19                         // DTB (for the KASLR seed, later)
    bl      early_map_kernel                // x0 = kimage_voffset, or 0 on failure
    cbz     x0, early_fail
    mov     x22, x0                         // x22 = kimage_voffset = VA - PA
    mrs     x25, cntpct_el0                 // image relocated and mapped high

    // Stage 4: continue in the upper half. The stack moves to its high alias.
    mov     x0, sp
    add     x0, x0, x22
    mov     sp, x0
    adrp    x0, primary_switched
    add     x0, x0, :lo12:primary_switched
    add     x0, x0, x22                     // high virtual address
    br      x0

// dc ivac (invalidate by VA to the Point of Coherency) over [x0, x1), one
// data-cache line at a time; the smallest line size is CTR_EL0.DminLine
// (log2 of words). The callers' ranges are page aligned, so no line is
// shared with other data. Ends with dsb sy. Clobbers x0, x2, x3.
dcache_inval_poc:
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4                 // CTR_EL0.DminLine
    mov     x2, #4
    lsl     x3, x2, x3                      // line size in bytes
    sub     x2, x3, #1
    bic     x0, x0, x2                      // first line
1:  dc      ivac, x0
    add     x0, x0, x3
    cmp     x0, x1
    b.lo    1b
    dsb     sy
    ret

// Program MAIR/TCR, load TTBR0 with the identity map and TTBR1 with x1,
// and turn on the MMU and the caches. Shared by every CPU. IPS comes from
// the CPU's physical address size, capped at 48 bits (PARange 5); with
// 52-bit VAs, T1SZ and the TTBR1 offset come from the CPU's VA size.
enable_mmu:
    ldr     x0, ={mair}
    msr     mair_el1, x0
    ldr     x0, ={tcr}
    mrs     x2, id_aa64mmfr0_el1
    and     x2, x2, #{parange_mask}         // ID_AA64MMFR0_EL1.PARange
    mov     x3, #{parange_48}
    cmp     x2, x3
    csel    x2, x2, x3, lo
    bfi     x0, x2, #{ips_shift}, #{ips_bits}   // TCR_EL1.IPS
    .if {has_vabits_actual}
    // 52-bit VAs: vabits_actual is 52 with FEAT_LVA
    // (ID_AA64MMFR2_EL1.VARange = 1), else 48: T1SZ for 48 bits, and TTBR1
    // points at the last 64 entries of the root, which the tables index
    // with all-ones bits [51:48] for every 48-bit kernel address.
    mrs     x2, id_aa64mmfr2_el1
    ubfx    x2, x2, #16, #4                 // VARange
    cbnz    x2, 1f
    mov     x2, #{t1sz_min}
    bfi     x0, x2, #{t1sz_shift}, #{t1sz_bits}
    ldr     x2, ={ttbr1_offset_min}
    add     x1, x1, x2
1:
    .endif
    msr     tcr_el1, x0
    adrp    x0, {idmap_pg_dir}
    msr     ttbr0_el1, x0                   // low half: the identity map
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x0, ={sctlr_mmu_on}             // MMU, D-cache, I-cache, SP alignment
    msr     sctlr_el1, x0
    isb
    // Rule: instructions fetched with the MMU off may be in the I-cache
    // with other attributes; invalidate it to the PoU, then wait and resync.
    ic      iallu
    dsb     nsh
    isb
    ret

// A secondary CPU released from a spin table (enable-method "spin-table"):
// the firmware enters here with x0 = 0, at EL2 or EL1, with the MMU off. The
// CPU's logical number is in SPIN_TABLE_CPU, which the releasing CPU wrote
// and cleaned to the point of coherency before the release (one CPU is
// released at a time), so this load with the MMU off sees it; from there on
// the path is the PSCI one.
    .global secondary_spin_entry
secondary_spin_entry:
    adrp    x0, SPIN_TABLE_CPU
    ldr     x0, [x0, :lo12:SPIN_TABLE_CPU]
    b       secondary_entry

// Secondary CPUs, started by PSCI CPU_ON with x0 = the CPU's logical
// number. Same path as the boot CPU, less what is done once: EL2 -> EL1,
// FP/SIMD, early vectors, the boot CPU's identity map in TTBR0 and the final
// kernel tables (swapper_pg_dir) in TTBR1, MMU on, then the upper half.
// Caches: this path stores nothing with the MMU off (only system registers);
// everything it reads (the tables, kimage_voffset, its stack top) was
// written by the boot CPU through the cache, which is coherent with the
// walker and this CPU's loads once its MMU is on. enable_mmu invalidates
// its I-cache (ic iallu) as for the boot CPU.
    .global secondary_entry
secondary_entry:
    mov     x19, x0                         // x19 = CPU index
    mrs     x20, CurrentEL
    ubfx    x20, x20, #2, #2
    cmp     x20, #2
    b.ne    1f
    bl      el2_to_el1
1:  ldr     x0, ={sctlr_mmu_off}
    msr     sctlr_el1, x0
    isb
    ldr     x0, ={cpacr_fp_on}              // FP/SIMD
    msr     cpacr_el1, x0
    adr     x0, early_vectors
    msr     vbar_el1, x0
    isb
    adrp    x1, swapper_pg_dir
    bl      enable_mmu
    adrp    x0, kimage_voffset              // read through the identity map
    ldr     x22, [x0, :lo12:kimage_voffset]
    adrp    x0, SECONDARY_STACKS
    add     x0, x0, :lo12:SECONDARY_STACKS
    ldr     x1, [x0, x19, lsl #3]           // this CPU's stack top (a high address)
    mov     sp, x1
    mov     x29, xzr
    mov     x30, xzr
    adrp    x0, secondary_switched
    add     x0, x0, :lo12:secondary_switched
    add     x0, x0, x22
    br      x0

// Switch TTBR1 to the table root in x0 through the reserved, all-invalid
// table at x1 (Linux's cpu_replace_ttbr1 and reserved_pg_dir). Rule: a TLB
// must never hold entries from the old and the new tables for the same VA
// at once (they could conflict: a TLB conflict abort, or either translation
// used). So TTBR1 first points at a table that maps nothing, every EL1 TLB
// entry is invalidated, and only then is the new root installed. Nothing
// in the upper half is mapped in between, the caller's code and stack
// included: this runs at its physical address through the identity map
// (TTBR0), uses no stack, and the caller calls it by that address.
    .global idmap_cpu_replace_ttbr1
idmap_cpu_replace_ttbr1:
    msr     ttbr1_el1, x1                   // the reserved zero table
    isb
    tlbi    vmalle1is                       // drop everything the old root gave
    dsb     ish
    isb
    msr     ttbr1_el1, x0                   // the new root
    isb
    ret

// Leave EL2 for EL1: EL1 runs AArch64, may use the counters and FP/SIMD,
// and sees its own MPIDR. Returns to the caller at EL1h with DAIF masked.
el2_to_el1:
    ldr     x0, ={hcr}                      // HCR_EL2.RW: EL1 is AArch64
    msr     hcr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #{cnthctl_el1}          // EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    ldr     x0, ={cptr_el2}                 // CPTR_EL2: RES1 bits, no FP/SIMD trap
    msr     cptr_el2, x0
    msr     hstr_el2, xzr
    // MDCR_EL2: the kernel uses the PMU from EL1 (the cost self-test), so
    // no PMU or debug access traps to EL2 and HPMN = PMCR_EL0.N gives EL1
    // every event counter. Without an architected PMU
    // (ID_AA64DFR0_EL1.PMUVer 0 or 0xf, read signed) it is 0.
    mrs     x0, id_aa64dfr0_el1
    sbfx    x0, x0, #8, #4                  // PMUVer
    cmp     x0, #1
    mov     x0, xzr
    b.lt    1f
    mrs     x0, pmcr_el0
    ubfx    x0, x0, #11, #5                 // PMCR_EL0.N -> MDCR_EL2.HPMN
1:  msr     mdcr_el2, x0
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    mrs     x0, midr_el1
    msr     vpidr_el2, x0
    msr     vttbr_el2, xzr
    ldr     x0, ={sctlr_mmu_off}
    msr     sctlr_el1, x0
    ldr     x0, ={spsr_el1h}                // SPSR: EL1h, D/A/I/F masked
    msr     spsr_el2, x0
    msr     elr_el2, x30                    // "return" straight to the caller at EL1
    isb
    eret

// Early exception vectors (PA, through the identity map once the MMU is on):
// every exception before primary_switched installs the real ones ends here.
// Nothing here touches SP: it may be 0 or point past the end of RAM (an
// image whose .bss does not fit), and a push would fault back into these
// vectors for ever.
    .balign 0x800
early_vectors:
    .rept 16
    .balign 0x80
    adr     x1, msg_early_exception
    b       early_exit
    .endr

// Failures before any console exists: a line through semihosting SYS_WRITE0
// and the exit code (documented in README.md) through SYS_EXIT, never a
// hang. Both calls take x1 = a pointer into this section; no stack is used.
no_granule:
    adrp    x1, {no_granule_msg}
    add     x1, x1, :lo12:{no_granule_msg}
    b       early_exit
idmap_fail:
    adr     x1, msg_idmap
    b       early_exit
early_fail:
    adr     x1, msg_map_kernel
early_exit:
    mov     w0, #0x04                       // SYS_WRITE0: x1 = NUL-terminated text
    hlt     #0xf000
    adr     x1, early_exit_block            // SYS_EXIT: x1 = (reason, code), read-only
    mov     w0, #0x18
    hlt     #0xf000
5:  wfe                                     // without semihosting: stop here
    b       5b
    .balign 8
early_exit_block:
    .quad   {adp_exit}                      // ADP_Stopped_ApplicationExit
    .quad   {exit_early}                    // EARLY_BOOT_FAILED
msg_early_exception:
    .asciz  "vakern: early boot failed: exception before the kernel's vectors (is the whole image, .bss included, inside RAM?)\n"
msg_idmap:
    .asciz  "vakern: early boot failed: the image does not fit the boot identity map\n"
msg_map_kernel:
    .asciz  "vakern: early boot failed: the image could not be relocated or mapped at its virtual address\n"
    .balign 4
    .ltorg

    .text
// A secondary CPU in the upper half: vectors, no identity map, then Rust.
secondary_switched:
    msr     tpidr_el1, x19                  // logical CPU number, before the vectors use it
    adrp    x0, __vectors
    add     x0, x0, :lo12:__vectors
    msr     vbar_el1, x0
    mrs     x0, tcr_el1
    orr     x0, x0, #{tcr_epd0}             // TCR_EL1.EPD0: no TTBR0 walks
    msr     tcr_el1, x0
    msr     ttbr0_el1, xzr
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x0, x19
    bl      secondary_start_kernel
7:  wfe
    b       7b

// Stage 4 entry, in the upper half: exception vectors, then Rust.
primary_switched:
    msr     tpidr_el1, xzr                  // logical CPU 0, before the vectors use it
    adrp    x0, __vectors
    add     x0, x0, :lo12:__vectors
    msr     vbar_el1, x0
    isb
    mov     x0, x19                         // DTB physical address
    mov     x1, x20                         // entry exception level
    mov     x2, x21                         // physical address of _text
    mov     x3, x22                         // kimage_voffset
    mov     x4, x23                         // the three stub timestamps
    mov     x5, x24
    mov     x6, x25
    bl      start_kernel
6:  wfe                                     // start_kernel never returns
    b       6b
