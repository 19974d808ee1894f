// A child process that cannot outlive its parent. gcc forks cc1, as and ld;
// PR_SET_PDEATHSIG on gcc alone would leave those running, and a process
// group shared with nncc would let a kill of that group hit the user's shell
// pipeline. So a forked watcher (which only makes async-signal-safe calls)
// puts the program in a group of its own and kills that group when the
// lifeline pipe from the caller reports end-of-file.
#define _GNU_SOURCE
#include "nncc_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_child(int sig) { (void)sig; }

/// Closes every descriptor from `lo` up, except `keep`.
static void close_from(int lo, int keep) {
#ifdef SYS_close_range
    if (keep < lo) {
        if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0) return;
    } else if (syscall(SYS_close_range, (unsigned)lo, (unsigned)keep - 1, 0) == 0 &&
               syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0) == 0) {
        return;
    }
#endif
    struct rlimit r;
    long top = getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < 65536 ? (long)r.rlim_cur : 65536;
    for (long fd = lo; fd < top; fd++)
        if (fd != keep) close((int)fd);
}

static int status_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/// The watcher: never returns.
static void watch(int life_read, int out_write, int devnull, const char *path, char *const argv[],
                  char *const envp[]) {
    sigset_t chld, orig;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    // Blocked before forking so the program's exit cannot slip between waitpid and ppoll.
    sigprocmask(SIG_BLOCK, &chld, &orig);
    // Not "nncc" in ps, so `killall nncc` does not take the watcher with it.
    prctl(PR_SET_NAME, "gcc-watcher", 0, 0, 0);
    pid_t self = getpid();
    pid_t g = fork();
    if (g == 0) {
        setpgid(0, 0);
        // Should the watcher itself be killed, the program goes with it (its children may not).
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != self) _exit(127);
        dup2(devnull, 0);
        dup2(out_write, 1);
        dup2(out_write, 2);
        close_from(3, -1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD};
        for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
        execve(path, argv, envp);
        _exit(127);
    }
    if (g < 0) _exit(126);
    setpgid(g, g);  // also here, so the group exists before any kill below
    // Ctrl-C and `timeout` signal nncc's whole group, this watcher included: it
    // outlives nncc just long enough to see the lifeline close.
    int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
    for (unsigned i = 0; i < sizeof ignored / sizeof ignored[0]; i++) signal(ignored[i], SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_child;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    close_from(0, life_read);  // nothing of nncc's is held open, its pipes included
    sigset_t wait_mask = orig;
    sigdelset(&wait_mask, SIGCHLD);
    for (;;) {
        int status;
        if (waitpid(g, &status, WNOHANG) == g) _exit(status_code(status));
        struct pollfd p = {.fd = life_read, .events = POLLIN};
        if (ppoll(&p, 1, NULL, &wait_mask) > 0) {  // end of file: the caller is gone or gave up
            kill(-g, SIGKILL);
            while (waitpid(g, &status, 0) < 0 && errno == EINTR) {}
            _exit(128 + SIGKILL);
        }
    }
}

int nncc_spawn_watched(const char *path, char *const argv[], char *const envp[], nncc_child *child) {
    int life[2], out[2];
    if (pipe2(life, O_CLOEXEC) != 0) return errno;
    if (pipe2(out, O_CLOEXEC) != 0) {
        int e = errno;
        close(life[0]);
        close(life[1]);
        return e;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t w = devnull < 0 ? -1 : fork();
    if (w == 0) watch(life[0], out[1], devnull, path, argv, envp);
    int e = errno;
    close(life[0]);
    close(out[1]);
    if (devnull >= 0) close(devnull);
    if (w < 0) {
        close(life[1]);
        close(out[0]);
        return e;
    }
    child->pid = w;
    child->output = out[0];
    child->life = life[1];
    return 0;
}

static int interrupt_fd = -1;

static void on_interrupt(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(interrupt_fd, &b, 1) < 0) {}
    errno = saved;
}

int nncc_catch_interrupts(int fd) {
    interrupt_fd = fd;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0) return errno;
        if (old.sa_handler == SIG_IGN) continue;  // e.g. nohup, or a background job of a script
        struct sigaction sa = {0};
        sa.sa_handler = on_interrupt;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(sigs[i], &sa, NULL) != 0) return errno;
    }
    return 0;
}
