package tests

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdGitHTTP serves the bare repositories under DIR over git's smart HTTP
// protocol on a loopback port, with the real `git http-backend` as a CGI
// program, behind HTTP basic auth: the kind of server a git:sync URL
// with credentials in it (https://user:TOKEN@host/repo.git) points at.
// It sets GIT_HTTP to the server's host:port; the server stops when the
// script ends.
//
//	githttp DIR USER PASSWORD
func cmdGitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: githttp DIR USER PASSWORD")
	}
	gitBin, err := exec.LookPath("git")
	ts.Check(err)
	root := ts.MkAbs(args[0])
	user, password := args[1], args[2]
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Dir:  root,
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Clean(root), "GIT_HTTP_EXPORT_ALL=1"},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv("GIT_HTTP", ln.Addr().String())
	fmt.Fprintf(ts.Stdout(), "serving %s on http://%s/\n", root, ln.Addr())
}
