//! Passing means: 20,000 device trees mutated by proptest-generated edits (bit flips, byte and word stores, truncations, header fields, splices, structure edits) all get Ok or Err from `Dtb::new`, `tokens()`, `parse_memory` and the early KASLR scan without a panic or a hang, whatever is accepted is self-consistent, the early scan trusts exactly the trees the walker passes (every tree the parser accepts among them) and reads the same seed, a good share is rejected, and the unmutated fixtures parse. A panicking case is shrunk by proptest to the fewest, smallest edits that still panic.

use crate::common;

use common::{compact, fixture, get32, header_field, put32, simple_tree, FdtBuilder, DTB_FIXTURES};
use proptest::prelude::*;
use proptest::sample::Index;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use vakern_mm::dtb::*;

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

/// A 32-bit value worth storing into a tree: a boundary value, something
/// near the blob's length, an offset inside it, or anything.
#[derive(Clone, Debug)]
enum Word {
    Interesting(u32),
    NearLength(u32),
    Inside(Index),
    Any(u32),
}

impl Word {
    fn value(&self, blob: &[u8]) -> u32 {
        match self {
            Word::Interesting(v) | Word::Any(v) => *v,
            Word::NearLength(d) => (blob.len() as u32).wrapping_add(*d).wrapping_sub(4),
            Word::Inside(i) => i.index(blob.len() + 1) as u32,
        }
    }
}

fn words() -> impl Strategy<Value = Word> {
    prop_oneof![
        prop::sample::select(&INTERESTING32[..]).prop_map(Word::Interesting),
        (0u32..=8).prop_map(Word::NearLength),
        any::<Index>().prop_map(Word::Inside),
        any::<u32>().prop_map(Word::Any),
    ]
}

/// One mutation; positions are [`Index`]es, scaled to the blob when applied.
#[derive(Clone, Debug)]
enum Mutation {
    BitFlips(Vec<Index>),
    ByteStores(Vec<(Index, u8)>),
    /// A word of the structure block (token, length, name offset or cell).
    StructureWord(Index, Word),
    /// Cut the blob; with `fix`, make the header's size agree, so the cut
    /// reaches the block checks.
    Truncate {
        at: Index,
        fix: bool,
    },
    /// A header field (1..=9): nudged by -8..=8, or replaced.
    HeaderField {
        field: usize,
        nudge: Option<u32>,
        word: Word,
    },
    /// Overwrite with bytes from a seed tree.
    Splice {
        src: Index,
        n: u64,
        from: Index,
        to: Index,
    },
    /// Insert whole words from a seed tree and grow the header's sizes.
    Insert {
        src: Index,
        words: u64,
        from: Index,
        at: Index,
    },
    /// Delete words of the structure block, keeping the header consistent.
    StructureDelete {
        at: Index,
        words: u64,
    },
    /// Duplicate a run of structure words in place (nodes, properties).
    StructureDuplicate {
        at: Index,
        words: u64,
    },
}

fn mutations() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![prop::sample::select(vec![0u8, 0xff, 0x7f, 0x80, 1, b'@']), any::<u8>()];
    prop_oneof![
        prop::collection::vec(any::<Index>(), 1..=8).prop_map(Mutation::BitFlips),
        prop::collection::vec((any::<Index>(), byte), 1..=4).prop_map(Mutation::ByteStores),
        (any::<Index>(), words()).prop_map(|(i, w)| Mutation::StructureWord(i, w)),
        (any::<Index>(), any::<bool>()).prop_map(|(at, fix)| Mutation::Truncate { at, fix }),
        (1usize..=9, prop::option::weighted(1.0 / 3.0, 0u32..=16), words())
            .prop_map(|(field, nudge, word)| Mutation::HeaderField { field, nudge, word }),
        (any::<Index>(), 1u64..=256, any::<Index>(), any::<Index>()).prop_map(|(src, n, from, to)| Mutation::Splice {
            src,
            n,
            from,
            to
        }),
        (any::<Index>(), 1u64..=64, any::<Index>(), any::<Index>())
            .prop_map(|(src, words, from, at)| Mutation::Insert { src, words, from, at }),
        (any::<Index>(), 1u64..=6).prop_map(|(at, words)| Mutation::StructureDelete { at, words }),
        (any::<Index>(), 1u64..=16).prop_map(|(at, words)| Mutation::StructureDuplicate { at, words }),
    ]
}

/// A tree to try: a seed tree and, mostly, one mutation (so that many trees
/// stay close to valid), sometimes two or three.
fn cases() -> impl Strategy<Value = (Index, Vec<Mutation>)> {
    let count = prop_oneof![7 => Just(1usize), 2 => Just(2), 1 => Just(3)];
    (any::<Index>(), count.prop_flat_map(|n| prop::collection::vec(mutations(), n)))
}

/// The structure block's word offsets, if the header's are inside the blob.
fn structure(b: &[u8]) -> Option<(usize, usize)> {
    if b.len() < 44 {
        return None;
    }
    let (st, sz) = (header_field(b, 2) as usize, header_field(b, 9) as usize);
    (st + sz <= b.len() && sz >= 8).then_some((st, sz))
}

