/* oncesign host — group commit, leader/follower (see commit_queue.h). */
#include "commit_queue.h"

#include "oncesign/check.h"
#include "oncesign/status.h"

int os_commit_queue_init(os_commit_queue *q, os_commit_run_group run_group, void *owner) {
    ARG_CHECK(q && run_group);
    q->head = q->tail = NULL;
    q->leading = 0;
    q->run_group = run_group;
    q->owner = owner;
    q->groups = q->items = 0;
    if (pthread_mutex_init(&q->mu, NULL) != 0) return OS_ERR_INTERNAL;
    if (pthread_cond_init(&q->done_cv, NULL) != 0) {
        pthread_mutex_destroy(&q->mu);
        return OS_ERR_INTERNAL;
    }
    return OS_OK;
}

void os_commit_queue_destroy(os_commit_queue *q) {
    if (!q || !q->run_group) return;
    pthread_cond_destroy(&q->done_cv);
    pthread_mutex_destroy(&q->mu);
    q->run_group = NULL;
}

int os_commit_queue_run(os_commit_queue *q, os_commit_item *item) {
    ARG_CHECK(q && item && item->apply);
    item->rc = OS_ERR_INTERNAL;
    item->done = 0;
    item->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    while (!item->done) {
        if (q->leading) {
            pthread_cond_wait(&q->done_cv, &q->mu);
            continue;
        }
        /* Lead: take what is queued (this item among it unless the group is full, in which case
         * the loop leads again or follows). */
        q->leading = 1;
        os_commit_item *group = q->head, *last = q->head;
        size_t n = 1;
        while (n < OS_COMMIT_GROUP_MAX && last->next) {
            last = last->next;
            n++;
        }
        q->head = last->next;
        if (!q->head) q->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&q->mu);
        /* Arrivals during this call queue up for the next group: that is where the sharing comes from. */
        q->run_group(q->owner, group, n);
        pthread_mutex_lock(&q->mu);
        /* ->done and ->rc are read by their waiters only under mu, after this. */
        for (os_commit_item *it = group; it;) {
            os_commit_item *next = it->next;
            it->next = NULL;
            it->done = 1;
            it = next;
        }
        q->groups++;
        q->items += n;
        q->leading = 0;
        pthread_cond_broadcast(&q->done_cv);
    }
    int rc = item->rc;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void os_commit_queue_stats(os_commit_queue *q, unsigned long long *groups, unsigned long long *items) {
    pthread_mutex_lock(&q->mu);
    if (groups) *groups = q->groups;
    if (items) *items = q->items;
    pthread_mutex_unlock(&q->mu);
}
