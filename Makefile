# ganeti-noded in Go. `make run` starts a throwaway node; `make test` runs the
# unit and process-level tests; `make e2e` drives a real Ganeti 3.0 cluster;
# `make bench` compares this daemon with Ganeti's Python one.

GO       ?= go
BIN      := ganeti-noded
RUN_HOST := node1.example.com
RUN_ROOT := $(CURDIR)/run/$(RUN_HOST)
RUN_DATA := $(RUN_ROOT)/var/lib/ganeti
PORT     ?= 1811
NODED    ?= go

.PHONY: build run test e2e e2e-cluster bench fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) .

# A throwaway node root under ./run: the directories ensure-dirs makes, a
# self-signed cluster certificate (server.pem) and a client certificate
# signed by it, registered as the only master candidate.
$(RUN_DATA)/server.pem:
	mkdir -p $(RUN_DATA)/queue/archive $(RUN_DATA)/rapi $(RUN_ROOT)/var/run/ganeti \
	  $(RUN_ROOT)/var/log/ganeti $(RUN_ROOT)/var/lock $(RUN_ROOT)/etc/ganeti
	touch $(RUN_ROOT)/etc/hosts
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=ganeti.example.com \
	  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	  -keyout run/server.key -out run/server.crt 2>/dev/null
	cat run/server.key run/server.crt > $@.tmp && chmod 440 $@.tmp && mv $@.tmp $@
	openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout run/client.key -out run/client.csr 2>/dev/null
	openssl x509 -req -in run/client.csr -CA $@ -CAkey $@ -set_serial 2 -days 30 -out run/client.crt 2>/dev/null
	cat run/client.key run/client.crt > run/client.pem
	echo "run-client=$$(openssl x509 -in run/client.crt -noout -fingerprint -sha1 | cut -d= -f2)" \
	  > $(RUN_DATA)/ssconf_master_candidates_certs
	rm -f run/server.key run/server.crt run/client.key run/client.csr run/client.crt

run: build $(RUN_DATA)/server.pem
	@echo "Try: curl --cacert $(RUN_DATA)/server.pem --cert run/client.pem -X POST -d '[]' https://127.0.0.1:$(PORT)/version"
	GANETI_ROOTDIR=$(RUN_ROOT) GANETI_HOSTNAME=$(RUN_HOST) ./$(BIN) -f -d -b 127.0.0.1 -p $(PORT)

test:
	$(GO) vet .
	@test -z "$$(gofmt -l . | grep -v '^testdata/')" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) test -count=1 -timeout 15m .

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRPCBody -fuzztime 60s -fuzzminimizetime 5s .
	$(GO) test -run '^$$' -fuzz FuzzRequestNumbers -fuzztime 20s -fuzzminimizetime 5s .
	$(GO) test -run '^$$' -fuzz FuzzClientCheck -fuzztime 30s -fuzzminimizetime 5s .

e2e: build
	NODED=$(NODED) bash e2e/run.sh

# A three-node cluster: node 1 in namespaces, nodes 2 and 3 in QEMU guests
# with real LVM and DRBD (e2e/cluster/run.sh).
e2e-cluster: build
	NODED=$(NODED) bash e2e/cluster/run.sh

# The DRBD rows need real DRBD: they run in the test bed (scenario
# bench-drbd, about 30 minutes); BENCH_CLUSTER=0 leaves them out.
BENCH_CLUSTER ?= 1
bench: build
	NODED_BENCH=1 $(GO) test -run '^TestBenchReport$$' -count=1 -v -timeout 30m .
	@if [ "$(BENCH_CLUSTER)" != 0 ] && [ "$$(id -u)" != 0 ]; then \
	  echo "DRBD rows left out: the test bed runs as root"; \
	elif [ "$(BENCH_CLUSTER)" != 0 ]; then \
	  RESULTS=$(CURDIR)/e2e/results/bench NODED=go SCENARIOS="node-add bench-drbd" bash e2e/cluster/run.sh && \
	  echo && echo "DRBD (test bed, e2e/results/bench/bench-drbd.txt)" && \
	  cat e2e/results/bench/bench-drbd.txt; \
	fi

clean:
	rm -rf $(BIN) run
