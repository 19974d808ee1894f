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
public struct BuildCache: Sendable {
    public let root: URL

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
        let final = root.appendingPathComponent(key, isDirectory: true)
        if isComplete(final, marker) { return final }

        do {
            try fm.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw NNCCError(file: root.path, "cannot create the cache directory: \(error.localizedDescription)")
        }
        let tmp = root.appendingPathComponent(".tmp-\(UUID().uuidString)", isDirectory: true)
        do {
            try fm.createDirectory(at: tmp, withIntermediateDirectories: false)
        } catch {
            throw NNCCError(file: tmp.path, "cannot create a temporary build directory: \(error.localizedDescription)")
        }
        do {
            try build(tmp)
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
        guard fm.fileExists(atPath: tmp.appendingPathComponent(marker).path) else {
            try? fm.removeItem(at: tmp)
            throw NNCCError(file: final.path, "cache build did not produce \(marker)")
        }

        // A few attempts: an existing entry without the marker is debris from
        // an older layout or a manual edit, moved aside so we can publish.
        for _ in 0..<4 {
            if rename(tmp.path, final.path) == 0 { return final }
            let err = errno
            if isComplete(final, marker) {
                try? fm.removeItem(at: tmp)  // another process won the race
                return final
            }
            guard err == EEXIST || err == ENOTEMPTY else {
                try? fm.removeItem(at: tmp)
                throw NNCCError(file: final.path, "cannot publish the cache entry: \(String(cString: strerror(err)))")
            }
            let stale = root.appendingPathComponent(".tmp-stale-\(UUID().uuidString)", isDirectory: true)
            if rename(final.path, stale.path) == 0 { try? fm.removeItem(at: stale) }
        }
        try? fm.removeItem(at: tmp)
        throw NNCCError(file: final.path, "cannot publish the cache entry: it keeps being replaced")
    }

    private func isComplete(_ dir: URL, _ marker: String) -> Bool {
        FileManager.default.fileExists(atPath: dir.appendingPathComponent(marker).path)
    }
}
