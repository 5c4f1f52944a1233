/*
 * Builds the seccomp filter from the flat rule list TypeScript resolved
 * (src/runtime/seccomp.ts) with libseccomp, as crun does. Policy such as
 * Docker's default profile never reaches this file: only rules.
 */
#define _GNU_SOURCE
#include "container.h"
#include "msg.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>

/* OCI linux.seccomp.flags, as TypeScript encodes them */
#define HAKO_SECCOMP_FLAG_LOG 0x1
#define HAKO_SECCOMP_FLAG_SPEC_ALLOW 0x2

void seccomp_load_plan(int sync, const struct plan *p)
{
	scmp_filter_ctx ctx = seccomp_init(p->seccomp_default);
	if (!ctx)
		child_fail(sync, "seccomp", EINVAL, 1, "seccomp_init: invalid default action 0x%x", p->seccomp_default);
	/* no_new_privs is the plan's decision, not libseccomp's. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (p->seccomp_flags & HAKO_SECCOMP_FLAG_LOG)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (p->seccomp_flags & HAKO_SECCOMP_FLAG_SPEC_ALLOW)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);

	for (size_t i = 0; i < p->seccomp_arches.n; i++) {
		uint32_t arch = seccomp_arch_resolve_name(p->seccomp_arches.v[i]);
		if (arch == 0) continue; /* unknown to this libseccomp */
		int r = seccomp_arch_add(ctx, arch);
		if (r < 0 && r != -EEXIST)
			child_fail(sync, "seccomp", -r, 1, "add architecture %s: %s", p->seccomp_arches.v[i], strerror(-r));
	}

	for (size_t i = 0; i < p->nseccomp_rules; i++) {
		const struct seccomp_rule *rule = &p->seccomp_rules[i];
		int nr = seccomp_syscall_resolve_name(rule->syscall);
		if (nr == __NR_SCMP_ERROR) continue; /* a name this kernel/libseccomp does not know */
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
			child_fail(sync, "seccomp", -r, 1, "add rule for %s: %s", rule->syscall, strerror(-r));
	}
	int r = seccomp_load(ctx);
	if (r < 0)
		child_fail(sync, "seccomp", -r, 1, "load the filter: %s", strerror(-r));
	seccomp_release(ctx);
}
