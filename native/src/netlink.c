/*
 * `hako-shim netlink`: links, addresses, routes and net sysctls for hakod,
 * one batch per call (src/network/netlink.ts writes it).
 *
 * stdin holds one operation per line, words separated by spaces (interface
 * names, addresses and paths never contain spaces; netlink.ts checks):
 *
 *   netns <pid>|<path>|host        later ops act in that network namespace
 *   bridge-add <name> [mtu]        ok when a bridge of that name exists
 *   veth-add <name> <peer> [<pid>|<path>]   the peer made in that namespace
 *   link-set <name> [up|down] [master <br>] [nomaster] [mtu N] [name NEW]
 *            [netns <pid>|<path>] [address MAC] [hairpin on|off]
 *   link-del <name>                ok when the link is gone already
 *   addr-add <name> <cidr>         ok when the address is there already
 *   route-add default|<cidr> [via <gw>] [dev <name>]   ok when it exists
 *   sysctl <key> <value>           net.ipv4.ip_forward or net/ipv4/ip_forward,
 *                                  under /proc/sys of the current namespace
 *
 * The whole batch is read and checked before anything is done. Ops run in
 * order; the first failure stops the batch and is reported on stderr as
 * `error <op index> <errno> <text>` with exit status 1. Nothing is undone:
 * the caller knows what it asked for and cleans up (deleting a veth end
 * removes its peer too).
 *
 * The helper is single-threaded, so setns() here is safe, unlike in Node.
 * A netlink socket belongs to the namespace it was opened in: it is reopened
 * after every `netns`.
 *
 * `hako-shim netlink serve` stays up and runs one batch after another, so
 * hakod pays for a process once rather than per container: each batch is
 * its lines followed by a line `end`; the answer is one line on stdout,
 * `ok` or `error <op index> <errno> <text>`. After every batch the helper
 * goes back to its own namespace. It exits when stdin closes (hakod gone).
 */
#define _GNU_SOURCE
#include "netlink.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#define MAX_INPUT (1 << 20)
#define MAX_OPS 1024
#define MAX_WORDS 24
#define MSG_SIZE 4096

struct op {
	int argc;
	char *argv[MAX_WORDS];
	const char *line; /* for error messages: the op as written */
};

/* The failure being reported: errno and text, filled by fail(). */
int loopback_up(void)
{
	/* One interface flag: an ioctl on any socket of the namespace does it. */
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) return -errno;
	int r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int e = errno;
	close(s);
	return r < 0 ? -e : 0;
}

static int g_errno;
static char g_text[512];

static int fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_text, sizeof g_text, fmt, ap);
	va_end(ap);
	g_errno = err;
	return -1;
}

/* ------------------------------------------------------------ messages */

struct msg {
	union {
		struct nlmsghdr hdr;
		char buf[MSG_SIZE];
	} u;
	int overflow;
};

static void msg_init(struct msg *m, uint16_t type, uint16_t flags, const void *body, size_t len)
{
	memset(m, 0, sizeof *m);
	m->u.hdr.nlmsg_type = type;
	m->u.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	m->u.hdr.nlmsg_len = NLMSG_LENGTH(len);
	memcpy(NLMSG_DATA(&m->u.hdr), body, len);
}

static struct rtattr *attr_put(struct msg *m, uint16_t type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(m->u.hdr.nlmsg_len);
	if (at + RTA_SPACE(len) > sizeof m->u.buf) {
		m->overflow = 1;
		return (struct rtattr *)m->u.buf; /* harmless: the message is never sent */
	}
	struct rtattr *a = (struct rtattr *)(m->u.buf + at);
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len) memcpy(RTA_DATA(a), data, len);
	m->u.hdr.nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
	return a;
}

static void attr_str(struct msg *m, uint16_t type, const char *s)
{
	attr_put(m, type, s, strlen(s) + 1);
}

static void attr_u32(struct msg *m, uint16_t type, uint32_t v)
{
	attr_put(m, type, &v, sizeof v);
}

static struct rtattr *nest_begin(struct msg *m, uint16_t type)
{
	return attr_put(m, type, NULL, 0);
}

