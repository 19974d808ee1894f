import Foundation

/// NAME.manifest.json: what a build holds, for tools and people.
enum Manifest {
    static func json(_ g: Graph, lib: GeneratedLibrary, model: LoadedModel, options: CompileOptions, gcc: [String],
                     compiler: Compiler) -> String {
        let modelHash = (FileManager.default.contents(atPath: model.path)).map { SHA256.hex($0) } ?? ""
        let dict: [String: Any] = [
            "name": g.name,
            "nncc_version": nnccVersion,
            "model": model.path,
            "model_sha256": modelHash,
            "max_batch": g.maxBatch,
            "train": options.train,
            "target": options.schedule.target.rawValue,
            "target_requested": options.target.rawValue,
            "target_instructions": options.schedule.target.instructions,
            "threads": options.threads,
            "input_shape": g.input.shape,
            "outputs": g.outputs.map { ["name": g.nodes[$0].name, "shape": g.nodes[$0].shape] },
            "params": g.params.map { ["name": $0.name, "shape": $0.shape, "trainable": $0.trainable] },
            "param_floats": lib.paramFloats,
            "packed_floats": lib.packedFloats,
            "arena_bytes": g.arenaFloats * 4,
            "memory": lib.memory.json,
            "embed_weights": options.embedWeights,
            "flops_per_example": flopsPerExample(g),
            "vector_width": options.schedule.vectorWidth,
            "gemm_tile": [options.schedule.rowsPerTile, options.schedule.panelWidth],
            "gcc": gcc,
            "compiler": ["path": compiler.path, "family": compiler.family.rawValue, "version": compiler.versionLine],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: dict, options: [.prettyPrinted, .sortedKeys]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// Multiply-adds count two FLOPs; elementwise work is not counted.
public func flopsPerExample(_ g: Graph) -> Int {
    g.nodes.indices.reduce(0) { $0 + flopsPerExample(g, node: $1) }
}

/// One node's share of `flopsPerExample(g)`: its multiply-adds, twice.
public func flopsPerExample(_ g: Graph, node i: Int) -> Int {
    let n = g.nodes[i]
    let x = n.inputs.first.map { g.nodes[$0].shape } ?? []
    switch n.op {
    case let .dense(units, _):
        return 2 * x.dropLast().reduce(1, *) * x.last! * units
    case let .conv2d(c):
        return 2 * n.size * (x[0] / c.groups) * c.kernel.0 * c.kernel.1 * (c.depth?.kernel ?? 1)
    case let .convTranspose(c):
        return 2 * x.reduce(1, *) * (c.channels / c.groups) * c.kernel.0 * c.kernel.1
    case let .recurrent(r):
        return 2 * x[0] * r.cell.gates * r.units * (x[1] + r.units)
    default:
        return 0
    }
}
