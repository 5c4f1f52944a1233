/* The helper's parts and how they call each other. */
#ifndef HAKO_CONTAINER_H
#define HAKO_CONTAINER_H

#include "plan.h"

extern int g_cap_last_cap;
/* The host's /proc, opened before any setns: /proc/<pid> of our children stays reachable. */
extern int g_host_proc_fd;

/* container.c: pieces shared with exec */
int *open_cgroups(const struct plan *p);
void join_cgroups(const struct plan *p, int *fds, pid_t pid);
void join_namespaces(const struct plan *p);
void set_oom_score_adj(const struct plan *p, pid_t pid);
/* devices_bpf.c: cgroup v2's device rules onto the cgroup, before the process joins it */
void attach_device_filter(const struct plan *p);

/* main modes */
int container_main(struct plan *p);
int exec_main(struct plan *p);
int shim_main(struct plan *p);
int shim_loop_main(int argc, char **argv); /* the shim after its re-exec from the binary on disk */
int pin_main(int argc, char **argv); /* pin.c: the helper bound read-only, so no sealed copy per run */
int spawner_main(int argc, char **argv); /* spawner.c: hakod's fork server for helpers */
int trash_main(int argc, char **argv); /* trash.c: deletes what hakod moves into its trash, at idle priority */
int run_plan(void); /* main.c: the plan on fd 3, executed */
void plan_prelude(void); /* main.c: run_plan's look at the host, once */
void read_plan(int fd, struct plan *plan); /* main.c: a framed plan, decoded (fatal on error) */

/* container.c: clone + id maps + cgroups; the caller does the handshake */
pid_t container_clone(struct plan *p, int *sync);

/* shim.c: its part in parent_handshake */
void shim_before_go(void); /* after "start", before the process may exec */
_Noreturn void shim_fail(const char *stage, int err, const char *text, int code); /* set-up failed */

/* rootfs.c: in the child, inside its new mount namespace */
int rootfs_prepare(int sync, const struct plan *p); /* returns a fd of the rootfs */
int setup_overlaps_cgroups(const struct plan *p); /* the child builds its mounts while the parent joins its cgroups */
void rootfs_pivot(int sync, int rootfd);
void rootfs_chroot(int sync, const struct plan *p);
void rootfs_finalize(int sync, const struct plan *p);
void apply_sysctls(int sync, const struct plan *p);

/* process.c: the last steps of any container process; never returns */
_Noreturn void process_exec(int sync, const struct plan *p, int fifo_fd, int is_init);

/* seccomp.c */
void seccomp_prepare(struct plan *p); /* parent, before clone: compile or read the cache */
void seccomp_load_plan(int sync, const struct plan *p);
int seccomp_compile_main(int argc, char **argv); /* `hako-shim seccomp-compile`: a plan's filter to stdout */
/* seccomp_shrink.c: the same decisions in fewer instructions; 0 and a malloc'd program, or -1 to keep prog */
int seccomp_shrink(const void *prog, size_t len, void **out, size_t *outlen);

/* terminal.c */
void terminal_setup_child(int sync, const struct plan *p);
int send_fd_to_socket(const char *socket_path, int fd);

/* monitor.c: the parent after the process started; returns the exit code to use */
int monitor_process(pid_t child, int master_fd);

/* parent.c: shared parent-side handshake of create/run/exec */
struct parent_result { int master_fd; };
void parent_handshake(const struct plan *p, pid_t child, int sync, int console_fd, struct parent_result *out);
int exit_code_of(int status);

#endif
