#ifndef MTL_CZLIB_SHIM_H
#define MTL_CZLIB_SHIM_H
#include <zlib.h>
#endif
