/* Decoding of the plan sent by TypeScript (format in plan.h). */
#include "plan.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const uint8_t *p, *end;
	int bad;
};

static uint32_t rd_u32(struct reader *r)
{
	uint32_t v;
	if (r->end - r->p < 4) { r->bad = 1; return 0; }
	memcpy(&v, r->p, 4);
	r->p += 4;
	return v;
}

static uint64_t rd_u64(struct reader *r)
{
	uint64_t v;
	if (r->end - r->p < 8) { r->bad = 1; return 0; }
	memcpy(&v, r->p, 8);
	r->p += 8;
	return v;
}

static char *rd_str(struct reader *r)
{
	uint32_t n = rd_u32(r);
	if (r->bad || (size_t)(r->end - r->p) < n) { r->bad = 1; return xstrdup(""); }
	char *s = xmalloc((size_t)n + 1);
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	return s;
}

static char **rd_strlist(struct reader *r)
{
	uint32_t n = rd_u32(r);
	if (r->bad || n > 65536) { r->bad = 1; n = 0; }
	char **v = xcalloc((size_t)n + 1, sizeof(char *));
	for (uint32_t i = 0; i < n; i++)
		v[i] = rd_str(r);
	return v;
}

void strvec_push(struct strvec *v, char *s)
{
	if (v->n + 2 > v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->v = xrealloc(v->v, v->cap * sizeof(char *));
	}
	v->v[v->n++] = s;
	v->v[v->n] = NULL;
}

#define GROW(arr, n) ((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++])

