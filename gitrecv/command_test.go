package gitrecv

import (
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

func TestParseGitCommandNamesTheApp(t *testing.T) {
	cases := map[string]string{
		"git-receive-pack 'hello'":            "hello",
		"git-receive-pack '/hello'":           "hello",
		"git-receive-pack '/hello.git'":       "hello",
		"git-receive-pack 'hello.git'":        "hello",
		"git-receive-pack '/hello/'":          "hello",
		"git-receive-pack hello":              "hello",
		"git receive-pack 'hello'":            "hello",
		"git-receive-pack '/www.example.org'": "www.example.org",
		"git-upload-pack '/hello'":            "hello",
	}
	for raw, want := range cases {
		_, app, ok, err := ParseGitCommand(raw)
		if !ok || err != nil || app != want {
			t.Errorf("ParseGitCommand(%q) = %q, %v, %v; want %q", raw, app, ok, err, want)
		}
	}
}

func TestParseGitCommandService(t *testing.T) {
	if s, _, _, _ := ParseGitCommand("git-upload-pack 'a'"); s != UploadPack {
		t.Errorf("service = %q", s)
	}
	if s, _, _, _ := ParseGitCommand("git-receive-pack 'a'"); s != ReceivePack {
		t.Errorf("service = %q", s)
	}
}

func TestParseGitCommandRejectsBadPaths(t *testing.T) {
	for _, raw := range []string{
		"git-receive-pack '../etc'",
		"git-receive-pack '/a/../b'",
		"git-receive-pack 'a/b'",
		"git-receive-pack 'Hello'",
		"git-receive-pack ''",
		"git-receive-pack",
		"git-receive-pack 'a'; rm -rf /",
		"git-receive-pack 'unterminated",
		"git-receive-pack '-x'",
		"git-receive-pack $(id)",
	} {
		_, _, ok, err := ParseGitCommand(raw)
		if !ok || err == nil {
			t.Errorf("ParseGitCommand(%q): ok=%v err=%v; want a git command with an error", raw, ok, err)
		}
	}
}

func TestParseGitCommandOtherCommands(t *testing.T) {
	for _, raw := range []string{"apps:list", "help", "", "git-shell", "git status"} {
		if _, _, ok, _ := ParseGitCommand(raw); ok {
			t.Errorf("ParseGitCommand(%q) took it for a git command", raw)
		}
	}
}

func TestShellUnquoteGitQuoting(t *testing.T) {
	// git's sq_quote_buf turns a'b into 'a'\''b'.
	got, err := shellUnquote(`'a'\''b'`)
	if err != nil || got != "a'b" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func FuzzParseGitCommand(f *testing.F) {
	for _, seed := range []string{"git-receive-pack 'hello'", "git-upload-pack '/a.git'", `git-receive-pack 'a'\''b'`, "git receive-pack x", "apps:list"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		service, app, ok, err := ParseGitCommand(raw)
		if !ok || err != nil {
			return
		}
		if service != ReceivePack && service != UploadPack {
			t.Fatalf("unknown service %q from %q", service, raw)
		}
		if verr := platform.ValidateAppName(app); verr != nil {
			t.Fatalf("%q gave invalid app %q: %v", raw, app, verr)
		}
		if strings.Contains(app, "/") || strings.Contains(app, "..") {
			t.Fatalf("%q gave a path-like app %q", raw, app)
		}
	})
}
