#!/usr/bin/env bash
# Writes a minimal root filesystem as a tarball for `docker import`: the
# shared libraries that dynamically linked programs need (as `ldd` reports
# them on this machine), optionally the programs themselves, and the few
# files a non-root process expects. No package manager, no shell.
#
# Why: images cannot be pulled on every machine that builds Runnel (CI
# included), so `make docker` makes its base from the host's own glibc,
# which is by construction the one the release binary was linked against.
#
# usage: docker/rootfs.sh OUT.tar [--libs-of FILE]... [--bin FILE]... [--data-dir DIR]...
#   --libs-of FILE  add the libraries FILE needs, not FILE itself
#   --bin FILE      add FILE as /usr/local/bin/NAME, and its libraries
#   --data-dir DIR  add the empty directory DIR owned by the image user
set -euo pipefail

# The image user. 65532 is the "nonroot" id of distroless images, so the
# image built here and the one docker/Dockerfile builds agree.
IMAGE_UID=65532
IMAGE_USER=runnel

out=""
libs_of=()
bins=()
data_dirs=()
while (($#)); do
  case "$1" in
    --libs-of) libs_of+=("$2"); shift 2 ;;
    --bin) bins+=("$2"); shift 2 ;;
    --data-dir) data_dirs+=("${2#/}"); shift 2 ;;
    -*) echo "rootfs.sh: unknown option $1" >&2; exit 2 ;;
    *) [[ -z "$out" ]] || { echo "rootfs.sh: one output only" >&2; exit 2; }; out="$1"; shift ;;
  esac
done
[[ -n "$out" ]] || { echo "usage: rootfs.sh OUT.tar [--libs-of FILE]... [--bin FILE]... [--data-dir DIR]..." >&2; exit 2; }
command -v ldd >/dev/null || { echo "rootfs.sh: ldd not found" >&2; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# Libraries by the absolute paths ldd prints ("name => /path (addr)" and the
# loader as "/path (addr)"), copied as files at those paths so the program's
# interpreter path and the loader's default search path both resolve.
add_libs() {
  local file="$1" lib
  if ! ldd "$file" >/dev/null 2>&1; then
    echo "rootfs.sh: $file is not a dynamic executable; nothing to add" >&2
    return 0
  fi
  while read -r lib; do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done < <(ldd "$file" | grep -oE '/[^ ]+ \(0x' | cut -d' ' -f1 | sort -u)
}

for f in ${libs_of[@]+"${libs_of[@]}"}; do add_libs "$f"; done
for f in ${bins[@]+"${bins[@]}"}; do
  mkdir -p "$stage/usr/local/bin"
  cp -L "$f" "$stage/usr/local/bin/$(basename "$f")"
  chmod 0755 "$stage/usr/local/bin/$(basename "$f")"
  add_libs "$f"
done

mkdir -p "$stage/etc" "$stage/tmp" "$stage/home"
chmod 1777 "$stage/tmp"
printf 'root:x:0:0:root:/root:/nonexistent\n%s:x:%d:%d:%s:/home/%s:/nonexistent\n' \
  "$IMAGE_USER" "$IMAGE_UID" "$IMAGE_UID" "$IMAGE_USER" "$IMAGE_USER" >"$stage/etc/passwd"
printf 'root:x:0:\n%s:x:%d:\n' "$IMAGE_USER" "$IMAGE_UID" >"$stage/etc/group"
# Container names resolve through Docker's DNS; /etc/hosts is mounted by Docker.
printf 'hosts: files dns\n' >"$stage/etc/nsswitch.conf"
for d in ${data_dirs[@]+"${data_dirs[@]}"}; do mkdir -p "$stage/$(dirname "$d")"; done

# Everything root-owned except the data directories and the user's home,
# whatever user runs this script; fixed mtimes keep the tarball stable.
tar_opts=(--numeric-owner --sort=name --mtime=@0)
tar -cf "$out" "${tar_opts[@]}" --owner=0 --group=0 -C "$stage" .
mkdir -p "$stage/owned"
owned=("home/$IMAGE_USER")
for d in ${data_dirs[@]+"${data_dirs[@]}"}; do mkdir -p "$stage/owned/$d"; owned+=("$d"); done
mkdir -p "$stage/owned/home/$IMAGE_USER"
tar -rf "$out" "${tar_opts[@]}" --owner="$IMAGE_UID" --group="$IMAGE_UID" --no-recursion \
  -C "$stage/owned" "${owned[@]}"
