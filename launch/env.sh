# Sourced by the scripts in launch/: the one place that sets how Open MPI is started here.
# - As root (containers, CI), Open MPI refuses to start unless told that is intended.
# - A plain local wrapper is enough on one machine; on a cluster, use its own mpirun or srun.
if [ "$(id -u)" = "0" ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Open MPI notices a lost host through TCP keepalive on its control connections; the defaults
# (300 s, then 9 probes 20 s apart) leave a job hanging for minutes. With these (4 s idle, then
# 3 probes 1 s apart) a cut link on launch/multihost-trials' simulated hosts is reported in about
# 5 s and the job has ended in about 9-10 s (4-5 s more with 5/2/3). A value already set is kept.
export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-4}
export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-1}
export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-3}
# Keep each rank to one OpenBLAS thread unless asked otherwise (ranks already use the cores).
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
MTL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export MTL_ROOT
