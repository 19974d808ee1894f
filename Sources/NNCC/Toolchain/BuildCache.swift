import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory cache of compiled libraries keyed by a content hash. Entries
/// are built in a private temporary directory and published with one
/// rename(2), so readers only ever see complete entries, and concurrent
/// builders of one key both succeed (the loser discards its copy).
///
/// The libraries are dlopened, so the cache must be the user's alone: its
/// directory is created 0700 and refused unless owned by the user and not
/// writable by group or others. Each entry records the size and SHA-256 of
/// its marker file (the library); an entry that no longer matches (a
/// truncated or damaged file) is discarded and rebuilt.
public struct BuildCache: Sendable {
    public let root: URL
    /// The record of an entry's marker file: "<size> <sha256>\n".
    static let record = ".entry"
    /// Temporary folders older than this are debris even if their pid is alive (pids are reused).
    static let staleAge: TimeInterval = 3600

    /// `root`, else $NNCC_CACHE, else ~/.cache/nncc, else /tmp/nncc-cache-<uid>.
    public init(root: URL? = nil) {
        if let root {
            self.root = root
        } else {
            let env = ProcessInfo.processInfo.environment
            if let dir = env["NNCC_CACHE"], !dir.isEmpty {
                self.root = URL(fileURLWithPath: dir, isDirectory: true)
            } else if let home = env["HOME"], !home.isEmpty {
                self.root = URL(fileURLWithPath: home, isDirectory: true)
                    .appendingPathComponent(".cache", isDirectory: true)
                    .appendingPathComponent("nncc", isDirectory: true)
            } else {
                self.root = URL(fileURLWithPath: "/tmp/nncc-cache-\(getuid())", isDirectory: true)
            }
        }
    }

    /// The complete entry root/<key> holding `marker`, building it with
    /// `build(tmpDir)` first when absent.
    public func directory(key: String, marker: String, build: (URL) throws -> Void) throws -> URL {
        guard !key.isEmpty, !key.contains("/"), !key.hasPrefix(".") else {
            throw NNCCError("invalid cache key '\(key)'")
        }
        let fm = FileManager.default
        try prepare()
        let final = root.appendingPathComponent(key, isDirectory: true)
        if isComplete(final, marker) { return final }

        // The pid in the name lets a later run tell a dead builder's folder from a live one.
        let tmp = root.appendingPathComponent(".tmp-\(getpid())-\(UUID().uuidString)", isDirectory: true)
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: false)
        } catch {
            throw NNCCError(file: tmp.path, "cannot create a temporary build directory: \(error.localizedDescription)")
        }
        try Interrupt.removingOnInterrupt([tmp.path]) {
            do {
                try build(tmp)
                try seal(tmp, marker: marker, final: final)
            } catch {
                try? fm.removeItem(at: tmp)
                throw error
            }
        }

        // A few attempts: an existing entry that is incomplete or no longer
        // matches its record is moved aside so we can publish.
        for _ in 0..<4 {
            if rename(tmp.path, final.path) == 0 {
                syncDirectory(root.path)
                return final
            }
            let err = errno
            if isComplete(final, marker) {
                try? fm.removeItem(at: tmp)  // another process won the race
                return final
            }
            guard err == EEXIST || err == ENOTEMPTY else {
                try? fm.removeItem(at: tmp)
                throw NNCCError(file: final.path, "cannot publish the cache entry: \(String(cString: strerror(err)))")
            }
            let stale = root.appendingPathComponent(".tmp-\(getpid())-stale-\(UUID().uuidString)", isDirectory: true)
            if rename(final.path, stale.path) == 0 { try? fm.removeItem(at: stale) }
        }
        try? fm.removeItem(at: tmp)
        throw NNCCError(file: final.path, "cannot publish the cache entry: it keeps being replaced")
    }

    /// Creates the cache directory (0700) if needed, refuses one another user
    /// could write to, and removes the temporary folders of dead builders.
    func prepare() throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: root.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw NNCCError(file: root.path, "cannot create the cache directory: \(error.localizedDescription)")
        }
        if mkdir(root.path, 0o700) != 0 && errno != EEXIST {
            throw NNCCError(file: root.path, "cannot create the cache directory: \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard stat(root.path, &st) == 0 else {
            throw NNCCError(file: root.path, "cannot use the cache directory: \(String(cString: strerror(errno)))")
        }
        let fix = "; remove it, or set NNCC_CACHE to a directory of your own"
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw NNCCError(file: root.path, "the cache directory is not a directory" + fix)
        }
        guard st.st_uid == getuid() else {
            throw NNCCError(file: root.path, "refusing the cache directory: it is owned by uid \(st.st_uid), not by you "
                + "(uid \(getuid())), and the libraries in it would be loaded into this process" + fix)
        }
        guard st.st_mode & 0o022 == 0 else {
            throw NNCCError(file: root.path, "refusing the cache directory: it is writable by "
                + (st.st_mode & 0o020 != 0 ? "its group" : "others") + " (mode \(String(st.st_mode & 0o777, radix: 8))), "
                + "and the libraries in it would be loaded into this process; chmod 700 it" + fix)
        }
        removeStaleTemporaries()
    }

    /// Removes `.tmp-<pid>-…` folders whose builder is dead, and any older than `staleAge`
    /// (names without a pid come from older versions of nncc).
    func removeStaleTemporaries() {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: root.path)) ?? [] where name.hasPrefix(".tmp-") {
            let path = root.appendingPathComponent(name).path
            let modified = ((try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
            let pid = name.dropFirst(5).prefix { $0 != "-" }
            let dead = Int32(pid).map { $0 > 0 && kill($0, 0) != 0 && errno == ESRCH } ?? false
            if dead || -modified.timeIntervalSinceNow > Self.staleAge {
                try? fm.removeItem(atPath: path)
            }
        }
    }

    /// Records the marker's size and hash in the entry, then flushes every
    /// file and the folder to disk, so a crash cannot publish a truncated library.
    private func seal(_ tmp: URL, marker: String, final: URL) throws {
        let markerPath = tmp.appendingPathComponent(marker).path
        guard let data = FileManager.default.contents(atPath: markerPath) else {
            throw NNCCError(file: final.path, "cache build did not produce \(marker)")
        }
        try AtomicFile.write(Data("\(data.count) \(SHA256.hex(data))\n".utf8), to: tmp.appendingPathComponent(Self.record).path)
        for name in try FileManager.default.contentsOfDirectory(atPath: tmp.path) {
            let fd = open(tmp.appendingPathComponent(name).path, O_RDONLY)
            guard fd >= 0 else { continue }
            let ok = fsync(fd) == 0
            close(fd)
            guard ok else { throw NNCCError(file: markerPath, "cannot sync the cache entry: \(String(cString: strerror(errno)))") }
        }
        syncDirectory(tmp.path)
    }

    private func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// The entry holds its marker with the size and hash recorded when it was published.
    private func isComplete(_ dir: URL, _ marker: String) -> Bool {
        let fm = FileManager.default
        guard let record = fm.contents(atPath: dir.appendingPathComponent(Self.record).path),
              let data = fm.contents(atPath: dir.appendingPathComponent(marker).path) else { return false }
        return String(decoding: record, as: UTF8.self) == "\(data.count) \(SHA256.hex(data))\n"
    }
}
