#!/bin/sh
# Regenerates Sources/NNCC/Frontend/ONNX/onnx.pb.swift from scripts/onnx/onnx.proto
# (copied from the onnx 1.23.2 Python package). Needs protoc (Debian's
# protobuf-compiler) and protoc-gen-swift built from swift-protobuf at the
# version Package.swift names:
#   git clone https://github.com/apple/swift-protobuf && cd swift-protobuf &&
#   git checkout 1.39.0 && swift build -c release --product protoc-gen-swift
# then: PROTOC_GEN_SWIFT=path/to/protoc-gen-swift scripts/onnx/generate.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../../Sources/NNCC/Frontend/ONNX
protoc --plugin=protoc-gen-swift="${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT}" \
    --proto_path="$here" --swift_out="$out" --swift_opt=Visibility=Internal onnx.proto
