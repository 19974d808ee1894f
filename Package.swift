// swift-tools-version:5.9
import PackageDescription

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
        ]),
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
