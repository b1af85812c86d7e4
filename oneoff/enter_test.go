package oneoff

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeprocs"
	"github.com/berth-paas/berth/platform"
)

// remoteRunner is newRunner whose app blog another scheduler runs (a
// swarm app): enter asks that scheduler which container to exec in.
// The task's container is one of the engine's without Berth's app
// labels; its ID is returned.
func remoteRunner(t *testing.T, procs *fakeprocs.Processes) (*Runner, string) {
	t.Helper()
	r, engine, _ := newRunner(t, platform.Release{}, "blog")
	task, err := engine.Run(context.Background(), docker.RunSpec{Image: image, Name: "blog_web_1.2.x"})
	if err != nil {
		t.Fatal(err)
	}
	// A docker-local container of the app's generation (left by a move
	// between schedulers) is not what enter reaches.
	if _, err := engine.Run(context.Background(), docker.RunSpec{Image: image, Name: "blog.web.1", Labels: map[string]string{
		docker.LabelApp: "blog", docker.LabelProcess: "web", docker.LabelIndex: "1", docker.LabelGeneration: "1",
	}}); err != nil {
		t.Fatal(err)
	}
	r.sched = &fakeprocs.Scheduler{Remote: map[string]bool{"blog": true}, Processes: procs}
	return r, task
}

func TestEnterExecsInTheContainerAnotherSchedulerNames(t *testing.T) {
	procs := &fakeprocs.Processes{}
	r, task := remoteRunner(t, procs)
	procs.Target = platform.ExecTarget{Container: task}
	if _, err := r.Enter(context.Background(), "blog", "web.2", []string{"ls", "/"}, docker.Streams{}); err != nil {
		t.Fatal(err)
	}
	if got := procs.Calls(); !slices.Equal(got, []string{"enter web.2"}) {
		t.Fatalf("asked %v", got)
	}
	engine := r.engine.(interface{ Calls() []string })
	if !slices.Contains(engine.Calls(), "Exec "+task+" ls /") {
		t.Fatalf("engine calls %v", engine.Calls())
	}
}

// nodeEngine is another node's engine: it notes the execs it runs.
type nodeEngine struct{ calls []string }

func (n *nodeEngine) ExecAttached(_ context.Context, id string, cmd, _ []string, _ docker.Streams) (int, error) {
	n.calls = append(n.calls, "Exec "+id+" "+strings.Join(cmd, " "))
	return 3, nil
}

func TestEnterExecsOnTheEngineAnotherSchedulerNames(t *testing.T) {
	// A task of another node: the exec goes to that node's engine, not
	// to Berth's (which has no such container).
	node := &nodeEngine{}
	r, _ := remoteRunner(t, &fakeprocs.Processes{Target: platform.ExecTarget{Container: "c0ffee", Engine: node}})
	code, err := r.Enter(context.Background(), "blog", "web.2", []string{"ls", "/"}, docker.Streams{})
	if err != nil || code != 3 {
		t.Fatalf("code %d, err %v; want the node's exit code 3", code, err)
	}
	if !slices.Equal(node.calls, []string{"Exec c0ffee ls /"}) {
		t.Fatalf("node engine calls %v", node.calls)
	}
	for _, c := range r.engine.(interface{ Calls() []string }).Calls() {
		if strings.HasPrefix(c, "Exec ") {
			t.Fatalf("exec'd on Berth's engine: %s", c)
		}
	}
}

func TestEnterOfATaskElsewhereSaysWhereAndExecsNothing(t *testing.T) {
	elsewhere := errors.New("web.1 of blog runs on the swarm node worker-1 (10.0.0.2), not on the Berth server")
	r, _ := remoteRunner(t, &fakeprocs.Processes{TargetErr: elsewhere})
	if _, err := r.Enter(context.Background(), "blog", "", nil, docker.Streams{}); !errors.Is(err, elsewhere) {
		t.Fatalf("err %v", err)
	}
	for _, c := range r.engine.(interface{ Calls() []string }).Calls() {
		if strings.HasPrefix(c, "Exec ") {
			t.Fatalf("exec'd: %s", c)
		}
	}
}
