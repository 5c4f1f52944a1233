/* The shim's parts: shim.c (the process) and shim_log.c (its json-file log). */
#ifndef HAKO_SHIM_H
#define HAKO_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Streams, numbered as the attach frames number them. */
#define SHIM_STDOUT 1
#define SHIM_STDERR 2

/* Opens (appends to) the json-file log; max_size 0: no rotation. 0, or -1 with errno. */
int shim_log_open(const char *path, uint64_t max_size, uint32_t max_files);
/* Output of one stream: split at \n into entries, a partial line kept until \n or 16 KiB. */
void shim_log_write(int stream, const char *data, size_t len);
/* The stream reached EOF: its partial line goes out as it is (without \n). */
void shim_log_end(int stream);
/* Writes what is buffered; the log stays open. */
void shim_log_flush(void);

/* Go's time.RFC3339Nano in UTC ("2006-01-02T15:04:05.999999999Z", trailing zeros trimmed). */
size_t format_rfc3339nano(char *out, size_t size, const struct timespec *ts);

#endif
