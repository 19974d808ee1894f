import Foundation
import NNCC

/// The readers under fuzz. Each runs one input the way the CLI reads that kind of file.
/// A thrown NNCCError naming the file is the expected outcome for a bad input; a trap, an
/// ASan report, a leak, a hang or any other error is a finding.
enum FuzzTarget: String, CaseIterable {
    /// JSON model → typed layers → IR → shape inference → the passes and memory planning
    /// (`nncc ir --stage planned`, and `--stage training` for the training passes); no gcc.
    case json
    case safetensors
    case npy
    case npz
    /// ONNX protobuf → IR (with shape inference) → the passes and memory planning.
    case onnx

    var file: String { "fuzz-input.\(rawValue)" }

    static let parameters: [(name: String, shape: [Int])] = [("w", [2, 3]), ("b", [3]), ("s", []), ("c", [1, 1, 2, 2])]

    func run(_ data: Data) throws {
        switch self {
        case .json:
            let decoded = try ModelDecoder.decode(data, file: file)
            let graph = try inferShapes(decoded.graph, file: file)
            try lower(graph, train: false)
            try lower(graph, train: true)
        case .safetensors:
            // The general reader, and the weights rules of `--weights` against a small table (one of each rank).
            let weights = Result { try WeightsFile.parse(data, file: file, parameters: Self.parameters, model: "fuzz") }
            _ = try SafeTensors.parse(data, file: file)
            _ = try weights.get()
        case .npy: _ = try NumPy.parse(data, file: file)
        case .npz: _ = try Npz.parse(data, file: file)
        case .onnx:
            let imported = try ONNXImporter.decode(data, file: file, name: "fuzz")
            try lower(imported.graph, train: false)
        }
    }

    /// The passes up to memory planning, as `nncc ir` runs them, and the IR printout.
    private func lower(_ graph: Graph, train: Bool) throws {
        do {
            _ = printIR(try Pipeline.lower(graph, options: CompileOptions(train: train)))
        } catch let e as NNCCError { throw e.inFile(file) }
    }

    /// One input: returns normally unless the input broke a rule (then traps, so libFuzzer saves it).
    func check(_ data: Data) {
        do {
            try run(data)
        } catch let e as NNCCError {
            // Every user error names the file it is about.
            if e.file != file { fatalError("\(rawValue): error without the file name: \(e)") }
        } catch {
            fatalError("\(rawValue): an error other than NNCCError escaped: \(error)")
        }
    }

    /// NNCC_FUZZ_TARGET names the target (libFuzzer owns the command line).
    static func fromEnvironment() -> FuzzTarget {
        let name = ProcessInfo.processInfo.environment["NNCC_FUZZ_TARGET"] ?? ""
        guard let t = FuzzTarget(rawValue: name) else {
            let all = allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("nncc-fuzz: set NNCC_FUZZ_TARGET to one of: \(all)\n".utf8))
            exit(2)
        }
        return t
    }
}

private let target = FuzzTarget.fromEnvironment()

/// libFuzzer's entry point, called for every input (the fuzz build links libFuzzer's main).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    target.check(data)
    return 0
}

#if !FUZZING
/// Without libFuzzer (`swift build`): replays files and folders of inputs through the target,
/// so corpora and crash reproducers can be rerun in a debug build.
@main
enum Replay {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("usage: NNCC_FUZZ_TARGET=T nncc-fuzz FILE_OR_DIR...\n".utf8))
            exit(2)
        }
        var count = 0
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                FileHandle.standardError.write(Data("nncc-fuzz: \(path): not found\n".utf8))
                exit(2)
            }
            let files = isDir.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.check(data)
                count += 1
            }
        }
        print("\(target.rawValue): \(count) inputs, no failure")
    }
}
#endif
