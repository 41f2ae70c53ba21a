//! The machines the launcher boots: QEMU's `virt` and its models of two real
//! boards, the Raspberry Pi 3 Model B and the Xilinx ZCU102.
//!
//! This is host-side knowledge, used before QEMU starts: which QEMU machine
//! and CPU, what RAM the board accepts and where it really is, which
//! `-serial` carries the console the board's device tree names, where the
//! Image and the tree are loaded, and how the tree reaches the kernel. The
//! kernel itself learns none of this from here: it reads it all from the
//! tree it is handed.
//!
//! # Facts checked under QEMU 7.2 (Debian 1:7.2+dfsg-7+deb12u18)
//!
//! `raspi3b` (BCM2837, 4 Cortex-A53, no GIC):
//! - only `-m 1G` ("Invalid RAM size, should be 1 GiB" otherwise) and only
//!   `-smp 4`; `-cpu` is ignored. RAM is at physical address 0;
//!   peripherals are at 0x3f00_0000 (bus address 0x7e00_0000); the top
//!   64 MiB below them, [0x3c00_0000, 0x4000_0000), belongs to the GPU, so
//!   the usable RAM is [0, 0x3c00_0000).
//! - `-serial` #0 is the PL011 (0x3f20_1000), #1 the BCM2835 auxiliary mini
//!   UART (0x3f21_5040, `AUX_MU_IO`; QEMU transmits without `AUX_ENABLES`
//!   being set). Linux's tree says `stdout-path = "serial1:115200n8"`, and its
//!   `serial1` alias is the mini UART: the console is the second `-serial`.
//! - With `-kernel Image -dtb FILE`, QEMU puts a boot stub at 0 (x0 = the
//!   tree at 0x0800_0000, x1..x3 = 0, jump to the Image at 0x20_0000, which
//!   is RAM base + 2 MiB for an Image with text_offset 0) and a second stub
//!   at 0x300 where cores 1..3 wait with `wfe` until the 64-bit word at
//!   0xd8 + 8 * (MPIDR & 3) is non-zero (the tree's `cpu-release-addr`
//!   values 0xd8/0xe0/0xe8/0xf0). The kernel is entered at EL2. QEMU
//!   rewrites the tree: it deletes the memory node (Linux's says
//!   [0, 0x4000_0000)) and adds `memory@0` with [0, 0x3c00_0000) at the front
//!   of the root, and `/chosen/bootargs` from `-append`; nothing else
//!   changes. Without `-dtb`, x0 is 0x100, where QEMU wrote ATAGs.
//! - Without `-kernel`, every core starts at address 0 in EL3 and QEMU
//!   writes nothing there; `-bios FILE` is loaded at 0x8_0000 but the cores
//!   still start at 0 (so `-bios` is of no use here).
//! - Semihosting works (`-semihosting-config enable=on,target=native`).
//!
//! `xlnx-zcu102` (ZynqMP, 4 Cortex-A53 application cores):
//! - RAM: [0, min(ram, 2 GiB)), and above 2 GiB the rest at
//!   [0x8_0000_0000, 0x8_0000_0000 + ram - 2 GiB) (`info mtree -f`). QEMU
//!   accepts 128M up to 34G ("RAM size 0x8c0000000 above max supported of
//!   0x880000000"); this launcher takes 1G to 16G. [2 GiB, 4 GiB) holds
//!   devices and the on-chip RAM at 0xfffc_0000 (256 KiB).
//! - With `-dtb`, QEMU rewrites the memory node to one range [0, ram):
//!   [0, 0x1_0000_0000) at 4G, [0, 0x4_0000_0000) at 16G. Above 2 GiB that is
//!   wrong: it describes device space as RAM. Linux's tree itself says
//!   [0, 2 GiB) + [0x8_0000_0000, +2 GiB), right for 4G only.
//! - `-serial` #0 is `uart0` (Cadence `cdns,uart-r1p12` at 0xff00_0000,
//!   Linux's `serial0`, the tree's console), #1 `uart1` at 0xff01_0000. At
//!   reset the Cadence control register is 0x128 (transmitter disabled):
//!   nothing appears until TX is enabled in it.
//! - `-kernel`: the same boot stub as on raspi3b at 0 (tree at 0x0800_0000,
//!   Image at 0x20_0000). Entry at EL1; at EL2 with `virtualization=on`;
//!   `secure=on` alone still enters at non-secure EL1 (EL2 with both). Cores
//!   1..3 start powered off and come up through PSCI `CPU_ON` by SMC, which
//!   QEMU answers itself in all four settings. `-smp` 1 to 6 (5 and 6 add the
//!   Cortex-R5F cores, not application cores). Without `-dtb`, RAM of 4 GiB
//!   or more fails ("try passing a device tree using -dtb").
//! - `-bios` is ignored (the cores start at 0 in empty RAM); the display
//!   port model opens an audio output at start: `QEMU_AUDIO_DRV=none` in
//!   the environment keeps it quiet.
//! - Semihosting works.
//!
//! Both: `-machine dumpdtb=FILE` writes the tree QEMU would hand over (after
//! its rewrite of a `-dtb` file) and exits.
//!
//! # Handing the tree over verbatim
//!
//! A real firmware hands the kernel the tree with the board's true memory
//! node. Here the launcher writes that node ([`fdt_edit::patch_for_boot`],
//! with [`Board::ram_ranges`]) and QEMU loads the Image, the tree and a
//! small firmware with `-device loader` (no `-kernel`, no `-dtb`, so QEMU
//! changes nothing):
//! - raspi3b: `-device loader,file=IMAGE,addr=0x200000,force-raw=on
//!   -device loader,file=TREE,addr=0x8000000,force-raw=on
//!   -device loader,file=ARMSTUB,addr=0x0,force-raw=on`, where ARMSTUB is
//!   [`firmware::raspi_armstub`]: all cores start in it at EL3, drop to
//!   EL2; core 0 enters the Image with x0 = 0x0800_0000; cores 1..3 spin on
//!   0xd8 + 8 * N. The Pi tree's `/memreserve/` [0, 0x1000) keeps the stub
//!   and the spin table out of the kernel's way.
//! - xlnx-zcu102: `-device loader,file=IMAGE,addr=0x200000,force-raw=on
//!   -device loader,file=TREE,addr=0x8000000,force-raw=on
//!   -device loader,file=SHIM,addr=0xfffc0000,cpu-num=0,force-raw=on`, where
//!   SHIM is [`firmware::zynqmp_shim`] (the boot shim that first enables
//!   the console UART, as the board's first-stage loader does) in the on-chip RAM
//!   (outside the memory node); `cpu-num=0` sets CPU 0's PC there, the other
//!   cores stay powered off for PSCI.
//!
//! Checked with a probe Image ([`probe`]) at both boards: x0 = 0x0800_0000
//! holding 0xd00dfeed, entry at EL2 (raspi3b) and EL1 (zcu102; EL2 with
//! `virtualization=on`), a marker written to the board's console UART
//! arrives on the `-serial` named here, and a secondary core comes up through
//! the spin table (raspi3b) and PSCI `CPU_ON` returning 0 (zcu102).

