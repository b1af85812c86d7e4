package gitrecv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/berth-paas/berth/repo"
)

// RunHook is the pre-receive hook: it reads git's ref updates from stdin,
// hands them to the Berth server that started this push, relays the
// server's output to stderr (git shows it to the pusher as "remote:"
// lines) and returns the server's verdict as the exit status. Any failure
// rejects the push.
func RunHook(stdin io.Reader, stderr io.Writer, getenv func(string) string) int {
	socket, token := getenv(envHookSocket), getenv(envHookToken)
	if socket == "" || token == "" {
		fmt.Fprintln(stderr, "berth: push through Berth's SSH server to deploy this app")
		return 1
	}
	updates, err := repo.ReadRefUpdates(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	hr := hookRequest{Token: token, Updates: updates}
	for _, name := range repo.QuarantineVars {
		if v := getenv(name); v != "" {
			hr.Env = append(hr.Env, name+"="+v)
		}
	}
	body, _ := json.Marshal(hr)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := client.Post("http://berth/pre-receive", "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "berth: cannot reach the Berth server: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stderr, resp.Body); err != nil {
		fmt.Fprintf(stderr, "\nberth: the server's output broke off: %v\n", err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	if code := resp.Trailer.Get(exitTrailer); code != "0" {
		if code == "" {
			fmt.Fprintln(stderr, "berth: the server ended the push without a result; the push is rejected")
		}
		return 1
	}
	return 0
}

// HookMain runs RunHook with the process's own streams and environment.
func HookMain() int { return RunHook(os.Stdin, os.Stderr, os.Getenv) }
