/*
 * nftables: libnftables in-process for Node through N-API (no node-gyp, no libnftables-dev at build time).
 *
 * libnftables.so.1 is dlopen()ed on first use and the few functions used are declared here (their prototypes as in
 * <nftables/libnftables.h> of nftables 1.0.x). Without the library, open() throws one line saying why and the JS
 * side falls back to `nft -f -` (src/base/nft.ts).
 *
 *   open()          -> handle: one nft context (output and error buffered), kept so its cache survives calls
 *   run(h, text)    -> Promise<{ ok, output, error }>: nft_run_cmd_from_buffer off the JS thread (libuv pool)
 *   close(h)        frees the context (at once, or when the call in flight ends)
 *
 * A context is not thread-safe: a handle runs one command at a time (a second run() while one is in flight resolves
 * { ok: false, error: "busy" }; src/base/nft.ts queues calls so this never happens). Input is copied with its length
 * (bounded by MAX_INPUT; a NUL byte inside is refused: libnftables reads a C string), output and error are copied
 * back bounded by MAX_OUTPUT. Every failure is a value, never a crash.
 *
 * Descriptors: libnftables waits on its netlink socket with select(), whose fd_set holds descriptors below
 * FD_SETSIZE (1024) only; glibc aborts the process on a higher one. An agent with 1,000 published ports has more
 * descriptors than that, so the addon keeps RESERVED low descriptors (/dev/null, taken when it loads, early in the
 * agent) and frees one just before each nft_ctx_new() so the context's socket lands there; a context that would get
 * a descriptor of 1024 or more is refused (an error, then `nft -f -`). Closing a context takes its slot back.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <dlfcn.h>
#include <malloc.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (64u * 1024 * 1024)
#define MAX_OUTPUT (16u * 1024 * 1024)
#define TRIM_AFTER (64u * 1024)

struct nft_ctx;
typedef struct nft_ctx *(*ctx_new_fn)(uint32_t flags);
typedef void (*ctx_free_fn)(struct nft_ctx *ctx);
typedef int (*ctx_buffer_fn)(struct nft_ctx *ctx);
typedef const char *(*ctx_get_buffer_fn)(struct nft_ctx *ctx);
typedef int (*run_buffer_fn)(struct nft_ctx *ctx, const char *buf);

static struct {
  int tried;
  char why[256];
  ctx_new_fn ctx_new;
  ctx_free_fn ctx_free;
  ctx_buffer_fn buffer_output, buffer_error;
  ctx_get_buffer_fn get_output, get_error;
  run_buffer_fn run_buffer;
} lib;

/* Called on the JS thread only (open): no lock needed. */
static int load_lib(void) {
  if (lib.tried) return lib.ctx_new != NULL;
  lib.tried = 1;
  void *h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    snprintf(lib.why, sizeof lib.why, "%s", dlerror());
    return 0;
  }
#define SYM(field, name) do { *(void **)&lib.field = dlsym(h, name); if (lib.field == NULL) { \
    snprintf(lib.why, sizeof lib.why, "libnftables.so.1: no symbol %s", name); lib.ctx_new = NULL; return 0; } } while (0)
  SYM(ctx_free, "nft_ctx_free");
  SYM(buffer_output, "nft_ctx_buffer_output");
  SYM(buffer_error, "nft_ctx_buffer_error");
  SYM(get_output, "nft_ctx_get_output_buffer");
  SYM(get_error, "nft_ctx_get_error_buffer");
  SYM(run_buffer, "nft_run_cmd_from_buffer");
  SYM(ctx_new, "nft_ctx_new");
#undef SYM
  return 1;
}

#define RESERVED 4
static int reserved[RESERVED] = { -1, -1, -1, -1 };

/* Fill the empty reserve slots with low descriptors (JS thread only). */
static void reserve_fds(void) {
  for (int i = 0; i < RESERVED; i++) {
    if (reserved[i] >= 0) continue;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (fd >= FD_SETSIZE) { close(fd); return; }
    reserved[i] = fd;
  }
}

