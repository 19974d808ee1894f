import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private typealias CreateFn = @convention(c) () -> UnsafeMutableRawPointer?
private typealias DestroyFn = @convention(c) (UnsafeMutableRawPointer?) -> Void
private typealias NameFn = @convention(c) (Int32) -> UnsafePointer<CChar>?
private typealias ShapeFn = @convention(c) (Int32, UnsafeMutablePointer<Int64>?) -> Int32
private typealias GetParamFn = @convention(c) (UnsafeRawPointer?, Int32, UnsafeMutablePointer<Float>?) -> Int32
private typealias SetParamFn = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<Float>?) -> Int32
private typealias LoadFn = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
private typealias SaveFn = @convention(c) (UnsafeRawPointer?, UnsafePointer<CChar>?) -> Int32
private typealias ForwardFn = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int32) -> Int32
private typealias ForwardAllFn = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<Float>?, UnsafePointer<UnsafeMutablePointer<Float>?>?, Int32) -> Int32
private typealias TrainStepFn = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<Float>?, UnsafeRawPointer?, Int32, UnsafeMutablePointer<Float>?) -> Int32
private typealias SetLRFn = @convention(c) (UnsafeMutableRawPointer?, Float) -> Int32
private typealias IntFn = @convention(c) (Int32) -> Int32
private typealias GetOptFn = @convention(c) (UnsafeRawPointer?, Int32, Int32, UnsafeMutablePointer<Float>?) -> Int32
private typealias SetOptFn = @convention(c) (UnsafeMutableRawPointer?, Int32, Int32, UnsafePointer<Float>?) -> Int32
private typealias GetStateFn = @convention(c) (UnsafeRawPointer?, UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<UInt64>?) -> Int32
private typealias SetStateFn = @convention(c) (UnsafeMutableRawPointer?, Int64, UInt64) -> Int32
typealias GradStatsFn = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<Double>?, Int32) -> Int32

/// One generated library loaded with dlopen. The handle is never closed:
/// OpenMP worker threads may still run code from it, and contexts keep a
/// strong reference to their library anyway.
public final class ModelLibrary {
    public let path: String
    public let name: String
    public let maxBatch: Int, inputSize: Int, outputSize: Int, numParams: Int, numOutputs: Int
    /// Floats per example of each output.
    public let outputSizes: [Int]
    public var canTrain: Bool { trainStepFn != nil }

    /// NAME_train_step's code (NAME_ERR_NONFINITE in NAME.h) when the loss or a gradient is NaN or infinite:
    /// the step was not taken, parameters and optimizer state are unchanged. Carried as `NNCCError.code`.
    public static let errorNonFinite: Int32 = -12
    /// NAME_set_lr's code (NAME_ERR_LR) for a learning rate that is not a finite number >= 0.
    public static let errorLearningRate: Int32 = -13

    private let handle: UnsafeMutableRawPointer
    fileprivate let createFn: CreateFn, destroyFn: DestroyFn
    fileprivate let paramNameFn: NameFn, paramShapeFn: ShapeFn
    fileprivate let getParamFn: GetParamFn, setParamFn: SetParamFn
    fileprivate let loadFn: LoadFn, saveFn: SaveFn
    fileprivate let forwardFn: ForwardFn, forwardAllFn: ForwardAllFn
    fileprivate let strerrorFn: NameFn
    fileprivate let trainStepFn: TrainStepFn?, setLRFn: SetLRFn?, getGradFn: GetParamFn?
    fileprivate let getOptFn: GetOptFn?, setOptFn: SetOptFn?, getStateFn: GetStateFn?, setStateFn: SetStateFn?
    /// NAME_grad_stats of a --grad-stats build (GradientReport.swift).
    let gradStatsFn: GradStatsFn?
    /// NAME_profile and NAME_profile_name of a profile build (`nncc bench --layers`).
    fileprivate let profileFn: GradStatsFn?, profileNameFn: NameFn?

    public init(path: String, name: String) throws {
        self.path = path
        self.name = name
        guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw NNCCError(file: path, "cannot load library: \(why)")
        }
        handle = h

