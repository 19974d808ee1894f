import ArgumentParser
import Foundation
import NNCC

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model to NAME.c, NAME.h, libNAME.so and NAME.manifest.json.")

    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(name: .shortAndLong, help: "Output directory (default ./NAME.nncc).") var output: String?
    @Option(help: "C symbol prefix (default: the model's name).") var name: String?
    @Flag(help: "Add the training step.") var train = false
    @OptionGroup var build: BuildFlags

    /// A bad --name is bad usage (exit 2), checked before the model is read.
    func validate() throws {
        if let name {
            do { try ModelDecoder.validateName(name) { NNCCError(path: "--name", $0) } } catch let e as NNCCError {
                throw ValidationError(e.description)
            }
        }
    }

    func run() throws {
        let started = Date()
        let loaded = try Pipeline.load(model, name: name)
        let options = try build.options(train: train, name: name)
        let dir = URL(fileURLWithPath: output ?? "\(loaded.graph.name).nncc")
        let p = try Builder.build(loaded, options: options, into: dir)
        let g = p.graph
        // An ONNX file carries its weights; C programs load them from NAME.safetensors.
        var weightsLine = ""
        if let w = loaded.embeddedWeights {
            let path = dir.appendingPathComponent("\(g.name).safetensors").path
            try SafeTensors.write(g.params.compactMap { p in w[p.name].map { (p.name, $0) } }, to: path)
            weightsLine = "\n  " + path
        }
        let seconds = Date().timeIntervalSince(started)
        print("""
            compiled \(g.name) from \(model) in \(String(format: "%.2f", seconds)) s
              input \(g.input.shape) -> output \(g.nodes[g.outputs[0]].shape), max batch \(g.maxBatch), target \(options.target.rawValue)
              \(g.params.count) parameter tensors (\(g.params.reduce(0) { $0 + $1.size }) floats), arena \(g.arenaFloats * 4) bytes, \(flopsPerExample(g)) FLOPs per example
              \(p.source.path)
              \(p.header.path)
              \(p.library.path)
              \(p.manifest.path)\(weightsLine)
            """)
    }
}

struct IR: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the IR at a stage of the pipeline.")
    @Argument(help: "Model description (.json) or ONNX file (.onnx).") var model: String
    @Option(help: "parsed, fused, training or planned.") var stage: Stage = .fused
    @OptionGroup var build: BuildFlags

    func run() throws {
        let loaded = try Pipeline.load(model)
        print(try Pipeline.ir(loaded, stage: stage, options: try build.options(train: stage == .training)), terminator: "")
    }
}