/*
 * A new context whose netlink socket is below FD_SETSIZE, or NULL with `why` set. Frees one reserved descriptor (or,
 * with none left, checks that the lowest free one is low) right before nft_ctx_new(), which opens the socket on the
 * lowest free descriptor; afterwards that descriptor must be free still (the socket went lower) or a socket.
 */
static struct nft_ctx *ctx_new_low(const char **why) {
  int freed = -1;
  for (int i = 0; i < RESERVED && freed < 0; i++) {
    if (reserved[i] >= 0) { freed = reserved[i]; reserved[i] = -1; }
  }
  if (freed < 0) freed = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (freed < 0 || freed >= FD_SETSIZE) {
    if (freed >= 0) close(freed);
    *why = "nftables: no file descriptor below 1024 is free (libnftables needs one for its socket)";
    return NULL;
  }
  close(freed);
  struct nft_ctx *ctx = lib.ctx_new(0 /* NFT_CTX_DEFAULT */);
  if (ctx == NULL) { *why = "nftables: nft_ctx_new failed"; return NULL; }
  struct stat st;
  if (fstat(freed, &st) == 0 && !S_ISSOCK(st.st_mode)) {
    /* Another thread took the descriptor in between: where the socket went is unknown. */
    lib.ctx_free(ctx);
    *why = "nftables: could not place the context's socket below descriptor 1024";
    return NULL;
  }
  return ctx;
}

typedef struct {
  struct nft_ctx *ctx;
  int busy;
  int closed;
  int finalized;
} handle_t;

typedef struct {
  handle_t *h;
  napi_async_work work;
  napi_deferred deferred;
  char *input;
  char *output;
  char *error;
  int rc;
} job_t;

static void free_ctx(handle_t *h) {
  if (h->ctx != NULL) { lib.ctx_free(h->ctx); h->ctx = NULL; reserve_fds(); }
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  handle_t *h = (handle_t *)data;
  h->finalized = 1;
  if (!h->busy) { free_ctx(h); free(h); }
}

static handle_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "nftables: not a handle");
    return NULL;
  }
  return (handle_t *)p;
}

/* A bounded copy of a (possibly NULL) buffer from libnftables. */
static char *copy_bounded(const char *s) {
  if (s == NULL) s = "";
  size_t n = strnlen(s, MAX_OUTPUT);
  char *out = malloc(n + 1);
  if (out == NULL) return NULL;
  memcpy(out, s, n);
  out[n] = '\0';
  return out;
}

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *j = (job_t *)data;
  j->rc = lib.run_buffer(j->h->ctx, j->input);
  j->output = copy_bounded(lib.get_output(j->h->ctx));
  j->error = copy_bounded(lib.get_error(j->h->ctx));
  /* A whole table (MBs of text) leaves nft's parse tree freed but held by malloc: give it back. */
  if (strlen(j->input) > TRIM_AFTER) malloc_trim(0);
}

