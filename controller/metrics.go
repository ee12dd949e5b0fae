package controller

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowgate/flowgate/openflow"
	"github.com/flowgate/flowgate/pipeline"
)

// metrics are the controller's Prometheus metrics, on a registry of their
// own so that several controllers in one process (tests) do not collide.
type metrics struct {
	registry      *prometheus.Registry
	applyDuration prometheus.Histogram
	applies       *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	portsBound    prometheus.Gauge
	portsUnbound  prometheus.Gauge
	rejects       *prometheus.CounterVec
	policyLog     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowgate_apply_duration_seconds",
			Help:    "Time to compile and install one change (compile, diff, one bundle).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowgate_applies_total",
			Help: "Changes put to the switch, by result (applied, pending, refused, cancelled).",
		}, []string{"result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowgate_intent_reloads_total",
			Help: "Reloads of the intent file, by result (applied, unchanged, invalid, refused, pending, unreadable).",
		}, []string{"result"}),
		portsBound: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowgate_ports_bound", Help: "Intent ports with an OVS Interface and an ofport.",
		}),
		portsUnbound: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowgate_ports_unbound", Help: "Intent ports without an OVS Interface (they get no flows).",
		}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowgate_policy_rejects_total",
			Help: "Packets admin policies rejected, by answer (answered: a TCP RST or ICMP unreachable was sent; unanswered: none could be; failed: the packet-out failed).",
		}, []string{"result"}),
		policyLog: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowgate_policy_log_total",
			Help: "New connections decided by admin policy rules with log: true that were logged, by policy, rule and action (the controller meter drops the rest: flowgate_packet_ins_metered_total).",
		}, []string{"policy", "rule", "action"}),
	}
	m.registry.MustRegister(m.applyDuration, m.applies, m.reloads, m.portsBound, m.portsUnbound, m.rejects, m.policyLog)
	return m
}

// watchSession exports the OpenFlow session's counters.
func (m *metrics) watchSession(s *openflow.Session) {
	counter := func(name, help string, read func(openflow.SessionStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(read(s.Stats())) })
	}
	m.registry.MustRegister(
		counter("flowgate_bundles_committed_total", "OpenFlow bundles the switch committed.",
			func(st openflow.SessionStats) uint64 { return st.BundlesCommitted }),
		counter("flowgate_bundles_failed_total", "OpenFlow bundles refused by the switch or lost with the connection.",
			func(st openflow.SessionStats) uint64 { return st.BundlesFailed }),
		counter("flowgate_flow_mods_total", "Flow-mods sent inside bundles.",
			func(st openflow.SessionStats) uint64 { return st.FlowMods }),
		counter("flowgate_packet_ins_dropped_total", "Packet-ins dropped because the controller fell behind.",
			func(st openflow.SessionStats) uint64 { return st.PacketInsDropped }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "flowgate_packet_ins_metered_total",
			Help: "Packet-ins (policy rejects and logs) the bridge's controller meter dropped: over the packet-in rate.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, err := s.ControllerMeterStats(ctx)
			if err != nil {
				return 0
			}
			return float64(st.Dropped)
		}),
		counter("flowgate_openflow_connects_total", "OpenFlow connections established with the bridge.",
			func(st openflow.SessionStats) uint64 { return st.Connects }),
		counter("flowgate_openflow_reconnects_total", "OpenFlow reconnects (connections after the first).",
			func(st openflow.SessionStats) uint64 { return max(st.Connects, 1) - 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flowgate_openflow_connected", Help: "1 while the OpenFlow session is up.",
		}, func() float64 {
			if s.Connected() {
				return 1
			}
			return 0
		}),
	)
}

// flowCollector reads the switch's flow table at scrape time: flows per
// table, and packet/byte counters per security-group rule, summed over the
// flows whose cookie names the rule.
type flowCollector struct {
	c                    *Controller
	perTable, rulePkts   *prometheus.Desc
	ruleBytes, scrapeErr *prometheus.Desc
	svcPkts, svcBytes    *prometheus.Desc
}

func newFlowCollector(c *Controller) *flowCollector {
	return &flowCollector{
		c: c,
		perTable: prometheus.NewDesc("flowgate_flows_installed",
			"Flows installed in the bridge, per pipeline table.", []string{"table", "name"}, nil),
		rulePkts: prometheus.NewDesc("flowgate_rule_packets_total",
			"Packets matched by the flows of a security-group rule.", []string{"group", "rule", "description"}, nil),
		ruleBytes: prometheus.NewDesc("flowgate_rule_bytes_total",
			"Bytes matched by the flows of a security-group rule.", []string{"group", "rule", "description"}, nil),
		svcPkts: prometheus.NewDesc("flowgate_service_packets_total",
			"Packets of a service's connections (backend \"\": all of them, replies included; else what clients sent that backend).",
			[]string{"service", "backend"}, nil),
		svcBytes: prometheus.NewDesc("flowgate_service_bytes_total",
			"Bytes of a service's connections, counted as flowgate_service_packets_total.", []string{"service", "backend"}, nil),
		scrapeErr: prometheus.NewDesc("flowgate_flow_dump_ok",
			"1 if the flow table could be read for this scrape.", nil, nil),
	}
}

func (fc *flowCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fc.perTable
	ch <- fc.rulePkts
	ch <- fc.ruleBytes
	ch <- fc.svcPkts
	ch <- fc.svcBytes
	ch <- fc.scrapeErr
}

func (fc *flowCollector) Collect(ch chan<- prometheus.Metric) {
	fc.c.mu.Lock()
	session := fc.c.session
	fc.c.mu.Unlock()
	cur := fc.c.current.Load()
	if session == nil || cur == nil || !session.Connected() {
		ch <- prometheus.MustNewConstMetric(fc.scrapeErr, prometheus.GaugeValue, 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dumped, stats, err := session.DumpFlows(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(fc.scrapeErr, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(fc.scrapeErr, prometheus.GaugeValue, 1)

	tables := map[uint8]int{}
	for _, f := range dumped {
		tables[f.Table]++
	}
	for t, n := range tables {
		ch <- prometheus.MustNewConstMetric(fc.perTable, prometheus.GaugeValue, float64(n),
			strconv.Itoa(int(t)), pipeline.Table(t).Name())
	}
	for _, r := range cur.namer().RuleTraffic(dumped, stats) {
		if r.Flows == 0 {
			continue // no installed flow: nothing to count yet
		}
		idx := strconv.Itoa(r.Index)
		ch <- prometheus.MustNewConstMetric(fc.rulePkts, prometheus.CounterValue, float64(r.Packets), r.Group, idx, r.Name)
		ch <- prometheus.MustNewConstMetric(fc.ruleBytes, prometheus.CounterValue, float64(r.Bytes), r.Group, idx, r.Name)
	}
	for _, s := range cur.namer().ServiceTraffic(dumped, stats) {
		ch <- prometheus.MustNewConstMetric(fc.svcPkts, prometheus.CounterValue, float64(s.Packets), s.Service, s.Backend)
		ch <- prometheus.MustNewConstMetric(fc.svcBytes, prometheus.CounterValue, float64(s.Bytes), s.Service, s.Backend)
	}
}
