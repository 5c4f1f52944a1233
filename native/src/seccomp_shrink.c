/*
 * libseccomp's program, rebuilt smaller with the same decisions.
 *
 * Its binary tree still compares every syscall number on its own: ~1240
 * instructions for Docker's default profile over x86_64, x86 and x32. The
 * kernel JIT-compiles each instruction on every load (do_jit, several
 * passes), ~0.35 ms of each start and exec. Yet the decision changes at
 * only a few dozen numbers per architecture. So:
 *
 *  1. The constants the program compares the architecture and the syscall
 *     number with cut both into intervals on which every such comparison
 *     comes out the same (a forward pass over the DAG says which value the
 *     accumulator holds where).
 *  2. The program is run once for each (architecture, number) interval with
 *     both known and everything else unknown: a partial evaluation. What
 *     is left is a RET, or that syscall's argument checks. Residual
 *     instructions are hash-consed, so identical ones are one.
 *  3. A binary search over the merged intervals leads to the residues.
 *
 * The new program is then run against the original on every interval with
 * a set of argument values. Anything this does not model (the X register,
 * scratch memory, arithmetic on the number), any difference, or no gain
 * keeps the original: this may only ever make a filter smaller.
 */
#define _GNU_SOURCE
#include "container.h"
#include "util.h"

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* struct seccomp_data as the filter sees it */
#define OFF_NR 0
#define OFF_ARCH 4
#define DATA_WORDS 16 /* nr, arch, instruction_pointer, args[6]: 64 bytes */

enum { SRC_OTHER = 1, SRC_NR = 2, SRC_ARCH = 4 };

struct u32set {
	uint32_t *v;
	size_t n, cap;
};

