// A Swift program using a compiled model through NNCCRuntime.
//
//   swift run nncc-swift-example examples/mlp.json examples/mlp_x.npy
//
// Session(modelPath:) compiles the model (or reuses the library cached under
// $NNCC_CACHE, default ~/.cache/nncc), loads it with dlopen and sets the
// weights the model names. predict runs every example, in chunks of the
// library's max batch. Prints each example's argmax; exit 1 on any error.
import Foundation
import NNCC  // NumPy reader; NNCCRuntime builds on the NNCC library
import NNCCRuntime

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("nncc-swift-example: error: \(message)\n".utf8))
    exit(1)
}

let args = CommandLine.arguments.dropFirst()
guard args.count == 2 else {
    fail("expected 2 arguments, got \(args.count)\nusage: nncc-swift-example MODEL.json INPUTS.npy")
}
let (modelPath, inputPath) = (args[args.startIndex], args[args.startIndex + 1])

do {
    let session = try Session(modelPath: modelPath)

    guard case let .float(x) = try NumPy.read(path: inputPath) else {
        throw NNCCError(file: inputPath, "expected float32 inputs, found an integer array")
    }
    let inputShape = session.model.graph.input.shape
    let perExample = session.library.inputSize
    guard x.shape.count >= 2, Array(x.shape.dropFirst()).reduce(1, *) == perExample, x.shape[0] >= 1 else {
        throw NNCCError(file: inputPath, "expected shape [N, \(inputShape.map(String.init).joined(separator: ", "))], found \(x.shape)")
    }
    let count = x.shape[0]

    let y = try session.predict(x.data, count: count)
    let classes = session.library.outputSize
    for e in 0..<count {
        let row = y[(e * classes)..<((e + 1) * classes)]
        let best = row.indices.max { row[$0] < row[$1] }! - e * classes
        print("example \(e): argmax \(best)")
    }
} catch {
    fail("\(error)")
}
