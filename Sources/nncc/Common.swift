import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

/// The check command's mismatch: exit 1 with the worst element.
struct CheckFailed: Error { let message: String }

/// Bad usage found once the command runs: exit 2, the message without the usage text.
struct UsageError: Error { let message: String }

/// The machine the kernels are built for.
struct MachineFlags: ParsableArguments {
    @Option(help: ArgumentHelp("native (the best of the others this CPU runs), x86-64-v4 (AVX-512), x86-64-v3 (AVX2, FMA), x86-64-v2 (SSE4.2), aarch64 (NEON; from x86-64 with --cc aarch64-linux-gnu-gcc) or portable (no -march).",
                               valueName: "target")) var target: Target = .native
    @Option(help: "OpenMP threads for the kernels.") var threads: Int = 1
    @Option(help: ArgumentHelp("C compiler, gcc or clang: a path or a command on PATH (default: $NNCC_CC, else gcc).",
                               valueName: "path")) var cc: String?
    @Option(help: ArgumentHelp("The C compiler's optimization level, 0 to 3 (default: $NNCC_OPT_LEVEL, else 3). 1 compiles in about half the time; the library runs slower.",
                               valueName: "n")) var optLevel: Int?

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        if cc?.isEmpty == true { throw ValidationError("--cc must name a C compiler") }
        if let optLevel, !GCCOptions.optLevels.contains(optLevel) { throw ValidationError("--opt-level must be 0, 1, 2 or 3") }
    }

    /// The options of a library built for this machine. A bad $NNCC_OPT_LEVEL stops here, before any output.
    func compileOptions(maxBatch: Int?, train: Bool = false, name: String? = nil) throws -> CompileOptions {
        var o = CompileOptions(maxBatch: maxBatch, train: train, target: target, threads: threads, name: name, cc: cc)
        o.optLevel = try optLevel ?? GCCOptions.environmentOptLevel()
        return o
    }

    /// Commands that load the library need a CPU that runs the target (else illegal instructions).
    func requireRunnable() throws {
        if let flag = target.missingOnHost {
            let cross = target.resolved == .aarch64 ? " --cc aarch64-linux-gnu-gcc" : ""
            let why = ["aarch64", "x86-64"].contains(flag) ? "it is not an \(flag) CPU" : "it lacks \(flag)"
            throw NNCCError(path: "--target", "this CPU cannot run \(target.rawValue) code (\(why)); "
                + "`nncc compile --target \(target.rawValue)\(cross)` builds it for another machine")
        }
    }
}

/// A command's `--batch` default, shown in its `--help`.
protocol BatchDefault {
    /// nil: the pipeline's rule, 1, or with --train the model's train.batch_size.
    static var batch: Int? { get }
    static var help: String { get }
}

/// compile, ir and bench: the smallest library.
enum CompileBatch: BatchDefault {
    static let batch: Int? = nil
    static let help = "1; with --train, the model's train.batch_size"
}

/// run and check: large enough to amortize calls, one shared cache entry.
enum RunBatch: BatchDefault {
    static let batch: Int? = defaultRunBatch
    static let help = "\(defaultRunBatch)"
}

/// Options every command that builds a library shares.
struct BuildFlags<Default: BatchDefault>: ParsableArguments {
    @Option(help: "Largest batch the library accepts (default: \(Default.help)).") var batch: Int?
    @OptionGroup var machine: MachineFlags

    func validate() throws {
        if let b = batch, !(1...Limits.batch).contains(b) { throw ValidationError("--batch must be in 1...\(Limits.batch)") }
    }

    /// `loads`: the command loads the library into this process (run, check, bench).
    func options(train: Bool = false, name: String? = nil, loads: Bool = false) throws -> CompileOptions {
        try validate()
        try machine.validate()
        if loads { try machine.requireRunnable() }
        return try machine.compileOptions(maxBatch: batch ?? Default.batch, train: train, name: name)
    }
}

extension Target: ExpressibleByArgument {}
extension Stage: ExpressibleByArgument {}

/// `--name` is checked like the model's own name, as a usage error (exit 2).
func validateNameOption(_ name: String) throws {
    do {
        try ModelDecoder.validateName(name) { NNCCError(path: "--name", $0) }
    } catch let e as NNCCError {
        throw ValidationError(e.description)
    }
}

/// Reads an input .npy and checks it holds whole examples of the model's input shape.
func readInputs(_ path: String, model: LoadedModel) throws -> (data: [Float], count: Int) {
    let array = try NumPy.read(path: path)
    guard case let .float(t) = array else {
        throw NNCCError(file: path, "expected float32 inputs, found an integer array")
    }
    let shape = model.graph.input.shape, per = shape.reduce(1, *)
    let fits = t.shape.count == shape.count + 1 && Array(t.shape.dropFirst()) == shape
    // [N, per], or [N] when an example is one value (an ONNX model's rank-1 input).
    let flat = (t.shape.count == 2 && t.shape[1] == per) || (t.shape.count == 1 && per == 1)
    guard (fits || flat), let n = t.shape.first, n > 0 else {
        throw NNCCError(file: path, "expected shape [N, \(shape.map(String.init).joined(separator: ", "))] "
            + "(examples of the model's input \(shape)), found \(t.shape)")
    }
    return (t.data, n)
}

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// The default batch of run, check and eval: large enough to amortize calls, one shared cache entry.
let defaultRunBatch = 64

/// run, check and eval say so when the model's parameters are the seeded initialisation: outputs of
/// weights nobody gave look like results.
func warnIfSeededWeights(_ session: Session) {
    guard session.weightsSource == nil, !session.model.graph.params.isEmpty else { return }
    printErr("warning: no weights given (no --weights, and \(session.model.path) names no \"weights\"): the parameters "
        + "are the seeded initialisation (seed \(session.model.graph.seed)), not trained values")
}

/// `--force`, and the check each command that writes files makes before any
/// work: no output may replace an input of the same command, or another
/// output. Files are compared by device and inode when they exist, else by
/// resolved path, so symlinks and `./x` spellings are caught. Exit 2.
struct OverwriteFlags: ParsableArguments {
    @Flag(help: "Write outputs even over an input of this command or another output.") var force = false

    /// `inputs` and `outputs` pair an option's name with its path (nil when not given).
    func check(inputs: [(option: String, path: String?)], outputs: [(option: String, path: String?)]) throws {
        guard !force else { return }
        var taken = inputs.compactMap { i in i.path.map { (option: i.option, path: $0, id: FileID($0)) } }
        for o in outputs {
            guard let path = o.path else { continue }
            let id = FileID(path)
            if let clash = taken.first(where: { $0.id == id }) {
                throw UsageError(message: "\(o.option) \(path) would overwrite \(clash.option) \(clash.path)"
                    + (clash.path == path ? "" : " (the same file)") + "; use --force to write it anyway")
            }
            taken.append((o.option, path, id))
        }
    }
}

/// A file's identity: device and inode when it exists, else its path with the folder resolved.
enum FileID: Equatable {
    case inode(UInt64, UInt64)
    case path(String)

    init(_ path: String) {
        // `a/missing/../x` is written as `a/x` (the folder is created first), so normalize before looking.
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let resolved = url.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(url.lastPathComponent).path
        var st = stat()
        if stat(path, &st) == 0 || stat(resolved, &st) == 0 {
            self = .inode(UInt64(st.st_dev), UInt64(st.st_ino))
        } else {
            self = .path(resolved)
        }
    }
}
