#!/bin/sh
# bench/pvm_probe runs to the end, exits 0 and prints its summary lines.
# Skipped (77) without a usable /dev/kvm.
probe=$1
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "skipped: /dev/kvm is not usable"
  exit 77
fi
output=$(timeout 120 "$probe") || { printf '%s\n' "$output"; echo "pvm_probe exited $?"; exit 1; }
printf '%s\n' "$output"
for key in 'kvm_pvm module' 'PVM spec MSRs accepted by guest wrmsr' 'PVM-spec supervisor mode' \
           'kvm_pvm native kernel mode' 'cost non-PVM ring 0 out exit'; do
  if ! printf '%s\n' "$output" | grep -q "^pvm_probe: summary: $key: "; then
    echo "missing summary line: $key"
    exit 1
  fi
done
