//! Writing the build's outputs so that nobody sees half a file.
//!
//! The kernel's ELF, its Image and the GDB layout table are rewritten by
//! every build, while a GDB (which maps the ELF into memory) or a QEMU may be
//! reading the previous ones: `cargo run -- --gdb` in one terminal and
//! `cargo test` in another, or two tests at once. So a file is written only
//! when its content changes, to a temporary name that is then renamed over
//! the old one: a reader keeps the old file whole, later readers get the new
//! one whole. Host only; uses `std`.

use std::path::Path;

/// Make `path` hold `data`, atomically; nothing is written if it already does.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, data).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_by_rename_and_only_on_change() {
        let dir = std::env::temp_dir().join(format!("vakern-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        write_atomic(&p, b"one").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        // Unchanged content: the same file stays.
        write_atomic(&p, b"one").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
        // New content: a new file, and a reader of the old one still has it whole.
        let old = std::fs::File::open(&p).unwrap();
        write_atomic(&p, b"two!").unwrap();
        assert_ne!(std::fs::metadata(&p).unwrap().ino(), ino);
        assert_eq!(std::fs::read(&p).unwrap(), b"two!");
        let mut s = String::new();
        std::io::Read::read_to_string(&mut &old, &mut s).unwrap();
        assert_eq!(s, "one");
        // No temporary left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
