//! The interactive monitor on the serial console, after boot.
//!
//! One command per line, case-insensitive; `help` lists them and `help CMD`
//! explains one. Numbers follow one rule ([`args::NUMBER_RULE`]). Bad
//! commands and bad arguments print an error that names the problem, and the
//! prompt comes back; a line longer than [`line::LINE_MAX`] is refused whole.
//! Memory is read through the fault-safe probe, so `x` on an unmapped
//! address prints a fault report and the monitor carries on. End of input
//! (Ctrl-D, which the launcher also sends when its own input ends) powers
//! the machine off with exit code 0.
//!
//! The commands live in one file per group: [`translate`] (pa, va,
//! lm_alias, walk), [`bits`], [`memory`] (x, vmalloc, vfree, sym, meminfo),
//! [`map`] (map, idmap); [`line`] is the line editor and [`args`] the number
//! rule.

mod args;
mod bits;
mod line;
mod map;
mod memory;
mod translate;

use crate::arch::semihosting;
use crate::debug::{fault_inject, kallsyms};
use crate::println;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use line::{Editor, Input, LINE_MAX};
use vakern_mm::exit;

/// One command: its name, its arguments, one line of summary and its help.
struct Command {
    name: &'static str,
    usage: &'static str,
    summary: &'static str,
    help: &'static str,
}

const COMMANDS: &[Command] = &[
    Command { name: "help", usage: "help [CMD]", summary: "this list, or the help of CMD", help: "" },
    Command {
        name: "layout",
        usage: "layout",
        summary: "the virtual memory layout",
        help: "The layout table the boot printed: every region's start, end and size.",
    },
    Command { name: "map", usage: "map", summary: "a diagram of the whole address space", help: map::MAP_HELP },
    Command {
        name: "pa",
        usage: "pa VA",
        summary: "__pa(VA) by the rules, unchecked, and by the MMU",
        help: translate::PA_HELP,
    },
    Command { name: "va", usage: "va PA", summary: "__va(PA), and whether PA is RAM", help: translate::VA_HELP },
    Command {
        name: "lm_alias",
        usage: "lm_alias SYM",
        summary: "the linear-map alias of an image address",
        help: translate::LM_ALIAS_HELP,
    },
    Command {
        name: "walk",
        usage: "walk [-v] VA",
        summary: "the table walk for VA (-v: every level decoded)",
        help: translate::WALK_HELP,
    },
    Command { name: "bits", usage: "bits VA", summary: "how the MMU splits VA into indexes", help: bits::BITS_HELP },
    Command {
        name: "ptdump",
        usage: "ptdump",
        summary: "dump the kernel page tables",
        help: "The upper half's tables as runs of like mappings, in the format of arm64 Linux's\n\
               kernel_page_tables, with a marker at each region.",
    },
    Command {
        name: "idmap",
        usage: "idmap",
        summary: "the identity map as it was before TTBR0 was emptied",
        help: map::IDMAP_HELP,
    },
    Command {
        name: "x",
        usage: "x [-f] VA [LEN]",
        summary: "hex dump LEN bytes (default 64, at most 4 KiB)",
        help: memory::X_HELP,
    },
    Command {
        name: "vmalloc",
        usage: "vmalloc SIZE",
        summary: "vmalloc SIZE bytes; prints the area and its pages",
        help: memory::VMALLOC_HELP,
    },
    Command {
        name: "vfree",
        usage: "vfree VA",
        summary: "free an area this monitor's vmalloc handed out",
        help: memory::VFREE_HELP,
    },
    Command {
        name: "sym",
        usage: "sym ADDR|NAME",
        summary: "the function at ADDR, or the address of NAME",
        help: memory::SYM_HELP,
    },
    Command {
        name: "fault",
        usage: "fault KIND",
        summary: "a deliberate fatal fault (fault list: the kinds)",
        help: "Takes the kernel down on purpose with one kind of fault, to see its report.\n\
               The kernel exits with code 4. `fault list` names the kinds.",
    },
    Command {
        name: "meminfo",
        usage: "meminfo",
        summary: "memory, NUMA nodes, allocators, areas, table pages",
        help: memory::MEMINFO_HELP,
    },
    Command {
        name: "poweroff",
        usage: "poweroff",
        summary: "power off (exit code 0); Ctrl-D does the same",
        help: "Powers the machine off with exit code 0, as end of input does.",
    },
];

