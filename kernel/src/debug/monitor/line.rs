//! The monitor's line editor: echo, backspace, left/right arrows, Home/End,
//! Delete, history (up/down), Tab completion and Ctrl-C, for a terminal;
//! plain echo for piped input, which never sends escape sequences.
//!
//! Runs after boot on the console (`console::printk::getc`). Keys arrive one
//! byte at a time; escape sequences (`ESC [ A`, `ESC [ 1 ~`, `ESC O H`) are
//! decoded by a small state machine. Typing at the end of the line echoes
//! the character alone; any other edit redraws the line with `ESC [ K` and
//! moves the cursor back with `ESC [ n D`.

use crate::console::printk;
use crate::print;
use alloc::string::String;
use alloc::vec::Vec;

/// Longest line accepted. A longer line is refused whole, never cut.
pub const LINE_MAX: usize = 256;
/// Lines remembered for the up arrow.
const HISTORY: usize = 64;

/// What reading a line produced.
pub enum Input {
    /// A line (possibly empty), Enter pressed.
    Line(String),
    /// Ctrl-C: the line was abandoned.
    Cancelled,
    /// More than [`LINE_MAX`] characters were typed; the line is dropped.
    TooLong(usize),
    /// End of input (Ctrl-D).
    End,
}

/// The editor's state across lines: the history.
pub struct Editor {
    history: Vec<String>,
}

enum Esc {
    None,
    Start,
    Bracket(u8),
}

impl Editor {
    /// An editor with empty history.
    pub const fn new() -> Editor {
        Editor { history: Vec::new() }
    }

