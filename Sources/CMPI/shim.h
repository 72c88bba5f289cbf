// Open MPI defines its predefined handles as macros over addresses of globals,
// which Swift cannot import; these inline functions hand them over as values.
#ifndef MTL_CMPI_SHIM_H
#define MTL_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm mtl_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm mtl_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype mtl_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype mtl_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype mtl_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype mtl_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Op mtl_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op mtl_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op mtl_mpi_min(void) { return MPI_MIN; }
static inline void *mtl_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler mtl_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int mtl_mpi_success(void) { return MPI_SUCCESS; }
static inline int mtl_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int mtl_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline MPI_Request mtl_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *mtl_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *mtl_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
#endif
