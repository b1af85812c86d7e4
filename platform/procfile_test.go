package platform

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseProcfile(t *testing.T) {
	procs, err := ParseProcfile([]byte("# comment\nweb: bin/web --port $PORT\n\nworker:   bin/worker: with colon\nrelease: bin/migrate\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"web": "bin/web --port $PORT", "worker": "bin/worker: with colon", "release": "bin/migrate"}
	if !maps.Equal(procs, want) {
		t.Fatalf("got %v", procs)
	}
	if got := processTypes(procs); !slices.Equal(got, []string{"web", "worker"}) {
		t.Fatalf("process types %v; release is not one", got)
	}
}

func TestParseProcfileErrorsNameTheLine(t *testing.T) {
	for _, bad := range []string{"web bin/web", "Web: x", "web:", "web: a\nweb: b"} {
		_, err := ParseProcfile([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), "Procfile line") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNoProcfileRunsOneWeb(t *testing.T) {
	if got := processTypes(nil); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("got %v", got)
	}
}

func TestFirstDeployRunsWebOnly(t *testing.T) {
	got := NextFormation(nil, []string{"web", "worker", "clock"}, nil)
	if !maps.Equal(got, map[string]int{"web": 1, "worker": 0, "clock": 0}) {
		t.Fatalf("got %v", got)
	}
}

func TestAppJSONFormationSetsNewTypes(t *testing.T) {
	a, err := ParseAppJSON([]byte(`{"formation": {"web": {"quantity": 2}, "worker": {"quantity": 1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := NextFormation(nil, []string{"web", "worker"}, a)
	if !maps.Equal(got, map[string]int{"web": 2, "worker": 1}) {
		t.Fatalf("got %v", got)
	}
}

func TestScaledTypesKeepTheirQuantity(t *testing.T) {
	a, _ := ParseAppJSON([]byte(`{"formation": {"web": {"quantity": 2}}}`))
	got := NextFormation(map[string]int{"web": 3, "old": 1}, []string{"web", "worker"}, a)
	if !maps.Equal(got, map[string]int{"web": 3, "worker": 0}) {
		t.Fatalf("got %v; want scaled web kept, new worker at 0, dropped type gone", got)
	}
}

func TestParseAppJSONRejects(t *testing.T) {
	for _, bad := range []string{
		`{"healthchecks": {"web": [{"type": "sometimes"}]}}`,
		`{"healthchecks": {"web": [{"command": ["true"]}]}}`,
		`{"formation": {"web": {"quantity": -1}}}`,
		`{not json`,
	} {
		if _, err := ParseAppJSON([]byte(bad)); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

func TestDeployChecksLeaveOutLiveness(t *testing.T) {
	a, _ := ParseAppJSON([]byte(`{"healthchecks": {"web": [{"type": "liveness", "path": "/l"}, {"type": "startup", "path": "/s"}, {"path": "/d"}]}}`))
	var paths []string
	for _, c := range a.DeployChecks("web") {
		paths = append(paths, c.Path)
	}
	if !slices.Equal(paths, []string{"/s", "/d"}) {
		t.Fatalf("got %v", paths)
	}
	if (*AppJSON)(nil).DeployChecks("web") != nil {
		t.Fatal("no app.json must mean no checks")
	}
}

func TestCheckDefaults(t *testing.T) {
	var h Healthcheck
	if h.AttemptCount() != 5 || h.TimeoutDuration().Seconds() != 5 || h.WaitDuration().Seconds() != 5 {
		t.Fatalf("defaults: %d attempts, %s timeout, %s wait", h.AttemptCount(), h.TimeoutDuration(), h.WaitDuration())
	}
}