static void set_add(struct u32set *s, uint32_t x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = x;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted, unique: the first value of each interval (0 always starts one). */
static void set_finish(struct u32set *s)
{
	set_add(s, 0);
	qsort(s->v, s->n, sizeof *s->v, cmp_u32);
	size_t w = 0;
	for (size_t i = 0; i < s->n; i++)
		if (w == 0 || s->v[w - 1] != s->v[i]) s->v[w++] = s->v[i];
	s->n = w;
}

static void add_cut(struct u32set *s, uint32_t k)
{
	set_add(s, k);
	if (k != UINT32_MAX) set_add(s, k + 1);
}

/*
 * Which of nr, arch or anything else the accumulator holds at each
 * instruction (jumps only go forward, so one pass in order does), and the
 * constants each is compared with. -1: something not modelled.
 */
static int find_cuts(const struct sock_filter *f, size_t n, struct u32set *arch, struct u32set *nr)
{
	uint8_t *src = xcalloc(n, 1);
	int ok = 0;
	src[0] = SRC_OTHER; /* A starts as 0 */
#define FLOW(t, s) do { if ((t) >= n) goto out; src[t] |= (s); } while (0)
	for (size_t pc = 0; pc < n; pc++) {
		uint8_t s = src[pc];
		if (!s) continue; /* unreachable */
		const struct sock_filter *in = &f[pc];
		switch (BPF_CLASS(in->code)) {
		case BPF_LD:
			if (in->code == (BPF_LD | BPF_W | BPF_ABS))
				FLOW(pc + 1, in->k == OFF_NR ? SRC_NR : in->k == OFF_ARCH ? SRC_ARCH : SRC_OTHER);
			else if (in->code == (BPF_LD | BPF_IMM))
				FLOW(pc + 1, SRC_OTHER);
			else
				goto out;
			break;
		case BPF_ALU:
			if ((BPF_SRC(in->code) != BPF_K && BPF_OP(in->code) != BPF_NEG) || (s & (SRC_NR | SRC_ARCH))) goto out;
			FLOW(pc + 1, s);
			break;
		case BPF_JMP:
			if (BPF_OP(in->code) == BPF_JA) {
				if (in->k >= n) goto out;
				FLOW(pc + 1 + in->k, s);
				break;
			}
			if (BPF_SRC(in->code) != BPF_K) goto out;
			if (s & (SRC_NR | SRC_ARCH)) {
				if ((s != SRC_NR && s != SRC_ARCH) || BPF_OP(in->code) == BPF_JSET) goto out;
				add_cut(s == SRC_NR ? nr : arch, in->k);
			}
			FLOW(pc + 1 + in->jt, s);
			FLOW(pc + 1 + in->jf, s);
			break;
		case BPF_RET:
			if (BPF_RVAL(in->code) != BPF_K && BPF_RVAL(in->code) != BPF_A) goto out;
			break;
		default:
			goto out;
		}
	}
#undef FLOW
	ok = 1;
out:
	free(src);
	if (!ok) return -1;
	set_finish(arch);
	set_finish(nr);
	return 0;
}

static int alu(uint16_t code, uint32_t a, uint32_t k, uint32_t *out)
{
	switch (BPF_OP(code)) {
	case BPF_ADD: *out = a + k; break;
	case BPF_SUB: *out = a - k; break;
	case BPF_MUL: *out = a * k; break;
	case BPF_DIV: if (!k) return -1; *out = a / k; break;
	case BPF_MOD: if (!k) return -1; *out = a % k; break;
	case BPF_OR: *out = a | k; break;
	case BPF_AND: *out = a & k; break;
	case BPF_XOR: *out = a ^ k; break;
	case BPF_LSH: *out = k < 32 ? a << k : 0; break;
	case BPF_RSH: *out = k < 32 ? a >> k : 0; break;
	case BPF_NEG: *out = -a; break;
	default: return -1;
	}
	return 0;
}

static int jump_taken(uint16_t code, uint32_t a, uint32_t k)
{
	switch (BPF_OP(code)) {
	case BPF_JEQ: return a == k;
	case BPF_JGT: return a > k;
	case BPF_JGE: return a >= k;
	default: return (a & k) != 0; /* BPF_JSET */
	}
}

/* Runs a program this file models on one input: the action, or -1. */
static int64_t run(const struct sock_filter *f, size_t n, const uint32_t data[DATA_WORDS])
{
	uint32_t a = 0;
	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *in = &f[pc];
		switch (BPF_CLASS(in->code)) {
		case BPF_LD:
			if (in->code == (BPF_LD | BPF_IMM)) a = in->k;
			else if (in->code == (BPF_LD | BPF_W | BPF_ABS) && in->k % 4 == 0 && in->k / 4 < DATA_WORDS) a = data[in->k / 4];
			else return -1;
			break;
		case BPF_ALU:
			if (alu(in->code, a, in->k, &a) < 0) return -1;
			break;
		case BPF_JMP:
			if (BPF_OP(in->code) == BPF_JA) pc += in->k;
			else pc += jump_taken(in->code, a, in->k) ? in->jt : in->jf;
			break;
		case BPF_RET:
			return BPF_RVAL(in->code) == BPF_A ? a : in->k;
		default:
			return -1;
		}
	}
	return -1;
}

/* ------------------------------------------------------------ residues */

/* A residual instruction: RET (k, or A), LD or ALU then `a`, a conditional jump to `a` or `b`. */
struct rnode {
	uint16_t code;
	uint32_t k;
	int a, b;
};

struct shrink {
	const struct sock_filter *f;
	size_t n;
	uint32_t arch, nr; /* the case being evaluated */
	struct rnode *nodes;
	size_t nnodes, capnodes;
	int *hash; /* node ids by content, open addressing */
	size_t hashcap;
	/* memo of the case: for each pc, the residue with A unknown and with A known */
	uint32_t *memo_gen, gen;
	int *memo_unknown, *memo_known_id;
	uint32_t *memo_known_val;
	uint8_t *memo_has_known;
};

static size_t node_hash(const struct rnode *r)
{
	uint64_t h = r->code * 0x9E3779B97F4A7C15ULL ^ r->k;
	h = h * 0xBF58476D1CE4E5B9ULL ^ (uint32_t)r->a;
	h = h * 0x94D049BB133111EBULL ^ (uint32_t)r->b;
	return (size_t)(h ^ (h >> 31));
}