        func optional<T>(_ suffix: String, _: T.Type) -> T? {
            guard let p = dlsym(h, "\(name)_\(suffix)") else { return nil }
            return unsafeBitCast(p, to: T.self)
        }
        func required<T>(_ suffix: String, _ t: T.Type) throws -> T {
            guard let f = optional(suffix, t) else {
                throw NNCCError(file: path, "symbol \(name)_\(suffix) not found: not an nncc library named '\(name)'")
            }
            return f
        }
        createFn = try required("create", CreateFn.self)
        destroyFn = try required("destroy", DestroyFn.self)
        paramNameFn = try required("param_name", NameFn.self)
        paramShapeFn = try required("param_shape", ShapeFn.self)
        getParamFn = try required("get_param", GetParamFn.self)
        setParamFn = try required("set_param", SetParamFn.self)
        loadFn = try required("load_weights", LoadFn.self)
        saveFn = try required("save_weights", SaveFn.self)
        forwardFn = try required("forward", ForwardFn.self)
        forwardAllFn = try required("forward_all", ForwardAllFn.self)
        strerrorFn = try required("strerror", NameFn.self)
        trainStepFn = optional("train_step", TrainStepFn.self)
        setLRFn = optional("set_lr", SetLRFn.self)
        getGradFn = optional("get_grad", GetParamFn.self)
        getOptFn = optional("get_opt_state", GetOptFn.self)
        setOptFn = optional("set_opt_state", SetOptFn.self)
        getStateFn = optional("get_train_state", GetStateFn.self)
        setStateFn = optional("set_train_state", SetStateFn.self)
        gradStatsFn = optional("grad_stats", GradStatsFn.self)
        profileFn = optional("profile", GradStatsFn.self)  // same signature: (ctx, double *, reset) -> int
        profileNameFn = optional("profile_name", NameFn.self)
        let info = try required("info", IntFn.self)
        let outSize = try required("output_size", IntFn.self)

        maxBatch = Int(info(0)); inputSize = Int(info(1)); outputSize = Int(info(2))
        numParams = Int(info(3)); numOutputs = Int(info(4))
        guard maxBatch >= 1, inputSize >= 1, outputSize >= 1, numParams >= 0, numOutputs >= 1 else {
            throw NNCCError(file: path, "library reports an invalid geometry (max batch \(maxBatch), input \(inputSize), output \(outputSize), params \(numParams), outputs \(numOutputs))")
        }
        outputSizes = (0..<numOutputs).map { Int(outSize(Int32($0))) }
        guard outputSizes.allSatisfy({ $0 >= 1 }), outputSizes[0] == outputSize else {
            throw NNCCError(file: path, "library reports invalid output sizes \(outputSizes)")
        }
    }

    public func makeContext() throws -> ModelContext {
        guard let ctx = createFn() else { throw NNCCError(file: path, "out of memory") }
        return ModelContext(library: self, ctx: ctx)
    }

    /// Converts a C return code into a thrown error carrying NAME_strerror's text.
    fileprivate func check(_ code: Int32, file: String? = nil, _ what: String) throws {
        guard code < 0 else { return }
        let text = strerrorFn(code).map { String(cString: $0) } ?? "error \(code)"
        var e = NNCCError(file: file ?? path, "\(what): \(text)")
        e.code = code
        throw e
    }
}

/// One NAME_ctx: parameters, optimizer state and activation arena. Not
/// thread-safe; use one context per thread.
public final class ModelContext {
    public let library: ModelLibrary
    private let ctx: UnsafeMutableRawPointer

    fileprivate init(library: ModelLibrary, ctx: UnsafeMutableRawPointer) {
        self.library = library
        self.ctx = ctx
    }

    deinit { library.destroyFn(ctx) }

    public func paramNames() -> [String] {
        (0..<library.numParams).map { i in
            library.paramNameFn(Int32(i)).map { String(cString: $0) } ?? "param\(i)"
        }
    }

    /// The PyTorch shape of parameter i; [] when i is out of range.
    public func paramShape(_ i: Int) -> [Int] {
        guard (0..<library.numParams).contains(i) else { return [] }
        // c-abi.md's dims[4]; libraries with conv3d weights write 5 (room for more, to be safe).
        var dims = [Int64](repeating: 0, count: 8)
        let rank = dims.withUnsafeMutableBufferPointer { library.paramShapeFn(Int32(i), $0.baseAddress) }
        guard rank >= 0, rank <= 8 else { return [] }
        return dims.prefix(Int(rank)).map { Int($0) }
    }

    private func paramCount(_ i: Int) -> Int {
        paramShape(i).reduce(1, *)
    }

    /// Parameter i in PyTorch layout; [] when i is out of range.
    public func getParam(_ i: Int) -> [Float] {
        guard (0..<library.numParams).contains(i) else { return [] }
        var out = [Float](repeating: 0, count: paramCount(i))
        let rc = out.withUnsafeMutableBufferPointer { library.getParamFn(ctx, Int32(i), $0.baseAddress) }
        return rc < 0 ? [] : out
    }

    /// Gradient of the last train step's loss w.r.t. parameter i, as the
    /// update used it (after clipping), PyTorch layout; [] without --train.
    public func getGrad(_ i: Int) -> [Float] {
        guard let f = library.getGradFn, (0..<library.numParams).contains(i) else { return [] }
        var out = [Float](repeating: 0, count: paramCount(i))
        let rc = out.withUnsafeMutableBufferPointer { f(ctx, Int32(i), $0.baseAddress) }
        return rc < 0 ? [] : out
    }

