import ArgumentParser
import Foundation
import NNCC

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model to NAME.c, NAME.h, libNAME.so, libNAME.a, NAME.pc, NAME-config.cmake and NAME.manifest.json (and NAME.py with --python).")

    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(name: .shortAndLong, help: "Output directory (default ./NAME.nncc).") var output: String?
    @Option(help: "C symbol prefix (default: the model's name).") var name: String?
    @Flag(help: "Add the training step.") var train = false
    @Flag(help: "Also write NAME.py: the library from Python (ctypes, NumPy arrays in and out).") var python = false
    @Flag(help: "With --train: the step also sums per-parameter gradient statistics, read by NAME_grad_stats (docs/training.md).")
    var gradStats = false
    @Flag(help: "Time every kernel call, read by NAME_profile and NAME_profile_name (docs/performance.md; default: off).")
    var profile = false
    @OptionGroup var custom: CustomOpFlags
    @Flag(help: "Link the weights, packed for the kernels, into the library read-only (NAME.weights.bin, NAME_weights.S); NAME_create uses them in place. Default: off, weights come from NAME_load_weights.")
    var embedWeights = false
    @Option(help: "With --embed-weights: the safetensors file to embed (default: the model's \"weights\", else the seeded initialisation).")
    var weights: String?
    @OptionGroup var build: BuildFlags<CompileBatch>
    @OptionGroup var overwrite: OverwriteFlags

    func validate() throws {
        if let name { try validateNameOption(name) }
        if gradStats && !train { throw ValidationError("--grad-stats needs --train") }
        if embedWeights && train { throw ValidationError("--embed-weights makes the weights read-only; --train writes them: use one of them") }
        if weights != nil && !embedWeights { throw ValidationError("--weights needs --embed-weights (a library loads weights at run time otherwise)") }
    }

    func run() throws {
        let started = Date()
        var loaded = try custom.load(model, name: name)
        if let weights { loaded.weightsPath = weights; loaded.embeddedWeights = nil }
        var options = try build.options(train: train, name: name)
        options.gradientStats = gradStats
        options.embedWeights = embedWeights
        options.profile = profile
        let dir = URL(fileURLWithPath: output ?? "\(loaded.graph.name).nncc")
        let n = loaded.graph.name
        let weightsOut = loaded.embeddedWeights == nil ? nil : dir.appendingPathComponent("\(n).safetensors").path
        let pythonOut = python ? dir.appendingPathComponent("\(n).py").path : nil
        let packaged = ["lib\(n).a", "\(n).pc", "\(n)-config.cmake"] + (embedWeights ? ["\(n).weights.bin", "\(n)_weights.S"] : [])
        try overwrite.check(inputs: [("the model", model), ("--weights", weights)],
                            outputs: (["\(n).c", "\(n).h", "lib\(n).so", "\(n).manifest.json"] + packaged)
            .map { ("-o", dir.appendingPathComponent($0).path) } + [("-o", weightsOut), ("-o", pythonOut)])
        if let weightsOut, !overwrite.force, FileManager.default.fileExists(atPath: weightsOut),
           !compiledFromThisModel(dir.appendingPathComponent("\(n).manifest.json").path) {
            throw UsageError(message: "-o \(dir.path): \(weightsOut) exists and was not written by compiling the model \(model) "
                + "(it may hold trained weights); use --force to overwrite it")
        }
        let p = try Builder.build(loaded, options: options, into: dir, package: true)
        let g = p.graph
        // An ONNX file carries its weights; C programs load them from NAME.safetensors.
        var extraLines = ""
        if let w = loaded.embeddedWeights {
            let path = dir.appendingPathComponent("\(g.name).safetensors").path
            try SafeTensors.write(g.params.compactMap { p in w[p.name].map { (p.name, $0) } }, to: path)
            extraLines = "\n  " + path
        }
        if let pythonOut {
            try AtomicFile.write(Data(PythonBinding.source(g, train: train).utf8), to: pythonOut)
            extraLines += "\n  " + pythonOut
        }
        // The default is the smallest library: say how to get another (a C app's batch 8 is refused at 1).
        let batchNote = build.batch == nil ? " (the default; --batch sets it)" : ""
        let seconds = Date().timeIntervalSince(started)
        print("""
            compiled \(g.name) from \(model) in \(String(format: "%.2f", seconds)) s
              input \(g.input.shape) -> output \(g.nodes[g.outputs[0]].shape), max batch \(g.maxBatch)\(batchNote), target \(options.target.label)
              \(g.params.count) parameter tensors (\(g.params.reduce(0) { $0 + $1.size }) floats), arena \(g.arenaFloats * 4) bytes, \(flopsPerExample(g)) FLOPs per example
              \(p.memory?.summary ?? "")
              \(p.source.path)
              \(p.header.path)
              \(p.library.path)
            \(packaged.map { "  " + dir.appendingPathComponent($0).path }.joined(separator: "\n"))
              \(p.manifest.path)\(extraLines)
            """)
    }
}

/// The manifest in the output folder records a model file with the same bytes as `model`.
extension Compile {
    func compiledFromThisModel(_ manifest: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: manifest),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let recorded = json["model_sha256"] as? String,
              let modelData = FileManager.default.contents(atPath: model) else { return false }
        return recorded == SHA256.hex(modelData)
    }
}

struct IR: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the IR at a stage of the pipeline.")
    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(help: "parsed, fused, training (the gradient plan), scheduled (each node's kernel) or planned (memory).")
    var stage: Stage = .fused
    @Flag(help: "Lower the training build (implied by --stage training): the scheduled stage then shows each layer's backward.")
    var train = false
    @OptionGroup var build: BuildFlags<CompileBatch>
    @OptionGroup var custom: CustomOpFlags

    func run() throws {
        let loaded = try custom.load(model)
        let options = try build.options(train: train || stage == .training)
        print(try Pipeline.ir(loaded, stage: stage, options: options), terminator: "")
    }
}
