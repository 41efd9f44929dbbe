#!/bin/bash
# Memory, shortened for make check: a 512 MB layer through build (export),
# push, pull and extraction, each under 64 MB of peak RSS
# (tests/stress/big-layer.sh; `make stress` runs it with 2 GB).
BIG_MB=${IB_CHECK_BIG_MB:-512} exec bash "${IB_SRCDIR:-.}/tests/stress/big-layer.sh"
