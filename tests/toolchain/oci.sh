#!/usr/bin/env bash
# OCI images and the runtime with real clients from Debian's packages:
# `hyperlet pack` output checked by hand (digests), by skopeo and by umoci;
# then podman loads it and runs it with --runtime hyperlet-runc (its own
# --root/--runroot in a temporary directory, vfs storage, cgroupfs). Each client
# part is skipped with a line when the client is not installed
# (scripts/install-deps installs them); the podman runs need /dev/kvm.
#   oci.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 source_dir=$2
. "$source_dir/common.sh"
hyperlet=$build_dir/hyperlet
runc=$build_dir/hyperlet-runc
hello=$build_dir/samples/hello
http_server=$build_dir/samples/http-server

work=$(mktemp -d)
podman_cmd=()
cleanup() {
  if ((${#podman_cmd[@]})); then
    "${podman_cmd[@]}" rm -af -t 0 >/dev/null 2>&1 || true
  fi
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
cd "$work"

# ---- pack: deterministic, refuses what `hyperlet run` refuses
digest=$("$hyperlet" pack "$hello" -o hello.tar)
expect_output "packing again gives the same digest" "$digest" "$hyperlet" pack "$hello" -o again.tar
cmp -s hello.tar again.tar || { echo "FAIL: two packs of one image differ" >&2; exit 1; }
echo "ok: two packs are byte-identical"
printf 'not an ELF\n' >notelf
status=0
message=$("$hyperlet" pack notelf -o bad.tar 2>&1) || status=$?
[[ $status -eq 126 && $(wc -l <<<"$message") -eq 1 && $message == "hyperlet: "* && ! -e bad.tar ]] ||
  { echo "FAIL: packing a non-ELF: status $status, '$message'" >&2; exit 1; }
echo "ok: a non-ELF is refused in one line (126)"
status=0
"$hyperlet" pack "$hello" -o x.tar --port http >/dev/null 2>&1 || status=$?
[[ $status -eq 125 ]] || { echo "FAIL: --port http was accepted ($status)" >&2; exit 1; }
echo "ok: a bad --port is refused"

# ---- the layout: every blob's name is its digest, index → manifest → config and layer
mkdir layout
tar -xf hello.tar -C layout
expect_output "oci-layout" '{"imageLayoutVersion":"1.0.0"}' cat layout/oci-layout
for blob in layout/blobs/sha256/*; do
  [[ $(sha256sum "$blob" | cut -d' ' -f1) == "${blob##*/}" ]] || { echo "FAIL: $blob has another digest" >&2; exit 1; }
done
echo "ok: every blob matches its digest"
manifest_digest=$(jq -r '.manifests[0].digest' layout/index.json)
[[ "$manifest_digest" == "$digest" ]] || { echo "FAIL: index names $manifest_digest, pack printed $digest" >&2; exit 1; }
manifest=layout/blobs/sha256/${manifest_digest#sha256:}
config=layout/blobs/sha256/$(jq -r '.config.digest' "$manifest" | cut -d: -f2)
layer=layout/blobs/sha256/$(jq -r '.layers[0].digest' "$manifest" | cut -d: -f2)
expect_output "entrypoint" '["/hello"]' jq -c '.config.Entrypoint' "$config"
expect_output "the layer holds the image" "hello" tar -tzf "$layer"
expect_output "diff_id is the uncompressed layer's digest" "sha256:$(gzip -dc "$layer" | sha256sum | cut -d' ' -f1)" \
  jq -r '.rootfs.diff_ids[0]' "$config"
tar -xzf "$layer" -C "$work" hello
cmp -s "$work/hello" "$hello" || { echo "FAIL: the layer's program differs from the image" >&2; exit 1; }
echo "ok: the layer's program is the image, byte for byte"
"$hyperlet" pack "$http_server" -o http.tar --name web:1 --port 8080 >/dev/null
mkdir http-layout
tar -xf http.tar -C http-layout
http_manifest=http-layout/blobs/sha256/$(jq -r '.manifests[0].digest' http-layout/index.json | cut -d: -f2)
http_config=http-layout/blobs/sha256/$(jq -r '.config.digest' "$http_manifest" | cut -d: -f2)
expect_output "name" "localhost/web:1" jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' \
  http-layout/index.json
expect_output "ports and memory" '{"8080/tcp":{}} 64M 8080:8080/tcp' \
  jq -r '"\(.config.ExposedPorts|tojson) \(.config.Labels["hyperlet.dev/memory"]) \(.config.Labels["hyperlet.dev/publish"])"' \
  "$http_config"

# ---- other tools read it
if command -v skopeo >/dev/null; then
  expect_output "skopeo inspect" "$digest amd64" \
    bash -c "skopeo inspect oci-archive:hello.tar | jq -r '\"\(.Digest) \(.Architecture)\"'"
else
  echo "skip: skopeo is not installed"
fi
if command -v umoci >/dev/null; then
  expect_output "umoci ls" "localhost/hello:latest" umoci ls --layout layout
  umoci unpack --rootless --image "layout:localhost/hello:latest" bundle >/dev/null
  cmp -s bundle/rootfs/hello "$hello" || { echo "FAIL: umoci unpacked another program" >&2; exit 1; }
  expect_output "umoci's runtime config runs the entrypoint" '["/hello"]' jq -c '.process.args' bundle/config.json
else
  echo "skip: umoci is not installed"
fi

# ---- packaging/: containerd reads the runtime entry; the Kubernetes objects are YAML of the right kinds
packaging=$source_dir/../../packaging
if command -v containerd >/dev/null; then
  expect_output "containerd reads packaging/containerd/config.toml" \
    "$(printf 'runtime_type = "io.containerd.runc.v2"\nBinaryName = "/usr/local/bin/hyperlet-runc"')" \
    bash -c "containerd --config '$packaging/containerd/config.toml' config dump 2>/dev/null |
      sed -n '/runtimes.hyperlet\]/,/SystemdCgroup/p' | grep -oE '(runtime_type|BinaryName) = .*'"
fi
expect_output "packaging/kubernetes YAML" "RuntimeClass hyperlet hyperlet; Pod http-server hyperlet" \
  python3 -c 'import sys, yaml
docs = [yaml.safe_load(open(p)) for p in sys.argv[1:]]
print("; ".join(" ".join([d["kind"], d["metadata"]["name"], d.get("handler") or d["spec"]["runtimeClassName"]])
                for d in docs))' \
  "$packaging/kubernetes/runtimeclass.yaml" "$packaging/kubernetes/http-server-pod.yaml"

# ---- podman and containerd run packed test programs with hyperlet-runc
programs=$build_dir/tests/integration/programs
for program in print_args exit_with spin; do
  "$hyperlet" pack "$programs/$program" -o "$program.tar" >/dev/null
done
"$hyperlet" pack "$http_server" -o http-server.tar --port 8080 >/dev/null
mkdir site
printf 'hello over the pod network\n' >site/index.html

if command -v podman >/dev/null; then
  podman_cmd=(podman --root "$work/podman/root" --runroot "$work/podman/run" --tmpdir "$work/podman/tmp"
    --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
  # podman's default rlimits exceed this machine's hard limits; hyperlet-runc
  # refuses what it cannot apply (as runc does), so ask for what can be had.
  limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
  podman_run=("${podman_cmd[@]}" --runtime "$runc" run "${limits[@]}")
  for program in print_args exit_with spin http-server; do
    expect_output "podman load $program" "Loaded image: localhost/$program:latest" \
      "${podman_cmd[@]}" load -q -i "$program.tar"
  done

  # podman's limits become the container's cgroup at create (`podman init`: no VM runs yet, no KVM needed).
  if [[ -w /sys/fs/cgroup/memory || -w /sys/fs/cgroup/cgroup.procs ]]; then
    id=$("${podman_cmd[@]}" --runtime "$runc" create "${limits[@]}" --memory 64m --cpus 1.5 --network none \
      localhost/print_args:latest) || { echo "FAIL: podman create" >&2; exit 1; }
    "${podman_cmd[@]}" --runtime "$runc" init "$id" >/dev/null || { echo "FAIL: podman init with hyperlet-runc" >&2; exit 1; }
    pid=$("${podman_cmd[@]}" inspect --format '{{.State.Pid}}' "$id")
    cgroup=$(grep -E '^[0-9]+:(memory)?:' "/proc/$pid/cgroup" | head -1 | cut -d: -f3)
    [[ $cgroup == */libpod-$id ]] || { echo "FAIL: the container's process is in cgroup '$cgroup'" >&2; exit 1; }
    if [[ -e /sys/fs/cgroup/cgroup.controllers ]]; then
      memory_file=/sys/fs/cgroup$cgroup/memory.max
    else
      memory_file=/sys/fs/cgroup/memory$cgroup/memory.limit_in_bytes
    fi
    [[ $(<"$memory_file") == 67108864 ]] || { echo "FAIL: $memory_file holds $(<"$memory_file")" >&2; exit 1; }
    "${podman_cmd[@]}" --runtime "$runc" rm -f "$id" >/dev/null
    [[ ! -e ${memory_file%/*} ]] || { echo "FAIL: podman rm left the cgroup ${memory_file%/*}" >&2; exit 1; }
    echo "ok: podman's memory limit is the container cgroup's, made at init and gone at rm"
  fi

  require_kvm
  expect_output "podman run prints what the app prints" "$(printf 'argc=3\n[one]\n[two words]')" \
    "${podman_run[@]}" --rm --network none localhost/print_args:latest one 'two words'
  status=0
  "${podman_run[@]}" --rm --network none localhost/exit_with:latest 7 || status=$?
  [[ $status -eq 7 ]] || { echo "FAIL: podman run of exit_with 7 returned $status" >&2; exit 1; }
  echo "ok: podman run returns the app's exit status"
  expect_output "a terminal through the console socket" "$(printf 'argc=2\r\n[tty]\r')" \
    "${podman_run[@]}" --rm -t --network none localhost/print_args:latest tty
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${podman_run[@]}" -d --name web -p "127.0.0.1:$port:8080" --annotation hyperlet.dev/publish=8080:8080 \
    -v "$work/site:/www:ro" localhost/http-server:latest >/dev/null
  # -s without -S: curl prints the error of an attempt it then retries, which is no failure
  # (expect_output still shows the exit status and output when the last attempt fails).
  expect_output "curl reaches the VM in the container's network namespace" "hello over the pod network" \
    curl -s --retry 20 --retry-connrefused --retry-delay 1 -m 30 "http://127.0.0.1:$port/index.html"
  expect_output "podman stop ends it with SIGTERM" "web" "${podman_cmd[@]}" stop -t 10 web
  expect_output "podman ps -a shows it exited" "web 143" \
    "${podman_cmd[@]}" ps -a --filter name=web --format '{{.Names}} {{.ExitCode}}'
  "${podman_cmd[@]}" rm web >/dev/null
else
  echo "skip: podman is not installed"
fi

if command -v containerd >/dev/null && command -v ctr >/dev/null; then
  require_kvm
  mkdir containerd
  cat >containerd/config.toml <<TOML
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
[grpc]
  address = "$work/containerd/containerd.sock"
[ttrpc]
  address = "$work/containerd/containerd-ttrpc.sock"
TOML
  containerd --config containerd/config.toml >containerd/log 2>&1 &
  containerd_pid=$!
  trap 'kill $containerd_pid 2>/dev/null; wait $containerd_pid 2>/dev/null; cleanup' EXIT
  ctr_cmd=(ctr --address "$work/containerd/containerd.sock" --namespace hyperlet-test)
  for _ in $(seq 100); do "${ctr_cmd[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  for program in print_args exit_with spin; do
    "${ctr_cmd[@]}" images import "$program.tar" >/dev/null
  done
  expect_output "ctr run prints what the app prints" "$(printf 'argc=3\n[one]\n[two words]')" \
    "${ctr_cmd[@]}" run --rm --runc-binary "$runc" localhost/print_args:latest args1 /print_args one 'two words'
  status=0
  "${ctr_cmd[@]}" run --rm --runc-binary "$runc" localhost/exit_with:latest exit1 /exit_with 9 || status=$?
  [[ $status -eq 9 ]] || { echo "FAIL: ctr run of exit_with 9 returned $status" >&2; exit 1; }
  echo "ok: ctr run returns the app's exit status"
  "${ctr_cmd[@]}" run -d --runc-binary "$runc" localhost/spin:latest spin1 >/dev/null
  for _ in $(seq 100); do
    [[ $("${ctr_cmd[@]}" task ls | awk '$1 == "spin1" {print $3}') == RUNNING ]] && break
    sleep 0.1
  done
  vm_pid=$("${ctr_cmd[@]}" task ls | awk '$1 == "spin1" {print $2}')
  [[ $(readlink "/proc/$vm_pid/exe") == "$build_dir/hyperlet" ]] ||
    { echo "FAIL: the task's pid $vm_pid is not hyperlet" >&2; exit 1; }
  echo "ok: the task's pid is the VM's host process"
  "${ctr_cmd[@]}" task kill spin1
  for _ in $(seq 100); do
    [[ $("${ctr_cmd[@]}" task ls | awk '$1 == "spin1" {print $3}') == STOPPED ]] && break
    sleep 0.1
  done
  expect_output "ctr task kill stops it" "STOPPED" bash -c "$(printf '%q ' "${ctr_cmd[@]}") task ls | awk '\$1 == \"spin1\" {print \$3}'"
  [[ ! -e /proc/$vm_pid ]] || { echo "FAIL: the VM's process $vm_pid is still there" >&2; exit 1; }
  echo "ok: the VM is gone"
  expect_output "ctr task delete reports 143" "exit code 143" \
    bash -c "$(printf '%q ' "${ctr_cmd[@]}") task delete spin1 2>&1 | grep -o 'exit code 143'"
  "${ctr_cmd[@]}" container delete spin1
else
  echo "skip: containerd is not installed"
fi
