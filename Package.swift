// swift-tools-version:5.9
import PackageDescription
import Foundation

/// libclang (Debian's libclang-dev) reads custom C operators: $LIBCLANG_PREFIX, else the newest
/// /usr/lib/llvm-N that has clang-c/Index.h. The flags name its include and library folders only.
let libclang: String? = {
    if let p = ProcessInfo.processInfo.environment["LIBCLANG_PREFIX"], !p.isEmpty { return p }
    return (10...30).reversed().map { "/usr/lib/llvm-\($0)" }
        .first { FileManager.default.fileExists(atPath: $0 + "/include/clang-c/Index.h") }
}()

let package = Package(
    name: "nncc",
    products: [
        .executable(name: "nncc", targets: ["nncc"]),
        .library(name: "NNCC", targets: ["NNCC"]),
        .library(name: "NNCCRuntime", targets: ["NNCCRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The compiler as a library: frontend → IR → passes → schedule → codegen → toolchain, and
        // Session/Trainer, which compile on demand. Re-exports NNCCRuntime.
        .target(name: "NNCC", dependencies: [
            "NNCCRuntime", "CNNCCSpawn", "CNNCCTemplates",
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            "CClang",
        ], swiftSettings: libclang.map { [.unsafeFlags(["-Xcc", "-I\($0)/include"])] },
           linkerSettings: libclang.map { [.unsafeFlags(["-L\($0)/lib", "-Xlinker", "-rpath", "-Xlinker", "\($0)/lib"])] }),
        // libclang's C interface over clang-c/Index.h (Debian's libclang-dev), for custom C operators.
        .systemLibrary(name: "CClang", providers: [.apt(["libclang-dev"])]),
        // Starts gcc so that it cannot outlive nncc (C: fork and exec with no Swift in between).
        .target(name: "CNNCCSpawn"),
        // templates/*.c built into the binary with C23 #embed (the files the generated C is made of).
        .target(name: "CNNCCTemplates"),
        // What an app that loads prebuilt libraries needs, and nothing more: the dlopen loader and
        // contexts, NNCCError, Tensor and the .npy reader. Foundation only: no gcc, no dependencies.
        .target(name: "NNCCRuntime"),
        // Thin command line over the library.
        .executableTarget(name: "nncc", dependencies: [
            "NNCC", "NNCCRuntime",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Example Swift app: loads a library `nncc compile` built, through NNCCRuntime alone (built and run by the tests).
        .executableTarget(name: "nncc-swift-example", dependencies: ["NNCCRuntime"], path: "examples/swift-app"),
        // libFuzzer targets over the readers (`make fuzz`, docs/fuzzing.md); built without the fuzzer
        // sanitizer it replays input files instead.
        .executableTarget(name: "nncc-fuzz", dependencies: ["NNCC"]),
        .testTarget(name: "NNCCTests", dependencies: ["NNCC", "NNCCRuntime"], exclude: ["Fixtures"]),
    ]
)
