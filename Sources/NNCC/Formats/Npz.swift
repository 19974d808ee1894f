import Foundation
import ZIPFoundation

/// .npz: a zip archive of NAME.npy members, stored (np.savez) or deflated (np.savez_compressed).
///
/// Writing goes through ZIPFoundation. Reading walks the zip structures here with
/// bounds checks, because ZIPFoundation's reader trusts offsets in the file (a
/// hostile ZIP64 offset traps it, and its Linux inflater can spin on a truncated
/// stream); only its inflate and CRC routines are used, fed by a provider that
/// never runs out of bounds.
public enum Npz {
    /// The most an archive may inflate to: the sum of its members' uncompressed sizes (2 GiB).
    /// Reading holds the arrays and one member's bytes, so memory stays under about twice this.
    public static let maxUncompressedBytes = 2 << 30

    /// Keys are member names without ".npy". Errors name the file and member.
    public static func read(path: String) throws -> [String: NpyArray] {
        try parse(FormatIO.readFile(path), file: path)
    }

    /// The archive's bytes, read already (the fuzz target feeds them from memory).
    public static func parse(_ data: Data, file path: String) throws -> [String: NpyArray] {
        try data.withUnsafeBytes { raw in
            let zip = ZipReader(b: FormatIO.Bytes(raw: raw), file: path)
            let members = try zip.members()
            var total = 0
            for m in members {
                guard m.name.hasSuffix(".npy"), m.name.count > 4 else {
                    throw NNCCError(file: path, path: m.name, "expected only NAME.npy members in an .npz archive")
                }
                total += m.expected  // each is at most Int.max / 1032 (ZipReader.locate): cannot overflow
                guard total <= maxUncompressedBytes else {
                    throw NNCCError(file: path, path: m.name, "the archive's members declare \(total) bytes or more "
                        + "uncompressed, over the limit of \(maxUncompressedBytes) bytes (2 GiB)")
                }
            }
            var out: [String: NpyArray] = [:]
            for m in members {
                let key = String(m.name.dropLast(4))
                guard out[key] == nil else { throw NNCCError(file: path, path: m.name, "member appears twice in the archive") }
                // One member's bytes at a time: parsed, then released.
                out[key] = try NumPy.parse(zip.extract(m), file: path, member: m.name)
            }
            return out
        }
    }

    /// Writes NAME.npy members (stored, not compressed) in the given order, atomically.
    public static func write(_ arrays: [(name: String, array: NpyArray)], to path: String) throws {
        var seen = Set<String>()
        for (name, a) in arrays {
            guard !name.isEmpty, seen.insert(name).inserted else {
                throw NNCCError(file: path, path: name, "array name is empty or used twice")
            }
            switch a {
            case let .float(t): try FormatIO.checkConsistent(t.shape, t.data.count, file: path, path: name)
            case let .int(shape, data): try FormatIO.checkConsistent(shape, data.count, file: path, path: name)
            }
        }
        let archive: Archive
        do {
            archive = try Archive(data: Data(), accessMode: .create)
            for (name, a) in arrays {
                let d = NumPy.encode(a)
                // A fixed timestamp keeps the output byte-for-byte reproducible.
                try archive.addEntry(with: name + ".npy", type: .file, uncompressedSize: Int64(d.count),
                                     modificationDate: Date(timeIntervalSince1970: 946_684_800),
                                     compressionMethod: .none,
                                     provider: { pos, size in d.subdata(in: Int(pos)..<Int(pos) + size) })
            }
        } catch {
            throw NNCCError(file: path, "cannot build the zip archive: \(error)")
        }
        guard let bytes = archive.data else { throw NNCCError(file: path, "cannot build the zip archive") }
        try AtomicFile.write(bytes, to: path)
    }
}

/// Just enough of the zip format to list members and extract their bytes:
/// end-of-central-directory (with ZIP64), central directory, local headers.
private struct ZipReader {
    let b: FormatIO.Bytes
    let file: String

    struct Truncated: Error, CustomStringConvertible { var description: String { "the stream ends early" } }
    struct TooLong: Error {}

    func fail(_ member: String?, _ msg: String) -> NNCCError { NNCCError(file: file, path: member, msg) }

