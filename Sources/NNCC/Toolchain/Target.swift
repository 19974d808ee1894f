import Foundation

/// Code-generation target: an x86-64 micro-architecture level (the psABI's
/// x86-64-v2/v3/v4), `aarch64` (64-bit Arm with NEON, built by an aarch64
/// compiler: natively, or across with `--cc aarch64-linux-gnu-gcc`),
/// `portable` (any x86-64 or other 64-bit CPU gcc targets: 4-float vectors,
/// no -march), or `native`, which stands for the best of them the build
/// machine runs (`resolved`). A target fixes the vector width, the vector
/// register file (so the micro-kernels' shapes, Schedule.forTarget), the
/// compiler flags and the check the C makes that it is built with them.
public enum Target: String, CaseIterable, Sendable {
    case native
    case x86_64_v2 = "x86-64-v2"
    case x86_64_v3 = "x86-64-v3"
    case x86_64_v4 = "x86-64-v4"
    case aarch64
    case portable

    /// The named target: `native` is the host's level, the others are themselves.
    public var resolved: Target { self == .native ? Self.host : self }

    /// Floats per vector register.
    public var vectorWidth: Int {
        switch resolved {
        case .x86_64_v4: return 16
        case .x86_64_v3: return 8
        case .x86_64_v2, .aarch64, .portable, .native: return 4
        }
    }

    /// Vector registers the kernels can keep accumulators and operands in:
    /// 32 zmm with AVX-512, 32 NEON q registers, 16 ymm or xmm otherwise.
    public var vectorRegisters: Int { resolved == .x86_64_v4 || resolved == .aarch64 ? 32 : 16 }

    /// Whether the target is an x86-64 level (its C needs -march=LEVEL on an x86-64 compiler).
    public var isX86Level: Bool { [.x86_64_v2, .x86_64_v3, .x86_64_v4].contains(resolved) }

    /// The instructions the level adds, as the C's check and `nncc compile` name them.
    public var instructions: String {
        switch resolved {
        case .x86_64_v4: return "AVX-512F/BW/DQ/VL"
        case .x86_64_v3: return "AVX2, FMA"
        case .x86_64_v2: return "SSE4.2"
        case .aarch64: return "NEON"
        case .portable, .native: return "the compiler's baseline, SSE2 on x86-64"
        }
    }

    /// How to build the C for the target, as the header's note and the C's #error say it.
    public var buildHint: String {
        isX86Level ? "compile it with -march=\(resolved.rawValue) or newer"
            : resolved == .aarch64 ? "compile it with an aarch64 compiler (on x86-64: aarch64-linux-gnu-gcc)"
            : "compile it with any C11 compiler"
    }

    /// "x86-64-v4", or "x86-64-v4 (native)" when resolved from `native`.
    public var label: String { self == .native ? "\(resolved.rawValue) (native)" : rawValue }

    /// gcc's (11 on) and clang's flags for the level: any CPU of that level runs the code.
    /// `native` takes its level's flags, so its build is the named level's.
    public var compilerFlags: [String] {
        switch resolved {
        case .x86_64_v2, .x86_64_v3, .x86_64_v4: return ["-march=\(resolved.rawValue)"]
        // Every aarch64 compiler's baseline (armv8-a) has NEON; an x86-64 compiler stops at the C's #error.
        case .aarch64, .portable, .native: return []
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
        case .aarch64, .portable, .native: return []
        }
    }

    /// Predefined macros a compile for the level defines; the generated C stops
    /// with an #error when one is missing (built for a lesser CPU).
    public var requiredMacros: [String] {
        switch resolved {
        case .x86_64_v4: return ["__AVX512F__", "__AVX512BW__", "__AVX512DQ__", "__AVX512VL__"]
        case .x86_64_v3: return ["__AVX2__", "__FMA__"]
        case .x86_64_v2: return ["__SSE4_2__"]
        case .aarch64: return ["__aarch64__", "__ARM_NEON"]
        case .portable, .native: return []
        }
    }

    /// /proc/cpuinfo flags a CPU needs to run the level's code: the psABI's
    /// list (gcc may emit any of these instructions at that -march). NEON is
    /// in every aarch64 CPU's baseline: aarch64 needs none.
    public var cpuFlags: [String] {
        switch resolved {
        case .x86_64_v4: return Self.x86_64_v3.cpuFlags + ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]
        case .x86_64_v3: return Self.x86_64_v2.cpuFlags + ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"]
        case .x86_64_v2: return ["cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2"]
        case .aarch64, .portable, .native: return []
        }
    }

    /// Whether this machine can run the target's code: nil, or what it lacks
    /// (the architecture, "x86-64" or "aarch64", else a CPU flag).
    public var missingOnHost: String? {
        guard let architecture else { return nil }
        if architecture != Self.hostArchitecture { return architecture }
        return cpuFlags.first { !Self.hostFlags.contains($0) }
    }

    /// The architecture the target's code is for, "x86-64" or "aarch64"; nil for portable (any).
    public var architecture: String? {
        resolved == .portable ? nil : resolved == .aarch64 ? "aarch64" : "x86-64"
    }

    /// The architecture nncc runs on, as missingOnHost names it.
    #if arch(x86_64)
    static let hostArchitecture = "x86-64"
    #elseif arch(arm64)
    static let hostArchitecture = "aarch64"
    #else
    static let hostArchitecture = "another architecture"
    #endif

    /// The best target the host runs, from its CPUID as Linux reports it in
    /// /proc/cpuinfo (the flags also say the OS saves the AVX-512 state);
    /// aarch64 on a 64-bit Arm host.
    public static let host: Target = {
        #if arch(x86_64)
        return [Target.x86_64_v4, .x86_64_v3, .x86_64_v2].first { $0.missingOnHost == nil } ?? .portable
        #elseif arch(arm64)
        return .aarch64
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