    public func setParam(_ i: Int, _ data: [Float]) throws {
        guard (0..<library.numParams).contains(i) else {
            throw NNCCError(file: library.path, "parameter index \(i) out of range 0..<\(library.numParams)")
        }
        let n = paramCount(i)
        guard data.count == n else {
            throw NNCCError(file: library.path, path: paramNames()[i],
                            "expected \(n) floats for shape \(paramShape(i)), got \(data.count)")
        }
        let rc = data.withUnsafeBufferPointer { library.setParamFn(ctx, Int32(i), $0.baseAddress) }
        try library.check(rc, "set_param \(i)")
    }

    public func loadWeights(path: String) throws {
        try library.check(library.loadFn(ctx, path), file: path, "cannot load weights")
    }

    public func saveWeights(path: String) throws {
        try library.check(library.saveFn(ctx, path), file: path, "cannot save weights")
    }

    private func checkInput(_ x: UnsafeBufferPointer<Float>, batch: Int) throws {
        guard (1...library.maxBatch).contains(batch) else {
            throw NNCCError(file: library.path, "batch \(batch) outside 1...\(library.maxBatch)")
        }
        guard x.count == batch * library.inputSize, x.baseAddress != nil else {
            throw NNCCError(file: library.path,
                            "expected \(batch * library.inputSize) input floats (\(batch) x \(library.inputSize)), got \(x.count)")
        }
    }

    /// batch*inputSize floats in, batch*outputSize floats (first output) out.
    public func forward(_ x: UnsafeBufferPointer<Float>, batch: Int) throws -> [Float] {
        try checkInput(x, batch: batch)
        var y = [Float](repeating: 0, count: batch * library.outputSize)
        let rc = y.withUnsafeMutableBufferPointer { library.forwardFn(ctx, x.baseAddress, $0.baseAddress, Int32(batch)) }
        try library.check(rc, "forward")
        return y
    }

    /// Every output, each batch*outputSizes[i] floats.
    public func forwardAll(_ x: UnsafeBufferPointer<Float>, batch: Int) throws -> [[Float]] {
        try checkInput(x, batch: batch)
        let sizes = library.outputSizes.map { $0 * batch }
        // One contiguous buffer carved into per-output pointers.
        var flat = [Float](repeating: 0, count: sizes.reduce(0, +))
        let rc = flat.withUnsafeMutableBufferPointer { buf -> Int32 in
            var ptrs: [UnsafeMutablePointer<Float>?] = []
            var offset = 0
            for s in sizes { ptrs.append(buf.baseAddress! + offset); offset += s }
            return ptrs.withUnsafeBufferPointer { library.forwardAllFn(ctx, x.baseAddress, $0.baseAddress, Int32(batch)) }
        }
        try library.check(rc, "forward")
        var result: [[Float]] = []
        var offset = 0
        for s in sizes { result.append(Array(flat[offset..<offset + s])); offset += s }
        return result
    }

    /// Inference over any number of examples (`count × inputSize` floats), in chunks of the library's
    /// max batch. Returns every output, each `count × outputSizes[i]` floats.
    public func predictAll(_ x: [Float], count: Int) throws -> [[Float]] {
        let inSize = library.inputSize
        guard count >= 0, x.count == count * inSize else {
            throw NNCCError(file: library.path, "expected \(count) × \(inSize) input floats, found \(x.count)")
        }
        var outs = library.outputSizes.map { _ in [Float]() }
        try x.withUnsafeBufferPointer { buf in
            var start = 0
            while start < count {
                let n = min(library.maxBatch, count - start)
                let ys = try forwardAll(UnsafeBufferPointer(rebasing: buf[(start * inSize)..<((start + n) * inSize)]), batch: n)
                for j in ys.indices { outs[j] += ys[j] }
                start += n
            }
        }
        return outs
    }

    /// The first output of `predictAll`, `count × outputSize` floats.
    public func predict(_ x: [Float], count: Int) throws -> [Float] {
        try predictAll(x, count: count)[0]
    }

    /// One optimizer step on integer class labels; returns the loss.
    public func trainStep(_ x: UnsafeBufferPointer<Float>, labels: [Int32], batch: Int) throws -> Float {
        try checkInput(x, batch: batch)
        guard labels.count == batch else {
            throw NNCCError(file: library.path, "expected \(batch) labels, got \(labels.count)")
        }
        do { try Labels.check(labels, classes: library.outputSize) } catch let e as NNCCError { throw e.inFile(library.path) }
        return try labels.withUnsafeBytes { try step(x, $0.baseAddress, batch) }
    }

