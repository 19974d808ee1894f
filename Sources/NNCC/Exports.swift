// The compiler builds on the runtime (errors, tensors, the .npy reader, the dlopen loader):
// `import NNCC` brings NNCCRuntime along, so the CLI and compiling apps need one import.
@_exported import NNCCRuntime
