package deploy

import (
	"testing"

	"github.com/berth-paas/berth/platform"
)

// ps:report's status follows what Docker does with the processes.
func TestReportStatus(t *testing.T) {
	deployed := &platform.App{Current: 1, Formation: map[string]int{"web": 2}}
	ps := func(states ...string) []platform.ProcessStatus {
		var out []platform.ProcessStatus
		for i, s := range states {
			out = append(out, platform.ProcessStatus{Type: "web", Index: i + 1, State: s})
		}
		return out
	}
	for _, tc := range []struct {
		a    *platform.App
		ps   []platform.ProcessStatus
		want string
	}{
		{&platform.App{}, nil, "not deployed"},
		{&platform.App{Current: 1, Stopped: true}, ps("stopped"), "stopped"},
		{deployed, ps("running", "running"), "running"},
		{deployed, ps("running", "restarting"), "running (web.2 restarting)"},
		{deployed, ps("restarting", "restarting"), "restarting (crash loop: web.1 restarting, web.2 restarting)"},
		{deployed, ps("running", "failed"), "failed (web.2 failed)"},
		{deployed, ps("exited", "missing"), "down (web.1 exited, web.2 missing, no container runs)"},
		{&platform.App{Current: 1, Formation: map[string]int{"web": 0}}, nil, "scaled to zero"},
	} {
		if got := reportStatus(tc.a, tc.ps); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.ps, got, tc.want)
		}
	}
}
