// Boot stage 1 and 2: the arm64 Image header and the boot stub.
//
// QEMU (or any arm64 boot loader) loads the Image at a 2 MiB-aligned physical
// address and jumps to its first byte with the MMU off, x0 = physical address
// of the DTB and x1-x3 = 0, at EL2 or EL1. This stub:
//   1. keeps the DTB address and the entry exception level,
//   2. drops from EL2 to EL1 if entered at EL2,
//   3. enables FP/SIMD (Rust code may use SIMD registers),
//   4. clears .bss and sets the boot stack (both inside the image),
//   4a. checks that the CPU implements the flavour's translation granule
//      (ID_AA64MMFR0_EL1.TGranN), else prints why through semihosting and
//      exits with EARLY_BOOT_FAILED,
//   5. builds the identity map of the image in tables reserved in .bss,
//   6. programs MAIR/TCR/TTBR0/TTBR1 and turns on the MMU and the caches,
//   7. calls early_map_kernel (kernel/src/early/map_kernel.rs), still at the physical
//      address, which relocates the image and maps it at KIMAGE_VADDR,
//   8. jumps to the high mapping and calls start_kernel.
//
// Everything before step 8 runs at the physical address, so it only uses
// PC-relative addressing (adr/adrp) and constants: the image builder checks
// this section's relocations (src/image.rs in the launcher).
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

    // Clear .bss with aligned stores (Device memory while the MMU is off).
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_stop
    add     x1, x1, :lo12:__bss_stop
2:  cmp     x0, x1
    b.hs    3f
    stp     xzr, xzr, [x0], #16
    b       2b
3:
    adrp    x0, {boot_stack}                // stack: top of the boot stack in .bss
    add     x0, x0, :lo12:{boot_stack}
    add     x0, x0, #{boot_stack_size}
    mov     sp, x0
    mov     x29, xzr                        // end of the frame-record chain
    mov     x30, xzr

    // The granule the tables are built for must exist on this CPU.
    mrs     x0, id_aa64mmfr0_el1
    ubfx    x0, x0, #{tgran_shift}, #4
    cmp     x0, #{tgran_min}
    b.lo    no_granule
    cmp     x0, #{tgran_max}
    b.hi    no_granule
    mov     x0, #{tables_implemented}       // and the stub must know its tables
    cbz     x0, no_tables

    // Identity map [_text, _end) rounded out to 2 MiB blocks:
    // idmap_pg_dir (L0) -> idmap_pud (L1) -> idmap_pmd[0..2] (L2 blocks).
    adrp    x21, _text                      // x21 = physical address of _text
    adrp    x0, {idmap_pg_dir}
    add     x0, x0, :lo12:{idmap_pg_dir}    // x0 = L0 table
    adrp    x1, {idmap_pud}
    add     x1, x1, :lo12:{idmap_pud}       // x1 = L1 table
    adrp    x2, {idmap_pmd}
    add     x2, x2, :lo12:{idmap_pmd}       // x2 = first of two L2 tables
    and     x3, x21, #~(0x200000 - 1)       // x3 = first block
    adrp    x4, _end
    add     x4, x4, :lo12:_end
    mov     x5, #0x1fffff
    add     x4, x4, x5
    and     x4, x4, #~(0x200000 - 1)        // x4 = end of the last block
    ubfx    x5, x3, #39, #9                 // L0 index of the start...
    sub     x6, x4, #1
    ubfx    x6, x6, #39, #9                 // ...must equal that of the end
    cmp     x5, x6
    b.ne    idmap_fail
    orr     x6, x1, #3                      // table descriptor for the L1 table
    str     x6, [x0, x5, lsl #3]
    ubfx    x7, x3, #30, #9                 // x7 = L1 index of the first block
    ldr     x8, ={idmap_block_attrs}        // normal memory, RWX, for the stub
4:  ubfx    x5, x3, #30, #9                 // L1 index of this block
    sub     x6, x5, x7                      // which of the two L2 tables
    cmp     x6, #1
    b.hi    idmap_fail                      // image spans more than 2 GiB: impossible
    add     x6, x2, x6, lsl #12             // x6 = that L2 table
    orr     x9, x6, #3
    str     x9, [x1, x5, lsl #3]            // L1 entry -> L2 table (rewritten alike)
    ubfx    x5, x3, #21, #9                 // L2 index
    orr     x9, x3, x8
    str     x9, [x6, x5, lsl #3]            // 2 MiB block, identity
    add     x3, x3, #0x200000
    cmp     x3, x4
    b.lo    4b
    dsb     sy                              // table writes done before the walker looks

    adrp    x1, {init_pg_dir}               // high half: empty until early_map_kernel
    bl      enable_mmu
    mrs     x24, cntpct_el0                 // identity map built, MMU on

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

// Program MAIR/TCR, load TTBR0 with the identity map and TTBR1 with x1,
// and turn on the MMU and the caches. Shared by every CPU. IPS comes from
// the CPU's physical address size, capped at 48 bits (PARange 5).
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
    ic      iallu                           // drop instructions fetched with the MMU off
    dsb     nsh
    isb
    ret

// Secondary CPUs, started by PSCI CPU_ON with x0 = the CPU's index. Same
// path as the boot CPU, less what is done once: EL2 -> EL1, FP/SIMD, early
// vectors, the boot CPU's identity map in TTBR0 and the final kernel
// tables (swapper_pg_dir) in TTBR1, MMU on, then the upper half.
// A secondary CPU released from a spin table (enable-method "spin-table"):
// the firmware enters here with x0 = 0, at EL2 or EL1, with the MMU off. The
// CPU's index is in SPIN_TABLE_CPU, which the releasing CPU wrote and
// cleaned to the point of coherency before the release (one CPU is released
// at a time); from there on the path is the PSCI one.
    .global secondary_spin_entry
secondary_spin_entry:
    adrp    x0, SPIN_TABLE_CPU
    ldr     x0, [x0, :lo12:SPIN_TABLE_CPU]
    b       secondary_entry

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
no_tables:
    adrp    x1, {no_tables_msg}
    add     x1, x1, :lo12:{no_tables_msg}
    b       early_exit
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
