import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine's single-thread peaks for `nncc bench --layers`: the FMA rate at the target's vector
/// width (bench/peak.c's loop: many independent FMA chains, best of short chunks so other load on
/// the machine lowers it little) and the read bandwidth of a 1 MB buffer (in cache) and of a 64 MB
/// one (memory, or a last-level cache that large). A small C library, compiled and measured once per
/// target, compiler and CPU: the numbers are kept in its build cache entry.
public enum Peak {
    public struct Rates: Sendable {
        public var gflops: Double
        /// Read bandwidth of a buffer that stays in cache (`cacheBytes`), and of one that does not.
        public var cacheGBytes: Double, memoryGBytes: Double
        public static let cacheBytes = 1 << 20

        public init(gflops: Double, cacheGBytes: Double, memoryGBytes: Double) {
            self.gflops = gflops
            self.cacheGBytes = cacheGBytes
            self.memoryGBytes = memoryGBytes
        }
    }

    /// `cc`: the compiler (`--cc`), as CompileOptions.cc.
    public static func measure(target: Target, cc: String? = nil) throws -> Rates {
        let vw = target.vectorWidth
        let source = """
            #include <stdlib.h>
            #include <time.h>
            typedef float vf __attribute__((vector_size(\(vw * 4))));
            static double now(void) {
                struct timespec t;
                timespec_get(&t, TIME_UTC);
                return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
            }
            double nn_peak_gflops(void) {
                volatile float one = 1.0000001f, almost = 0.9999999f;
                const vf a = (vf){0} + one, b = (vf){0} + almost;
                /* Twelve named chains, not an array: at -O2 a loop over an array kept the
                   accumulators in memory and measured 45 of 118 GFLOP/s on Zen 4. */
                vf c0 = a, c1 = a + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a;
                vf c6 = c5 + a, c7 = c6 + a, c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a;
                double best = 1e30;
                for (int chunk = 0; chunk < 300; chunk++) {
                    const double t0 = now();
                    for (long n = 0; n < 20000; n++) {
                        c0 = c0 * a + b; c1 = c1 * a + b; c2 = c2 * a + b; c3 = c3 * a + b;
                        c4 = c4 * a + b; c5 = c5 * a + b; c6 = c6 * a + b; c7 = c7 * a + b;
                        c8 = c8 * a + b; c9 = c9 * a + b; c10 = c10 * a + b; c11 = c11 * a + b;
                    }
                    const double t = now() - t0;
                    if (t < best) best = t;
                }
                const vf all = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
                const float sink = all[0];
                return 2.0 * \(vw) * 12 * 20000 / best / 1e9 + (sink == 12345.0f);
            }
            /* Read bandwidth over n floats: the best of many passes. */
            double nn_peak_gbytes(size_t n, int passes) {
                vf *x = aligned_alloc(64, n * sizeof(float));
                if (!x) return 0;
                for (size_t i = 0; i < n / \(vw); i++) x[i] = (vf){0} + 1.0f;
                double best = 1e30;
                vf s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
                for (int pass = 0; pass < passes; pass++) {
                    const double t0 = now();
                    for (size_t i = 0; i < n / \(vw); i += 4) {
                        s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3];
                    }
                    const double t = now() - t0;
                    if (t < best) best = t;
                }
                free(x);
                return (double)(n * sizeof(float)) / best / 1e9 + (s0[0] + s1[0] + s2[0] + s3[0] == -1.0f);
            }

            """
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }.map(String.init) ?? "unknown CPU"
        let compiler = try Compiler.find(cc)
        let common: [String] = ["-ffp-contract=fast", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror"]
        let flags: [String] = ["-std=c11", "-O2"] + compiler.targetFlags(target) + common
        let identity: String = [source, flags.joined(separator: " "), compiler.path, compiler.versionText, cpu].joined(separator: "\u{0}")
        let key = SHA256.hex(identity)
        let dir = try BuildCache().directory(key: "peak-" + String(key.prefix(24)), marker: "peak.txt") { tmp in
            let c = tmp.appendingPathComponent("peak.c"), so = tmp.appendingPathComponent("libpeak.so")
            try AtomicFile.write(Data(source.utf8), to: c.path)
            try GCC.run([compiler.path] + flags + ["-o", so.path, c.path])
            let rates = try run(so.path)
            try AtomicFile.write(Data("\(rates.gflops) \(rates.cacheGBytes) \(rates.memoryGBytes)\n".utf8), to: tmp.appendingPathComponent("peak.txt").path)
        }
        let text = (try? String(contentsOf: dir.appendingPathComponent("peak.txt"), encoding: .utf8)) ?? ""
        let numbers = text.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard numbers.count == 3 else { throw NNCCError(file: dir.path, "unreadable peak measurement") }
        return Rates(gflops: numbers[0], cacheGBytes: numbers[1], memoryGBytes: numbers[2])
    }

    private static func run(_ library: String) throws -> Rates {
        guard let h = dlopen(library, RTLD_NOW | RTLD_LOCAL) else { throw NNCCError(file: library, "cannot load the peak library") }
        defer { dlclose(h) }
        typealias Fn = @convention(c) () -> Double
        typealias BandwidthFn = @convention(c) (Int, Int32) -> Double
        guard let f = dlsym(h, "nn_peak_gflops"), let b = dlsym(h, "nn_peak_gbytes") else {
            throw NNCCError(file: library, "peak library without its functions")
        }
        let bandwidth = unsafeBitCast(b, to: BandwidthFn.self)
        return Rates(gflops: unsafeBitCast(f, to: Fn.self)(), cacheGBytes: bandwidth(Rates.cacheBytes / 4, 2000),
                     memoryGBytes: bandwidth(16 << 20, 5))
    }
}
