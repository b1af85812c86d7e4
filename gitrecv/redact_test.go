package gitrecv

import "testing"

func TestRedact(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"postgres:create", "db", "--password", "hunter2"}, "postgres:create db --password ***"},
		{[]string{"redis:create", "--password=hunter2", "cache"}, "redis:create --password=*** cache"},
		{[]string{"redis:create", "cache", "--password", "--x"}, "redis:create cache --password ***"},
		{[]string{"config:set", "--no-restart", "web", "TOKEN=abc=def", "DEBUG=1"}, "config:set --no-restart web TOKEN=*** DEBUG=***"},
		{[]string{"run", "web", "env", "A=1"}, "run web env A=1"},
		{[]string{"git-receive-pack", "'web'"}, "git-receive-pack 'web'"},
		{[]string{"git:sync", "web", "https://user:T0KEN@host/web.git", "main"}, "git:sync web https://***@host/web.git main"},
	} {
		if got := redact(c.args); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
