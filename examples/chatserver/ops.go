package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mamlogin/mamlogin/intune"
	"github.com/mamlogin/mamlogin/intune/intuneadmin"
	"github.com/mamlogin/mamlogin/intune/intuneprom"
)

// ops is what an operator gets: Prometheus metrics of sign-ins and of the
// key set, and the admin's test page. Both are behind the admin token
// (admin.go): the metrics name error IDs and providers, the page runs the
// doctor with the live configuration and the user store.
type ops struct {
	registry *prometheus.Registry
	metrics  *intuneprom.Metrics
	page     *intuneadmin.Page
}

// newOps registers the metrics on a registry of this server's own (a host
// with other metrics passes its own registerer), with the Go runtime's.
func newOps(s *server) (*ops, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := intuneprom.New(intuneprom.Options{Namespace: "chatserver_intune", Registerer: reg})
	if err != nil {
		return nil, err
	}
	page := &intuneadmin.Page{
		Config:  s.login.Config, // the live configuration
		Status:  s.login.Status, // what sign-in answers (401 for the retry rows, by default)
		Options: []intune.Option{intune.WithUserStore(s.users), intune.WithKeySetLogger(s.log)},
		Title:   "Intune MAM sign-in test (chatserver)",
		Timeout: 15 * time.Second,
		Logger:  s.log,
	}
	return &ops{registry: reg, metrics: m, page: page}, nil
}

// routes mounts /metrics and the test page behind the admin token. The page
// takes HTTP Basic credentials (any user name, the admin token as password)
// so that a browser can open it.
func (o *ops) routes(s *server) {
	s.mux.Handle("GET /metrics", s.admin(promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{}).ServeHTTP))
	s.mux.Handle("/admin/intune/test", s.admin(o.page.ServeHTTP))
}