pub mod fdt_edit;
pub mod firmware;
pub mod linux_dtbs;
pub mod probe;

use std::path::Path;

/// How the board's firmware step is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// The boot shim as the flash image (`-bios`): virt starts CPU 0 at 0.
    BiosShim,
    /// The boot shim loaded at `addr`, outside the RAM the tree describes,
    /// with CPU 0's PC set there (`-device loader,…,cpu-num=0`).
    LoaderShim {
        /// Where the shim goes.
        addr: u64,
    },
    /// The Pi armstub at 0 that all cores run from reset.
    ArmStub,
}

/// How secondary cores are started (from the board's tree; used by tests
/// and documentation, the kernel reads the tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secondaries {
    /// PSCI `CPU_ON`, by `hvc` or `smc`.
    Psci(&'static str),
    /// Spin table: core N's release word is at `first + 8 * N`.
    SpinTable {
        /// Core 0's `cpu-release-addr`.
        first: u64,
    },
}

/// Where RAM is, given its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamLayout {
    /// One range from `base`.
    Contiguous {
        /// First byte.
        base: u64,
    },
    /// One range from 0, less the top `gpu` bytes that the GPU keeps.
    BelowGpu {
        /// Bytes kept by the GPU.
        gpu: u64,
    },
    /// Up to `low` bytes at 0, the rest from `high_base`.
    TwoBanks {
        /// Size of the low bank.
        low: u64,
        /// Base of the high bank.
        high_base: u64,
    },
}

/// The RAM sizes a board accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RamRule {
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// Sizes are multiples of this.
    pub step: u64,
    /// Used when `--ram` is not given.
    pub default: u64,
}

/// The console the board's tree names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Console {
    /// Which `-serial` (0-based) carries it.
    pub serial: usize,
    /// How many `-serial` ports the machine has (the ones before the console get `null`).
    pub serial_ports: usize,
    /// Its `compatible` string.
    pub compatible: &'static str,
    /// Its CPU physical address (after `ranges` translation).
    pub pa: u64,
}

