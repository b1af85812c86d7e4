package swarm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

func TestARegistrysImageReplacesTheImageID(t *testing.T) {
	in := input()
	in.Image = "registry.example.com/berth/blog@sha256:" + strings.Repeat("a", 64)
	spec, err := serviceSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.TaskTemplate.ContainerSpec.Image; got != in.Image {
		t.Fatalf("image %q, want %q", got, in.Image)
	}
}

type fakeImages struct {
	ref, auth string
	err       error
	got       []any
}

func (f *fakeImages) Publish(_ context.Context, app string, version int, imageID string, gen, running int) (string, string, error) {
	f.got = []any{app, version, imageID, gen, running}
	return f.ref, f.auth, f.err
}

func TestImagePublishesTheReleaseForTheNewGeneration(t *testing.T) {
	f := &fakeImages{ref: "r@sha256:x", auth: "a"}
	s := &Scheduler{images: f}
	a := &platform.App{Name: "blog", Generation: 4}
	img, err := s.image(context.Background(), a, platform.Release{Version: 9, ImageID: testImageID}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if img.ref != "r@sha256:x" || img.auth != "a" {
		t.Fatalf("image %+v", img)
	}
	want := []any{"blog", 9, testImageID, 5, 4}
	for i := range want {
		if f.got[i] != want[i] {
			t.Fatalf("published %v, want %v", f.got, want)
		}
	}
}

func TestAFailedPublishFailsTheRollout(t *testing.T) {
	s := &Scheduler{images: &fakeImages{err: errors.New("x509: unknown authority")}}
	_, err := s.image(context.Background(), &platform.App{Name: "blog"}, platform.Release{Version: 2, ImageID: testImageID}, 1)
	if err == nil || !strings.Contains(err.Error(), "putting v2 of blog into the registry") {
		t.Fatalf("err %v", err)
	}
}

func TestWithoutImagesTheTasksRunTheImageID(t *testing.T) {
	s := &Scheduler{}
	img, err := s.image(context.Background(), &platform.App{Name: "blog"}, platform.Release{Version: 2, ImageID: testImageID}, 1)
	if err != nil || img.ref != "" {
		t.Fatalf("image %+v %v", img, err)
	}
}
