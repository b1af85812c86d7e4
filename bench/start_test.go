package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/berthtest"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// BenchmarkStart times what Berth does before Caddy serves, with N apps
// each running one web container, on the in-memory engine
// (internal/fakeengine): the platform's start as caddymodule's newCore
// runs it (global domains, then Start: removeInterrupted and the first
// reconcile), until every app is routed. It is Berth's own share of a
// start; the scale benchmark (go run ./bench -run scale) measures the
// whole with a real dockerd, which fits ~250-500 running containers on
// the bench machine, not 5,000. `go test -run '^$' -bench Start -benchtime 3x ./bench`.
func BenchmarkStart(b *testing.B) {
	for _, apps := range []int{10, 500, 5000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			st := &store.Files{Dir: dir}
			if err := platform.SaveInstance(ctx, st, platform.Instance{ID: "bench", Created: time.Now().UTC()}); err != nil {
				b.Fatal(err)
			}
			engine := fakeengine.New()
			b.Cleanup(engine.Close)
			engine.SetInstance("bench", nil)
			engine.AddImage("app:v1", fakeengine.Image{Port: 5000})
			now := time.Now().UTC()
			for i := range apps {
				name := fmt.Sprintf("app-%04d", i)
				rec := &platform.App{Name: name, CreatedAt: now, DeployBranch: "main", Current: 1, Generation: 1,
					Formation: map[string]int{"web": 1},
					Releases:  []platform.Release{{Version: 1, Image: "app:v1", ImageID: "sha256:app", Port: 5000, CreatedAt: now}}}
				if err := berthtest.SeedApps(ctx, dir, rec); err != nil {
					b.Fatal(err)
				}
				if _, err := engine.Run(ctx, docker.RunSpec{Name: name + ".web.1", Image: "app:v1", Env: []string{"PORT=5000"}, Labels: map[string]string{
					docker.LabelApp: name, docker.LabelProcess: "web", docker.LabelIndex: "1", docker.LabelGeneration: "1",
					docker.LabelRelease: "1", docker.LabelPort: "5000",
				}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				table, hosts := routing.New(), domains.NewResolver()
				p := platform.New(platform.Config{Hosts: hosts, Store: st, Engine: engine, Table: table,
					ReposDir: dir + "/repos", Builds: deploy.NewBuilds(dir + "/builds")})
				d := domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts})
				if err := d.SetGlobalDomains(ctx, []string{"example.test"}); err != nil {
					b.Fatal(err)
				}
				if err := p.Start(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				routed := 0
				for _, r := range table.Apps() {
					if len(r.Targets) == 1 {
						routed++
					}
				}
				p.Close()
				if routed != apps {
					b.Fatalf("%d of %d apps routed after Start", routed, apps)
				}
				b.StartTimer()
			}
		})
	}
}
