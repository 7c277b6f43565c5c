//! Where the workspace is, found at run time.
//!
//! The xtask binary may have been built in another checkout that shares `CARGO_TARGET_DIR`
//! (cargo reuses the artifact when the sources match), so the compile-time
//! `CARGO_MANIFEST_DIR` can name a different checkout. The root is found from the current
//! directory instead: the nearest ancestor whose `Cargo.toml` declares `[workspace]`. When
//! run outside any workspace, the `CARGO_MANIFEST_DIR` cargo sets for `cargo run` at run time
//! is the fallback.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// True when `dir/Cargo.toml` declares a `[workspace]` table.
fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .map(|text| text.lines().any(|l| l.trim() == "[workspace]"))
        .unwrap_or(false)
}

/// The nearest ancestor of `start` (itself included) that is a workspace root.
pub fn root_from(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| is_workspace_root(d))
        .map(Path::to_path_buf)
}

/// The workspace root for this run: from the current directory upwards, else from the
/// run-time `CARGO_MANIFEST_DIR` (the xtask package directory under `cargo run`).
pub fn root() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    if let Some(root) = root_from(&cwd) {
        return Ok(canonical(&root));
    }
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        if let Some(root) = root_from(Path::new(&dir)) {
            return Ok(canonical(&root));
        }
    }
    bail!(
        "no Cargo workspace found from {} upwards; run `cargo xtask` inside the dakota-rs checkout",
        cwd.display()
    )
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// A path given on the command line: absolute as is; relative to the current directory when
/// it exists there, else relative to the workspace root (so `--spec openapi/dakota.yaml`
/// works from any subdirectory).
pub fn resolve(root: &Path, cwd: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let here = cwd.join(path);
    if here.exists() {
        canonical(&here)
    } else {
        root.join(path)
    }
}

/// `path` relative to `root` with `/` separators, when it lies inside it.
pub fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let path = canonical(path);
    let rel = path.strip_prefix(root).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-ws-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("member/src/deep")).expect("scratch dirs");
        std::fs::write(
            dir.join("Cargo.toml"),
            "[workspace]\nmembers = [\"member\"]\n",
        )
        .expect("workspace manifest");
        std::fs::write(
            dir.join("member/Cargo.toml"),
            "[package]\nname = \"member\"\n",
        )
        .expect("member manifest");
        std::fs::create_dir_all(dir.join("openapi")).expect("openapi dir");
        std::fs::write(dir.join("openapi/dakota.yaml"), "openapi: 3.0.3\n").expect("spec");
        dir
    }

    #[test]
    fn finds_the_workspace_from_any_subdirectory() {
        let dir = canonical(&scratch("sub"));
        for start in [dir.clone(), dir.join("member"), dir.join("member/src/deep")] {
            assert_eq!(root_from(&start).map(|r| canonical(&r)), Some(dir.clone()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn relative_paths_fall_back_to_the_root_and_name_it_relative() {
        let dir = canonical(&scratch("rel"));
        let deep = dir.join("member/src/deep");
        let spec = resolve(&dir, &deep, Path::new("openapi/dakota.yaml"));
        assert_eq!(spec, dir.join("openapi/dakota.yaml"));
        assert_eq!(
            relative_name(&dir, &spec).as_deref(),
            Some("openapi/dakota.yaml")
        );
        // Relative to the current directory when it exists there.
        let member = resolve(&dir, &dir, Path::new("member"));
        assert_eq!(member, dir.join("member"));
        let from_member = resolve(&dir, &dir.join("member"), Path::new("src"));
        assert_eq!(from_member, dir.join("member/src"));
        assert_eq!(relative_name(&dir, Path::new("/elsewhere/x.yaml")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn this_checkout_is_found_from_the_xtask_directory() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = root_from(here).expect("the dakota-rs workspace");
        assert!(root.join("openapi/dakota.yaml").exists());
    }
}
