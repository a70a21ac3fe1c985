# The front door.  The real build is meson + ninja (meson.build).
#   make            build into build/ (the command is build/src/tlsscope, linked as build/tlsscope)
#   make check      build, then every test in build/ and in build-asan/ (ASan + UBSan, fuzz smoke)
#   make demo       build, then the self-contained local demonstration
#   make install PREFIX=/usr/local
#   make fuzz [FUZZ_SECONDS=600]   fuzz every target for that long
#   make bench      side-by-side benchmarks (bench/README.md)
BUILD := build
ASAN := build-asan
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 600
ASAN_OPTS := -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true \
	-Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug

.PHONY: all asan check demo install fuzz bench deps clean

all: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	ln -sf src/tlsscope $(BUILD)/tlsscope

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN)/build.ninja:
	CC=clang meson setup $(ASAN) $(ASAN_OPTS)

asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN)

deps:
	@scripts/deps

check: all asan
	tests/run $(BUILD) $(ASAN)

demo: all
	scripts/demo $(BUILD)/src/tlsscope

install: all
	meson configure $(BUILD) -Dprefix=$(abspath $(PREFIX))
	meson install -C $(BUILD)

fuzz: asan
	@for t in $(ASAN)/fuzz/fuzz_*; do \
		[ -f "$$t" ] && [ -x "$$t" ] || continue; \
		echo "== $$t for $(FUZZ_SECONDS)s"; \
		TS_FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz_smoke.sh $$t fuzz/corpus/$${t##*/fuzz_} || exit 1; \
	done

bench: all
	bench/run $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN)
