package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
)

func TestBuildStoreRecordsAndPrunes(t *testing.T) {
	s := Builds{dir: t.TempDir()}
	for i := 1; i <= platform.KeepBuilds+3; i++ {
		b, err := s.begin(platform.Build{App: "blog", Reason: "push", Source: "commit abc", Started: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if b.b.ID != i {
			t.Fatalf("build %d got id %d", i, b.b.ID)
		}
		running, err := s.get("blog", i)
		if err != nil || running.Status != "running" {
			t.Fatalf("build %d while it runs: %+v, %v", i, running, err)
		}
		client := &strings.Builder{}
		fmt.Fprintf(newTeeLog(client, b, platform.DefaultBuildLogMax, 0), "step of build %d\n", i)
		if client.String() != fmt.Sprintf("step of build %d\n", i) {
			t.Fatalf("the deployer saw %q", client.String())
		}
		var deployErr error
		release := i
		if i%2 == 0 {
			deployErr, release = errors.New("build of blog failed:\nRUN false"), 0
		}
		if err := b.finish(release, deployErr, platform.KeepBuilds); err != nil {
			t.Fatal(err)
		}
	}
	builds, err := s.list("blog")
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != platform.KeepBuilds {
		t.Fatalf("kept %d builds, want %d", len(builds), platform.KeepBuilds)
	}
	if builds[0].ID != platform.KeepBuilds+3 || builds[len(builds)-1].ID != 4 {
		t.Fatalf("builds run from %d to %d, want newest %d first down to 4", builds[0].ID, builds[len(builds)-1].ID, platform.KeepBuilds+3)
	}
	for _, gone := range []string{"1.json", "1.log", "3.log"} {
		if _, err := os.Stat(filepath.Join(s.dir, "blog", gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of a pruned build is still there (%v)", gone, err)
		}
	}
	failed := builds[1] // 22: even
	if failed.Status != "failed" || failed.Release != 0 || !strings.Contains(failed.Error, "RUN false") || failed.Finished.IsZero() {
		t.Fatalf("failed build recorded as %+v", failed)
	}
	ok := builds[0]
	if ok.Status != "succeeded" || ok.Release != ok.ID {
		t.Fatalf("succeeded build recorded as %+v", ok)
	}
	log, err := os.ReadFile(s.logPath("blog", failed.ID))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("step of build %d\n !     build of blog failed:\n !     RUN false\n", failed.ID); string(log) != want {
		t.Fatalf("log of a failed build:\n%s\nwant:\n%s", log, want)
	}
	// A new build after pruning still gets a fresh id.
	b, err := s.begin(platform.Build{App: "blog", Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if b.b.ID != platform.KeepBuilds+4 {
		t.Fatalf("next id %d, want %d", b.b.ID, platform.KeepBuilds+4)
	}
}

func TestBuildStoreFailsInterruptedBuilds(t *testing.T) {
	s := Builds{dir: t.TempDir()}
	b, err := s.begin(platform.Build{App: "blog", Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("Step 1/3\n"))
	b.f.Close() // Berth dies here
	if err := s.FailRunning("blog"); err != nil {
		t.Fatal(err)
	}
	got, err := s.get("blog", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "failed" || !strings.Contains(got.Error, "interrupted") {
		t.Fatalf("interrupted build recorded as %+v", got)
	}
	log, _ := os.ReadFile(s.logPath("blog", 1))
	if !strings.HasSuffix(string(log), "interrupted: Berth stopped during the deploy\n") {
		t.Fatalf("log of an interrupted build: %q", log)
	}
}

func TestBuildStoreWithoutDirKeepsNothing(t *testing.T) {
	s := Builds{}
	b, err := s.begin(platform.Build{App: "blog"})
	if err != nil || b != nil {
		t.Fatalf("begin without a dir: %v, %v", b, err)
	}
	// A nil build log takes writes and finishes quietly.
	if n, err := newTeeLog(&strings.Builder{}, b, platform.DefaultBuildLogMax, 0).Write([]byte("x")); n != 1 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if err := b.finish(1, nil, platform.KeepBuilds); err != nil {
		t.Fatal(err)
	}
	if builds, err := s.list("blog"); err != nil || len(builds) != 0 {
		t.Fatalf("list: %v, %v", builds, err)
	}
}

// A build that prints without end is cut at the cap, in the stored log
// and in what the deployer sees, with a note; the closing line still
// gets through.
func TestBuildLogIsCapped(t *testing.T) {
	s := Builds{dir: t.TempDir()}
	b, err := s.begin(platform.Build{App: "blog", Started: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	client := &strings.Builder{}
	tee := newTeeLog(client, b, 1<<10, 0)
	line := strings.Repeat("x", 99) + "\n"
	for range 1000 {
		fmt.Fprint(tee, line)
	}
	tee.final([]byte("=====> Deployed blog v1\n"))
	if err := b.finish(1, nil, platform.KeepBuilds); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(s.logPath("blog", 1))
	if err != nil {
		t.Fatal(err)
	}
	if string(stored) != client.String() {
		t.Fatalf("the stored log and what the deployer saw differ:\n%q\n%q", stored, client.String())
	}
	if len(stored) > 1<<10+400 {
		t.Fatalf("the stored log has %d bytes, above the cap of 1 KiB and its note", len(stored))
	}
	for _, want := range []string{"passed build_log_max (1KiB)", "the rest is neither shown nor kept", "=====> Deployed blog v1\n"} {
		if !strings.Contains(string(stored), want) {
			t.Fatalf("the stored log lacks %q:\n%s", want, stored)
		}
	}
}

// A record a power cut left empty (or cut short) is listed as damaged,
// and the app's other builds are still listed and readable.
func TestBuildListSkipsADamagedRecord(t *testing.T) {
	s := Builds{dir: t.TempDir()}
	for range 3 {
		b, err := s.begin(platform.Build{App: "blog", Reason: "push", Started: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.finish(b.b.ID, nil, platform.KeepBuilds); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.metaPath("blog", 2), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.metaPath("blog", 3), []byte(`{"id": 3, "app": "bl`), 0o600); err != nil {
		t.Fatal(err)
	}
	builds, err := s.list("blog")
	if err != nil {
		t.Fatalf("a damaged record broke the list: %v", err)
	}
	if len(builds) != 3 || builds[2].Status != "succeeded" || builds[2].ID != 1 {
		t.Fatalf("builds: %+v", builds)
	}
	for _, d := range builds[:2] {
		if d.Status != platform.BuildDamaged || !strings.Contains(d.Error, "damaged") {
			t.Fatalf("a damaged record listed as %+v", d)
		}
	}
	if !strings.Contains(builds[1].Error, "it is empty") {
		t.Fatalf("the empty record: %+v", builds[1])
	}
	// The next build still gets a fresh id.
	b, err := s.begin(platform.Build{App: "blog", Started: time.Now()})
	if err != nil || b.b.ID != 4 {
		t.Fatalf("next build: %v, %v", b, err)
	}
}
