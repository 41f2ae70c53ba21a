//! The shape of the kernel's source tree, checked on the host without
//! building the kernel: which folder of `kernel/src` may use which, that no
//! import leads back up, and that every file says where it sits in the boot.
//!
//! A folder's uses are every `crate::FOLDER` path in its files (in `use`
//! lines and inline), plus every exported macro it calls that another
//! folder defines (`pr_info!` is a use of `console`). The allowed arrows are
//! the ones each folder's `mod.rs` documents under "May use".

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each folder and the folders it may use, from the bottom of the tree up.
const ALLOWED: &[(&str, &[&str])] = &[
    ("arch", &[]),
    ("console", &["arch"]),
    ("early", &["arch"]),
    ("mm", &["arch", "console", "early"]),
    ("cpu", &["arch", "console", "mm"]),
    ("debug", &["arch", "console", "mm", "cpu"]),
    ("selftest", &["arch", "console", "early", "mm", "cpu", "debug"]),
    ("setup", &["arch", "console", "early", "mm", "cpu", "debug", "selftest"]),
];

/// Longest file without a reason given in its opening comment.
const MAX_LINES: usize = 400;

fn kernel_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The folder a file belongs to (`None` for the crate root).
fn folder_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(kernel_src()).unwrap();
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_string_lossy().into_owned();
    parts.next().map(|_| first)
}

/// The code of a file without `//` comments (doc comments name paths in prose).
fn code(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Folders named by `crate::…` paths in `code`, including `crate::{a, b}` groups.
fn crate_paths(code: &str, folders: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group.split(',').map(|n| ident_at(n.trim())).collect()
        } else {
            vec![ident_at(rest)]
        };
        used.extend(names.into_iter().filter(|n| folders.contains(*n)).map(String::from));
    }
    used
}

/// Exported macros and the folder that defines each.
fn exported_macros(files: &[(PathBuf, String)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, text) in files {
        let Some(folder) = folder_of(path) else { continue };
        let mut lines = text.lines().peekable();
        while let Some(l) = lines.next() {
            if l.trim() == "#[macro_export]" {
                if let Some(def) = lines.peek().and_then(|n| n.trim().strip_prefix("macro_rules!")) {
                    out.insert(ident_at(def.trim()).to_string(), folder.clone());
                }
            }
        }
    }
    out
}

struct Tree {
    files: Vec<(PathBuf, String)>,
    folders: BTreeSet<String>,
}

fn tree() -> Tree {
    let mut paths = Vec::new();
    rust_files(&kernel_src(), &mut paths);
    paths.sort();
    let files: Vec<(PathBuf, String)> =
        paths.into_iter().map(|p| (p.clone(), fs::read_to_string(&p).unwrap())).collect();
    let folders = files.iter().filter_map(|(p, _)| folder_of(p)).collect();
    Tree { files, folders }
}

/// Every arrow between folders: (from, to) -> a file that makes it.
fn arrows(t: &Tree) -> BTreeMap<(String, String), String> {
    let macros = exported_macros(&t.files);
    let mut out = BTreeMap::new();
    for (path, text) in &t.files {
        let Some(from) = folder_of(path) else { continue };
        let code = code(text);
        let mut used = crate_paths(&code, &t.folders);
        for (name, folder) in &macros {
            if code.contains(&format!("{name}!")) {
                used.insert(folder.clone());
            }
        }
        for to in used.into_iter().filter(|to| *to != from) {
            out.entry((from.clone(), to)).or_insert_with(|| path.display().to_string());
        }
    }
    out
}

#[test]
fn every_folder_has_its_rules() {
    let t = tree();
    let known: BTreeSet<String> = ALLOWED.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(t.folders, known, "folders of kernel/src and the table of allowed arrows differ");
    for f in &t.folders {
        let m = kernel_src().join(f).join("mod.rs");
        let text = fs::read_to_string(&m).unwrap_or_else(|e| panic!("{}: {e}", m.display()));
        assert!(text.starts_with("//!"), "{} has no opening module comment", m.display());
        assert!(text.contains("May use") || text.contains("may use"), "{} does not say what it may use", m.display());
    }
}

#[test]
fn imports_follow_the_allowed_arrows() {
    let t = tree();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let bad: Vec<String> = arrows(&t)
        .into_iter()
        .filter(|((from, to), _)| !allowed.get(from.as_str()).is_some_and(|a| a.contains(&to.as_str())))
        .map(|((from, to), file)| format!("{from} -> {to} (in {file})"))
        .collect();
    assert!(bad.is_empty(), "imports against the folder rules:\n{}", bad.join("\n"));
}

#[test]
fn the_allowed_arrows_have_no_cycle() {
    // Each folder may use only folders listed before it: then no cycle exists.
    for (i, (folder, uses)) in ALLOWED.iter().enumerate() {
        for u in *uses {
            let pos = ALLOWED.iter().position(|(f, _)| f == u).unwrap_or_else(|| panic!("{folder} uses unknown {u}"));
            assert!(pos < i, "{folder} may use {u}, which is not below it");
        }
    }
}

#[test]
fn the_checker_sees_a_forbidden_arrow() {
    // The parser itself: an mm file importing setup, inline and grouped.
    let folders: BTreeSet<String> = ALLOWED.iter().map(|(f, _)| f.to_string()).collect();
    let found = crate_paths("use crate::{setup, pr_info};\nfn f() { crate::debug::monitor::run() }", &folders);
    assert_eq!(found, BTreeSet::from(["setup".to_string(), "debug".to_string()]));
    assert!(crate_paths(&code("// crate::setup in a comment"), &folders).is_empty());
}

#[test]
fn every_file_opens_with_its_place_and_long_files_say_why() {
    let t = tree();
    // The kernel's files, and those of the crate it shares with the host.
    let mut mm = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mm/src"), &mut mm);
    let mm: Vec<(PathBuf, String)> = mm.into_iter().map(|p| (p.clone(), fs::read_to_string(&p).unwrap())).collect();
    for (path, text) in t.files.iter().chain(&mm) {
        assert!(text.starts_with("//!"), "{} does not open with a //! comment", path.display());
        let lines = text.lines().count();
        if lines > MAX_LINES {
            let opening =
                text.lines().take_while(|l| l.starts_with("//!")).collect::<Vec<_>>().join(" ").replace("//!", "");
            let opening = opening.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                opening.contains("400 lines"),
                "{} has {lines} lines; its opening comment must say why it is over 400 lines",
                path.display()
            );
        }
    }
}
