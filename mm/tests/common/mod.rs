//! Helpers shared by the mm integration tests: the proptest settings of the
//! property tests, the device tree fixtures, and a small builder of
//! flattened device trees for the trees the tests need to be broken.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

use proptest::prelude::RngExt;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence, RngAlgorithm, TestRng, TestRunner};

/// proptest settings for `cases` cases. A failing case is shrunk to a
/// minimal one, printed, and saved beside the test's source file
/// (`NAME.proptest-regressions`, replayed first on later runs); the seed is
/// new every run unless `PROPTEST_RNG_SEED` fixes it.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

/// A proptest runner with [`config`], for properties that count what they
/// saw across all cases; `source` is the test's `file!()`.
pub fn runner(cases: u32, source: &'static str) -> TestRunner {
    TestRunner::new(ProptestConfig { source_file: Some(source), ..config(cases) })
}

/// Random draws for the page-table model tests, whose long scenarios (map,
/// probe, unmap, each step depending on the state so far) are driven step
/// by step: proptest's own generator (ChaCha), seeded so that a failure
/// replays, with the few distributions those tests use.
pub struct Draws(TestRng);

impl Draws {
    /// The draws for `seed`.
    pub fn new(seed: u64) -> Draws {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&(seed ^ (i as u64) << 56).to_le_bytes());
        }
        Draws(TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
    }

    /// Uniform over all of `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.random()
    }

    /// Uniform in `[0, n)`; `n` must not be 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n)
    }

    /// Uniform in `[lo, hi]`.
    pub fn range_incl(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.random_range(lo..=hi)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A size between `lo` and `hi` (powers of two apart), log-uniformly,
    /// rounded down to a multiple of `unit` (at least `unit`).
    pub fn log_size(&mut self, lo: u64, hi: u64, unit: u64) -> u64 {
        let (a, b) = (lo.trailing_zeros() as u64, 63 - hi.leading_zeros() as u64);
        let shift = self.range_incl(a, b);
        let v = self.range_incl(1 << shift, (1u64 << shift).saturating_mul(2) - 1).min(hi);
        (v / unit).max(1) * unit
    }
}

/// Path of a file under `mm/tests/fixtures`.
pub fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The bytes of a fixture (see `fixtures/regenerate.sh`).
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {}: {}", name, e))
}

/// The DTB fixtures, by file name.
pub const DTB_FIXTURES: [&str; 4] = ["qemu-virt-1g.dtb", "qemu-virt-4g.dtb", "qemu-virt-numa.dtb", "holes.dtb"];

/// Big-endian u32 at `off`.
pub fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

/// Store a big-endian u32 at `off`.
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// Header field `i` (0 = magic, 1 = totalsize, 2 = off_dt_struct, 3 =
/// off_dt_strings, 4 = off_mem_rsvmap, 5 = version, 6 = last_comp_version,
/// 7 = boot_cpuid_phys, 8 = size_dt_strings, 9 = size_dt_struct).
pub fn header_field(b: &[u8], i: usize) -> u32 {
    get32(b, 4 * i)
}

/// The same tree with `totalsize` cut down to the end of its last block:
/// QEMU pads its dumps to 1 MiB, which would make the fuzz loop copy
/// megabytes per case.
pub fn compact(blob: &[u8]) -> Vec<u8> {
    let f = |i| header_field(blob, i) as usize;
    let end_struct = f(2) + f(9);
    let end_strings = f(3) + f(8);
    // The reservation block: pairs up to and including (0, 0).
    let mut end_rsv = f(4);
    loop {
        let pair = &blob[end_rsv..end_rsv + 16];
        end_rsv += 16;
        if pair.iter().all(|&b| b == 0) {
            break;
        }
    }
    let end = end_struct.max(end_strings).max(end_rsv);
    let mut out = blob[..end].to_vec();
    put32(&mut out, 4, end as u32);
    out
}

pub const FDT_BEGIN_NODE: u32 = 1;
pub const FDT_END_NODE: u32 = 2;
pub const FDT_PROP: u32 = 3;
pub const FDT_NOP: u32 = 4;
pub const FDT_END: u32 = 9;

