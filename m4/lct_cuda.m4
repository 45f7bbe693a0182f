# LCT_CHECK_CUDA: the CUDA toolkit (headers, nvcc). Only capture/, the simulated device and the
# reference trainer use it; src/ never includes a CUDA header.
AC_DEFUN([LCT_CHECK_CUDA], [
  AC_ARG_WITH([cuda],
    [AS_HELP_STRING([--with-cuda=DIR], [CUDA toolkit root (default /usr/local/cuda)])],
    [CUDA_HOME="$withval"], [CUDA_HOME=/usr/local/cuda])
  have_cuda=no
  AS_IF([test "x$CUDA_HOME" != xno], [
    save_CPPFLAGS="$CPPFLAGS"
    CPPFLAGS="$CPPFLAGS -I$CUDA_HOME/include"
    AC_CHECK_HEADER([cuda.h], [have_cuda=yes], [have_cuda=no])
    CPPFLAGS="$save_CPPFLAGS"
  ])
  CUDA_CPPFLAGS="-I$CUDA_HOME/include"
  CUDA_LIBDIR="$CUDA_HOME/lib64"
  AC_PATH_PROG([NVCC], [nvcc], [], [$CUDA_HOME/bin:$PATH])
  AC_SUBST([CUDA_HOME])
  AC_SUBST([CUDA_CPPFLAGS])
  AC_SUBST([CUDA_LIBDIR])
  AM_CONDITIONAL([HAVE_CUDA], [test "x$have_cuda" = xyes])
  AM_CONDITIONAL([HAVE_NVCC], [test "x$NVCC" != x])
])
