#!/usr/bin/env bash
# make format-check: every C file of the project is as clang-format (with the
# repository's .clang-format) writes it.  First proves the check can fail: a
# copy of one source, misformatted on purpose, must be refused.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find cmd daemon proto policy uvm test -name '*.[ch]')

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cp .clang-format "$probe/"
sed 's/^  return /return    /' proto/base/strbuf.c >"$probe/misformatted.c"
if (cd "$probe" && "$CLANG_FORMAT" --dry-run --Werror misformatted.c) 2>/dev/null; then
  echo "format-check: a misformatted file passed; the check checks nothing" >&2
  exit 1
fi
echo "ok - format-check refuses a misformatted file"

if ! "$CLANG_FORMAT" --dry-run --Werror "${files[@]}"; then
  echo "format-check: run 'make format' (clang-format -i) and commit the result" >&2
  exit 1
fi
echo "ok - format-check: ${#files[@]} files as clang-format writes them"