    /// Read one line after printing `prompt`. `complete(line, word_start)`
    /// gives the candidates for the word being typed at the end of the line.
    pub fn read(&mut self, prompt: &str, complete: &dyn Fn(&str, usize) -> Vec<String>) -> Input {
        print!("{prompt}");
        let mut line: Vec<u8> = Vec::new();
        let mut cur = 0usize;
        let mut overflow = 0usize;
        let mut hist = self.history.len();
        let mut saved: Option<Vec<u8>> = None;
        let mut esc = Esc::None;
        loop {
            let Some(b) = printk::getc() else {
                core::hint::spin_loop();
                continue;
            };
            let key = match esc {
                Esc::Start => {
                    esc = if b == b'[' || b == b'O' { Esc::Bracket(0) } else { Esc::None };
                    continue;
                }
                Esc::Bracket(n) => {
                    if b.is_ascii_digit() {
                        esc = Esc::Bracket(n.saturating_mul(10).saturating_add(b - b'0'));
                        continue;
                    }
                    esc = Esc::None;
                    match (b, n) {
                        (b'A', _) => Key::Up,
                        (b'B', _) => Key::Down,
                        (b'C', _) => Key::Right,
                        (b'D', _) => Key::Left,
                        (b'H', _) | (b'~', 1 | 7) => Key::Home,
                        (b'F', _) | (b'~', 4 | 8) => Key::End,
                        (b'~', 3) => Key::Delete,
                        _ => continue,
                    }
                }
                Esc::None => match b {
                    0x1b => {
                        esc = Esc::Start;
                        continue;
                    }
                    0x04 => return Input::End,
                    b'\r' | b'\n' => Key::Enter,
                    0x03 => Key::CtrlC,
                    0x7f | 0x08 => Key::Backspace,
                    0x01 => Key::Home,
                    0x05 => Key::End,
                    0x02 => Key::Left,
                    0x06 => Key::Right,
                    0x10 => Key::Up,
                    0x0e => Key::Down,
                    b'\t' => Key::Tab,
                    0x20..=0x7e => Key::Char(b),
                    _ => continue,
                },
            };
            match key {
                Key::Enter => {
                    print!("\n");
                    let text = String::from_utf8(line).unwrap_or_default();
                    if overflow > 0 {
                        return Input::TooLong(LINE_MAX + overflow);
                    }
                    if !text.trim().is_empty() && self.history.last() != Some(&text) {
                        if self.history.len() == HISTORY {
                            self.history.remove(0);
                        }
                        self.history.push(text.clone());
                    }
                    return Input::Line(text);
                }
                Key::CtrlC => {
                    print!("^C\n");
                    return Input::Cancelled;
                }
                Key::Char(c) => {
                    if line.len() >= LINE_MAX {
                        overflow += 1;
                        if overflow == 1 {
                            print!("\x07");
                        }
                        continue;
                    }
                    line.insert(cur, c);
                    cur += 1;
                    if cur == line.len() {
                        print!("{}", c as char);
                        continue;
                    }
                }
                Key::Backspace if overflow > 0 => {
                    overflow -= 1;
                    continue;
                }
                Key::Backspace if cur > 0 => {
                    cur -= 1;
                    line.remove(cur);
                    if cur == line.len() {
                        print!("\x08 \x08");
                        continue;
                    }
                }
                Key::Delete if cur < line.len() => {
                    line.remove(cur);
                }
                Key::Left if cur > 0 => {
                    cur -= 1;
                    print!("\x1b[D");
                    continue;
                }
                Key::Right if cur < line.len() => {
                    cur += 1;
                    print!("\x1b[C");
                    continue;
                }
                Key::Home => cur = 0,
                Key::End => cur = line.len(),
                Key::Up if hist > 0 => {
                    if saved.is_none() {
                        saved = Some(line.clone());
                    }
                    hist -= 1;
                    line = self.history[hist].clone().into_bytes();
                    cur = line.len();
                }
                Key::Down if hist < self.history.len() => {
                    hist += 1;
                    line = match self.history.get(hist) {
                        Some(h) => h.clone().into_bytes(),
                        None => saved.take().unwrap_or_default(),
                    };
                    cur = line.len();
                }
                Key::Tab => {
                    let text = String::from_utf8_lossy(&line[..cur]).into_owned();
                    let start = text.rfind(' ').map_or(0, |i| i + 1);
                    let cands = complete(&text, start);
                    let word = &text[start..];
                    match cands.as_slice() {
                        [] => {
                            print!("\x07");
                            continue;
                        }
                        [one] => {
                            let mut add = String::from(&one[word.len().min(one.len())..]);
                            add.push(' ');
                            insert(&mut line, &mut cur, add.as_bytes());
                        }
                        many => {
                            let common = common_prefix(many);
                            if common.len() > word.len() {
                                insert(&mut line, &mut cur, &common.as_bytes()[word.len()..]);
                            } else {
                                print!("\n");
                                for (i, c) in many.iter().take(60).enumerate() {
                                    print!("{}{}", if i % 4 == 0 && i > 0 { "\n" } else { "" }, pad(c));
                                }
                                if many.len() > 60 {
                                    print!("\n... and {} more", many.len() - 60);
                                }
                                print!("\n{prompt}");
                                print!("{}", core::str::from_utf8(&line).unwrap_or(""));
                                back(line.len() - cur);
                                continue;
                            }
                        }
                    }
                }
                _ => {
                    print!("\x07");
                    continue;
                }
            }
            // Redraw: start of line, prompt, text, clear the rest, cursor back.
            print!("\r{prompt}{}\x1b[K", core::str::from_utf8(&line).unwrap_or(""));
            back(line.len() - cur);
        }
    }
}

enum Key {
    Enter,
    CtrlC,
    Char(u8),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    Tab,
}

fn insert(line: &mut Vec<u8>, cur: &mut usize, add: &[u8]) {
    let room = LINE_MAX.saturating_sub(line.len()).min(add.len());
    for &b in &add[..room] {
        line.insert(*cur, b);
        *cur += 1;
    }
}

fn back(n: usize) {
    if n > 0 {
        print!("\x1b[{}D", n);
    }
}

fn pad(s: &str) -> String {
    let mut p = String::from(s);
    while p.len() < 19 {
        p.push(' ');
    }
    p.push(' ');
    p
}

/// The longest prefix all of `words` share.
pub fn common_prefix(words: &[String]) -> String {
    let first = words[0].as_bytes();
    let mut n = first.len();
    for w in &words[1..] {
        n = n.min(w.bytes().zip(first).take_while(|(a, b)| a == *b).count());
    }
    String::from(&words[0][..n])
}
