#!/usr/bin/env bash
# Re-renders the pictures of docs/training.md: runs nncc on the models beside this script and
# on examples/digits_mlp.json, then converts the SVGs to PNG with rsvg-convert (apt-get install
# librsvg2-bin; needed for the docs only). Usage: docs/training/render.sh [path/to/nncc]
set -euo pipefail
cd "$(dirname "$0")/../.."
nncc=${1:-.build/debug/nncc}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
digits=examples/digits
for m in deep_sigmoid deep_relu_bn rnn_relu_clipped; do
    "$nncc" train docs/training/$m.json --data $digits/train.npz --grad-report "$out/grad_$m.svg"
done
# Diverges at epoch 9 (exit 1); the report is written first.
"$nncc" train docs/training/rnn_relu.json --data $digits/train.npz --grad-report "$out/grad_rnn_relu.svg" || true
"$nncc" train examples/digits_mlp.json --data $digits/train.npz --val $digits/test.npz --epochs 5 \
    --save "$out/w.safetensors" --plot "$out/plot_digits_mlp.svg"
"$nncc" eval examples/digits_mlp.json --data $digits/test.npz --weights "$out/w.safetensors" --confusion "$out/confusion_digits_mlp.svg"
"$nncc" graph examples/cnn_bn.json -o "$out/graph_cnn_bn.svg"
for svg in "$out"/*.svg; do
    rsvg-convert "$svg" -o docs/training/"$(basename "${svg%.svg}")".png
done
