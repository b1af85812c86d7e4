package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// appNamePatterns find the names a script makes that are global on the
// engine: the app of a Berth git remote, the new app of apps:create,
// apps:clone and apps:rename, and datastores and networks (named in the
// match, so that an app and a datastore may share a name).
var appNamePatterns = []*regexp.Regexp{
	regexp.MustCompile(`\b((?:postgres|mysql|redis|network):create\s+[a-z0-9][a-z0-9-]*)`),
	regexp.MustCompile(`ssh://\S+/([a-z0-9][a-z0-9-]*)`),
	regexp.MustCompile(`apps:create\s+([a-z0-9][a-z0-9-]*)`),
	regexp.MustCompile(`apps:clone(?:\s+--\S+)*\s+[a-z0-9-]+\s+([a-z0-9][a-z0-9-]*)`),
	regexp.MustCompile(`apps:rename(?:\s+--\S+)*\s+[a-z0-9-]+\s+([a-z0-9][a-z0-9-]*)`),
}

// TestScriptAppNamesAreUnique keeps every script's apps its own. The
// scripts run at once on one engine, where container names (APP.web.1)
// and image tags (berth/APP:vN) are global: two scripts with one app name
// rename over each other's containers, retag each other's images, and a
// script's clean-up removes the other's images. That made an app of one
// script go down in the middle of another's (resources and restore both
// had rs-app).
func TestScriptAppNamesAreUnique(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	serial, err := filepath.Glob("testdata/serial/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, serial...)
	if len(files) == 0 {
		t.Fatal("no scripts found in testdata")
	}
	users := map[string][]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, re := range appNamePatterns {
			for _, m := range re.FindAllStringSubmatch(string(data), -1) {
				seen[strings.Join(strings.Fields(m[1]), " ")] = true
			}
		}
		for app := range seen {
			users[app] = append(users[app], filepath.Base(f))
		}
	}
	var clashes []string
	for app, fs := range users {
		if len(fs) > 1 {
			slices.Sort(fs)
			clashes = append(clashes, app+": "+strings.Join(fs, ", "))
		}
	}
	sort.Strings(clashes)
	if len(clashes) > 0 {
		t.Errorf("names made by more than one script (give each script's apps a prefix of its own):\n%s", strings.Join(clashes, "\n"))
	}
}
