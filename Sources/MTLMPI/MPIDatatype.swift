import CMPI

/// An element type MPI can carry, with its predefined datatype: the collectives are written
/// once over it instead of once per type.
public protocol MPIDatatype {
    static var mpiDatatype: MPI_Datatype? { get }
    /// The type's name in error messages.
    static var mpiName: String { get }
}

extension Float: MPIDatatype {
    public static var mpiDatatype: MPI_Datatype? { mtl_mpi_float() }
    public static var mpiName: String { "float" }
}

extension Double: MPIDatatype {
    public static var mpiDatatype: MPI_Datatype? { mtl_mpi_double() }
    public static var mpiName: String { "double" }
}

extension UInt8: MPIDatatype {
    public static var mpiDatatype: MPI_Datatype? { mtl_mpi_byte() }
    public static var mpiName: String { "byte" }
}

extension UInt64: MPIDatatype {
    public static var mpiDatatype: MPI_Datatype? { mtl_mpi_uint64() }
    public static var mpiName: String { "uint64" }
}
