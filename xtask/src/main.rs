//! `cargo xtask`: maintainer commands for dakota-rs.
//!
//! - `cargo xtask generate [--check] [--spec PATH] [--out DIR] [--verbose]`
//! - `cargo xtask coverage --against PATH [--spec PATH]`
//! - `cargo xtask evolve-spec [--spec PATH] --out PATH`
//! - `cargo xtask scale [--operations N] [--inexpressible M] [--spec PATH]`

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;
use xtask::workspace;

#[derive(Parser)]
#[command(name = "xtask", about = "dakota-rs maintainer tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Normalize the spec and generate `dakota-api/src/generated.rs` with progenitor.
    Generate {
        /// Do not write: regenerate in memory, print a diff and exit 1 if the file differs.
        #[arg(long)]
        check: bool,
        /// Spec to generate from (YAML or JSON). Relative paths are taken from the current
        /// directory when they exist there, else from the workspace root.
        #[arg(long, default_value = "openapi/dakota.yaml")]
        spec: PathBuf,
        /// Crate directory to write `src/generated.rs` into (relative as for `--spec`).
        #[arg(long, default_value = "dakota-api")]
        out: PathBuf,
        /// List every change the normalization rules made.
        #[arg(long)]
        verbose: bool,
    },
    /// Grow a spec the way Dakota grows it between releases (a new optional property in every
    /// object schema, a new value in every enum of two or more values, a new schema and a new
    /// operation) and write the result as JSON. `.ci/evolve.sh` uses it.
    EvolveSpec {
        /// The spec to grow.
        #[arg(long, default_value = "openapi/dakota.yaml")]
        spec: PathBuf,
        /// Where to write the grown spec (may be the same file).
        #[arg(long)]
        out: PathBuf,
        /// Also make a breaking change (`required-property`, `removed-property`), to prove the
        /// evolution checks catch one.
        #[arg(long)]
        breaking: Option<xtask::evolve::Breaking>,
    },
    /// Measure generation time: a synthetic spec of N operations, M of them inexpressible
    /// (isolated and left out), against the same spec without them (no isolation needed), in
    /// the same run; then the time of `--spec`. Use a release build
    /// (`cargo run --release -p xtask -- scale`) for figures comparable with CI.
    Scale {
        /// Operations in the synthetic spec.
        #[arg(long, default_value_t = 300)]
        operations: usize,
        /// How many of them progenitor cannot express.
        #[arg(long, default_value_t = 100)]
        inexpressible: usize,
        /// A real spec to time as well.
        #[arg(long, default_value = "openapi/dakota.yaml")]
        spec: PathBuf,
        /// Fail when the synthetic spec with inexpressible operations takes longer (seconds).
        #[arg(long)]
        max_seconds: Option<f64>,
    },
    /// Compare our spec with another one (facts only) and list what is missing or different.
    Coverage {
        /// The spec to compare against (e.g. Dakota's newest published spec).
        #[arg(long)]
        against: PathBuf,
        /// Our spec.
        #[arg(long, default_value = "openapi/dakota.yaml")]
        spec: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Generate {
            check,
            spec,
            out,
            verbose,
        } => generate(check, &spec, &out, verbose),
        Cmd::Coverage { against, spec } => coverage(&spec, &against),
        Cmd::EvolveSpec {
            spec,
            out,
            breaking,
        } => evolve_spec(&spec, &out, breaking),
        Cmd::Scale {
            operations,
            inexpressible,
            spec,
            max_seconds,
        } => scale(operations, inexpressible, &spec, max_seconds),
    }
}

