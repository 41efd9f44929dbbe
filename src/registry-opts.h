/* src/registry-opts.h - the registry flags shared by pull, push and build:
 * parsed in one place into struct ib_registry_opts (registry/registry.h).
 *
 *   struct option *lo = ib_regopts_merge(verb_opts);   // verb's options + ours
 *   ... getopt_long(argc, argv, short, lo, NULL) ...
 *   default: r = ib_regopts_handle(&cli, c, optarg, "pull");  // 1 ours, 0 not ours, <0 usage error printed
 */
#ifndef IB_REGISTRY_OPTS_H
#define IB_REGISTRY_OPTS_H

#include "registry/registry.h"
#include <getopt.h>
#include <stdio.h>

/* getopt values of the registry options start here; verbs use smaller ones. */
#define IB_REGOPT_BASE 0x2000

struct ib_regopts {
        struct ib_registry_opts opts;
        struct ib_platform platform;
        bool have_platform;
};
void ib_regopts_init(struct ib_regopts *c);
void ib_regopts_release(struct ib_regopts *c);
/* A new array: @verb_opts (terminated by a zero entry) followed by the registry
 * options and a terminator.  Caller frees. */
struct option *ib_regopts_merge(const struct option *verb_opts);
/* Handle getopt's @c; returns 1 when it was a registry option, 0 when not, or
 * IB_EXIT_USAGE (after printing the error) when its argument is bad. */
int ib_regopts_handle(struct ib_regopts *c, int opt, const char *arg, const char *verb);
/* --platform (and Kaniko's --customPlatform): 1, or IB_EXIT_USAGE after printing. */
int ib_regopts_platform(struct ib_regopts *c, const char *arg, const char *verb);
/* --registry-map (and KANIKO_REGISTRY_MAP): 1, or IB_EXIT_USAGE after printing. */
int ib_regopts_registry_map(struct ib_regopts *c, const char *arg, const char *verb);
/* The options' help lines. */
void ib_regopts_help(FILE *out);

#endif
