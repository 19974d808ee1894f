/// How one node's kernel runs, chosen once by `selectKernels` and read by
/// memory planning, the emitters and `nncc ir --stage scheduled`. Nothing
/// downstream recomputes a choice: each op family decides in its `plan`.
struct KernelPlan: Equatable {
    var kernel: Kernel
    /// Arena floats the kernel needs as scratch at the max batch, all threads together.
    var scratchFloats = 0
    /// Floats of the node's block of packed (repacked, folded) weights in `c->packed`.
    var packedFloats = 0
    /// The most rows (M) of any call the kernel makes to the GEMM micro-kernel, 0 for none; the
    /// library compiles only the row counts up to the largest (`NN_GEMM_ROWS`).
    var gemmRows = 0
    /// Training builds: how backward runs; nil when the build does not train.
    var backward: Backward?
    /// The kernel reads (writes) its images channels-last, [pixels][C], rather than NCHW: set by
    /// chooseLayouts in inference builds, on conv2d kernels only.
    var inputChannelsLast = false, outputChannelsLast = false

    /// ", channels-last input" and/or output, for the IR printout and the kernel's banner (the
    /// channels-last 1×1 GEMM's name already says it).
    var layoutNote: String {
        guard kernel != .conv(.channelsLast) else { return "" }
        return (inputChannelsLast ? ", channels-last input" : "") + (outputChannelsLast ? ", channels-last output" : "")
    }

    /// What the forward runs.
    enum Kernel: Equatable {
        /// No code: the input, and views that reinterpret their operand's storage.
        case none
        /// Direct loops over the elements (activations, softmax, batchnorm, pools, add, concat).
        case loops
        /// The 2×2 stride-2 max pool on whole vectors.
        case maxPool2x2
        /// The packed GEMM micro-kernel (dense).
        case gemm
        /// The input projection of all steps as one GEMM, then a recurrent GEMM per step.
        case recurrent
        case conv(ConvPath)
        /// The naive reference loops that tests compare the tiled kernels with.
        case naive
    }

    /// How a training build computes the node's gradients.
    enum Backward: Equatable {
        /// Loops over the elements (the rule of an elementwise op), or no rule at all.
        case loops
        /// ∂x and ∂W on the GEMM micro-kernel from packed row panels (dense, recurrent).
        case gemm
        case conv(dx: ConvInputGradient, dW: ConvWeightGradient)
        case naive
    }
}

extension Node {
    /// The node's kernel plan; selectKernels must have run.
    var plan: KernelPlan {
        guard let p = kernelPlan else { preconditionFailure("node \"\(name)\" has no kernel plan; run selectKernels first") }
        return p
    }
}

extension KernelPlan: CustomStringConvertible {
    /// One line for `nncc ir --stage scheduled`.
    var description: String {
        var s: String
        switch kernel {
        case .none: return "no kernel (view)"
        case .loops: s = "loops"
        case .maxPool2x2: s = "vector 2x2 max pool"
        case .gemm: s = "GEMM"
        case .recurrent: s = "recurrent GEMMs"
        case let .conv(path): s = path.description
        case .naive: s = "naive reference"
        }
        s += layoutNote
        if packedFloats > 0 { s += ", packed \(packedFloats)" }
        if scratchFloats > 0 { s += ", scratch \(scratchFloats)" }
        switch backward {
        case nil, .loops?: break
        case .gemm?: s += "; backward GEMM"
        case let .conv(dx, dW)?: s += "; ∂x \(dx.description), ∂W \(dW.description)"
        case .naive?: s += "; backward naive"
        }
        return s
    }
}

/// A named part of a node's block of packed weights, in floats from the block's start.
struct Region: Equatable {
    var offset: Int
    var floats: Int
    var end: Int { offset + floats }
    /// The C pointer to the region, given the block's.
    func at(_ block: String) -> String { offset == 0 ? block : "\(block) + \(offset)" }
}

/// Lays regions out one after another, in the order the family declares them.
struct RegionBuilder {
    private(set) var floats = 0
    mutating func take(_ n: Int) -> Region {
        defer { floats += n }
        return Region(offset: floats, floats: n)
    }
}
