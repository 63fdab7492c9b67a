#!/usr/bin/env bash
# The deploy, proven without an AWS account: does what `sam build` does for a user, then checks
# what it built. Run before each release (README, "Deploy"); not part of tests/run.sh or CI.
#   bash tests/deploy-check.sh
# Steps:
#   a. the SAM CLI and cargo-lambda (with zig, from the ziglang wheel), pinned in
#      tests/deploy-requirements.txt, into a venv of their own under the cargo target dir;
#   b. the aarch64-unknown-linux-gnu standard library (rustup target add, as sam build would);
#   c. sam validate --lint (a region is needed, credentials are not);
#   d. sam build into .aws-sam/build, cargo building into <target>/deploy, apart from target/;
#   e. the same functions built for x86_64 with cargo lambda (same profile, same toolchain);
#   f. tests/tools/deploy_check.py: every function's .aws-sam/build/<LogicalId>/bootstrap is an
#      aarch64 ELF for provided.al2023 (GLIBC_ <= 2.34), and its x86_64 build starts under the
#      Runtime Interface Emulator (from sam's install) and answers one event needing no table.
# Exits non-zero, saying why, if anything fails.
set -euo pipefail

case "${1:-}" in
    "") ;;
    *) echo "usage: bash tests/deploy-check.sh" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
trap 'echo "tests/deploy-check.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$PWD/$target_dir" ;;
esac
venv="$target_dir/deploy-venv"
requirements="tests/deploy-requirements.txt"
# The deploy builds get their own target dir: cargo-lambda's profile changes and the two
# cross targets would otherwise rebuild, and lock, the tree the test suites use.
export CARGO_TARGET_DIR="$target_dir/deploy"
# sam validate needs a region; nothing here talks to AWS, so no credentials are needed.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0

# --- a. the SAM CLI and cargo-lambda --------------------------------------------------------------
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
export PATH="$venv/bin:$PATH"
echo "$(sam --version); cargo-lambda $(cargo-lambda lambda --version 2>/dev/null | awk '{print $2}' || true)"
emulator="$("$venv/bin/python" -c 'import os, samcli; print(os.path.join(os.path.dirname(samcli.__file__), "local", "rapid", "aws-lambda-rie-x86_64"))')"
[[ -x "$emulator" ]] || { echo "no Runtime Interface Emulator at $emulator" >&2; exit 1; }

# --- b. a toolchain that builds for aarch64-unknown-linux-gnu ---------------------------------
# The active rustup toolchain, with the target added as sam build would on first use.
aarch64_std() {
    local dir
    dir="$(rustc --print target-libdir --target aarch64-unknown-linux-gnu 2>/dev/null)" || return 1
    compgen -G "$dir/libcore-*.rlib" >/dev/null
}
step "a toolchain for aarch64-unknown-linux-gnu"
if aarch64_std; then
    echo "$(rustc -V) has the aarch64 standard library"
elif command -v rustup >/dev/null && rustup target add aarch64-unknown-linux-gnu && aarch64_std; then
    echo "$(rustc -V): added the aarch64 standard library"
else
    echo "no Rust toolchain with the aarch64-unknown-linux-gnu standard library: rustup target add aarch64-unknown-linux-gnu" >&2
    exit 1
fi

# --- c. the template ------------------------------------------------------------------------------
step "sam validate --lint"
sam validate --lint --template-file template.yaml

# --- d. sam build -------------------------------------------------------------------------------
# Rust (BuildMethod rust-cargolambda) needs no beta flag in this SAM CLI. sam runs
# `cargo lambda build --release --arm64 --bin <Binary>` in the workspace for each function and
# copies <target>/lambda/<Binary>/bootstrap to .aws-sam/build/<LogicalId>/.
step "sam build (cargo lambda, aarch64, into $CARGO_TARGET_DIR)"
rm -rf .aws-sam/build
sam build --template-file template.yaml --build-dir .aws-sam/build

# --- e. the same code for x86_64 ---------------------------------------------------------------
mapfile -t binaries < <("$venv/bin/python" tests/tools/deploy_check.py --template template.yaml --list-binaries)
x86_dir="$CARGO_TARGET_DIR/lambda-x86_64"
step "cargo lambda build --release --x86-64 (${binaries[*]})"
bin_args=()
for b in "${binaries[@]}"; do bin_args+=(--bin "$b"); done
cargo lambda build --release --x86-64 --locked --lambda-dir "$x86_dir" "${bin_args[@]}"

# --- f. check what was built --------------------------------------------------------------------
step "the bootstraps, and the x86_64 builds under the emulator"
trap - ERR
if "$venv/bin/python" tests/tools/deploy_check.py --template template.yaml --build-dir .aws-sam/build \
    --x86-dir "$x86_dir" --emulator "$emulator"; then
    echo "tests/deploy-check.sh: passed in $((SECONDS / 60))m$((SECONDS % 60))s"
else
    echo "tests/deploy-check.sh: FAILED after $((SECONDS / 60))m$((SECONDS % 60))s (see the problems above)" >&2
    exit 1
fi
