// The command line only composes the modules: each subcommand is a file under Commands/.
selectBLASKernels()
MTLWorker.main()