    /// One optimizer step on float targets (batch*outputSize); returns the loss.
    public func trainStep(_ x: UnsafeBufferPointer<Float>, targets: [Float], batch: Int) throws -> Float {
        try checkInput(x, batch: batch)
        guard targets.count == batch * library.outputSize else {
            throw NNCCError(file: library.path, "expected \(batch * library.outputSize) target floats, got \(targets.count)")
        }
        return try targets.withUnsafeBytes { try step(x, $0.baseAddress, batch) }
    }

    private func step(_ x: UnsafeBufferPointer<Float>, _ targets: UnsafeRawPointer?, _ batch: Int) throws -> Float {
        guard let train = library.trainStepFn else {
            throw NNCCError(file: library.path, "library \(library.name) was compiled without --train")
        }
        var loss: Float = 0
        try library.check(train(ctx, x.baseAddress, targets, Int32(batch), &loss), "train_step")
        return loss
    }

    /// The optimizer state a checkpoint keeps: per parameter, the momentum buffer or Adam's two moments
    /// (slot 0 and 1), the step count and the dropout generator. Libraries built with --train only.
    public struct OptimizerState {
        public var slots: [[[Float]]]  // [slot][parameter]
        public var step: Int64
        public var rng: UInt64
        public init(slots: [[[Float]]], step: Int64, rng: UInt64) { self.slots = slots; self.step = step; self.rng = rng }
    }

    public func optimizerState() throws -> OptimizerState {
        guard let get = library.getOptFn, let counters = library.getStateFn else {
            throw NNCCError(file: library.path, "library \(library.name) was compiled without --train (or by an older nncc)")
        }
        var state = OptimizerState(slots: [], step: 0, rng: 0)
        for slot in 0..<2 {
            state.slots.append(try (0..<library.numParams).map { i in
                var out = [Float](repeating: 0, count: paramCount(i))
                try library.check(out.withUnsafeMutableBufferPointer { get(ctx, Int32(slot), Int32(i), $0.baseAddress) },
                                  "get_opt_state \(slot) \(i)")
                return out
            })
        }
        try library.check(counters(ctx, &state.step, &state.rng), "get_train_state")
        return state
    }

    public func setOptimizerState(_ state: OptimizerState) throws {
        guard let set = library.setOptFn, let counters = library.setStateFn else {
            throw NNCCError(file: library.path, "library \(library.name) was compiled without --train (or by an older nncc)")
        }
        guard state.slots.count == 2, state.slots.allSatisfy({ $0.count == library.numParams }) else {
            throw NNCCError(file: library.path, "optimizer state for \(library.numParams) parameters expected")
        }
        for slot in 0..<2 {
            for i in 0..<library.numParams {
                let n = paramCount(i), data = state.slots[slot][i]
                guard data.count == n else {
                    throw NNCCError(file: library.path, path: paramNames()[i], "optimizer state: expected \(n) floats, got \(data.count)")
                }
                try library.check(data.withUnsafeBufferPointer { set(ctx, Int32(slot), Int32(i), $0.baseAddress) },
                                  "set_opt_state \(slot) \(i)")
            }
        }
        try library.check(counters(ctx, state.step, state.rng), "set_train_state")
    }

    /// NAME_grad_stats of a --train --grad-stats build (else nil): the steps summed and, per parameter,
    /// Σ‖∂W‖², Σ‖ΔW‖², Σ‖W‖² since the last reset; `reset` starts new sums.
    public func gradientSums(reset: Bool) throws -> (steps: Int, sums: [Double])? {
        guard let stats = library.gradStatsFn else { return nil }
        var out = [Double](repeating: 0, count: 3 * max(1, library.numParams))
        let steps = stats(ctx, &out, reset ? 1 : 0)
        try library.check(steps, "grad_stats")
        return (Int(steps), out)
    }

    /// A profile build's entries (`phase:node:layer`, or `loss`, `update`) and the seconds spent in each
    /// since the last reset (else nil); `reset` starts new sums.
    public func profile(reset: Bool) throws -> [(name: String, seconds: Double)]? {
        guard let read = library.profileFn, let nameOf = library.profileNameFn else { return nil }
        let count = read(ctx, nil, 0)
        try library.check(count, "profile")
        var seconds = [Double](repeating: 0, count: max(Int(count), 1))
        try library.check(read(ctx, &seconds, reset ? 1 : 0), "profile")
        return (0..<Int(count)).map { i in (nameOf(Int32(i)).map { String(cString: $0) } ?? "entry \(i)", seconds[i]) }
    }

    /// No-op for libraries compiled without --train; throws (code `ModelLibrary.errorLearningRate`) for a rate
    /// that is not a finite number >= 0, which the library refuses.
    public func setLearningRate(_ lr: Float) throws {
        guard let setLR = library.setLRFn else { return }
        try library.check(setLR(ctx, lr), "set_lr \(lr)")
    }
}
