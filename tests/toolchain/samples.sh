#!/usr/bin/env bash
# The samples as samples/README.md runs them: sha256 gives the known digest
# natively and in a microVM (there with readiness, its manifest's 32M and its
# time to main), and hello runs through its hello-run target.
#   samples.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 source_dir=$2
. "$source_dir/common.sh"
hyperlet=$build_dir/hyperlet
sha256=$build_dir/samples/sha256
check_image "$sha256"
check_image "$build_dir/samples/hello"

# SHA-256 of the first MiB of the generator's output (xorshift64*, seed
# 0x9e3779b97f4a7c15, little-endian), computed independently with Python's hashlib.
digest=07e6be4717e722132dac92ae5d06eec90301cf7aa4aaf1759d00071b1694e1df
native=$("$sha256" 1)
expect_output "sha256 natively: no microVM, no readiness, the known digest" \
  "$(printf 'in_microvm: no\nready: no\nhashed 1 MiB in X ms\nsha256: %s' "$digest")" \
  sed -E 's/^(hashed 1 MiB in) .*/\1 X ms/' <<<"$native"

require_kvm
vm=$("$hyperlet" run "$sha256" 1)
expect_output "sha256 in a microVM: ready, its manifest's memory, its time to main, the same digest" \
  "$(printf 'in_microvm: yes\nready: yes\nmemory: 32 MiB\ntime to main: X\nhashed 1 MiB in X ms\nsha256: %s' "$digest")" \
  sed -E -e 's/^(time to main:) [0-9.]+ ms since launch \(VM created at [0-9.]+ ms, image loaded at [0-9.]+ ms\)$/\1 X/' \
  -e 's/^(hashed 1 MiB in) .*/\1 X ms/' <<<"$vm"
hello_run=$(cmake --build "$build_dir" --target hello-run 2>&1)
grep -qx 'Goodbye!' <<<"$hello_run" || { echo "$hello_run" >&2; echo "FAIL: hello-run did not run hello" >&2; exit 1; }
echo "ok: hello-run"