fn scale(
    operations: usize,
    inexpressible: usize,
    spec: &Path,
    max_seconds: Option<f64>,
) -> Result<()> {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    // Generation is single-threaded: its CPU time is what it takes on an idle machine, while
    // the wall time also counts waiting for a core on a shared one. Both are printed.
    let cpu = std::cell::Cell::new(0.0f64);
    let time = |text: &str, name: &str| -> Result<(std::time::Duration, xtask::Generated)> {
        let (started, cpu_started) = (Instant::now(), cpu_seconds());
        let g = xtask::generate(text, name)?;
        cpu.set(
            cpu_seconds()
                .zip(cpu_started)
                .map_or(f64::NAN, |(b, a)| b - a),
        );
        Ok((started.elapsed(), g))
    };
    let hostile = xtask::synthetic::spec(operations, inexpressible);
    let mut clean = hostile.clone();
    if let Some(paths) = clean
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    {
        for item in paths.values_mut() {
            if let Some(item) = item.as_object_mut() {
                item.retain(|_, op| {
                    !op.get("operationId")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|id| id.starts_with("upload"))
                });
            }
        }
        paths.retain(|_, item| item.as_object().is_some_and(|o| !o.is_empty()));
    }
    let schemas = hostile
        .pointer("/components/schemas")
        .and_then(serde_json::Value::as_object)
        .map_or(0, |s| s.len());
    let (t_clean, g_clean) = time(&clean.to_string(), "synthetic-clean.json")?;
    let cpu_clean = cpu.get();
    let (t_hostile, g_hostile) = time(&hostile.to_string(), "synthetic.json")?;
    let cpu_hostile = cpu.get();
    let expected = inexpressible.min(operations);
    if !g_clean.dropped.is_empty() || g_hostile.dropped.len() != expected {
        bail!(
            "expected {expected} operation(s) left out, got {} (and {} without the uploads)",
            g_hostile.dropped.len(),
            g_clean.dropped.len()
        );
    }
    println!(
        "synthetic spec, {operations} operations ({expected} inexpressible, left out), {schemas} schemas: {:.2}s wall, {cpu_hostile:.2}s CPU ({profile} xtask)",
        t_hostile.as_secs_f64()
    );
    println!(
        "same spec without the {expected} inexpressible operations (no isolation): {:.2}s wall, {cpu_clean:.2}s CPU; ratio {:.2} (CPU {:.2})",
        t_clean.as_secs_f64(),
        t_hostile.as_secs_f64() / t_clean.as_secs_f64().max(1e-9),
        cpu_hostile / cpu_clean.max(1e-9)
    );
    let (_, spec_path) = locate(spec)?;
    let text = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let (t_spec, g_spec) = time(&text, &spec_path.display().to_string())?;
    println!(
        "{}: {} operation(s) generated, {} left out: {:.2}s wall, {:.2}s CPU ({profile} xtask)",
        spec_path.display(),
        xtask::generate::operations(&g_spec.normalized).len(),
        g_spec.dropped.len(),
        t_spec.as_secs_f64(),
        cpu.get()
    );
    if let Some(max) = max_seconds {
        if t_hostile.as_secs_f64() > max {
            bail!(
                "the synthetic spec took {:.2}s, more than {max}s",
                t_hostile.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// CPU time (user + system) of this process so far, in seconds, from `/proc/self/stat`
/// (Linux; `None` elsewhere). Clock ticks are taken as 100 per second, Linux's USER_HZ.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn evolve_spec(spec: &Path, out: &Path, breaking: Option<xtask::evolve::Breaking>) -> Result<()> {
    let (_, spec) = locate(spec)?;
    let out = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir()?.join(out)
    };
    let text =
        std::fs::read_to_string(&spec).with_context(|| format!("reading {}", spec.display()))?;
    let mut value = xtask::generate::parse_spec(&text)?;
    let e = xtask::evolve::evolve_with(&mut value, breaking);
    let json = serde_json::to_string_pretty(&value)?;
    std::fs::write(&out, json + "\n").with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "evolved {} -> {}: {} propert(ies), {} enum value(s), {} schema(s), {} operation(s) added",
        spec.display(),
        out.display(),
        e.properties_added,
        e.enum_values_added,
        e.schemas_added,
        e.operations_added
    );
    if let Some(b) = e.breaking {
        eprintln!("and a breaking change: {b:?}");
    }
    Ok(())
}

/// The workspace root, the current directory, and `path` resolved against them.
fn locate(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let root = workspace::root()?;
    let cwd = std::env::current_dir()?;
    let resolved = workspace::resolve(&root, &cwd, path);
    Ok((root, resolved))
}

fn coverage(ours: &Path, theirs: &Path) -> Result<()> {
    let (_, ours) = locate(ours)?;
    let (_, theirs) = locate(theirs)?;
    let (ours, theirs) = (ours.as_path(), theirs.as_path());
    let load = |p: &Path| -> Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        xtask::generate::parse_spec(&text)
    };
    let c = xtask::coverage::coverage(&load(ours)?, &load(theirs)?);
    for f in &c.findings {
        println!("{f}");
    }
    println!(
        "coverage of {}: operations {}/{}, schemas {}/{}, {} finding(s)",
        theirs.display(),
        c.operations.0,
        c.operations.1,
        c.schemas.0,
        c.schemas.1,
        c.findings.len()
    );
    if !c.findings.is_empty() {
        bail!("{} finding(s)", c.findings.len());
    }
    Ok(())
}

