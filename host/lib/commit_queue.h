/* oncesign host — group commit: requests that arrive together share one durable commit.
 *
 * Leader/follower (the scheme of MySQL's binlog group commit and PostgreSQL's commit_delay, with no
 * delay): a caller enqueues its item; if no group is running it becomes the leader, takes every item
 * queued so far (at most OS_COMMIT_GROUP_MAX) and hands them to the queue's run_group callback, which
 * applies them in one transaction and commits it once. Callers that arrive while a group runs wait;
 * when it ends, one of them leads the next group with everything that piled up meanwhile. So under
 * load one fsync serves many callers, and a lone caller pays no extra latency (no timer, no thread).
 *
 * Never acknowledge before commit: os_commit_queue_run returns only after the group holding the item
 * has finished, i.e. after run_group returned, and run_group sets an item's rc to OS_OK only when the
 * commit holding its change has returned (durable). A crash at any instant before that loses the whole
 * open transaction and with it only requests no caller has been answered for.
 *
 * The queue knows nothing of SQLite: run_group (ledger.c) owns the transaction, one SAVEPOINT per item
 * (a refused item is rolled back alone and does not poison the group) and the commit.
 */
#ifndef ONCESIGN_HOST_COMMIT_QUEUE_H
#define ONCESIGN_HOST_COMMIT_QUEUE_H

#include <pthread.h>
#include <stddef.h>

/* The most items one group takes; later ones wait for the next group (bounds a group's latency). */
#define OS_COMMIT_GROUP_MAX 256

typedef struct os_commit_item os_commit_item;
struct os_commit_item {
    /* Set by the caller: what the group runner applies inside the shared transaction. Returns an
     * os_status; anything but OS_OK means "refused": its changes are undone alone. */
    int (*apply)(void *ctx);
    void *ctx;
    /* Set by run_group: the item's final answer (OS_OK only once its commit is durable). */
    int rc;
    /* Private to the queue. */
    int done;
    os_commit_item *next;
};

/* Applies and commits the items of one group (a NULL-terminated list through ->next, in arrival
 * order) and sets every item's rc. Called by the leader with no queue lock held; never concurrently
 * with itself for one queue. */
typedef void (*os_commit_run_group)(void *owner, os_commit_item *items, size_t n);

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t done_cv;         /* a group ended */
    os_commit_item *head, *tail;    /* waiting for a group */
    int leading;                    /* a leader is running a group */
    os_commit_run_group run_group;
    void *owner;
    unsigned long long groups, items; /* metrics: groups run, items through them */
} os_commit_queue;

/* Initialises q (not NULL) to run groups with run_group(owner, ...).
 * Returns: OS_OK; OS_ERR_ARG (q or run_group NULL); OS_ERR_INTERNAL (pthread init failed). */
int os_commit_queue_init(os_commit_queue *q, os_commit_run_group run_group, void *owner);

/* Destroys q. No caller may be inside os_commit_queue_run. */
void os_commit_queue_destroy(os_commit_queue *q);

/* Runs item (apply set, not NULL) in a group and waits until that group has committed or failed.
 * Thread-safe; blocks. item must stay valid until the call returns.
 * Returns: item->rc as run_group set it (OS_OK: applied and durable); OS_ERR_ARG on misuse. */
int os_commit_queue_run(os_commit_queue *q, os_commit_item *item);

/* Groups run and items through them so far (for the metrics and the tests). */
void os_commit_queue_stats(os_commit_queue *q, unsigned long long *groups, unsigned long long *items);

#endif /* ONCESIGN_HOST_COMMIT_QUEUE_H */
