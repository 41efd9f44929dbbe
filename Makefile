# imgbuild - plain GNU Makefile (git-style).  See README.md.
#   make                      build build/imgbuild
#   make check                deps, build, unit tests (plain and ASan/UBSan), integration tests
#   make SANITIZE=address,undefined   sanitizer build
#   make V=1                  show the commands
#   make install PREFIX=/usr/local
#   make fuzz                 libFuzzer targets (clang)
#   make stress               long runs (tests/stress: the 60-kill interrupt loop; fuzzing FUZZ_SECONDS per target), never part of check
#   make bench                benchmarks (never part of check)
#   make image [DEST=r/i:t]   imgbuild's own image (image/Dockerfile) into build/imgbuild-image

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
BUILDDIR ?= build
CC       ?= cc
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS := libseccomp libcap libarchive libcurl yajl libxxhash libcrypto zlib libzstd libisal

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wvla -Wpointer-arith -Wundef -Wno-unused-parameter -Werror
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -DIB_VERSION='"$(VERSION)"' -I. \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl and libarchive are not linked: registry/curl-load.c and
# snapshot/archive-load.c load them on first use (start-up time)
LIBS     := $(shell pkg-config --libs $(filter-out libcurl libarchive,$(PKGS)) 2>/dev/null) -ldl -lpthread
ifdef SANITIZE
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

ifneq ($(V),1)
Q_CC = @echo '  CC     ' $@;
Q_LD = @echo '  LD     ' $@;
Q_AR = @echo '  AR     ' $@;
Q = @
endif

