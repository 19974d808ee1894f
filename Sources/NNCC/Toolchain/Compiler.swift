import Foundation

/// The C compiler nncc runs, and the one place that knows how the compilers
/// differ. It is `--cc` (CompileOptions.cc), else $NNCC_CC, else the first
/// `gcc`, then `cc`, on PATH. Its family (gcc or clang) and major version come
/// from its predefined macros, read once per path; its `--version` text and
/// its path are its identity, part of the build cache key and of the manifest.
public struct Compiler: Sendable, Equatable {
    public enum Family: String, Sendable { case gcc, clang }

    public let path: String
    public let family: Family
    /// `--version`'s whole output.
    public let versionText: String
    /// The major version: __GNUC__ (12 for gcc 12.2.0) or __clang_major__.
    public let major: Int
    /// The architecture it builds for, from its predefined macros: "x86-64", "aarch64",
    /// or nil for another one.
    public var architecture: String? = nil

    /// `--version`'s first line: "gcc (Debian 12.2.0-14) 12.2.0", "Debian clang version 14.0.6".
    public var versionLine: String { versionText.split(separator: "\n").first.map(String.init) ?? "" }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var known: [String: Compiler] = [:]

    /// The compiler `requested` names (a path, or a command on PATH), else $NNCC_CC's, else gcc or cc.
    /// A missing or non-executable compiler, or one that is neither gcc nor clang, is an error naming it.
    public static func find(_ requested: String? = nil) throws -> Compiler {
        let path = try locate(requested)
        lock.lock()
        let memo = known[path]
        lock.unlock()
        if let memo { return memo }
        let compiler = try identify(path)
        lock.lock()
        known[path] = compiler
        lock.unlock()
        return compiler
    }

    static func locate(_ requested: String?) throws -> String {
        if let requested {
            return try named(requested, as: "--cc \(requested)", hint: "give --cc the path of gcc or clang")
        }
        if let cc = ProcessInfo.processInfo.environment["NNCC_CC"], !cc.isEmpty {
            return try named(cc, as: "NNCC_CC=\(cc)", hint: "set NNCC_CC (or --cc) to gcc or clang")
        }
        for name in ["gcc", "cc"] {
            if let found = GCC.which(name) { return found }
        }
        throw NNCCError("C compiler not found: no gcc or cc on PATH; install gcc (apt-get install gcc), "
            + "or name a compiler with --cc or NNCC_CC")
    }

    /// The executable `name` stands for, or an error that says which option named it and why it cannot run.
    private static func named(_ name: String, as source: String, hint: String) throws -> String {
        if let found = GCC.which(name) { return found }
        let why: String
        if !name.contains("/") {
            why = "no such command on PATH"
        } else if FileManager.default.fileExists(atPath: name) {
            why = "not an executable file"
        } else {
            why = "no such file"
        }
        throw NNCCError("C compiler not found: \(source): \(why); \(hint)")
    }

    /// Asks the compiler what it is: its predefined macros give the family and the major
    /// version (`--version` texts vary, and GNU tools all name the FSF), `--version` the identity.
    static func identify(_ path: String) throws -> Compiler {
        let macros = try ask(path, ["-dM", "-E", "-x", "c", "/dev/null"])
        guard let family = family(macros) else {
            throw NNCCError("\(path) is neither gcc nor clang (it defines neither __GNUC__ nor __clang__); "
                + "nncc runs gcc or clang")
        }
        let major = macro(family == .clang ? "__clang_major__" : "__GNUC__", in: macros).flatMap { Int($0) } ?? 0
        let architecture = macro("__aarch64__", in: macros) != nil ? "aarch64"
            : macro("__x86_64__", in: macros) != nil ? "x86-64" : nil
        return Compiler(path: path, family: family, versionText: try ask(path, ["--version"]), major: major,
                        architecture: architecture)
    }

    /// The compiler's output for `arguments`, or an error naming it.
    private static func ask(_ path: String, _ arguments: [String]) throws -> String {
        let result: (status: Int32, output: String)
        do {
            result = try GCC.capture([path] + arguments)
        } catch let e as NNCCError {
            throw NNCCError("cannot run the C compiler \(path): \(e.message)")
        }
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, !text.isEmpty else {
            throw NNCCError("\(path) is not a C compiler nncc can run: `\(path) \(arguments.joined(separator: " "))` "
                + "exited with \(result.status)" + (text.isEmpty ? "" : ": \(text.prefix(200))"))
        }
        return text
    }

    /// clang defines __clang__ (and __GNUC__ too); gcc only __GNUC__.
    static func family(_ macros: String) -> Family? {
        if macro("__clang__", in: macros) != nil { return .clang }
        if macro("__GNUC__", in: macros) != nil { return .gcc }
        return nil
    }

    /// The value of `#define NAME value` in `-dM -E` output.
    static func macro(_ name: String, in macros: String) -> String? {
        let prefix = "#define \(name) "
        return macros.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    // MARK: Flags

    /// `-O<level>`. gcc contracts `a * b + c` into an FMA only with -fexpensive-optimizations,
    /// which -O2 turns on: -O1 gets it too, so a quick build (about half of -O3's compile time)
    /// rounds like the full one. clang contracts at every level and does not know the flag.
    func optimizationFlags(level: Int) -> [String] {
        family == .gcc && level == 1 ? ["-O1", "-fexpensive-optimizations"] : ["-O\(level)"]
    }

    /// The family's own optimization flags, on top of the shared ones (GCC.sharedObjectArguments).
    /// gcc: predictive commoning would carry input pixels across a conv tile's unrolled taps in
    /// scalar registers, spilling them (lenet5's conv2 1.1× slower); and no libc calls for the
    /// kernels' short copy loops (gcc would make them memcpy/memset). clang has no predictive
    /// commoning, and its loop-idiom switch is an internal `-mllvm` option, so it gets none.
    var tuningFlags: [String] {
        switch family {
        case .gcc: return ["-fno-predictive-commoning", "-fno-tree-loop-distribute-patterns"]
        case .clang: return []
        }
    }

    /// The target's flags for this compiler: gcc before 11 does not know `-march=x86-64-vN`
    /// and gets the level as its instruction sets (the same predefined macros). On aarch64
    /// gcc's first scheduling pass hoists the 8×12 micro-kernel's eight loads of A above its
    /// FMAs, and the 35 live vectors spill two accumulators in every step (seen in the
    /// disassembly, gcc 12; clang keeps them all in registers): gcc schedules after
    /// register allocation only.
    public func targetFlags(_ target: Target) -> [String] {
        let flags = family == .gcc && major < 11 ? target.instructionSetFlags : target.compilerFlags
        return family == .gcc && target.resolved == .aarch64 ? flags + ["-fno-schedule-insns"] : flags
    }

    /// Stops before compiling when the compiler builds for another architecture than the
    /// target's (it would fail on -march, or at the C's #error, with less to go on).
    public func requireBuilds(_ target: Target) throws {
        guard let have = architecture, let want = target.architecture, have != want else { return }
        let fix = want == "aarch64" ? "name an aarch64 compiler with --cc (on x86-64: aarch64-linux-gnu-gcc)"
            : "give --target \(have) to build for it"
        throw NNCCError(path: "--target", "\(target.label) is \(want) code, and the C compiler \(path) builds \(have) code; \(fix)")
    }
}
