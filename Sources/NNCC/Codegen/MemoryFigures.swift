/// The bytes a context needs, as NAME.h defines them, the manifest records and `nncc compile`
/// prints. `NAME_create` allocates exactly `heapBytes` in one block: the context struct in its
/// first `contextBytes`, then, 64-byte aligned,
/// - `--train`: every parameter (PyTorch layout), the packed weights, the arena, the training state;
/// - inference: the packed weights, the parameters forward reads in place (`directFloats`), the arena;
/// - `--embed-weights`: the arena only; packed weights and direct parameters are `romBytes` of
///   read-only data linked into the library.
public struct MemoryFigures: Equatable {
    /// Room for `struct NAME_ctx` at the start of the block (checked by a _Static_assert in NAME.c):
    /// 256 bytes, more with --grad-stats (its sums live in the struct).
    public static let baseContextBytes = 256
    public var contextBytes = MemoryFigures.baseContextBytes

    /// Every parameter in PyTorch layout (`NAME_PARAM_FLOATS`).
    public var paramFloats: Int
    /// The leading parameters that forward reads in place (layernorm scales, embeddings, constants).
    public var directFloats: Int
    public var packedFloats: Int
    public var arenaFloats: Int
    /// Gradients, optimizer state, saved activations; 0 without --train.
    public var trainFloats: Int
    public var training: Bool
    public var embedded: Bool

    /// Floats of the block after the context struct.
    var blockFloats: Int {
        training ? paramFloats + packedFloats + arenaFloats + trainFloats
            : embedded ? arenaFloats : packedFloats + directFloats + arenaFloats
    }

    public var heapBytes: Int { (contextBytes + 4 * blockFloats + 63) / 64 * 64 }
    /// The read-only weights image: packed weights then direct parameters.
    public var romBytes: Int { embedded ? 4 * (packedFloats + directFloats) : 0 }
    /// Heap an inference library borrows while it unpacks a weights file or the seeded
    /// initialisation (freed before the call returns), and keeps once get_param, set_param or
    /// save_weights has asked for the PyTorch-layout copy. 0 with --train (the copy is in the block).
    public var unpackedBytes: Int { training || embedded ? 0 : 4 * paramFloats }

    /// The manifest's "memory" object.
    var json: [String: Int] {
        ["heap_bytes": heapBytes, "rom_bytes": romBytes, "param_bytes": 4 * paramFloats,
         "direct_param_bytes": 4 * directFloats, "packed_bytes": 4 * packedFloats, "arena_bytes": 4 * arenaFloats,
         "train_bytes": 4 * trainFloats, "unpacked_bytes": unpackedBytes, "context_bytes": contextBytes]
    }

    /// The header's defines.
    func defines(prefix p: String) -> String {
        """
        /* Memory, in bytes (docs/deploy.md). create allocates exactly HEAP_BYTES; create_in takes a caller's block of that size. */
        #define \(p)_HEAP_BYTES      \(heapBytes)
        #define \(p)_ROM_BYTES       \(romBytes)    /* weights linked in read-only (--embed-weights) */
        #define \(p)_PACKED_BYTES    \(4 * packedFloats)    /* weights in the kernels' layout (\(embedded ? "read-only" : "in the heap block")) */
        #define \(p)_ARENA_BYTES     \(4 * arenaFloats)    /* activations and scratch at MAX_BATCH */
        #define \(p)_TRAIN_BYTES     \(4 * trainFloats)    /* gradients, optimizer state, saved activations (--train) */
        #define \(p)_UNPACKED_BYTES  \(unpackedBytes)    /* PyTorch-layout copy: borrowed by load_weights and create; a separate allocation kept after get/set_param, save_weights */

        """
    }

    /// The line `nncc compile` prints.
    public var summary: String {
        var s = "memory: heap \(heapBytes) bytes"
        if training {
            s += " (parameters \(4 * paramFloats), packed \(4 * packedFloats), arena \(4 * arenaFloats), training \(4 * trainFloats))"
        } else if embedded {
            s += " (arena \(4 * arenaFloats)), read-only weights \(romBytes) bytes"
        } else {
            s += " (packed weights \(4 * packedFloats), parameters read in place \(4 * directFloats), arena \(4 * arenaFloats)); "
                + "load_weights borrows \(unpackedBytes)"
        }
        return s
    }
}
