package caddymodule

import (
	"strings"
	"testing"
)

func TestProgressLinesOfOneWaitAreDrawnInPlace(t *testing.T) {
	var out strings.Builder
	tp := &terminalProgress{w: &out}
	for _, chunk := range []string{
		"-----> Starting web.1 of v2 (PORT=5000)\n",
		"       web.1: waiting for port 5000 (3 s of 60 s)\n",
		"       web.1: waiting for port 5000 (6 s of 60 s)\n       web.1: wait",
		"ing for port 5000 (9 s of 60 s)\n",
		"       web.2: waiting for port 5000 (3 s of 60 s)\n",
		"-----> Import: 10 MiB read so far\n",
		"-----> Import: 20 MiB read so far\n",
		"-----> Import: 25 MiB read in all\n",
		"no newline at the end",
	} {
		if _, err := tp.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	want := "-----> Starting web.1 of v2 (PORT=5000)\n" +
		"       web.1: waiting for port 5000 (3 s of 60 s)" +
		"\r\x1b[K       web.1: waiting for port 5000 (6 s of 60 s)" +
		"\r\x1b[K       web.1: waiting for port 5000 (9 s of 60 s)\n" +
		"       web.2: waiting for port 5000 (3 s of 60 s)\n" +
		"-----> Import: 10 MiB read so far" +
		"\r\x1b[K-----> Import: 20 MiB read so far\n" +
		"-----> Import: 25 MiB read in all\n" +
		"no newline at the end"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestAnOpenProgressLineIsEndedAtClose(t *testing.T) {
	var out strings.Builder
	tp := &terminalProgress{w: &out}
	tp.Write([]byte("       web.1: waiting for the initialDelay of \"/\" (2 s of 5 s)\n"))
	tp.Close()
	if got := out.String(); got != "       web.1: waiting for the initialDelay of \"/\" (2 s of 5 s)\n" {
		t.Fatalf("got %q", got)
	}
}