# Every module's .c files are found by wildcard, so adding a file needs no edit here.
LIB_SRCS  := $(wildcard lib/*.c sandbox/*.c snapshot/*.c registry/*.c) \
             $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILDDIR)/%.o)
MAIN_OBJ  := $(BUILDDIR)/src/main.o
LIBA      := $(BUILDDIR)/libimgbuild.a
BIN       := $(BUILDDIR)/imgbuild

TEST_LIB_OBJ := $(BUILDDIR)/tests/lib/ib-test.o
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILDDIR)/tests/unit/%)
# Helpers the tests run inside sandboxes: never sanitized (they run in foreign roots).
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=build/tests/helpers/%)
INTEG_TESTS := $(sort $(wildcard tests/integration/t-*.sh))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)

MAN_PAGES := $(wildcard man/*.1)
MAN7_PAGES := $(wildcard man/*.7)

.SECONDARY:
.PHONY: all example image deps check check-unit check-asan unit-tests install hdr-check fuzz stress stress-faults stress-fuzz stress-hostile bench clean man-lint
all: $(BIN)

$(BUILDDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q_CC)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	$(Q_AR)rm -f $@ && ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIBA)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# unit tests also call libarchive themselves (to craft archives): linked for them
$(BUILDDIR)/tests/unit/%: $(BUILDDIR)/tests/unit/%.o $(TEST_LIB_OBJ) $(LIBA)
	$(Q_LD)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(shell pkg-config --libs libarchive libcurl 2>/dev/null)

build/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(Q_CC)$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $< 2>/dev/null || $(CC) -std=gnu11 $(WARN) -O2 -o $@ $<

unit-tests: $(UNIT_BINS)

deps:
	$(Q)sh tests/deps.sh

# The one test command.  Unit tests run twice (plain and under ASan/UBSan), then
# the integration tests against the real binary; tests/run.sh prints the summary.
check: deps
	$(Q)$(MAKE) --no-print-directory all unit-tests $(HELPER_BINS)
	$(Q)$(MAKE) --no-print-directory BUILDDIR=build-asan SANITIZE=address,undefined unit-tests
	$(Q)IMGBUILD=$(CURDIR)/$(BIN) IB_SRCDIR=$(CURDIR) sh tests/run.sh \
		$(UNIT_BINS) $(UNIT_BINS:$(BUILDDIR)/%=build-asan/%) $(INTEG_TESTS) tests/man-lint.sh

check-unit: all unit-tests
	$(Q)IMGBUILD=$(CURDIR)/$(BIN) IB_SRCDIR=$(CURDIR) sh tests/run.sh $(UNIT_BINS)

hdr-check:
	$(Q)for h in lib/ib.h sandbox/sandbox.h snapshot/snapshot.h registry/registry.h src/*.h; do \
		[ -f $$h ] || continue; \
		echo "#include \"$$h\"" | $(CC) $(ALL_CFLAGS) -fsyntax-only -xc - || exit 1; done

# The library is compiled once with coverage instrumentation (fuzzer-no-link)
# and each target links it; the sanitizers are the same everywhere.  clang's
# warnings on the library are shown but not fatal (gcc's -Werror build is the
# gate); the fuzz targets themselves must be warning-free.
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -DIB_ZBUF=4096 -DIB_SHELL_MAX_RESULT='(1u << 20)' -DIB_VERSION='"$(VERSION)"' -I. $(FUZZ_SAN) \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# The verbs (src/cmd-*.c) and the option parser (src/registry-opts.c) need
# main.c's helpers; fuzz targets link the library only.
FUZZ_LIB_SRCS := $(filter-out src/cmd-%.c src/registry-opts.c,$(LIB_SRCS))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=build-fuzz/obj/%.o)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
fuzz: $(FUZZ_BINS)
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q_CC)clang $(FUZZ_CFLAGS) $(filter-out -Werror,$(WARN)) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build-fuzz/libimgbuild-fuzz.a: $(FUZZ_LIB_OBJS)
	$(Q_AR)rm -f $@ && ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libimgbuild-fuzz.a
	$(Q_LD)clang $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer -o $@ $< build-fuzz/libimgbuild-fuzz.a $(LIBS)

# Long fuzz runs (FUZZ_SECONDS per target, default 600), never part of check.
FUZZ_SECONDS ?= 600
stress-fuzz: fuzz
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/stress/fuzz-long.sh $(FUZZ_BINS)
stress-hostile: all
	$(Q)sh tests/stress/hostile-big.sh
stress: stress-fuzz stress-hostile stress-faults

# The README's main job: build examples/hello (FROM scratch, a static busybox,
# RUN steps, CMD) into an OCI layout, with nothing to download, and show it.
EXAMPLE_OUT ?= build/hello-oci
example: all
	$(Q)rm -rf build/example-ctx && mkdir -p build/example-ctx
	$(Q)cp examples/hello/Dockerfile build/example-ctx/ && cp /bin/busybox build/example-ctx/busybox
	$(BIN) build --root build/example-store --oci-layout-path $(EXAMPLE_OUT):hello build/example-ctx
	$(Q)echo "image written to $(EXAMPLE_OUT) (tag hello); inspect it with: skopeo inspect oci:$(EXAMPLE_OUT):hello"

# imgbuild's own image, built by imgbuild from image/Dockerfile into an OCI
# layout (tag latest); pushed as well with DEST=registry/repo:tag.
# IMAGE_BIN: the imgbuild that builds it and goes into it (default: this tree's).
IMAGE_OUT ?= build/imgbuild-image
IMAGE_CTX ?= build/image-ctx
IMAGE_STORE ?= build/image-store
IMAGE_BIN ?= $(BIN)
image: $(IMAGE_BIN)
	$(Q)sh image/prepare-context.sh $(IMAGE_BIN) $(IMAGE_CTX)
	$(IMAGE_BIN) build --root $(IMAGE_STORE) -f image/Dockerfile --oci-layout-path $(IMAGE_OUT):latest \
		$(if $(DEST),-d $(DEST),--no-push) $(IMAGE_CTX)
	$(Q)echo "image written to $(IMAGE_OUT) (tag latest)$(if $(DEST), and pushed to $(DEST))"

bench: all
	$(Q)sh bench/run.sh

# The long run of what make check runs shortened: KILLS interrupts (default 60;
# check runs 10).  BIG_MB=N also runs tests/stress/big-layer.sh with an N MB
# layer (check runs 2048).
KILLS ?= 60
stress-faults: all
	$(Q)KILLS=$(KILLS) IMGBUILD=$(CURDIR)/$(BIN) IB_SRCDIR=$(CURDIR) sh tests/run.sh \
		tests/stress/kill-loop.sh $(if $(BIG_MB),tests/stress/big-layer.sh)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/imgbuild
	$(if $(MAN_PAGES),install -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(MAN7_PAGES),install -m 0644 $(MAN7_PAGES) $(DESTDIR)$(MANDIR)/man7/)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILDDIR) -name '*.d' 2>/dev/null)
-include $(shell find build-fuzz/obj -name '*.d' 2>/dev/null)
