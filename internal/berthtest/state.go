package berthtest

import (
	"context"
	"os/exec"
	"strings"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/services"
	"github.com/berth-paas/berth/store"
)

// Store is the store Berth opens on stateDir (the Caddyfile's state_dir):
// seeding and clearing state go through it and the platform's and the
// services' own keys, never through file names guessed here, so the
// harness reads and writes what Berth does even when the layout changes.
func Store(stateDir string) store.Store { return &store.Files{Dir: stateDir} }

// SeedApps writes the records of apps into stateDir as Berth saves them,
// before Berth starts on it: the benchmark registers hundreds of apps
// this way without deploying each. Records are platform.App, the type
// Berth reads, so the two cannot drift.
func SeedApps(ctx context.Context, stateDir string, apps ...*platform.App) error {
	s := Store(stateDir)
	for _, a := range apps {
		if err := platform.SaveApp(ctx, s, a); err != nil {
			return err
		}
	}
	return nil
}

// RemoveApp force-removes app's containers (by Berth's label) and its
// images (berth/APP), so a test or benchmark leaves the engine as it
// found it. Errors are ignored: this is clean-up, and what is already
// gone is fine.
func RemoveApp(app string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+docker.LabelApp+"="+app).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
	out, _ = exec.Command("docker", "images", "-q", "berth/"+app).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		exec.Command("docker", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
}

// RemoveAppsOf removes what the Berth on stateDir made: every container
// that carries its instance ID (apps, one-offs, datastores), and the
// images of the apps recorded there. Containers are matched by instance,
// not by app name: another Berth on the same engine (a script running
// beside) may have an app of the same name, and its containers are not
// ours to remove.
func RemoveAppsOf(stateDir string) {
	s := Store(stateDir)
	if doc, ok, _ := platform.ReadInstance(context.Background(), s); ok {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+docker.LabelInstance+"="+doc.ID).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	}
	names, _ := s.List(context.Background(), "apps")
	for _, app := range names {
		out, _ := exec.Command("docker", "images", "-q", "berth/"+app).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rmi", "-f"}, ids...)...).Run()
		}
	}
}

// RemoveServicesOf removes the container and the data volume of every
// datastore service recorded in stateDir.
func RemoveServicesOf(stateDir string) {
	s := Store(stateDir)
	for _, tn := range services.TypeNames {
		t := services.Types[tn]
		names, _ := s.List(context.Background(), "services/"+tn)
		for _, name := range names {
			exec.Command("docker", "rm", "-f", services.ContainerName(t, name)).Run()
			exec.Command("docker", "volume", "rm", "-f", services.VolumeName(t, name)).Run()
		}
	}
}