const KEYS: &str = "\
keys: left/right, Home/End, Delete, up/down (history), Tab (complete a command
  or a symbol), Ctrl-C (drop the line), Ctrl-D (end of input: power off).";

/// Read lines and run them until `poweroff` or end of input.
pub fn run() -> ! {
    println!("vakern monitor: type 'help' for commands.");
    let mut editor = Editor::new();
    loop {
        match editor.read("vakern> ", &complete) {
            Input::Line(l) => execute(l.trim()),
            Input::Cancelled => {}
            Input::TooLong(n) => {
                println!("error: line of {} characters is longer than the limit of {} characters; not run", n, LINE_MAX)
            }
            Input::End => {
                println!();
                println!("end of input: powering off");
                semihosting::exit(exit::SUCCESS);
            }
        }
    }
}

/// Candidates for the word at `start` of `line`: commands for the first word,
/// `fault` kinds after `fault`, command names after `help`, symbols otherwise.
fn complete(line: &str, start: usize) -> Vec<String> {
    let word = &line[start..];
    let first = line.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if s.starts_with(word) && !out.iter().any(|o| o == s) {
            out.push(String::from(s));
        }
    };
    if start == 0 {
        COMMANDS.iter().for_each(|c| add(c.name));
    } else if first == "help" {
        COMMANDS.iter().for_each(|c| add(c.name));
    } else if first == "fault" {
        fault_inject::KINDS.iter().for_each(|k| add(k.0));
        add("list");
    } else {
        args::linker_symbols().iter().for_each(|s| add(s.0));
        if !word.is_empty() {
            for name in kallsyms::names() {
                add(name);
                if let Some((_, last)) = name.rsplit_once("::") {
                    add(last);
                }
            }
        }
    }
    out.sort();
    out
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + (ca != b[j]) as usize).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn did_you_mean(cmd: &str) -> String {
    let best = COMMANDS.iter().map(|c| (distance(cmd, c.name), c.name)).min();
    match best {
        Some((d, name)) if d <= 2 || name.starts_with(cmd) => format!("; did you mean '{name}'?"),
        _ => String::from("; type 'help'"),
    }
}

fn help(topic: Option<&str>) -> Result<(), String> {
    let Some(t) = topic else {
        println!("commands (case does not matter; help CMD for one):");
        for c in COMMANDS {
            println!("  {:<18}{}", c.usage, c.summary);
        }
        println!("{}", args::NUMBER_RULE);
        println!("{}", KEYS);
        return Ok(());
    };
    let t = t.to_ascii_lowercase();
    let c =
        COMMANDS.iter().find(|c| c.name == t).ok_or_else(|| format!("help: no command {t:?}{}", did_you_mean(&t)))?;
    println!("{} - {}", c.usage, c.summary);
    if !c.help.is_empty() {
        println!("{}", c.help);
    }
    Ok(())
}

/// The arguments of a command, with errors that name the command.
pub struct Args<'a> {
    cmd: &'a str,
    words: Vec<&'a str>,
}

