# LCT_CHECK_SANITIZERS: --enable-sanitizers builds everything with ASan + UBSan.
AC_DEFUN([LCT_CHECK_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers], [build with AddressSanitizer and UndefinedBehaviorSanitizer])],
    [], [enable_sanitizers=no])
  LCT_SAN_CFLAGS=""
  LCT_SAN_LDFLAGS=""
  AS_IF([test "x$enable_sanitizers" = xyes], [
    LCT_SAN_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    LCT_SAN_LDFLAGS="-fsanitize=address,undefined"
  ])
  AC_SUBST([LCT_SAN_CFLAGS])
  AC_SUBST([LCT_SAN_LDFLAGS])
  AM_CONDITIONAL([LCT_SANITIZERS], [test "x$enable_sanitizers" = xyes])
])
