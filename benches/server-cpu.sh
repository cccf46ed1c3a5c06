#!/usr/bin/env bash
# Server CPU side by side, to the nanosecond: runs the side-by-side harness
# (ftpbench.py) once per workload with each server in a control group of its
# own, and prints each server's CPU over the run from the group's counter.
#
#   sudo benches/server-cpu.sh                                # small,stor,tls_retr,tls_stor
#   sudo benches/server-cpu.sh --workloads small --repeat 5
#   sudo benches/server-cpu.sh --targets vsftpd -- --size 1G  # after --: more ftpbench.py options
#
# Why not the harness's own round_server_cpu_s: it comes in 10 ms ticks, and
# a round of small files costs a server 40-200 ms, so the ratio moved by a
# quarter with one tick. A group counts every thread and every forked child
# (vsftpd forks per session), in nanoseconds. The figure is the whole run:
# the transfers plus each round's server start (a few ms; pyftpdlib's about
# 100). Needs root, for the groups and for vsftpd; cgroup v2 or v1 cpuacct.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${FTPBENCH:-$here/../shared/bench/ftpbench.py}
[ -f "$bench" ] || { echo "ftpbench.py not found at $bench (set FTPBENCH)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "server-cpu.sh needs root (control groups, vsftpd)" >&2; exit 1; }

workloads=small,stor,tls_retr,tls_stor
peers=pyftpdlib,vsftpd
repeat=3
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workloads) workloads=$2; shift 2 ;;
    --targets) peers=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  groups=/sys/fs/cgroup/ftpshare-bench
  mkdir -p "$groups"
  usage() { awk '$1 == "usage_usec" { print $2 * 1000 }' "$1/cpu.stat"; }
else
  groups=/sys/fs/cgroup/cpuacct/ftpshare-bench
  mkdir -p "$groups"
  usage() { cat "$1/cpuacct.usage"; }
fi

cargo build --release --manifest-path "$here/Cargo.toml"
wrappers=$(mktemp -d)
trap 'rm -rf "$wrappers"; rmdir "$groups"/* 2>/dev/null || true' EXIT

# A wrapper joins its target's group only when it starts a server: the
# harness also runs each binary to ask its version, which is not the
# server's work.
wrap() {  # wrap NAME BINARY SERVER-ARGS-PATTERN
  mkdir -p "$groups/$1"
  cat > "$wrappers/$1" <<EOF
#!/bin/sh
case " \$* " in $3) echo \$\$ > "$groups/$1/cgroup.procs" ;; esac
exec "$2" "\$@"
EOF
  chmod +x "$wrappers/$1"
}

targets=()
IFS=, read -ra names <<< "$peers"
for name in "${names[@]}"; do
  case "$name" in
    vsftpd) wrap vsftpd "$(command -v vsftpd || echo /usr/sbin/vsftpd)" '*.conf\ *' ;;
    pyftpdlib)
      python=$(command -v python3)
      python3 -c 'import pyftpdlib' 2>/dev/null || python=${PEERS:-/opt/peers}/pyftpdlib-venv/bin/python
      wrap pyftpdlib "$python" '*\ -m\ pyftpdlib\ *' ;;
    unftp) wrap unftp "$(command -v unftp || echo "${PEERS:-/opt/peers}/unftp/bin/unftp")" '*--root-dir*' ;;
    *) echo "unknown peer $name (vsftpd, pyftpdlib, unftp)" >&2; exit 2 ;;
  esac
  targets+=("$name:$wrappers/$name")
done
wrap ftpshare "$here/target/release/ftpshare" '*\ --json\ *'
targets+=("ftpshare:$wrappers/ftpshare")
all=$(IFS=,; echo "${targets[*]}")

pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
header="| workload | $(printf '%s s | ' "${names[@]}")ftpshare s | ftpshare / least |"
rows=()
IFS=, read -ra works <<< "$workloads"
for work in "${works[@]}"; do
  for name in "${names[@]}" ftpshare; do
    # a group's counter cannot be reset on cgroup v2: read it before and after
    eval "before_$name=$(usage "$groups/$name")"
  done
  "${pin[@]}" python3 "$bench" --targets "$all" --workloads "$work" --repeat "$repeat" \
    --no-limit "${extra[@]}" >&2
  row="| $work |"
  least=
  for name in "${names[@]}" ftpshare; do
    before_var=before_$name
    ns=$(( $(usage "$groups/$name") - ${!before_var} ))
    row+=" $(awk -v n="$ns" 'BEGIN { printf "%.3f", n / 1e9 }') |"
    if [ "$name" != ftpshare ] && { [ -z "$least" ] || [ "$ns" -lt "$least" ]; }; then least=$ns; fi
    mine=$ns
  done
  rows+=("$row $(awk -v a="$mine" -v b="$least" 'BEGIN { printf "%.2f×", a / b }') |")
done
echo
echo "Server CPU over each workload's run ($repeat rounds; $(date -u +%F), $(git -C "$here" rev-parse --short HEAD)):"
echo
echo "$header"
echo "|---|$(printf -- '--:|%.0s' "${names[@]}")--:|--:|"
printf '%s\n' "${rows[@]}"
