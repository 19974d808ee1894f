import Foundation

extension ModelLibrary {
    /// The library in a folder `nncc compile -o DIR` wrote: DIR/NAME.manifest.json names the model,
    /// DIR/libNAME.so is loaded. Needs no compiler. A folder with several models needs `name`.
    public convenience init(directory: String, name: String? = nil) throws {
        let name = try name ?? Self.modelName(inDirectory: directory)
        try self.init(path: URL(fileURLWithPath: directory).appendingPathComponent("lib\(name).so").path, name: name)
    }

    /// NAME of the one NAME.manifest.json in `directory`, as its "name" field records it.
    static func modelName(inDirectory directory: String) throws -> String {
        let files: [String]
        do { files = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw NNCCError(file: directory, "cannot list the folder: \(error.localizedDescription)")
        }
        let manifests = files.filter { $0.hasSuffix(".manifest.json") && !$0.hasPrefix(".") }.sorted()
        guard manifests.count == 1 else {
            throw NNCCError(file: directory, manifests.isEmpty
                ? "no NAME.manifest.json here: expected the folder `nncc compile -o` writes"
                : "holds \(manifests.count) models (\(manifests.joined(separator: ", "))); name the one to load")
        }
        let path = URL(fileURLWithPath: directory).appendingPathComponent(manifests[0]).path
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NNCCError(file: path, "not a JSON object")
        }
        guard let name = json["name"] as? String, isCIdentifier(name) else {
            throw NNCCError(file: path, path: "name", "expected the model's name, a C identifier")
        }
        return name
    }
}
