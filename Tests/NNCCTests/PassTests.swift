import Foundation
import XCTest
@testable import NNCC

/// IR in → IR out: each test builds a small graph from JSON, runs one pass and
/// checks the printed IR FileCheck-style; memory planning is checked by brute force.
final class PassTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func graph(_ layers: String, input: String = "[8]", outputs: String? = nil) throws -> Graph {
        let extra = outputs.map { #", "outputs": \#($0)"# } ?? ""
        let text = #"{"format": 1, "name": "p", "input": {"shape": \#(input)}, "layers": [\#(layers)]\#(extra)}"#
        return try inferShapes(try ModelDecoder.decode(Data(text.utf8), file: "p.json").graph)
    }

    static func fixtureModels() throws -> [String] {
        var out: [String] = []
        for set in ["torch", "golden"] {
            let dir = fixtures.appendingPathComponent(set)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
                let path = dir.appendingPathComponent(name).appendingPathComponent("model.json").path
                if FileManager.default.fileExists(atPath: path) { out.append(path) }
            }
        }
        return out
    }

    func normalized(_ s: String) -> String {
        s.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    /// FileCheck-style matching: every pattern line must occur (as a substring, whitespace
    /// collapsed) in a later IR line than the previous one; `NOT: text` lines must occur nowhere.
    func check(_ ir: String, _ pattern: String, file: StaticString = #filePath, line: UInt = #line) {
        let lines = ir.split(separator: "\n").map { normalized(String($0)) }
        var next = 0
        for raw in pattern.split(separator: "\n") {
            let p = normalized(String(raw))
            if p.isEmpty { continue }
            if p.hasPrefix("NOT: ") {
                let text = String(p.dropFirst(5))
                if let hit = lines.first(where: { $0.contains(text) }) {
                    XCTFail("unexpected \"\(text)\" in line \"\(hit)\" of:\n\(ir)", file: file, line: line)
                }
                continue
            }
            guard let k = lines[next...].firstIndex(where: { $0.contains(p) }) else {
                XCTFail("no line after line \(next) contains \"\(p)\" in:\n\(ir)", file: file, line: line)
                return
            }
            next = k + 1
        }
    }

    // MARK: - fuseEpilogue

    func testDenseReluFused() throws {
        let g = try graph(#"{"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 4}"#)
        check(printIR(g), """
            %1 = dense(units=16) %0 [16] "0"
            %2 = relu %1 [16] "1"
            %3 = dense(units=4) %2 [4] "2"
            """)
        let f = fuseEpilogue(g)
        XCTAssertEqual(printIR(f), """
            graph p  input [8]  outputs %2
              %0 = input                                          [8]  "input"
              %1 = dense(units=16) %0 + relu                      [16]  "0"
              %2 = dense(units=4) %1                              [4]  "2"
            params (4 tensors, 212 floats)
              0.weight [16, 8]
              0.bias [16]
              2.weight [4, 16]
              2.bias [4]

            """)
    }

    func testActivationAttributeFusesBackAndOutputMoves() throws {
        let g = try graph(#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "activation": "leaky_relu"}, {"type": "dense", "units": 4, "activation": "sigmoid"}"#,
                          input: "[1, 5, 5]")
        let f = fuseEpilogue(g)
        check(printIR(f), """
            graph p input [1, 5, 5] outputs %2
            %1 = conv2d(filters=2, kernel=3) %0 + leaky_relu(0.01) [2, 3, 3] "0"
            %2 = dense(units=4) %1 + sigmoid [2, 3, 4] "1"
            NOT: /activation
            """)
    }

    /// Training fuses a relu into the batchnorm before it (one pass writes relu(bn(x)); backward masks ∂y by
    /// that output); at inference that batchnorm folds into the conv instead, and other activations stay.
    func testBatchNormReluFusedInTraining() throws {
        let g = try graph(#"""
            {"type": "conv2d", "filters": 3, "kernel_size": 3, "bias": false}, {"type": "batchnorm"}, {"type": "relu"},
            {"type": "batchnorm"}, {"type": "sigmoid"}, {"type": "flatten"}, {"type": "dense", "units": 2}
            """#, input: "[2, 5, 5]")
        check(printIR(fuseEpilogue(g, training: true)), """
            %1 = conv2d(filters=3, kernel=3, bias=false) %0 [3, 3, 3] "0"
            %2 = batchnorm(eps=1e-05, momentum=0.1) %1 + relu [3, 3, 3] "1"
            %3 = batchnorm(eps=1e-05, momentum=0.1) %2 [3, 3, 3] "3"
            %4 = sigmoid %3
            NOT: = relu
            """)
        XCTAssertNoThrow(try verify(fuseEpilogue(g, training: true)))
        XCTAssertEqual(printIR(fuseEpilogue(g)), printIR(g))
        // The relu as the model's output stays (the loss may want it as it is).
        let output = try graph(#"{"type": "dense", "units": 4}, {"type": "batchnorm"}, {"type": "relu"}"#)
        XCTAssertEqual(printIR(fuseEpilogue(output, training: true)), printIR(output))
    }

    func testNotFusedWhenDenseHasTwoUsers() throws {
        let g = try graph(#"{"type": "dense", "units": 4, "name": "d"}, {"type": "relu", "name": "r"}, {"type": "add", "inputs": ["d", "r"]}"#)
        XCTAssertEqual(printIR(fuseEpilogue(g)), printIR(g))
        check(printIR(fuseEpilogue(g)), """
            %1 = dense(units=4) %0 [4] "d"
            %2 = relu %1
            %3 = add %1, %2
            NOT: + relu
            """)
    }

    func testNotFusedWhenDenseIsAnOutput() throws {
        let g = try graph(#"{"type": "dense", "units": 4, "name": "d"}, {"type": "relu", "name": "r"}"#, outputs: #"["d", "r"]"#)
        XCTAssertEqual(printIR(fuseEpilogue(g)), printIR(g))
        // The activation itself may be an output: it is fused and the output moves to the dense.
        let h = try graph(#"{"type": "dense", "units": 4, "name": "d"}, {"type": "relu", "name": "r"}"#, outputs: #"["r"]"#)
        check(printIR(fuseEpilogue(h)), """
            outputs %1
            %1 = dense(units=4) %0 + relu [4] "d"
            NOT: %2
            """)
    }

    func testOnlyDenseAndConvTakeOneEpilogue() throws {
        let g = try graph(#"""
            {"type": "conv2d", "filters": 2, "kernel_size": 1}, {"type": "relu"}, {"type": "tanh"},
            {"type": "maxpool2d", "pool_size": 2}, {"type": "sigmoid"}, {"type": "flatten"}, {"type": "dense", "units": 3},
            {"type": "softmax"}
            """#, input: "[1, 4, 4]")
        check(printIR(fuseEpilogue(g)), """
            %1 = conv2d(filters=2, kernel=1) %0 + relu [2, 4, 4] "0"
            %2 = tanh %1 [2, 4, 4] "2"
            %3 = maxpool2d(size=2, stride=2, pad=0) %2
            %4 = sigmoid %3
            %5 = reshape([-1]) %4 [8]
            %6 = dense(units=3) %5 [3] "6"
            %7 = softmax %6 [3] "7"
            """)
    }

    // MARK: - foldBatchNorm

    func testBatchNormFoldedAfterConv() throws {
        let g = try graph(#"{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": 1, "bias": false}, {"type": "batchnorm", "eps": 0.001}, {"type": "relu"}"#,
                          input: "[2, 4, 4]")
        let f = foldBatchNorm(g)
        check(printIR(f), """
            outputs %2
            %1 = conv2d(filters=3, kernel=3, pad=1,1,1,1, bias=false) %0 + batchnorm("1", folded) [3, 4, 4] "0"
            %2 = relu %1 [3, 4, 4] "2"
            NOT: = batchnorm
            1.running_var [3] (state)
            """)
        XCTAssertEqual(f.nodes[1].foldedBatchNorm, FoldedBatchNorm(name: "1", eps: 0.001))
        XCTAssertEqual(f.params, g.params)
        check(printIR(fuseEpilogue(f)), #"%1 = conv2d(filters=3, kernel=3, pad=1,1,1,1, bias=false) %0 + batchnorm("1", folded) + relu"#)
    }

    func testBatchNormFoldedAfterDenseOnVectors() throws {
        let g = try graph(#"{"type": "dense", "units": 5}, {"type": "batchnorm", "name": "bn"}"#)
        check(printIR(foldBatchNorm(g)), """
            outputs %1
            %1 = dense(units=5) %0 + batchnorm("bn", folded) [5] "0"
            NOT: %2
            """)
        // On [T, F] batchnorm normalises dim 0 (T), not the dense's units: no fold.
        let s = try graph(#"{"type": "dense", "units": 5}, {"type": "batchnorm"}"#, input: "[3, 8]")
        XCTAssertEqual(printIR(foldBatchNorm(s)), printIR(s))
    }

    func testBatchNormNotFolded() throws {
        let afterRelu = try graph(#"{"type": "conv2d", "filters": 3, "kernel_size": 1}, {"type": "relu"}, {"type": "batchnorm"}"#, input: "[2, 4, 4]")
        XCTAssertEqual(printIR(foldBatchNorm(afterRelu)), printIR(afterRelu))
        let shared = try graph(#"{"type": "conv2d", "filters": 3, "kernel_size": 1, "name": "c"}, {"type": "batchnorm", "name": "b"}, {"type": "add", "inputs": ["c", "b"]}"#,
                               input: "[2, 4, 4]")
        XCTAssertEqual(printIR(foldBatchNorm(shared)), printIR(shared))
        let output = try graph(#"{"type": "conv2d", "filters": 3, "kernel_size": 1, "name": "c"}, {"type": "batchnorm", "name": "b"}"#,
                               input: "[2, 4, 4]", outputs: #"["b", "c"]"#)
        XCTAssertEqual(printIR(foldBatchNorm(output)), printIR(output))
        let onInput = try graph(#"{"type": "batchnorm"}"#, input: "[2, 4, 4]")
        XCTAssertEqual(printIR(foldBatchNorm(onInput)), printIR(onInput))
        // A conv that already took an activation cannot absorb a later batchnorm.
        let fused = fuseEpilogue(try graph(#"{"type": "conv2d", "filters": 3, "kernel_size": 1, "activation": "relu"}, {"type": "batchnorm"}"#,
                                           input: "[2, 4, 4]"))
        XCTAssertEqual(printIR(foldBatchNorm(fused)), printIR(fused))
    }

    // MARK: - removeIdentities

    // MARK: - fuseOperands

    func testActivationsFoldIntoTheBinaryOpThatReadsThem() throws {
        // SiLU as x * sigmoid(x), and a gate that is used twice (not folded).
        let g = try graph(#"""
            {"type": "dense", "units": 6, "name": "x"}, {"type": "sigmoid", "name": "s"},
            {"type": "mul", "name": "silu", "inputs": ["x", "s"]},
            {"type": "tanh", "name": "t", "inputs": ["x"]},
            {"type": "maximum", "name": "m", "inputs": ["silu", "t"]}, {"type": "sub", "name": "o", "inputs": ["m", "t"]}
            """#)
        check(printIR(fuseOperands(g)), """
            %1 = dense(units=6) %0 [6] "x"
            %2 = mul(b=sigmoid) %1, %1 [6] "silu"
            %3 = tanh %1 [6] "t"
            %4 = maximum %2, %3 [6] "m"
            %5 = sub %4, %3 [6] "o"
            NOT: = sigmoid
            """)
    }

    func testActivationThatIsAnOutputIsNotFolded() throws {
        let g = try graph(#"""
            {"type": "sigmoid", "name": "s"}, {"type": "mul", "name": "m", "inputs": ["input", "s"]}
            """#, outputs: #"["s", "m"]"#)
        check(printIR(fuseOperands(g)), """
            %1 = sigmoid %0 [8] "s"
            %2 = mul %0, %1 [8] "m"
            """)
    }

    func testDropoutAndIdentityRemoved() throws {
        let g = try graph(#"""
            {"type": "dense", "units": 4}, {"type": "dropout", "rate": 0.5}, {"type": "identity"},
            {"type": "dense", "units": 4, "activation": "identity"}, {"type": "add", "inputs": ["1", "2", "3"]}
            """#)
        check(printIR(removeIdentities(g)), """
            outputs %3
            %1 = dense(units=4) %0 [4] "0"
            %2 = dense(units=4) %1 [4] "3"
            %3 = add %1, %1, %2
            NOT: dropout
            NOT: identity
            """)
    }

    func testDropoutAndIdentityRemovedWhenOutputs() throws {
        let g = try graph(#"{"type": "dense", "units": 4, "name": "d"}, {"type": "dropout", "rate": 0.1, "name": "x"}, {"type": "identity", "name": "y"}"#,
                          outputs: #"["x", "y", "d"]"#)
        let r = removeIdentities(g)
        check(printIR(r), """
            outputs %1, %1, %1
            %1 = dense(units=4) %0 [4] "d"
            NOT: %2
            """)
        XCTAssertNoThrow(try verify(r))
    }

    // MARK: - planMemory

    /// Brute force: buffers (results and scratch) whose lifetimes intersect never share a float.
    func assertPlanIsSound(_ g: Graph, scratch: [Int: Int], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        var lastUse = Array(g.nodes.indices)
        for (i, n) in g.nodes.enumerated() { for j in n.inputs { lastUse[g.storageRoot(j)] = max(lastUse[g.storageRoot(j)], i) } }
        for o in g.outputs { lastUse[g.storageRoot(o)] = Int.max }
        var buffers: [(start: Int, end: Int, from: Int, to: Int, label: String)] = []
        for (i, n) in g.nodes.enumerated() {
            switch n.storage {
            case .unplanned: XCTFail("\(what): %\(i) unplanned", file: file, line: line)
            case .input: XCTAssertEqual(i, 0, "\(what): only the input lives in the caller's buffer", file: file, line: line)
            case let .view(of: k):
                XCTAssertTrue(n.op.isView && n.inputs == [k], "\(what): %\(i) is a view of %\(k)", file: file, line: line)
            case let .arena(offset):
                buffers.append((offset, offset + n.size * g.maxBatch, i, lastUse[i], "%\(i)"))
            }
            if let s = n.scratchOffset { buffers.append((s, s + scratch[i]!, i, i, "scratch of %\(i)")) }
        }
        for b in buffers {
            XCTAssertEqual(b.start % 16, 0, "\(what): \(b.label) not 64-byte aligned", file: file, line: line)
            XCTAssertLessThanOrEqual(b.end, g.arenaFloats, "\(what): \(b.label) outside the arena", file: file, line: line)
        }
        for (x, a) in buffers.enumerated() {
            for b in buffers[(x + 1)...] where a.from <= b.to && b.from <= a.to && a.start < a.end && b.start < b.end {
                XCTAssertTrue(a.end <= b.start || b.end <= a.start,
                              "\(what): \(a.label) [\(a.start), \(a.end)) and \(b.label) [\(b.start), \(b.end)) overlap while both live",
                              file: file, line: line)
            }
        }
    }

    /// Plans memory with the scratch sizes `scratch` gives each node in place of its kernel's.
    func plan(_ g: Graph, batch: Int, scratch: (Int) -> Int) throws -> (Graph, [Int: Int]) {
        var g = g, sizes: [Int: Int] = [:]
        for i in g.nodes.indices {
            sizes[i] = scratch(i)
            g.nodes[i].kernelPlan = KernelPlan(kernel: .loops, scratchFloats: sizes[i]!)
        }
        return (try planMemory(g, maxBatch: batch), sizes)
    }

    /// The passes that rewrite the graph, before kernels are selected.
    static let rewrites = Pipeline.passes(CompileOptions(target: .portable), maxBatch: 8).prefix { $0.name != "select_kernels" }

    func testPlanHasNoOverlappingLiveBuffersOnAllFixtures() throws {
        let schedule = CompileOptions(target: .portable).schedule
        for path in try Self.fixtureModels() {
            let name = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
            var g = try Pipeline.load(path).graph
            for pass in Self.rewrites { g = try pass.run(g) }
            for batch in [1, 3] {
                let scheduled = selectKernels(g, schedule: schedule, maxBatch: batch, training: false)
                let (p, s) = try plan(g, batch: batch) { scheduled.nodes[$0].plan.scratchFloats }
                assertPlanIsSound(p, scratch: s, "\(name) batch \(batch)")
                XCTAssertNoThrow(try verify(p), name)
                // Odd scratch sizes on every node stress the allocator's gaps.
                let (q, t) = try plan(g, batch: batch) { i in i % 3 == 0 ? 0 : 7 * i + 1 }
                assertPlanIsSound(q, scratch: t, "\(name) batch \(batch), synthetic scratch")
            }
        }
    }

    func testPlanOnBranchyGraph() throws {
        let g = try graph(#"""
            {"type": "dense", "units": 40, "name": "a"}, {"type": "dense", "units": 8, "name": "b"},
            {"type": "dense", "units": 33, "name": "c", "inputs": ["input"]}, {"type": "relu", "name": "d", "inputs": ["a"]},
            {"type": "dense", "units": 8, "name": "e", "inputs": ["c"]}, {"type": "add", "name": "f", "inputs": ["b", "e", "input"]},
            {"type": "reshape", "shape": [2, 4], "name": "g", "inputs": ["f"]}, {"type": "dense", "units": 5, "name": "h"}
            """#, outputs: #"["h", "d", "g"]"#)
        for batch in [1, 2, 5] {
            let (p, s) = try plan(g, batch: batch) { i in i == 5 ? 100 : 0 }
            assertPlanIsSound(p, scratch: s, "branchy batch \(batch)")
        }
    }

    func testPlanReusesMemoryOnALongChain() throws {
        let layers = (0..<12).map { _ in #"{"type": "dense", "units": 64}"# }.joined(separator: ", ")
        let g = try graph(layers, input: "[64]")
        let (p, s) = try plan(g, batch: 4) { _ in 0 }
        assertPlanIsSound(p, scratch: s, "chain")
        let sum = p.nodes.dropFirst().reduce(0) { $0 + $1.size * 4 }
        XCTAssertLessThan(p.arenaFloats, sum / 4, "arena \(p.arenaFloats) floats for buffers totalling \(sum)")
        XCTAssertEqual(p.arenaFloats, 2 * 64 * 4)
        check(printIR(p), """
            %1 = dense(units=64) %0 [64] @arena+0 "0"
            %2 = dense(units=64) %1 [64] @arena+256 "1"
            %3 = dense(units=64) %2 [64] @arena+0 "2"
            arena 512 floats (2048 bytes) for batch 4
            """)
    }

    func testViewsShareStorage() throws {
        let g = try graph(#"""
            {"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "flatten"}, {"type": "reshape", "shape": [2, -1]},
            {"type": "flatten"}, {"type": "dense", "units": 3}
            """#, input: "[1, 6, 6]")
        let (p, s) = try plan(g, batch: 2) { _ in 0 }
        assertPlanIsSound(p, scratch: s, "views")
        XCTAssertEqual(p.nodes.map(\.storage), [.input, .arena(offset: 0), .view(of: 1), .view(of: 2), .view(of: 3), .arena(offset: 128)])
        XCTAssertEqual((2...4).map { p.storageRoot($0) }, [1, 1, 1])
        check(printIR(p), """
            %2 = reshape([-1]) %1 [64] @view(%1)
            %5 = dense(units=3) %4 [3] @arena+128
            """)
        // A view of the input lives in the caller's buffer.
        let flat = try graph(#"{"type": "flatten"}, {"type": "dense", "units": 2}"#, input: "[2, 3]")
        let (q, _) = try plan(flat, batch: 1) { _ in 0 }
        XCTAssertEqual(q.nodes.map(\.storage), [.input, .view(of: 0), .arena(offset: 0)])
    }

    // MARK: - verify

    func testVerifyPassesAfterEveryPassOnAllFixtures() throws {
        let schedule = CompileOptions(target: .portable).schedule
        let paths = try Self.fixtureModels()
        XCTAssertGreaterThan(paths.count, 50)
        for path in paths {
            let name = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
            let parsed = try Pipeline.load(path).graph
            XCTAssertNoThrow(try verify(parsed), name)
            // Each pass alone, and the pipeline order, keep the IR valid; passes are idempotent.
            for pass in Self.rewrites {
                let once = try pass.run(parsed)
                XCTAssertNoThrow(try verify(once), "\(name) after \(pass.name)")
                XCTAssertEqual(printIR(try pass.run(once)), printIR(once), "\(name): \(pass.name) is not idempotent")
            }
            var g = parsed
            for pass in Self.rewrites {
                g = try pass.run(g)
                XCTAssertNoThrow(try verify(g), "\(name) after \(pass.name)")
                XCTAssertEqual(g.params, parsed.params, "\(name): \(pass.name) changed the parameter table")
            }
            let planned = try planMemory(selectKernels(g, schedule: schedule, maxBatch: 8, training: false), maxBatch: 8)
            XCTAssertNoThrow(try verify(planned), "\(name) after planning")
            var traced: [Stage] = []
            XCTAssertNoThrow(try Pipeline.lower(parsed, options: CompileOptions(target: .portable)) { stage, h in
                traced.append(stage)
                do { try verify(h) } catch { XCTFail("\(name) at \(stage): \(error)") }
            }, name)
            XCTAssertEqual(traced, [.parsed, .fused, .scheduled, .planned])
        }
    }

    /// chooseLayouts keeps images channels-last only between depthwise layers with channels in the lanes,
    /// 1×1 layers and a global average pool, and out of an implicit-GEMM conv into them: a 1×1 layer whose
    /// result a flatten reads stays NCHW, and so does the depthwise layer before it (a 1×1 layer has one
    /// layout in and out); an output and a training build stay NCHW.
    func testChannelsLastOnlyBetweenDepthwiseAndPointwise() throws {
        let layers = #"""
            {"type": "conv2d", "filters": 20, "kernel_size": [3, 2], "stride": 2, "padding": 1, "name": "stem"},
            {"type": "conv2d", "filters": 20, "kernel_size": 3, "groups": 20, "padding": 1, "name": "dw0"},
            {"type": "conv2d", "filters": 18, "kernel_size": 1, "name": "pw0"},
            {"type": "conv2d", "filters": 18, "kernel_size": 3, "groups": 18, "padding": 1, "name": "dw1"},
            {"type": "conv2d", "filters": 12, "kernel_size": 1, "name": "pw1"}
            """#
        let pooled = layers + #", {"type": "global_avgpool2d", "name": "gap"}"#
        let schedule = Schedule(target: .x86_64_v4)
        func layouts(_ g: Graph) -> [String: String] {
            var out: [String: String] = [:]
            for n in g.nodes {
                guard let plan = n.kernelPlan else { continue }
                if case .globalAvgPool = n.op { out[n.name] = plan.inputChannelsLast ? "last" : "nchw" }
                guard case .conv = plan.kernel else { continue }
                out[n.name] = "\(plan.inputChannelsLast ? "last" : "nchw")->\(plan.outputChannelsLast ? "last" : "nchw")"
                if case .conv(.channelsLast) = plan.kernel { out[n.name]! += " gemm" }
            }
            return out
        }
        func chosen(_ layers: String, outputs: String? = nil) throws -> [String: String] {
            let g = try graph(layers, input: "[6, 9, 5]", outputs: outputs)
            return layouts(chooseLayouts(selectKernels(g, schedule: schedule, maxBatch: 4, training: false), schedule: schedule))
        }
        XCTAssertEqual(try chosen(pooled), ["stem": "nchw->last", "dw0": "last->last", "pw0": "last->last gemm",
                                            "dw1": "last->last", "pw1": "last->last gemm", "gap": "last"])
        // A flatten reads NCHW: pw1 keeps it, and so dw1's result does too.
        let flat = try chosen(layers + #", {"type": "flatten"}, {"type": "dense", "units": 3}"#)
        XCTAssertEqual(flat["dw1"], "last->nchw")
        XCTAssertEqual(flat["pw1"], "nchw->nchw")
        // pw0 as an output: it and dw0's result stay NCHW.
        let kept = try chosen(pooled, outputs: #"["pw0", "gap"]"#)
        XCTAssertEqual(kept["dw0"], "last->nchw")
        XCTAssertEqual(kept["pw0"], "nchw->nchw")
        XCTAssertEqual(kept["dw1"], "nchw->last")
        // A training build does not run the pass at all.
        var options = CompileOptions(target: .x86_64_v4)
        options.train = true
        let text = #"{"format": 1, "name": "p", "input": {"shape": [6, 9, 5]}, "layers": [\#(pooled), {"type": "dense", "units": 3}], "#
            + #""train": {"loss": "cross_entropy", "optimizer": {"type": "sgd", "lr": 0.1}, "batch_size": 4}}"#
        let trained = try Pipeline.lower(try ModelDecoder.decode(Data(text.utf8), file: "p.json").graph, options: options)
        XCTAssertFalse(layouts(trained).values.contains { $0.contains("last") })
    }

    func assertInvalid(_ g: Graph, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try verify(g), file: file, line: line) { e in
            let m = (e as? NNCCError)?.message ?? "\(e)"
            XCTAssertTrue(m.contains("internal error, invalid IR") && m.contains(fragment), m, file: file, line: line)
        }
    }

    func testVerifyCatchesBrokenGraphs() throws {
        let g = try graph(#"{"type": "dense", "units": 4}, {"type": "relu"}, {"type": "dense", "units": 2}"#)
        XCTAssertNoThrow(try verify(g))
        var b = g
        b.nodes[1].inputs = [2]
        assertInvalid(b, "operand %2 does not come before its user")
        b = g
        b.nodes[2].inputs = [2]
        assertInvalid(b, "operand %2 does not come before its user")
        b = g
        b.nodes[2].shape = [5]
        assertInvalid(b, "shape [5] but the op gives [4]")
        b = g
        b.nodes[3].shape = [2, 1]
        assertInvalid(b, "but the op gives [2]")
        b = g
        b.nodes[2].epilogue = .tanh
        assertInvalid(b, "only dense and conv2d take fused epilogues")
        b = g
        b.nodes[2].op = .input
        assertInvalid(b, "a second input node")
        b = g
        b.outputs = [7]
        assertInvalid(b, "output out of range")
        b = g
        b.nodes[0].op = .activation(.relu)
        assertInvalid(b, "node 0 must be the input")
        var (p, _) = try plan(g, batch: 2) { _ in 0 }
        XCTAssertNoThrow(try verify(p))
        p.arenaFloats = 8
        assertInvalid(p, "buffer outside the arena")
        do {
            try verify(b)
        } catch let e as NNCCError {
            XCTAssertEqual(e.path, "IR %0")
            XCTAssertTrue(e.message.contains("graph p"), "the message carries the printed IR")
        }
    }
}
