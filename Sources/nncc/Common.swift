import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

/// The check command's mismatch: exit 1 with the worst element.
struct CheckFailed: Error { let message: String }

/// The machine the kernels are built for.
struct MachineFlags: ParsableArguments {
    @Option(help: "native (-march=native) or portable.") var target: Target = .native
    @Option(help: "OpenMP threads for the kernels.") var threads: Int = 1

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
    }
}

/// Options every command that builds a library shares.
struct BuildFlags: ParsableArguments {
    @Option(help: "Largest batch the library accepts.") var batch: Int?
    @OptionGroup var machine: MachineFlags

    func validate() throws {
        if let b = batch, !(1...Limits.batch).contains(b) { throw ValidationError("--batch must be in 1...\(Limits.batch)") }
    }

    func options(train: Bool = false, defaultBatch: Int? = nil, name: String? = nil) throws -> CompileOptions {
        try validate()
        try machine.validate()
        return CompileOptions(maxBatch: batch ?? defaultBatch, train: train, target: machine.target,
                              threads: machine.threads, name: name)
    }
}

extension Target: ExpressibleByArgument {}
extension Stage: ExpressibleByArgument {}

/// Reads an input .npy and checks it holds whole examples of the model's input shape.
func readInputs(_ path: String, model: LoadedModel) throws -> (data: [Float], count: Int) {
    let array = try NumPy.read(path: path)
    guard case let .float(t) = array else {
        throw NNCCError(file: path, "expected float32 inputs, found an integer array")
    }
    let shape = model.graph.input.shape, per = shape.reduce(1, *)
    let fits = t.shape.count == shape.count + 1 && Array(t.shape.dropFirst()) == shape
    let flat = t.shape.count == 2 && t.shape[1] == per
    guard (fits || flat), let n = t.shape.first, n > 0 else {
        throw NNCCError(file: path, "expected shape [N, \(shape.map(String.init).joined(separator: ", "))] "
            + "(examples of the model's input \(shape)), found \(t.shape)")
    }
    return (t.data, n)
}

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// The default batch of run/check: large enough to amortize calls, one shared cache entry.
let defaultRunBatch = 64
