package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-paas/berth/store"
)

// App is an app's persistent record: one document in the store.
type App struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// DeployBranch is the branch whose pushes deploy. It is set by the
	// first push of main or master; pushes to other branches are stored
	// in the repository and not deployed.
	DeployBranch string `json:"deploy_branch,omitempty"`
	// Releases are the app's successful deploys, oldest first.
	Releases []Release `json:"releases,omitempty"`
	// Current is the Version of the release that serves, 0 for none.
	Current int `json:"current,omitempty"`
}

// Release is one deployable version of an app: an image and how to run it.
type Release struct {
	Version   int       `json:"version"`
	Image     string    `json:"image"`
	ImageID   string    `json:"image_id"`
	Port      int       `json:"port"`
	GitRev    string    `json:"git_rev,omitempty"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

// CurrentRelease returns the serving release, or false when none serves.
func (a *App) CurrentRelease() (Release, bool) {
	for _, r := range a.Releases {
		if r.Version == a.Current {
			return r, true
		}
	}
	return Release{}, false
}

// NextVersion is the version number the next release gets.
func (a *App) NextVersion() int {
	v := 0
	for _, r := range a.Releases {
		v = max(v, r.Version)
	}
	return v + 1
}

// ErrAppNotFound is returned for an app that does not exist.
var ErrAppNotFound = errors.New("app not found")

func appKey(name string) string { return "apps/" + name }

func loadApp(ctx context.Context, s store.Store, name string) (*App, error) {
	doc, err := s.Get(ctx, appKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("app %q does not exist (create it with apps:create %s, or push to it): %w", name, name, ErrAppNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read app %s: %w", name, err)
	}
	var a App
	if err := json.Unmarshal(doc, &a); err != nil {
		return nil, fmt.Errorf("app %s: its record is not valid JSON: %w", name, err)
	}
	return &a, nil
}

func saveApp(ctx context.Context, s store.Store, a *App) error {
	doc, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := s.Put(ctx, appKey(a.Name), doc); err != nil {
		return fmt.Errorf("save app %s: %w", a.Name, err)
	}
	return nil
}
