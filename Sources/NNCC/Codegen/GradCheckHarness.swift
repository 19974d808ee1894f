import Foundation

/// The C behind `nncc check-grad` (docs/custom-ops.md): for each custom layer of a model that has a
/// backward, a probe that draws random inputs and upstream gradients, runs the user's gradient, and
/// takes the central finite difference of the user's forward at the same points. Swift compares the
/// two (NNCCRuntime/GradCheck.swift). One file holds every such layer of the model, so checking
/// another layer reuses the compiled harness from the build cache.
public enum GradCheckHarness {
    /// Points (elementwise) or input elements (array) each probe compares at most.
    public static let probes = 256
    /// Examples in the array form's batch: more than one, so a kernel that mixes examples shows.
    public static let batch = 2
    /// The central difference's step at x: `step · max(1, |x|)`. Near float32's best for a
    /// difference of float results (truncation ~h², rounding ~2⁻²⁴/h).
    public static let step = 1e-2

    /// A custom layer the harness can check: its node, and its index in the harness.
    public struct Layer {
        public var node: Int
        public var name: String
        public var op: CustomOp
        /// The operand's per-example shape.
        public var inputShape: [Int]
    }

    /// The model's custom layers with a backward, in graph order.
    public static func layers(_ g: Graph) -> [Layer] {
        g.nodes.indices.compactMap { i in
            guard case let .custom(c) = g.nodes[i].op, c.backward != nil else { return nil }
            return Layer(node: i, name: g.nodes[i].name, op: c, inputShape: g.nodes[g.nodes[i].inputs[0]].shape)
        }
    }

    /// `int64_t nncc_grad_probe(int layer, uint64_t seed, int64_t *index, double *input, double *analytic,
    /// double *numeric)`: fills up to `probes` entries and returns how many, -1 when out of memory,
    /// -2 for an unknown layer. `index` is the point (elementwise) or the flat input element (array).
    public static func source(_ g: Graph) -> String {
        let layers = layers(g)
        var out = """
            /* nncc check-grad harness for the model "\(CSyntax.comment(g.name))": the custom layers' backward
               against central finite differences of their forward (docs/custom-ops.md). */
            #include <math.h>
            #include <stdint.h>
            #include <stdlib.h>

            #define NN_UNUSED __attribute__((unused))
            #define NN_PROBES \(probes)

            int64_t nncc_grad_probe(int layer, uint64_t seed, int64_t *index, double *input, double *analytic, double *numeric);

            /* Uniform in [lo, hi) from a splitmix64 stream. */
            NN_UNUSED static double nn_uniform(uint64_t *s, double lo, double hi) {
                uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
                z ^= z >> 31;
                return lo + (hi - lo) * (double)(z >> 11) * 0x1.0p-53;
            }

            /* The central difference's step at x, relative to |x| beyond 1. */
            NN_UNUSED static double nn_step(float x) { return \(step) * (fabsf(x) > 1.0f ? (double)fabsf(x) : 1.0); }

            /* dy . y, accumulated in double: the loss whose gradient the backward computes. */
            NN_UNUSED static double nn_dot(const float *dy, const float *y, int64_t n) {
                double s = 0.0;
                for (int64_t i = 0; i < n; i++) s += (double)dy[i] * (double)y[i];
                return s;
            }

            """
        for (k, l) in layers.enumerated() {
            out += "\n" + l.op.prototypes + "\n\n" + probe(k, l, g.nodes[l.node].shape)
        }
        out += """

            int64_t nncc_grad_probe(int layer, uint64_t seed, int64_t *index, double *input, double *analytic, double *numeric) {
                switch (layer) {

            """
        for k in layers.indices {
            out += "    case \(k): return probe_\(k)(seed, index, input, analytic, numeric);\n"
        }
        out += "    default: return -2;\n    }\n}\n"
        return out + CustomOps.userCode(g)
    }

