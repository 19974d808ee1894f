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
        [try path(options.cc), "-shared"] + (options.threads > 1 ? ["-fopenmp"] : []) + ["-o", output] + objects + ["-lm"]
    }

    static func assembleArguments(source: String, output: String, options: GCCOptions) throws -> [String] {
        [try path(options.cc), "-c", "-o", output, source]
    }

    /// `ar rcs`: $NNCC_AR, else the compiler's own (`aarch64-linux-gnu-ar` beside `aarch64-linux-gnu-gcc`),
    /// else `ar` or `gcc-ar` on PATH.
    static func archiveArguments(objects: [String], output: String, options: GCCOptions) throws -> [String] {
        [try binutil("ar", options: options, also: ["gcc-ar"]), "rcs", output] + objects
    }

    /// A binutils program: $NNCC_<TOOL>, else the compiler's own (`aarch64-linux-gnu-ar` beside
    /// `aarch64-linux-gnu-gcc`), else `tool` or `also` on PATH.
    static func binutil(_ tool: String, options: GCCOptions, also: [String] = []) throws -> String {
        let variable = "NNCC_" + tool.uppercased()
        let env = ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        let compiler = URL(fileURLWithPath: try path(options.cc))
        let stem = compiler.lastPathComponent, triple = stem.range(of: "-", options: .backwards).map { String(stem[..<$0.upperBound]) }
        let own = triple.map { [compiler.deletingLastPathComponent().appendingPathComponent($0 + tool).path, $0 + tool] } ?? []
        guard let found = (env.map { [$0] } ?? own + [tool] + also).lazy.compactMap(which).first else {
            throw NNCCError("\(tool) not found: install binutils (apt-get install binutils) or set \(variable)")
        }
        return found
    }

    /// Runs a program nncc built and returns its exit status and output (the packer).
    static func runProgram(_ argv: [String]) throws -> (status: Int32, output: String) { try capture(argv) }
}
