package platform_test

import (
	"io"
	"strings"
	"testing"

	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/platform"
)

func TestDeployEndsWithTheAppsURLs(t *testing.T) {
	b := newBed(t)
	var log strings.Builder
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.d.Deploy(b.ctx, deploy.DeployRequest{App: "blog", Image: "app:v1", Reason: "test", Log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "=====> Application deployed:\n       http://blog.example.test\n") {
		t.Fatalf("without a URL function the fallback is http://HOST; the log:\n%s", log.String())
	}

	b.dom.Resolver().SetURLs(func(host string) (string, bool) {
		if host == "blog.example.test" {
			return "https://" + host + ":8443", true
		}
		return "", false
	})
	if err := b.dom.Change(b.ctx, "blog", "add", []string{"www.blog.test"}); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if _, err := b.d.Deploy(b.ctx, deploy.DeployRequest{App: "blog", Image: "app:v2", Reason: "test", Log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "=====> Application deployed:\n       https://blog.example.test:8443\n       http://www.blog.test\n") {
		t.Fatalf("the URLs are what the function says, and the fallback for a host it does not place; the log:\n%s", log.String())
	}
	list, err := b.p.List(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || strings.Join(list[0].URLs, " ") != "https://blog.example.test:8443 http://www.blog.test" {
		t.Fatalf("apps:list's URLs: %+v", list)
	}
	r, err := b.dom.Report(b.ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.URLs, " ") != strings.Join(list[0].URLs, " ") {
		t.Fatalf("domains:report's URLs %v differ from apps:list's %v", r.URLs, list[0].URLs)
	}
}

func TestListCountsContainersByType(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	list, err := b.p.List(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := platform.FormatProcesses(list[0].Processes); got != "web:2" {
		t.Fatalf("processes %q, want web:2", got)
	}
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	if list, err = b.p.List(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := platform.FormatProcesses(list[0].Processes); got != "0" {
		t.Fatalf("a stopped app's processes %q, want 0", got)
	}
}

func TestFormatProcesses(t *testing.T) {
	for _, c := range []struct {
		in   map[string]int
		want string
	}{
		{nil, "0"},
		{map[string]int{"worker": 1, "web": 2, "clock": 1}, "web:2 clock:1 worker:1"},
		{map[string]int{"worker": 3}, "worker:3"},
	} {
		if got := platform.FormatProcesses(c.in); got != c.want {
			t.Errorf("FormatProcesses(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRenameIsRememberedUntilTheNameIsTakenAgain(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if _, ok := platform.NewRenamer(b.p).RenamedTo(b.ctx, "blog"); ok {
		t.Fatal("an app never renamed has a rename record")
	}
	if err := platform.NewRenamer(b.p).Rename(b.ctx, "blog", "journal", io.Discard); err != nil {
		t.Fatal(err)
	}
	if to, ok := platform.NewRenamer(b.p).RenamedTo(b.ctx, "blog"); !ok || to != "journal" {
		t.Fatalf("RenamedTo(blog) = %q, %v; want journal", to, ok)
	}
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if to, ok := platform.NewRenamer(b.p).RenamedTo(b.ctx, "blog"); ok {
		t.Fatalf("a new app blog still reads as renamed to %q", to)
	}
}
