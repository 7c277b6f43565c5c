#!/usr/bin/env bash
# Conformance of dakota-sandbox to openapi/dakota.yaml, checked by Schemathesis.
#
# Installs a pinned Schemathesis into a virtualenv (target/schemathesis-venv), starts the sandbox
# binary on a free port, runs `schemathesis run` against the operations the sandbox implements
# (`dakota-sandbox --list-operations`, i.e. what its resource areas registered) with the
# status_code_conformance and response_schema_conformance checks, prints the number of cases run
# and failed, stops the sandbox and exits non-zero on any failure.
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 50) cases per operation and phase,
# SCHEMATHESIS_SEED (default 1) for a reproducible run, SCHEMATHESIS_VENV to reuse a virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

SCHEMATHESIS_VERSION="4.32.5"
spec="$root/openapi/dakota.yaml"
venv="${SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
seed="${SCHEMATHESIS_SEED:-1}"

[ -f "$spec" ] || { echo "schemathesis.sh: $spec not found" >&2; exit 1; }

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$venv/bin/schemathesis" --version

cargo build --quiet -p dakota-sandbox --bin dakota-sandbox
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/debug/dakota-sandbox"

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Rate limits are raised so the run measures conformance, not throttling; the network_timeout
# delay is zero so no case waits on it.
started=$(date +%s%N)
"$bin" --port 0 --rate-limit 100000000 --token-rate-limit 100000000 --network-timeout-secs 0 \
  >"$tmp/sandbox.out" 2>"$tmp/sandbox.err" &
pid=$!
for _ in $(seq 1 200); do
  grep -q '^api_key=' "$tmp/sandbox.out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/sandbox.err" >&2; echo "sandbox exited early" >&2; exit 1; }
  sleep 0.05
done
base_url="$(sed -n 's/^base_url=//p' "$tmp/sandbox.out")"
api_key="$(sed -n 's/^api_key=//p' "$tmp/sandbox.out")"
[ -n "$base_url" ] && [ -n "$api_key" ] || { echo "sandbox did not print base_url/api_key" >&2; exit 1; }
echo "sandbox at $base_url (ready in $(( ($(date +%s%N) - started) / 1000000 )) ms)"

# The implemented operations, asked of the binary so the two cannot drift apart.
mapfile -t ops < <("$bin" --list-operations)
[ "${#ops[@]}" -gt 0 ] || { echo "no implemented operations found" >&2; exit 1; }
include=()
for op in "${ops[@]}"; do include+=(--include-operation-id "$op"); done
echo "operations (${#ops[@]}): ${ops[*]}"

# Seed records so the generated cases reach real applications instead of only 404s: a business
# application (details, a control person, EDD) and an individual one, both kept pending. The
# config file pins the path identifiers (and the applicant of simulations) to them.
python3 - "$base_url" "$api_key" >"$tmp/schemathesis.toml" <<'PY'
import json
import sys
import urllib.request
import uuid

base, key = sys.argv[1:3]


def call(method, path, body=None, headers=None):
    h = {"x-api-key": key, "x-idempotency-key": str(uuid.uuid4()), "content-type": "application/json"}
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def person(first, last, roles, **extra):
    p = {
        "name": {"first": first, "last": last},
        "date_of_birth": "1980-02-29",
        "nationalities": ["US"],
        "address": {"street1": "1 Market St", "city": "San Francisco", "country": "US"},
        "email_address": f"{first.lower()}@conformance-check.io",
        "roles": roles,
    }
    p.update(extra)
    return p


