#ifndef MTL_CBLAS_SHIM_H
#define MTL_CBLAS_SHIM_H
#include <cblas.h>

/* LAPACK routines OpenBLAS exports (Fortran calling convention, column-major). Debian's
   libopenblas-dev ships no LAPACK header for them, so the two used are declared here. */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);
void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b, const int *ldb,
            int *info);
#endif
