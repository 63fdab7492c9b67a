#!/usr/bin/env bash
# The project's one test command: sets up what the suites need on a fresh machine, then runs them.
#   bash tests/run.sh           everything below
#   bash tests/run.sh --tools   only step a: the Python tools and the emulator, then stop
# Steps: Python tools and the Lambda Runtime Interface Emulator into a venv under the cargo
# target dir, cfn-lint on template.yaml,
# clippy with the workspace lints, a build of the workspace in the `checked` profile (release
# code without cross-crate LTO, overflow checks on; see Cargo.toml), every test with
# cargo-nextest in that profile.
set -euo pipefail

tools_only=false
case "${1:-}" in
    "") ;;
    --tools) tools_only=true ;;
    *) echo "usage: bash tests/run.sh [--tools]" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
trap 'echo "tests/run.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# Each step prints the minutes and seconds since the command started, so a slow run shows where.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$PWD/$target_dir" ;;
esac
venv="$target_dir/venv"
requirements="tests/requirements.txt"

# --- a. Python tools (cfn-lint, and whatever else requirements.txt pins) ---------------------
step "python venv at $venv"
if ! "$venv/bin/python" -c '' 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$target_dir"
    python3 -m venv "$venv" || {
        echo "python3 -m venv failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
        exit 1
    }
fi
# Reinstall only when the pins change: the stamp holds the hash of the file last installed.
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]]; then
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --requirement "$requirements"
    echo "$wanted" >"$stamp"
    echo "installed $requirements"
else
    echo "up to date with $requirements"
fi

# The emulator is one file inside the aws-sam-cli wheel; installing sam would pull in ~100
# packages (about 20 minutes on a cold pip cache) for it. Download the pinned wheel alone and
# take the binary out, again only when the pin changes.
emulator="$venv/bin/aws-lambda-rie-x86_64"
emulator_pin="tests/emulator.txt"
emulator_stamp="$venv/.emulator.sha256"
wanted="$(sha256sum "$emulator_pin" | cut -d' ' -f1)"
if [[ ! -x "$emulator" || "$(cat "$emulator_stamp" 2>/dev/null || true)" != "$wanted" ]]; then
    wheels="$target_dir/wheels"
    rm -rf "$wheels"
    "$venv/bin/python" -m pip download --disable-pip-version-check --quiet --no-deps \
        --require-hashes --requirement "$emulator_pin" --dest "$wheels"
    "$venv/bin/python" - "$wheels" "$emulator" <<'PY'
import glob, os, sys, zipfile
wheels, out = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(wheels, "aws_sam_cli-*.whl"))
with zipfile.ZipFile(wheel) as z, open(out + ".part", "wb") as f:
    f.write(z.read("samcli/local/rapid/aws-lambda-rie-x86_64"))
os.chmod(out + ".part", 0o755)
os.replace(out + ".part", out)
PY
    rm -rf "$wheels"
    echo "$wanted" >"$emulator_stamp"
    echo "the Runtime Interface Emulator: $emulator"
else
    echo "the Runtime Interface Emulator is up to date: $emulator"
fi
# The dashboard's test drives Debian's Chromium (headless). Installed when missing, as root
# (what CI and the development machine are) or through sudo.
if [[ ! -x /usr/bin/chromium ]]; then
    step "apt-get install chromium"
    sudo_=""
    if [[ "$(id -u)" != 0 ]]; then sudo_="sudo"; fi
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"
if $tools_only; then
    echo "tools ready in $venv (cfn-lint, moto_server, schemathesis, aws-lambda-rie-x86_64, chromium)"
    exit 0
fi

# --- b. the SAM template ----------------------------------------------------------------------
step "cfn-lint template.yaml"
"$venv/bin/cfn-lint" --non-zero-exit-code error -- template.yaml
# cfn-lint checks SAM resources against their schemas but no longer expands them; expand the
# template with the SAM transform, as CloudFormation will, and lint what comes out too.
expanded="$target_dir/template.expanded.json"
"$venv/bin/python" tests/tools/sam_transform.py template.yaml "$expanded"
"$venv/bin/cfn-lint" --non-zero-exit-code error -- "$expanded"
echo "cfn-lint: no errors (template and its SAM expansion)"

# --- c. clippy with the workspace's lints (Cargo.toml's [workspace.lints]); a warning fails the run
step "cargo clippy --workspace --all-targets --locked -- -D warnings"
if ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add clippy
fi
cargo clippy --workspace --all-targets --locked -- -D warnings

# --- d. build (the suites spawn the binaries: retail-local, and each function under the emulator)
# --all-targets: the test targets' dev-dependencies (proptest) change the features of shared
# dependencies (getrandom, regex), so a build without them would compile the AWS SDK twice.
profile=checked
step "cargo build --profile $profile --workspace --all-targets --locked"
cargo build --profile "$profile" --workspace --all-targets --locked

# --- e. every test ------------------------------------------------------------------------------
if ! cargo nextest --version >/dev/null 2>&1; then
    step "cargo install cargo-nextest --locked"
    cargo install cargo-nextest --locked
fi

export RETAIL_LOCAL_BIN="$target_dir/$profile/retail-local"
export RETAIL_VENV="$venv"

step "cargo nextest run --cargo-profile $profile --workspace --locked --no-fail-fast"
log="$target_dir/nextest-run.log"
if cargo nextest run --cargo-profile "$profile" --workspace --locked --no-fail-fast 2>&1 | tee "$log"; then
    status=0
else
    status=$?
fi

# --- f. summary -----------------------------------------------------------------------------------
# nextest closes with e.g. "Summary [ 1.2s] 12 tests run: 11 passed, 1 failed, 0 skipped".
summary="$(grep -E '^ *Summary \[' "$log" | tail -n 1 || true)"
passed="$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
failed="$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
skipped="$(grep -oE '[0-9]+ skipped' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
echo
if [[ -z "$summary" ]]; then
    echo "tests/run.sh: cargo nextest stopped before running the tests (exit $status)"
    exit "$status"
fi
if [[ "$status" -ne 0 && "$failed" -eq 0 ]]; then
    failed=1 # nextest failed without counting a failed test (a crash, a timeout, a setup error)
fi
trap - ERR
echo "summary: $passed passed, $failed failed, $skipped skipped in $((SECONDS / 60))m$((SECONDS % 60))s"
exit "$status"
