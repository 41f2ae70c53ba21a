//! Linux's own device trees for the boards, taken from Debian's arm64 kernel
//! package.
//!
//! This runs on the host before a board boot, when the launcher or a test
//! needs a board's tree. The trees are not part of this project: they are
//! fetched by package name with `apt-get download` (as root, like the rest
//! of the machine setup), and only the `.dtb` files listed in [`TREES`] are
//! extracted, once, into `target/dtbs/`. Later runs use that cache.
//!
//! The package name carries the kernel ABI, which changes with Debian's
//! updates, so it is never written down here: the `linux-image-arm64`
//! metapackage depends on the current `linux-image-<abi>-arm64`, whose
//! unsigned build `linux-image-<abi>-arm64-unsigned` holds the trees under
//! `usr/lib/linux-image-<abi>-arm64/`. On an amd64 machine apt knows arm64
//! packages only after `dpkg --add-architecture arm64` and `apt-get update`.
//!
//! When the trees cannot be fetched (not root, no network, no apt), the error
//! says the exact commands to run.

use crate::tools::project_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The metapackage whose dependency names the current kernel package.
pub const METAPACKAGE: &str = "linux-image-arm64:arm64";
/// The trees the project uses, as paths inside the package's tree folder.
pub const TREES: &[&str] =
    &["broadcom/bcm2837-rpi-3-b.dtb", "xilinx/zynqmp-zcu102-rev1.0.dtb", "broadcom/bcm2711-rpi-4-b.dtb"];
/// File in the cache that records which package the trees came from.
pub const SOURCE_FILE: &str = "SOURCE";

/// Where the extracted trees are kept.
pub fn cache_dir() -> PathBuf {
    project_root().join("target/dtbs")
}

/// The cached copy of `tree` (one of [`TREES`]).
pub fn cached(tree: &str) -> PathBuf {
    cache_dir().join(tree)
}

/// From `apt-cache depends linux-image-arm64:arm64`, the kernel image package
/// it depends on, without the architecture suffix (e.g. `linux-image-6.1.0-57-arm64`).
pub fn image_package_from_depends(apt_cache_output: &str) -> Result<String, String> {
    for line in apt_cache_output.lines() {
        let line = line.trim().trim_start_matches('|');
        let Some(dep) = line.strip_prefix("Depends:") else { continue };
        let dep = dep.trim();
        if dep.starts_with('<') {
            continue; // a virtual package
        }
        let name = dep.split(':').next().unwrap_or("");
        let valid = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".+-".contains(c));
        if valid && name.starts_with("linux-image-") && name.ends_with("-arm64") && name.len() > 18 {
            return Ok(name.to_string());
        }
    }
    Err(format!(
        "`apt-cache depends {METAPACKAGE}` names no linux-image-<abi>-arm64 package; its output was:\n{}",
        apt_cache_output.trim()
    ))
}

/// The package that holds the trees for an image package: its unsigned build,
/// for arm64.
pub fn unsigned_package(image_package: &str) -> String {
    format!("{image_package}-unsigned:arm64")
}

/// The `tar` member path of `tree` inside the package's data archive.
pub fn member_path(image_package: &str, tree: &str) -> String {
    format!("./usr/lib/{image_package}/{tree}")
}

/// The commands that fetch the trees by hand (with `image_package` filled in
/// when known).
pub fn manual_commands(image_package: Option<&str>) -> String {
    let pkg = image_package.unwrap_or("linux-image-<abi>-arm64");
    let members: Vec<String> = TREES.iter().map(|t| member_path(pkg, t)).collect();
    format!(
        "As root:\n\
         \x20   dpkg --add-architecture arm64 && apt-get update\n\
         \x20   apt-cache depends {METAPACKAGE}    # names {pkg}\n\
         \x20   mkdir -p {cache}/download && cd {cache}/download && apt-get download {unsigned}\n\
         \x20   dpkg-deb --fsys-tarfile {pkg}-unsigned_*_arm64.deb | tar -x {members}\n\
         \x20   cp -r usr/lib/{pkg}/broadcom usr/lib/{pkg}/xilinx {cache}/ && rm -r {cache}/download",
        unsigned = unsigned_package(pkg),
        cache = cache_dir().display(),
        members = members.join(" "),
    )
}

