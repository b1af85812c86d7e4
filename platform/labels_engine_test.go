package platform_test

import (
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
)

// evilImage carries the labels of blog's current web container.
var evilLabels = map[string]string{
	docker.LabelApp: "blog", docker.LabelProcess: "web", docker.LabelGeneration: "1",
	docker.LabelPort: "5000", docker.LabelIndex: "1", docker.LabelRelease: "1",
}

// A one-off of an image that carries another app's labels (a deploy key's
// run, release or predeploy) is never routed as that app: the engine sets
// every berth.* label on the containers Berth creates.
func TestOneOffOfALabelledImageIsNeverRouted(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	want := b.targets("blog")
	b.engine.AddImage("evil", fakeengine.Image{Port: 5000, Labels: evilLabels})
	id, err := b.engine.Run(b.ctx, docker.RunSpec{Image: "evil", Env: []string{"PORT=5000"}, Labels: map[string]string{docker.LabelOneOff: "attacker"}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := b.engine.Container(id)
	if c.Labels[docker.LabelApp] != "" || c.Labels[docker.LabelOneOff] != "attacker" {
		t.Fatalf("the one-off's labels came from its image: %v", c.Labels)
	}
	if err := b.p.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	for _, target := range b.targets("blog") {
		if strings.HasPrefix(target, c.IP.String()+":") {
			t.Fatalf("the one-off %s is routed as blog (targets %v, want %v)", target, b.targets("blog"), want)
		}
	}
}

// A deploy of an image that sets a berth.* label is refused, naming it,
// and the app's running release keeps serving.
func TestImageWithBerthLabelsIsRefused(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	b.mustDeploy("other", "app:v1")
	before := b.targets("other")
	b.engine.AddImage("evil", fakeengine.Image{Port: 5000, Labels: evilLabels})
	_, err := b.deploy("other", "evil")
	if err == nil || !strings.Contains(err.Error(), `the label berth.app="blog"`) {
		t.Fatalf("deploy of a labelled image: %v, want a refusal naming berth.app", err)
	}
	if got := b.targets("other"); len(got) != 1 || got[0] != before[0] {
		t.Fatalf("other routes to %v after the refused deploy, want %v", got, before)
	}
}
