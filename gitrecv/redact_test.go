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
		// Dokku's client puts --app APP (and others) before the command.
		{[]string{"--app", "web", "config:set", "TOKEN=s3cret"}, "--app web config:set TOKEN=***"},
		{[]string{"--app=web", "--quiet", "config:set", "--no-restart", "TOKEN=s3cret"}, "--app=web --quiet config:set --no-restart TOKEN=***"},
		{[]string{"--quiet", "config:set", "web", "TOKEN=s3cret"}, "--quiet config:set web TOKEN=***"},
		{[]string{"--bogus", "config:set", "web", "TOKEN=s3cret"}, "--bogus config:set web TOKEN=***"},
		{[]string{"--password", "s3cret", "config:set", "web"}, "--password *** config:set web"},
		// run's -e/--env values, in every spelling.
		{[]string{"run", "-e", "TOKEN=s3cret", "web", "env"}, "run -e TOKEN=*** web env"},
		{[]string{"run", "web", "--env", "TOKEN=s3cret", "env"}, "run web --env TOKEN=*** env"},
		{[]string{"run:detached", "--env=TOKEN=s3cret", "web", "sleep", "1"}, "run:detached --env=TOKEN=*** web sleep 1"},
		{[]string{"--app", "web", "run", "-eTOKEN=s3cret", "env"}, "--app web run -eTOKEN=*** env"},
		{[]string{"--app", "web", "--rm", "run:detached", "-e=TOKEN=s3cret", "env"}, "--app web --rm run:detached -e=TOKEN=*** env"},
		// registry:login's password, were it given in the line.
		{[]string{"registry:login", "web", "reg.example.com", "me", "s3cret"}, "registry:login web reg.example.com *** ***"},
		{[]string{"registry:login", "--global", "reg.example.com", "me", "s3cret"}, "registry:login --global reg.example.com me ***"},
		{[]string{"registry:login", "web", "--password-stdin", "reg.example.com", "me"}, "registry:login web --password-stdin reg.example.com ***"},
		{[]string{"git-receive-pack", "'web'"}, "git-receive-pack 'web'"},
		{[]string{"git:sync", "web", "https://user:T0KEN@host/web.git", "main"}, "git:sync web https://***@host/web.git main"},
	} {
		if got := redact(c.args); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
