# Sourced by the scripts in launch/: the one place that sets how Open MPI is started here.
# - As root (containers, CI), Open MPI refuses to start unless told that is intended.
# - A plain local wrapper is enough on one machine; on a cluster, use its own mpirun or srun.
if [ "$(id -u)" = "0" ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Keep each rank to one OpenBLAS thread unless asked otherwise (ranks already use the cores).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
MTL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MTL_ROOT
