# flowgate. Targets that start Open vSwitch or create namespaces need root.
#
#   make demo    build, then show security groups and NAT on real traffic
#   make test    vet, gofmt check and every test (as root: on real OVS)
#   make build   bin/flowgate
#   make bench   the scale, datapath and many-hosts figures (issues 9, 15); bench-go: Go benchmarks
#   make deps    install the Debian packages the tests and the demo use

GO ?= go
# Test binaries run at once. Each OVS test brings up ovs-vswitchd and
# several namespaces; on a 2-core machine two binaries keep both cores
# busy without starving the daemons.
TEST_PARALLEL ?= 2

DEBIAN_PACKAGES := openvswitch-switch iproute2 ethtool iputils-ping netcat-openbsd \
	iperf3 iptables conntrack tcpdump traceroute

.PHONY: all build deps test vet fmt-check bench bench-go demo clean
all: build

build:
	$(GO) build -o bin/flowgate ./cmd/flowgate

# Quick and silent when everything is installed; apt-get update runs only
# when something is missing.
deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null | grep -qx installed || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: missing$$missing; run as root" >&2; exit 1; fi; \
		echo "make deps: installing$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

vet:
	$(GO) vet ./...

fmt-check:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed:"; echo "$$unformatted"; exit 1; fi

test: deps vet fmt-check
	$(GO) test -count=1 -timeout 25m -p $(TEST_PARALLEL) ./...

# The figures of issue 9 in one run: the scale scenario (compiler, then
# the controller on a private OVS with 1,000 dummy ports) and the
# datapath cost of the worked example beside a plain bridge. Needs root.
bench: deps build
	bin/flowgate bench scale
	bin/flowgate bench datapath -q
	bin/flowgate bench overlay

# The Go micro-benchmarks of every package.
bench-go: deps
	$(GO) test -run '^$$' -bench . ./...

demo: deps build
	bin/flowgate demo

clean:
	rm -rf bin