impl<'a> Args<'a> {
    /// Take the flag `-f` (any case) out of the arguments, if present.
    pub fn flag(&mut self, f: &str) -> bool {
        let before = self.words.len();
        self.words.retain(|w| !w.eq_ignore_ascii_case(f));
        self.words.len() != before
    }
    /// Exactly `min..=max` arguments, else an error naming what is missing or extra.
    pub fn count(&self, min: usize, max: usize) -> Result<(), String> {
        let usage = COMMANDS.iter().find(|c| c.name == self.cmd).map_or("", |c| c.usage);
        if self.words.len() < min {
            Err(format!("{}: missing argument (usage: {usage})", self.cmd))
        } else if self.words.len() > max {
            Err(format!("{}: too many arguments (usage: {usage})", self.cmd))
        } else {
            Ok(())
        }
    }
    /// Argument `i` as an address.
    pub fn addr(&self, i: usize) -> Result<u64, String> {
        let w = self.word(i)?;
        args::addr(w).map_err(|e| format!("{}: {e}", self.cmd))
    }
    /// Argument `i` as a size, or `default` if absent.
    pub fn size_or(&self, i: usize, default: u64) -> Result<u64, String> {
        match self.words.get(i) {
            Some(w) => args::size(w).map_err(|e| format!("{}: {e}", self.cmd)),
            None => Ok(default),
        }
    }
    /// Argument `i` as typed.
    pub fn word(&self, i: usize) -> Result<&'a str, String> {
        self.words.get(i).copied().ok_or_else(|| format!("{}: missing argument", self.cmd))
    }
}

fn execute(line: &str) {
    let mut words = line.split_whitespace();
    let Some(cmd_typed) = words.next() else { return };
    let lower = cmd_typed.to_ascii_lowercase();
    let Some(c) = COMMANDS.iter().find(|c| c.name == lower) else {
        println!("error: unknown command {cmd_typed:?}{}", did_you_mean(&lower));
        return;
    };
    let mut a = Args { cmd: c.name, words: words.collect() };
    let result = match c.name {
        "help" => a.count(0, 1).and_then(|_| help(a.words.first().copied())),
        "layout" => a.count(0, 0).map(|_| crate::mm::layout::print_layout()),
        "map" => a.count(0, 0).map(|_| map::cmd_map()),
        "idmap" => a.count(0, 0).map(|_| map::cmd_idmap()),
        "pa" => a.count(1, 1).and_then(|_| a.addr(0)).map(translate::cmd_pa),
        "va" => a.count(1, 1).and_then(|_| a.addr(0)).map(translate::cmd_va),
        "lm_alias" => a.count(1, 1).and_then(|_| translate::cmd_lm_alias(a.word(0)?, a.addr(0)?)),
        "walk" => {
            let verbose = a.flag("-v");
            a.count(1, 1).and_then(|_| a.addr(0)).map(|va| translate::cmd_walk(va, verbose))
        }
        "bits" => a.count(1, 1).and_then(|_| a.addr(0)).map(bits::cmd_bits),
        "ptdump" => a.count(0, 0).map(|_| crate::debug::ptdump::dump(&mut |l| println!("{}", l))),
        "x" => {
            let force = a.flag("-f");
            a.count(1, 2).and_then(|_| memory::cmd_x(a.addr(0)?, a.size_or(1, 64)?, force))
        }
        "vmalloc" => a.count(1, 1).and_then(|_| a.size_or(0, 0)).and_then(memory::cmd_vmalloc),
        "vfree" => a.count(1, 1).and_then(|_| a.addr(0)).and_then(memory::cmd_vfree),
        "sym" => a.count(1, 1).and_then(|_| memory::cmd_sym(a.word(0)?)),
        "fault" => a.count(1, 1).and_then(|_| {
            let kind = a.word(0)?;
            if kind.eq_ignore_ascii_case("list") {
                println!("fault kinds: {}", kinds());
                return Ok(());
            }
            fault_inject::trigger(kind).map_err(|e| format!("fault {kind}: {e} (kinds: {})", kinds()))
        }),
        "meminfo" => a.count(0, 0).map(|_| memory::cmd_meminfo()),
        "poweroff" => a.count(0, 0).map(|_| {
            println!("powering off");
            semihosting::exit(exit::SUCCESS)
        }),
        _ => Err(format!("{}: not implemented", c.name)),
    };
    if let Err(e) = result {
        println!("error: {e}");
    }
}

fn kinds() -> String {
    fault_inject::KINDS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
}