int plan_decode(const uint8_t *buf, size_t len, struct plan *p, const char **why)
{
	struct reader hdr = { buf, buf + len, 0 };
	memset(p, 0, sizeof(*p));
	p->rootfs_prop = (uint64_t)-1;
	if (rd_u32(&hdr) != PLAN_MAGIC || hdr.bad) { *why = "bad magic"; errno = EINVAL; return -1; }
	if (rd_u32(&hdr) != PLAN_VERSION) { *why = "plan version mismatch (helper and TypeScript built apart?)"; errno = EINVAL; return -1; }

	const uint8_t *q = hdr.p;
	while (q < buf + len) {
		if ((size_t)(buf + len - q) < 8) { *why = "truncated record header"; errno = EINVAL; return -1; }
		uint16_t tag; uint32_t rlen;
		memcpy(&tag, q, 2);
		memcpy(&rlen, q + 4, 4);
		q += 8;
		if ((size_t)(buf + len - q) < rlen) { *why = "truncated record"; errno = EINVAL; return -1; }
		struct reader r = { q, q + rlen, 0 };
		q += rlen;

		switch (tag) {
		case T_MODE: p->mode = rd_u32(&r); break;
		case T_ROOTFS: p->rootfs = rd_str(&r); break;
		case T_ROOTFS_RO: p->rootfs_ro = 1; break;
		case T_ROOTFS_PROP: p->rootfs_prop = rd_u64(&r); break;
		case T_CLONE_FLAGS: p->clone_flags = rd_u64(&r); break;
		case T_JOIN_NS: {
			struct join_ns *j = GROW(p->joins, p->njoins);
			j->type = rd_u32(&r);
			j->path = rd_str(&r);
			break;
		}
		case T_UID_MAP: p->uid_map = rd_str(&r); break;
		case T_GID_MAP: p->gid_map = rd_str(&r); break;
		case T_HOSTNAME: p->hostname = rd_str(&r); break;
		case T_DOMAINNAME: p->domainname = rd_str(&r); break;
		case T_MOUNT: {
			struct mount_entry *m = GROW(p->mounts, p->nmounts);
			m->flags = rd_u64(&r);
			m->propagation = rd_u64(&r);
			m->opts = rd_u32(&r);
			m->source = rd_str(&r);
			m->target = rd_str(&r);
			m->fstype = rd_str(&r);
			m->data = rd_str(&r);
			break;
		}
		case T_DEVICE: {
			struct device_entry *d = GROW(p->devices, p->ndevices);
			d->mode = rd_u32(&r);
			d->major = rd_u32(&r);
			d->minor = rd_u32(&r);
			d->uid = rd_u32(&r);
			d->gid = rd_u32(&r);
			d->path = rd_str(&r);
			break;
		}
		case T_SYMLINK: {
			struct pair *s = GROW(p->symlinks, p->nsymlinks);
			s->a = rd_str(&r);
			s->b = rd_str(&r);
			break;
		}
		case T_MASK: strvec_push(&p->masks, rd_str(&r)); break;
		case T_READONLY: strvec_push(&p->readonly, rd_str(&r)); break;
		case T_SYSCTL: {
			struct pair *s = GROW(p->sysctls, p->nsysctls);
			s->a = rd_str(&r);
			s->b = rd_str(&r);
			break;
		}
		case T_CGROUP_PROCS: strvec_push(&p->cgroup_procs, rd_str(&r)); break;
		case T_OOM_SCORE_ADJ: p->has_oom_score_adj = 1; p->oom_score_adj = (int32_t)rd_u32(&r); break;
		case T_CAPS:
			p->has_caps = 1;
			p->cap_bounding = rd_u64(&r);
			p->cap_effective = rd_u64(&r);
			p->cap_inheritable = rd_u64(&r);
			p->cap_permitted = rd_u64(&r);
			p->cap_ambient = rd_u64(&r);
			break;
		case T_NO_NEW_PRIVS: p->no_new_privs = 1; break;
		case T_LOOPBACK_UP: p->loopback_up = 1; break;
		case T_RLIMIT: {
			struct rlimit_entry *l = GROW(p->rlimits, p->nrlimits);
			l->resource = rd_u32(&r);
			l->soft = rd_u64(&r);
			l->hard = rd_u64(&r);
			break;
		}
		case T_USER: {
			p->has_user = 1;
			p->uid = rd_u32(&r);
			p->gid = rd_u32(&r);
			uint32_t n = rd_u32(&r);
			if (n > 65536) { r.bad = 1; break; }
			p->gids = xcalloc(n ? n : 1, sizeof(uint32_t));
			p->ngids = n;
			for (uint32_t i = 0; i < n; i++)
				p->gids[i] = rd_u32(&r);
			break;
		}
		case T_UMASK: p->has_umask = 1; p->umask = rd_u32(&r); break;
		case T_CWD: p->cwd = rd_str(&r); break;
		case T_ENV: strvec_push(&p->env, rd_str(&r)); break;
		case T_ARG: strvec_push(&p->args, rd_str(&r)); break;
		case T_EXEC_FIFO: p->exec_fifo = rd_str(&r); break;
		case T_TERMINAL: p->terminal = 1; p->rows = rd_u32(&r); p->cols = rd_u32(&r); break;
		case T_CONSOLE_SOCKET: p->console_socket = rd_str(&r); break;
		case T_SECCOMP: {
			p->has_seccomp = 1;
			p->seccomp_default = rd_u32(&r);
			p->seccomp_flags = rd_u32(&r);
			uint32_t n = rd_u32(&r);
			for (uint32_t i = 0; i < n && !r.bad; i++)
				strvec_push(&p->seccomp_arches, rd_str(&r));
			break;
		}
		case T_SECCOMP_RULE: {
			struct seccomp_rule *s = GROW(p->seccomp_rules, p->nseccomp_rules);
			s->action = rd_u32(&r);
			s->syscall = rd_str(&r);
			s->nargs = rd_u32(&r);
			if (s->nargs > 6) { r.bad = 1; s->nargs = 0; }
			s->args = xcalloc(s->nargs ? s->nargs : 1, sizeof(struct seccomp_arg));
			for (uint32_t i = 0; i < s->nargs; i++) {
				s->args[i].index = rd_u32(&r);
				s->args[i].op = rd_u32(&r);
				s->args[i].value = rd_u64(&r);
				s->args[i].value2 = rd_u64(&r);
			}
			break;
		}
		case T_ROOTFS_MOUNT:
			p->has_rootfs_mount = 1;
			p->rootfs_mount_flags = rd_u64(&r);
			p->rootfs_mount_type = rd_str(&r);
			p->rootfs_mount_source = rd_str(&r);
			p->rootfs_mount_data = rd_str(&r);
			p->rootfs_mount_cwd = rd_str(&r);
			break;
		case T_SECCOMP_CACHE: p->seccomp_cache = rd_str(&r); break;
		case T_SECCOMP_COMPILED:
			p->seccomp_cache = rd_str(&r);
			p->seccomp_cache_only = 1;
			break;
		case T_PAUSE_HOOKS: p->pause_hooks = 1; break;
		case T_START_HOOK: {
			struct hook *h = GROW(p->start_hooks, p->nstart_hooks);
			h->timeout = rd_u32(&r);
			h->path = rd_str(&r);
			h->args = rd_strlist(&r);
			h->env = rd_strlist(&r);
			break;
		}
		case T_HOOK_STATE: p->hook_state = rd_str(&r); break;
		case T_PRESERVE_FDS: p->preserve_fds = rd_u32(&r); break;
		case T_TARGET_PID: p->target_pid = (pid_t)rd_u32(&r); break;
		case T_WAIT_START: p->wait_start = 1; break;
		case T_SHIM_DIR: p->shim_dir = rd_str(&r); break;
		case T_LOG:
			p->log_path = rd_str(&r);
			p->log_max_size = rd_u64(&r);
			p->log_max_files = rd_u32(&r);
			break;
		case T_STDIO: p->stdio_flags = rd_u32(&r); break;
		case T_DEVICE_FILTER: {
			p->device_filter_dir = rd_str(&r);
			uint32_t n = rd_u32(&r);
			if (r.bad || n == 0 || n > 4096 || (size_t)(r.end - r.p) < (size_t)n * 8) { r.bad = 1; break; }
			p->device_filter = xmalloc((size_t)n * 8);
			memcpy(p->device_filter, r.p, (size_t)n * 8);
			r.p += (size_t)n * 8;
			p->device_filter_len = n;
			break;
		}
		default:
			*why = "unknown record tag";
			errno = EINVAL;
			return -1;
		}
		if (r.bad) { *why = "malformed record"; errno = EINVAL; return -1; }
	}
	if (p->args.n == 0) { *why = "no process arguments"; errno = EINVAL; return -1; }
	return 0;
}
