// A Swift program using a model compiled ahead of time, through NNCCRuntime alone.
//
//   nncc compile examples/mlp.json -o out/mlp --batch 16
//   swift run nncc-swift-example out/mlp examples/mlp.safetensors examples/mlp_x.npy
//
// ModelLibrary(directory:) loads out/mlp/libmlp.so with dlopen (the folder's
// mlp.manifest.json names the model): no compiler, no gcc at run time. The
// library reads the weights file itself. predict runs every example, in chunks
// of the library's max batch. Prints each example's argmax; exit 1 on any error.
import Foundation
import NNCCRuntime

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("nncc-swift-example: error: \(message)\n".utf8))
    exit(1)
}

let args = Array(CommandLine.arguments.dropFirst())
guard args.count == 3 else {
    fail("expected 3 arguments, got \(args.count)\n"
        + "usage: nncc-swift-example DIR WEIGHTS.safetensors INPUTS.npy  (DIR: the folder `nncc compile -o DIR` wrote)")
}
let (directory, weightsPath, inputPath) = (args[0], args[1], args[2])

do {
    let library = try ModelLibrary(directory: directory)
    let context = try library.makeContext()
    try context.loadWeights(path: weightsPath)

    guard case let .float(x) = try NumPy.read(path: inputPath) else {
        throw NNCCError(file: inputPath, "expected float32 inputs, found an integer array")
    }
    guard x.shape.count >= 2, x.shape[0] >= 1, x.shape.dropFirst().reduce(1, *) == library.inputSize else {
        throw NNCCError(file: inputPath, "expected shape [N, ...] with \(library.inputSize) floats per example, found \(x.shape)")
    }
    let count = x.shape[0]

    let y = try context.predict(x.data, count: count)
    let classes = library.outputSize
    for e in 0..<count {
        let row = y[(e * classes)..<((e + 1) * classes)]
        let best = row.indices.max { row[$0] < row[$1] }! - e * classes
        print("example \(e): argmax \(best)")
    }
} catch {
    fail("\(error)")
}
