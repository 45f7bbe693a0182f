# LCT_CHECK_WARNINGS: the house warning set; --enable-werror turns warnings into errors (CI).
AC_DEFUN([LCT_CHECK_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors])],
    [], [enable_werror=no])
  LCT_WARN_CFLAGS="-std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter"
  AS_IF([test "x$enable_werror" = xyes], [LCT_WARN_CFLAGS="$LCT_WARN_CFLAGS -Werror"])
  AC_SUBST([LCT_WARN_CFLAGS])
])
