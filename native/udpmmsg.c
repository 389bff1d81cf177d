/*
 * udpmmsg: a UDP socket read with recvmmsg and written with sendmmsg, for Node through N-API (no node-gyp).
 *
 * open(host, port, recvBufferBytes, onBatch) binds a socket with SO_REUSEPORT, watches it with a libuv poll handle
 * and, when it is readable, drains it in batches of up to BATCH datagrams (MSG_DONTWAIT, at most ROUNDS batches per
 * wake-up). Each batch is ONE call onBatch(buf, n): `buf` holds n meta records of META_BYTES then the datagrams;
 * a record is u32 offset, u32 length, u32 port, u32 family (4|6), 16 address bytes, then the address as text
 * (NUL-padded, TEXT_BYTES). onBatch returns an array (answers[i] for datagram i, a Buffer or anything else for
 * none); the answers go out with ONE sendmmsg to the sources. What the kernel does not take (EAGAIN, partial
 * send) is copied to a bounded queue flushed when the socket is writable; beyond the bound it is dropped and counted.
 * send(h, buf, host, port) sends one datagram (an answer that came later, e.g. forwarded) through the same queue.
 * Datagrams over MAX_DGRAM bytes (MSG_TRUNC) are counted and dropped. Errors are JS exceptions with errno text.
 */
#include "udpmmsg.h"

static void throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
}

#define NAPI_OK(env, call) do { if ((call) != napi_ok) { napi_throw_error((env), NULL, "udpmmsg: " #call " failed"); return NULL; } } while (0)

static void maybe_free(udpmmsg_t *s) {
  if (s->finalized && s->poll_closed) {
    for (size_t i = 0; i < s->qlen; i++) free(s->queue[(s->qhead + i) % QUEUE_MAX].data);
    free(s);
  }
}

static void on_poll_closed(uv_handle_t *h) {
  udpmmsg_t *s = (udpmmsg_t *)h->data;
  free(h);
  s->poll_closed = 1;
  maybe_free(s);
}

/* Stop watching, close the fd, drop the callback. Safe to call twice and from inside onBatch. */
static void do_close(udpmmsg_t *s, int from_finalizer) {
  if (s->closed) return;
  s->closed = 1;
  if (s->poll != NULL) {
    uv_poll_stop(s->poll);
    uv_close((uv_handle_t *)s->poll, on_poll_closed);
    s->poll = NULL;
  } else {
    s->poll_closed = 1;
  }
  if (s->fd >= 0) { close(s->fd); s->fd = -1; }
  if (!from_finalizer) {
    if (s->cb != NULL) { napi_delete_reference(s->env, s->cb); s->cb = NULL; }
    if (s->actx != NULL) { napi_async_destroy(s->env, s->actx); s->actx = NULL; }
  }
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  udpmmsg_t *s = (udpmmsg_t *)data;
  do_close(s, 1);
  s->finalized = 1;
  maybe_free(s);
}


static void addr_meta(const struct sockaddr_storage *ss, unsigned char *rec) {
  uint32_t port = 0, fam = 0;
  memset(rec + 12, 0, 20 + TEXT_BYTES);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    port = ntohs(a->sin_port); fam = 4;
    memcpy(rec + 16, &a->sin_addr, 4);
    inet_ntop(AF_INET, &a->sin_addr, (char *)rec + 32, TEXT_BYTES);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    port = ntohs(a->sin6_port); fam = 6;
    memcpy(rec + 16, &a->sin6_addr, 16);
    inet_ntop(AF_INET6, &a->sin6_addr, (char *)rec + 32, TEXT_BYTES);
  }
  memcpy(rec + 8, &port, 4);
  memcpy(rec + 12, &fam, 4);
}

