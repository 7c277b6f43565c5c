//! The declared `rust-version` is the real floor: no lower than the highest `rust-version` of any
//! package the published crates depend on (normal and build dependencies, every feature, every
//! platform), as locked in `Cargo.lock`. A `cargo update` that raises the floor fails here
//! instead of on a user's older toolchain.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The crates a user depends on.
const PUBLISHED: &[&str] = &["dakota-api", "dakota-ext", "dakota-sandbox"];

/// `"1.89"` / `"1.89.0"` -> `(1, 89, 0)`.
fn version(s: &str) -> (u64, u64, u64) {
    let mut parts = s.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    // `--locked`: the graph users of this checkout get is the one in Cargo.lock. Manifests of
    // packages for other platforms may be downloaded (crates.io is reachable in CI).
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
            "--manifest-path",
            root,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The highest `rust-version` among the registry packages in the normal/build dependency graph
/// of `roots`, with the packages that declare it.
fn floor(meta: &Value, roots: &[&str]) -> ((u64, u64, u64), Vec<String>) {
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| (n["id"].as_str().expect("id"), n))
        .collect();
    let mut todo: Vec<&str> = packages
        .iter()
        .filter(|(_, p)| roots.contains(&p["name"].as_str().unwrap_or("")))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(todo.len(), roots.len(), "every published crate is a member");
    let mut seen = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().into_iter().flatten() {
            let used_by_users = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if used_by_users {
                todo.push(dep["pkg"].as_str().expect("pkg"));
            }
        }
    }
    let mut best = ((0, 0, 0), Vec::new());
    for id in seen {
        let p = packages[id];
        // Our own crates (path packages, no `source`) are what is being checked, not the floor.
        if p["source"].is_null() {
            continue;
        }
        let Some(rv) = p["rust_version"].as_str() else {
            continue;
        };
        let v = version(rv);
        let who = format!(
            "{} {} ({rv})",
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?")
        );
        if v > best.0 {
            best = (v, vec![who]);
        } else if v == best.0 {
            best.1.push(who);
        }
    }
    best
}

#[test]
fn declared_rust_version_is_not_below_the_locked_dependency_floor() {
    let meta = metadata();
    let ((major, minor, patch), why) = floor(&meta, PUBLISHED);
    println!(
        "computed floor {major}.{minor}.{patch}, from {}",
        why.join(", ")
    );
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or("");
        if !PUBLISHED.contains(&name) || p["source"].is_string() {
            continue;
        }
        let declared = p["rust_version"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} declares no rust-version"));
        println!("{name} declares {declared}");
        assert!(
            version(declared) >= (major, minor, patch),
            "{name} declares rust-version {declared}, but its locked dependencies need \
             {major}.{minor}.{patch}: {}",
            why.join(", ")
        );
    }
}

#[test]
fn the_floor_follows_the_dependency_graph() {
    // A made-up graph: the root's dev-dependency needs more than anything users build, and
    // the root's own declaration does not count towards the floor.
    let meta = serde_json::json!({
        "packages": [
            {"id": "a", "name": "dakota-api", "version": "0.1.0", "rust_version": "1.90", "source": null},
            {"id": "b", "name": "uuid", "version": "1.0.0", "rust_version": "1.85.1", "source": "registry"},
            {"id": "c", "name": "build-helper", "version": "1.0.0", "rust_version": "1.86", "source": "registry"},
            {"id": "d", "name": "test-only", "version": "1.0.0", "rust_version": "1.99", "source": "registry"},
            {"id": "e", "name": "no-floor", "version": "1.0.0", "rust_version": null, "source": "registry"},
        ],
        "resolve": {"nodes": [
            {"id": "a", "deps": [
                {"pkg": "b", "dep_kinds": [{"kind": null}]},
                {"pkg": "d", "dep_kinds": [{"kind": "dev"}]},
            ]},
            {"id": "b", "deps": [
                {"pkg": "c", "dep_kinds": [{"kind": "build"}]},
                {"pkg": "e", "dep_kinds": [{"kind": null}]},
            ]},
            {"id": "c", "deps": []},
            {"id": "d", "deps": []},
            {"id": "e", "deps": []},
        ]}
    });
    let (v, why) = floor(&meta, &["dakota-api"]);
    assert_eq!(v, (1, 86, 0));
    assert_eq!(why, vec!["build-helper 1.0.0 (1.86)".to_string()]);
}
