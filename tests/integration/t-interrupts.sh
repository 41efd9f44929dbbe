#!/bin/bash
# Interrupts, shortened for make check: 10 kills (SIGINT, SIGTERM, SIGKILL
# during pull, extraction, RUN, export and push, as root and as the
# unprivileged user) of tests/stress/kill-loop.sh; `make stress` runs 60.
KILLS=${IB_CHECK_KILLS:-10} exec bash "${IB_SRCDIR:-.}/tests/stress/kill-loop.sh"