/* One recvmmsg round; returns how many datagrams were handed to JS, 0 when the socket is drained, -1 on error. */
static int read_round(udpmmsg_t *s) {
  for (unsigned i = 0; i < BATCH; i++) {
    s->riov[i].iov_base = s->slots[i];
    s->riov[i].iov_len = MAX_DGRAM;
    memset(&s->rmsg[i], 0, sizeof s->rmsg[i]);
    s->rmsg[i].msg_hdr.msg_name = &s->from[i];
    s->rmsg[i].msg_hdr.msg_namelen = sizeof s->from[i];
    s->rmsg[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  int r = recvmmsg(s->fd, s->rmsg, BATCH, MSG_DONTWAIT, NULL);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == EINTR || errno == ECONNREFUSED) return 1; /* ICMP error of an earlier send: read on */
    s->recv_errors++;
    return -1;
  }
  if (r == 0) return 0;
  /* Keep the datagrams that fit, in order; their sources stay in from[] for the answers. */
  unsigned keep[BATCH];
  unsigned n = 0;
  size_t total = 0;
  for (unsigned i = 0; i < (unsigned)r; i++) {
    if ((s->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) || s->rmsg[i].msg_len > MAX_DGRAM) { s->truncated++; continue; }
    keep[n++] = i;
    total += s->rmsg[i].msg_len;
  }
  s->received += r;
  if (n == 0) return r;
  s->batches++;

  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return -1;
  napi_value buf, cb, recv, argv[2], result;
  void *base = NULL;
  size_t metaBytes = (size_t)n * META_BYTES;
  int ok = napi_create_buffer(env, metaBytes + total, &base, &buf) == napi_ok;
  if (ok) {
    unsigned char *p = base;
    size_t off = metaBytes;
    for (unsigned k = 0; k < n; k++) {
      unsigned i = keep[k];
      unsigned char *rec = p + (size_t)k * META_BYTES;
      uint32_t o32 = (uint32_t)off, l32 = s->rmsg[i].msg_len;
      memcpy(rec, &o32, 4);
      memcpy(rec + 4, &l32, 4);
      addr_meta(&s->from[i], rec);
      memcpy(p + off, s->slots[i], l32);
      off += l32;
    }
    ok = napi_create_uint32(env, n, &argv[1]) == napi_ok && napi_get_reference_value(env, s->cb, &cb) == napi_ok &&
      cb != NULL && napi_get_global(env, &recv) == napi_ok;
  }
  if (!ok) { napi_close_handle_scope(env, scope); return -1; }
  argv[0] = buf;
  napi_status st = napi_make_callback(env, s->actx, recv, cb, 2, argv, &result);
  if (st != napi_ok) {
    napi_value exc;
    s->callback_errors++;
    napi_get_and_clear_last_exception(env, &exc);
    napi_close_handle_scope(env, scope);
    return s->closed ? -1 : (int)r;
  }
  if (s->closed) { napi_close_handle_scope(env, scope); return -1; }
  /* Answers: answers[k] for datagram keep[k]; point straight into the JS buffers (alive until this scope closes). */
  bool isArray = false;
  unsigned m = 0;
  if (napi_is_array(env, result, &isArray) == napi_ok && isArray) {
    uint32_t len = 0;
    if (napi_get_array_length(env, result, &len) != napi_ok) len = 0;
    for (uint32_t k = 0; k < len && k < n; k++) {
      napi_value a;
      bool isBuf = false;
      void *data; size_t dlen;
      if (napi_get_element(env, result, k, &a) != napi_ok) break;
      if (napi_is_buffer(env, a, &isBuf) != napi_ok || !isBuf) continue;
      if (napi_get_buffer_info(env, a, &data, &dlen) != napi_ok) continue;
      unsigned i = keep[k];
      s->siov[m].iov_base = data;
      s->siov[m].iov_len = dlen;
      memset(&s->smsg[m], 0, sizeof s->smsg[m]);
      s->smsg[m].msg_hdr.msg_name = &s->from[i];
      s->smsg[m].msg_hdr.msg_namelen = s->rmsg[i].msg_hdr.msg_namelen;
      s->smsg[m].msg_hdr.msg_iov = &s->siov[m];
      s->smsg[m].msg_hdr.msg_iovlen = 1;
      m++;
    }
  }
  if (m > 0) udpmmsg_send_prepared(s, m);
  napi_close_handle_scope(env, scope);
  return (int)r;
}

void udpmmsg_on_poll(uv_poll_t *h, int status, int events) {
  udpmmsg_t *s = (udpmmsg_t *)h->data;
  if (s->closed) return;
  if (status < 0) { s->recv_errors++; return; }
  if (events & UV_WRITABLE) { udpmmsg_flush_queue(s); udpmmsg_update_poll(s); }
  if (s->closed) return;
  if (events & UV_READABLE) {
    for (int round = 0; round < ROUNDS && !s->closed; round++) {
      int r = read_round(s);
      if (r <= 0) break;
      if (r < BATCH) break; /* a short batch: the queue is empty or nearly; wait for the next wake-up */
    }
  }
}

