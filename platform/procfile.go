package platform

import (
	"bufio"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var processTypePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// ValidProcessType refuses what cannot be a Procfile's process type.
func ValidProcessType(typ string) error {
	if !processTypePattern.MatchString(typ) {
		return fmt.Errorf("%q is not a process type", typ)
	}
	return nil
}

// Types are the process types rel runs: web first, then the others
// sorted; web alone when it has no Procfile.
func (r Release) Types() []string { return processTypes(r.Processes) }

// ReleaseProcess is the Procfile entry Heroku and Dokku run once per
// release, before the new containers start; it is not a process type.
const ReleaseProcess = "release"

// ParseProcfile reads a Procfile: one "type: command" per line, blank
// lines and # comments skipped. Types are lowercase letters, digits, dashes
// and underscores.
func ParseProcfile(data []byte) (map[string]string, error) {
	procs := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		// bufio drops a line's final CR only: one inside a line is a
		// Procfile with old Mac line endings, which would read as one
		// process running the rest of the file.
		if strings.ContainsRune(text, '\r') {
			return nil, fmt.Errorf("Procfile line %d: a carriage return inside the line; save the Procfile with LF (or CRLF) line endings", line)
		}
		name, cmd, ok := strings.Cut(text, ":")
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		if !ok || cmd == "" {
			return nil, fmt.Errorf("Procfile line %d: want \"type: command\", got %q", line, text)
		}
		if !processTypePattern.MatchString(name) {
			return nil, fmt.Errorf("Procfile line %d: process type %q must be lowercase letters, digits, dashes and underscores", line, name)
		}
		if _, dup := procs[name]; dup {
			return nil, fmt.Errorf("Procfile line %d: process type %q is defined twice", line, name)
		}
		procs[name] = cmd
	}
	if err := sc.Err(); err != nil {
		// A line over bufio's 64 KiB: refuse the whole Procfile rather
		// than return the types read so far.
		return nil, fmt.Errorf("Procfile line %d: %v; a line may be at most 64 KiB", line+1, err)
	}
	return procs, nil
}

// processTypes returns the types a release runs, web first: the Procfile's
// types but release, or just web (the image's CMD) without a Procfile.
func processTypes(procfile map[string]string) []string {
	if len(procfile) == 0 {
		return []string{"web"}
	}
	var types []string
	if _, ok := procfile["web"]; ok {
		types = append(types, "web")
	}
	for _, t := range sortedKeys(procfile) {
		if t != "web" && t != ReleaseProcess {
			types = append(types, t)
		}
	}
	return types
}

// typesToRun are the process types a release runs: its Procfile's or, for
// an image without a Procfile (nor a builder's process types), web and
// every other type ps:scale named, each running the image's command: the
// rule Dokku follows for Dockerfile and image deploys.
func TypesToRun(rel Release, formation map[string]int) []string {
	types := processTypes(rel.Processes)
	if len(rel.Processes) > 0 || len(rel.Launch) > 0 {
		return types
	}
	for _, t := range sortedKeys(formation) {
		if !slices.Contains(types, t) && t != ReleaseProcess {
			types = append(types, t)
		}
	}
	return types
}

// NextFormation decides how many containers of each type a release runs:
// types already scaled keep their quantity; a type new to the app runs
// app.json's formation quantity if it gives one, else 1 for web and 0 for
// every other type (Dokku's rule). Types the release no longer has are
// dropped.
func NextFormation(current map[string]int, types []string, appJSON *AppJSON) map[string]int {
	next := map[string]int{}
	for _, t := range types {
		if q, ok := current[t]; ok {
			next[t] = q
			continue
		}
		if appJSON != nil {
			if f, ok := appJSON.Formation[t]; ok && f.Quantity != nil {
				next[t] = *f.Quantity
				continue
			}
		}
		if t == "web" {
			next[t] = 1
		} else {
			next[t] = 0
		}
	}
	return next
}
