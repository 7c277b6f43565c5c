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
# Shares CARGO_TARGET_DIR (default: this checkout's target/) so dependencies are not rebuilt;
# dakota-api and its dependents are rebuilt for the evolved copy, so run this last.
# Needs cargo-semver-checks (`.ci/run` installs it; locally: `cargo install --locked cargo-semver-checks`).
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

command -v cargo-semver-checks >/dev/null || {
  echo "cargo-semver-checks is missing: cargo install --locked cargo-semver-checks" >&2
  exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
copy="$tmp/evolved"
mkdir -p "$copy"
tar --exclude=./target --exclude=./.git -cf - . | tar -xf - -C "$copy"

# rustdoc JSON of dakota-api (all features) in directory $1, copied to $2.
rustdoc_json() {
  (cd "$1" && RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet -p dakota-api --lib --all-features \
     -- -Z unstable-options --output-format json)
  cp "$CARGO_TARGET_DIR/doc/dakota_api.json" "$2"
}

rustdoc_json "$root" "$tmp/baseline.json"
phase "rustdoc JSON of today's dakota-api"

(cd "$copy" && cargo xtask evolve-spec --out openapi/dakota.yaml && cargo xtask generate)
phase "spec grown, dakota-api regenerated"

rustdoc_json "$copy" "$tmp/evolved.json"
phase "rustdoc JSON of the evolved dakota-api"

cargo semver-checks check-release --release-type minor \
  --baseline-rustdoc "$tmp/baseline.json" --current-rustdoc "$tmp/evolved.json"
echo "cargo-semver-checks: the evolved dakota-api is a minor release of today's"
phase "cargo-semver-checks (minor)"

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