static void nest_end(struct msg *m, struct rtattr *nest)
{
	if (m->overflow) return;
	nest->rta_len = (unsigned short)(m->u.buf + m->u.hdr.nlmsg_len - (char *)nest);
}

/* ------------------------------------------------------------ the socket */

static int g_nl = -1;
static uint32_t g_seq;
static int g_host_netns = -1;

static int nl_socket(void)
{
	if (g_nl >= 0) return g_nl;
	g_nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (g_nl < 0) return -1;
	int one = 1;
	/* The kernel's own words for a refusal ("Unknown device type"), and no echo of our request. */
	setsockopt(g_nl, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
	setsockopt(g_nl, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
	return g_nl;
}

/* The extended-ack text of an error message, or "". */
static const char *extack_text(const struct nlmsghdr *h)
{
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = NLMSG_HDRLEN + sizeof *e;
	if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (off >= h->nlmsg_len) return "";
	int len = (int)(h->nlmsg_len - off);
	for (const struct rtattr *a = (const void *)((const char *)h + off); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == NLMSGERR_ATTR_MSG) return RTA_DATA(a);
	return "";
}

/*
 * Sends one request and waits for its ack. Returns 0 or -errno; the
 * kernel's text, if any, goes to extack. A reply of another type (a GET's
 * answer) is copied to reply when one is given.
 */
static int nl_talk(struct msg *m, char *extack, size_t extack_len, struct msg *reply)
{
	if (extack_len) extack[0] = 0;
	if (m->overflow) return -EMSGSIZE;
	int fd = nl_socket();
	if (fd < 0) return -errno;
	m->u.hdr.nlmsg_seq = ++g_seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t sent;
	do sent = sendto(fd, m->u.buf, m->u.hdr.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
	while (sent < 0 && errno == EINTR);
	if (sent < 0) return -errno;
	static char buf[32768];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		int len = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != m->u.hdr.nlmsg_seq) continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				if (e->error && extack_len) snprintf(extack, extack_len, "%s", extack_text(h));
				return e->error;
			}
			if (reply && h->nlmsg_len <= sizeof reply->u.buf) memcpy(reply->u.buf, h, h->nlmsg_len);
		}
	}
}

/* Runs a request; on failure fills the report with the op and the kernel's reason. */
static int nl_do(struct msg *m, const struct op *op)
{
	char extack[256];
	int r = nl_talk(m, extack, sizeof extack, NULL);
	if (r == 0) return 0;
	return fail(-r, "%s: %s%s%s", op->line, strerror(-r), extack[0] ? ": " : "", extack);
}

/* ------------------------------------------------------------ parsing values */

static int ifindex(const char *name, const struct op *op)
{
	unsigned idx = if_nametoindex(name);
	if (idx == 0) return fail(errno == ENXIO ? ENODEV : errno, "%s: interface %s: %s", op->line, name, strerror(errno == ENXIO ? ENODEV : errno));
	return (int)idx;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	if (!*s || !isdigit((unsigned char)*s)) return -1;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max) return -1;
	*out = v;
	return 0;
}

/* A pid (its /proc/<pid>/ns/net) or an absolute path of a namespace file, opened. */
static int open_netns(const char *spec, const struct op *op)
{
	char path[64];
	unsigned long pid;
	const char *p = spec;
	if (strcmp(spec, "host") == 0) {
		int fd = dup(g_host_netns);
		if (fd < 0) return fail(errno, "%s: the host namespace: %s", op->line, strerror(errno));
		return fd;
	}
	if (parse_uint(spec, 0x7fffffff, &pid) == 0) {
		snprintf(path, sizeof path, "/proc/%lu/ns/net", pid);
		p = path;
	} else if (spec[0] != '/') {
		return fail(EINVAL, "%s: %s is neither a pid nor an absolute path", op->line, spec);
	}
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return fail(errno, "%s: open %s: %s", op->line, p, strerror(errno));
	return fd;
}

struct inet_prefix {
	int family;
	unsigned char addr[16];
	size_t len; /* bytes of addr */
	int bits;
};

static int parse_addr(const char *s, struct inet_prefix *p)
{
	memset(p, 0, sizeof *p);
	if (inet_pton(AF_INET, s, p->addr) == 1) {
		p->family = AF_INET;
		p->len = 4;
		p->bits = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, p->addr) == 1) {
		p->family = AF_INET6;
		p->len = 16;
		p->bits = 128;
		return 0;
	}
	return -1;
}

