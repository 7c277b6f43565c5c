#!/usr/bin/env bash
# Spec evolution check: the growth Dakota ships between releases must be a minor release of
# dakota-api and must not break anything in the workspace.
#
# In a copy of the workspace: grow openapi/dakota.yaml (`cargo xtask evolve-spec`: a new
# optional property in every object schema, a new value in every enum of two or more values, a
# new schema, a new operation), regenerate dakota-api, then
#   1. cargo-semver-checks: the evolved dakota-api against today's, as a minor release
#      (rustdoc JSON of both, all features, so the mock helpers are checked too);
#   2. the whole evolved workspace builds with --all-targets --all-features;
#   3. its tests run, and the only failure allowed is the API-surface snapshot (`api_surface`),
#      which awaits review after every spec change.
#
# Cost: shares CARGO_TARGET_DIR (default: this checkout's target/), so registry dependencies
# built by the earlier CI steps are reused and only the workspace's own crates are rebuilt for
# the copy (the copy sits at a fixed path, $CARGO_TARGET_DIR/evolve-copy, so a rerun is
# incremental). cargo-semver-checks is fed rustdoc JSON built here in that same target dir
# instead of building both crates itself (`--baseline-root` would check every dependency
# again, twice, in target/semver-checks). The test run reuses the build's artifacts, so the
# evolved workspace is compiled once (plus its doctests).
#
# EVOLVE_BREAKING=required-property|removed-property adds a breaking change to the growth, to
# prove the step fails on one (see `cargo xtask evolve-spec --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export INSTA_UPDATE=no
started=$(date +%s)
phase_start=$started
phase() {
  local now
  now=$(date +%s)
  printf '[evolve] %-58s %4ss\n' "$1" "$((now - phase_start))"
  phase_start=$now
}

if ! command -v cargo-semver-checks >/dev/null; then
  cargo install --locked cargo-semver-checks
  phase "cargo install --locked cargo-semver-checks"
fi
cargo semver-checks --version

tmp="$(mktemp -d)"
copy="$CARGO_TARGET_DIR/evolve-copy"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$copy"
mkdir -p "$copy"
tar --exclude=./target --exclude=./.git -cf - . | tar -xf - -C "$copy"

# rustdoc JSON of dakota-api (all features) in directory $1, copied to $2.
rustdoc_json() {
  (cd "$1" && RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet -p dakota-api --lib --all-features \
     -- -Z unstable-options --output-format json 2>&1 | grep -v "private_intra_doc_links\|^\s*$" || true)
  cp "$CARGO_TARGET_DIR/doc/dakota_api.json" "$2"
}

rustdoc_json "$root" "$tmp/baseline.json"
phase "rustdoc JSON of today's dakota-api"

(cd "$copy" && cargo xtask evolve-spec --out openapi/dakota.yaml ${EVOLVE_BREAKING:+--breaking "$EVOLVE_BREAKING"} \
   && cargo xtask generate)
phase "spec grown, dakota-api regenerated"

rustdoc_json "$copy" "$tmp/evolved.json"
phase "rustdoc JSON of the evolved dakota-api"

# Warn-level lints (e.g. enum variants reordered in a PartialOrd enum) exit 0 but still
# "suggest new major version": they fail the step too.
cargo semver-checks check-release --release-type minor \
  --baseline-rustdoc "$tmp/baseline.json" --current-rustdoc "$tmp/evolved.json" 2>&1 | tee "$tmp/semver.log"
if grep -q "suggest new major version" "$tmp/semver.log"; then
  echo "evolve: cargo-semver-checks warns of a major change" >&2
  exit 1
fi
echo "cargo-semver-checks: the evolved dakota-api is a minor release of today's"
phase "cargo-semver-checks (minor)"

# The test run below reuses these artifacts (dev and test profiles agree); it only adds the
# doctests.
(cd "$copy" && cargo build --quiet --workspace --all-targets --all-features)
phase "evolved workspace builds (all targets, all features)"

set +e
(cd "$copy" && cargo test --workspace --all-features --no-fail-fast) >"$tmp/test.log" 2>&1
status=$?
set -e
phase "evolved workspace tests ran"
grep -E '^test result:' "$tmp/test.log" | awk '{p+=$4; f+=$6} END {print "[evolve] tests: " p " passed, " f " failed"}'
mapfile -t failed < <(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$tmp/test.log" | sort -u)
if [ "${#failed[@]}" -ne 1 ] || [ "${failed[0]}" != "api_surface" ] || [ "$status" -eq 0 ]; then
  tail -n 200 "$tmp/test.log"
  echo "evolve: expected exactly one failing test (api_surface), got ${#failed[@]}: ${failed[*]:-none}" >&2
  exit 1
fi
echo "evolved workspace: only the API-surface snapshot awaits review"
echo "[evolve] total $(( $(date +%s) - started ))s"
