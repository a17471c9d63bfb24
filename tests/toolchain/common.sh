# Helpers for the toolchain tests (sourced). Each test script is strict
# (set -euo pipefail) and compares output exactly.

# expect_output "what" "expected" command args...: runs the command and fails,
# showing both outputs, unless it exits 0 and prints exactly "expected".
expect_output() {
  local what=$1 expected=$2
  shift 2
  local actual status=0
  actual=$("$@" 2>&1) || status=$?
  if [[ $status -ne 0 || "$actual" != "$expected" ]]; then
    echo "FAIL: $what" >&2
    echo "  command: $*" >&2
    echo "  exit status: $status" >&2
    diff -u <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") | sed 's/^/  /' >&2 || true
    exit 1
  fi
  echo "ok: $what"
}

# Exits 77 (ctest's SKIP_RETURN_CODE here) unless /dev/kvm can be opened read-write, as hyperlet needs.
# The -c test comes first: `<>` creates a missing file, and a regular /dev/kvm then fools every later check.
require_kvm() {
  if [ ! -c /dev/kvm ] || ! { exec 3<>/dev/kvm; } 2>/dev/null; then
    echo "SKIP: /dev/kvm is missing or not usable by $(id -un); the microVM part of this test needs it" >&2
    exit 77
  fi
  exec 3>&-
}

# " a b c" for args a b c (nothing for none), as the test app prints them.
joined_args() {
  local arg joined=""
  for arg in "$@"; do joined+=" $arg"; done
  printf '%s' "$joined"
}

# The lines a toolchain test app prints natively with the given args.
native_output() {
  printf 'args:%s\nGREETING=(unset)\nin_microvm: no\nready: no\nguest_info: none' "$(joined_args "$@")"
}

# The lines it prints in a microVM: vm_output MEMORY_MIB GREETING ARGS...
vm_output() {
  local memory=$1 greeting=$2
  shift 2
  printf 'args:%s\nGREETING=%s\nin_microvm: yes\nready: yes\nmemory: %s MiB\ntimestamps: ordered' \
    "$(joined_args "$@")" "$greeting" "$memory"
}

# check_image FILE: a hyperlet image: x86-64, static (no PT_INTERP), linked by
# lld, with both manifest notes. (readelf output is captured first: grep -q in
# a pipe could end it early, which pipefail would report as a failure.)
check_image() {
  local image=$1 header segments comment sections section
  header=$(readelf -hW "$image")
  segments=$(readelf -lW "$image")
  comment=$(readelf -p .comment "$image")
  sections=$(readelf -SW "$image")
  grep -q 'Machine:.*X86-64' <<<"$header" || { echo "FAIL: $image is not x86-64" >&2; exit 1; }
  if grep -q INTERP <<<"$segments"; then echo "FAIL: $image is dynamically linked" >&2; exit 1; fi
  grep -q 'Linker: .*LLD' <<<"$comment" || { echo "FAIL: $image was not linked by lld" >&2; exit 1; }
  for section in .note.hyperlet.manifest .note.hyperlet.sites; do
    grep -qF " $section " <<<"$sections" || { echo "FAIL: $image has no $section section" >&2; exit 1; }
  done
}
