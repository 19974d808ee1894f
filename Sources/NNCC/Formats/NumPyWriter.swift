import Foundation

// The .npy writer lives with the compiler: it writes through AtomicFile, which removes its
// temporary file on Ctrl-C (Interrupt). The reader and `NumPy.encode` are in NNCCRuntime.
extension NumPy {
    /// Float32 data as '<f4' version 1.0, atomically.
    public static func write(_ t: Tensor, to path: String) throws {
        try FormatIO.checkConsistent(t.shape, t.data.count, file: path, path: nil)
        try AtomicFile.write(encode(.float(t)), to: path)
    }
}