/// One machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    /// The `--machine` name.
    pub name: &'static str,
    /// QEMU's `-M` name.
    pub qemu_machine: &'static str,
    /// One line for the help text.
    pub summary: &'static str,
    /// CPU model: chosen with `-cpu` (virt) or fixed by the machine.
    pub cpu: &'static str,
    /// True when the machine decides the CPU (`-cpu` is not passed).
    pub cpu_fixed: bool,
    /// CPUs `--smp` accepts.
    pub smp: (u32, u32),
    /// `-smp` QEMU requires whatever `--smp` says (the Pi always has 4 cores).
    pub qemu_smp: Option<u32>,
    /// RAM sizes.
    pub ram: RamRule,
    /// Where RAM is.
    pub ram_layout: RamLayout,
    /// The console.
    pub console: Console,
    /// The Linux tree for the board, a path in Debian's package (None: QEMU makes one).
    pub linux_dtb: Option<&'static str>,
    /// Where the Image goes (RAM base + 2 MiB).
    pub kernel_pa: u64,
    /// Where the tree goes.
    pub dtb_pa: u64,
    /// How the firmware step is played.
    pub firmware: Firmware,
    /// Exception level at entry without `--el2`.
    pub entry_el: u8,
    /// `-M` option that makes the entry EL2, when the board has one.
    pub el2_option: Option<&'static str>,
    /// How secondaries start.
    pub secondaries: Secondaries,
    /// Environment QEMU needs.
    pub qemu_env: &'static [(&'static str, &'static str)],
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// QEMU's `virt`.
pub const VIRT: Board = Board {
    name: "virt",
    qemu_machine: "virt",
    summary: "QEMU's virt machine: RAM from 0x4000_0000, PL011 console, PSCI",
    cpu: "cortex-a72",
    cpu_fixed: false,
    smp: (1, 8),
    qemu_smp: None,
    ram: RamRule { min: 128 * MIB, max: 1024 * GIB, step: MIB, default: GIB },
    ram_layout: RamLayout::Contiguous { base: 0x4000_0000 },
    console: Console { serial: 0, serial_ports: 1, compatible: "arm,pl011", pa: 0x0900_0000 },
    linux_dtb: None,
    kernel_pa: 0x4020_0000,
    dtb_pa: 0x4400_0000,
    firmware: Firmware::BiosShim,
    entry_el: 1,
    el2_option: Some("virtualization=on"),
    secondaries: Secondaries::Psci("hvc"),
    qemu_env: &[],
};

/// QEMU's Raspberry Pi 3 Model B.
pub const RASPI3B: Board = Board {
    name: "raspi3b",
    qemu_machine: "raspi3b",
    summary: "Raspberry Pi 3 Model B: RAM from 0 (1G only), mini UART console, spin-table",
    cpu: "cortex-a53",
    cpu_fixed: true,
    smp: (1, 4),
    qemu_smp: Some(4),
    ram: RamRule { min: GIB, max: GIB, step: GIB, default: GIB },
    ram_layout: RamLayout::BelowGpu { gpu: 64 * MIB },
    console: Console { serial: 1, serial_ports: 2, compatible: "brcm,bcm2835-aux-uart", pa: 0x3f21_5040 },
    linux_dtb: Some("broadcom/bcm2837-rpi-3-b.dtb"),
    kernel_pa: 0x20_0000,
    dtb_pa: 0x0800_0000,
    firmware: Firmware::ArmStub,
    entry_el: 2,
    el2_option: None,
    secondaries: Secondaries::SpinTable { first: firmware::SPIN_TABLE },
    qemu_env: &[],
};

/// QEMU's Xilinx ZCU102.
pub const ZCU102: Board = Board {
    name: "zcu102",
    qemu_machine: "xlnx-zcu102",
    summary: "Xilinx ZCU102: 2 GiB at 0 + the rest at 0x8_0000_0000, Cadence UART, PSCI by SMC",
    cpu: "cortex-a53",
    cpu_fixed: true,
    smp: (1, 4),
    qemu_smp: None,
    ram: RamRule { min: GIB, max: 16 * GIB, step: MIB, default: 4 * GIB },
    ram_layout: RamLayout::TwoBanks { low: 2 * GIB, high_base: 0x8_0000_0000 },
    console: Console { serial: 0, serial_ports: 2, compatible: "cdns,uart-r1p12", pa: 0xff00_0000 },
    linux_dtb: Some("xilinx/zynqmp-zcu102-rev1.0.dtb"),
    kernel_pa: 0x20_0000,
    dtb_pa: 0x0800_0000,
    firmware: Firmware::LoaderShim { addr: 0xfffc_0000 },
    entry_el: 1,
    el2_option: Some("virtualization=on"),
    secondaries: Secondaries::Psci("smc"),
    qemu_env: &[("QEMU_AUDIO_DRV", "none")],
};

/// Every board, the default first.
pub const BOARDS: &[Board] = &[VIRT, RASPI3B, ZCU102];

/// The board called `name` (its `--machine` name or QEMU's).
pub fn board(name: &str) -> Result<&'static Board, String> {
    BOARDS.iter().find(|b| b.name == name || b.qemu_machine == name).ok_or_else(|| {
        let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
        format!("--machine {name:?}: unknown machine (known: {})", names.join(", "))
    })
}

