import Foundation
import CNNCCSpawn
#if canImport(Glibc)
import Glibc
#endif

public struct GCCOptions: Equatable, Sendable {
    public var target: Target = .native
    /// More than one thread compiles with OpenMP.
    public var threads: Int = 1
    /// Reference builds (the naive kernels tests compare with) compile at -O0: they are
    /// the oracle, their speed does not matter, and gcc takes half the time.
    public var reference = false
    /// The C compiler (`--cc`); nil: $NNCC_CC, else gcc (Compiler.find).
    public var cc: String?
    /// gcc's optimization level, 0...3 (`--opt-level`); nil: $NNCC_OPT_LEVEL, else 3. Reference builds are -O0.
    public var optLevel: Int?
    /// gcc processes compiling the library in parallel (GCC.partCount); nil: $NNCC_PARTS, else automatic.
    public var parts: Int?

    public init(target: Target = .native, threads: Int = 1, reference: Bool = false, cc: String? = nil, optLevel: Int? = nil,
                parts: Int? = nil) {
        self.target = target
        self.threads = threads
        self.reference = reference
        self.cc = cc
        self.optLevel = optLevel
        self.parts = parts
    }

    /// The level this build compiles at: the option, else $NNCC_OPT_LEVEL, else 3.
    public func resolvedOptLevel() throws -> Int {
        if reference { return 0 }
        return try optLevel ?? GCCOptions.environmentOptLevel() ?? 3
    }

    /// $NNCC_OPT_LEVEL, nil when unset; anything but 0...3 is an error naming it.
    public static func environmentOptLevel() throws -> Int? {
        guard let text = ProcessInfo.processInfo.environment["NNCC_OPT_LEVEL"], !text.isEmpty else { return nil }
        guard let level = Int(text), optLevels.contains(level) else {
            throw NNCCError("NNCC_OPT_LEVEL=\(text): the optimization level must be 0, 1, 2 or 3")
        }
        return level
    }

    public static let optLevels = 0...3
}

/// The C toolchain: building argv and running the compiler (gcc or clang, see
/// Compiler). Processes are always spawned directly (never via a shell), so
/// paths with spaces or metacharacters are passed through verbatim.
public enum GCC {
    /// Path of the C compiler `cc` names, else $NNCC_CC's, else gcc (or cc) on PATH.
    public static func path(_ cc: String? = nil) throws -> String { try Compiler.find(cc).path }

    /// argv compiling one C file into a shared object.
    public static func sharedObjectArguments(source: String, output: String, options: GCCOptions) throws -> [String] {
        let compiler = try Compiler.find(options.cc)
        try compiler.requireBuilds(options.target)
        var argv = [compiler.path, "-std=c11"] + compiler.optimizationFlags(level: try options.resolvedOptLevel()) + compiler.tuningFlags
        argv += compiler.targetFlags(options.target)
        // ISO mode turns FMA contraction off; the kernels want it.
        argv += ["-ffp-contract=fast", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror"]
        if options.threads > 1 { argv.append("-fopenmp") }
        argv += ["-o", output, source, "-lm"]
        return argv
    }

    /// Runs argv (argv[0] is the compiler) and throws gcc's own diagnostics
    /// on failure, attributed to the first `.c` argument.
    public static func run(_ argv: [String]) throws {
        let source = argv.dropFirst().last { $0.hasSuffix(".c") }
        let result: (status: Int32, output: String)
        do {
            result = try capture(argv)
        } catch let e as NNCCError {
            throw NNCCError(file: source, e.message)
        }
        guard result.status != 0 else { return }
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        var text = lines.prefix(40).joined(separator: "\n")
        if lines.count > 40 { text += "\n... (\(lines.count - 40) more lines)" }
        let name = argv.first.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "the C compiler"
        throw NNCCError(file: source, "\(name) failed (exit \(result.status)):\n\(text)")
    }

    /// Spawns argv directly and returns its exit status and stdout+stderr.
    /// The child runs under a watcher that kills it, and everything it
    /// started, when nncc dies (Ctrl-C, `timeout`, SIGKILL).
    static func capture(_ argv: [String]) throws -> (status: Int32, output: String) {
        guard let exe = argv.first, let exePath = which(exe) else {
            throw NNCCError("cannot start \(argv.first ?? "<empty argv>"): not found")
        }
        // Every allocation happens before the fork: the C side only forks and execs.
        var cArgs: [UnsafeMutablePointer<CChar>?] = ([exePath] + argv.dropFirst()).map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var child = nncc_child()
        let err = nncc_spawn_watched(exePath, &cArgs, environ, &child)
        guard err == 0 else {
            throw NNCCError("cannot start \(exePath): \(String(cString: strerror(err)))")
        }
        let done = Interrupt.track(watcher: child.pid, lifeline: child.life)
        // Drain before waiting: a full pipe would otherwise block gcc forever.
        let data = FileHandle(fileDescriptor: child.output, closeOnDealloc: true).readDataToEndOfFile()
        var status: Int32 = 0
        while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
        done()
        // The watcher exits with the program's status (128 + signal when it was killed).
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, String(decoding: data, as: UTF8.self))
    }

    /// Resolves a command name like the shell would: names with a slash are
    /// taken as paths, others are searched on PATH.
    static func which(_ name: String) -> String? {
        let fm = FileManager.default
        if name.contains("/") {
            return fm.isExecutableFile(atPath: name) ? name : nil
        }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
            .split(separator: ":").map(String.init)
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + name
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
               fm.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }
}
