package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/berth-paas/berth/appmetrics"
)

// Metrics is where the dashboard reads an app's traffic: the berth
// handler's counters (package appmetrics). The dashboard asks it only
// for an app whose ps:report the session was allowed to run, so a
// session sees the metrics of the apps its key may see, and no others.
type Metrics interface {
	Series(app string) []appmetrics.Point
	Glance(app string) (appmetrics.Point, bool)
	// Usage is the app's CPU and memory, sampled from Docker.
	Usage(app string) []appmetrics.Usage
}

// Glance thresholds: an app whose requests were answered 5xx this often
// over the last five minutes (and enough of them to tell) is broken now.
const (
	brokenErrorRate = 0.05
	brokenMinErrors = 5
)

// traffic is an app's figures on its pages.
type traffic struct {
	Has                 bool // it was routed a request since Berth started
	Rate, ErrorRate     string
	P50, P95            string
	RateChart, ErrChart template.HTML
	LatencyChart        template.HTML
	// CPU and Memory are the last sample's ("" before the first).
	CPU, Memory        string
	CPUChart, MemChart template.HTML
}

func rateText(perSec float64) string {
	switch {
	case perSec == 0:
		return "0/s"
	case perSec < 1:
		return fmt.Sprintf("%.1f/min", perSec*60)
	case perSec < 100:
		return fmt.Sprintf("%.1f/s", perSec)
	}
	return fmt.Sprintf("%.0f/s", perSec)
}

func percentText(share float64) string {
	if share > 0 && share < .001 {
		return "<0.1%"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", share*100), ".0") + "%"
}

func durationText(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// glance is the apps page's line for an app, and what is broken in it now.
func glance(m Metrics, app string) (traffic, string) {
	if m == nil {
		return traffic{}, ""
	}
	p, ok := m.Glance(app)
	if !ok {
		return traffic{}, ""
	}
	t := traffic{Has: true, Rate: rateText(p.Rate), ErrorRate: percentText(p.ErrorRate),
		P50: durationText(p.P50), P95: durationText(p.P95)}
	if p.Errors >= brokenMinErrors && p.ErrorRate >= brokenErrorRate {
		return t, fmt.Sprintf("%s of requests answered 5xx in the last 5 minutes (%d of %d)", t.ErrorRate, p.Errors, p.Requests)
	}
	return t, ""
}

// appTraffic is the app page's figures and plots over the last hour.
func appTraffic(m Metrics, app string, now time.Time) traffic {
	t, _ := glance(m, app)
	if !t.Has {
		return t
	}
	ps := m.Series(app)
	var rate, errs, p50, p95 []sample
	for _, p := range ps {
		rate = append(rate, sample{p.End, p.Rate})
		errs = append(errs, sample{p.End, p.ErrorRate * 100})
		if p.Requests > 0 {
			p50 = append(p50, sample{p.End, p.P50 * 1000})
			p95 = append(p95, sample{p.End, p.P95 * 1000})
		}
	}
	from := now.Add(-time.Hour)
	t.RateChart = chart("chart-rate", "Requests per second", from, now, "/s", line{"requests", "#1565c0", rate})
	t.ErrChart = chart("chart-errors", "5xx responses, % of requests", from, now, "%", line{"5xx", "#c62828", errs})
	t.LatencyChart = chart("chart-latency", "Latency (ms)", from, now, " ms", line{"p50", "#2e7d32", p50}, line{"p95", "#ef6c00", p95})
	if us := m.Usage(app); len(us) > 0 {
		var cpu, mem []sample
		for _, u := range us {
			cpu = append(cpu, sample{u.At, u.CPU * 100})
			mem = append(mem, sample{u.At, float64(u.Memory) / (1 << 20)})
		}
		last := us[len(us)-1]
		t.CPU = strings.TrimSuffix(fmt.Sprintf("%.1f", last.CPU*100), ".0") + "%"
		t.Memory = fmt.Sprintf("%.1f MiB", float64(last.Memory)/(1<<20))
		t.CPUChart = chart("chart-cpu", "CPU, % of one core", from, now, "%", line{"cpu", "#6a1b9a", cpu})
		t.MemChart = chart("chart-memory", "Memory (MiB)", from, now, " MiB", line{"memory", "#00838f", mem})
	}
	return t
}

type sample struct {
	at time.Time
	v  float64
}

type line struct {
	name, color string
	points      []sample
}

// chart draws lines over [from, to] as an inline SVG: no script, no
// image request (the page's CSP allows neither), and it scales to the
// screen's width. Every value in it is a number or one of the fixed
// strings above, so it is safe HTML.
func chart(id, title string, from, to time.Time, unit string, lines ...line) template.HTML {
	const w, h, left, top, bottom = 400.0, 130.0, 4.0, 18.0, 16.0
	top0 := 0.0
	for _, l := range lines {
		for _, p := range l.points {
			top0 = math.Max(top0, p.v)
		}
	}
	ymax := niceCeil(top0)
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 {
		return left + (w-2*left)*math.Min(1, math.Max(0, t.Sub(from).Seconds()/span))
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart" id="%s"><figcaption>%s`, id, template.HTMLEscapeString(title))
	for _, l := range lines {
		fmt.Fprintf(&b, ` <span style="color:%s">■ %s</span>`, l.color, l.name)
	}
	fmt.Fprintf(&b, `</figcaption><svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s over the last hour">`, w, h, template.HTMLEscapeString(title))
	// Grid: the top value, half of it, and zero.
	for _, f := range []float64{1, .5, 0} {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e0e4e8"/>`, left, w-left, y(ymax*f), y(ymax*f))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="12" font-size="12" fill="#5f6b76">%s%s</text>`, left, trimFloat(ymax), template.HTMLEscapeString(unit))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" fill="#5f6b76">1 h ago</text>`, left, h-3)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" fill="#5f6b76" text-anchor="end">now</text>`, w-left, h-3)
	for _, l := range lines {
		if len(l.points) == 0 {
			continue
		}
		var pts []string
		for _, p := range l.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.at), y(p.v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" vector-effect="non-scaling-stroke" points="%s"/>`, l.color, strings.Join(pts, " "))
		// The last point stands out: it is the interval still running.
		last := l.points[len(l.points)-1]
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(last.at), y(last.v), l.color)
	}
	b.WriteString(`</svg></figure>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for 0), so
// the top gridline reads well.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
