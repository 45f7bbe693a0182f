# LCT_CHECK_CUPTI: CUPTI headers (kernel activity timing in the interceptor).
AC_DEFUN([LCT_CHECK_CUPTI], [
  have_cupti=no
  AS_IF([test "x$have_cuda" = xyes], [
    save_CPPFLAGS="$CPPFLAGS"
    CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS"
    AC_CHECK_HEADER([cupti.h], [have_cupti=yes], [have_cupti=no], [#include <cuda.h>])
    CPPFLAGS="$save_CPPFLAGS"
  ])
  AM_CONDITIONAL([HAVE_CUPTI], [test "x$have_cupti" = xyes])
])
