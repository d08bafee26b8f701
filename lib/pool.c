#include "config.h"
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct pool {
	pthread_mutex_t mu;
	size_t next, n;
	dm_pool_fn fn;
	void *opaque;
};

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->mu);
		i = p->next < p->n ? p->next++ : p->n;
		pthread_mutex_unlock(&p->mu);
		if (i == p->n)
			return NULL;
		p->fn(p->opaque, i);
	}
}

void dm_pool_run(size_t n, unsigned jobs, dm_pool_fn fn, void *opaque)
{
	struct pool p = { .n = n, .fn = fn, .opaque = opaque };
	size_t want = jobs > 1 ? jobs - 1 : 0, started = 0;
	pthread_t *threads;

	if (want >= n)
		want = n ? n - 1 : 0;
	threads = want ? calloc(want, sizeof *threads) : NULL;
	pthread_mutex_init(&p.mu, NULL);
	for (; threads && started < want; started++)
		if (pthread_create(&threads[started], NULL, worker, &p) != 0)
			break;
	worker(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	pthread_mutex_destroy(&p.mu);
}