keep_pending = {"X-Sandbox-Skip-Auto-Approval": "true"}
biz = call("POST", "/customers", {"name": "Conformance Business", "customer_type": "business"}, keep_pending)
ind = call("POST", "/customers", {"name": "Conformance Individual", "customer_type": "individual"}, keep_pending)
biz_app, ind_app = biz["application_id"], ind["application_id"]
call("PUT", f"/applications/{biz_app}/business-details", {
    "legal_name": "Conformance Business LLC", "registration_number": "123456", "country_of_incorporation": "US",
    "date_of_incorporation": "2018-01-02", "legal_structure": "llc", "industry_code": "523110",
    "business_description": "Conformance testing", "average_monthly_revenue": "0_to_500k",
    "registered_address": {"street1": "8 The Green", "city": "Dover", "country": "US"},
    "expected_monthly_deposit": "0_to_50k", "expected_monthly_transaction_volume": "0_to_10",
    "purpose_of_account": ["business_expenses"], "source_of_funds": ["proprietary_funds"],
    "has_bearer_shares": False, "owned_by_foundation": False, "transact_on_behalf_of_third_parties": False,
})
control = call("POST", f"/applications/{biz_app}/associated-individuals",
               person("Grace", "Hopper", ["control_person"], title="ceo"))
call("POST", f"/applications/{biz_app}/associated-individuals",
     person("Alan", "Turing", ["ubo"], title="cto", ownership_percentage=40))
call("PUT", f"/applications/{biz_app}/edd", {"account_usage_description": "Payroll", "top_customer_countries": ["US"]})
call("PUT", f"/applications/{ind_app}/individual-details", person(
    "Ada", "Lovelace", ["individual"], employment_status="employed",
    purpose_of_account=["investing"], source_of_wealth=["savings"]))

q = json.dumps
print(f"""[parameters]
"path.application_id" = {q(biz_app)}
"path.individual_id" = {q(control["id"])}
"path.customer_id" = {q(biz["id"])}

[[operations]]
include-operation-id = ["updateIndividualApplicationDetails"]
parameters = {{ "path.application_id" = {q(ind_app)} }}

[[operations]]
include-operation-id = ["simulateOnboarding"]
parameters = {{ "body.applicant_id" = {q(ind["id"])} }}
""")
PY
echo "seeded: $(grep -c '=' "$tmp/schemathesis.toml") pinned parameters"

# Hooks: a fresh idempotency key per case (reusing one with another body is a documented 422,
# not what this run checks), and no fault-injection headers: X-Sandbox-Error-Status and the
# provider_maintenance / intermittent_errors / network_timeout scenarios exist to produce
# failure statuses on purpose, which the sandbox's own tests cover.
cat >"$tmp/hooks.py" <<'PY'
import uuid

import schemathesis

FAULT_SCENARIOS = {"provider_maintenance", "intermittent_errors", "network_timeout"}


@schemathesis.hook
def map_case(context, case):
    headers = case.headers
    if not headers:
        return case
    for name in list(headers):
        low = name.lower()
        if low == "x-idempotency-key":
            headers[name] = str(uuid.uuid4())
        elif low in ("x-sandbox-error-status", "x-sandbox-error-step", "x-sandbox-error-message"):
            del headers[name]
        elif low == "x-sandbox-scenario" and str(headers[name]) in FAULT_SCENARIOS:
            del headers[name]
    return case
PY

set +e
SCHEMATHESIS_HOOKS="$tmp/hooks.py" "$venv/bin/schemathesis" --config-file "$tmp/schemathesis.toml" run "$spec" \
  --url "$base_url" \
  --header "x-api-key: $api_key" \
  "${include[@]}" \
  --checks status_code_conformance,response_schema_conformance \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --generation-database none \
  --workers 1 \
  --request-timeout 10 \
  --no-color \
  --report junit --report-junit-path "$tmp/junit.xml" \
  2>&1 | tee "$tmp/schemathesis.log"
status=${PIPESTATUS[0]}
set -e

python3 - "$tmp/junit.xml" <<'PY' || true
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as exc:  # noqa: BLE001
    print(f"schemathesis: no JUnit report ({exc})")
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
print(f"schemathesis operations: {tests} run, {failed} failed")
PY
cases_line="$(grep -A1 -E '^ *Test cases:' "$tmp/schemathesis.log" | tail -1 | sed 's/^ *//' || true)"
echo "schemathesis cases: ${cases_line:-see the summary above}"

if grep -q 'panicked' "$tmp/sandbox.err"; then
  echo "the sandbox panicked:" >&2
  grep -A5 'panicked' "$tmp/sandbox.err" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "schemathesis conformance FAILED (exit $status)" >&2
  exit "$status"
fi
echo "schemathesis conformance passed"
