#!/usr/bin/env bash
# The deploy, proven without an AWS account: does what `sam build` does for a user, then checks
# what it built. Run before each release (README, "Deploy"); not part of tests/run.sh or CI.
#   bash tests/deploy-check.sh
# Steps:
#   a. the SAM CLI and cargo-lambda (with zig, from the ziglang wheel), pinned in
#      tests/deploy-requirements.txt, into a venv of their own under the cargo target dir;
#   b. a Rust toolchain with the aarch64-unknown-linux-gnu standard library (see below);
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
# First choice: the active rustup toolchain, with `rustup target add` (what sam build would do
# on first use). Where rustup's servers cannot be reached but Debian's archive can (this
# project's machines), Debian's own compiler (rustc-web, a current Rust in bookworm-security)
# and its arm64 standard library are downloaded with apt-get into <target>/deploy-rustc and
# unpacked there, installing nothing system-wide; cargo then builds with it through RUSTC
# (its libLLVM's own dependencies, libz3 and the like, are taken to be installed).
aarch64_std() { # $1: rustc
    local dir
    dir="$("$1" --print target-libdir --target aarch64-unknown-linux-gnu 2>/dev/null)" || return 1
    compgen -G "$dir/libcore-*.rlib" >/dev/null
}
debian_rustc="$target_dir/deploy-rustc"
debian_toolchain() {
    command -v apt-get >/dev/null && [[ "$(dpkg --print-architecture 2>/dev/null)" == amd64 ]] || return 1
    local apt="$target_dir/deploy-apt"
    local opts=(-o APT::Architectures::=amd64 -o APT::Architectures::=arm64
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Dir::State::status=/dev/null
        -o APT::Sandbox::User=root)
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
    apt-get -qq "${opts[@]}" update || return 1
    local version libstd llvm
    version="$(apt-cache "${opts[@]}" policy rustc-web | awk '/Candidate:/ {print $2}')"
    [[ -n "$version" && "$version" != "(none)" ]] || { echo "Debian has no rustc-web here" >&2; return 1; }
    if [[ "$(cat "$debian_rustc/.version" 2>/dev/null || true)" == "$version" ]]; then
        echo "Debian's rustc-web $version is unpacked in $debian_rustc"
        return 0
    fi
    depends() { # $1: package=version, $2: regex of the dependency wanted
        apt-cache "${opts[@]}" show "$1" | sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' \
            | sed 's/^ *//; s/ .*//' | grep -E "$2" | head -n 1
    }
    libstd="$(depends "libstd-rust-web-dev=$version" '^libstd-rust-web-[0-9.]+$')"
    llvm="$(depends "$libstd=$version" '^libllvm[0-9]+$')"
    [[ -n "$libstd" && -n "$llvm" ]] || { echo "cannot tell rustc-web $version's libraries" >&2; return 1; }
    rm -rf "$debian_rustc" "$apt/debs" && mkdir -p "$apt/debs" "$debian_rustc"
    (cd "$apt/debs" && apt-get -qq "${opts[@]}" download "rustc-web=$version" "libstd-rust-web-dev=$version" \
        "$libstd=$version" "$llvm" "libstd-rust-web-dev:arm64=$version") || return 1
    for deb in "$apt/debs"/*.deb; do dpkg-deb -x "$deb" "$debian_rustc" || return 1; done
    rm -rf "$apt/debs"
    echo "$version" >"$debian_rustc/.version"
    echo "unpacked Debian's rustc-web $version, $llvm and the arm64 standard library into $debian_rustc"
}
use_debian_rustc() {
    # Debian's rustc finds librustc_driver and libLLVM in /usr/lib/x86_64-linux-gnu; here they
    # sit beside it, so a wrapper points the loader at them (its sysroot follows its own path).
    cat >"$debian_rustc/rustc" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$debian_rustc/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$debian_rustc/usr/bin/rustc" "\$@"
EOF
    chmod +x "$debian_rustc/rustc"
    export RUSTC="$debian_rustc/rustc"
}
step "a toolchain for aarch64-unknown-linux-gnu"
if aarch64_std rustc; then
    echo "$(rustc -V) has the aarch64 standard library"
elif [[ -f "$debian_rustc/.version" ]] && use_debian_rustc && aarch64_std "$RUSTC"; then
    echo "Debian's $("$RUSTC" -V), unpacked earlier in $debian_rustc"
elif command -v rustup >/dev/null && timeout 120 rustup target add aarch64-unknown-linux-gnu && aarch64_std rustc; then
    echo "$(rustc -V): added the aarch64 standard library"
elif debian_toolchain && use_debian_rustc && aarch64_std "$RUSTC"; then
    echo "rustup could not add the aarch64 target; building with Debian's $("$RUSTC" -V)"
else
    echo "no Rust toolchain with the aarch64-unknown-linux-gnu standard library:" >&2
    echo "  rustup target add aarch64-unknown-linux-gnu" >&2
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
