//! The monitor's line editor on a real terminal: the launcher runs under a
//! pseudo-terminal (so QEMU gets `-nographic` and a raw terminal, as with
//! `cargo run` by hand), and keys are typed one byte at a time with a pause
//! between them, at human speed. A pass means arrows, Home, history, Tab
//! completion, Ctrl-C and an over-long line behave as on a terminal, and
//! `poweroff` ends the launcher with exit code 0.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The launcher under a pseudo-terminal, and what it has printed so far.
struct Pty {
    child: Child,
    master: File,
    out: Arc<Mutex<Vec<u8>>>,
    /// How far [`Pty::expect`] has matched.
    seen: usize,
}

impl Pty {
    fn spawn(args: &[&str]) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize { ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two fds; the name and termios pointers may be null.
        let r = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds are fresh and owned here.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vakern"));
        cmd.args(args)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the launcher");
        let out = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty { child, master, out, seen: 0 }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Wait until `needle` appears after what was matched before; return the text up to its end.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + common::TEST_TIMEOUT;
        loop {
            let t = self.text();
            if let Some(i) = t.get(self.seen..).and_then(|rest| rest.find(needle)) {
                let end = self.seen + i + needle.len();
                let chunk = t[self.seen..end].to_string();
                self.seen = end;
                return chunk;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("timed out waiting for {needle:?}; output so far:\n{t}");
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                let t = self.text();
                if !t[self.seen..].contains(needle) {
                    panic!("the launcher ended ({status}) before {needle:?}:\n{t}");
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Type `keys` one byte at a time, at about 30 keys a second.
    fn type_keys(&mut self, keys: &str) {
        for b in keys.bytes() {
            self.master.write_all(&[b]).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    fn wait(mut self) -> i32 {
        let deadline = Instant::now() + common::TEST_TIMEOUT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the launcher did not end:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

const UP: &str = "\x1b[A";
const LEFT: &str = "\x1b[D";
const HOME: &str = "\x1b[H";
const END: &str = "\x1b[F";

#[test]
fn line_editing_history_completion_and_ctrl_c_on_a_terminal() {
    common::kernel(false); // build before the clock of the first expect starts
    let mut p = Pty::spawn(&["--timeout", "300"]);
    p.expect("vakern monitor: type 'help' for commands.");
    p.expect("vakern> ");

    // A plain command, then the same again from history (up arrow, Enter).
    p.type_keys("pa _text\r");
    p.expect("(image rule)");
    p.expect("vakern> ");
    p.type_keys(&format!("{UP}\r"));
    let again = p.expect("(image rule)");
    assert!(again.contains("__pa(0xffff_0000_0800_0000) = 0x0000_0000_4020_0000"), "{again}");
    p.expect("vakern> ");

    // Left arrow and Home edit inside the line: "a _tex" -> "pa _text".
    p.type_keys(&format!("a _tex{HOME}p{END}t\r"));
    let edited = p.expect("(image rule)");
    assert!(!edited.contains("unknown command"), "{edited}");
    p.expect("vakern> ");
    // A "1" typed one place left of the end goes before the last digit.
    p.type_keys(&format!("bits ffff80000020100{LEFT}1\r"));
    let bits = p.expect("as the MMU splits it");
    assert!(bits.contains("0xffff_8000_0020_1010 as the MMU splits it"), "{bits}");
    p.expect("vakern> ");

    // Tab completes a command and a function name.
    p.type_keys("memi\t\r");
    p.expect("page allocator:");
    p.expect("vakern> ");
    p.type_keys("sym start_ker\t\r");
    p.expect("start_kernel is at 0xffff_0000_08");
    p.expect("vakern> ");
    // Two candidates: Tab lists them.
    p.type_keys("v\t");
    let listed = p.expect("vakern> v");
    assert!(listed.contains("va") && listed.contains("vfree") && listed.contains("vmalloc"), "{listed}");
    p.type_keys("free\r");
    p.expect("error: vfree: missing argument");
    p.expect("vakern> ");

    // Ctrl-C drops the line: nothing runs.
    p.type_keys("vmalloc 4096\x03");
    p.expect("^C");
    p.expect("vakern> ");
    p.type_keys("help bits\r");
    let after = p.expect("bits VA - how the MMU splits VA into indexes");
    assert!(!after.contains("vmalloc(4096)"), "{after}");
    p.expect("vakern> ");

    // Case does not matter; a typo is answered.
    p.type_keys("WALK -V _text\r");
    p.expect("stop: a page is a leaf");
    p.expect("vakern> ");
    p.type_keys("mepinfo\r");
    p.expect("did you mean 'meminfo'?");
    p.expect("vakern> ");

    p.type_keys("poweroff\r");
    p.expect("powering off");
    assert_eq!(p.wait(), 0);
}
