//! Passing means: the `fdt` crate (0.2.0-alpha3), tried as the kernel's
//! device-tree reader, holds where these tests say it holds and fails where
//! they say it fails; the failures are why `vakern_mm::fdt_walk` exists.
//!
//! It holds on QEMU's own trees: it walks the NOP tokens QEMU leaves and
//! sees every node our walker sees. It fails for the kernel in three ways:
//! its fallible constructor panics on bad headers and its node iteration
//! panics on some bad structures (a panic is a kernel crash, and before
//! relocation a call the early code may not make); it accepts structures
//! that break the format's rules; and its memory node lookup sees one
//! `/memory` node where QEMU's NUMA machine has two. If an update fixes
//! these, these tests fail and the choice can be made again.

use crate::common;

use common::{compact, fixture, put32, Draws, DTB_FIXTURES};
use fdt02::Fdt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use vakern_mm::dtb::{parse_memory, Dtb, Token};

/// Every node (but the root) with its depth and property count, through
/// fdt's fallible (`Result`-returning) interface.
fn fdt_nodes(blob: &[u8]) -> Result<Vec<(usize, String, usize)>, String> {
    let e = |e: fdt02::FdtError| format!("{e:?}");
    let f = Fdt::new_unaligned_fallible(blob).map_err(e)?;
    let mut out = Vec::new();
    for n in f.root().map_err(e)?.all_nodes().map_err(e)? {
        let (depth, n) = n.map_err(e)?;
        let name = n.name().map_err(e)?;
        let mut props = 0;
        for p in n.properties().map_err(e)?.iter() {
            p.map_err(e)?;
            props += 1;
        }
        let full = match name.unit_address {
            Some(a) => format!("{}@{a}", name.name),
            None => name.name.to_string(),
        };
        out.push((depth, full, props));
    }
    Ok(out)
}

/// The same, from our walker.
fn our_nodes(blob: &[u8]) -> Vec<(usize, String, usize)> {
    let dtb = Dtb::new(blob).unwrap();
    let (mut out, mut depth) = (Vec::new(), 0usize);
    for t in dtb.tokens() {
        match t {
            Token::Begin(name) => {
                depth += 1;
                if depth > 1 {
                    out.push((depth - 1, name.to_string(), 0));
                }
            }
            Token::Prop(..) if depth > 1 => out.last_mut().unwrap().2 += 1,
            Token::Prop(..) => {}
            Token::End => depth -= 1,
        }
    }
    out
}

/// Run `f`, whose panics are expected and caught, without printing them.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: Mutex<()> = Mutex::new(());
    let _g = HOOK.lock().unwrap_or_else(|p| p.into_inner());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = f();
    std::panic::set_hook(hook);
    r
}

#[test]
fn holds_on_qemu_trees_with_nop_tokens() {
    for name in DTB_FIXTURES {
        let blob = fixture(name);
        let theirs = fdt_nodes(&blob).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(theirs, our_nodes(&blob), "{name}");
    }
    // QEMU's trees do have NOPs (where it rewrote nodes), so this covered them.
    let qemu = fixture("qemu-virt-1g.dtb");
    let (off, size) = (common::header_field(&qemu, 2) as usize, common::header_field(&qemu, 9) as usize);
    assert!(qemu[off..off + size].chunks(4).any(|w| w == [0, 0, 0, 4]), "no NOP token in the QEMU fixture");
}

#[test]
fn fails_to_see_the_second_memory_node() {
    let blob = fixture("qemu-virt-numa.dtb");
    let f = Fdt::new_unaligned_fallible(&blob).unwrap();
    let memory = f.root().unwrap().memory().unwrap();
    let theirs: Vec<(u64, u64)> =
        memory.reg().unwrap().iter::<u64, u64>().map(|r| r.unwrap()).map(|r| (r.address, r.len)).collect();
    let ours = parse_memory(&Dtb::new(&blob).unwrap()).unwrap();
    assert_eq!(ours.ram_entries, 2, "the NUMA fixture has two memory nodes");
    assert_eq!(theirs.len(), 1, "fdt's memory() now sees {theirs:x?}");
}

#[test]
fn fails_by_panicking_on_a_bad_header() {
    // A strings block whose offset + size wraps 32 bits.
    let mut blob = compact(&fixture("qemu-virt-1g.dtb"));
    put32(&mut blob, 12, 0xffff_fff0);
    put32(&mut blob, 32, 0x20);
    assert!(Dtb::new(&blob).is_err(), "our check rejects it");
    let r = quietly(|| catch_unwind(AssertUnwindSafe(|| Fdt::new_unaligned_fallible(&blob).map(|_| ()))));
    assert!(r.is_err(), "fdt's fallible constructor no longer panics here: {r:?}");
}

#[test]
fn fails_on_the_bad_tree_corpus() {
    let seeds: Vec<Vec<u8>> = DTB_FIXTURES.iter().map(|n| compact(&fixture(n))).collect();
    let mut rng = Draws::new(0xfd7_0002);
    let (mut panics, mut accepted_malformed, mut first_panic) = (0, 0, None);
    let cases = 3000;
    for case in 0..cases {
        let mut b = rng.pick(&seeds).clone();
        let len = b.len() as u64;
        let what = match rng.below(3) {
            0 => {
                for _ in 0..4 {
                    let bit = rng.below(len * 8);
                    b[(bit / 8) as usize] ^= 1 << (bit % 8);
                }
                "bit flips"
            }
            1 => {
                let off = (rng.below(len / 4) * 4) as usize;
                put32(&mut b, off, *rng.pick(&[0, 1, 2, 3, 4, 9, 0x8000_0000, 0xffff_fffc, 0xffff_ffff]));
                "structure word"
            }
            _ => {
                let field = rng.below(10) as usize;
                put32(&mut b, 4 * field, *rng.pick(&[0, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, len as u32 + 4]));
                "header field"
            }
        };
        match quietly(|| catch_unwind(AssertUnwindSafe(|| fdt_nodes(&b)))) {
            Err(_) => {
                panics += 1;
                first_panic.get_or_insert((case, what));
            }
            Ok(Ok(_)) if Dtb::new(&b).is_err() => accepted_malformed += 1,
            Ok(_) => {}
        }
    }
    println!(
        "fdt 0.2.0-alpha3 on {cases} mutated trees: {panics} panics (first: case {:?}), {accepted_malformed} malformed trees read without an error",
        first_panic
    );
    assert!(panics > 0, "fdt no longer panics on the corpus");
    assert!(accepted_malformed > 0, "fdt now rejects every tree our walker rejects");
}
