#!/bin/sh
# Per-rank traces (SIMDEV_TRACE): Nsight-shaped SQLite readable with sqlite3 holding the expected
# kernel and memcpy rows, and Chrome JSON (trace_app.c on 2 ranks).
. "$(dirname "$0")/common.sh"
mpi_no_leak_check
command -v sqlite3 >/dev/null 2>&1 || { echo "no sqlite3 command: skipped"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
simrun -n 2 --compute --fabric p4de --trace "$tmp/t" --timeout 120 -- "$TESTDIR/trace_app" || { echo "FAIL: trace_app exited $?"; exit 1; }
fails=0
passes=0
expect() { # expect DESCRIPTION ACTUAL WANTED
    if [ "$2" = "$3" ]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        printf 'FAIL: %s\n  got:  %s\n  want: %s\n' "$1" "$2" "$3"
    fi
}
q() { sqlite3 -batch -noheader "$1" "$2"; }
arch=ampere
for r in 0 1; do
    db="$tmp/t.rank$r.sqlite"
    expect "rank $r: sqlite file" "$(test -s "$db" && echo yes)" yes
    expect "rank $r: json file" "$(test -s "$tmp/t.rank$r.json" && echo yes)" yes
    names=$(q "$db" "SELECT s.value FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = k.shortName ORDER BY k.start, k.rowid" | tr '\n' ' ')
    expect "rank $r: kernels in order" "$names" \
        "${arch}_sgemm_64x64_nn ${arch}_sgemm_64x64_nn ${arch}_sgemm_64x64_nn ncclDevKernel_AllReduce_Sum_f32_RING_LL ${arch}_sgemm_64x64_tn "
    expect "rank $r: demangled = short name" \
        "$(q "$db" "SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE demangledName != shortName")" 0
    expect "rank $r: every kernel has start < end" \
        "$(q "$db" "SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE NOT (start < end)")" 0
    expect "rank $r: rows stored by start" \
        "$(q "$db" "SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL a JOIN CUPTI_ACTIVITY_KIND_KERNEL b ON b.rowid = a.rowid + 1 WHERE b.start < a.start")" 0
    expect "rank $r: kernels on one stream do not overlap" \
        "$(q "$db" "SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL a JOIN CUPTI_ACTIVITY_KIND_KERNEL b ON b.rowid = a.rowid + 1 AND b.streamId = a.streamId WHERE b.start < a.end")" 0
    expect "rank $r: only the graph's GEMM has a graph node id" \
        "$(q "$db" "SELECT group_concat(s.value) FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = k.shortName WHERE k.graphNodeId > 0 AND k.graphId > 0")" \
        "${arch}_sgemm_64x64_tn"
    expect "rank $r: memcpy rows (kind, bytes)" \
        "$(q "$db" "SELECT group_concat(copyKind || ':' || bytes, ' ') FROM (SELECT * FROM CUPTI_ACTIVITY_KIND_MEMCPY ORDER BY start)")" \
        "1:16384 1:16384 2:16384"
    expect "rank $r: correlation ids set" \
        "$(q "$db" "SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL WHERE correlationId IS NULL OR correlationId = 0")" 0
    expect "rank $r: NVTX_EVENTS table exists" "$(q "$db" "SELECT count(*) FROM NVTX_EVENTS")" 0
    if command -v python3 >/dev/null 2>&1; then
        expect "rank $r: chrome json events" \
            "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for e in d["traceEvents"] if e.get("ph")=="X" and e.get("cat")=="kernel"))' "$tmp/t.rank$r.json")" 5
    fi
done
# a bad record bound: one warning per rank, the default used, the trace still written
SIMDEV_TRACE_MAX_EVENTS=-5 simrun -n 1 --compute --fabric p4de --trace "$tmp/b" --timeout 120 -- \
    "$TESTDIR/trace_app" >"$tmp/b.out" 2>&1
expect "bad SIMDEV_TRACE_MAX_EVENTS: run" "$?" 0
expect "bad SIMDEV_TRACE_MAX_EVENTS: one warning" \
    "$(grep -c 'SIMDEV_TRACE_MAX_EVENTS=-5 is not a positive whole number; using 20000000' "$tmp/b.out")" 1
expect "bad SIMDEV_TRACE_MAX_EVENTS: kernels traced" \
    "$(q "$tmp/b.rank0.sqlite" "SELECT count(*) > 0 FROM CUPTI_ACTIVITY_KIND_KERNEL")" 1
ar() { q "$tmp/t.rank$1.sqlite" "SELECT k.start || '-' || k.end FROM CUPTI_ACTIVITY_KIND_KERNEL k JOIN StringIds s ON s.id = k.shortName WHERE s.value LIKE 'ncclDevKernel_AllReduce%'"; }
expect "all-reduce at the same virtual time on both ranks" "$(ar 0)" "$(ar 1)"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
