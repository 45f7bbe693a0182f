# LCT_CHECK_NCCL: NCCL headers (interceptor hooks, plugin ABI, simulated fabric).
AC_DEFUN([LCT_CHECK_NCCL], [
  AC_ARG_WITH([nccl],
    [AS_HELP_STRING([--with-nccl=DIR], [NCCL root (default: the CUDA toolkit)])],
    [NCCL_HOME="$withval"], [NCCL_HOME="$CUDA_HOME"])
  have_nccl=no
  save_CPPFLAGS="$CPPFLAGS"
  CPPFLAGS="$CPPFLAGS -I$NCCL_HOME/include $CUDA_CPPFLAGS"
  AC_CHECK_HEADER([nccl.h], [have_nccl=yes], [have_nccl=no])
  CPPFLAGS="$save_CPPFLAGS"
  NCCL_CPPFLAGS="-I$NCCL_HOME/include"
  AC_SUBST([NCCL_CPPFLAGS])
  AM_CONDITIONAL([HAVE_NCCL], [test "x$have_nccl" = xyes])
])
