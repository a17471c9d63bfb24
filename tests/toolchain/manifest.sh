#!/usr/bin/env bash
# (c) Manifest defaults apply and the command line overrides them: an image
# built with --hyperlet-memory/-env/-arg runs with those, and `hyperlet run`
# --memory, --env and args after APP take precedence. Natively the manifest
# changes nothing.
#   manifest.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 source_dir=$2
. "$source_dir/common.sh"
wrapper=$build_dir/hyperlet-c++
hyperlet=$build_dir/hyperlet

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$wrapper" -O2 "$source_dir/external/main.cpp" -o app --hyperlet-memory=64M --hyperlet-env=GREETING=hi \
  --hyperlet-arg=one --hyperlet-arg='two words'
check_image app
echo "ok: both notes written"
expect_output "native run ignores the manifest" "$(native_output)" ./app

# A manifest value hyperlet refuses fails the link and leaves no image.
if "$wrapper" "$source_dir/external/main.cpp" -o bad --hyperlet-memory=lots 2>/dev/null; then
  echo "FAIL: --hyperlet-memory=lots was accepted" >&2
  exit 1
fi
[[ ! -e bad ]] || { echo "FAIL: a failed manifest step left an image" >&2; exit 1; }
echo "ok: a bad manifest value fails the build"

# The address space goes into the manifest too, and inspect shows it.
"$wrapper" -O2 "$source_dir/external/main.cpp" -o spacious --hyperlet-memory=64M --hyperlet-address-space=2G
"$hyperlet" inspect spacious | grep -qF "address space: 2048 MiB (the manifest's;" ||
  { echo "FAIL: --hyperlet-address-space=2G is not in the manifest" >&2; exit 1; }
if "$wrapper" "$source_dir/external/main.cpp" -o small --hyperlet-memory=64M --hyperlet-address-space=32M 2>/dev/null; then
  echo "FAIL: an address space below the memory was accepted" >&2
  exit 1
fi
echo "ok: --hyperlet-address-space is written, and one below the memory fails the build"

require_kvm
expect_output "defaults from the manifest" "$(vm_output 64 hi one 'two words')" "$hyperlet" run ./app
expect_output "--env overrides" "$(vm_output 64 bye one 'two words')" "$hyperlet" run --env GREETING=bye ./app
expect_output "args after APP override" "$(vm_output 64 hi three)" "$hyperlet" run ./app three
expect_output "--memory overrides" "$(vm_output 96 hi one 'two words')" "$hyperlet" run --memory 96M ./app
# Values that look like options stay values, and an empty argument stays an argument.
"$wrapper" -O2 "$source_dir/external/main.cpp" -o dashes --hyperlet-env=GREETING=--hi \
  --hyperlet-arg=--port --hyperlet-arg=-x --hyperlet-arg= --hyperlet-arg=--memory=8M
expect_output "option-like manifest values" "$(vm_output 256 --hi --port -x '' --memory=8M)" "$hyperlet" run ./dashes
expect_output "all three at once" "$(vm_output 32 bye four)" "$hyperlet" run --memory 32M --env GREETING=bye ./app four
# `hyperlet manifest` on an image that has one changes only what it is told.
cp app edited
"$hyperlet" manifest --memory 96M edited
expect_output "manifest --memory keeps env and args" "$(vm_output 96 hi one 'two words')" "$hyperlet" run ./edited
"$hyperlet" manifest --env GREETING=hey --arg five edited
expect_output "manifest --env and --arg replace theirs" "$(vm_output 96 hey five)" "$hyperlet" run ./edited
"$hyperlet" manifest --unset-env GREETING --no-args edited
expect_output "manifest --unset-env and --no-args remove" "$(vm_output 96 '(unset)')" "$hyperlet" run ./edited
"$hyperlet" manifest --reset edited
expect_output "manifest --reset starts empty" "$(vm_output 256 '(unset)')" "$hyperlet" run ./edited
