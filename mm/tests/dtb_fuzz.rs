//! Passing means: 20,000 randomly mutated device trees (bit flips, byte and word stores, truncations, header fields, splices, structure edits) all get Ok or Err from `Dtb::new`, `tokens()`, `parse_memory` and the early KASLR scan without a panic or a hang, whatever is accepted is self-consistent, the early scan trusts exactly the trees the walker passes (every tree the parser accepts among them) and reads the same seed, a good share is rejected, and the unmutated fixtures parse.

mod common;

use common::{compact, fixture, get32, header_field, put32, simple_tree, FdtBuilder, Rng, DTB_FIXTURES};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use vakern_mm::dtb::*;

const SEED: u64 = 0x0d7b_f022;
const CASES: u64 = 20_000;
/// A hang shows up as this much time without the loop finishing.
const WATCHDOG: Duration = Duration::from_secs(60);

/// The trees the mutations start from: the fixtures cut to their blocks,
/// and two built ones (reserved-memory, NOPs, 32-bit cells).
fn seeds() -> Vec<Vec<u8>> {
    let mut s: Vec<Vec<u8>> = DTB_FIXTURES.iter().map(|n| compact(&fixture(n))).collect();
    s.push(simple_tree(&[(0x4000_0000, 1 << 30), (0x1_0000_0000, 1 << 30)]));
    let mut b = FdtBuilder::new();
    b.begin("").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
    b.nop();
    b.begin("memory@40000000").prop_str("device_type", "memory").reg((1, 1), &[(0x4000_0000, 0x1000_0000)]).end();
    b.begin("reserved-memory").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]).prop_empty("ranges");
    b.begin("fw@4e000000").reg((1, 1), &[(0x4e00_0000, 0x10_0000)]).prop_empty("no-map").end();
    b.end();
    b.begin("chosen").prop_str("bootargs", "earlycon").prop_u32("kaslr-seed", &[1, 2]).end();
    b.end();
    b.memreserve(0x4800_0000, 0x1000);
    s.push(b.finish());
    s
}

const INTERESTING32: [u32; 14] =
    [0, 1, 2, 3, 4, 9, 0x10, 0x28, 0x7fff_ffff, 0x8000_0000, 0xffff_fffc, 0xffff_ffff, 0xd00d_feed, 0x4000_0000];

fn interesting(rng: &mut Rng, blob: &[u8]) -> u32 {
    match rng.below(4) {
        0 => *rng.pick(&INTERESTING32),
        1 => (blob.len() as u32).wrapping_add(rng.range_incl(0, 8) as u32).wrapping_sub(4),
        2 => rng.below(blob.len() as u64 + 1) as u32,
        _ => rng.next_u64() as u32,
    }
}

/// Apply one random mutation to `b`; returns its name.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], b: &mut Vec<u8>) -> &'static str {
    if b.is_empty() {
        b.push(0);
    }
    let len = b.len() as u64;
    match rng.below(9) {
        0 => {
            for _ in 0..rng.range_incl(1, 8) {
                let bit = rng.below(len * 8);
                b[(bit / 8) as usize] ^= 1 << (bit % 8);
            }
            "bit flips"
        }
        1 => {
            for _ in 0..rng.range_incl(1, 4) {
                let i = rng.below(len) as usize;
                let random = rng.next_u64() as u8;
                b[i] = *rng.pick(&[0, 0xff, 0x7f, 0x80, 1, b'@', random]);
            }
            "byte stores"
        }
        2 => {
            // A word of the structure block (token, length, name offset or cell).
            if len >= 44 {
                let st = header_field(b, 2) as u64;
                let sz = header_field(b, 9) as u64;
                let off = if st + sz <= len && sz >= 4 { st + rng.below(sz / 4) * 4 } else { rng.below(len / 4) * 4 };
                let v = interesting(rng, b);
                put32(b, off as usize, v);
            }
            "structure word"
        }
        3 => {
            let new_len = rng.below(len) as usize;
            b.truncate(new_len);
            if rng.chance(1, 2) && new_len >= 8 {
                // Make the header agree, so the cut reaches the block checks.
                put32(b, 4, new_len as u32);
            }
            "truncation"
        }
        4 => {
            if len >= 40 {
                let field = rng.range_incl(1, 9) as usize;
                let v = if rng.chance(1, 3) {
                    header_field(b, field).wrapping_add(rng.range_incl(0, 16) as u32).wrapping_sub(8)
                } else {
                    interesting(rng, b)
                };
                put32(b, 4 * field, v);
            }
            "header field"
        }
        5 => {
            // Overwrite with bytes from any seed.
            let src = rng.pick(seeds);
            let n = rng.range_incl(1, 256).min(src.len() as u64).min(len);
            let from = rng.below(src.len() as u64 - n + 1) as usize;
            let to = rng.below(len - n + 1) as usize;
            b[to..to + n as usize].copy_from_slice(&src[from..from + n as usize]);
            "splice"
        }
        6 => {
            // Insert bytes from a seed, and grow the header's sizes so the blob stays "whole".
            let src = rng.pick(seeds);
            let n = (rng.range_incl(1, 64) * 4).min(src.len() as u64) as usize;
            let from = rng.below(src.len() as u64 - n as u64 + 1) as usize;
            let at = rng.below(len + 1) as usize;
            let chunk = src[from..from + n].to_vec();
            b.splice(at..at, chunk);
            if b.len() >= 40 {
                grow_header(b, at, n as i64);
            }
            "insert"
        }
        7 => {
            // Delete aligned words of the structure block, keeping the header consistent.
            if len >= 44 {
                let st = header_field(b, 2) as usize;
                let sz = header_field(b, 9) as usize;
                if st + sz <= b.len() && sz >= 8 {
                    let words = sz / 4;
                    let at = st + 4 * rng.below(words as u64) as usize;
                    let n = 4 * rng.range_incl(1, 6).min((st + sz - at) as u64 / 4) as usize;
                    b.drain(at..at + n);
                    grow_header(b, at, -(n as i64));
                }
            }
            "structure delete"
        }
        _ => {
            // Duplicate a run of structure words in place (nodes, properties).
            if len >= 44 {
                let st = header_field(b, 2) as usize;
                let sz = header_field(b, 9) as usize;
                if st + sz <= b.len() && sz >= 8 {
                    let at = st + 4 * rng.below(sz as u64 / 4) as usize;
                    let n = 4 * rng.range_incl(1, 16).min((st + sz - at) as u64 / 4) as usize;
                    let chunk = b[at..at + n].to_vec();
                    b.splice(at..at, chunk);
                    grow_header(b, at, n as i64);
                }
            }
            "structure duplicate"
        }
    }
}

