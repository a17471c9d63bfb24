#!/usr/bin/env bash
# (b) The compiler wrapper from the build tree: a one-command build, a -c then
# link two-step build, and a Makefile build with CXX=hyperlet-c++; each image
# runs natively and in a microVM.
#   wrapper.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 source_dir=$2
. "$source_dir/common.sh"
wrapper=$build_dir/hyperlet-c++
hyperlet=$build_dir/hyperlet
main=$source_dir/external/main.cpp

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

help=$("$wrapper" --help)
for flag in --hyperlet-memory=SIZE --hyperlet-address-space=SIZE --hyperlet-env=KEY=VALUE --hyperlet-arg=ARG; do
  grep -qF -- "$flag" <<<"$help" || { echo "FAIL: hyperlet-c++ --help does not document $flag" >&2; exit 1; }
done
echo "ok: --help documents the hyperlet flags"

# One command; warnings as errors must not trip over hyperlet's header.
"$wrapper" -O2 -Wall -Wextra -Wshadow -Wconversion -Werror "$main" -o one-step
# Two steps: -c only compiles (an object file, not an image).
"$wrapper" -std=c++17 -O2 -c "$main" -o main.o
object_header=$(readelf -hW main.o)
grep -q 'Type:.*REL' <<<"$object_header" || { echo "FAIL: -c did not produce an object file" >&2; exit 1; }
"$wrapper" main.o -o two-step
# make, as a Makefile-based project builds.
make -s -C "$work" -f "$source_dir/make/Makefile" CXX="$wrapper" SRC_DIR="$source_dir/external" >make.log 2>&1 ||
  { cat make.log >&2; echo "FAIL: make CXX=hyperlet-c++" >&2; exit 1; }
for image in one-step two-step app; do check_image "$image"; done
echo "ok: three images built: static x86-64, linked by lld, manifest notes present"

# A failed link leaves no image and fails like the compiler does.
echo 'int main() { return missing(); }' >broken.cpp
if "$wrapper" -x c++ broken.cpp -o broken 2>/dev/null; then echo "FAIL: a broken program linked" >&2; exit 1; fi
[[ ! -e broken ]] || { echo "FAIL: a failed link left an image" >&2; exit 1; }
echo "ok: a failed build fails"

expect_output "one-step image, native" "$(native_output a b)" ./one-step a b
expect_output "two-step image, native" "$(native_output)" ./two-step
expect_output "make-built image, native" "$(native_output)" ./app

require_kvm
expect_output "one-step image in a microVM" "$(vm_output 256 '(unset)' a b)" "$hyperlet" run ./one-step a b
expect_output "two-step image in a microVM" "$(vm_output 256 '(unset)')" "$hyperlet" run ./two-step
expect_output "make-built image in a microVM, with its manifest's env" \
  "$(vm_output 256 from-make)" "$hyperlet" run ./app