/// A size as QEMU's `-m` takes it ("1G", "1536M").
pub fn qemu_size(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{}G", bytes / GIB)
    } else {
        format!("{}M", bytes / MIB)
    }
}

impl Board {
    /// Check a RAM size.
    pub fn check_ram(&self, ram: u64) -> Result<(), String> {
        let r = &self.ram;
        if r.min == r.max && ram != r.min {
            return Err(format!("--ram: {} takes exactly {} of RAM", self.name, qemu_size(r.min)));
        }
        if ram < r.min || ram > r.max || !ram.is_multiple_of(r.step) {
            return Err(format!(
                "--ram {}: {} takes {} to {} in steps of {}",
                qemu_size(ram),
                self.name,
                qemu_size(r.min),
                qemu_size(r.max),
                qemu_size(r.step)
            ));
        }
        Ok(())
    }

    /// Check a CPU count.
    pub fn check_smp(&self, smp: u32) -> Result<(), String> {
        let (lo, hi) = self.smp;
        if smp < lo || smp > hi {
            return Err(format!("--smp {smp}: {} takes {lo} to {hi} CPUs", self.name));
        }
        Ok(())
    }

    /// The RAM ranges (base, size) the board really has with `ram` bytes:
    /// what its memory node must say.
    pub fn ram_ranges(&self, ram: u64) -> Vec<(u64, u64)> {
        match self.ram_layout {
            RamLayout::Contiguous { base } => vec![(base, ram)],
            RamLayout::BelowGpu { gpu } => vec![(0, ram.saturating_sub(gpu))],
            RamLayout::TwoBanks { low, high_base } => {
                let mut v = vec![(0, ram.min(low))];
                if ram > low {
                    v.push((high_base, ram - low));
                }
                v
            }
        }
    }

    /// `-M`, `-m`, `-smp` and `-cpu` for this board.
    pub fn qemu_machine_args(&self, ram: u64, smp: u32, el2: bool) -> Result<Vec<String>, String> {
        self.check_ram(ram)?;
        self.check_smp(smp)?;
        let mut machine = self.qemu_machine.to_string();
        if el2 {
            match self.el2_option {
                Some(opt) => machine = format!("{machine},{opt}"),
                None if self.entry_el == 2 => {}
                None => return Err(format!("--el2: {} has no EL2", self.name)),
            }
        }
        let mut a = vec!["-M".to_string(), machine, "-m".into(), qemu_size(ram)];
        a.extend(["-smp".to_string(), self.qemu_smp.unwrap_or(smp).to_string()]);
        if !self.cpu_fixed {
            a.extend(["-cpu".to_string(), self.cpu.to_string()]);
        }
        Ok(a)
    }

    /// `-serial` options that connect the console to `console` (e.g.
    /// `mon:stdio`, `file:PATH`) and the other ports to nothing.
    pub fn serial_args(&self, console: &str) -> Vec<String> {
        (0..self.console.serial_ports)
            .flat_map(|i| {
                ["-serial".to_string(), if i == self.console.serial { console.into() } else { "null".into() }]
            })
            .collect()
    }

    /// The firmware blob for a verbatim hand-over.
    pub fn firmware_blob(&self) -> Vec<u8> {
        match self.firmware {
            Firmware::ArmStub => firmware::raspi_armstub(self.dtb_pa, self.kernel_pa),
            Firmware::LoaderShim { .. } if self.console.compatible == "cdns,uart-r1p12" => {
                firmware::zynqmp_shim(self.dtb_pa, self.kernel_pa, self.console.pa)
            }
            Firmware::BiosShim | Firmware::LoaderShim { .. } => crate::qemu::boot_shim(self.dtb_pa, self.kernel_pa),
        }
    }

    /// The QEMU options that load `image`, `tree` and `firmware` (a file
    /// holding [`Board::firmware_blob`]) so the kernel gets the tree verbatim.
    pub fn handover_args(&self, image: &Path, tree: &Path, firmware: &Path) -> Vec<String> {
        let loader = |file: &Path, addr: u64, extra: &str| {
            ["-device".to_string(), format!("loader,file={},addr={addr:#x},force-raw=on{extra}", file.display())]
        };
        let mut a = Vec::new();
        a.extend(loader(image, self.kernel_pa, ""));
        a.extend(loader(tree, self.dtb_pa, ""));
        match self.firmware {
            Firmware::BiosShim => a.extend(["-bios".to_string(), firmware.display().to_string()]),
            Firmware::LoaderShim { addr } => a.extend(loader(firmware, addr, ",cpu-num=0")),
            Firmware::ArmStub => a.extend(loader(firmware, 0, "")),
        }
        a
    }
}
