import Foundation

/// Per-target choices for the kernels: vector width and register blocking
/// of the GEMM micro-kernel, and whether to emit the naive reference kernels.
public struct Schedule: Equatable {
    /// Floats per vector register (16 with AVX-512, 8 with AVX2).
    public var vectorWidth: Int
    /// Vectors per micro-kernel row: the packed panel width is vectorWidth × vectorsPerRow.
    public var vectorsPerRow = 2
    /// Rows of C per micro-kernel; the template's edge dispatch is written for 8.
    public var rowsPerTile = 8
    /// Emit the plain reference loops instead of the tiled kernels (tests compare the two).
    public var reference = false
    /// OpenMP threads; 1 emits no pragmas.
    public var threads = 1
    /// Past this many IR nodes the C takes the large-model shape (Codegen/CodeSize.swift).
    public var largeModelNodes = 64

    public var panelWidth: Int { vectorWidth * vectorsPerRow }

    public init(vectorWidth: Int, reference: Bool = false, threads: Int = 1) {
        self.vectorWidth = vectorWidth
        self.reference = reference
        self.threads = threads
    }

    /// The widest vectors the target has: the host's for `native`, 4 floats
    /// (SSE, which every x86-64 has) for `portable`.
    public static func forTarget(_ target: Target) -> Schedule {
        switch target {
        case .portable: return Schedule(vectorWidth: 4)
        case .native: return Schedule(vectorWidth: hostVectorWidth)
        }
    }

    static let hostVectorWidth: Int = {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = info.split(separator: "\n").first { $0.hasPrefix("flags") }.map(String.init) ?? ""
        let words = Set(flags.split(separator: " ").map(String.init))
        if words.contains("avx512f") { return 16 }
        if words.contains("avx2") || words.contains("avx") { return 8 }
        return 4
    }()

    /// Rounds `n` up to a whole number of packed panels.
    public func padded(_ n: Int) -> Int { (n + panelWidth - 1) / panelWidth * panelWidth }
}