static int intern(struct shrink *s, uint16_t code, uint32_t k, int a, int b)
{
	struct rnode r = { code, k, a, b };
	if (s->nnodes * 2 >= s->hashcap) {
		size_t cap = s->hashcap ? s->hashcap * 2 : 1024;
		int *h = xmalloc(cap * sizeof *h);
		for (size_t i = 0; i < cap; i++) h[i] = -1;
		for (size_t id = 0; id < s->nnodes; id++) {
			size_t i = node_hash(&s->nodes[id]) & (cap - 1);
			while (h[i] >= 0) i = (i + 1) & (cap - 1);
			h[i] = (int)id;
		}
		free(s->hash);
		s->hash = h;
		s->hashcap = cap;
	}
	size_t i = node_hash(&r) & (s->hashcap - 1);
	for (; s->hash[i] >= 0; i = (i + 1) & (s->hashcap - 1)) {
		const struct rnode *o = &s->nodes[s->hash[i]];
		if (o->code == code && o->k == k && o->a == a && o->b == b) return s->hash[i];
	}
	if (s->nnodes == s->capnodes) {
		s->capnodes = s->capnodes ? s->capnodes * 2 : 256;
		s->nodes = xrealloc(s->nodes, s->capnodes * sizeof *s->nodes);
	}
	s->nodes[s->nnodes] = r;
	s->hash[i] = (int)s->nnodes;
	return (int)s->nnodes++;
}

/* The residue of the program from `pc` on, for the current case; -1 if not modelled. */
static int residue(struct shrink *s, size_t pc, int known, uint32_t a)
{
	if (pc >= s->n) return -1;
	if (s->memo_gen[pc] != s->gen) {
		s->memo_gen[pc] = s->gen;
		s->memo_unknown[pc] = -2;
		s->memo_has_known[pc] = 0;
	}
	if (!known && s->memo_unknown[pc] != -2) return s->memo_unknown[pc];
	if (known && s->memo_has_known[pc] && s->memo_known_val[pc] == a) return s->memo_known_id[pc];

	const struct sock_filter *in = &s->f[pc];
	int id;
	switch (BPF_CLASS(in->code)) {
	case BPF_LD:
		if (in->code == (BPF_LD | BPF_IMM)) id = residue(s, pc + 1, 1, in->k);
		else if (in->k == OFF_NR) id = residue(s, pc + 1, 1, s->nr);
		else if (in->k == OFF_ARCH) id = residue(s, pc + 1, 1, s->arch);
		else {
			int next = residue(s, pc + 1, 0, 0);
			id = next < 0 ? -1 : intern(s, in->code, in->k, next, -1);
		}
		break;
	case BPF_ALU:
		if (known) {
			uint32_t v;
			id = alu(in->code, a, in->k, &v) < 0 ? -1 : residue(s, pc + 1, 1, v);
		} else {
			int next = residue(s, pc + 1, 0, 0);
			id = next < 0 ? -1 : intern(s, in->code, in->k, next, -1);
		}
		break;
	case BPF_JMP:
		if (BPF_OP(in->code) == BPF_JA) {
			id = residue(s, pc + 1 + in->k, known, a);
		} else if (known) {
			id = residue(s, pc + 1 + (jump_taken(in->code, a, in->k) ? in->jt : in->jf), 1, a);
		} else {
			int t = residue(s, pc + 1 + in->jt, 0, 0);
			int e = residue(s, pc + 1 + in->jf, 0, 0);
			id = t < 0 || e < 0 ? -1 : t == e ? t : intern(s, in->code, in->k, t, e);
		}
		break;
	default: /* BPF_RET, as find_cuts let through */
		if (BPF_RVAL(in->code) == BPF_K) id = intern(s, BPF_RET | BPF_K, in->k, -1, -1);
		else id = known ? intern(s, BPF_RET | BPF_K, a, -1, -1) : intern(s, BPF_RET | BPF_A, 0, -1, -1);
		break;
	}
	/* Jumps go forward: what ran above never touched this pc's memo. */
	if (!known) s->memo_unknown[pc] = id;
	else {
		s->memo_has_known[pc] = 1;
		s->memo_known_val[pc] = a;
		s->memo_known_id[pc] = id;
	}
	return id;
}

