import Foundation
import Testing
@testable import NNCC
import NNCCRuntime

/// Any C11 compiler: gcc or clang, chosen by --cc or NNCC_CC. How nncc tells them apart and
/// picks each one's flags (pure Swift, and the preprocessor), then the generated C under clang:
/// one fixture end to end, and every kind of model compiled at every target.
@Suite struct CompilerTests {
    static let gcc12 = "#define __GNUC__ 12\n#define __GNUC_MINOR__ 2\n"
    static let clang14 = "#define __clang__ 1\n#define __clang_major__ 14\n#define __GNUC__ 4\n"

    @Test func familyAndVersionComeFromThePredefinedMacros() {
        #expect(Compiler.family(Self.gcc12) == .gcc)
        #expect(Compiler.family(Self.clang14) == .clang)
        #expect(Compiler.family("#define __STDC__ 1\n") == nil)
        #expect(Compiler.macro("__clang_major__", in: Self.clang14) == "14")
        #expect(Compiler.macro("__GNUC__", in: Self.gcc12) == "12")
        #expect(Compiler.macro("__GNUC", in: Self.gcc12) == nil)
    }

    static func compiler(_ family: Compiler.Family, _ major: Int) -> Compiler {
        Compiler(path: "/usr/bin/\(family)", family: family, versionText: "\(family) \(major)", major: major)
    }

    /// gcc keeps its own flags; clang gets none of them; gcc 10 gets each level as instruction sets.
    @Test func flagsFollowTheFamily() {
        let gcc12 = Self.compiler(.gcc, 12), gcc10 = Self.compiler(.gcc, 10), clang = Self.compiler(.clang, 14)
        #expect(gcc12.tuningFlags == ["-fno-predictive-commoning", "-fno-tree-loop-distribute-patterns"])
        #expect(clang.tuningFlags.isEmpty)
        for t in [Target.x86_64_v2, .x86_64_v3, .x86_64_v4] {
            #expect(gcc12.targetFlags(t) == ["-march=\(t.rawValue)"])
            #expect(clang.targetFlags(t) == ["-march=\(t.rawValue)"])
            #expect(gcc10.targetFlags(t) == t.instructionSetFlags && !gcc10.targetFlags(t).contains { $0.contains("-v") })
        }
        #expect(gcc10.targetFlags(.portable).isEmpty && clang.targetFlags(.portable).isEmpty)
    }

    /// The instruction sets gcc 10 gets for a level define what `-march=x86-64-vN` defines
    /// (checked with this machine's gcc, and clang if present: the preprocessor only).
    @Test func instructionSetsSpellTheLevel() throws {
        for cc in ["gcc", "clang"] {
            guard let path = GCC.which(cc) else { continue }
            for t in [Target.x86_64_v2, .x86_64_v3, .x86_64_v4] {
                func features(_ flags: [String]) throws -> Set<String> {
                    let r = try GCC.capture([path] + flags + ["-dM", "-E", "-x", "c", "/dev/null"])
                    // clang names the k8 CPU for -march=x86-64; only the instruction set macros matter.
                    return Set(r.output.split(separator: "\n").map(String.init).filter { !$0.contains("k8") })
                }
                #expect(try features(t.compilerFlags) == (try features(t.instructionSetFlags)), "\(cc) \(t.rawValue)")
            }
        }
    }

    /// The build cache keys on the compiler: its family and version, and its path (a link to the
    /// same gcc is another entry).
    @Test func cacheKeyNamesTheCompiler() throws {
        let gcc = try Compiler.find("gcc")
        let key = try Builder.cacheKey(source: "int x;", options: CompileOptions(cc: gcc.path))
        #expect(try Builder.cacheKey(source: "int x;", options: CompileOptions(cc: gcc.path)) == key)
        let clang = try #require(ClangTests.clang, "clang is not on PATH")
        #expect(try Builder.cacheKey(source: "int x;", options: CompileOptions(cc: clang)) != key)
        let dir = FixtureKit.makeTempDir("nncc-cc-link")
        defer { try? FileManager.default.removeItem(at: dir) }
        let link = dir.appendingPathComponent("gcc").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: gcc.path)
        #expect(try Builder.cacheKey(source: "int x;", options: CompileOptions(cc: link)) != key)
    }

    /// A compiler that is missing, not executable or neither gcc nor clang is an error naming it and where it came from.
    @Test func unusableCompilersAreNamed() throws {
        func message(_ cc: String) -> String {
            do { _ = try Compiler.find(cc); return "" } catch { return "\(error)" }
        }
        #expect(message("/nonexistent/clang") == "C compiler not found: --cc /nonexistent/clang: no such file; give --cc the path of gcc or clang")
        #expect(message("no-such-cc-nncc").contains("--cc no-such-cc-nncc: no such command on PATH"))
        #expect(message(#filePath).contains("--cc \(#filePath): not an executable file"))
        #expect(message("/bin/false").contains("/bin/false is not a C compiler nncc can run"))
        #expect(message("/bin/echo").contains("/bin/echo is neither gcc nor clang"))
    }
}
