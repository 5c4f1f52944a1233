/*
 * `hako-shim netlink`: a batch of rtnetlink operations read from stdin, one
 * per line, executed in order (see netlink.c for the language). Node cannot
 * open AF_NETLINK sockets nor setns (it is multi-threaded), so every change
 * to links, addresses and routes goes through here, one process per batch.
 */
#ifndef HAKO_NETLINK_H
#define HAKO_NETLINK_H

int netlink_main(int argc, char **argv);

/*
 * Sets lo up in the calling process's network namespace (a container's
 * init in its new one, before it execs): what hakod's network service
 * would otherwise do in a batch of its own at every start. 0 or -errno.
 */
int loopback_up(void);

#endif