/* ------------------------------------------------------------ emission */

/* The program is built from its end: every jump's target is placed before the jump. */
struct out {
	struct sock_filter *buf;
	int front; /* buf[front..BPF_MAXINSNS) is done */
	int *pos; /* position of each residual node, -1 until placed */
	int failed;
};

static int place(struct out *o, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (o->front == 0) {
		o->failed = 1;
		return 0;
	}
	o->front--;
	o->buf[o->front] = (struct sock_filter){ code, jt, jf, k };
	return o->front;
}

/* A way to `target` for a jump that cannot reach it: the same RET again, or a JA. */
static int place_far(struct out *o, int target)
{
	const struct sock_filter *t = &o->buf[target];
	if (BPF_CLASS(t->code) == BPF_RET) return place(o, t->code, 0, 0, t->k);
	return place(o, BPF_JMP | BPF_JA, 0, 0, (uint32_t)(target - o->front));
}

/* An instruction that goes on to `next`. */
static int place_then(struct out *o, uint16_t code, uint32_t k, int next)
{
	if (next != o->front) place(o, BPF_JMP | BPF_JA, 0, 0, (uint32_t)(next - o->front));
	return place(o, code, 0, 0, k);
}

static int place_cond(struct out *o, uint16_t code, uint32_t k, int t, int e)
{
	for (;;) {
		int p = o->front - 1;
		if (o->failed || p < 0) {
			o->failed = 1;
			return 0;
		}
		if (e - (p + 1) > 255) e = place_far(o, e);
		else if (t - (p + 1) > 255) t = place_far(o, t);
		else return place(o, code, (uint8_t)(t - (p + 1)), (uint8_t)(e - (p + 1)), k);
	}
}

static int emit_node(struct out *o, const struct shrink *s, int id)
{
	if (o->pos[id] >= 0) return o->pos[id];
	const struct rnode *r = &s->nodes[id];
	int p;
	if (BPF_CLASS(r->code) == BPF_RET) {
		p = place(o, r->code, 0, 0, r->k);
	} else if (BPF_CLASS(r->code) == BPF_JMP) {
		int t = emit_node(o, s, r->a);
		int e = emit_node(o, s, r->b);
		p = place_cond(o, r->code, r->k, t, e);
	} else {
		p = place_then(o, r->code, r->k, emit_node(o, s, r->a));
	}
	o->pos[id] = p;
	return p;
}

/* One interval of a dispatch: values from `lo` on lead to `target` (a residual node, or an arch section). */
struct span {
	uint32_t lo;
	int target;
};

/* The syscall numbers of one architecture interval, merged where they lead to the same residue. */
struct section {
	struct span *spans;
	size_t n;
};

/* Exceptions a leaf of the search may test one by one: a denied call among allowed ones costs one JEQ, not two JGEs. */
#define MAX_EXCEPTIONS 8

/* Span j is one number, between two spans that lead to the same place. */
static int is_exception(const struct span *v, size_t n, size_t j)
{
	return j > 0 && j + 1 < n && v[j + 1].lo == v[j].lo + 1 && v[j - 1].target == v[j + 1].target;
}

/* v[lo..hi]: one target with single-number exceptions (v[lo+1], v[lo+3], ...), few enough. */
static int is_exception_run(const struct span *v, size_t n, size_t lo, size_t hi)
{
	if ((hi - lo) % 2 || (hi - lo) / 2 > MAX_EXCEPTIONS) return 0;
	for (size_t j = lo + 1; j < hi; j += 2)
		if (!is_exception(v, n, j) || v[j - 1].target != v[lo].target) return 0;
	return 1;
}