static int parse_cidr(const char *s, struct inet_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (strlen(s) >= sizeof buf) return -1;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	if (!slash) return -1;
	*slash = 0;
	if (parse_addr(buf, p) < 0) return -1;
	unsigned long bits;
	if (parse_uint(slash + 1, (unsigned long)p->bits, &bits) < 0) return -1;
	p->bits = (int)bits;
	return 0;
}

static int parse_mac(const char *s, unsigned char mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) return -1;
	for (int i = 0; i < 6; i++) mac[i] = (unsigned char)v[i];
	return 0;
}

/* ------------------------------------------------------------ operations */

static int op_netns(const struct op *op)
{
	int fd = open_netns(op->argv[1], op);
	if (fd < 0) return -1;
	int r = setns(fd, CLONE_NEWNET);
	int err = errno;
	close(fd);
	if (r < 0) return fail(err, "%s: setns: %s", op->line, strerror(err));
	if (g_nl >= 0) close(g_nl);
	g_nl = -1;
	return 0;
}

/* The IFLA_INFO_KIND of a link ("bridge", "veth"...), or "" when it has none. */
static int link_kind(const char *name, char *kind, size_t size, const struct op *op)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct msg m, reply;
	msg_init(&m, RTM_GETLINK, 0, &ifi, sizeof ifi);
	attr_str(&m, IFLA_IFNAME, name);
	memset(&reply, 0, sizeof reply);
	char extack[256];
	int r = nl_talk(&m, extack, sizeof extack, &reply);
	if (r < 0) return fail(-r, "%s: look up %s: %s", op->line, name, strerror(-r));
	kind[0] = 0;
	if (reply.u.hdr.nlmsg_type != RTM_NEWLINK) return 0;
	int len = (int)IFLA_PAYLOAD(&reply.u.hdr);
	for (struct rtattr *a = IFLA_RTA(NLMSG_DATA(&reply.u.hdr)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_LINKINFO) continue;
		int ilen = (int)RTA_PAYLOAD(a);
		for (struct rtattr *i = RTA_DATA(a); RTA_OK(i, ilen); i = RTA_NEXT(i, ilen))
			if (i->rta_type == IFLA_INFO_KIND) snprintf(kind, size, "%.*s", (int)RTA_PAYLOAD(i), (char *)RTA_DATA(i));
	}
	return 0;
}

static int op_bridge_add(const struct op *op)
{
	const char *name = op->argv[1];
	unsigned long mtu = 0;
	if (op->argc > 2 && parse_uint(op->argv[2], 65535, &mtu) < 0)
		return fail(EINVAL, "%s: bad mtu %s", op->line, op->argv[2]);
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct msg m;
	msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
	attr_str(&m, IFLA_IFNAME, name);
	if (mtu) attr_u32(&m, IFLA_MTU, (uint32_t)mtu);
	struct rtattr *info = nest_begin(&m, IFLA_LINKINFO);
	attr_str(&m, IFLA_INFO_KIND, "bridge");
	nest_end(&m, info);
	char extack[256];
	int r = nl_talk(&m, extack, sizeof extack, NULL);
	if (r == 0) return 0;
	if (r != -EEXIST) return fail(-r, "%s: %s%s%s", op->line, strerror(-r), extack[0] ? ": " : "", extack);
	/* An existing bridge is ours from an earlier start: fine. Anything else by that name is not. */
	char kind[32];
	if (link_kind(name, kind, sizeof kind, op) < 0) return -1;
	if (strcmp(kind, "bridge") != 0)
		return fail(EEXIST, "%s: %s exists and is not a bridge (kind \"%s\")", op->line, name, kind);
	return 0;
}

/* IFLA_NET_NS_PID or IFLA_NET_NS_FD for a pid or a path; *fd_out to close after the request. */
static int put_netns(struct msg *m, const char *spec, int *fd_out, const struct op *op)
{
	unsigned long pid;
	*fd_out = -1;
	if (parse_uint(spec, 0x7fffffff, &pid) == 0) {
		attr_u32(m, IFLA_NET_NS_PID, (uint32_t)pid);
		return 0;
	}
	int fd = open_netns(spec, op);
	if (fd < 0) return -1;
	attr_u32(m, IFLA_NET_NS_FD, (uint32_t)fd);
	*fd_out = fd;
	return 0;
}

