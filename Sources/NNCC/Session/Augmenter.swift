import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
// MARK: - Random numbers

/// SplitMix64 (Steele, Lea & Flood, 2014): the same stream on every platform,
/// which shuffling and augmentation need to be reproducible from the model's seed.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// A stream for one purpose and one (a, b), e.g. (epoch, example): unrelated to its neighbours.
    public init(seed: UInt64, stream: UInt64, _ a: Int, _ b: Int = 0) {
        state = Self.mix(Self.mix(Self.mix(seed ^ stream) ^ UInt64(bitPattern: Int64(a))) ^ UInt64(bitPattern: Int64(b)))
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    public static func mix(_ x: UInt64) -> UInt64 {
        var z = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Uniform in [-r, r).
    public mutating func symmetric(_ r: Double) -> Double { (2 * unit() - 1) * r }
    /// Uniform integer in 0..<n (multiply-high: no modulo bias worth naming).
    public mutating func below(_ n: Int) -> Int { Int(next().multipliedFullWidth(by: UInt64(n)).high) }
}

let shuffleStream: UInt64 = 0x5348_5546_464C_4521, augmentStream: UInt64 = 0x4155_474D_454E_5421

// MARK: - Augmentation

/// Random image augmentation for [C, H, W] inputs, deterministic from (seed,
/// epoch, example index): the same example gets the same transform in an
/// epoch whatever the batch order. Geometry is one affine map about the
/// image centre (crop shift, rotation, x-shear, zoom, then horizontal flip),
/// sampled bilinearly with zero fill; brightness is added afterwards.
public struct Augmenter {
    public struct Params: Equatable {
        public var flip = false
        /// Source offset of the crop in pixels, within ±crop_padding.
        public var shiftX = 0, shiftY = 0
        public var rotateDegrees = 0.0, shearDegrees = 0.0, scale = 1.0
        public var brightness: Float = 0
        public init() {}
        public var isGeometricIdentity: Bool {
            !flip && shiftX == 0 && shiftY == 0 && rotateDegrees == 0 && shearDegrees == 0 && scale == 1
        }
    }

    public let augment: Augment
    public let seed: UInt64
    public let channels: Int, height: Int, width: Int

    public init(_ augment: Augment, seed: UInt64, channels: Int, height: Int, width: Int) {
        self.augment = augment; self.seed = seed
        self.channels = channels; self.height = height; self.width = width
    }

    /// Draws every value in a fixed order, so enabling one augmentation leaves the others' draws unchanged.
    public func params(epoch: Int, index: Int) -> Params {
        var rng = SplitMix64(seed: seed, stream: augmentStream, epoch, index)
        let a = augment, pad = a.cropPadding
        var p = Params()
        let flip = rng.unit() < 0.5
        let sx = rng.below(2 * pad + 1) - pad, sy = rng.below(2 * pad + 1) - pad
        let rot = rng.symmetric(Double(a.rotateDegrees)), shear = rng.symmetric(Double(a.shearDegrees))
        let zoom = rng.symmetric(Double(a.zoom)), bright = rng.symmetric(Double(a.brightness))
        p.flip = a.hflip && flip
        (p.shiftX, p.shiftY) = (sx, sy)
        (p.rotateDegrees, p.shearDegrees, p.scale) = (rot, shear, 1 + zoom)
        p.brightness = Float(bright)
        return p
    }

    /// Writes the transformed `src` (one C×H×W image) into `dst`.
    public func apply(_ p: Params, _ src: UnsafeBufferPointer<Float>, _ dst: UnsafeMutableBufferPointer<Float>) {
        let (h, w) = (height, width), plane = h * w
        precondition(src.count >= channels * plane && dst.count >= channels * plane)
        if p.isGeometricIdentity {
            for i in 0..<(channels * plane) { dst[i] = src[i] + p.brightness }
            return
        }
        // Inverse of A = R(θ)·Shear(φ)·s maps each output pixel to its source; det A = s².
        let th = p.rotateDegrees * .pi / 180, t = tan(p.shearDegrees * .pi / 180), s = p.scale
        let (c, sn) = (cos(th), sin(th))
        let (a11, a12, a21, a22) = (s * c, s * (c * t - sn), s * sn, s * (sn * t + c))
        let det = a11 * a22 - a12 * a21
        let (i11, i12, i21, i22) = (a22 / det, -a12 / det, -a21 / det, a11 / det)
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        // Four bilinear taps per output pixel, computed once for all channels; -1 marks zero fill.
        var tap = [Int](repeating: -1, count: 4 * plane), weight = [Double](repeating: 0, count: 4 * plane)
        for y in 0..<h {
            for x in 0..<w {
                let qx = Double(x + p.shiftX) - cx, qy = Double(y + p.shiftY) - cy
                var sx = i11 * qx + i12 * qy + cx
                let sy = i21 * qx + i22 * qy + cy
                if p.flip { sx = Double(w - 1) - sx }
                let x0 = sx.rounded(.down), y0 = sy.rounded(.down), fx = sx - x0, fy = sy - y0
                guard x0 > -2, y0 > -2, x0 < Double(w), y0 < Double(h) else { continue }
                let ix = Int(x0), iy = Int(y0), o = 4 * (y * w + x)
                for k in 0..<4 {
                    let (yy, xx) = (iy + k / 2, ix + k % 2)
                    let wt = (k / 2 == 0 ? 1 - fy : fy) * (k % 2 == 0 ? 1 - fx : fx)
                    if wt != 0, (0..<h).contains(yy), (0..<w).contains(xx) { (tap[o + k], weight[o + k]) = (yy * w + xx, wt) }
                }
            }
        }
        for ch in 0..<channels {
            let base = ch * plane
            for i in 0..<plane {
                var v = 0.0
                for k in (4 * i)..<(4 * i + 4) where tap[k] >= 0 { v += weight[k] * Double(src[base + tap[k]]) }
                dst[base + i] = Float(v) + p.brightness
            }
        }
    }

    public func apply(_ p: Params, to image: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: image.count)
        image.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { apply(p, s, $0) } }
        return out
    }
}