static int emit_tree(struct out *o, const struct shrink *s, const struct span *v, size_t n, size_t lo, size_t hi)
{
	if (is_exception_run(v, n, lo, hi)) {
		int next = emit_node(o, s, v[lo].target);
		for (size_t j = hi; j > lo; j -= 2)
			next = place_cond(o, BPF_JMP | BPF_JEQ | BPF_K, v[j - 1].lo, emit_node(o, s, v[j - 1].target), next);
		return next;
	}
	/* Split near the middle, but not at an exception: its run may yet fit a leaf. */
	size_t mid = lo + (hi - lo + 1) / 2;
	for (size_t d = 0; d < 4; d++) {
		if (mid + d <= hi && !is_exception(v, n, mid + d) && !is_exception(v, n, mid + d - 1)) { mid += d; break; }
		if (mid >= lo + 1 + d && !is_exception(v, n, mid - d) && !is_exception(v, n, mid - d - 1)) { mid -= d; break; }
	}
	int right = emit_tree(o, s, v, n, mid, hi);
	int left = emit_tree(o, s, v, n, lo, mid - 1);
	return place_cond(o, BPF_JMP | BPF_JGE | BPF_K, v[mid].lo, right, left);
}

static int emit_section(struct out *o, const struct shrink *s, const struct section *sec)
{
	if (sec->n == 1) return emit_node(o, s, sec->spans[0].target);
	int root = emit_tree(o, s, sec->spans, sec->n, 0, sec->n - 1);
	return place_then(o, BPF_LD | BPF_W | BPF_ABS, OFF_NR, root);
}

static int emit_arch_tree(struct out *o, const struct shrink *s, const struct section *secs, const uint32_t *arch_lo, size_t lo, size_t hi)
{
	if (lo == hi) return emit_section(o, s, &secs[lo]);
	size_t mid = lo + (hi - lo + 1) / 2;
	int right = emit_arch_tree(o, s, secs, arch_lo, mid, hi);
	int left = emit_arch_tree(o, s, secs, arch_lo, lo, mid - 1);
	return place_cond(o, BPF_JMP | BPF_JGE | BPF_K, arch_lo[mid], right, left);
}

/* ------------------------------------------------------------ check */

static uint32_t lcg(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*state >> 33);
}

/* Both programs on one input: 0 when they agree. */
static int differs(const struct sock_filter *a, size_t na, const struct sock_filter *b, size_t nb, const uint32_t d[DATA_WORDS])
{
	int64_t x = run(a, na, d), y = run(b, nb, d);
	return x < 0 || x != y;
}

/*
 * Every interval's first and last value, zero arguments, for each
 * architecture interval; and where a syscall's residue is more than a RET,
 * its argument words set to the constants the residues compare them with
 * (and their neighbours), one word at a time and mixed.
 */
static int same_decisions(const struct sock_filter *orig, size_t norig, const struct sock_filter *small, size_t nsmall,
			  const struct u32set *arch, const struct u32set *nr, const struct shrink *s, const struct section *secs)
{
	struct u32set pool = { 0 };
	set_add(&pool, 0);
	set_add(&pool, UINT32_MAX);
	for (size_t i = 0; i < s->nnodes; i++) {
		uint32_t k = s->nodes[i].k;
		if (BPF_CLASS(s->nodes[i].code) != BPF_JMP) continue;
		set_add(&pool, k);
		set_add(&pool, k + 1);
		set_add(&pool, k - 1);
		set_add(&pool, ~k);
	}
	uint64_t seed = 0x5eccf11e;
	int bad = 0;
	for (size_t ai = 0; ai < arch->n && !bad; ai++) {
		uint32_t arch_ends[2] = { arch->v[ai], ai + 1 < arch->n ? arch->v[ai + 1] - 1 : UINT32_MAX };
		for (size_t ni = 0; ni < nr->n && !bad; ni++) {
			uint32_t nr_ends[2] = { nr->v[ni], ni + 1 < nr->n ? nr->v[ni + 1] - 1 : UINT32_MAX };
			for (int ae = 0; ae < 2 && !bad; ae++)
				for (int ne = 0; ne < 2 && !bad; ne++) {
					uint32_t d[DATA_WORDS] = { 0 };
					d[0] = nr_ends[ne];
					d[1] = arch_ends[ae];
					bad |= differs(orig, norig, small, nsmall, d);
				}
		}
		const struct section *sec = &secs[ai];
		for (size_t j = 0; j < sec->n && !bad; j++) {
			if (BPF_CLASS(s->nodes[sec->spans[j].target].code) == BPF_RET) continue;
			uint32_t d[DATA_WORDS] = { 0 };
			d[0] = sec->spans[j].lo;
			d[1] = arch->v[ai];
			for (int w = 2; w < DATA_WORDS && !bad; w++)
				for (size_t c = 0; c < pool.n && !bad; c++) {
					d[w] = pool.v[c];
					bad |= differs(orig, norig, small, nsmall, d);
					d[w] = 0;
				}
			for (int r = 0; r < 256 && !bad; r++) {
				for (int w = 2; w < DATA_WORDS; w++) d[w] = (lcg(&seed) & 3) ? pool.v[lcg(&seed) % pool.n] : 0;
				bad |= differs(orig, norig, small, nsmall, d);
			}
		}
	}
	free(pool.v);
	return !bad;
}

