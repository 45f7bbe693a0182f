# Sourced by the test scripts of the simulated libraries: locate simrun and the build, skip
# (exit 77) where MPI or the simulated driver is missing.
: "${top_srcdir:=$(cd "$(dirname "$0")/../../.." && pwd)}"
: "${top_builddir:=.}"
top_builddir=$(cd "$top_builddir" && pwd)
SIMRUN="$top_srcdir/scripts/simrun"
TESTDIR="$top_builddir/tests/simdev/libtests"
command -v mpirun >/dev/null 2>&1 || { echo "no mpirun: skipped"; exit 77; }
[ -f "$top_builddir/tests/simdev/lib/libcuda.so.1" ] || {
    echo "no simulated libcuda.so.1 in $top_builddir/tests/simdev/lib: skipped"; exit 77; }
simrun() {
    "$SIMRUN" --builddir "$top_builddir" "$@"
}
# Open MPI keeps allocations until exit (and unloads the components that made them), which
# LeakSanitizer would report in sanitizer builds: ranks of MPI tests skip leak detection (ASan and
# UBSan still check every access). Tests without MPI keep it.
mpi_no_leak_check() {
    ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export ASAN_OPTIONS
}
