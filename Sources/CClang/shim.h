/* libclang's C interface. The folder that holds clang-c/ comes from Package.swift
   (LIBCLANG_PREFIX, else the newest /usr/lib/llvm-N with the header). */
#if __has_include(<clang-c/Index.h>)
#include <clang-c/Index.h>
#else
#error "clang-c/Index.h not found: install libclang-dev (apt-get install libclang-dev) or set LIBCLANG_PREFIX to the folder holding include/clang-c"
#endif