static int op_veth_add(const struct op *op)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct msg m;
	int nsfd = -1;
	msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
	attr_str(&m, IFLA_IFNAME, op->argv[1]);
	struct rtattr *info = nest_begin(&m, IFLA_LINKINFO);
	attr_str(&m, IFLA_INFO_KIND, "veth");
	struct rtattr *data = nest_begin(&m, IFLA_INFO_DATA);
	struct rtattr *peer = attr_put(&m, VETH_INFO_PEER, &ifi, sizeof ifi);
	attr_str(&m, IFLA_IFNAME, op->argv[2]);
	if (op->argc > 3 && put_netns(&m, op->argv[3], &nsfd, op) < 0) return -1;
	nest_end(&m, peer);
	nest_end(&m, data);
	nest_end(&m, info);
	int r = nl_do(&m, op);
	if (nsfd >= 0) close(nsfd);
	return r;
}

static int op_link_set(const struct op *op)
{
	int idx = ifindex(op->argv[1], op);
	if (idx < 0) return -1;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = idx };
	struct msg m;
	int nsfd = -1;
	msg_init(&m, RTM_NEWLINK, 0, &ifi, sizeof ifi);
	struct ifinfomsg *hdr = NLMSG_DATA(&m.u.hdr);
	int hairpin = -1;
	for (int i = 2; i < op->argc; i++) {
		const char *w = op->argv[i];
		const char *next = i + 1 < op->argc ? op->argv[i + 1] : NULL;
		unsigned long n;
		unsigned char mac[6];
		if (strcmp(w, "up") == 0 || strcmp(w, "down") == 0) {
			hdr->ifi_change |= IFF_UP;
			hdr->ifi_flags = w[0] == 'u' ? IFF_UP : 0;
		} else if (strcmp(w, "nomaster") == 0) {
			attr_u32(&m, IFLA_MASTER, 0);
		} else if (!next) {
			return fail(EINVAL, "%s: %s needs a value", op->line, w);
		} else if (strcmp(w, "master") == 0) {
			int master = ifindex(next, op);
			if (master < 0) return -1;
			attr_u32(&m, IFLA_MASTER, (uint32_t)master);
			i++;
		} else if (strcmp(w, "mtu") == 0) {
			if (parse_uint(next, 65535, &n) < 0) return fail(EINVAL, "%s: bad mtu %s", op->line, next);
			attr_u32(&m, IFLA_MTU, (uint32_t)n);
			i++;
		} else if (strcmp(w, "name") == 0) {
			if (strlen(next) >= IFNAMSIZ) return fail(EINVAL, "%s: name %s is too long", op->line, next);
			attr_str(&m, IFLA_IFNAME, next);
			i++;
		} else if (strcmp(w, "netns") == 0) {
			if (nsfd >= 0) return fail(EINVAL, "%s: netns given twice", op->line);
			if (put_netns(&m, next, &nsfd, op) < 0) return -1;
			i++;
		} else if (strcmp(w, "hairpin") == 0) {
			if (strcmp(next, "on") != 0 && strcmp(next, "off") != 0) return fail(EINVAL, "%s: hairpin is on or off", op->line);
			hairpin = next[1] == 'n';
			i++;
		} else if (strcmp(w, "address") == 0) {
			if (parse_mac(next, mac) < 0) return fail(EINVAL, "%s: bad MAC address %s", op->line, next);
			attr_put(&m, IFLA_ADDRESS, mac, sizeof mac);
			i++;
		} else {
			return fail(EINVAL, "%s: unknown link-set word %s", op->line, w);
		}
	}
	int r = nl_do(&m, op);
	if (nsfd >= 0) close(nsfd);
	if (r < 0 || hairpin < 0) return r;
	/*
	 * Hairpin is a property of the bridge port, set through the bridge
	 * family: a container reaching its own published port is DNAT'd back
	 * out of the port the packet came in by (with br_netfilter loaded the
	 * bridge itself does that NAT).
	 */
	struct ifinfomsg port = { .ifi_family = AF_BRIDGE, .ifi_index = idx };
	msg_init(&m, RTM_SETLINK, 0, &port, sizeof port);
	struct rtattr *protinfo = nest_begin(&m, IFLA_PROTINFO | NLA_F_NESTED);
	uint8_t mode = (uint8_t)hairpin;
	attr_put(&m, IFLA_BRPORT_MODE, &mode, sizeof mode);
	nest_end(&m, protinfo);
	return nl_do(&m, op);
}

