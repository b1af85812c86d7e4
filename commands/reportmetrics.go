package commands

import (
	"fmt"
	"io"
	"time"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/platform"
)

// Metrics is what ps:report and apps:report read of an app's traffic (the
// berth handler's counters) and resource use (the sampler's Docker
// stats): *appmetrics.Set, the figures the dashboard shows.
type Metrics interface {
	// Glance is the traffic over the last five minutes; ok is false for
	// an app that no request has reached since Berth started.
	Glance(app string) (p appmetrics.Point, ok bool)
	// Latest is the last CPU and memory sample, with each running
	// container's; ok is false before the first and once it is stale.
	Latest(app string) (u appmetrics.Usage, ok bool)
}

// What a report says where it has no figure, rather than a made-up 0.
const (
	noSamples        = "no samples yet"
	noRequests       = "no requests yet"
	noRecentRequests = "no requests in the last 5 minutes"
	notRunning       = "not running"
)

// trafficWindow is what Metrics.Glance covers, as the reports name it.
const trafficWindow = "last 5 minutes"

// appFigures are an app's figures in the reports' JSON (the "metrics"
// object): a null figure is one there is no sample of yet.
type appFigures struct {
	Window            string   `json:"window"`
	Requests          *uint64  `json:"requests"`
	RequestsPerSecond *float64 `json:"requests_per_second"`
	Errors5xx         *uint64  `json:"errors_5xx"`
	Error5xxPercent   *float64 `json:"error_5xx_percent"`
	LatencyP50Ms      *float64 `json:"latency_p50_ms"`
	LatencyP95Ms      *float64 `json:"latency_p95_ms"`
	// CPUPercent is of one core, as docker stats shows it (150: one and
	// a half cores busy), summed over the running containers.
	CPUPercent  *float64   `json:"cpu_percent"`
	MemoryBytes *uint64    `json:"memory_bytes"`
	SampledAt   *time.Time `json:"sampled_at"`
	// Containers is each running container's (ps:report only).
	Containers []containerFigures `json:"containers,omitempty"`
}

type containerFigures struct {
	Name        string   `json:"name"`
	CPUPercent  *float64 `json:"cpu_percent"`
	MemoryBytes *uint64  `json:"memory_bytes"`
}

// figuresOf reads app's figures from m (nil: none at all); processes,
// when given, are the containers ps:report lists, whose own figures
// are looked up by name.
func figuresOf(m Metrics, app string, processes []platform.ProcessStatus) appFigures {
	f := appFigures{Window: trafficWindow}
	var usage appmetrics.Usage
	var sampled bool
	if m != nil {
		if p, ok := m.Glance(app); ok {
			f.Requests, f.Errors5xx, f.RequestsPerSecond = &p.Requests, &p.Errors, &p.Rate
			if p.Requests > 0 {
				pct, p50, p95 := p.ErrorRate*100, p.P50*1000, p.P95*1000
				f.Error5xxPercent, f.LatencyP50Ms, f.LatencyP95Ms = &pct, &p50, &p95
			}
		}
		usage, sampled = m.Latest(app)
	}
	if sampled {
		cpu := usage.CPU * 100
		f.CPUPercent, f.MemoryBytes, f.SampledAt = &cpu, &usage.Memory, &usage.At
	}
	for _, ps := range processes {
		c := containerFigures{Name: ps.Name}
		for _, u := range usage.Containers {
			if u.Name == ps.Name && ps.State == "running" {
				cpu, mem := u.CPU*100, u.Memory
				c.CPUPercent, c.MemoryBytes = &cpu, &mem
			}
		}
		f.Containers = append(f.Containers, c)
	}
	return f
}

// trafficLines writes the figures' report lines, each label prefixed
// with prefix ("Ps", "App"): Dokku-style keys (--ps-requests-per-second).
// A figure there is no sample of says so in words.
func (f appFigures) trafficLines(w io.Writer, prefix string) {
	rate, pct, p50, p95 := noRequests, noRequests, noRequests, noRequests
	if f.RequestsPerSecond != nil {
		rate = fmt.Sprintf("%.2f", *f.RequestsPerSecond)
		pct, p50, p95 = noRecentRequests, noRecentRequests, noRecentRequests
	}
	if f.Error5xxPercent != nil {
		pct = fmt.Sprintf("%.1f", *f.Error5xxPercent)
		p50 = fmt.Sprintf("%.2f", *f.LatencyP50Ms)
		p95 = fmt.Sprintf("%.2f", *f.LatencyP95Ms)
	}
	fmt.Fprintf(w, "%s traffic window:\t%s\n", prefix, f.Window)
	fmt.Fprintf(w, "%s requests per second:\t%s\n", prefix, rate)
	fmt.Fprintf(w, "%s 5xx percent:\t%s\n", prefix, pct)
	fmt.Fprintf(w, "%s latency p50 ms:\t%s\n", prefix, p50)
	fmt.Fprintf(w, "%s latency p95 ms:\t%s\n", prefix, p95)
	cpu, mem := noSamples, noSamples
	if f.CPUPercent != nil {
		cpu, mem = percentValue(*f.CPUPercent), mibValue(*f.MemoryBytes)
	}
	fmt.Fprintf(w, "%s cpu percent:\t%s\n", prefix, cpu)
	fmt.Fprintf(w, "%s memory MiB:\t%s\n", prefix, mem)
}

// containerLines writes each container's CPU and memory lines
// (--ps-cpu-percent-web-1, --ps-memory-mib-web-1).
func (f appFigures) containerLines(w io.Writer, processes []platform.ProcessStatus) {
	for i, c := range f.Containers {
		cpu, mem := noSamples, noSamples
		if i < len(processes) && processes[i].State != "running" {
			cpu, mem = notRunning, notRunning
		}
		if c.CPUPercent != nil {
			cpu, mem = percentValue(*c.CPUPercent), mibValue(*c.MemoryBytes)
		}
		label := containerLabel(c.Name, processes, i)
		fmt.Fprintf(w, "Ps cpu percent %s:\t%s\n", label, cpu)
		fmt.Fprintf(w, "Ps memory MiB %s:\t%s\n", label, mem)
	}
}

// containerLabel is how ps:report's Status lines name a container
// (web.1): its type and index, not the APP.web.1 of its Docker name.
func containerLabel(name string, processes []platform.ProcessStatus, i int) string {
	if i < len(processes) && processes[i].Name == name {
		return fmt.Sprintf("%s.%d", processes[i].Type, processes[i].Index)
	}
	return name
}

func percentValue(v float64) string { return fmt.Sprintf("%.1f", v) }
func mibValue(b uint64) string      { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