/// Builds a flattened device tree token by token, so tests can make both
/// good trees and precisely broken ones (the builder checks nothing).
#[derive(Default)]
pub struct FdtBuilder {
    structs: Vec<u8>,
    strings: Vec<u8>,
    rsv: Vec<(u64, u64)>,
    /// Version written in the header (17 unless changed).
    pub version: u32,
    /// Leave out the FDT_END token.
    pub no_end_token: bool,
}

impl FdtBuilder {
    pub fn new() -> FdtBuilder {
        FdtBuilder { version: 17, ..Default::default() }
    }

    /// Append a raw big-endian word to the structure block.
    pub fn raw(&mut self, v: u32) -> &mut Self {
        self.structs.extend_from_slice(&v.to_be_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.raw(FDT_BEGIN_NODE);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.raw(FDT_END_NODE)
    }

    pub fn nop(&mut self) -> &mut Self {
        self.raw(FDT_NOP)
    }

    /// Offset of `name` in the strings block, adding it if needed.
    fn string(&mut self, name: &str) -> u32 {
        let mut needle = name.as_bytes().to_vec();
        needle.push(0);
        let mut off = 0;
        while off < self.strings.len() {
            let len = self.strings[off..].iter().position(|&b| b == 0).unwrap() + 1;
            if self.strings[off..off + len] == needle[..] {
                return off as u32;
            }
            off += len;
        }
        let off = self.strings.len();
        self.strings.extend_from_slice(&needle);
        off as u32
    }

    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let nameoff = self.string(name);
        self.raw(FDT_PROP).raw(value.len() as u32).raw(nameoff);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn prop_u32(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    pub fn prop_str(&mut self, name: &str, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v)
    }

    pub fn prop_empty(&mut self, name: &str) -> &mut Self {
        self.prop(name, &[])
    }

    /// A `reg` property of (address, size) pairs with `cells` = (#address-cells, #size-cells).
    pub fn reg(&mut self, cells: (u32, u32), entries: &[(u64, u64)]) -> &mut Self {
        let v = reg_bytes(cells, entries);
        self.prop("reg", &v)
    }

    /// A `/memreserve/` entry.
    pub fn memreserve(&mut self, addr: u64, size: u64) -> &mut Self {
        self.rsv.push((addr, size));
        self
    }

    /// The blob: header, reservation block, structure block, strings block.
    pub fn finish(&self) -> Vec<u8> {
        let mut rsv = Vec::new();
        for &(a, s) in self.rsv.iter().chain([(0, 0)].iter()) {
            rsv.extend_from_slice(&a.to_be_bytes());
            rsv.extend_from_slice(&s.to_be_bytes());
        }
        let mut structs = self.structs.clone();
        if !self.no_end_token {
            structs.extend_from_slice(&FDT_END.to_be_bytes());
        }
        let off_rsv = 40;
        let off_struct = off_rsv + rsv.len();
        let off_strings = off_struct + structs.len();
        let total = off_strings + self.strings.len();
        let mut out = Vec::with_capacity(total);
        for v in [
            0xd00d_feed,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            self.version,
            16,
            0,
            self.strings.len() as u32,
            structs.len() as u32,
        ] {
            out.extend_from_slice(&u32::to_be_bytes(v));
        }
        out.extend_from_slice(&rsv);
        out.extend_from_slice(&structs);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// The bytes of a `reg` value.
pub fn reg_bytes(cells: (u32, u32), entries: &[(u64, u64)]) -> Vec<u8> {
    let mut v = Vec::new();
    let push = |v: &mut Vec<u8>, x: u64, n: u32| {
        for i in (0..n).rev() {
            let word = if i >= 2 { 0 } else { (x >> (32 * i)) as u32 };
            v.extend_from_slice(&word.to_be_bytes());
        }
    };
    for &(a, s) in entries {
        push(&mut v, a, cells.0);
        push(&mut v, s, cells.1);
    }
    v
}

/// A minimal good tree: root with 2/2 cells, the given memory nodes as
/// `memory@…` with one reg entry each, and `/chosen`.
pub fn simple_tree(ram: &[(u64, u64)]) -> Vec<u8> {
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    for &(base, size) in ram {
        b.begin(&format!("memory@{:x}", base)).prop_str("device_type", "memory").reg((2, 2), &[(base, size)]).end();
    }
    b.begin("chosen").prop_str("bootargs", "console=ttyAMA0").end();
    b.end();
    b.finish()
}