static napi_value result(napi_env env, int ok, const char *output, const char *error) {
  napi_value obj, vok, vout, verr;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  napi_get_boolean(env, ok, &vok);
  napi_create_string_utf8(env, output, NAPI_AUTO_LENGTH, &vout);
  napi_create_string_utf8(env, error, NAPI_AUTO_LENGTH, &verr);
  napi_set_named_property(env, obj, "ok", vok);
  napi_set_named_property(env, obj, "output", vout);
  napi_set_named_property(env, obj, "error", verr);
  return obj;
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = (job_t *)data;
  handle_t *h = j->h;
  h->busy = 0;
  napi_value r;
  if (status != napi_ok) r = result(env, 0, "", "nftables: the call was cancelled");
  else if (j->output == NULL || j->error == NULL) r = result(env, 0, "", "nftables: out of memory");
  else r = result(env, j->rc == 0, j->output, j->error);
  if (r == NULL) napi_get_undefined(env, &r);
  napi_resolve_deferred(env, j->deferred, r);
  napi_delete_async_work(env, j->work);
  free(j->input); free(j->output); free(j->error); free(j);
  if (h->closed) free_ctx(h);
  if (h->finalized) { free_ctx(h); free(h); }
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  (void)info;
  if (!load_lib()) { napi_throw_error(env, NULL, lib.why); return NULL; }
  handle_t *h = calloc(1, sizeof *h);
  if (h == NULL) { napi_throw_error(env, NULL, "nftables: out of memory"); return NULL; }
  const char *why = NULL;
  h->ctx = ctx_new_low(&why);
  if (h->ctx == NULL) {
    free(h);
    reserve_fds();
    napi_throw_error(env, NULL, why);
    return NULL;
  }
  if (lib.buffer_output(h->ctx) != 0 || lib.buffer_error(h->ctx) != 0) {
    free_ctx(h); free(h);
    napi_throw_error(env, NULL, "nftables: cannot buffer the context's output");
    return NULL;
  }
  napi_value out;
  if (napi_create_external(env, h, on_finalize, NULL, &out) != napi_ok) {
    free_ctx(h); free(h);
    napi_throw_error(env, NULL, "nftables: cannot create a handle");
    return NULL;
  }
  return out;
}

/* A promise resolved at once with an error value. */
static napi_value resolved_error(napi_env env, const char *error) {
  napi_deferred d;
  napi_value p;
  if (napi_create_promise(env, &d, &p) != napi_ok) return NULL;
  napi_value r = result(env, 0, "", error);
  if (r == NULL) napi_get_undefined(env, &r);
  napi_resolve_deferred(env, d, r);
  return p;
}

static napi_value js_run(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "nftables: run(handle, text)");
    return NULL;
  }
  handle_t *h = unwrap(env, argv[0]);
  if (h == NULL) return NULL;
  if (h->closed || h->ctx == NULL) return resolved_error(env, "nftables: handle closed");
  if (h->busy) return resolved_error(env, "nftables: busy (one command at a time per handle)");
  napi_valuetype t;
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_string) return resolved_error(env, "nftables: the ruleset must be a string");
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok) return resolved_error(env, "nftables: cannot read the ruleset");
  if (len > MAX_INPUT) return resolved_error(env, "nftables: ruleset over 64 MiB refused");
  job_t *j = calloc(1, sizeof *j);
  char *input = malloc(len + 1);
  if (j == NULL || input == NULL) { free(j); free(input); return resolved_error(env, "nftables: out of memory"); }
  size_t got = 0;
  if (napi_get_value_string_utf8(env, argv[1], input, len + 1, &got) != napi_ok || got != len) {
    free(j); free(input);
    return resolved_error(env, "nftables: cannot read the ruleset");
  }
  if (memchr(input, '\0', len) != NULL) {
    free(j); free(input);
    return resolved_error(env, "nftables: a NUL byte in the ruleset refused");
  }
  j->h = h;
  j->input = input;
  napi_value promise, name;
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "nftables.run", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, j, &j->work) != napi_ok) {
    free(j->input); free(j);
    napi_throw_error(env, NULL, "nftables: cannot queue the call");
    return NULL;
  }
  h->busy = 1;
  if (napi_queue_async_work(env, j->work) != napi_ok) {
    h->busy = 0;
    napi_delete_async_work(env, j->work);
    free(j->input); free(j);
    napi_throw_error(env, NULL, "nftables: cannot queue the call");
    return NULL;
  }
  return promise;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "nftables: close(handle)");
    return NULL;
  }
  handle_t *h = unwrap(env, argv[0]);
  if (h == NULL) return NULL;
  h->closed = 1;
  if (!h->busy) free_ctx(h);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "run", NULL, js_run, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  reserve_fds();
  return exports;
}
