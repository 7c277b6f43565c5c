#!/usr/bin/env bash
# Spec evolution check: the growth Dakota ships between releases must be a minor release of
# dakota-api and must not break anything in the workspace. A CI step of `.ci/run`.
#
# In a copy of the workspace:
#   1. proof that the check can fail: the spec grown WITH a breaking change (every object schema
#      loses a property: `cargo xtask evolve-spec --breaking removed-property`), regenerated;
#      cargo-semver-checks must call the regenerated dakota-api a major change;
#   2. the spec grown as Dakota grows it (`cargo xtask evolve-spec`: a new optional property in
#      every object schema, a new value in every enum of two or more values, a new schema, a
#      new operation), regenerated; cargo-semver-checks must accept it as a minor release of
#      today's dakota-api (rustdoc JSON of both, all features, so the mock helpers count too);
#   3. the whole evolved workspace (dakota-ext, the sandbox, examples, tests, benches) type-checks
#      with --all-targets --all-features: hand-written code never depends on the exact field set
#      of a generated struct or the variant set of a generated enum;
#   4. with EVOLVE_TESTS=1 (by hand; CI leaves it off to stay well inside its time limit), its
#      tests also run, and the only failures allowed are the two that flag a spec change for
#      review: the API-surface snapshot (`api_surface`) and the sandbox's check that every
#      operation is implemented (the grown spec's new operation is not, yet).
#
# Cost: shares CARGO_TARGET_DIR (default: this checkout's target/), so registry dependencies
# built by the earlier CI steps are reused and only the workspace's own crates are rebuilt for
# the copy (at a fixed path, $CARGO_TARGET_DIR/evolve-copy). cargo-semver-checks is fed rustdoc
# JSON built here in that same target dir instead of building both crates itself
# (`--baseline-root` would check every dependency again, twice, in target/semver-checks).
# EVOLVE_BREAKING_PROOF=0 skips step 1; EVOLVE_BREAKING=required-property|removed-property puts a
# breaking change into step 2, to watch the step fail by hand.
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
trap 'status=$?; rm -rf "$tmp" 2>/dev/null || true; exit $status' EXIT
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

# cargo-semver-checks of $1 (rustdoc JSON) against the baseline as a minor release; its log in $2.
# Exit status 0 when it finds nothing that needs a major version. Warn-level lints (e.g. enum
# variants reordered in a PartialOrd enum) exit 0 but still "suggest new major version": they
# count as major too.
semver_minor() {
  local status=0
  cargo semver-checks check-release --release-type minor \
    --baseline-rustdoc "$tmp/baseline.json" --current-rustdoc "$1" >"$2" 2>&1 || status=$?
  if [ "$status" -ne 0 ] || grep -q "suggest new major version" "$2"; then return 1; fi
}

if [ "${EVOLVE_BREAKING_PROOF:-1}" = "1" ]; then
  (cd "$copy" && cargo xtask evolve-spec --out openapi/dakota.yaml --breaking removed-property \
     && cargo xtask generate >/dev/null)
  rustdoc_json "$copy" "$tmp/breaking.json"
  if semver_minor "$tmp/breaking.json" "$tmp/breaking.log"; then
    cat "$tmp/breaking.log"
    echo "evolve: cargo-semver-checks accepted a spec that removes a property from every object schema" >&2
    exit 1
  fi
  echo "proof: a removed property is reported as a major change:"
  grep -E "^--- failure|FAIL" "$tmp/breaking.log" | head -n 5 || true
  phase "breaking growth refused as a minor release (the check can fail)"
  # Back to today's spec for the real growth below.
  cp "$root/openapi/dakota.yaml" "$copy/openapi/dakota.yaml"
fi

(cd "$copy" && cargo xtask evolve-spec --out openapi/dakota.yaml ${EVOLVE_BREAKING:+--breaking "$EVOLVE_BREAKING"} \
   && cargo xtask generate)
phase "spec grown, dakota-api regenerated"

rustdoc_json "$copy" "$tmp/evolved.json"
phase "rustdoc JSON of the evolved dakota-api"

if ! semver_minor "$tmp/evolved.json" "$tmp/semver.log"; then
  cat "$tmp/semver.log"
  echo "evolve: cargo-semver-checks finds a major change in a growth that should be minor" >&2
  exit 1
fi
grep -E "^\s*(Checked|Summary)" "$tmp/semver.log" || tail -n 3 "$tmp/semver.log"
echo "cargo-semver-checks: the evolved dakota-api is a minor release of today's"
phase "cargo-semver-checks (minor)"

(cd "$copy" && cargo check --quiet --workspace --all-targets --all-features)
echo "the evolved workspace type-checks: all targets, all features"
phase "evolved workspace checks (all targets, all features)"

if [ "${EVOLVE_TESTS:-0}" = "1" ]; then
  set +e
  (cd "$copy" && cargo test --workspace --all-features --no-fail-fast) >"$tmp/test.log" 2>&1
  status=$?
  set -e
  phase "evolved workspace tests ran"
  grep -E '^test result:' "$tmp/test.log" | awk '{p+=$4; f+=$6} END {print "[evolve] tests: " p " passed, " f " failed"}'
  # The two tests that exist to flag a spec change for review: the API-surface snapshot, and
  # the sandbox's check that every operation of the spec is implemented (the grown spec has a
  # new operation the sandbox cannot know yet).
  expected="api_surface resources::tests::every_operation_of_the_spec_is_implemented"
  mapfile -t failed < <(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$tmp/test.log" | sort -u)
  if [ "${failed[*]:-}" != "$expected" ] || [ "$status" -eq 0 ]; then
    tail -n 200 "$tmp/test.log"
    echo "evolve: expected exactly the review tests to fail ($expected), got ${#failed[@]}: ${failed[*]:-none}" >&2
    exit 1
  fi
  echo "evolved workspace: only the API-surface snapshot and the sandbox's coverage check await review"
fi
echo "[evolve] total $(( $(date +%s) - started ))s"
