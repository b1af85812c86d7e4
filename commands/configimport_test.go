package commands

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
)

func TestParseEnvFile(t *testing.T) {
	in := "# a comment\n\nA=plain\nexport B='it'\\''s quoted'\nC=\"two\\nlines \\\"q\\\"\"\nD=\nE=x # trailing comment\nF=a=b\n  G = spaced\n"
	got, err := parseEnvFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "plain", "B": "it's quoted", "C": "two\nlines \"q\"", "D": "", "E": "x", "F": "a=b", "G": "spaced"}
	if !maps.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS", "A='open", "A=\"open", "A=two words", "'K'=v"} {
		if _, err := parseEnvFile([]byte(bad)); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// What config:export --format envfile prints, config:import reads back
// unchanged.
func TestEnvFileRoundTrip(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA  \n\n  it's = \"x\" # not a comment\n-----END PRIVATE KEY-----\n"
	cfg := map[string]string{"A": "it's", "B": "two\nlines", "C": `$HOME "x" \ #`, "D": "", "E": pem, "F": "'\n'", "G": "after"}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		fmt.Fprintf(&b, "%s=%s\n", k, platform.ShellQuote(cfg[k]))
	}
	got, err := parseEnvFile([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, cfg) {
		t.Fatalf("got %q, want %q", got, cfg)
	}
	// Double quotes may span lines too (a newline in them is kept), and
	// an unclosed quote is still an error, not the rest of the file.
	got, err = parseEnvFile([]byte("K=\"a\nb \\\"c\\\"\"\nL=1\n"))
	if err != nil || got["K"] != "a\nb \"c\"" || got["L"] != "1" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := parseEnvFile([]byte("K='open\nL=1\n")); err == nil || !strings.Contains(err.Error(), "line 1 (K): a single quote is not closed") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigImportAndProxySetRefuseBadInput(t *testing.T) {
	for line, want := range map[string]string{
		"config:import blog":                 "give an app (or --global) and a file on the server, or - to read stdin",
		"config:import blog - --format yaml": "unknown format",
		"config:import --global":             "give an app (or --global) and a file",
		"proxy:set blog port 80":             `unknown proxy property "port"`,
		"proxy:set blog":                     "give an app (or --global), the property type",
		"config:import blog - extra":         "give an app (or --global) and a file",
	} {
		var stderr bytes.Buffer
		err := Exec(context.Background(), nil, strings.Fields(line), IO{Stdout: io.Discard, Stderr: &stderr})
		if !IsUsageError(err) || !strings.Contains(stderr.String(), want) {
			t.Errorf("%q: err = %v, stderr %q; want a usage error saying %q", line, err, stderr.String(), want)
		}
	}
	for line, want := range map[string]string{
		"proxy:set blog type nginx":       `proxy type "nginx" is not supported`,
		"proxy:set blog nginx":            `proxy type "nginx" is not supported`,
		"proxy:set --global type traefik": `proxy type "traefik" is not supported`,
		"proxy:set blog proxy-port 5000":  "proxy-port is not supported",
	} {
		var stderr bytes.Buffer
		err := Exec(context.Background(), nil, strings.Fields(line), IO{Stdout: io.Discard, Stderr: &stderr})
		if err == nil || !strings.Contains(stderr.String(), want) {
			t.Errorf("%q: err = %v, stderr %q; want %q", line, err, stderr.String(), want)
		}
	}
}

// A deploy key reads no file on the server into config (it could then
// print it with config:show); it imports from stdin.
func TestConfigImportDeployKeyReadsNoServerFile(t *testing.T) {
	ctx := platform.AsDeployKey(context.Background())
	err := configImport(ctx, nil, []string{"blog", "/etc/passwd"}, IO{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "a deploy key imports from stdin only") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add("A=1\nexport B='x'\\''y'\nC=\"a\\nb\" # c\n")
	f.Fuzz(func(t *testing.T, in string) {
		set, err := parseEnvFile([]byte(in))
		if err != nil {
			return
		}
		for k := range set {
			if k == "" || strings.ContainsAny(k, "= \t\n'\"") {
				t.Fatalf("%q: key %q", in, k)
			}
		}
	})
}

// config:import of a FIFO (or anything but a regular file) is refused at
// once: reading a FIFO with no writer would hang the command.
func TestConfigImportRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := dir + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- configImport(context.Background(), nil, []string{"blog", fifo}, IO{Stdout: io.Discard, Stderr: io.Discard})
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "it is a FIFO, not a regular file") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("config:import of a FIFO hangs")
	}
	err := configImport(context.Background(), nil, []string{"blog", dir}, IO{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "it is a directory, not a regular file") {
		t.Fatalf("directory: err = %v", err)
	}
}