static int op_link_del(const struct op *op)
{
	unsigned idx = if_nametoindex(op->argv[1]);
	if (idx == 0) return 0; /* gone already (a veth goes with its peer's namespace) */
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = (int)idx };
	struct msg m;
	msg_init(&m, RTM_DELLINK, 0, &ifi, sizeof ifi);
	char extack[256];
	int r = nl_talk(&m, extack, sizeof extack, NULL);
	if (r == 0 || r == -ENODEV) return 0;
	return fail(-r, "%s: %s%s%s", op->line, strerror(-r), extack[0] ? ": " : "", extack);
}

static int op_addr_add(const struct op *op)
{
	struct inet_prefix p;
	if (parse_cidr(op->argv[2], &p) < 0) return fail(EINVAL, "%s: bad address %s (want ADDR/LEN)", op->line, op->argv[2]);
	int idx = ifindex(op->argv[1], op);
	if (idx < 0) return -1;
	struct ifaddrmsg ifa = {
		.ifa_family = (unsigned char)p.family,
		.ifa_prefixlen = (unsigned char)p.bits,
		.ifa_scope = RT_SCOPE_UNIVERSE,
		.ifa_index = (unsigned)idx,
	};
	struct msg m;
	msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
	attr_put(&m, IFA_LOCAL, p.addr, p.len);
	attr_put(&m, IFA_ADDRESS, p.addr, p.len);
	if (p.family == AF_INET && p.bits < 31) {
		uint32_t a;
		memcpy(&a, p.addr, 4);
		uint32_t host = p.bits == 0 ? 0xffffffffu : (0xffffffffu >> p.bits);
		a |= htonl(host);
		attr_put(&m, IFA_BROADCAST, &a, 4);
	}
	char extack[256];
	int r = nl_talk(&m, extack, sizeof extack, NULL);
	if (r == 0 || r == -EEXIST) return 0;
	return fail(-r, "%s: %s%s%s", op->line, strerror(-r), extack[0] ? ": " : "", extack);
}

static int op_route_add(const struct op *op)
{
	struct inet_prefix dst, gw;
	int have_gw = 0, oif = 0;
	if (strcmp(op->argv[1], "default") == 0) {
		memset(&dst, 0, sizeof dst);
		dst.family = 0; /* from the gateway */
	} else if (parse_cidr(op->argv[1], &dst) < 0) {
		return fail(EINVAL, "%s: bad destination %s (want default or ADDR/LEN)", op->line, op->argv[1]);
	}
	for (int i = 2; i < op->argc; i++) {
		const char *w = op->argv[i];
		const char *next = i + 1 < op->argc ? op->argv[i + 1] : NULL;
		if (!next) return fail(EINVAL, "%s: %s needs a value", op->line, w);
		if (strcmp(w, "via") == 0) {
			if (parse_addr(next, &gw) < 0) return fail(EINVAL, "%s: bad gateway %s", op->line, next);
			have_gw = 1;
		} else if (strcmp(w, "dev") == 0) {
			oif = ifindex(next, op);
			if (oif < 0) return -1;
		} else {
			return fail(EINVAL, "%s: unknown route-add word %s", op->line, w);
		}
		i++;
	}
	int family = dst.family ? dst.family : have_gw ? gw.family : AF_INET;
	if (have_gw && gw.family != family) return fail(EINVAL, "%s: gateway and destination differ in family", op->line);
	if (!have_gw && !oif) return fail(EINVAL, "%s: a route needs via or dev", op->line);
	struct rtmsg rt = {
		.rtm_family = (unsigned char)family,
		.rtm_dst_len = (unsigned char)(dst.family ? dst.bits : 0),
		.rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT,
		.rtm_scope = have_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
		.rtm_type = RTN_UNICAST,
	};
	struct msg m;
	msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
	if (dst.family && dst.bits) attr_put(&m, RTA_DST, dst.addr, dst.len);
	if (have_gw) attr_put(&m, RTA_GATEWAY, gw.addr, gw.len);
	if (oif) attr_u32(&m, RTA_OIF, (uint32_t)oif);
	char extack[256];
	int r = nl_talk(&m, extack, sizeof extack, NULL);
	if (r == 0 || r == -EEXIST) return 0;
	return fail(-r, "%s: %s%s%s", op->line, strerror(-r), extack[0] ? ": " : "", extack);
}