/// True when every tree is in the cache.
pub fn all_cached() -> bool {
    TREES.iter().all(|t| cached(t).is_file())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{shown} failed:\n{}", text.trim()))
    }
}

static FETCH: Mutex<()> = Mutex::new(());

/// The cached copy of `tree`, fetching all of [`TREES`] first if needed.
pub fn ensure(tree: &str) -> Result<PathBuf, String> {
    if !TREES.contains(&tree) {
        return Err(format!("{tree}: not one of the trees the project fetches ({})", TREES.join(", ")));
    }
    ensure_all()?;
    Ok(cached(tree))
}

/// Make sure every tree of [`TREES`] is in the cache.
pub fn ensure_all() -> Result<(), String> {
    let _one_at_a_time = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if all_cached() {
        return Ok(());
    }
    if !is_root() {
        // apt-cache needs no root: name the package when apt knows it.
        let known = run(Command::new("apt-cache").args(["depends", METAPACKAGE]))
            .and_then(|o| image_package_from_depends(&o))
            .ok();
        return Err(format!(
            "Linux's device trees for the boards are not in {} and fetching them needs root.\n{}",
            cache_dir().display(),
            manual_commands(known.as_deref())
        ));
    }
    fetch().map_err(|e| format!("could not fetch Linux's device trees: {e}\n{}", manual_commands(None)))
}

fn fetch() -> Result<(), String> {
    let foreign = run(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    let mut updated = false;
    if !foreign.split_whitespace().any(|a| a == "arm64") {
        eprintln!("vakern: adding the arm64 architecture to dpkg to fetch Linux's device trees");
        run(Command::new("dpkg").args(["--add-architecture", "arm64"]))?;
        run(Command::new("apt-get").args(["update", "-q"]))?;
        updated = true;
    }
    let depends = || run(Command::new("apt-cache").args(["depends", METAPACKAGE]));
    let image_package = match depends().and_then(|o| image_package_from_depends(&o)) {
        Ok(p) => p,
        Err(_) if !updated => {
            run(Command::new("apt-get").args(["update", "-q"]))?;
            image_package_from_depends(&depends()?)?
        }
        Err(e) => return Err(e),
    };
    let package = unsigned_package(&image_package);
    let work = std::env::temp_dir().join(format!("vakern-dtbs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let result = download_and_extract(&work, &image_package, &package);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn download_and_extract(work: &Path, image_package: &str, package: &str) -> Result<(), String> {
    // apt downloads as the unprivileged _apt user: let it write here.
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(work, std::fs::Permissions::from_mode(0o777));
    }
    eprintln!("vakern: downloading {package} (about 60 MB) for Linux's device trees");
    run(Command::new("apt-get").args(["download", "-q", package]).current_dir(work))?;
    let deb = std::fs::read_dir(work)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or(format!("apt-get download {package} left no .deb in {}", work.display()))?;
    let extract = work.join("x");
    std::fs::create_dir_all(&extract).map_err(|e| e.to_string())?;
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    let members: Vec<String> = TREES.iter().map(|t| member_path(image_package, t)).collect();
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&extract)
        .args(&members)
        .stdin(dpkg.stdout.take().expect("piped"))
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let dpkg_ok = dpkg.wait().is_ok_and(|s| s.success());
    if !tar.status.success() || !dpkg_ok {
        return Err(format!(
            "extracting {} from {} failed: {}",
            members.join(" "),
            deb.display(),
            String::from_utf8_lossy(&tar.stderr).trim()
        ));
    }
    for tree in TREES {
        let from = extract.join(member_path(image_package, tree));
        let to = cached(tree);
        std::fs::create_dir_all(to.parent().expect("has a folder")).map_err(|e| e.to_string())?;
        // Copy under a temporary name and rename, so a cached file is always whole.
        let tmp = to.with_extension(format!("dtb.{}", std::process::id()));
        std::fs::copy(&from, &tmp).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        std::fs::rename(&tmp, &to).map_err(|e| e.to_string())?;
    }
    let deb_name = deb.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let _ = std::fs::write(cache_dir().join(SOURCE_FILE), format!("{deb_name}\n"));
    Ok(())
}
