package platform

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateAppName(t *testing.T) {
	valid := []string{"a", "blog", "my-api", "www.example.org", "0day", "a--b", strings.Repeat("a", 63), strings.Repeat("a", 63) + ".b"}
	for _, name := range valid {
		if err := ValidateAppName(name); err != nil {
			t.Errorf("ValidateAppName(%q) = %v; want valid", name, err)
		}
	}
	invalid := []string{"", "-blog", "Blog", "blog_x", "a..b", "../etc", "a/b", "blog.", ".blog", "a b", "blog-", "x.-y", "a.b-",
		strings.Repeat("a", 64), "héllo", "app;rm", "app\n"}
	for _, name := range invalid {
		if err := ValidateAppName(name); err == nil {
			t.Errorf("ValidateAppName(%q) = nil; want an error", name)
		}
	}
}

func TestValidateAppNameErrorSaysWhatIsValid(t *testing.T) {
	err := ValidateAppName("Bad_Name")
	if err == nil || !strings.Contains(err.Error(), "lowercase letters, digits and dashes") {
		t.Fatalf("error does not explain the rule: %v", err)
	}
}

func TestHostsFor(t *testing.T) {
	cases := []struct {
		app     string
		domains []string
		want    []string
	}{
		{"blog", []string{"example.test"}, []string{"blog.example.test"}},
		{"blog", []string{"example.test", "Other.Test"}, []string{"blog.example.test", "blog.other.test"}},
		{"www.example.org", []string{"example.test"}, []string{"www.example.org"}},
		{"blog", nil, []string{"blog"}},
	}
	for _, c := range cases {
		if got := HostsFor(c.app, c.domains); !slices.Equal(got, c.want) {
			t.Errorf("HostsFor(%q, %v) = %v, want %v", c.app, c.domains, got, c.want)
		}
	}
}

func FuzzValidateAppName(f *testing.F) {
	for _, seed := range []string{"blog", "www.example.org", "../x", "a..b", "-x", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateAppName(name) != nil {
			return
		}
		// Whatever passes must be safe as a path element, a host name and a
		// container name prefix.
		if strings.ContainsAny(name, "/\\ \t\n:;'\"`$") || strings.Contains(name, "..") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, ".") {
			t.Fatalf("unsafe name accepted: %q", name)
		}
		if strings.ToLower(name) != name {
			t.Fatalf("uppercase name accepted: %q", name)
		}
	})
}
