#!/usr/bin/env bash
# The main job in one command, on a fresh Debian machine with a Rust toolchain: installs what the
# example needs (PostgreSQL's server binaries, for its Multi-AZ database), builds updraft, and
# brings up examples/mylearning in the foreground (Ctrl-C stops it and everything it started).
#
#   bash examples/mylearning/run.sh [updraft up flags…]
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "run.sh: installing Debian's postgresql package (the example's aws_db_instance runs on it)"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
fi

cargo build --release --workspace
exec ./target/release/updraft up "$@"
