import Foundation

/// The argv of the builds `nncc compile` adds to the shared object (Driver/Packaging.swift):
/// NAME.c compiled once to an object that both libNAME.so and libNAME.a hold, the weights
/// image assembled, and the packer program that lays out weights for --embed-weights.
/// Each derives from `sharedObjectArguments`, so the flags stay those of the cached library.
extension GCC {
    /// NAME.c to a position-independent object, with the shared object's flags.
    static func objectArguments(source: String, output: String, options: GCCOptions) throws -> [String] {
        try sharedObjectArguments(source: source, output: output, options: options)
            .filter { $0 != "-lm" }.map { $0 == "-shared" ? "-c" : $0 }
    }

    /// A program from one C file (the packer), with the library's flags.
    static func executableArguments(source: String, output: String, options: GCCOptions) throws -> [String] {
        try sharedObjectArguments(source: source, output: output, options: options).filter { $0 != "-shared" && $0 != "-fPIC" }
    }

    static func linkSharedArguments(objects: [String], output: String, options: GCCOptions) throws -> [String] {
        [try path(), "-shared"] + (options.threads > 1 ? ["-fopenmp"] : []) + ["-o", output] + objects + ["-lm"]
    }

    static func assembleArguments(source: String, output: String) throws -> [String] {
        [try path(), "-c", "-o", output, source]
    }

    /// `ar rcs`: $NNCC_AR, else `gcc-ar` or `ar` on PATH.
    static func archiveArguments(objects: [String], output: String) throws -> [String] {
        let env = ProcessInfo.processInfo.environment["NNCC_AR"].flatMap { $0.isEmpty ? nil : $0 }
        guard let ar = (env.map { [$0] } ?? ["ar", "gcc-ar"]).lazy.compactMap(which).first else {
            throw NNCCError("ar not found: install binutils (apt-get install binutils) or set NNCC_AR")
        }
        return [ar, "rcs", output] + objects
    }

    /// Runs a program nncc built and returns its exit status and output (the packer).
    static func runProgram(_ argv: [String]) throws -> (status: Int32, output: String) { try capture(argv) }
}
