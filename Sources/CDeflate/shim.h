#ifndef MTL_CDEFLATE_SHIM_H
#define MTL_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
