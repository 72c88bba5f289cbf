import CMPI

/// An element type MPI can carry, with its predefined datatype: the collectives are written
/// once over it instead of once per type.
public protocol MPIDatatype {
    static var mpiDatatype: MPI_Datatype? { get }
}

extension Float: MPIDatatype { public static var mpiDatatype: MPI_Datatype? { mtl_mpi_float() } }
extension Double: MPIDatatype { public static var mpiDatatype: MPI_Datatype? { mtl_mpi_double() } }
extension UInt8: MPIDatatype { public static var mpiDatatype: MPI_Datatype? { mtl_mpi_byte() } }
extension UInt64: MPIDatatype { public static var mpiDatatype: MPI_Datatype? { mtl_mpi_uint64() } }
