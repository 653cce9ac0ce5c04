/* keystore.c — picks the key store's backend from the DSN (keystore.h). */
#include "keystore.h"

#include <stdio.h>
#include <string.h>

static const struct fg_keystore_ops *const backends[] = {&fg_keystore_sqlite, &fg_keystore_pg};

int fg_keystore_open(const char *dsn, struct fg_keystore **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        const char *sch = backends[i]->scheme;
        if (!strncmp(dsn, sch, strlen(sch)))
            return backends[i]->open(dsn, out, err, errlen);
    }
    /* never the whole DSN: it may carry a password */
    snprintf(err, errlen,
             "storage '%.*s:…': no backend for this scheme (this build has sqlite: and "
             "postgres://)",
             (int)strcspn(dsn, ":"), dsn);
    return -1;
}

void fg_keystore_close(struct fg_keystore *s)
{
    if (s)
        s->ops->close(s);
}

struct names {
    int (*cb)(void *arg, const char *id, const char *name);
    void *arg;
};

static int one_name(void *arg, const struct fg_key *k)
{
    const struct names *n = arg;
    return n->cb(n->arg, k->id, k->name);
}

int fg_keystore_names(void *src, int (*cb)(void *arg, const char *id, const char *name), void *arg,
                      char *err, size_t errlen)
{
    struct fg_keystore *s = src;
    struct names n = {cb, arg};
    return s->ops->scan(s, one_name, &n, err, errlen);
}