    func members() throws -> [Member] {
        // The end record is 22 bytes plus a comment of at most 65535 bytes, at the end of the file.
        var eocd = -1
        var i = b.count - 22
        while i >= 0 && i >= b.count - 22 - 0xFFFF {
            if b.u32(i) == 0x0605_4B50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0, let disk = b.u16(eocd + 4), let cdDisk = b.u16(eocd + 6), let n16 = b.u16(eocd + 10),
              let size32 = b.u32(eocd + 12), let off32 = b.u32(eocd + 16) else {
            throw fail(nil, "expected a zip archive (.npz), found no end-of-central-directory record (not a zip, or truncated)")
        }
        guard disk == 0, cdDisk == 0 else { throw fail(nil, "multi-disk zip archives are not supported") }
        var (entries, cdSize, cdOffset) = (UInt64(n16), UInt64(size32), UInt64(off32))
        // ZIP64: a locator just before the end record points at a record with 64-bit fields.
        if n16 == 0xFFFF || size32 == 0xFFFF_FFFF || off32 == 0xFFFF_FFFF, eocd >= 20, b.u32(eocd - 20) == 0x0706_4B50 {
            guard let rec = b.u64(eocd - 12), rec <= UInt64(b.count), b.u32(Int(rec)) == 0x0606_4B50,
                  let n = b.u64(Int(rec) + 32), let s = b.u64(Int(rec) + 40), let o = b.u64(Int(rec) + 48) else {
                throw fail(nil, "corrupt ZIP64 end-of-central-directory record")
            }
            (entries, cdSize, cdOffset) = (n, s, o)
        }
        let total = UInt64(b.count)
        guard cdOffset <= total, cdSize <= total - cdOffset, entries <= cdSize / 46 else {
            throw fail(nil, "central directory (\(entries) entries, \(cdSize) bytes at offset \(cdOffset)) does not fit in the file")
        }
        var p = Int(cdOffset)
        let cdEnd = p + Int(cdSize)
        var list: [Member] = []
        for _ in 0..<Int(entries) {
            guard b.u32(p) == 0x0201_4B50, let flags = b.u16(p + 8), let method = b.u16(p + 10), let crc = b.u32(p + 16),
                  let c32 = b.u32(p + 20), let u32 = b.u32(p + 24), let nl = b.u16(p + 28), let xl = b.u16(p + 30),
                  let cl = b.u16(p + 32), let o32 = b.u32(p + 42), let nameBytes = b.bytes(p + 46, Int(nl)),
                  let extra = b.bytes(p + 46 + Int(nl), Int(xl)) else {
                throw fail(nil, "corrupt central directory entry at offset \(p)")
            }
            p += 46 + Int(nl) + Int(xl) + Int(cl)
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard p <= cdEnd else { throw fail(name, "central directory entry runs past the directory") }
            var (csize, usize, offset) = (UInt64(c32), UInt64(u32), UInt64(o32))
            try zip64Extra(extra, &usize, &csize, &offset, name: name)
            guard flags & 1 == 0 else { throw fail(name, "encrypted zip members are not supported") }
            list.append(try locate(name, method: method, crc: crc, csize: csize, usize: usize, at: offset))
        }
        // Members sharing bytes would let a small file inflate many times over: refuse overlaps.
        let sorted = list.sorted { $0.start < $1.start }
        for (a, next) in zip(sorted, sorted.dropFirst()) where a.start + a.count > next.start {
            throw fail(next.name, "member data overlaps member \(a.name)")
        }
        return list
    }

    struct Member {
        let name: String, method: UInt16, crc: UInt32, start: Int, count: Int, expected: Int
    }

    /// Finds a member's data through its local header and checks its sizes against the file.
    func locate(_ name: String, method: UInt16, crc: UInt32, csize: UInt64, usize: UInt64, at offset: UInt64) throws -> Member {
        guard offset <= UInt64(b.count), b.u32(Int(offset)) == 0x0403_4B50,
              let nl = b.u16(Int(offset) + 26), let xl = b.u16(Int(offset) + 28) else {
            throw fail(name, "corrupt local file header at offset \(offset)")
        }
        let start = Int(offset) + 30 + Int(nl) + Int(xl)
        guard csize <= UInt64(b.count), b.has(start, Int(csize)) else {
            throw fail(name, "member data (\(csize) bytes) runs past the end of the file")
        }
        // Deflate expands at most 1032:1; a larger claim is a lie (or a bomb).
        let (maxSize, overflow) = csize.multipliedReportingOverflow(by: 1032)
        guard method != 8 || (!overflow && usize <= maxSize + 64), usize <= UInt64(Int.max / 1032) else {
            throw fail(name, "declared size \(usize) is impossible for \(csize) compressed bytes")
        }
        return Member(name: name, method: method, crc: crc, start: start, count: Int(csize), expected: Int(usize))
    }

    /// Replaces the 0xFFFFFFFF placeholders with the 64-bit values of the ZIP64 extra field (tag 1), in order.
    func zip64Extra(_ x: [UInt8], _ usize: inout UInt64, _ csize: inout UInt64, _ offset: inout UInt64, name: String) throws {
        var q = 0
        while q + 4 <= x.count {
            let tag = UInt16(x[q]) | UInt16(x[q + 1]) << 8
            let len = Int(UInt16(x[q + 2]) | UInt16(x[q + 3]) << 8)
            guard len <= x.count - q - 4 else { throw fail(name, "corrupt zip extra field") }
            if tag == 1 {
                var r = q + 4
                func next() throws -> UInt64 {
                    guard r + 8 <= q + 4 + len else { throw fail(name, "corrupt ZIP64 extra field") }
                    var v: UInt64 = 0
                    for k in 0..<8 { v |= UInt64(x[r + k]) << (8 * UInt64(k)) }
                    r += 8
                    return v
                }
                if usize == 0xFFFF_FFFF { usize = try next() }
                if csize == 0xFFFF_FFFF { csize = try next() }
                if offset == 0xFFFF_FFFF { offset = try next() }
            }
            q += 4 + len
        }
    }

    func extract(_ m: Member) throws -> Data {
        let (name, start, count, expected) = (m.name, m.start, m.count, m.expected)
        let content: Data
        switch m.method {
        case 0:
            guard count == expected, let d = b.data(start, count) else {
                throw fail(name, "stored member has compressed size \(count) but uncompressed size \(expected)")
            }
            content = d
        case 8:
            content = try inflate(name, start: start, count: count, expected: expected)
        default:
            throw fail(name, "expected a stored or deflated zip member, found compression method \(m.method)")
        }
        guard content.count == expected else {
            throw fail(name, "expected \(expected) bytes after decompression, found \(content.count)")
        }
        guard content.crc32(checksum: 0) == m.crc else { throw fail(name, "CRC-32 mismatch: the member is corrupt") }
        return content
    }

    func inflate(_ name: String, start: Int, count: Int, expected: Int) throws -> Data {
        var out = Data()
        var headerChecked = false
        out.reserveCapacity(min(expected, 1 << 26))
        let b = self.b
        do {
            _ = try Data.decompress(size: Int64(count), bufferSize: 1 << 16, skipCRC32: true, provider: { pos, size in
                // ZIPFoundation's Linux inflater always claims a full buffer of input, so hand it exactly
                // `size` bytes: zero padding past the end (deflate rejects it or ends), then stop.
                guard pos >= 0, pos < Int64(count), size > 0 else { throw Truncated() }
                let n = min(size, count - Int(pos))
                var d = b.data(start + Int(pos), n) ?? Data()
                if n < size { d.append(Data(count: size - n)) }
                return d
            }, consumer: { piece in
                // Caps the output at the declared size, so a zip bomb stops early.
                guard piece.count <= expected - out.count else { throw TooLong() }
                out.append(piece)
                // Once the .npy header is out, the zip entry's size must be the one it implies.
                // A header that does not parse is reported by the full parse afterwards.
                if !headerChecked {
                    switch Result(catching: { try NumPy.declaredSize(prefix: out, fail: { fail(name, $0) }) }) {
                    case .success(nil): break  // header not complete yet
                    case let .success(size?) where size != expected:
                        throw fail(name, "the .npy header declares \(size) bytes (header and data) "
                            + "but the zip entry declares \(expected) bytes uncompressed")
                    default: headerChecked = true
                    }
                }
            })
        } catch is TooLong {
            throw fail(name, "inflates to more than its declared \(expected) bytes")
        } catch let e as NNCCError {
            throw e
        } catch {
            throw fail(name, "corrupt deflate data (\(error))")
        }
        return out
    }
}
