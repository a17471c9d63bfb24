#!/usr/bin/env bash
# (d) A service described by hyperlet_add_executable's keywords (VOLUME,
# PUBLISH, ALLOW_CONNECT, FILES, WORKDIR, HOSTNAME, CPUS): the image's manifest
# holds them all (hyperlet inspect --json), a changed FILES file is written
# into the image again, and svc-run runs it in a microVM with a build
# directory as its volume: it reads the shipped config and writes into the volume.
#   service.sh BUILD_DIR SOURCE_DIR CMAKE_GENERATOR CXX_COMPILER
set -euo pipefail
build_dir=$1 source_dir=$2 generator=$3 cxx=$4
. "$source_dir/common.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
cp -r "$source_dir/service" "$work/source"
cmake -S "$work/source" -B "$work/build" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; echo "FAIL: configuring the service project" >&2; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; echo "FAIL: building the service project" >&2; exit 1; }
app=$work/build/svc
hyperlet=$prefix/bin/hyperlet
echo "ok: built the service project"

manifest=$("$hyperlet" inspect --json "$app" | python3 -c '
import json, sys
m = json.load(sys.stdin)["manifest"]
print(json.dumps({k: m[k] for k in ("volumes", "publish", "allow_connect", "cpus", "workdir", "hostname", "files")},
                 sort_keys=True))')
expected='{"allow_connect": ["127.0.0.1:5432"], "cpus": 2, "files": [{"path": "/etc/svc.conf", "size": 26}], "hostname": "svc-host", "publish": ["127.0.0.1:18081:8080"], "volumes": [{"mode": "rw", "path": "/data", "required": true}, {"mode": "ro", "path": "/cache", "required": false}], "workdir": "/data"}'
[[ $manifest == "$expected" ]] || { echo "FAIL: the manifest holds $manifest" >&2; echo "  expected $expected" >&2; exit 1; }
echo "ok: every keyword is in the manifest"

# A bad keyword value fails the build, naming it.
mkdir "$work/bad"
cat >"$work/bad/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(bad LANGUAGES CXX)
find_package(hyperlet REQUIRED)
hyperlet_add_executable(bad ../source/main.cpp VOLUME data)
CMAKE
cmake -S "$work/bad" -B "$work/bad/build" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1
if cmake --build "$work/bad/build" >"$work/bad.log" 2>&1; then
  echo "FAIL: VOLUME data (not absolute) was accepted" >&2
  exit 1
fi
grep -q "invalid --volume 'data'" "$work/bad.log" || { cat "$work/bad.log" >&2; echo "FAIL: no reason given" >&2; exit 1; }
echo "ok: a bad VOLUME fails the build with its reason"

require_kvm
run_log=$(cmake --build "$work/build" --target svc-run 2>&1) ||
  { echo "$run_log" >&2; echo "FAIL: cmake --build --target svc-run" >&2; exit 1; }
for line in "config: mode=from-the-source-tree" "cwd: /data" "hostname: svc-host" "wrote: yes"; do
  grep -qxF "$line" <<<"$run_log" || { echo "$run_log" >&2; echo "FAIL: svc-run printed no '$line'" >&2; exit 1; }
done
[[ $(cat "$work/build/svc-volumes/data/out.txt") == mode=from-the-source-tree ]] ||
  { echo "FAIL: svc-run's volume holds no out.txt" >&2; exit 1; }
echo "ok: svc-run reads the shipped file and writes into the build's volume directory"

# The shipped file is part of the image: changing it relinks and ships the new content.
echo "mode=changed" >"$work/source/svc.conf"
cmake --build "$work/build" >"$work/rebuild.log" 2>&1 || { cat "$work/rebuild.log" >&2; exit 1; }
expect_output "a changed FILES file is shipped again" "$(printf 'config: mode=changed\ncwd: /data\nhostname: svc-host\nwrote: yes')" \
  "$hyperlet" run --volume "$work/build/svc-volumes/data:/data" "$app"
