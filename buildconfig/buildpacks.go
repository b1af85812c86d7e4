package buildconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Buildpacks settings (Dokku's buildpacks plugin): an app's buildpack
// list (App.Buildpacks), handed to the buildpack builders in order, and
// the stack, the image the buildpack builders build in (the CNB builder
// image for pack), per app (App.BuildpacksStack) or global.

// buildpacksKey is the store document of the global buildpacks settings,
// apart from the global settings document so that it has one writer.
const buildpacksKey = "settings/buildpacks"

type buildpacksGlobal struct {
	Stack string `json:"stack,omitempty"`
}

func loadBuildpacksGlobal(ctx context.Context, s store.Store) (buildpacksGlobal, error) {
	var g buildpacksGlobal
	err := store.GetJSON(ctx, s, buildpacksKey, &g, "global buildpacks settings")
	return g, err
}

// BuildpacksReport is buildpacks:report's content.
type BuildpacksReport struct {
	App string `json:"app,omitempty"`
	// List is the app's buildpacks, in order.
	List []string `json:"list"`
	// Stack is the app's own stack, GlobalStack the global one, and
	// ComputedStack the one its next build uses ("" is the builder's
	// default).
	Stack         string `json:"stack"`
	GlobalStack   string `json:"global_stack"`
	ComputedStack string `json:"computed_stack"`
}

// BuildpacksInfo reports an app's buildpacks settings; app "" reports the
// global ones.
func (s *Settings) BuildpacksInfo(ctx context.Context, app string) (BuildpacksReport, error) {
	g, err := loadBuildpacksGlobal(ctx, s.store)
	if err != nil {
		return BuildpacksReport{}, err
	}
	r := BuildpacksReport{App: app, List: []string{}, GlobalStack: g.Stack, ComputedStack: g.Stack}
	if app == "" {
		return r, nil
	}
	a, err := s.apps.App(ctx, app)
	if err != nil {
		return BuildpacksReport{}, err
	}
	if a.Buildpacks != nil {
		r.List = slices.Clone(a.Buildpacks)
	}
	r.Stack = a.BuildpacksStack
	if a.BuildpacksStack != "" {
		r.ComputedStack = a.BuildpacksStack
	}
	return r, nil
}

// ChangeBuildpacks changes an app's buildpack list, as Dokku's commands
// do: "add" inserts url at index (1-based; 0 appends), "set" replaces the
// buildpack at index (0: the first) or appends to an empty list, "remove"
// takes url out, "clear" empties the list. It applies from the next build.
func (s *Settings) ChangeBuildpacks(ctx context.Context, app, action, url string, index int) error {
	if action != "clear" {
		if err := validBuildpack(url); err != nil {
			return err
		}
	}
	if index < 0 {
		return fmt.Errorf("--index must be 1 or more, not %d", index)
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		list, err := changeList(a.Buildpacks, app, action, url, index)
		if err != nil {
			return err
		}
		a.Buildpacks = list
		return nil
	})
}

// changeList is ChangeBuildpacks' change of the list; nil for an empty
// one.
func changeList(list []string, app, action, url string, index int) ([]string, error) {
	switch action {
	case "add":
		if slices.Contains(list, url) {
			return nil, fmt.Errorf("%s is already among the buildpacks of %s (buildpacks:list %s)", url, app, app)
		}
		if index == 0 || index > len(list) {
			list = append(list, url)
		} else {
			list = slices.Insert(list, index-1, url)
		}
	case "set":
		i := max(index, 1) - 1
		if i >= len(list) {
			if slices.Contains(list, url) {
				return nil, fmt.Errorf("%s is already among the buildpacks of %s (buildpacks:list %s)", url, app, app)
			}
			list = append(list, url)
		} else {
			list[i] = url
			list = slices.Compact(list)
		}
	case "remove":
		if !slices.Contains(list, url) {
			return nil, fmt.Errorf("%s is not among the buildpacks of %s (buildpacks:list %s)", url, app, app)
		}
		list = slices.DeleteFunc(list, func(b string) bool { return b == url })
	case "clear":
		list = nil
	default:
		return nil, fmt.Errorf("unknown buildpacks action %q", action)
	}
	if len(list) == 0 {
		list = nil
	}
	return list, nil
}

// validBuildpack checks a buildpack reference's form: a URL, an ID or a
// path, one word without control characters. Whether the builder can use
// it is the builder's to say, at the next build.
func validBuildpack(b string) error {
	if b == "" {
		return errors.New("name a buildpack (a URL, or a CNB buildpack ID such as heroku/nodejs)")
	}
	if len(b) > 512 || strings.ContainsFunc(b, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%q is not a buildpack: a buildpack is a URL or an ID, one word of at most 512 characters", b)
	}
	return nil
}

// SetBuildpacksProperty sets (or, with value "", clears) a buildpacks
// property of an app, or the global one when app is "". The one property
// is "stack": the image buildpack builds run in. The command is for admin
// keys only (the stack runs as root with the engine's socket); the
// command table says so.
func (s *Settings) SetBuildpacksProperty(ctx context.Context, app, key, value string) error {
	if key != "stack" {
		return fmt.Errorf("unknown buildpacks property %q; the property is stack", key)
	}
	if value != "" {
		if err := platform.ValidImageRef(value); err != nil {
			return err
		}
	}
	if app == "" {
		unlock, err := s.apps.LockGlobal("a global buildpacks change")
		if err != nil {
			return err
		}
		defer unlock()
		g, err := loadBuildpacksGlobal(ctx, s.store)
		if err != nil {
			return err
		}
		g.Stack = value
		doc, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			return err
		}
		return s.store.Put(ctx, buildpacksKey, doc)
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error { a.BuildpacksStack = value; return nil })
}