static int op_sysctl(const struct op *op)
{
	const char *key = op->argv[1];
	char path[256];
	int n = snprintf(path, sizeof path, "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= sizeof path) return fail(ENAMETOOLONG, "%s: key too long", op->line);
	/* Dotted keys become paths; a key with a slash is a path already (interface names may hold dots). */
	if (!strchr(key, '/'))
		for (char *c = path + 10; *c; c++)
			if (*c == '.') *c = '/';
	if (key[0] == '/' || strstr(key, "..")) return fail(EINVAL, "%s: bad key %s", op->line, key);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) return fail(errno, "%s: open %s: %s", op->line, path, strerror(errno));
	const char *value = op->argv[2];
	ssize_t w = write(fd, value, strlen(value));
	int err = errno;
	close(fd);
	if (w < 0) return fail(err, "%s: write %s: %s", op->line, path, strerror(err));
	return 0;
}

struct op_kind {
	const char *name;
	int min_args, max_args;
	int (*run)(const struct op *);
};

static const struct op_kind kinds[] = {
	{ "netns", 1, 1, op_netns },
	{ "bridge-add", 1, 2, op_bridge_add },
	{ "veth-add", 2, 3, op_veth_add },
	{ "link-set", 1, MAX_WORDS - 1, op_link_set },
	{ "link-del", 1, 1, op_link_del },
	{ "addr-add", 2, 2, op_addr_add },
	{ "route-add", 1, 5, op_route_add },
	{ "sysctl", 2, 2, op_sysctl },
};

static const struct op_kind *find_kind(const char *name)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
	return NULL;
}

/* ------------------------------------------------------------ main */

static int report(int index)
{
	fprintf(stderr, "error %d %d %s\n", index, g_errno, g_text);
	return 1;
}

static char *read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (!buf) return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= MAX_INPUT) { free(buf); errno = EFBIG; return NULL; }
			cap *= 2;
			char *grown = realloc(buf, cap);
			if (!grown) { free(buf); return NULL; }
			buf = grown;
		}
		ssize_t r = read(0, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) { free(buf); return NULL; }
		if (r == 0) break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

static struct op g_ops[MAX_OPS];
static const struct op_kind *g_op_kinds[MAX_OPS];
/* An op's text when strdup failed: not ours to free. */
static const char g_no_line[] = "?";

/*
 * Parses and runs one batch (NUL-terminated, modified in place). Returns 0,
 * or -1 with g_errno/g_text set and *failed the index of the op (-1: none).
 */
