package repo

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:T0KEN@github.com/team/app.git", "https://***@github.com/team/app.git"},
		{"https://T0KEN@github.com/team/app.git", "https://***@github.com/team/app.git"},
		{"https://T0KEN:x-oauth-basic@github.com/a.git", "https://***@github.com/a.git"},
		{"http://us%40er:p%3Ass@127.0.0.1:8080/a.git?x=1", "http://***@127.0.0.1:8080/a.git?x=1"},
		{"https://github.com/team/app.git", "https://github.com/team/app.git"},
		{"https://host/@scope/app.git", "https://host/@scope/app.git"},
		{"ssh://git@github.com/team/app.git", "ssh://git@github.com/team/app.git"},
		{"ssh://git:secret@host/app.git", "ssh://git:***@host/app.git"},
		{"git@github.com:team/app.git", "git@github.com:team/app.git"},
		{"/srv/git/app.git", "/srv/git/app.git"},
		{"file:///srv/git/app.git", "file:///srv/git/app.git"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A library's error may quote the URL its own way: net/http hides only
// the password, so a token given as the user name stays in its message.
func TestScrubbedTakesTheSecretsOutOfAnError(t *testing.T) {
	for _, tc := range []struct{ url, msg string }{
		{"http://sync-T0KEN@127.0.0.1:1/a.git", `Get "http://sync-T0KEN@127.0.0.1:1/a.git/info/refs": connection refused`},
		{"https://u:p%2FT0KEN@h/a.git", `at https://u:p%2FT0KEN@h/a.git: auth for u:p/T0KEN failed`},
		{"https://u:T0KEN@h/a.git", `fetching https://u:***@h/a.git/info/refs: T0KEN rejected`},
	} {
		got := scrubbed(errors.New(tc.msg), tc.url).Error()
		if strings.Contains(got, "T0KEN") {
			t.Errorf("scrubbed(%q) = %q: the token is still there", tc.msg, got)
		}
	}
	plain := errors.New("the repository at /srv/a.git is empty")
	if got := scrubbed(plain, "/srv/a.git"); got != plain {
		t.Errorf("an error about a URL without credentials changed: %v", got)
	}
}
