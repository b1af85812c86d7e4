package appspec

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// This file holds Dokku's docker-options:add/remove/clear: docker run
// flags by phase, kept in the app record's DockerOptions, each option
// string as the user gave it (re-quoted), under its phase's key.

// Docker-options phases.
const (
	PhaseDeploy = platform.PhaseDeploy
	PhaseRun    = platform.PhaseRun
	// PhaseBuild's options are the Dockerfile builder's (--build-arg,
	// --target; builder.BuildOptions), not docker run flags.
	PhaseBuild = "build"
)

// ProcessPhase is the key of a process type's deploy options
// (docker-options:add --process TYPE APP deploy ...; Dokku's name).
func ProcessPhase(typ string) string { return PhaseDeploy + "." + typ }

// AddDockerOptions adds an option string (one or more docker run flags)
// to the app's phases. It is split into words and checked against the
// supported flags now, and read the same way at every container start;
// no shell ever sees it.
func (s *Settings) AddDockerOptions(ctx context.Context, app string, phases []string, words []string) (string, error) {
	if err := validPhases(phases); err != nil {
		return "", err
	}
	if err := checkPhaseOptions(phases, words); err != nil {
		return "", err
	}
	opt := joinWords(words)
	return opt, s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		opts := cloneOptions(a.DockerOptions)
		for _, ph := range phases {
			if !slices.Contains(opts[ph], opt) {
				opts[ph] = append(opts[ph], opt)
			}
		}
		a.DockerOptions = opts
		return nil
	})
}

// RemoveDockerOptions removes an option string from the app's phases; it
// must match one that was added.
func (s *Settings) RemoveDockerOptions(ctx context.Context, app string, phases []string, words []string) error {
	if err := validPhases(phases); err != nil {
		return err
	}
	opt := joinWords(words)
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		opts := cloneOptions(a.DockerOptions)
		for _, ph := range phases {
			i := slices.Index(opts[ph], opt)
			if i < 0 {
				return fmt.Errorf("%s has no %s option %q; see docker-options:report %s", app, ph, opt, app)
			}
			opts[ph] = slices.Delete(opts[ph], i, i+1)
			if len(opts[ph]) == 0 {
				delete(opts, ph)
			}
		}
		a.DockerOptions = opts
		return nil
	})
}

// ClearDockerOptions removes every option of the phases (all phases when
// none is given).
func (s *Settings) ClearDockerOptions(ctx context.Context, app string, phases []string) error {
	if err := validPhases(phases); err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		if len(phases) == 0 {
			// Every phase of the app's own scope: a process type's
			// options stay (Dokku's rule; clear them with --process).
			phases = []string{PhaseBuild, PhaseDeploy, PhaseRun}
		}
		opts := cloneOptions(a.DockerOptions)
		for _, ph := range phases {
			delete(opts, ph)
		}
		if len(opts) == 0 {
			opts = nil
		}
		a.DockerOptions = opts
		return nil
	})
}

func validPhases(phases []string) error {
	for _, ph := range phases {
		if typ, ok := strings.CutPrefix(ph, PhaseDeploy+"."); ok {
			if err := platform.ValidProcessType(typ); err != nil || typ == DefaultProcessType {
				return fmt.Errorf("--process %q: give a process type of the app's Procfile (web, worker, ...)", typ)
			}
			continue
		}
		switch ph {
		case PhaseDeploy, PhaseRun, PhaseBuild:
		default:
			return fmt.Errorf("unknown phase %q: use build, deploy, run or a list of them like deploy,run", ph)
		}
	}
	return nil
}

// checkPhaseOptions checks words against what each phase takes: docker
// run flags for deploy and run, the Dockerfile builder's options for
// build. Nothing a phase does not understand is stored.
func checkPhaseOptions(phases, words []string) error {
	for _, ph := range phases {
		var err error
		if ph == PhaseBuild {
			_, err = builder.ParseBuildOptions(words)
		} else {
			_, err = docker.ParseOptions(words)
		}
		if err != nil {
			return fmt.Errorf("%s phase: %w", ph, err)
		}
	}
	return nil
}

func cloneOptions(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// joinWords writes words back as one option string that SplitWords reads
// into the same words.
func joinWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w != "" && !strings.ContainsAny(w, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			out[i] = w
		} else {
			out[i] = platform.ShellQuote(w)
		}
	}
	return strings.Join(out, " ")
}
