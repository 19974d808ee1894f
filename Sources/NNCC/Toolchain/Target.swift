import Foundation

/// Code-generation target: an x86-64 micro-architecture level (the psABI's
/// x86-64-v2/v3/v4), `portable` (any x86-64 or other 64-bit CPU gcc targets:
/// 4-float vectors, no -march), or `native`, which stands for the best level
/// the build machine runs (`resolved`). A level fixes the vector width, the
/// vector register file (so the micro-kernels' shapes, Schedule.forTarget),
/// the compiler flags and the check the C makes that it is built with them.
///
/// aarch64 (NEON: 32 registers of 4 floats, -march=armv8-a, `__ARM_NEON`)
/// joins as one more named case with its own row in each switch below, and
/// `host` resolves to it on an aarch64 machine; it is not implemented yet.
public enum Target: String, CaseIterable, Sendable {
    case native
    case x86_64_v2 = "x86-64-v2"
    case x86_64_v3 = "x86-64-v3"
    case x86_64_v4 = "x86-64-v4"
    case portable

    /// The named target: `native` is the host's level, the others are themselves.
    public var resolved: Target { self == .native ? Self.host : self }

    /// Floats per vector register.
    public var vectorWidth: Int {
        switch resolved {
        case .x86_64_v4: return 16
        case .x86_64_v3: return 8
        case .x86_64_v2, .portable, .native: return 4
        }
    }

    /// Vector registers the kernels can keep accumulators and operands in:
    /// 32 zmm with AVX-512, 16 ymm or xmm otherwise.
    public var vectorRegisters: Int { resolved == .x86_64_v4 ? 32 : 16 }

    /// The instructions the level adds, as the C's check and `nncc compile` name them.
    public var instructions: String {
        switch resolved {
        case .x86_64_v4: return "AVX-512F/BW/DQ/VL"
        case .x86_64_v3: return "AVX2, FMA"
        case .x86_64_v2: return "SSE4.2"
        case .portable, .native: return "the compiler's baseline, SSE2 on x86-64"
        }
    }

    /// "x86-64-v4", or "x86-64-v4 (native)" when resolved from `native`.
    public var label: String { self == .native ? "\(resolved.rawValue) (native)" : rawValue }

    /// gcc's (11 on) and clang's flags for the level: any CPU of that level runs the code.
    /// `native` takes its level's flags, so its build is the named level's.
    public var compilerFlags: [String] {
        switch resolved {
        case .x86_64_v2, .x86_64_v3, .x86_64_v4: return ["-march=\(resolved.rawValue)"]
        case .portable, .native: return []
        }
    }

    /// The level spelled as instruction sets, for compilers without `-march=x86-64-vN`
    /// (gcc before 11): the psABI's list, which gives the same predefined macros.
    public var instructionSetFlags: [String] {
        switch resolved {
        case .x86_64_v4: return Self.x86_64_v3.instructionSetFlags
            + ["-mavx512f", "-mavx512bw", "-mavx512cd", "-mavx512dq", "-mavx512vl"]
        case .x86_64_v3: return Self.x86_64_v2.instructionSetFlags
            + ["-mavx", "-mavx2", "-mbmi", "-mbmi2", "-mf16c", "-mfma", "-mlzcnt", "-mmovbe", "-mxsave"]
        case .x86_64_v2: return ["-march=x86-64", "-mcx16", "-msahf", "-mpopcnt", "-msse3", "-msse4.1", "-msse4.2", "-mssse3"]
        case .portable, .native: return []
        }
    }

    /// Predefined macros a compile for the level defines; the generated C stops
    /// with an #error when one is missing (built for a lesser CPU).
    public var requiredMacros: [String] {
        switch resolved {
        case .x86_64_v4: return ["__AVX512F__", "__AVX512BW__", "__AVX512DQ__", "__AVX512VL__"]
        case .x86_64_v3: return ["__AVX2__", "__FMA__"]
        case .x86_64_v2: return ["__SSE4_2__"]
        case .portable, .native: return []
        }
    }

    /// /proc/cpuinfo flags a CPU needs to run the level's code: the psABI's
    /// list (gcc may emit any of these instructions at that -march).
    public var cpuFlags: [String] {
        switch resolved {
        case .x86_64_v4: return Self.x86_64_v3.cpuFlags + ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]
        case .x86_64_v3: return Self.x86_64_v2.cpuFlags + ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"]
        case .x86_64_v2: return ["cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2"]
        case .portable, .native: return []
        }
    }

    /// Whether this machine can run the level's code (a missing flag names itself).
    public var missingOnHost: String? {
        #if arch(x86_64)
        return cpuFlags.first { !Self.hostFlags.contains($0) }
        #else
        return resolved == .portable ? nil : "x86-64"
        #endif
    }

    /// The best level the host runs, from its CPUID as Linux reports it in
    /// /proc/cpuinfo (the flags also say the OS saves the AVX-512 state).
    public static let host: Target = {
        #if arch(x86_64)
        return [Target.x86_64_v4, .x86_64_v3, .x86_64_v2].first { $0.missingOnHost == nil } ?? .portable
        #else
        return .portable
        #endif
    }()

    /// The host CPU's feature flags (empty where /proc/cpuinfo has none).
    public static let hostFlags: Set<String> = {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("flags") }.map(String.init) ?? ""
        return Set(line.split(separator: " ").map(String.init))
    }()
}