static int run_batch(char *input, size_t len, int *failed)
{
	int nops = 0, r = -1;
	*failed = -1;
	if (memchr(input, 0, len)) {
		fail(EINVAL, "the batch holds a NUL byte");
		return -1;
	}
	/* Parse everything first: a malformed batch changes nothing. */
	for (char *line = input, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next) *next++ = 0;
		while (*line == ' ' || *line == '\t') line++;
		if (!*line || *line == '#') continue;
		if (nops == MAX_OPS) {
			fail(E2BIG, "more than %d operations", MAX_OPS);
			*failed = nops;
			goto out;
		}
		struct op *op = &g_ops[nops];
		memset(op, 0, sizeof *op);
		op->line = strdup(line);
		if (!op->line) op->line = g_no_line;
		nops++;
		for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
			if (op->argc == MAX_WORDS) {
				fail(E2BIG, "%s: too many words", op->line);
				*failed = nops - 1;
				goto out;
			}
			op->argv[op->argc++] = w;
		}
		const struct op_kind *k = find_kind(op->argv[0]);
		if (!k) {
			fail(EINVAL, "%s: unknown operation %s", op->line, op->argv[0]);
			*failed = nops - 1;
			goto out;
		}
		if (op->argc - 1 < k->min_args || op->argc - 1 > k->max_args) {
			fail(EINVAL, "%s: %s takes %d to %d arguments", op->line, k->name, k->min_args, k->max_args);
			*failed = nops - 1;
			goto out;
		}
		for (int i = 1; i < op->argc; i++)
			if (strlen(op->argv[i]) >= 256) {
				fail(EINVAL, "%s: argument %d is too long", op->line, i);
				*failed = nops - 1;
				goto out;
			}
		g_op_kinds[nops - 1] = k;
	}
	for (int i = 0; i < nops; i++)
		if (g_op_kinds[i]->run(&g_ops[i]) < 0) {
			*failed = i;
			goto out;
		}
	r = 0;
out:
	for (int i = 0; i < nops; i++)
		if (g_ops[i].line != g_no_line) free((char *)g_ops[i].line);
	return r;
}

/* Back to the helper's own namespace after a batch that moved elsewhere. */
static int back_home(void)
{
	if (setns(g_host_netns, CLONE_NEWNET) < 0) return -1;
	if (g_nl >= 0) close(g_nl);
	g_nl = -1;
	return 0;
}

/* One batch per `end` line; the answer is one line on stdout. */
static int serve(void)
{
	char *line = NULL, *batch = NULL;
	size_t cap = 0, blen = 0, bcap = 0;
	int too_big = 0;
	for (;;) {
		ssize_t n = getline(&line, &cap, stdin);
		if (n < 0) return 0; /* stdin closed: hakod is gone */
		if (strcmp(line, "end\n") != 0 && strcmp(line, "end") != 0) {
			if (too_big || blen + (size_t)n + 1 > MAX_INPUT) { too_big = 1; continue; }
			if (blen + (size_t)n + 1 > bcap) {
				size_t ncap = bcap ? bcap * 2 : 4096;
				while (ncap < blen + (size_t)n + 1) ncap *= 2;
				char *grown = realloc(batch, ncap);
				if (!grown) { too_big = 1; continue; }
				batch = grown;
				bcap = ncap;
			}
			memcpy(batch + blen, line, (size_t)n);
			blen += (size_t)n;
			continue;
		}
		int failed = -1, r;
		if (too_big) {
			r = fail(EFBIG, "the batch is larger than %d bytes", MAX_INPUT);
		} else {
			if (!batch) batch = calloc(1, 1);
			if (!batch) return 1;
			batch[blen] = 0;
			r = run_batch(batch, blen, &failed);
		}
		if (back_home() < 0) {
			/* Never run the next batch in a container's namespace. */
			fprintf(stdout, "error -1 %d setns back to the helper's namespace: %s\n", errno, strerror(errno));
			fflush(stdout);
			return 1;
		}
		if (r == 0) {
			fputs("ok\n", stdout);
		} else {
			for (char *c = g_text; *c; c++)
				if (*c == '\n' || *c == '\r') *c = ' ';
			fprintf(stdout, "error %d %d %s\n", failed, g_errno, g_text);
		}
		if (fflush(stdout) != 0) return 1;
		blen = 0;
		too_big = 0;
	}
}

int netlink_main(int argc, char **argv)
{
	int serving = argc == 2 && strcmp(argv[1], "serve") == 0;
	if (argc > 1 && !serving) {
		fprintf(stderr, "usage: hako-shim netlink [serve] < batch (one operation per line)\n");
		return 2;
	}
	g_host_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (g_host_netns < 0) {
		fail(errno, "open /proc/self/ns/net: %s", strerror(errno));
		return report(-1);
	}
	if (serving) return serve();
	size_t len;
	char *input = read_stdin(&len);
	if (!input) {
		g_errno = errno;
		snprintf(g_text, sizeof g_text, "read the batch: %s", strerror(errno));
		return report(-1);
	}
	int failed;
	if (run_batch(input, len, &failed) < 0) return report(failed);
	return 0;
}
