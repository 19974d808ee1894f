import Foundation

/// What `nncc compile` writes beside libNAME.so (docs/deploy.md): libNAME.a, NAME.pc for
/// pkg-config, NAME-config.cmake, and with --embed-weights the packed weights image
/// NAME.weights.bin with NAME_weights.S, which links it into both libraries read-only.
/// NAME.c is compiled once, to an object both libraries hold.
enum Packaging {
    struct Files {
        var archive, pkgConfig, cmake, image, assembly: URL

        init(_ dir: URL, _ n: String) {
            archive = dir.appendingPathComponent("lib\(n).a")
            pkgConfig = dir.appendingPathComponent("\(n).pc")
            cmake = dir.appendingPathComponent("\(n)-config.cmake")
            image = dir.appendingPathComponent("\(n).weights.bin")
            assembly = dir.appendingPathComponent("\(n)_weights.S")
        }
    }

    /// Builds the libraries from `source` (already written at `sourcePath`) in the scratch folder
    /// `work`; libNAME.so goes to `tmpLib`, the other files are written atomically into `dir`.
    static func build(_ lib: GeneratedLibrary, model: LoadedModel, options: CompileOptions, name n: String,
                      sourcePath: String, tmpLib: String, work: URL, dir: URL) throws {
        let gcc = Builder.gccOptions(options)
        let object = work.appendingPathComponent("\(n).o").path
        try GCC.buildObject(source: sourcePath, output: object, options: gcc, work: work)
        var objects = [object]
        let files = Files(dir, n)
        var image: Data?
        if options.embedWeights {
            let bin = work.appendingPathComponent("\(n).weights.bin")
            try pack(model, options: options, name: n, into: bin, work: work)
            image = try Data(contentsOf: bin)
            let asm = work.appendingPathComponent("\(n)_weights.S")
            try Data(assembly(name: n, incbin: bin.path).utf8).write(to: asm)
            let weightsObject = work.appendingPathComponent("\(n)_weights.o").path
            try GCC.run(try GCC.assembleArguments(source: asm.path, output: weightsObject, options: gcc))
            objects.append(weightsObject)
        }
        try GCC.run(try GCC.linkSharedArguments(objects: objects, output: tmpLib, options: gcc))
        try AtomicFile.replace(files.archive.path) { try GCC.run(try GCC.archiveArguments(objects: objects, output: $0, options: gcc)) }
        try AtomicFile.write(Data(pkgConfig(name: n, threads: options.threads, origin: model.path).utf8), to: files.pkgConfig.path)
        try AtomicFile.write(Data(cmake(name: n, threads: options.threads).utf8), to: files.cmake.path)
        if let image {
            try AtomicFile.write(image, to: files.image.path)
            try AtomicFile.write(Data(assembly(name: n, incbin: "\(n).weights.bin").utf8), to: files.assembly.path)
        }
    }

