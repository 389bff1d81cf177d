/* udpmmsg: shared by udpmmsg.c (N-API surface, receive side) and udpmmsg-send.c (send side and its queue). */
#ifndef UDPMMSG_H
#define UDPMMSG_H
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define ROUNDS 8
#define MAX_DGRAM 4096
#define QUEUE_MAX 1024
#define TEXT_BYTES 48
#define META_BYTES (32 + TEXT_BYTES)

typedef struct {
  struct sockaddr_storage to;
  socklen_t tolen;
  size_t len;
  char *data;
} queued_t;

typedef struct udpmmsg {
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  uv_poll_t *poll;
  int fd;
  int closed;
  int finalized;
  int poll_closed;
  int writing;
  /* receive side */
  char slots[BATCH][MAX_DGRAM];
  struct iovec riov[BATCH];
  struct sockaddr_storage from[BATCH];
  struct mmsghdr rmsg[BATCH];
  /* send side */
  struct iovec siov[BATCH];
  struct mmsghdr smsg[BATCH];
  queued_t queue[QUEUE_MAX];
  size_t qhead, qlen;
  /* counters */
  double received, batches, truncated, sent, send_errors, send_dropped, callback_errors, recv_errors;
} udpmmsg_t;

/* Watch for writability while answers are queued, only readability otherwise. */
void udpmmsg_update_poll(udpmmsg_t *s);
/* Send what is queued, oldest first, until the kernel says EAGAIN. */
void udpmmsg_flush_queue(udpmmsg_t *s);
/* Send smsg[0..n); what the kernel does not take is copied to the queue (dropped and counted beyond QUEUE_MAX). */
void udpmmsg_send_prepared(udpmmsg_t *s, unsigned n);
/* The libuv poll callback (udpmmsg.c). */
void udpmmsg_on_poll(uv_poll_t *h, int status, int events);

#endif
