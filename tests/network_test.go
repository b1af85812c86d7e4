package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berth-paas/berth/docker"
)

// envEnsureNetwork makes the test binary a racer: it calls EnsureNetwork
// for the network it names at the time envEnsureAt says, and exits.
// With envEnsureOverlay set, it makes sure of that network's overlay
// (EnsureOverlay) instead.
const (
	envEnsureNetwork = "BERTH_TEST_ENSURE_NETWORK"
	envEnsureAt      = "BERTH_TEST_ENSURE_AT"
	envEnsureOverlay = "BERTH_TEST_ENSURE_OVERLAY"
)

func ensureNetworkChild(name string) int {
	ctx := context.Background()
	dc, err := docker.Connect(ctx, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dc.Close()
	dc.SetNetwork(name)
	if at, err := strconv.ParseInt(os.Getenv(envEnsureAt), 10, 64); err == nil {
		if time.Now().UnixNano() > at {
			// Reached the start line after the others may have begun: no race.
			fmt.Printf("late %d\n", time.Now().UnixNano()-at)
		}
		time.Sleep(time.Until(time.Unix(0, at)))
	}
	ensure := dc.EnsureNetwork
	if os.Getenv(envEnsureOverlay) != "" {
		ensure = dc.EnsureOverlay
	}
	fmt.Printf("span %d", time.Now().UnixNano())
	err = ensure(ctx)
	fmt.Printf(" %d\n", time.Now().UnixNano())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// checkRaced fails unless the racers' calls overlapped: each reached the
// start line before the agreed moment, and the last one began before the
// first one ended. Without that the test passes without a race (a
// loaded machine starting the processes late).
func checkRaced(outs [][]byte) error {
	var lastStart, firstEnd int64
	for i, out := range outs {
		var start, end int64
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			if late, ok := strings.CutPrefix(line, "late "); ok {
				return fmt.Errorf("racer %d reached the start line %s ns after the agreed moment: no race; widen the start delay", i, late)
			}
			if _, err := fmt.Sscanf(line, "span %d %d", &start, &end); err == nil {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("racer %d reported no start and end: %s", i, out)
		}
		if i == 0 || start > lastStart {
			lastStart = start
		}
		if i == 0 || end < firstEnd {
			firstEnd = end
		}
	}
	if lastStart >= firstEnd {
		return fmt.Errorf("the racers' calls did not overlap: the last began %s after the first ended", time.Duration(lastStart-firstEnd))
	}
	return nil
}

// cmdEnsureOverlay starts N processes that each make sure of Berth's
// overlay network (berth-overlay) on the script's engine, a swarm
// manager, all at the same moment, as several Berths (or a Berth and an
// admin's script) on a fresh swarm would; each must succeed, and one
// network must be left.
//
//	ensure-overlay N
func cmdEnsureOverlay(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: ensure-overlay N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	at := time.Now().Add(4 * time.Second).UnixNano()
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([][]byte, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "DOCKER_HOST="+ts.Getenv("DOCKER_HOST"), envEnsureNetwork+"=berth", envEnsureOverlay+"=1",
				envEnsureAt+"="+strconv.FormatInt(at, 10))
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			ts.Fatalf("racer %d: %v: %s", i, errs[i], outs[i])
		}
	}
	ts.Check(checkRaced(outs))
}

// networkIDs lists the networks called exactly name.
func networkIDs(t *testing.T, api *client.Client, name string) []string {
	t.Helper()
	res, err := api.NetworkList(context.Background(), client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range res.Items {
		if n.Name == name {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

func engineAPI(t *testing.T) *client.Client {
	t.Helper()
	api, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Ping(context.Background(), client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return api
}

func removeNetworks(t *testing.T, api *client.Client, name string) {
	t.Cleanup(func() {
		for _, id := range networkIDs(t, api, name) {
			api.NetworkRemove(context.Background(), id, client.NetworkRemoveOptions{})
		}
	})
}

// TestEnsureNetworkRace starts many processes that each make sure of a
// network that does not exist yet, all at the same moment, the way several
// Berths start on a fresh engine: there must be one network afterwards, not
// one per racer (Docker 20.10 makes duplicates, after which every container
// start fails with "network ... is ambiguous").
func TestEnsureNetworkRace(t *testing.T) {
	api := engineAPI(t)
	name := fmt.Sprintf("berth-race-%d", os.Getpid())
	removeNetworks(t, api, name)
	const racers = 12
	at := time.Now().Add(3 * time.Second).UnixNano()
	var wg sync.WaitGroup
	errs := make([]error, racers)
	outs := make([][]byte, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), envEnsureNetwork+"="+name, envEnsureAt+"="+strconv.FormatInt(at, 10))
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range racers {
		if errs[i] != nil {
			t.Errorf("racer %d: %v: %s", i, errs[i], outs[i])
		}
	}
	if err := checkRaced(outs); err != nil {
		t.Error(err)
	}
	if ids := networkIDs(t, api, name); len(ids) != 1 {
		t.Fatalf("%d racers made %d networks named %s, want 1: %v", racers, len(ids), name, ids)
	}
}

// TestEnsureNetworkHealsDuplicates starts from the state an old Berth left
// on Docker 20.10: several networks of Berth's name, one of them (not the
// oldest) with a container on it. EnsureNetwork keeps that one and removes
// the empty ones, so containers start again.
func TestEnsureNetworkHealsDuplicates(t *testing.T) {
	ctx := context.Background()
	api := engineAPI(t)
	name := fmt.Sprintf("berth-dup-%d", os.Getpid())
	removeNetworks(t, api, name)
	var made []string
	for range 3 {
		// The client library sends no CheckDuplicate, so an engine older
		// than API 1.44 makes a duplicate as an old Berth did.
		res, err := api.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
		if err != nil {
			if strings.Contains(err.Error(), "already exists") {
				t.Fatalf("this engine (API %s) refuses duplicate network names; the test needs one that does not, such as Docker 20.10: %v", api.ClientVersion(), err)
			}
			t.Fatal(err)
		}
		made = append(made, res.ID)
	}
	used := made[1]
	// A container cannot start on an ambiguous name, not even given the
	// ID: it starts on the default bridge and joins by ID while running.
	c, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: BaseImage, Cmd: []string{"sleep", "600"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}) })
	if _, err := api.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.NetworkConnect(ctx, used, client.NetworkConnectOptions{Container: c.ID}); err != nil {
		t.Fatal(err)
	}

	dc, err := docker.Connect(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	dc.SetNetwork(name)
	if err := dc.EnsureNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := networkIDs(t, api, name); len(ids) != 1 || ids[0] != used {
		t.Fatalf("after EnsureNetwork the networks named %s are %v, want only %s (the one with a container)", name, ids, used)
	}
}

// TestCheckRaced: calls that did not overlap, or a racer that came late,
// fail the race tests instead of passing them without a race.
func TestCheckRaced(t *testing.T) {
	for _, c := range []struct {
		outs []string
		ok   bool
	}{
		{[]string{"span 10 30\n", "span 20 40\n"}, true},
		{[]string{"span 10 20\n", "span 20 40\n"}, false},
		{[]string{"span 30 40\n", "span 10 20\n"}, false},
		{[]string{"late 5\nspan 10 30\n", "span 20 40\n"}, false},
		{[]string{"span 10 30\n", "error\n"}, false},
	} {
		var outs [][]byte
		for _, o := range c.outs {
			outs = append(outs, []byte(o))
		}
		if err := checkRaced(outs); (err == nil) != c.ok {
			t.Errorf("checkRaced(%q) = %v, want ok %v", c.outs, err, c.ok)
		}
	}
}
