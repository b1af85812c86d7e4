package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// row is one line of the summary table: a measured value against a
// baseline measured in the same run.
type row struct {
	Bench    string
	Measure  string
	Value    string
	Baseline string
	Ratio    string
}

type report struct {
	conditions [][]string // per benchmark: name, start, took, load average at start and end
	rows       []row
	sections   []section
	warnings   []string
}

type section struct {
	title string
	body  string
}

func (r *report) add(bench, measure, value, baseline, ratio string) {
	r.rows = append(r.rows, row{bench, measure, value, baseline, ratio})
}

func (r *report) section(title, body string) {
	r.sections = append(r.sections, section{title, body})
}

func (r *report) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	progress("WARNING: %s", msg)
	r.warnings = append(r.warnings, msg)
}

// table renders rows as a Markdown table.
func table(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func (r *report) summary() string {
	var rows [][]string
	for _, x := range r.rows {
		rows = append(rows, []string{x.Bench, x.Measure, x.Value, x.Baseline, x.Ratio})
	}
	return table([]string{"benchmark", "measure (value vs baseline)", "value", "baseline", "ratio"}, rows)
}

// machine describes this machine from /proc.
type machine struct {
	cores    int
	model    string
	memGiB   float64
	kernel   string
	docker   string
	loadavg0 string
	loadavg1 string
}

func readMachine() machine {
	var m machine
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "processor":
				m.cores++
			case "model name":
				m.model = strings.TrimSpace(v)
			}
		}
	}
	if kb, err := procMeminfoKB("MemTotal"); err == nil {
		m.memGiB = float64(kb) / (1 << 20)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(data))
	}
	if out, err := exec.Command("docker", "version", "-f", "{{.Server.Version}}").Output(); err == nil {
		m.docker = strings.TrimSpace(string(out))
	}
	m.loadavg0 = loadavg()
	return m
}

func loadavg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func procMeminfoKB(field string) (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			_, err := fmt.Sscan(rest, &kb)
			return kb, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/meminfo", field)
}

// render is the generated part of BENCHMARKS.md: the date, the machine,
// the command, the summary table and the details.
func (r *report) render(m machine, command string, started time.Time, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Latest results\n\n")
	fmt.Fprintf(&b, "- date: %s (the run took %s)\n", started.UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	fmt.Fprintf(&b, "- machine: %d cores (%s), %.1f GiB memory, Linux %s, Docker Engine %s, %s\n",
		m.cores, m.model, m.memGiB, m.kernel, m.docker, runtime.Version())
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at start: %s; at end: %s\n", m.loadavg0, m.loadavg1)
	fmt.Fprintf(&b, "- command: `%s`\n\n", command)
	b.WriteString(r.summary())
	if len(r.warnings) > 0 {
		b.WriteString("\nWarnings from this run:\n\n")
		for _, w := range r.warnings {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	for _, s := range r.sections {
		fmt.Fprintf(&b, "\n### %s\n\n%s", s.title, s.body)
	}
	fmt.Fprintf(&b, "\n### Run conditions\n\nThe load average (1, 5, 15 min) from /proc/loadavg when each benchmark began and ended; "+
		"on 2 cores, a 1-minute load well above what the benchmark itself puts on the machine means something else was running too.\n\n%s",
		table([]string{"benchmark", "began (UTC)", "took", "load at start", "load at end"}, r.conditions))
	return b.String()
}

const (
	beginMark = "<!-- bench:begin (written by go run ./bench; edit outside these marks) -->"
	endMark   = "<!-- bench:end -->"
)

// writeBenchmarksMD puts generated between the marks of path, keeping the
// text around them; a file without marks gets them appended.
func writeBenchmarksMD(path, generated string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	block := beginMark + "\n" + generated + "\n" + endMark
	i := strings.Index(text, beginMark)
	j := strings.Index(text, endMark)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + block + text[j+len(endMark):]
	case text == "":
		text = "# Benchmarks\n\nRun them all with `go run ./bench` (see bench/main.go for the flags).\n\n" + block + "\n"
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
