//! The kernel command line (`/chosen/bootargs`, from `cargo run -- --append`).
//!
//! | option | meaning |
//! |---|---|
//! | `test=NAME` | run self-test NAME after boot, exit with its verdict |
//! | `test=A,B,..` | run self-tests A, B, .. in order in one boot, each with its own PASS/FAIL line; exit with the first failure's code (see `selftest`) |
//! | `poweroff` | power off (exit code 0) once boot is complete |
//! | `loglevel=N` | print messages of level N or more severe (3 err .. 7 debug) |
//! | `ptdump` | dump the kernel page tables once boot is complete |
//! | `bootstats` | print the cost of each boot phase in counter ticks |
//! | `maxcpus=N` | bring up at most N CPUs, the boot CPU included (Linux's meaning) |
//! | `kaslr_seed=N` | the KASLR seed (read by the early code, before this parser) |
//! | `nokaslr` | no KASLR (read by the early code too) |
//!
//! Unknown options are listed in a warning and otherwise ignored, as Linux
//! does; a malformed value of a known option is a warning too.

use crate::pr_warn;

/// Options the kernel understands.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// `test=NAME` or `test=A,B,..`.
    pub test: Option<&'a str>,
    /// `poweroff`.
    pub poweroff: bool,
    /// `loglevel=N`.
    pub loglevel: Option<u8>,
    /// `ptdump`.
    pub ptdump: bool,
    /// `bootstats`.
    pub bootstats: bool,
    /// `maxcpus=N`.
    pub maxcpus: Option<usize>,
}

/// Parse `line`; warn about what is not understood.
pub fn parse(line: &str) -> Options<'_> {
    parse_inner(line, true)
}

/// Parse `line` again, without repeating the warnings.
pub fn parse_quiet(line: &str) -> Options<'_> {
    parse_inner(line, false)
}

fn parse_inner(line: &str, warn: bool) -> Options<'_> {
    let mut o = Options::default();
    for word in line.split_ascii_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        match (key, value) {
            ("test", Some(v)) if !v.is_empty() => o.test = Some(v),
            ("poweroff", None) => o.poweroff = true,
            ("ptdump", None) => o.ptdump = true,
            ("bootstats", None) => o.bootstats = true,
            ("maxcpus", Some(v)) => match v.parse::<usize>() {
                Ok(n) => o.maxcpus = Some(n),
                _ if warn => pr_warn!("maxcpus: {:?} is not a number, ignored", v),
                _ => {}
            },
            // Used by the early KASLR code before this parser runs.
            ("kaslr_seed", Some(_)) | ("nokaslr", None) => {}
            ("loglevel", Some(v)) => match v.parse::<u8>() {
                Ok(n) if n <= 8 => o.loglevel = Some(n),
                _ if warn => pr_warn!("loglevel: {:?} is not a level 0..8, ignored", v),
                _ => {}
            },
            _ if warn => pr_warn!("Unknown kernel command line parameter {:?}, ignored", word),
            _ => {}
        }
    }
    o
}