static int parse_addr(const char *host, uint32_t port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET; a4->sin_port = htons((uint16_t)port); *len = sizeof *a4; return AF_INET;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6; a6->sin6_port = htons((uint16_t)port); *len = sizeof *a6; return AF_INET6;
  }
  return -1;
}

static udpmmsg_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) { napi_throw_type_error(env, NULL, "udpmmsg: not a socket handle"); return NULL; }
  return (udpmmsg_t *)p;
}

static int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) { napi_throw_type_error(env, NULL, "udpmmsg: expected a string"); return -1; }
  return 0;
}

static int get_u32(napi_env env, napi_value v, uint32_t max, uint32_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= max) || d != (double)(uint32_t)d) {
    char msg[96];
    snprintf(msg, sizeof msg, "udpmmsg: %s must be an integer 0-%u", what, max);
    napi_throw_range_error(env, NULL, msg);
    return -1;
  }
  *out = (uint32_t)d;
  return 0;
}

/* open(host, port, recvBufferBytes, onBatch) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) { napi_throw_type_error(env, NULL, "udpmmsg: open(host, port, recvBufferBytes, onBatch)"); return NULL; }
  char host[64];
  uint32_t port, rcvbuf;
  napi_valuetype t;
  if (get_string(env, argv[0], host, sizeof host) < 0) return NULL;
  if (get_u32(env, argv[1], 65535, &port, "port") < 0 || get_u32(env, argv[2], 1u << 30, &rcvbuf, "recvBufferBytes") < 0) return NULL;
  if (napi_typeof(env, argv[3], &t) != napi_ok || t != napi_function) { napi_throw_type_error(env, NULL, "udpmmsg: onBatch must be a function"); return NULL; }
  struct sockaddr_storage ss;
  socklen_t sslen;
  int fam = parse_addr(host, port, &ss, &sslen);
  if (fam < 0) { napi_throw_type_error(env, NULL, "udpmmsg: host must be an IPv4 or IPv6 address"); return NULL; }

  int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { throw_errno(env, "udpmmsg: socket", errno); return NULL; }
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) { int e = errno; close(fd); throw_errno(env, "udpmmsg: SO_REUSEPORT", e); return NULL; }
  int rb = (int)rcvbuf;
  if (rb > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb) < 0) { int e = errno; close(fd); throw_errno(env, "udpmmsg: SO_RCVBUF", e); return NULL; }
  if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
    int e = errno;
    char msg[160];
    snprintf(msg, sizeof msg, "bind %s:%u", host, port);
    close(fd);
    napi_value err, code, m;
    char full[256];
    snprintf(full, sizeof full, "%s: %s", msg, strerror(e));
    /* A Node-like error: code EADDRINUSE etc., so the caller can retry a taken port. */
    const char *name = e == EADDRINUSE ? "EADDRINUSE" : e == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : e == EACCES ? "EACCES" : "EBIND";
    if (napi_create_string_utf8(env, full, NAPI_AUTO_LENGTH, &m) == napi_ok && napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_error(env, code, m, &err) == napi_ok) napi_throw(env, err);
    else napi_throw_error(env, name, full);
    return NULL;
  }
  udpmmsg_t *s = calloc(1, sizeof *s);
  if (s == NULL) { close(fd); napi_throw_error(env, "ENOMEM", "udpmmsg: out of memory"); return NULL; }
  s->env = env;
  s->fd = fd;
  s->poll = malloc(sizeof *s->poll);
  uv_loop_t *loop = NULL;
  napi_value handle, resName;
  if (s->poll == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, s->poll, fd) != 0) {
    free(s->poll); close(fd); free(s);
    napi_throw_error(env, NULL, "udpmmsg: cannot watch the socket");
    return NULL;
  }
  s->poll->data = s;
  if (napi_create_reference(env, argv[3], 1, &s->cb) != napi_ok ||
      napi_create_string_utf8(env, "udpmmsg", NAPI_AUTO_LENGTH, &resName) != napi_ok ||
      napi_async_init(env, NULL, resName, &s->actx) != napi_ok ||
      napi_create_external(env, s, on_finalize, NULL, &handle) != napi_ok) {
    s->finalized = 1;
    do_close(s, 0);
    napi_throw_error(env, NULL, "udpmmsg: cannot create the handle");
    return NULL;
  }
  if (uv_poll_start(s->poll, UV_READABLE, udpmmsg_on_poll) != 0) {
    do_close(s, 0);
    napi_throw_error(env, NULL, "udpmmsg: cannot watch the socket");
    return NULL;
  }
  return handle;
}

