#!/usr/bin/env bash
# Every C, C++ and CUDA source of the project is laid out as .clang-format says:
# clang-format --dry-run --Werror over them, listing the files that differ.
# Exit 77 (skipped, and ctest says so) where clang-format is not installed
# (Debian: the clang-format package, in debian-packages.txt).
set -euo pipefail
src=${1:?usage: check_format.sh SOURCE_DIR}
fmt=$(command -v clang-format || command -v clang-format-14 || true)
[[ -n $fmt ]] || { echo "skipped: clang-format not found"; exit 77; }
cd "$src"
# tracked files in a checkout; every file in an export (git archive) without .git
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.h' '*.c' '*.cu' '*.cuh')
else
  mapfile -t files < <(find include tools tests bench examples python -type f \
                         \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.c' -o -name '*.cu' -o -name '*.cuh' \) | sort)
fi
((${#files[@]})) || { echo "no sources found under $src" >&2; exit 1; }
bad=()
for f in "${files[@]}"; do
  "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
echo "$("$fmt" --version | head -1): ${#files[@]} files checked, ${#bad[@]} not formatted"
if ((${#bad[@]})); then
  printf '  %s\n' "${bad[@]}"
  echo "fix: clang-format -i on them (the style is .clang-format)"
  exit 1
fi
