import ArgumentParser
import Foundation
import NNCC
import NNCCRuntime

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run inference on every example of an .npy file.")
    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(help: "Inputs (.npy, float32, [N, ...input shape]).") var input: String
    @Option(help: "Weights (.safetensors); default: the file the model names, else the seed's init (with a warning).") var weights: String?
    @Option(help: "Write the outputs here (.npy; .npz writes every output); default: print them.") var output: String?
    @OptionGroup var build: BuildFlags<RunBatch>
    @OptionGroup var custom: CustomOpFlags
    @OptionGroup var overwrite: OverwriteFlags

    func run() throws {
        try overwrite.check(inputs: [("the model", model), ("--input", input), ("--weights", weights)],
                            outputs: [("--output", output)])
        let session = try Session(model: try custom.load(model), weights: weights, options: try build.options(loads: true))
        warnIfSeededWeights(session)
        let (x, n) = try readInputs(input, model: session.model)
        let ys = try session.predictAll(x, count: n)
        let g = session.products.graph
        if let output {
            if output.hasSuffix(".npz") {
                try Npz.write(g.outputs.enumerated().map { j, o in
                    (g.outputNames.indices.contains(j) ? g.outputNames[j] : g.nodes[o].name,
                     .float(Tensor(shape: [n] + g.nodes[o].shape, data: ys[j])))
                }, to: output)
            } else {
                try NumPy.write(Tensor(shape: [n] + session.outputShape(), data: ys[0]), to: output)
            }
            return
        }
        let per = session.library.outputSize
        let classifier = session.outputShape().count == 1 && per > 1
        for e in 0..<n {
            let row = ys[0][(e * per)..<((e + 1) * per)]
            var line = "[\(e)] " + row.map { String(format: "%.6g", $0) }.joined(separator: " ")
            if classifier, let best = row.indices.max(by: { row[$0] < row[$1] }) { line += "  argmax \(best - e * per)" }
            print(line)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Golden-output comparison: exit 0 when every output matches the expected values, else 1.")
    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(help: "Inputs (.npy).") var input: String
    @Option(help: "Expected outputs (.npy).") var expect: String
    @Option(help: "Weights (.safetensors); default: the file the model names, else the seed's init (with a warning).") var weights: String?
    // Unconditional, so `--rtol -1` reaches validate() instead of reading as an option.
    @Option(parsing: .unconditional, help: "Relative tolerance.") var rtol: Double = 1e-4
    @Option(parsing: .unconditional, help: "Absolute tolerance.") var atol: Double = 1e-5
    @OptionGroup var build: BuildFlags<RunBatch>
    @OptionGroup var custom: CustomOpFlags

    func validate() throws {
        for (option, value) in [("--rtol", rtol), ("--atol", atol)] where !(value.isFinite && value >= 0) {
            throw ValidationError("\(option) must be a finite number >= 0, found \(value)")
        }
    }

    func run() throws {
        let session = try Session(model: try custom.load(model), weights: weights, options: try build.options(loads: true))
        warnIfSeededWeights(session)
        let (x, n) = try readInputs(input, model: session.model)
        guard case let .float(want) = try NumPy.read(path: expect) else {
            throw NNCCError(file: expect, "expected float32 values, found integers")
        }
        // Shapes first: a transposed file holds as many values as the output, all in the wrong places.
        let shape = [n] + session.outputShape()
        let flat = want.shape == [n, session.library.outputSize] || (want.shape == [n] && session.library.outputSize == 1)
        guard want.shape == shape || flat else {
            throw CheckFailed(message: "\(expect): shape \(want.shape) differs from the output's \(shape)")
        }
        let got = try session.predict(x, count: n)
        var worst = -1, worstRatio = 0.0, maxErr = 0.0
        for i in got.indices {
            let ratio = errorRatio(Double(got[i]), Double(want.data[i]))
            let err = abs(Double(got[i]) - Double(want.data[i]))
            maxErr = max(maxErr, ratio == 0 ? 0 : err.isFinite ? err : .infinity)
            if ratio > worstRatio { worstRatio = ratio; worst = i }
        }
        if worstRatio > 1 {
            let idx = unravel(worst, shape)
            throw CheckFailed(message: "mismatch: worst element \(idx): got \(got[worst]), expected \(want.data[worst]), "
                + "abs error \(String(format: "%.3g", abs(Double(got[worst]) - Double(want.data[worst])))) "
                + "> atol \(atol) + rtol \(rtol) × |expected| (\(count(got, want.data)) of \(got.count) elements out of tolerance)")
        }
        print("ok: \(got.count) values of \(n) examples match (max abs error \(String(format: "%.3g", maxErr)), rtol \(rtol), atol \(atol))")
    }

    /// Error over tolerance; NaN matches only NaN, other non-finite disagreements are infinitely bad.
    func errorRatio(_ g: Double, _ w: Double) -> Double {
        if (g.isNaN && w.isNaN) || g == w { return 0 }
        let err = abs(g - w)
        return err.isFinite ? err / (atol + rtol * abs(w)) : .infinity
    }

    func count(_ got: [Float], _ want: [Float]) -> Int {
        zip(got, want).filter { errorRatio(Double($0), Double($1)) > 1 }.count
    }

    func unravel(_ i: Int, _ shape: [Int]) -> [Int] {
        var rest = i, out = [Int]()
        for d in shape.reversed() { out.insert(rest % d, at: 0); rest /= d }
        return out
    }
}
