# The two commands a new user needs:
#   make demo   runs the main job: CSV files shuffled by key into Parquet partitions, verified
#   make test   installs what is missing, then checks formatting, vets, lints and runs every test with -race
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
SCALE       ?= 1

.PHONY: demo selfcheck test deps fmt-check vet lint cross unit unit-purego bench bench-python fuzz build

demo: deps build
	scripts/demo.sh

# The synthetic self-check: generated rows through the server, verified.
selfcheck: deps build
	./bin/partd shuffle

build: deps
	$(GO) build -o bin/partd ./cmd/partd

test: deps fmt-check vet lint cross unit unit-purego

deps:
	@scripts/deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...

# The library, the server, the client and the partd command build for every
# platform without cgo (the server and client then speak ZeroMQ through
# internal/zmtp); vet checks the code of the systems that are not this one.
CROSS_PKGS := . ./compress ./encode ./partdtest ./internal/zmtp ./server ./client ./storeuri
# The systems partd itself is built for, without cgo.
CROSS_CMD_OS := linux darwin windows
cross:
	@set -e; for os in linux darwin windows; do for arch in amd64 arm64; do \
	  echo "build $$os/$$arch"; CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(CROSS_PKGS); \
	  case " $(CROSS_CMD_OS) " in *" $$os "*) CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./cmd/partd;; esac; \
	done; done; \
	for os in darwin windows; do for arch in amd64 arm64; do \
	  echo "vet $$os/$$arch"; CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) vet $(CROSS_PKGS); \
	done; done

unit:
	$(GO) test -race -timeout 30m ./...

# The pure-Go build's tests (CGO_ENABLED=0: internal/zmtp in place of libzmq;
# no -race, which needs cgo): the server's suites, Python partd's client
# against it, the raw ZMTP attacks, the client's.
unit-purego:
	CGO_ENABLED=0 $(GO) test -timeout 30m ./server/... ./client/... ./internal/zmtp/... ./storeuri/...

# Benchmarks of the canonical workloads (WORKLOADS.md), with Python
# partd 1.3 measured in the same run. SCALE=0.1 makes them quick.
bench: deps
	PARTD_BENCH_SCALE=$(SCALE) PARTD_BENCH_PYTHON=1 $(GO) test -run '^$$' -bench . -benchtime 3x ./...

# Each fuzz target for a while (go test -fuzz takes one target at a time).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done
