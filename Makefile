# clonebot — `make help` lists the targets.
GO       ?= go
PKGS     ?= ./...
BIN      := bin/clonebot
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
STATICCHECK_VERSION := v0.8.2

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/clonebot, stamped with VERSION (default: git describe)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/clonebot

.PHONY: test
test: ## run every test with the race detector (real Redis, PostgreSQL and moto; see README)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

.PHONY: fuzz-masking
fuzz-masking: ## masking property test, random seed (MASKING_CASES, default 40), then the masking fuzz targets (FUZZTIME, default 30s each)
	$(GO) test -count=1 -timeout 60m -run TestMaskingProperty ./agent -args -masking.seed=0 -masking.cases=$(or $(MASKING_CASES),40)
	$(GO) test -run '^$$' -fuzz FuzzMaskDocument -fuzztime $(or $(FUZZTIME),30s) ./agent/mask
	$(GO) test -run '^$$' -fuzz FuzzMaskLine -fuzztime $(or $(FUZZTIME),30s) ./agent/mask
	$(GO) test -run '^$$' -fuzz FuzzScriptReader -fuzztime $(or $(FUZZTIME),30s) ./agent/pgdump

.PHONY: fuzz
fuzz: ## every fuzz target for FUZZTIME each (default 30s), printing the inputs each executed
	GO=$(GO) .ci/fuzz

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

.PHONY: deploy-check
deploy-check: ## build every Kubernetes overlay and check it (API types, Pod Security restricted, pinned images); Slack manifests vs code; Dockerfile
	$(GO) test -count=1 -run '^(TestManifests|TestCheckImage|TestConfigCopiesMatchTheExamples|TestAgentDaemonSetRunsTheDeploymentsPod|TestBinaryHasNoKubernetesImports|TestSlackMethodTable|TestSlackManifestsAskExactlyTheScopesUsed|TestDockerfile)$$' ./internal/deploycheck

.PHONY: demo
demo: ## run the whole flow on this machine (clonebot demo)
	$(GO) run ./cmd/clonebot demo

.PHONY: bench
bench: bench-engine bench-slack bench-restore bench-audit bench-lifecycle bench-api bench-access ## run every benchmark; figures go to docs/BENCHMARKS.md

.PHONY: bench-engine
bench-engine: ## approval votes/s vs bare Redis PING at 16 clients
	$(GO) run ./bench/engine

.PHONY: bench-slack
bench-slack: ## HTTP-mode ack latency of signed /clone commands vs a bare net/http handler
	$(GO) run ./bench/slack

.PHONY: bench-restore
bench-restore: ## masked restore vs pg_restore -j 2 (BENCH_ROWS, default 2000000; BENCH_REPEAT, default 3)
	$(GO) run ./bench/restore

.PHONY: bench-audit
bench-audit: ## hash-chained audit appends/s vs plain COPY of the same rows (BENCH_AUDIT_ARGS, e.g. -batch 10)
	$(GO) run ./bench/audit $(BENCH_AUDIT_ARGS)

.PHONY: bench-lifecycle
bench-lifecycle: ## revocation latency of 200 clones expiring in one minute, with serve running and with serve stopped (the expiry guard); a pass's cost with 10,000 ready clones vs 100 (BENCH_CLONES, BENCH_ACTIVE)
	$(GO) run ./bench/lifecycle

.PHONY: bench-access
bench-access: ## time-to-access by restore vs by a golden copy's thin copy, 250 MB and 1 GB sources, 3 runs each (BENCH_SIZES, BENCH_REPEAT)
	$(GO) run ./bench/access

.PHONY: bench-api
bench-api: ## REST API p99 of GET /clones/{id} and POST /clones?dry_run=true vs a bare net/http handler at 100 clients
	$(GO) run ./bench/api

FUZZTIME ?= 30s
.PHONY: fuzz-api
fuzz-api: ## fuzz the REST API's request decoding (FUZZTIME per target, default 30s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCreate$$' -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePatch$$' -fuzztime $(FUZZTIME) ./api
