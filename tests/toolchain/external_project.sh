#!/usr/bin/env bash
# (a) The CMake package: install this build into a temporary prefix, build
# tests/toolchain/external (find_package(hyperlet) + hyperlet_add_executable
# with MEMORY/ENV/ARGS) outside the tree, and run the app natively and with
# the installed hyperlet in a microVM.
#   external_project.sh BUILD_DIR SOURCE_DIR CMAKE_GENERATOR CXX_COMPILER
set -euo pipefail
build_dir=$1 source_dir=$2 generator=$3 cxx=$4
. "$source_dir/common.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
for file in bin/hyperlet bin/hyperlet-c++ lib/libhyperlet-guest.a include/hyperlet/guest.h \
  lib/cmake/hyperlet/hyperletConfig.cmake; do
  [[ -e $prefix/$file ]] || { echo "FAIL: the install has no $file" >&2; exit 1; }
done
# Only the public headers: an app's two, and the embedding API's host.h with the host headers it
# includes; the host/guest contract (abi.h...) is no app's business.
headers=$(cd "$prefix/include" && find . -type f | sort | tr '\n' ' ')
expected="./hyperlet/fiber.h ./hyperlet/guest.h ./hyperlet/host.h ./hyperlet/host/core/error.h \
./hyperlet/host/core/exit_status.h ./hyperlet/host/core/unique_fd.h ./hyperlet/host/devices/network_policy.h \
./hyperlet/host/devices/volumes.h ./hyperlet/host/vm/run_stats.h "
[[ $headers == "$expected" ]] ||
  { echo "FAIL: installed headers are '$headers', expected '$expected'" >&2; exit 1; }
echo "ok: installed into a prefix"

cmake -S "$source_dir/external" -B "$work/build" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; echo "FAIL: configuring the external project" >&2; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; echo "FAIL: building the external project" >&2; exit 1; }
app=$work/build/app
echo "ok: built the external project"

check_image "$app"
echo "ok: static x86-64, linked by lld, manifest notes present"

expect_output "native run" "$(native_output)" "$app"
expect_output "native run with args" "$(native_output x y)" "$app" x y
# The installed wrapper works from the prefix too.
"$prefix/bin/hyperlet-c++" -O2 "$source_dir/external/main.cpp" -o "$work/wrapped"
expect_output "installed hyperlet-c++ image, native" "$(native_output)" "$work/wrapped"

require_kvm
expect_output "installed hyperlet runs the app with its manifest defaults" \
  "$(vm_output 64 hi one two)" "$prefix/bin/hyperlet" run "$app"
expect_output "installed hyperlet-c++ image in a microVM" \
  "$(vm_output 256 '(unset)')" "$prefix/bin/hyperlet" run "$work/wrapped"
# app-run: built by the same function; its output is the run's, after build chatter.
run_log=$(cmake --build "$work/build" --target app-run 2>&1) ||
  { echo "$run_log" >&2; echo "FAIL: cmake --build --target app-run" >&2; exit 1; }
grep -qxF "$(vm_output 64 hi one two | head -1)" <<<"$run_log" && grep -qx 'in_microvm: yes' <<<"$run_log" ||
  { echo "$run_log" >&2; echo "FAIL: app-run did not run the app in a microVM with its defaults" >&2; exit 1; }
echo "ok: app-run"
