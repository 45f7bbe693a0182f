# LCT_CHECK_JANSSON: jansson is required (IR file format).
AC_DEFUN([LCT_CHECK_JANSSON], [
  PKG_CHECK_MODULES([JANSSON], [jansson >= 2.10], [],
    [AC_MSG_ERROR([jansson not found: install libjansson-dev (scripts/check does this)])])
])
