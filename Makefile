# apkfarm — see README.md.
GO       ?= go
BIN      := bin
PKGS     := ./...
# Packages without I/O to containers or the network: run under the race detector.
PURE     := ./runner/apk/... ./runner/apkbuild/... ./runner/plan/... ./state/...
PURE     += ./runner/trigger/...   # schedule and hooks: real HTTP on 127.0.0.1, no containers
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: all build test unit race lint fmt vet staticcheck bench deps deps-apt deps-binfmt deps-go demo demo-clean clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/run ./cmd/run
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/site ./cmd/site

# Everything: formatting, vet, staticcheck (when installed), all tests
# (unit, fuzz seed corpora, conformance against the real apk client, runc
# and qemu where `make deps` installed them) and the race detector on the
# pure packages.
test: lint unit race

unit:
	$(GO) test -count=1 $(PKGS)

race:
	$(GO) test -count=1 -race $(PURE)

lint: fmt vet staticcheck

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	@if [ -x $(STATICCHECK) ]; then $(STATICCHECK) $(PKGS); \
	else echo "staticcheck not installed (make deps installs it); skipped"; fi

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

# Every fuzz target for FUZZTIME each (go test fuzzes one target at a
# time; after a failure the others still run), each new input minimised
# in at most FUZZMINIMIZE executions: Go's default, a minute per input,
# left targets whose inputs are whole tar blocks fuzzing a few inputs a
# minute. docs/fuzzing.md.
FUZZTIME     ?= 1m
FUZZMINIMIZE ?= 500x
.PHONY: fuzz
fuzz:
	@fail=; for f in $$(find . -name '*_test.go' -not -path './.git/*' | sort | xargs grep -l '^func Fuzz'); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== $$(dirname $$f) $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$(dirname $$f) || fail="$$fail $$t"; \
		done; \
	done; \
	if [ -n "$$fail" ]; then echo "make fuzz: failed:$$fail (inputs in testdata/fuzz/)"; exit 1; fi

# What the tests use, installed as root: `make deps` runs every deps-*
# target. Debian packages, one group a line with why:
APT_PKGS := runc crun                         # the OCI runtimes of builds (tests run against both)
APT_PKGS += bubblewrap                        # runs the real apk client from ../shared/alpine
APT_PKGS += qemu-user-static binfmt-support   # foreign arches
APT_PKGS += rsync                             # mirrors
APT_PKGS += openssh-server openssh-client     # mirror tests push through an sshd they start on 127.0.0.1
APT_PKGS += openssl                           # the abuild-sign pipeline test
APT_PKGS += strace                            # proves the APKBUILD evaluator runs and opens nothing
APT_PKGS += ca-certificates git tar gzip
APT_PKGS += chromium fonts-dejavu-core        # the site's browser test (headless, file://) and its screenshots

deps: deps-apt deps-binfmt deps-go

deps-apt:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (apt-get)"; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PKGS)

# The qemu binfmt handler of every foreign Alpine arch (armv7 and armhf
# share qemu-arm). Debian installs them disabled, and none for the host's
# own arch (skipped: not in /var/lib/binfmts). `run doctor` shows the result.
QEMU_BINFMT := x86_64 aarch64 arm riscv64 ppc64le s390x loongarch64
# x86 on an x86_64 kernel without IA-32 emulation (ia32_emulation=off, or
# not built in) runs under qemu-i386, which Debian does not register on
# amd64: registered here when a tiny i386 exit(0) does not run. The
# register command is oci.InstallI386's.
I386_EXIT0 := \177\105\114\106\1\1\1\0\0\0\0\0\0\0\0\0\2\0\3\0\1\0\0\0\124\0\1\0\64\0\0\0\0\0\0\0\0\0\0\0\64\0\40\0\1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0\0\1\0\0\0\1\0\135\0\0\0\135\0\0\0\5\0\0\0\0\20\0\0\270\1\0\0\0\61\333\315\200
I386_MAGIC := \x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00
I386_MASK  := \xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff

deps-binfmt: deps-apt
	@if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then \
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true; fi
	@for q in $(QEMU_BINFMT); do \
		[ -e /var/lib/binfmts/qemu-$$q ] || continue; \
		[ -e /proc/sys/fs/binfmt_misc/qemu-$$q ] || update-binfmts --enable qemu-$$q || exit 1; \
	done
	@if [ "$$(uname -m)" = x86_64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-i386 ]; then \
		probe=$$(mktemp) && printf '$(I386_EXIT0)' > $$probe && chmod +x $$probe; \
		if $$probe 2>/dev/null; then rm -f $$probe; else rm -f $$probe; \
			echo "this kernel runs no i386 programs: registering qemu-i386 for x86 builds"; \
			if [ -e /var/lib/binfmts/qemu-i386 ]; then update-binfmts --enable qemu-i386 || exit 1; \
			else update-binfmts --package apkfarm --install qemu-i386 /usr/bin/qemu-i386-static \
				--magic '$(I386_MAGIC)' --mask '$(I386_MASK)' --offset 0 --credentials yes --fix-binary yes || exit 1; fi; \
		fi; \
	fi

deps-go:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@latest

# The whole job on this machine, offline (internal/demo, configs/demo.toml):
# eight aports of testdata/demo/tree built in runc containers for x86_64 and,
# under qemu, aarch64; signed with a fresh key; published; pushed to a
# directory and an rsync daemon on 127.0.0.1; rendered into the status site;
# installed from with the real apk; then a second run with nothing to do.
# Root, after `make deps`. Everything is in /var/tmp/apkfarm-demo.
demo: build
	$(GO) run ./internal/demo -run $(BIN)/run -config configs/demo.toml

demo-clean:
	$(GO) run ./internal/demo -clean
	rm -rf /var/tmp/apkfarm/sessions

clean:
	rm -rf $(BIN)
