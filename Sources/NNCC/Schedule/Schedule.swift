import Foundation

/// Per-target choices for the kernels: vector width and register blocking
/// of the GEMM micro-kernel, and whether to emit the naive reference kernels.
public struct Schedule: Equatable {
    /// The named target (`native` already resolved to the host's level).
    public var target: Target
    /// Floats per vector register (16 with AVX-512, 8 with AVX2, 4 with SSE or NEON).
    public var vectorWidth: Int
    /// Vector registers of the target (32 with AVX-512 or NEON, else 16): the accumulators
    /// a register-blocked kernel keeps, plus its operands, must fit in them.
    public var vectorRegisters: Int
    /// Vectors per micro-kernel row: the packed panel width is vectorWidth × vectorsPerRow.
    public var vectorsPerRow = 2
    /// Rows of C per micro-kernel: 4, 6 or 8 (the templates' per-row-count copies, NN_ROWS_EACH).
    public var rowsPerTile = 8
    /// Emit the plain reference loops instead of the tiled kernels (tests compare the two).
    public var reference = false
    /// OpenMP threads; 1 emits no pragmas.
    public var threads = 1
    /// Past this many IR nodes the C takes the large-model shape (Codegen/CodeSize.swift).
    public var largeModelNodes = 64
    /// A recurrent layer projects the input of every step at once while the gate
    /// pre-activations of the batch fit in this many floats (512 KB, in L2), else
    /// one step at a time (Ops/Recurrent.swift; tests set 0 to take that path).
    public var recurrentWholeSequenceFloats = Schedule.recurrentWholeSequenceDefault
    public static let recurrentWholeSequenceDefault = 131072
    /// Bytes of one layer's input and output that a slice of the batch keeps in cache: half of a
    /// 1 MB L2 (Zen 4; Zen 3 has 512 KB, recent Intel cores 1.25–2 MB, Arm cores 0.5–2 MB). On Zen 4,
    /// 128 KB to 2 MB timed alike on dscnn, cnn_bn and mobilenet_vww at batch 32 (within this VM's noise).
    /// Codegen/ForwardSlices.swift; tests lower it to slice small fixtures.
    public var sliceBudgetBytes = Schedule.sliceBudgetDefault
    public static let sliceBudgetDefault = 512 << 10

    public var panelWidth: Int { vectorWidth * vectorsPerRow }

    /// The target's vectors and micro-kernel shape: rows × vectors accumulators,
    /// plus one vector of B per column vector and the broadcast A value, in the
    /// register file without spilling.
    /// - x86-64-v4: 8 × 2 zmm (8×32), 16 accumulators of 32 registers (more rows
    ///   would not help: the loads of B, not registers, then bound the loop).
    /// - x86-64-v3: 6 × 2 ymm (6×16), 12 accumulators + 2 B + 1 A of 16: an 8-row tile
    ///   needs 19 and spills in the inner loop.
    /// - x86-64-v2 and portable: 6 × 2 xmm (6×8): without FMA each step also needs a
    ///   product register, 16 of 16.
    /// - aarch64: 8 × 3 q registers (8×12), 24 accumulators + 3 B + 1 A of 32: NEON's
    ///   FMA takes no memory operand, so every B vector is loaded into a register
    ///   anyway; three per row give 24 FMAs per 3 loads and 8 broadcasts.
    public init(target: Target, reference: Bool = false, threads: Int = 1) {
        let t = target.resolved
        self.target = t
        self.vectorWidth = t.vectorWidth
        self.vectorRegisters = t.vectorRegisters
        self.reference = reference
        self.threads = threads
        switch t {
        case .x86_64_v4: (rowsPerTile, vectorsPerRow) = (8, 2)
        case .aarch64: (rowsPerTile, vectorsPerRow) = (8, 3)
        case .x86_64_v3, .x86_64_v2, .portable, .native: (rowsPerTile, vectorsPerRow) = (6, 2)
        }
    }

    public static func forTarget(_ target: Target) -> Schedule { Schedule(target: target) }

    /// Rounds `n` up to a whole number of packed panels.
    public func padded(_ n: Int) -> Int { (n + panelWidth - 1) / panelWidth * panelWidth }
}
