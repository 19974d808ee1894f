import Foundation

/// The C compiler nncc runs, and the one place that knows how the compilers
/// differ. It is `--cc` (CompileOptions.cc), else $NNCC_CC, else the first
/// `gcc`, then `cc`, on PATH. Its family (gcc or clang) comes from its
/// `--version`, read once per path; that text and the path are its identity,
/// part of the build cache key and of the manifest.
public struct Compiler: Sendable, Equatable {
    public enum Family: String, Sendable { case gcc, clang }

    public let path: String
    public let family: Family
    /// `--version`'s whole output.
    public let versionText: String
    /// The major version (12 for gcc 12.2.0), 0 when `--version` shows none.
    public let major: Int

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

    /// Runs `path --version` and reads the family and the major version from it.
    static func identify(_ path: String) throws -> Compiler {
        let result: (status: Int32, output: String)
        do {
            result = try GCC.capture([path, "--version"])
        } catch let e as NNCCError {
            throw NNCCError("cannot run the C compiler \(path): \(e.message)")
        }
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, !text.isEmpty else {
            throw NNCCError("cannot get the version of the C compiler \(path): `--version` exited with \(result.status)")
        }
        guard let family = family(text) else {
            let first = text.split(separator: "\n").first.map(String.init) ?? text
            throw NNCCError("\(path) is neither gcc nor clang (its --version says \"\(first)\"); nncc runs gcc or clang")
        }
        return Compiler(path: path, family: family, versionText: text, major: majorVersion(text))
    }

    /// clang says so (also "Apple clang", "Debian clang"); gcc and its cross builds
    /// (`aarch64-linux-gnu-gcc`) name the FSF, or themselves as gcc / cc.
    static func family(_ versionText: String) -> Family? {
        let first = (versionText.split(separator: "\n").first.map(String.init) ?? "").lowercased()
        if first.contains("clang") { return .clang }
        if versionText.contains("Free Software Foundation") || first.contains("gcc") { return .gcc }
        return nil
    }

    /// The number after "version", else the first "N.M" of the first line.
    static func majorVersion(_ versionText: String) -> Int {
        let first = versionText.split(separator: "\n").first.map(String.init) ?? ""
        let tail = first.range(of: "version ").map { String(first[$0.upperBound...]) } ?? first
        let digits = tail.split(whereSeparator: { !$0.isNumber && $0 != "." }).first { $0.contains(".") }
        return digits.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
    }

    // MARK: Flags

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
}
