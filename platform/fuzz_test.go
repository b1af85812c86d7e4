package platform

// Fuzz targets for the parsers a user's input reaches in this package:
// the Procfile and app.json of a push, ps:scale's TYPE=N,
// resource:limit/reserve values (domains:*'s are in domains/fuzz_test.go,
// tls:set's and certs:add's in certs/fuzz_test.go). tests/fuzz.sh runs each one for a few seconds.

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseProcfile: a Procfile either parses whole or is refused with
// nothing; what parses holds valid types and one-line commands, and
// writing it out again reads back the same.
func FuzzParseProcfile(f *testing.F) {
	for _, s := range []string{
		"web: bin/web --port $PORT\nworker: bin/worker\n",
		"# comment\n\nrelease: bin/migrate\n",
		"web bin/web", "Web: x", "web: a\nweb: b", "web:", "a-b_c: x: y\r\n",
		"web: " + strings.Repeat("x", 70000) + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		procs, err := ParseProcfile(data)
		if err != nil {
			if procs != nil {
				t.Fatalf("refused (%v) but returned %q", err, procs)
			}
			return
		}
		var out strings.Builder
		for _, typ := range sortedKeys(procs) {
			cmd := procs[typ]
			if !processTypePattern.MatchString(typ) {
				t.Fatalf("accepted process type %q", typ)
			}
			if cmd == "" || strings.ContainsAny(cmd, "\n\r") || strings.TrimSpace(cmd) != cmd {
				t.Fatalf("type %s: accepted command %q", typ, cmd)
			}
			fmt.Fprintf(&out, "%s: %s\n", typ, cmd)
		}
		again, err := ParseProcfile([]byte(out.String()))
		if err != nil || !maps.Equal(again, procs) {
			t.Fatalf("%q reads back as %q, %v; want %q", out.String(), again, err, procs)
		}
		for _, typ := range processTypes(procs) {
			if typ == ReleaseProcess {
				t.Fatalf("release is a process type in %q", procs)
			}
		}
	})
}

