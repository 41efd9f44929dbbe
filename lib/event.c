/* lib/event.c - structured events through one replaceable handler (see
 * lib/ib.h).  A mutex serializes handlers: the engine's RUN output relay is
 * a second thread. */
#include "ib.h"
#include <pthread.h>
#include <time.h>

static ib_event_handler handler;
static void *handler_data;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

const char *ib_phase_name(enum ib_phase p)
{
        static const char *const names[IB_PHASE_COUNT] = {
                "resolve", "pull", "extract", "run", "snapshot", "compress", "push",
        };
        return (unsigned) p < IB_PHASE_COUNT ? names[p] : "?";
}

const char *ib_xfer_state_name(enum ib_xfer_state s)
{
        static const char *const names[] = { "start", "progress", "done", "exists", "mounted", "retry" };
        return (unsigned) s < IB_ELEMENTSOF(names) ? names[s] : "?";
}

void ib_event_set_handler(ib_event_handler h, void *userdata)
{
        pthread_mutex_lock(&lock);
        handler = h;
        handler_data = userdata;
        pthread_mutex_unlock(&lock);
}

bool ib_event_active(void)
{
        return handler != NULL;
}

void ib_event_emit(const struct ib_event *ev)
{
        int saved = errno;

        pthread_mutex_lock(&lock);
        if (handler)
                handler(ev, handler_data);
        pthread_mutex_unlock(&lock);
        errno = saved;
}

double ib_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}
