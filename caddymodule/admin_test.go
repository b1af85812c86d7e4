package caddymodule

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestReadCommandLineLeavesStdin(t *testing.T) {
	body := bufio.NewReader(strings.NewReader("{\"args\": [\"certs:add\", \"blog\", \"K=a b\"]}\n-----BEGIN CERTIFICATE-----\n"))
	args, err := readCommandLine(body)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"certs:add", "blog", "K=a b"}; !slices.Equal(args, want) {
		t.Errorf("args = %q, want %q", args, want)
	}
	rest, _ := io.ReadAll(body)
	if string(rest) != "-----BEGIN CERTIFICATE-----\n" {
		t.Errorf("stdin = %q", rest)
	}
	// The end of the body ends the line too.
	if args, err := readCommandLine(bufio.NewReader(strings.NewReader(`{"args":["version"]}`))); err != nil || !slices.Equal(args, []string{"version"}) {
		t.Errorf("without a newline: %q, %v", args, err)
	}
}

func TestReadCommandLineRefusesWhatIsNotOne(t *testing.T) {
	for _, body := range []string{
		"",
		"\n",
		"version\n",
		`{"arg": ["version"]}`,
		`{"args": "version"}`,
		`{}`,
		`{"args": ["x"], "args2": 1}`,
		`{"args": ["` + strings.Repeat("x", maxCommandLine) + `"]}`,
	} {
		if args, err := readCommandLine(bufio.NewReader(strings.NewReader(body))); err == nil {
			t.Errorf("body %.40q: read as %q, want an error", body, args)
		}
	}
}
