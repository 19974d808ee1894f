"""Regenerates the format fixtures read by FormatsTests.swift.

Run from this directory with numpy (and safetensors for model.safetensors):
    python3 make_fixtures.py
Values are small exact binary fractions so the Swift side can compare with ==.
"""
import numpy as np

a23 = (np.arange(6, dtype=np.float32) / 4).reshape(2, 3)       # 0, .25, ... 1.25
np.save("f32_2x3.npy", a23)
np.save("f64_3.npy", np.array([0.5, -1.25, 3.0], dtype=np.float64))
np.save("i64_5.npy", np.array([3, 1, 4, 1, 5], dtype=np.int64))
np.save("i32_4.npy", np.array([-2, 0, 7, 2**31 - 1], dtype=np.int32))
np.save("u8_3.npy", np.array([0, 9, 255], dtype=np.uint8))
np.save("i8_3.npy", np.array([-128, 0, 127], dtype=np.int8))
np.save("i16_2x2.npy", np.array([[-300, 1], [2, 32767]], dtype=np.int16))
np.save("scalar_f32.npy", np.float32(2.5))
np.save("empty_0x3.npy", np.zeros((0, 3), dtype=np.float32))
with open("v2_f32.npy", "wb") as f:
    np.lib.format.write_array(f, a23, version=(2, 0))
with open("v3_f32.npy", "wb") as f:
    np.lib.format.write_array(f, a23, version=(3, 0))

# Rejected inputs.
np.save("bigendian_f32.npy", a23.astype(">f4"))
np.save("fortran_f32.npy", np.asfortranarray(a23))
np.save("object.npy", np.array([1, "a"], dtype=object), allow_pickle=True)

labels = np.array([2, 0, 1, 1], dtype=np.int64)
big = (np.arange(10000, dtype=np.float32) / 2).reshape(100, 100)  # 40 kB: several inflate chunks
np.savez("plain.npz", x=a23, y=labels)
np.savez_compressed("compressed.npz", x=a23, y=labels, big=big)

try:
    from safetensors.numpy import save_file
    save_file({"0.weight": (np.arange(8, dtype=np.float32) / 8).reshape(2, 4),
               "0.bias": np.array([-1.5, 2.0], dtype=np.float32),
               "1.num_batches_tracked": np.array(7, dtype=np.int64)},
              "model.safetensors", metadata={"format": "pt"})
except ImportError:
    print("safetensors not installed: model.safetensors left as is")
