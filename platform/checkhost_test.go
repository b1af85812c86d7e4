package platform

import "testing"

func TestHealthCheckHostIsNoWildcard(t *testing.T) {
	for _, c := range []struct {
		hosts []string
		want  string
	}{
		{[]string{"*.example.org", "www.example.org"}, "www.example.org"},
		{[]string{"app.example.test", "*.example.org"}, "app.example.test"},
		{[]string{"*.example.org"}, ""},
		{nil, ""},
	} {
		if got := firstExactHost(c.hosts); got != c.want {
			t.Errorf("firstExactHost(%q) = %q, want %q", c.hosts, got, c.want)
		}
	}
}
