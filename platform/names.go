package platform

import (
	"fmt"
	"regexp"
	"strings"
)

var appNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*$`)

// ValidateAppName returns nil when name can be an app's name, and otherwise
// an error that says what a valid name looks like. A name is also a host
// name (apps with a dot answer on their own name), a Docker container name
// prefix and an image repository, so it has to suit all three.
func ValidateAppName(name string) error {
	const rule = "app names are lowercase letters, digits and dashes, in dot-separated labels of at most 63 characters, starting with a letter or digit (for example: blog, my-api, www.example.org)"
	switch {
	case name == "":
		return fmt.Errorf("an app name is required; %s", rule)
	case len(name) > 253:
		return fmt.Errorf("app name is %d characters long; at most 253 are allowed", len(name))
	case !appNamePattern.MatchString(name):
		return fmt.Errorf("invalid app name %q: %s", name, rule)
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) > 63 {
			return fmt.Errorf("invalid app name %q: the label %q is longer than 63 characters", name, label)
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("invalid app name %q: a label may not start or end with a dash", name)
		}
	}
	return nil
}

// HostsFor returns the host names app answers on, given the global domains:
// "blog" with global domain "example.test" answers on "blog.example.test";
// an app whose name has a dot answers on its own name; with no global
// domain, an app answers on its bare name.
func HostsFor(app string, globalDomains []string) []string {
	if strings.Contains(app, ".") || len(globalDomains) == 0 {
		return []string{app}
	}
	hosts := make([]string, 0, len(globalDomains))
	for _, d := range globalDomains {
		hosts = append(hosts, app+"."+strings.TrimPrefix(strings.ToLower(d), "."))
	}
	return hosts
}
