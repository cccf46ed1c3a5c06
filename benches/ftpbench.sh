#!/usr/bin/env bash
# Builds the release binary and runs the side-by-side FTP benchmark
# (ftpbench.py) against it and the peer servers, pinned to one CPU so the
# figures repeat. Usage:
#
#   benches/ftpbench.sh                      # full suite vs pyftpdlib, vsftpd, unftp
#   benches/ftpbench.sh --quick              # smoke run
#   benches/ftpbench.sh --workloads retr,stor --targets vsftpd
#
# FTPBENCH points at ftpbench.py (default: ../shared/bench/ftpbench.py next
# to this checkout); its install-peers.sh installs the peers. Extra
# arguments go to ftpbench.py; --targets names the peers (ftpshare is
# always added). Needs root for vsftpd.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${FTPBENCH:-$here/../shared/bench/ftpbench.py}
[ -f "$bench" ] || { echo "ftpbench.py not found at $bench (set FTPBENCH)" >&2; exit 1; }

peers=pyftpdlib,vsftpd,unftp
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) peers=$2; shift 2 ;;
    --targets=*) peers=${1#--targets=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

cargo build --release --manifest-path "$here/Cargo.toml"
bin=$here/target/release/ftpshare
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
exec "${pin[@]}" python3 "$bench" --targets "$peers,ftpshare:$bin" "${args[@]}"
