#!/bin/bash
# Memory: a 2 GB layer through build (export), push, pull and extraction, each
# under 64 MB of peak RSS (tests/stress/big-layer.sh).  It costs about 65 s on
# a loaded 2-core machine and needs 9 GB of free disk (skipped loudly below);
# IB_CHECK_BIG_MB=512 runs a smaller variant.
BIG_MB=${IB_CHECK_BIG_MB:-2048} exec bash "${IB_SRCDIR:-.}/tests/stress/big-layer.sh"
