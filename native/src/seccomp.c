/*
 * The seccomp filter. The flat rule list TypeScript resolved
 * (src/runtime/seccomp.ts) is compiled by libseccomp in the parent, before
 * clone, as crun does; the child only loads the finished program. Compiling
 * Docker's default profile costs ~10 ms, so the program is cached in a file
 * keyed by TypeScript with a hash of the rules and read back next time.
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* OCI linux.seccomp.flags, as TypeScript encodes them */
#define HAKO_SECCOMP_FLAG_LOG 0x1
#define HAKO_SECCOMP_FLAG_SPEC_ALLOW 0x2

#define MAX_PROG_BYTES (BPF_MAXINSNS * sizeof(struct sock_filter))

static int read_cache(struct plan *p)
{
	int fd = open(p->seccomp_cache, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != 0 || st.st_size <= 0 ||
	    (size_t)st.st_size > MAX_PROG_BYTES || st.st_size % (off_t)sizeof(struct sock_filter) != 0) {
		close(fd);
		return -1;
	}
	void *buf = xmalloc((size_t)st.st_size);
	int r = read_full(fd, buf, (size_t)st.st_size);
	close(fd);
	if (r < 0) { free(buf); return -1; }
	p->seccomp_prog = buf;
	p->seccomp_prog_len = (size_t)st.st_size;
	return 0;
}

static void write_cache(const struct plan *p)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.%d.tmp", p->seccomp_cache, getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) return; /* a cache we cannot write is only slower */
	int ok = write_all(fd, p->seccomp_prog, p->seccomp_prog_len) == 0 && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, p->seccomp_cache) < 0) unlink(tmp);
}

static void compile(struct plan *p, int shrink)
{
	scmp_filter_ctx ctx = seccomp_init(p->seccomp_default);
	if (!ctx)
		fatal("seccomp", EINVAL, "seccomp_init: invalid default action 0x%x", p->seccomp_default);
	/*
	 * A binary tree of syscall numbers rather than one comparison after
	 * another: the kernel runs the filter for every syscall number of every
	 * architecture when it loads it (its action cache), so for Docker's
	 * default profile (~1000 instructions in a list) the load itself took
	 * ~1.1 ms of each start and exec. An older libseccomp keeps the list.
	 */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < p->seccomp_arches.n; i++) {
		uint32_t arch = seccomp_arch_resolve_name(p->seccomp_arches.v[i]);
		if (arch == 0) continue; /* unknown to this libseccomp */
		int r = seccomp_arch_add(ctx, arch);
		if (r < 0 && r != -EEXIST)
			fatal("seccomp", -r, "add architecture %s: %s", p->seccomp_arches.v[i], strerror(-r));
	}
	for (size_t i = 0; i < p->nseccomp_rules; i++) {
		const struct seccomp_rule *rule = &p->seccomp_rules[i];
		int nr = seccomp_syscall_resolve_name(rule->syscall);
		if (nr == __NR_SCMP_ERROR) continue; /* a name this libseccomp does not know */
		if (rule->action == p->seccomp_default) continue;
		struct scmp_arg_cmp cmps[6];
		for (uint32_t a = 0; a < rule->nargs; a++) {
			cmps[a].arg = rule->args[a].index;
			cmps[a].op = (enum scmp_compare)rule->args[a].op;
			cmps[a].datum_a = rule->args[a].value;
			cmps[a].datum_b = rule->args[a].value2;
		}
		int r = seccomp_rule_add_array(ctx, rule->action, nr, rule->nargs, cmps);
		if (r < 0)
			fatal("seccomp", -r, "add rule for %s: %s", rule->syscall, strerror(-r));
	}
	int mfd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (mfd < 0)
		fatal("seccomp", errno, "memfd_create: %s", strerror(errno));
	int r = seccomp_export_bpf(ctx, mfd);
	if (r < 0)
		fatal("seccomp", -r, "compile the filter: %s", strerror(-r));
	seccomp_release(ctx);
	off_t size = lseek(mfd, 0, SEEK_END);
	if (size <= 0 || (size_t)size > MAX_PROG_BYTES)
		fatal("seccomp", E2BIG, "the compiled filter has %lld bytes", (long long)size);
	p->seccomp_prog = xmalloc((size_t)size);
	p->seccomp_prog_len = (size_t)size;
	if (pread(mfd, p->seccomp_prog, (size_t)size, 0) != size)
		fatal("seccomp", errno, "read the compiled filter: %s", strerror(errno));
	close(mfd);
	void *small;
	size_t small_len;
	if (shrink && seccomp_shrink(p->seccomp_prog, p->seccomp_prog_len, &small, &small_len) == 0) {
		free(p->seccomp_prog);
		p->seccomp_prog = small;
		p->seccomp_prog_len = small_len;
	}
}

void seccomp_prepare(struct plan *p)
{
	if (!p->has_seccomp) return;
	if (p->seccomp_cache && read_cache(p) == 0) return;
	/* Without its rules there is nothing to compile: no filter at all is not an option. */
	if (p->seccomp_cache_only)
		fatal("seccomp", ENOENT, "the compiled filter %s is gone or unreadable", p->seccomp_cache);
	compile(p, 1);
	if (p->seccomp_cache) write_cache(p);
}

/*
 * For tests: the filter of the plan on stdin (framed as on fd 3), as
 * starts load it, or with --libseccomp as libseccomp alone made it.
 */
int seccomp_compile_main(int argc, char **argv)
{
	int shrink = !(argc > 1 && strcmp(argv[1], "--libseccomp") == 0);
	g_ctl_fd = 2; /* no caller on fd 3: errors go to stderr, as "error <stage> <errno> <text>" */
	struct plan plan;
	read_plan(0, &plan);
	if (!plan.has_seccomp || plan.seccomp_cache_only)
		fatal("seccomp", EINVAL, "the plan has no seccomp rules to compile");
	compile(&plan, shrink);
	return write_all(1, plan.seccomp_prog, plan.seccomp_prog_len) < 0 ? 1 : 0;
}

void seccomp_load_plan(int sync, const struct plan *p)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(p->seccomp_prog_len / sizeof(struct sock_filter)),
		.filter = p->seccomp_prog,
	};
	unsigned int flags = 0;
	if (p->seccomp_flags & HAKO_SECCOMP_FLAG_LOG) flags |= SECCOMP_FILTER_FLAG_LOG;
	if (p->seccomp_flags & HAKO_SECCOMP_FLAG_SPEC_ALLOW) flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
		child_fail(sync, "seccomp", errno, 1, "load the filter: %s", strerror(errno));
}
