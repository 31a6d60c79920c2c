#!/usr/bin/env bash
# The test command (README, .ci/run): installs what it needs, brings up the lab, and runs lint
# and every test against it. Run as root on Debian from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "lab: install packages and bring up 3 hosts"
bash lab/up.sh

step "demo service unit tests"
cargo test --quiet --manifest-path lab/demo/Cargo.toml

step "format and lint"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
shellcheck src/remote/scripts/*.sh

step "tests (unit, property, and end to end against the lab)"
# The lab's hosts are shared: end-to-end tests take a lock inside their binary, and binaries
# run one after another.
cargo test --no-fail-fast 2>&1 | tee /tmp/sluice-test.log
