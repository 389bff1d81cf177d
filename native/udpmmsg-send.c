/* udpmmsg send side: sendmmsg of a batch's answers, and the bounded queue for what the kernel does not take at once. */
#include "udpmmsg.h"

void udpmmsg_update_poll(udpmmsg_t *s) {
  if (s->closed || s->poll == NULL) return;
  int want = s->qlen > 0;
  if (want == s->writing) return;
  if (uv_poll_start(s->poll, UV_READABLE | (want ? UV_WRITABLE : 0), udpmmsg_on_poll) != 0) { s->recv_errors++; return; }
  s->writing = want;
}

static int enqueue(udpmmsg_t *s, const struct sockaddr_storage *to, socklen_t tolen, const char *data, size_t len) {
  if (s->qlen >= QUEUE_MAX) { s->send_dropped++; return -1; }
  char *copy = malloc(len > 0 ? len : 1);
  if (copy == NULL) { s->send_dropped++; return -1; }
  memcpy(copy, data, len);
  queued_t *q = &s->queue[(s->qhead + s->qlen) % QUEUE_MAX];
  memcpy(&q->to, to, sizeof q->to);
  q->tolen = tolen;
  q->len = len;
  q->data = copy;
  s->qlen++;
  return 0;
}

/* Send what is queued, oldest first, until the kernel says EAGAIN. */
void udpmmsg_flush_queue(udpmmsg_t *s) {
  while (s->qlen > 0 && s->fd >= 0) {
    unsigned n = 0;
    while (n < BATCH && n < s->qlen) {
      queued_t *q = &s->queue[(s->qhead + n) % QUEUE_MAX];
      s->siov[n].iov_base = q->data;
      s->siov[n].iov_len = q->len;
      memset(&s->smsg[n], 0, sizeof s->smsg[n]);
      s->smsg[n].msg_hdr.msg_name = &q->to;
      s->smsg[n].msg_hdr.msg_namelen = q->tolen;
      s->smsg[n].msg_hdr.msg_iov = &s->siov[n];
      s->smsg[n].msg_hdr.msg_iovlen = 1;
      n++;
    }
    int r = sendmmsg(s->fd, s->smsg, n, MSG_DONTWAIT);
    unsigned done;
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      s->send_errors++;
      done = 1; /* this datagram cannot go: drop it, go on with the rest */
    } else {
      s->sent += r;
      done = (unsigned)r;
    }
    for (unsigned i = 0; i < done; i++) {
      free(s->queue[s->qhead].data);
      s->queue[s->qhead].data = NULL;
      s->qhead = (s->qhead + 1) % QUEUE_MAX;
      s->qlen--;
    }
  }
}

/* Send n prepared messages; what the kernel does not take is queued (copied). */
void udpmmsg_send_prepared(udpmmsg_t *s, unsigned n) {
  unsigned off = 0;
  if (s->qlen == 0) {
    while (off < n) {
      int r = sendmmsg(s->fd, s->smsg + off, n - off, MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        s->send_errors++;
        off++;
        continue;
      }
      s->sent += r;
      off += (unsigned)r;
    }
  }
  for (; off < n; off++) {
    struct msghdr *m = &s->smsg[off].msg_hdr;
    enqueue(s, (struct sockaddr_storage *)m->msg_name, m->msg_namelen, m->msg_iov->iov_base, m->msg_iov->iov_len);
  }
  udpmmsg_update_poll(s);
}