    /// Lays the weights out for the kernels by running the library's own packing: a program made of
    /// the library without embedded weights creates a context, loads the weights file (the model's,
    /// or the ONNX file's initializers; none: the seeded initialisation) and writes the packed
    /// weights, then the parameters forward reads in place.
    static func pack(_ model: LoadedModel, options: CompileOptions, name n: String, into bin: URL, work: URL) throws {
        if let flag = options.schedule.target.missingOnHost {
            throw NNCCError(path: "--embed-weights", "the weights are packed by running \(options.schedule.target.rawValue) code, "
                + "which this CPU cannot run (it lacks \(flag)); compile on such a CPU or pick another --target")
        }
        var weights = model.weightsPath ?? ""
        if let carried = model.embeddedWeights {
            weights = work.appendingPathComponent("carried.safetensors").path
            try SafeTensors.write(model.graph.params.compactMap { p in carried[p.name].map { (p.name, $0) } }, to: weights)
        }
        var plain = options
        plain.embedWeights = false
        let (source, _) = try Pipeline.generate(model, options: plain)
        let packer = work.appendingPathComponent("packer.c"), exe = work.appendingPathComponent("packer").path
        try Data((source.source + packerMain(prefix: n)).utf8).write(to: packer)
        var gcc = Builder.gccOptions(options)
        gcc.reference = true  // -O1: the packer runs once
        try GCC.run(try GCC.executableArguments(source: packer.path, output: exe, options: gcc))
        let r = try GCC.runProgram([exe, weights, bin.path])
        guard r.status == 0 else {
            throw NNCCError(file: weights.isEmpty ? model.path : model.weightsPath ?? model.path,
                            "cannot pack the weights to embed: \(r.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    static func packerMain(prefix p: String) -> String {
        """

        /* ---- nncc's packer: writes the packed weights that --embed-weights links in ---- */
        #include <stdio.h>
        int main(int argc, char **argv) {
            if (argc != 3) return 2;
            \(p)_ctx *c = \(p)_create();
            if (!c) { fprintf(stderr, "out of memory\\n"); return 1; }
            int rc = argv[1][0] ? \(p)_load_weights(c, argv[1]) : NN_OK;
            if (rc != NN_OK) { fprintf(stderr, "%s\\n", \(p)_strerror(rc)); return 1; }
            size_t n = (size_t)\(p)_PACKED_FLOATS + \(p)_DIRECT_FLOATS;  /* adjacent in the block */
            FILE *f = fopen(argv[2], "wb");
            if (!f || fwrite(c->packed, sizeof(float), n, f) != n || fclose(f) != 0) { fprintf(stderr, "cannot write %s\\n", argv[2]); return 1; }
            \(p)_destroy(c);
            return 0;
        }

        """
    }

    /// The image in a read-only section, 64-byte aligned for the kernels' vector loads.
    static func assembly(name n: String, incbin path: String) -> String {
        let quoted = path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return """
            /* \(n)_weights.S: generated by nncc \(nnccVersion). The packed weights of \(n) (\(n)_ROM_BYTES bytes),
               read-only: gcc -c \(n)_weights.S from this folder, and link it with \(n).c. */
                .section .rodata
                .balign 64
                .globl \(n)_weights_image
                .hidden \(n)_weights_image
                .type \(n)_weights_image, @object
            \(n)_weights_image:
                .incbin "\(quoted)"
                .size \(n)_weights_image, . - \(n)_weights_image
                .section .note.GNU-stack, "", @progbits

            """
    }

    static func pkgConfig(name n: String, threads: Int, origin: String) -> String {
        """
        # \(n).pc: generated by nncc \(nnccVersion) from \(URL(fileURLWithPath: origin).lastPathComponent). Links lib\(n).a:
        #   PKG_CONFIG_PATH=THIS_FOLDER gcc app.c $(pkg-config --cflags --libs \(n))
        prefix=${pcfiledir}
        includedir=${prefix}
        libdir=${prefix}

        Name: \(n)
        Description: the nncc-compiled model \(n)
        Version: \(nnccVersion)
        Cflags: -I${includedir}
        Libs: ${libdir}/lib\(n).a -lm\(threads > 1 ? " -fopenmp" : "")

        """
    }

    static func cmake(name n: String, threads: Int) -> String {
        """
        # \(n)-config.cmake: generated by nncc \(nnccVersion). The imported target \(n)::\(n) (lib\(n).a and \(n).h):
        #   find_package(\(n) CONFIG REQUIRED PATHS THIS_FOLDER NO_DEFAULT_PATH)
        #   target_link_libraries(app PRIVATE \(n)::\(n))
        if(NOT TARGET \(n)::\(n))
          add_library(\(n)::\(n) STATIC IMPORTED)
          set_target_properties(\(n)::\(n) PROPERTIES
            IMPORTED_LOCATION "${CMAKE_CURRENT_LIST_DIR}/lib\(n).a"
            INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_CURRENT_LIST_DIR}"
            INTERFACE_LINK_LIBRARIES "m\(threads > 1 ? ";-fopenmp" : "")")
        endif()

        """
    }
}
