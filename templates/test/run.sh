#!/bin/sh
# Builds and runs the safetensors template test under ASan/UBSan.
# Python 3 + numpy write reference files in the layout of Python's safetensors package and check the
# file written by nn_st_save. Exits non-zero on any failure; the last line is "N passed, M failed".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-gcc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/scratch" "$work/ref"

$CC -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
    -o "$work/test_safetensors" "$here/test_safetensors.c" -lm

# Shared by the writer and the verifier: the model of RNAMES/RDIMS in test_safetensors.c.
cat > "$work/model.py" <<'EOF'
import json, struct, sys
import numpy as np

def model():
    names = ["enc.caf\u00e9.weight", "\U0001F600", 'a"b\\c/d\te\x01', "special"]
    shapes = [(2, 3), (4,), (), (7,)]
    out = {}
    for i, (n, s) in enumerate(zip(names, shapes)):
        cnt = int(np.prod(s))
        out[n] = (np.arange(cnt, dtype=np.float32) * np.float32(0.5) - np.float32(3) + np.float32(100 * i)).reshape(s)
    bits = [0x7fc00001, 0xffbfffff, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x807fffff]
    out["special"] = np.array(bits, dtype="<u4").view("<f4")
    return out

DTYPES = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}

def save(tensors, path, metadata=None, aligned=True):
    """Same layout as safetensors.serialize: largest dtype first then by name, data contiguous,
    compact JSON header padded with spaces to a multiple of 8. aligned=False: pretty JSON with keys
    in a different order and an odd header length (so the data is unaligned)."""
    items = sorted(tensors.items(), key=lambda kv: (-kv[1].dtype.itemsize, kv[0]))
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, a in items:
        b = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        if aligned:
            header[name] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        else:
            header[name] = {"data_offsets": [off, off + len(b)], "shape": list(a.shape), "dtype": DTYPES[a.dtype]}
        off += len(b)
        blobs.append(b)
    if aligned:
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
    else:
        h = json.dumps(header, indent=2).encode()
        while len(h) % 8 != 3:
            h += b"\n"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
EOF

cat > "$work/gen.py" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from model import model, save
t = model()
t["bn.num_batches_tracked"] = np.array(7, dtype=np.int64)
save(t, sys.argv[2] + "/ref.safetensors", metadata={"format": "pt"})
save(t, sys.argv[2] + "/ref_unaligned.safetensors", aligned=False)
EOF

cat > "$work/verify.py" <<'EOF'
# Reads a file written by nn_st_save the way a Python consumer would, and checks it against model().
import json, struct, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from model import model
data = open(sys.argv[2], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
assert n % 8 == 0 and 8 + n <= len(data), "header length"
header = json.loads(data[8:8 + n].decode("utf-8"))
want = model()
assert list(header) == list(want), ("names/order", list(header))
end = 0
for name, a in want.items():
    e = header[name]
    assert e["dtype"] == "F32" and e["shape"] == list(a.shape), (name, e)
    b, en = e["data_offsets"]
    assert b == end and en - b == 4 * a.size, (name, e)  # contiguous, ascending
    got = np.frombuffer(data[8 + n + b:8 + n + en], dtype="<u4")
    assert np.array_equal(got, a.astype("<f4").reshape(-1).view("<u4")), (name, got)
    end = en
assert 8 + n + end == len(data), "trailing bytes"
try:  # if the real package happens to be installed, it must agree too
    from safetensors.numpy import load_file
    got = load_file(sys.argv[2])
    assert all(np.array_equal(got[k].view("<u4"), v.view("<u4")) for k, v in want.items())
except ImportError:
    pass
EOF

python3 "$work/gen.py" "$work" "$work/ref"
"$work/test_safetensors" "$work/scratch" "$work/ref" "python3 '$work/verify.py' '$work'"
