#ifndef MTL_CBLAS_SHIM_H
#define MTL_CBLAS_SHIM_H
#include <cblas.h>
#endif
