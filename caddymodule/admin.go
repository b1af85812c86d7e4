package caddymodule

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/platform"
)

func init() { caddy.RegisterModule(AdminAPI{}) }

// AdminAPI is Berth's door in Caddy's admin API (`admin.api.berth`): the
// same command table as the SSH door, under /berth/. POST /berth/commands
// runs any command line, given in the body, with streamed output (what
// `caddy berth` uses);
// the other routes are JSON shorthands for everyday operations. See
// docs/API.md.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.berth",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes. They are built before any app starts,
// so every request looks the running berth app up again.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/berth/", Handler: caddy.AdminHandlerFunc(serveAdmin)}}
}

// runningBackend is what the running berth app gives commands.
func runningBackend() (*commands.Backend, error) {
	ctx := caddy.ActiveContext()
	v, err := ctx.AppIfConfigured("berth")
	if err != nil || v == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("berth is not configured in the running config")}
	}
	c := v.(*App).core.Load()
	if c == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("berth has not started")}
	}
	return c.backend, nil
}

var adminMux = sync.OnceValue(func() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /berth/commands", serveCommand)
	for _, rt := range restRoutes {
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { serveREST(w, r, rt) })
	}
	return mux
})

// restRoute is a JSON shorthand: the command line a request stands for,
// or why the request is refused.
type restRoute struct {
	pattern string
	args    func(r *http.Request, body map[string]any) ([]string, error)
}

// commandFor is the command line of a request to rt. The {app} of the path
// must be an app name: "--global" there would be read as a flag.
func commandFor(rt restRoute, r *http.Request, body map[string]any) ([]string, error) {
	if strings.Contains(rt.pattern, "{app}") {
		if err := platform.ValidateAppName(r.PathValue("app")); err != nil {
			return nil, err
		}
	}
	return rt.args(r, body)
}

// argWord refuses a value from the body that the command would read as a
// flag (a leading -) or, in KEY=VALUE, as another key (an "=").
func argWord(what, s string) error {
	if strings.HasPrefix(s, "-") || strings.Contains(s, "=") {
		return fmt.Errorf("%s %q: a name starts with no - and holds no =", what, s)
	}
	return nil
}

var restRoutes = []restRoute{
	{"GET /berth/apps", func(*http.Request, map[string]any) ([]string, error) {
		return []string{"apps:list", "--format", "detailed"}, nil
	}},
	{"POST /berth/apps", func(_ *http.Request, body map[string]any) ([]string, error) {
		name, _ := body["name"].(string)
		if name == "" {
			return nil, errors.New(`give the app's name: {"name": "blog"}`)
		}
		if err := platform.ValidateAppName(name); err != nil {
			return nil, err
		}
		return []string{"apps:create", name}, nil
	}},
	{"GET /berth/apps/{app}", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"ps:report", r.PathValue("app"), "--format", "json"}, nil
	}},
	{"DELETE /berth/apps/{app}", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"apps:destroy", r.PathValue("app"), "--force"}, nil
	}},
	{"GET /berth/apps/{app}/config", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"config:show", r.PathValue("app"), "--format", "json"}, nil
	}},
	{"PUT /berth/apps/{app}/config", func(r *http.Request, body map[string]any) ([]string, error) {
		args := []string{"config:set", r.PathValue("app")}
		for k, v := range body {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("config var %s: give its value as a string", k)
			}
			if err := argWord("config var", k); err != nil {
				return nil, err
			}
			args = append(args, k+"="+s)
		}
		if len(body) == 0 {
			return nil, errors.New(`give the vars to set: {"KEY": "value"}`)
		}
		return args, nil
	}},
	{"POST /berth/apps/{app}/scale", func(r *http.Request, body map[string]any) ([]string, error) {
		args := []string{"ps:scale", r.PathValue("app")}
		for typ, v := range body {
			n, ok := v.(float64)
			// int(n) used to drop a fraction (2.5 scaled to 2) and wrap
			// numbers beyond int.
			if !ok || n != math.Trunc(n) || math.Abs(n) > 1e6 {
				return nil, fmt.Errorf("%s: give the quantity as a whole number", typ)
			}
			if err := argWord("process type", typ); err != nil {
				return nil, err
			}
			args = append(args, fmt.Sprintf("%s=%d", typ, int(n)))
		}
		if len(body) == 0 {
			return nil, errors.New(`give the quantities: {"web": 2}`)
		}
		return args, nil
	}},
	{"GET /berth/disk", func(*http.Request, map[string]any) ([]string, error) {
		return []string{"disk:report", "--format", "json"}, nil
	}},
	{"GET /berth/apps/{app}/disk", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"disk:report", r.PathValue("app"), "--format", "json"}, nil
	}},
	{"GET /berth/apps/{app}/releases", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"releases", r.PathValue("app"), "--format", "json"}, nil
	}},
	{"GET /berth/apps/{app}/builds", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"builds:list", r.PathValue("app"), "--format", "json"}, nil
	}},
	{"POST /berth/apps/{app}/rollback", func(r *http.Request, body map[string]any) ([]string, error) {
		args := []string{"rollback", r.PathValue("app")}
		switch v := body["version"].(type) {
		case nil:
		case float64:
			if v != math.Trunc(v) || v < 1 || v > math.MaxInt32 {
				return nil, fmt.Errorf("version %v: give a release number, like 3", v)
			}
			args = append(args, fmt.Sprintf("v%d", int(v)))
		case string:
			if err := argWord("version", v); err != nil {
				return nil, err
			}
			args = append(args, v)
		default:
			return nil, errors.New(`give the release as {"version": 3}, or nothing for the previous one`)
		}
		return args, nil
	}},
	{"POST /berth/apps/{app}/restart", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"ps:restart", r.PathValue("app")}, nil
	}},
	{"POST /berth/apps/{app}/deploy", func(r *http.Request, _ map[string]any) ([]string, error) {
		return []string{"ps:rebuild", r.PathValue("app")}, nil
	}},
}