/// Apply `m` to `b`; returns its name.
fn mutate(m: &Mutation, seeds: &[Vec<u8>], b: &mut Vec<u8>) -> &'static str {
    if b.is_empty() {
        b.push(0);
    }
    let len = b.len();
    match m {
        Mutation::BitFlips(bits) => {
            for bit in bits {
                let bit = bit.index(len * 8);
                b[bit / 8] ^= 1 << (bit % 8);
            }
            "bit flips"
        }
        Mutation::ByteStores(stores) => {
            for (i, v) in stores {
                b[i.index(len)] = *v;
            }
            "byte stores"
        }
        Mutation::StructureWord(i, w) => {
            if len >= 44 {
                let (st, sz) = (header_field(b, 2) as usize, header_field(b, 9) as usize);
                let off = if st + sz <= len && sz >= 4 { st + i.index(sz / 4) * 4 } else { i.index(len / 4) * 4 };
                let v = w.value(b);
                put32(b, off, v);
            }
            "structure word"
        }
        Mutation::Truncate { at, fix } => {
            let new_len = at.index(len);
            b.truncate(new_len);
            if *fix && new_len >= 8 {
                put32(b, 4, new_len as u32);
            }
            "truncation"
        }
        Mutation::HeaderField { field, nudge, word } => {
            if len >= 40 {
                let v = match nudge {
                    Some(d) => header_field(b, *field).wrapping_add(*d).wrapping_sub(8),
                    None => word.value(b),
                };
                put32(b, 4 * field, v);
            }
            "header field"
        }
        Mutation::Splice { src, n, from, to } => {
            let src = &seeds[src.index(seeds.len())];
            let n = (*n as usize).min(src.len()).min(len);
            let from = from.index(src.len() - n + 1);
            let to = to.index(len - n + 1);
            b[to..to + n].copy_from_slice(&src[from..from + n]);
            "splice"
        }
        Mutation::Insert { src, words, from, at } => {
            let src = &seeds[src.index(seeds.len())];
            let n = (*words as usize * 4).min(src.len());
            let from = from.index(src.len() - n + 1);
            let at = at.index(len + 1);
            let chunk = src[from..from + n].to_vec();
            b.splice(at..at, chunk);
            if b.len() >= 40 {
                grow_header(b, at, n as i64);
            }
            "insert"
        }
        Mutation::StructureDelete { at, words } => {
            if let Some((st, sz)) = structure(b) {
                let at = st + 4 * at.index(sz / 4);
                let n = 4 * (*words as usize).min((st + sz - at) / 4);
                b.drain(at..at + n);
                grow_header(b, at, -(n as i64));
            }
            "structure delete"
        }
        Mutation::StructureDuplicate { at, words } => {
            if let Some((st, sz)) = structure(b) {
                let at = st + 4 * at.index(sz / 4);
                let n = 4 * (*words as usize).min((st + sz - at) / 4);
                let chunk = b[at..at + n].to_vec();
                b.splice(at..at, chunk);
                grow_header(b, at, n as i64);
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
    // The early KASLR scan walks with the same walker: it trusts exactly
    // the trees whose header and structure pass, which includes every tree
    // the full parser accepts (the full parser adds UTF-8 checks of names).
    // `blob` is a slice exactly as long as the tree: any read past it panics.
    let early = vakern_mm::kaslr::scan(blob);
    // The kernel hands the scan its whole mapped window, more than the tree.
    // Bytes past `totalsize` must change nothing: the scan reads only inside
    // the blob its header describes. (A header claiming more than `blob`
    // holds may legitimately read the padding, so those are not compared.)
    if header_total_size(blob).is_ok_and(|t| t <= blob.len()) {
        let mut window = blob.to_vec();
        window.extend_from_slice(&[0xa5; 4096]);
        let padded = vakern_mm::kaslr::scan(&window);
        let mut zeroes = blob.to_vec();
        zeroes.resize(blob.len() + 4096, 0);
        assert_eq!(padded, early, "bytes past the tree changed the early scan");
        assert_eq!(vakern_mm::kaslr::scan(&zeroes), early, "bytes past the tree changed the early scan");
    }
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

/// Outcomes of the parser, and per mutation: (applied, in rejected trees).
type Counts = (BTreeMap<String, u64>, BTreeMap<&'static str, (u64, u64)>);

#[test]
fn mutated_trees_never_panic() {
    let progress = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    let p = progress.clone();
    let worker = std::thread::spawn(move || {
        let seeds = seeds();
        let counts: RefCell<Counts> = Default::default();
        // A panic inside fails the case; proptest shrinks it to the fewest,
        // smallest mutations that still panic, and prints them.
        let result = common::runner(CASES as u32, file!()).run(&cases(), |(seed, mutations)| {
            p.fetch_add(1, Ordering::Relaxed);
            let mut blob = seeds[seed.index(seeds.len())].clone();
            let names: Vec<&str> = mutations.iter().map(|m| mutate(m, &seeds, &mut blob)).collect();
            let outcome = exercise(&blob);
            let rejected = outcome != "ok";
            let (outcomes, applied) = &mut *counts.borrow_mut();
            for n in names {
                let e = applied.entry(n).or_default();
                e.0 += 1;
                e.1 += rejected as u64;
            }
            *outcomes.entry(outcome).or_default() += 1;
            Ok(())
        });
        let _ = tx.send(result.map(|()| counts.into_inner()).map_err(|e| e.to_string()));
    });
    let start = Instant::now();
    let (outcomes, mutations) = match rx.recv_timeout(WATCHDOG) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => panic!("{e}"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("case {} hangs (no answer in {:?})", progress.load(Ordering::Relaxed), WATCHDOG)
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