    static func probe(_ k: Int, _ l: Layer, _ outputShape: [Int]) -> String {
        let c = l.op, f = c.cForward, grad = c.cBackward ?? ""
        let head = """
            /* layer "\(CSyntax.comment(l.name))": \(CSyntax.comment(c.backward ?? "")) against \(CSyntax.comment(c.forward)) (\(c.formName)) */
            static int64_t probe_\(k)(uint64_t seed, int64_t *index, double *input, double *analytic, double *numeric) {

            """
        switch c.form {
        case .elementwise:
            return head + """
                    for (int64_t i = 0; i < NN_PROBES; i++) {
                        const float x = (float)nn_uniform(&seed, -2.0, 2.0), dy = (float)nn_uniform(&seed, -1.0, 1.0);
                        const double h = nn_step(x);
                        /* The points actually evaluated, so the difference divides by their true distance. */
                        const float xp = (float)(x + h), xm = (float)(x - h);
                        index[i] = i;
                        input[i] = x;
                        analytic[i] = \(grad)(x, \(f)(x), dy);
                        numeric[i] = (double)dy * ((double)\(f)(xp) - (double)\(f)(xm)) / ((double)xp - (double)xm);
                    }
                    return NN_PROBES;
                }

                """
        case .array:
            let dims = l.inputShape.map { ", \($0)" }.joined()
            let nx = batch * l.inputShape.reduce(1, *), ny = batch * outputShape.reduce(1, *)
            return head + """
                    const int64_t nx = \(nx), ny = \(ny);
                    float *x = malloc((size_t)nx * sizeof *x), *dx = malloc((size_t)nx * sizeof *dx);
                    float *y = malloc((size_t)ny * sizeof *y), *dy = malloc((size_t)ny * sizeof *dy), *y2 = malloc((size_t)ny * sizeof *y2);
                    int64_t count = -1;
                    if (x && dx && y && dy && y2) {
                        for (int64_t i = 0; i < nx; i++) x[i] = (float)nn_uniform(&seed, -2.0, 2.0);
                        for (int64_t i = 0; i < ny; i++) dy[i] = (float)nn_uniform(&seed, -1.0, 1.0);
                        \(f)(x, y, \(batch)\(dims));
                        \(grad)(x, y, dy, dx, \(batch)\(dims));
                        count = nx < NN_PROBES ? nx : NN_PROBES;
                        for (int64_t k = 0; k < count; k++) {
                            /* One element of each of `count` equal slices of the input, so all of it is visited. */
                            const int64_t lo = k * nx / count, hi = (k + 1) * nx / count;
                            const int64_t i = lo + (int64_t)nn_uniform(&seed, 0.0, (double)(hi - lo));
                            const float xi = x[i];
                            const double h = nn_step(xi);
                            x[i] = (float)(xi + h);
                            const double xp = x[i];
                            \(f)(x, y2, \(batch)\(dims));
                            const double lp = nn_dot(dy, y2, ny);
                            x[i] = (float)(xi - h);
                            const double xm = x[i];
                            \(f)(x, y2, \(batch)\(dims));
                            const double lm = nn_dot(dy, y2, ny);
                            x[i] = xi;
                            index[k] = i;
                            input[k] = xi;
                            analytic[k] = dx[i];
                            numeric[k] = (lp - lm) / (xp - xm);
                        }
                    }
                    free(x);
                    free(dx);
                    free(y);
                    free(dy);
                    free(y2);
                    return count;
                }

                """
        }
    }

    /// The compiled harness from the build cache (compiled at most once per content, target and gcc).
    public static func build(_ g: Graph, target: Target = .native) throws -> URL {
        let source = source(g)
        let options = GCCOptions(target: target)
        let flags = try GCC.sharedObjectArguments(source: "x.c", output: "x.so", options: options).dropFirst()
        let compiler = try Compiler.find(options.cc).versionText
        let key = SHA256.hex(["check-grad", source, flags.joined(separator: " "), compiler].joined(separator: "\u{0}"))
        let dir = try BuildCache().directory(key: String(key.prefix(32)), marker: "libgradcheck.so") { tmp in
            let c = tmp.appendingPathComponent("gradcheck.c").path
            try AtomicFile.write(Data(source.utf8), to: c)
            try GCC.run(try GCC.sharedObjectArguments(source: c, output: tmp.appendingPathComponent("libgradcheck.so").path,
                                                      options: options))
        }
        return dir.appendingPathComponent("libgradcheck.so")
    }
}