/* port(h) -> the bound port */
static napi_value js_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, NULL, "udpmmsg: port(handle)"); return NULL; }
  udpmmsg_t *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->fd < 0) { napi_throw_error(env, "EBADF", "udpmmsg: socket is closed"); return NULL; }
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(s->fd, (struct sockaddr *)&ss, &len) < 0) { throw_errno(env, "udpmmsg: getsockname", errno); return NULL; }
  uint32_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  NAPI_OK(env, napi_create_uint32(env, port, &out));
  return out;
}

/* send(h, buf, host, port): one datagram now, or queued */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) { napi_throw_type_error(env, NULL, "udpmmsg: send(handle, buf, host, port)"); return NULL; }
  udpmmsg_t *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closed) return NULL; /* like a closed dgram socket's late answer: nothing to do */
  bool isBuf = false;
  void *data; size_t dlen;
  if (napi_is_buffer(env, argv[1], &isBuf) != napi_ok || !isBuf || napi_get_buffer_info(env, argv[1], &data, &dlen) != napi_ok) {
    napi_throw_type_error(env, NULL, "udpmmsg: send needs a Buffer");
    return NULL;
  }
  if (dlen > 65507) { napi_throw_range_error(env, NULL, "udpmmsg: datagram too large"); return NULL; }
  char host[64];
  uint32_t port;
  if (get_string(env, argv[2], host, sizeof host) < 0 || get_u32(env, argv[3], 65535, &port, "port") < 0) return NULL;
  struct sockaddr_storage to;
  socklen_t tolen;
  if (parse_addr(host, port, &to, &tolen) < 0) { napi_throw_type_error(env, NULL, "udpmmsg: host must be an IPv4 or IPv6 address"); return NULL; }
  s->siov[0].iov_base = data;
  s->siov[0].iov_len = dlen;
  memset(&s->smsg[0], 0, sizeof s->smsg[0]);
  s->smsg[0].msg_hdr.msg_name = &to;
  s->smsg[0].msg_hdr.msg_namelen = tolen;
  s->smsg[0].msg_hdr.msg_iov = &s->siov[0];
  s->smsg[0].msg_hdr.msg_iovlen = 1;
  udpmmsg_send_prepared(s, 1);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, NULL, "udpmmsg: close(handle)"); return NULL; }
  udpmmsg_t *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  do_close(s, 0);
  return NULL;
}

static int set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  return napi_create_double(env, v, &n) == napi_ok && napi_set_named_property(env, obj, name, n) == napi_ok;
}

/* stats(h) -> counters */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) { napi_throw_type_error(env, NULL, "udpmmsg: stats(handle)"); return NULL; }
  udpmmsg_t *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  NAPI_OK(env, napi_create_object(env, &out));
  if (!set_num(env, out, "received", s->received) || !set_num(env, out, "batches", s->batches) ||
      !set_num(env, out, "truncated", s->truncated) || !set_num(env, out, "sent", s->sent) ||
      !set_num(env, out, "sendErrors", s->send_errors) || !set_num(env, out, "sendDropped", s->send_dropped) ||
      !set_num(env, out, "queued", (double)s->qlen) || !set_num(env, out, "callbackErrors", s->callback_errors) ||
      !set_num(env, out, "recvErrors", s->recv_errors)) {
    napi_throw_error(env, NULL, "udpmmsg: cannot build stats");
    return NULL;
  }
  return out;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "port", NULL, js_port, NULL, NULL, NULL, napi_enumerable, NULL },
    { "send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value metaBytes, batch, maxDgram;
  if (napi_create_uint32(env, META_BYTES, &metaBytes) == napi_ok) napi_set_named_property(env, exports, "META_BYTES", metaBytes);
  if (napi_create_uint32(env, BATCH, &batch) == napi_ok) napi_set_named_property(env, exports, "BATCH", batch);
  if (napi_create_uint32(env, MAX_DGRAM, &maxDgram) == napi_ok) napi_set_named_property(env, exports, "MAX_DGRAM", maxDgram);
  return exports;
}
