#!/usr/bin/env bash
# Fills .deps/ (ignored by git) with the build dependencies the GPU image may
# lack, as relocatable CMake prefixes taken from this machine's Debian packages:
#   .deps/catch2    Catch2 v2 (catch2):          include/catch2, lib/cmake/Catch2, lib/libCatch2WithMain.a
#   .deps/cli11     CLI11 (libcli11-dev):        include/CLI, share/cmake/CLI11
#   .deps/eigen     Eigen 3 (libeigen3-dev):     include/eigen3, share/eigen3/cmake
#   .deps/nlohmann  nlohmann_json (nlohmann-json3-dev): include/nlohmann, share/cmake/nlohmann_json
# Each package's CMake config finds its files relative to itself, so a prefix
# works wherever it lands. validation/gpu/run_all.sh puts every .deps/* first
# in CMAKE_PREFIX_PATH. The device tool copies .deps only when `carry` names
# it (it is ignored): carry [".deps"]. Size limit of everything that travels:
# 64 MiB; this is about 14 MiB.
#
#   bash validation/gpu/make_deps.sh [--check]    # from the repository root; --check also configures
#                                                 # a build that may find them only in .deps
set -euo pipefail
cd "$(dirname "$0")/../.."
deps=.deps
declare -A pkg=([catch2]=catch2 [cli11]=libcli11-dev [eigen]=libeigen3-dev [nlohmann]=nlohmann-json3-dev)
# what of each package a prefix needs (paths under /usr)
declare -A keep=(
  [catch2]="include/catch2 lib/cmake/Catch2 lib/libCatch2WithMain.a"
  [cli11]="include/CLI share/cmake/CLI11"
  [eigen]="include/eigen3 share/eigen3/cmake"
  [nlohmann]="include/nlohmann share/cmake/nlohmann_json"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The package's files under a root: the installed ones (/), or the .deb's
# contents when the package is not installed (apt-get download, no root needed).
package_root() {
  local p=$1
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo /
    return
  fi
  (cd "$tmp" && apt-get download "$p" >/dev/null 2>&1) || { echo "cannot get $p: not installed, apt-get download failed" >&2; return 1; }
  mkdir -p "$tmp/root-$p"
  dpkg-deb -x "$tmp"/"${p}"_*.deb "$tmp/root-$p"
  echo "$tmp/root-$p"
}

rm -rf "$deps"
for name in catch2 cli11 eigen nlohmann; do
  p=${pkg[$name]}
  root=$(package_root "$p")
  version=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo "from .deb")
  for rel in ${keep[$name]}; do
    src=$root/usr/$rel
    [[ -e $src ]] || { echo "missing $src (package $p)" >&2; exit 1; }
    mkdir -p "$deps/$name/$(dirname "$rel")"
    cp -a "$src" "$deps/$name/$rel"
  done
  echo "$p $version" > "$deps/$name/PACKAGE"
  echo "  $deps/$name: $p $version, $(du -sh "$deps/$name" | cut -f1)"
done
# documentation and man pages are not needed for building
find "$deps" -name '*.md' -delete
bytes=$(du -sb "$deps" | cut -f1)
echo "$deps: $((bytes / 1024 / 1024)) MiB in all ($(find "$deps" -type f | wc -l) files)"
if (( bytes > 48 * 1024 * 1024 )); then
  echo "$deps is over 48 MiB: with the working tree it may exceed the device tool's 64 MiB" >&2
  exit 1
fi

if [[ ${1:-} == --check ]]; then
  # Configure the CPU build with the system's package paths switched off, so
  # that Catch2, CLI11, Eigen and nlohmann_json can only come from .deps.
  b=$tmp/check-build
  prefix=""
  for d in "$deps"/*/; do prefix+="${prefix:+;}$PWD/${d%/}"; done
  cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release -DHWCAL_BUILD_EXAMPLES=OFF -DHWCAL_WITH_OPENBLAS=OFF \
    -DHWCAL_WITH_ONEDNN=OFF -DHWCAL_WITH_TORCH=OFF -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF -DCMAKE_FIND_USE_SYSTEM_ENVIRONMENT_PATH=OFF \
    -DCMAKE_MAKE_PROGRAM="$(command -v make)" -DCMAKE_CXX_COMPILER="$(command -v c++)" \
    -DCMAKE_C_COMPILER="$(command -v cc)" >"$tmp/check.log" 2>&1 ||
    { tail -20 "$tmp/check.log"; echo "configure with .deps only FAILED" >&2; exit 1; }
  grep -E '^(Catch2|CLI11|Eigen3|nlohmann_json)_DIR' "$b/CMakeCache.txt"
  if grep -E '^(Catch2|CLI11|Eigen3|nlohmann_json)_DIR' "$b/CMakeCache.txt" | grep -qv "$PWD/$deps/"; then
    echo "a dependency was found outside $deps" >&2
    exit 1
  fi
  echo "configure with .deps only: ok"
fi
