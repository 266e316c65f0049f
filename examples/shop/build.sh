#!/usr/bin/env bash
# Builds the static bulkhead-demo binary and copies it into the image build
# context (examples/shop/image/bulkhead-demo, git-ignored). Idempotent; works
# from any directory.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd -- "$here/../.." && pwd)"
target="x86_64-unknown-linux-gnu"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

cd "$root"
RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release -p bulkhead-demo --target "$target"

bin="$target_dir/$target/release/bulkhead-demo"
out="$here/image/bulkhead-demo"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$bin" "$tmp"
if command -v strip >/dev/null 2>&1; then
  strip "$tmp"
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$out"
echo "built $out ($(wc -c <"$out") bytes)"