// FuzzParseAppJSON: an accepted app.json holds only what Berth can act on
// (no negative quantities, known check types, no command checks, numbers
// that fit their unit and a port that exists), and reads back the same
// after Berth writes it out.
func FuzzParseAppJSON(f *testing.F) {
	for _, s := range []string{
		`{"formation": {"web": {"quantity": 2}, "worker": {"quantity": 0}}}`,
		`{"scripts": {"dokku": {"predeploy": "bin/migrate", "postdeploy": "echo done"}}}`,
		`{"healthchecks": {"web": [{"type": "startup", "path": "/health", "port": 8080, "attempts": 3, "timeout": 2, "wait": 1, "initialDelay": 1, "content": "ok"}, {"uptime": 10}]}}`,
		`{"healthchecks": {"web": [{"type": "sometimes"}]}}`,
		`{"healthchecks": {"web": [{"command": ["true"]}]}}`,
		`{"formation": {"web": {"quantity": -1}}}`,
		`{"healthchecks": {"web": [{"timeout": 10000000000}]}}`,
		`{"healthchecks": {"web": [{"port": 70000}]}}`,
		`{"cron": [{"command": "x", "schedule": "@daily"}]}`,
		`null`, `[]`, `{not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAppJSON(data)
		if err != nil {
			if a != nil {
				t.Fatalf("refused (%v) but returned %+v", err, a)
			}
			return
		}
		for typ, fe := range a.Formation {
			if fe.Quantity != nil && *fe.Quantity < 0 {
				t.Fatalf("formation %s: quantity %d accepted", typ, *fe.Quantity)
			}
		}
		for typ, checks := range a.Healthchecks {
			for i, c := range checks {
				if !slices.Contains([]string{"", "startup", "readiness", "liveness"}, c.Type) || len(c.Command) > 0 {
					t.Fatalf("healthchecks.%s[%d]: accepted %+v", typ, i, c)
				}
				if c.Port < 0 || c.Port > 65535 {
					t.Fatalf("healthchecks.%s[%d]: accepted port %d", typ, i, c.Port)
				}
				if c.TimeoutDuration() <= 0 || c.WaitDuration() <= 0 || c.AttemptCount() <= 0 {
					t.Fatalf("healthchecks.%s[%d]: %+v gives timeout %s, wait %s, %d attempts", typ, i, c, c.TimeoutDuration(), c.WaitDuration(), c.AttemptCount())
				}
				for _, secs := range []int{c.InitialDelay, c.Uptime, c.Timeout, c.Wait, c.Attempts} {
					if secs < 0 || time.Duration(secs)*time.Second < 0 {
						t.Fatalf("healthchecks.%s[%d]: accepted %+v", typ, i, c)
					}
				}
			}
		}
		out, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseAppJSON(out)
		if err != nil || !reflect.DeepEqual(normalAppJSON(again), normalAppJSON(a)) {
			t.Fatalf("%s reads back as %+v, %v; want %+v", out, again, err, a)
		}
	})
}

// normalAppJSON drops the difference between an empty and a missing map
// or list, which JSON's omitempty does not keep.
func normalAppJSON(a *AppJSON) AppJSON {
	n := *a
	if len(n.Formation) == 0 {
		n.Formation = nil
	}
	if len(n.Healthchecks) == 0 {
		n.Healthchecks = nil
	}
	n.Healthchecks = maps.Clone(n.Healthchecks)
	for k, v := range n.Healthchecks {
		if len(v) == 0 {
			n.Healthchecks[k] = nil
			continue
		}
		v = slices.Clone(v)
		for i := range v {
			if len(v[i].Command) == 0 {
				v[i].Command = nil
			}
		}
		n.Healthchecks[k] = v
	}
	return n
}

// FuzzParseScale: ps:scale's TYPE=N arguments (over SSH, or built by the
// admin API) give valid types and counts from 0 up, or are refused whole.
// The upper bound (max_scale) is Scale's, from the Caddyfile, not the
// parser's.
func FuzzParseScale(f *testing.F) {
	f.Add("web=2 worker=0")
	f.Add("web=101")
	f.Add("web=-1 x=1")
	f.Add("Web=1")
	f.Add("web=+3")
	f.Add("=1")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		got, err := ParseScale(args)
		if err != nil {
			if got != nil {
				t.Fatalf("%q refused (%v) but gave %v", args, err, got)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("%q scales nothing", args)
		}
		var out []string
		for typ, n := range got {
			if ValidProcessType(typ) != nil || n < 0 {
				t.Fatalf("%q gave %s=%d", args, typ, n)
			}
			out = append(out, fmt.Sprintf("%s=%d", typ, n))
		}
		if again, err := ParseScale(out); err != nil || !maps.Equal(again, got) {
			t.Fatalf("%q reads back as %v, %v; want %v", out, again, err, got)
		}
	})
}

// FuzzReleaseAndSources: rollback's version and git:from-image's
// reference; none that passes can be read as a flag by Docker. (git:sync's
// URL is package repo's FuzzValidRemote.)
func FuzzReleaseAndSources(f *testing.F) {
	for _, s := range []string{"v3", "3", "v0", "-1", "v+2", "https://example.test/r.git", "/srv/repo", "git@host:r.git", "--upload-pack=x", "ext::sh -c x", "nginx:1.27", "-x", "registry.test/a/b@sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseVersion(s); err == nil && n <= 0 {
			t.Fatalf("ParseVersion(%q) = %d", s, n)
		} else if err == nil {
			if again, err := ParseVersion(fmt.Sprintf("v%d", n)); err != nil || again != n {
				t.Fatalf("v%d reads back as %d, %v", n, again, err)
			}
		}
		if validImageRef(s) == nil && (strings.HasPrefix(s, "-") || strings.ContainsAny(s, " \t\n") || len(s) > 512) {
			t.Fatalf("image %q accepted", s)
		}
	})
}