/* ------------------------------------------------------------ entry */

int seccomp_shrink(const void *prog, size_t len, void **out, size_t *outlen)
{
	const struct sock_filter *f = prog;
	size_t n = len / sizeof *f;
	struct u32set arch = { 0 }, nr = { 0 };
	struct shrink s = { .f = f, .n = n };
	struct section *secs = NULL;
	struct out o = { 0 };
	int ok = 0;
	if (n == 0 || n > BPF_MAXINSNS || find_cuts(f, n, &arch, &nr) < 0) goto done;

	s.memo_gen = xcalloc(n, sizeof *s.memo_gen);
	s.memo_unknown = xcalloc(n, sizeof *s.memo_unknown);
	s.memo_known_id = xcalloc(n, sizeof *s.memo_known_id);
	s.memo_known_val = xcalloc(n, sizeof *s.memo_known_val);
	s.memo_has_known = xcalloc(n, 1);
	secs = xcalloc(arch.n, sizeof *secs);
	for (size_t ai = 0; ai < arch.n; ai++) {
		struct section *sec = &secs[ai];
		sec->spans = xcalloc(nr.n, sizeof *sec->spans);
		s.arch = arch.v[ai];
		for (size_t ni = 0; ni < nr.n; ni++) {
			s.nr = nr.v[ni];
			s.gen++;
			int id = residue(&s, 0, 1, 0);
			if (id < 0) goto done;
			if (sec->n && sec->spans[sec->n - 1].target == id) continue;
			sec->spans[sec->n++] = (struct span){ nr.v[ni], id };
		}
	}

	o.buf = xcalloc(BPF_MAXINSNS, sizeof *o.buf);
	o.front = BPF_MAXINSNS;
	o.pos = xmalloc((s.nnodes ? s.nnodes : 1) * sizeof *o.pos);
	for (size_t i = 0; i < s.nnodes; i++) o.pos[i] = -1;
	int root = emit_arch_tree(&o, &s, secs, arch.v, 0, arch.n - 1);
	place_then(&o, BPF_LD | BPF_W | BPF_ABS, OFF_ARCH, root);
	size_t nsmall = (size_t)(BPF_MAXINSNS - o.front);
	if (o.failed || nsmall >= n) goto done;
	const struct sock_filter *small = o.buf + o.front;
	if (!same_decisions(f, n, small, nsmall, &arch, &nr, &s, secs)) goto done;
	*out = xmalloc(nsmall * sizeof *small);
	memcpy(*out, small, nsmall * sizeof *small);
	*outlen = nsmall * sizeof *small;
	ok = 1;
done:
	if (secs)
		for (size_t ai = 0; ai < arch.n; ai++) free(secs[ai].spans);
	free(secs);
	free(o.buf);
	free(o.pos);
	free(s.nodes);
	free(s.hash);
	free(s.memo_gen);
	free(s.memo_unknown);
	free(s.memo_known_id);
	free(s.memo_known_val);
	free(s.memo_has_known);
	free(arch.v);
	free(nr.v);
	return ok ? 0 : -1;
}
