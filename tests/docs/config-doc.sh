#!/bin/sh
# docs/config.md must hold exactly the table lancet-info --config --markdown prints.
set -eu
doc="$top_srcdir/docs/config.md"
want=$(mktemp)
trap 'rm -f "$want"' EXIT
"$top_builddir/src/tools/lancet-info" --config --markdown >"$want"
if ! sed -n '/^| variable /,$p' "$doc" | cmp -s - "$want"; then
    echo "docs/config.md is out of date: regenerate its table with lancet-info --config --markdown"
    sed -n '/^| variable /,$p' "$doc" | diff - "$want" || true
    exit 1
fi
# Every row has the header's five cells: a bare '|' inside a value would split a cell.
bad=$(sed 's/\\|//g' "$want" | awk -F'|' 'NF != 7 { print NR": "$0 }')
if [ -n "$bad" ]; then
    echo "lancet-info --config --markdown: rows without exactly five cells (unescaped '|'):"
    echo "$bad"
    exit 1
fi
echo "docs/config.md matches the registry ($(wc -l <"$want") lines)"