func serveAdmin(w http.ResponseWriter, r *http.Request) error {
	if _, err := runningBackend(); err != nil {
		return err
	}
	adminMux().ServeHTTP(w, r)
	return nil
}

// Frame kinds of the POST /berth/commands stream. Each frame is one kind
// byte, a 4-byte big-endian length and that many bytes.
const (
	FrameStdout byte = 1
	FrameStderr byte = 2
	FrameExit   byte = 3 // payload: the exit status in decimal
)

type frameWriter struct {
	mu   *sync.Mutex
	w    io.Writer
	rc   *http.ResponseController
	kind byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := writeFrame(f.w, f.kind, p); err != nil {
		return 0, err
	}
	f.rc.Flush()
	return len(p), nil
}

func writeFrame(w io.Writer, kind byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// maxCommandLine bounds the command line at the head of a
// POST /berth/commands body.
const maxCommandLine = 1 << 20

// CommandLine is the first line of a POST /berth/commands body: the
// command and its arguments, as JSON. Whatever follows that line is the
// command's stdin.
type CommandLine struct {
	Args []string `json:"args"`
}

// serveCommand runs the command line that heads the request body, with
// the rest of the body as its stdin, and streams its stdout, stderr and
// exit status as frames. The command line is never in the URL: Caddy logs
// every admin request's URI (and headers), and arguments carry secrets
// (config:set values, --password, a git:sync URL's token).
func serveCommand(w http.ResponseWriter, r *http.Request) {
	b, err := runningBackend()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if r.URL.RawQuery != "" {
		http.Error(w, `the command line goes in the request body, as its first line: {"args": ["ps:scale", "blog", "web=2"]}, `+
			`then the command's stdin, if any. Query parameters are refused: Caddy logs every admin request's URL, `+
			`and a command's arguments can be secrets (see docs/API.md)`, http.StatusBadRequest)
		return
	}
	body := bufio.NewReader(r.Body)
	args, err := readCommandLine(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex() // the command may read stdin while it writes
	w.Header().Set("Content-Type", "application/vnd.berth.frames")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	code := commands.Run(r.Context(), b, args, commands.IO{
		Stdin:  body,
		Stdout: &frameWriter{mu: &mu, w: w, rc: rc, kind: FrameStdout},
		Stderr: &frameWriter{mu: &mu, w: w, rc: rc, kind: FrameStderr},
	})
	mu.Lock()
	writeFrame(w, FrameExit, []byte(strconv.Itoa(code)))
	mu.Unlock()
}

// readCommandLine reads the body's first line, a CommandLine, and leaves
// body at the first byte of the command's stdin.
func readCommandLine(body *bufio.Reader) ([]string, error) {
	var line []byte
	for {
		chunk, err := body.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxCommandLine {
			return nil, fmt.Errorf("the command line is longer than %d bytes", maxCommandLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading the command line: %w", err)
		}
		break
	}
	const want = `the body must start with the command line, one line of JSON: {"args": ["ps:scale", "blog", "web=2"]}`
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, errors.New(want)
	}
	var cl CommandLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cl); err != nil {
		return nil, fmt.Errorf("%s: %v", want, err)
	}
	if cl.Args == nil {
		return nil, errors.New(want)
	}
	return cl.Args, nil
}

// serveREST runs the command a shorthand route names and answers with its
// JSON output, or with {"error": ...} and a status that fits the failure.
func serveREST(w http.ResponseWriter, r *http.Request, rt restRoute) {
	b, err := runningBackend()
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	body, err := decodeBody(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	args, err := commandFor(rt, r, body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	var stdout, stderr bytes.Buffer
	err = commands.Exec(r.Context(), b, args, commands.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		writeJSONError(w, statusFor(err), strings.TrimSpace(strings.ReplaceAll(stderr.String(), " !     ", "")))
		return
	}
	out := bytes.TrimSpace(stdout.Bytes())
	if len(out) == 0 || !json.Valid(out) {
		// A command that reports for people only: say what it did (its
		// success line is on stdout, as Dokku's are; progress on stderr).
		text := strings.TrimSpace(stdout.String() + "\n" + stderr.String())
		msg := strings.TrimSpace(strings.NewReplacer("-----> ", "", "=====> ", "").Replace(text))
		out, _ = json.MarshalIndent(map[string]string{"result": msg}, "", "  ")
	}
	if r.Method == http.MethodPost && r.URL.Path == "/berth/apps" {
		w.WriteHeader(http.StatusCreated)
	}
	w.Write(append(out, '\n'))
}

// decodeBody reads the JSON object a POST or PUT carries (none is {}).
func decodeBody(r *http.Request) (map[string]any, error) {
	body := map[string]any{}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, &body); err != nil {
				return nil, errors.New("the body must be a JSON object: " + err.Error())
			}
		}
	}
	return body, nil
}

func statusFor(err error) int {
	switch {
	case errors.Is(err, platform.ErrAppNotFound):
		return http.StatusNotFound
	case errors.Is(err, platform.ErrAppExists), errors.Is(err, platform.ErrBusy):
		return http.StatusConflict
	case commands.IsUsageError(err), errors.Is(err, commands.ErrUnknownCommand):
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(map[string]string{"error": msg})
}

// Interface guards
var _ caddy.AdminRouter = AdminAPI{}
