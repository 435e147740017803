/* oncesign test node — optional persistence under --datadir. */
#ifndef ONCESIGN_TESTNODE_PERSIST_H
#define ONCESIGN_TESTNODE_PERSIST_H

#include <stddef.h>

#include "node.h"

/* Without datadir: a fresh node (tn_node_new). With datadir: replays DIR/testnode.log when it exists (the
 * seed it was made with wins over seed), else starts a new log; every later change is appended.
 * Returns NULL with a reason in err when the log cannot be replayed or written (fail closed: a node that
 * silently forgot its chain would mislead the tests that restart it). */
tn_node *tn_node_open(const char *datadir, const char *seed, char *err, size_t errlen);

#endif
