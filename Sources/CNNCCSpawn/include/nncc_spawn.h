#ifndef NNCC_SPAWN_H
#define NNCC_SPAWN_H

#include <sys/types.h>

/// A child started by nncc_spawn_watched.
typedef struct {
    pid_t pid;   /// the watcher; its exit status is the program's (128 + signal when killed)
    int output;  /// read end of the program's stdout + stderr
    int life;    /// write end of the lifeline: closing it (or the caller dying) kills the program
} nncc_child;

/// Starts `path` with `argv` and `envp` (stdin /dev/null, stdout and stderr on
/// one pipe) in its own process group, under a small watcher process that kills
/// that whole group (the program and its children, e.g. gcc's cc1, as and ld)
/// as soon as the caller dies, by any signal including SIGKILL, or closes
/// `life`. Returns 0, or an errno value.
int nncc_spawn_watched(const char *path, char *const argv[], char *const envp[], nncc_child *child);

/// SIGINT, SIGTERM and SIGHUP (unless ignored when the process started) write
/// the signal's number as one byte to `fd` instead of ending the process.
/// Returns 0, or an errno value.
int nncc_catch_interrupts(int fd);

#endif