fn generate(check: bool, spec: &Path, out: &Path, verbose: bool) -> Result<()> {
    let (root, spec_path) = locate(spec)?;
    let (_, out_dir) = locate(out)?;
    let text = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    // The header names the spec relative to the workspace root (the same in every checkout).
    let spec_name = workspace::relative_name(&root, &spec_path).unwrap_or_else(|| {
        spec_path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let started = Instant::now();
    let g = xtask::generate(&text, &spec_name)?;
    let elapsed = started.elapsed();

    let mut per_rule = std::collections::BTreeMap::<&str, usize>::new();
    for c in &g.changes {
        *per_rule.entry(c.rule).or_default() += 1;
    }
    eprintln!(
        "normalized {spec_name}: {} change(s) [{}]; {} enum(s) and {} union(s) made forward-compatible; \
         {} struct(s) and {} enum(s) #[non_exhaustive]; {} tagged-union constructor(s)",
        g.changes.len(),
        per_rule
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        g.opened_enums.len(),
        g.opened_unions.len(),
        g.non_exhaustive.structs.len(),
        g.non_exhaustive.enums.len(),
        g.union_constructors.len()
    );
    if verbose {
        for c in &g.changes {
            eprintln!("  {c}");
        }
    }
    for (op, why) in &g.dropped {
        eprintln!("warning: left out {op}: progenitor cannot express it ({why})");
    }
    let mock = match &g.mock {
        Ok(text) => text.clone(),
        Err(why) => {
            eprintln!("warning: no httpmock helpers: {why}");
            String::new()
        }
    };
    let conformance = match &g.conformance {
        Ok(text) => text.clone(),
        Err(why) => {
            eprintln!("warning: no conformance calls: {why}");
            String::new()
        }
    };
    for w in &g.resource_plan.warnings {
        eprintln!("warning: no resource accessor for {w}");
    }
    eprintln!(
        "tag features: {} ({}); {} type(s) gated by tag, {} always compiled",
        g.gating.features.len(),
        g.gating
            .operations
            .iter()
            .map(|(f, n)| format!("{f}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        g.gating.gated_types,
        g.gating.always_types
    );
    let src = out_dir.join("src");
    // The crate's manifest carries the tag features between two marker lines; the rest of
    // it is hand-written.
    let manifest_path = out_dir.join("Cargo.toml");
    let manifest_now = std::fs::read_to_string(&manifest_path).unwrap_or_default();
    let manifest = xtask::features::with_features_block(&manifest_now, &g.gating, None)?;
    let mut outputs = vec![
        (src.join("generated.rs"), g.code.clone()),
        (src.join("mock.rs"), mock),
        (src.join("conformance.rs"), conformance),
        (manifest_path, manifest),
        (src.join("resources.rs"), g.resources.clone()),
    ];
    // Generating the workspace's own dakota-api also refreshes dakota-ext's pass-through tag
    // features (`recipients = ["dakota-api/recipients"]`), so the two crates never disagree.
    if out_dir == root.join("dakota-api") {
        let ext_path = root.join("dakota-ext").join("Cargo.toml");
        let ext_now = std::fs::read_to_string(&ext_path)
            .with_context(|| format!("reading {}", ext_path.display()))?;
        let ext = xtask::features::with_features_block(&ext_now, &g.gating, Some("dakota-api"))?;
        outputs.push((ext_path, ext));
    }
    if check {
        let mut stale = Vec::new();
        for (target, text) in &outputs {
            let current = std::fs::read_to_string(target).unwrap_or_default();
            if current == *text {
                eprintln!("{} is up to date ({:.2?})", target.display(), elapsed);
                continue;
            }
            let diff = similar::TextDiff::from_lines(current.as_str(), text.as_str());
            print!(
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header("committed", "regenerated")
            );
            stale.push(target.display().to_string());
        }
        if !stale.is_empty() {
            bail!("stale: {}: run `cargo xtask generate`", stale.join(", "));
        }
        return Ok(());
    }
    std::fs::create_dir_all(&src)?;
    for (target, text) in &outputs {
        if std::fs::read_to_string(target).is_ok_and(|now| now == *text) {
            continue;
        }
        std::fs::write(target, text)?;
        eprintln!(
            "wrote {} ({} bytes) in {:.2?}",
            target.display(),
            text.len(),
            elapsed
        );
    }
    Ok(())
}
