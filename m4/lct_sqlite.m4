# LCT_CHECK_SQLITE: SQLite is required (Nsight-shaped traces, trace validation).
AC_DEFUN([LCT_CHECK_SQLITE], [
  PKG_CHECK_MODULES([SQLITE], [sqlite3 >= 3.20], [],
    [AC_MSG_ERROR([sqlite3 not found: install libsqlite3-dev (scripts/check does this)])])
])
