#!/usr/bin/env bash
# The Debian package (cmake/Packaging.cmake): `cpack -G DEB` from this build,
# unpacked with dpkg-deb -x into a temporary root; from there hyperlet's
# --help and --version, the man page, bash and zsh completion (each option of
# every command's --help is completed), and the CMake package (a project
# configured with CMAKE_PREFIX_PATH into the unpacked tree, built and run) work.
# Also: --version outside a git checkout.
#   deb.sh BUILD_DIR SOURCE_DIR(tests/toolchain) CMAKE_GENERATOR CXX_COMPILER
set -euo pipefail
build_dir=$1 source_dir=$2 generator=$3 cxx=$4
. "$source_dir/common.sh"
repository=$(cd "$source_dir/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/package" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack -G DEB"; }
debs=("$work"/package/hyperlet_*_amd64.deb)
[[ -f ${debs[0]} ]] || fail "cpack wrote no hyperlet_*_amd64.deb: $(ls "$work/package")"
deb=${debs[0]}
version=$(sed -n 's/^#define HYPERLET_VERSION_STRING "\(.*\)"$/\1/p' "$repository/guest-runtime/include/hyperlet/guest.h")
[[ $(dpkg-deb -f "$deb" Package Version) == $'Package: hyperlet\nVersion: '"$version" ]] ||
  fail "package name and version: $(dpkg-deb -f "$deb" Package Version)"
echo "ok: $(basename "$deb")"

root=$work/root
dpkg-deb -x "$deb" "$root"
usr=$root/usr
for file in bin/hyperlet bin/hyperlet-runc bin/hyperlet-c++ lib/libhyperlet-guest.a lib/libhyperlet-fiber.a \
  lib/libhyperlet-host.a lib/cmake/hyperlet/hyperletHostTargets.cmake \
  include/hyperlet/guest.h include/hyperlet/fiber.h lib/cmake/hyperlet/hyperletConfig.cmake \
  lib/cmake/hyperlet/HyperletAddExecutable.cmake share/bash-completion/completions/hyperlet \
  share/zsh/vendor-completions/_hyperlet share/doc/hyperlet/README.md share/doc/hyperlet/copyright; do
  [[ -e $usr/$file ]] || fail "the package has no /usr/$file"
done
headers=$(cd "$usr/include" && find . -type f | sort | tr '\n' ' ')
# Only public headers: the app's two, and the embedding API's host.h with the few host headers it includes.
expected_headers="./hyperlet/fiber.h ./hyperlet/guest.h ./hyperlet/host.h ./hyperlet/host/core/error.h \
./hyperlet/host/core/exit_status.h ./hyperlet/host/core/unique_fd.h ./hyperlet/host/devices/network_policy.h \
./hyperlet/host/devices/volumes.h ./hyperlet/host/vm/run_stats.h "
[[ $headers == "$expected_headers" ]] || fail "the package's headers are: $headers"
echo "ok: contents"

hyperlet=$usr/bin/hyperlet
help=$("$hyperlet" --help) || fail "hyperlet --help"
grep -q '^  run ' <<<"$help" || fail "hyperlet --help lists no run command: $help"
commit=$(sed -n 's/^#define HYPERLET_GIT_COMMIT "\(.*\)"$/\1/p' "$build_dir/hypervisor/generated/build_info.h")
expect_output "unpacked hyperlet --version" "hyperlet $version (${commit:+commit $commit, }guest ABI 1)" \
  "$hyperlet" --version
runc_version=$("$usr/bin/hyperlet-runc" --version)
grep -q "^hyperlet-runc version $version" <<<"$runc_version" || fail "hyperlet-runc --version: $runc_version"
echo "ok: hyperlet-runc --version"

man_page=$(find "$usr/share/man/man1" -name 'hyperlet.1*' | head -1)
[[ -n $man_page ]] || fail "the package has no man page"
# Valid troff (groff warns about nothing), naming the run options.
man_text=$(LC_ALL=C MANPAGER=cat MANWIDTH=100 man -l "$man_page" 2>"$work/man.err" | col -b) ||
  fail "man -l $man_page"
[[ ! -s $work/man.err ]] || fail "man -l warned: $(cat "$work/man.err")"
for expected in "run a static x86-64 Linux program as a KVM microVM" "--trace-file" "--publish" "EXAMPLES"; do
  grep -qF -- "$expected" <<<"$man_text" || fail "the man page has no '$expected'"
done
echo "ok: man page"

# Every long option each command's --help shows is in both completions.
bash_completion=$usr/share/bash-completion/completions/hyperlet
zsh_completion=$usr/share/zsh/vendor-completions/_hyperlet
for command in run snapshot inspect manifest pack; do
  options=$("$hyperlet" "$command" --help | sed -nE 's/^ +(-[a-zA-Z], ?)?(--[a-z][a-z-]*).*/\2/p')
  [[ -n $options ]] || fail "found no options in hyperlet $command --help"
  for option in $options; do
    grep -qE -- "(^|[^a-z-])$option([^a-z-]|$)" "$bash_completion" || fail "bash completion lacks $command $option"
    grep -qE -- "(^|[^a-z-])$option([^a-z-]|$)" "$zsh_completion" || fail "zsh completion lacks $command $option"
  done
done
bash -n "$bash_completion" || fail "bash completion: syntax"
if command -v zsh >/dev/null; then zsh -n "$zsh_completion" || fail "zsh completion: syntax"; fi
# And bash completes with it: `hyperlet run --tra<TAB>`, `hyperlet sn<TAB>`.
completed=$(bash -c '. "$1"; COMP_WORDS=(hyperlet run --tra); COMP_CWORD=2; _hyperlet; echo "${COMPREPLY[*]}"
  COMP_WORDS=(hyperlet sn); COMP_CWORD=1; _hyperlet; echo "${COMPREPLY[*]}"
  COMP_WORDS=(hyperlet run app --tra); COMP_CWORD=3; _hyperlet; echo "${#COMPREPLY[@]}"' _ "$bash_completion")
[[ $completed == $'--trace --trace-file\nsnapshot\n0' ]] || fail "bash completion completed: $completed"
echo "ok: bash and zsh completion"

# The CMake package from the unpacked tree: a project outside both trees.
cmake -S "$source_dir/deb_consumer" -B "$work/consumer" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$usr" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; fail "configuring a find_package(hyperlet) project against the package"; }
grep -q "hyperlet_DIR:PATH=$usr/lib/cmake/hyperlet" "$work/consumer/CMakeCache.txt" ||
  fail "find_package(hyperlet) did not find the package's config: $(grep hyperlet_DIR "$work/consumer/CMakeCache.txt")"
cmake --build "$work/consumer" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "building it"; }
expect_output "the package's headers and CMake package agree" "headers $version, package $version, native" \
  "$work/consumer/version"

# The embedding API from the package: find_package(hyperlet COMPONENTS host), built and run (no KVM
# needed to check a snapshot file). A file that is no snapshot is refused with the reason.
cmake -S "$source_dir/host_consumer" -B "$work/host_consumer" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$usr" -DCMAKE_BUILD_TYPE=Release >"$work/host_configure.log" 2>&1 ||
  { cat "$work/host_configure.log" >&2; fail "configuring a find_package(hyperlet COMPONENTS host) project"; }
cmake --build "$work/host_consumer" >"$work/host_build.log" 2>&1 ||
  { cat "$work/host_build.log" >&2; fail "building a program that links hyperlet::host"; }
head -c 4096 /dev/urandom >"$work/not-a-snapshot"
checked=$("$work/host_consumer/snapshot_check" "$work/not-a-snapshot") && fail "a random file was taken for a snapshot"
[[ $checked == "not a snapshot: "*"$work/not-a-snapshot"* ]] || fail "snapshot_check said: $checked"
echo "ok: a program embedding hyperlet::host builds against the package"

# Outside a git checkout (a release tarball), the commit is left out.
mkdir "$work/not-git"
cmake -DSOURCE_DIR="$work/not-git" -DOUTPUT="$work/build_info.h" -P "$repository/cmake/GenerateBuildInfo.cmake"
grep -qx '#define HYPERLET_GIT_COMMIT ""' "$work/build_info.h" || fail "outside git: $(cat "$work/build_info.h")"
echo "ok: no commit outside a git checkout"

# The README's first screen shows this project's greeter as it is.
[[ $(<"$repository/README.md") == *"$(<"$source_dir/deb_consumer/main.cpp")"* ]] ||
  fail "README.md does not show tests/toolchain/deb_consumer/main.cpp as it is"
grep -qF 'hyperlet_add_executable(greeter main.cpp MEMORY 64M)' "$repository/README.md" ||
  fail "README.md does not show the greeter's hyperlet_add_executable line"
echo "ok: the README shows the greeter as built here"

require_kvm
expect_output "the unpacked hyperlet runs the project's image" "headers $version, package $version, in a microVM" \
  "$hyperlet" run "$work/consumer/version"

# The README's path: the greeter with a volume and a port, asked with curl, stopped with SIGTERM.
mkdir "$work/data"
echo "hello from the package" >"$work/data/greeting"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$hyperlet" run --volume "$work/data:/data:ro" --publish "127.0.0.1:$port:8080" "$work/consumer/greeter" \
  >"$work/greeter.out" 2>&1 &
greeter=$!
answer=""
for _ in $(seq 100); do
  answer=$(curl -s "http://127.0.0.1:$port/" 2>/dev/null) && break
  sleep 0.1
done
kill -TERM "$greeter"
status=0
wait "$greeter" || status=$?
[[ $answer == "hello from the package" ]] || fail "curl got '$answer'; greeter said: $(cat "$work/greeter.out")"
[[ $status -eq 143 ]] || fail "the stopped greeter's status is $status, not 143: $(cat "$work/greeter.out")"
echo "ok: the README's greeter served from a volume and stopped with SIGTERM"
