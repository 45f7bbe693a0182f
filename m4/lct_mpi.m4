# LCT_CHECK_MPI: Open MPI's mpicc and mpirun (simulated multi-rank runs).
AC_DEFUN([LCT_CHECK_MPI], [
  AC_PATH_PROG([MPICC], [mpicc], [])
  AC_PATH_PROG([MPIRUN], [mpirun], [])
  have_mpi=no
  AS_IF([test "x$MPICC" != x && test "x$MPIRUN" != x], [
    have_mpi=yes
    MPI_CFLAGS=`$MPICC --showme:compile`
    MPI_LIBS=`$MPICC --showme:link`
  ])
  AC_SUBST([MPI_CFLAGS])
  AC_SUBST([MPI_LIBS])
  AM_CONDITIONAL([HAVE_MPI], [test "x$have_mpi" = xyes])
])