/// After `delta` bytes were inserted (or removed) at `at`: move the header's
/// offsets past `at` and grow the block holding `at` and the total size.
fn grow_header(b: &mut [u8], at: usize, delta: i64) {
    let adj = |v: u32| (v as i64 + delta).clamp(0, u32::MAX as i64) as u32;
    let total = header_field(b, 1);
    put32(b, 4, adj(total));
    for (off_field, size_field) in [(2, 9), (3, 8), (4, usize::MAX)] {
        let off = header_field(b, off_field) as usize;
        if off > at || (off == at && delta > 0) {
            put32(b, 4 * off_field, adj(off as u32));
        } else if size_field != usize::MAX {
            let size = header_field(b, size_field) as usize;
            if at < off + size || (at == off + size && delta > 0) {
                put32(b, 4 * size_field, adj(size as u32));
            }
        }
    }
}

/// Run the parser on one blob and check what it accepts. Returns the
/// error's kind, or "ok" / "ok (no memory info)".
fn exercise(blob: &[u8]) -> String {
    let _ = header_total_size(blob);
    // The early KASLR scan walks with the same walker: it trusts exactly
    // the trees whose header and structure pass, which includes every tree
    // the full parser accepts (the full parser adds UTF-8 checks of names).
    let early = vakern_mm::kaslr::scan(blob);
    let walked = vakern_mm::fdt_walk::Header::check(blob).is_ok_and(|h| {
        let (_, st, sr) = h.blocks(blob);
        let mut w = vakern_mm::fdt_walk::Walker::new(st, sr);
        loop {
            match w.next_token() {
                Ok(Some(_)) => {}
                Ok(None) => break true,
                Err(_) => break false,
            }
        }
    });
    assert_eq!(early.source == vakern_mm::kaslr::SOURCE_NO_TREE, !walked, "the early scan and the walker disagree");
    let dtb = match Dtb::new(blob) {
        Ok(d) => d,
        Err(e) => {
            let _ = e.to_string();
            return kind(&e);
        }
    };
    assert_ne!(early.source, vakern_mm::kaslr::SOURCE_NO_TREE, "the early scan distrusts a tree the parser accepts");
    assert!(dtb.total_size() <= blob.len());
    // The structure is balanced, starts with the root and stays within MAX_DEPTH.
    let mut depth = 0i64;
    let mut max_depth = 0;
    let mut n = 0usize;
    for (i, t) in dtb.tokens().enumerate() {
        match t {
            Token::Begin(name) => {
                assert!(i > 0 || name.is_empty(), "first token is the root");
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            Token::End => depth -= 1,
            Token::Prop(..) => assert!(depth > 0),
        }
        assert!(depth >= 0);
        n += 1;
        assert!(n <= dtb.total_size() / 4, "more tokens than words");
    }
    assert_eq!(depth, 0, "accepted an unbalanced tree");
    assert!(max_depth >= 1 && max_depth as usize <= MAX_DEPTH);
    let _ = dtb.mem_reservations().count();

    match parse_memory(&dtb) {
        Ok(info) => {
            if early.source == vakern_mm::kaslr::SOURCE_DTB {
                assert_eq!(Some(early.seed), info.kaslr_seed, "the early scan and the parser read different seeds");
            }
            let ram: Vec<_> = info.ram.iter().copied().collect();
            assert!(!ram.is_empty());
            assert!(info.ram_entries >= ram.len() && info.ram_entries <= MAX_RAM_RANGES);
            for w in ram.windows(2) {
                assert!(w[0].end < w[1].base, "RAM not sorted and merged: {:x?}", ram);
            }
            for r in &ram {
                assert!(r.base < r.end && r.end <= 1 << 48, "bad RAM range {:x?}", r);
            }
            for r in info.reservations() {
                assert!(r.range.base <= r.range.end);
                let _ = r.kind.label();
            }
            if let Ok(m) = info.mappable() {
                assert!(m.total() <= info.ram.total());
            }
            "ok".into()
        }
        Err(e) => {
            let _ = e.to_string();
            format!("parse: {}", kind(&e))
        }
    }
}

fn kind(e: &DtbError) -> String {
    let s = format!("{:?}", e);
    let end = s.find([' ', '(', '{']).unwrap_or(s.len());
    s[..end].to_string()
}

#[test]
fn unmutated_fixtures_parse() {
    for name in DTB_FIXTURES {
        let full = fixture(name);
        assert_eq!(exercise(&full), "ok", "{}", name);
    }
    for (i, s) in seeds().iter().enumerate() {
        assert_eq!(exercise(s), "ok", "seed tree {}", i);
    }
}

#[test]
fn mutated_trees_never_panic() {
    println!("dtb fuzz: seed {:#x}, {} cases", SEED, CASES);
    let progress = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    let p = progress.clone();
    let worker = std::thread::spawn(move || {
        let seeds = seeds();
        let mut rng = Rng::new(SEED);
        let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
        let mut mutations: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
        let mut blob = Vec::new();
        for case in 0..CASES {
            p.store(case, Ordering::Relaxed);
            blob.clear();
            let seed_tree: &Vec<u8> = rng.pick(&seeds[..]);
            blob.extend_from_slice(seed_tree);
            let mut names = Vec::new();
            // Mostly one mutation, so that many trees stay close to valid.
            let count = *rng.pick(&[1, 1, 1, 1, 1, 1, 1, 2, 2, 3]);
            for _ in 0..count {
                names.push(mutate(&mut rng, &seeds, &mut blob));
            }
            let r = catch_unwind(AssertUnwindSafe(|| exercise(&blob)));
            let outcome = match r {
                Ok(o) => o,
                Err(_) => {
                    let path = std::env::temp_dir().join(format!("vakern-dtb-fuzz-{:x}-{}.dtb", SEED, case));
                    let _ = std::fs::write(&path, &blob);
                    panic!("seed {:#x} case {} ({:?}) panicked; blob saved to {}", SEED, case, names, path.display());
                }
            };
            let rejected = outcome != "ok";
            for n in names {
                let e = mutations.entry(n).or_default();
                e.0 += 1;
                e.1 += rejected as u64;
            }
            *outcomes.entry(outcome).or_default() += 1;
        }
        let _ = tx.send((outcomes, mutations));
    });
    let start = Instant::now();
    let (outcomes, mutations) = match rx.recv_timeout(WATCHDOG) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("seed {:#x}: case {} hangs", SEED, progress.load(Ordering::Relaxed))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(e) => std::panic::resume_unwind(e),
            Ok(()) => unreachable!(),
        },
    };
    println!("{} cases in {:?}", CASES, start.elapsed());
    for (m, (n, rej)) in &mutations {
        println!("  {:<20} {:>6} applied, {:>6} in rejected trees", m, n, rej);
    }
    for (o, n) in &outcomes {
        println!("  {:<40} {:>6}", o, n);
    }
    let ok = outcomes.get("ok").copied().unwrap_or(0);
    let rejected = CASES - ok;
    // Meaningful: most broken trees are caught, but enough pass to reach
    // parse_memory's own checks, and the errors are varied.
    assert!(rejected * 100 >= CASES * 30, "only {} of {} rejected", rejected, CASES);
    assert!(ok * 100 >= CASES * 5, "only {} of {} accepted", ok, CASES);
    let parse_errors: u64 = outcomes.iter().filter(|(k, _)| k.starts_with("parse: ")).map(|(_, n)| n).sum();
    assert!(parse_errors >= 100, "parse_memory rejected only {}", parse_errors);
    assert!(outcomes.len() >= 10, "only {} kinds of outcome: {:?}", outcomes.len(), outcomes.keys());
}

/// The mutation helpers themselves: an insert or delete that the header is
/// adjusted for keeps a tree readable when it only touches whole tokens.
#[test]
fn header_bookkeeping_of_the_mutator() {
    let mut t = simple_tree(&[(0x4000_0000, 1 << 30)]);
    let st = header_field(&t, 2) as usize;
    // Insert two NOPs after the root's FDT_BEGIN_NODE and name (8 bytes).
    let nops = [0, 0, 0, 4, 0, 0, 0, 4];
    t.splice(st + 8..st + 8, nops);
    grow_header(&mut t, st + 8, 8);
    assert_eq!(header_field(&t, 1) as usize, t.len());
    assert_eq!(get32(&t, st + 8), 4);
    assert_eq!(exercise(&t), "ok");
    // And remove them again.
    t.drain(st + 8..st + 16);
    grow_header(&mut t, st + 8, -8);
    assert_eq!(t, simple_tree(&[(0x4000_0000, 1 << 30)]));
}
