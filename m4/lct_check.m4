# LCT_CHECK_CHECK: the Check unit-test framework; tests are skipped (configure warns) without it.
AC_DEFUN([LCT_CHECK_CHECK], [
  PKG_CHECK_MODULES([CHECK], [check >= 0.10], [have_check=yes], [have_check=no])
  AS_IF([test "x$have_check" = xno],
    [AC_MSG_WARN([Check not found: install check (scripts/check does this); unit tests will not build])])
  AM_CONDITIONAL([HAVE_CHECK], [test "x$have_check" = xyes])
])
