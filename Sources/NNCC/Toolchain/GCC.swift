import Foundation
import CNNCCSpawn
#if canImport(Glibc)
import Glibc
#endif

public struct GCCOptions: Equatable, Sendable {
    public var target: Target = .native
    /// More than one thread compiles with OpenMP.
    public var threads: Int = 1
    /// Reference builds (the naive kernels tests compare with) compile at -O1: they are
    /// the oracle, their speed does not matter, and gcc takes half the time.
    public var reference = false

    public init(target: Target = .native, threads: Int = 1, reference: Bool = false) {
        self.target = target
        self.threads = threads
        self.reference = reference
    }
}

/// The C toolchain: locating gcc, building argv and running it. Processes are
/// always spawned directly (never via a shell), so paths with spaces or
/// metacharacters are passed through verbatim.
public enum GCC {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var versions: [String: String] = [:]

    /// Path of gcc: $NNCC_CC if set, else the first `gcc` on PATH, else `cc`.
    public static func path() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let cc = env["NNCC_CC"], !cc.isEmpty {
            if let found = which(cc) { return found }
            throw NNCCError("gcc not found: NNCC_CC=\(cc) is not an executable; install gcc (apt-get install gcc) or set NNCC_CC")
        }
        for name in ["gcc", "cc"] {
            if let found = which(name) { return found }
        }
        throw NNCCError("gcc not found: install gcc (apt-get install gcc) or set NNCC_CC")
    }

    /// `gcc -dumpfullversion`, memoized per compiler path (part of the cache key).
    public static func version() throws -> String {
        let cc = try path()
        lock.lock()
        let cached = versions[cc]
        lock.unlock()
        if let cached { return cached }
        // Compilers without -dumpfullversion (clang as `cc`) still answer -dumpversion.
        var result = try? capture([cc, "-dumpfullversion"])
        if result == nil || result!.status != 0 { result = try capture([cc, "-dumpversion"]) }
        guard let r = result, r.status == 0 else {
            throw NNCCError("cannot get the version of \(cc): \(result?.output ?? "")")
        }
        let v = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        lock.lock()
        versions[cc] = v
        lock.unlock()
        return v
    }

    /// argv compiling one C file into a shared object.
    public static func sharedObjectArguments(source: String, output: String, options: GCCOptions) throws -> [String] {
        // Predictive commoning would carry input pixels across a conv tile's
        // unrolled taps in scalar registers, spilling them (lenet5's conv2 1.1× slower).
        var argv = [try path(), "-std=c11", options.reference ? "-O0" : "-O3", "-fno-predictive-commoning"]
        argv += options.target.compilerFlags
        // ISO mode turns FMA contraction off; the kernels want it.
        // No libc calls for the kernels' short copy loops (gcc would make them memcpy/memset).
        argv += ["-ffp-contract=fast", "-fno-tree-loop-distribute-patterns", "-fPIC", "-shared",
                 "-Wall", "-Wextra", "-Werror"]
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
        throw NNCCError(file: source, "gcc failed (exit \(result.status)):\n\(text)")
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
