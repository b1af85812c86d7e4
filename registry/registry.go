// Package registry is Berth's own OCI registry (issue 18): the place a
// swarm app's release image is pushed to so that every node of the swarm
// can pull it, with no registry outside Berth. It owns the registry's
// storage and credentials under Berth's state directory (registry/), the
// HTTP handler that the berth Caddy handler serves on the registry's host
// (Caddyfile `registry HOST[:PORT]`, HTTPS from Caddy like the
// dashboard's host), the push of a release (Publish, through Berth's
// engine), and the deletion of images no kept release needs (OnRolledOut
// after the releases' retention, OnAppDestroyed).
//
// The registry is the `distribution` project's (github.com/distribution/
// distribution/v3: its HTTP API handlers and filesystem storage), in
// process. Authentication and authorization are Berth's, in front of it:
//   - Berth's push credential (user "push/berth"), made at each start and
//     held in memory only, may push and pull every berth/APP repository;
//   - a pull credential per app and service generation (user
//     "pull/APP"), issued at the rollout that creates the services and
//     handed to Swarm with them (`--with-registry-auth`: Swarm gives it to
//     each task on whichever node), may only pull berth/APP. Only its
//     SHA-256 is stored (credentials.json); it is revoked once its
//     generation no longer runs, or its app is destroyed.
//
// Swarm gives every task of a service the same registry auth, so a
// credential per node is not something a service can carry; per app is
// the finest scope that Swarm's own mechanism allows, and what keeps one
// app's credential from reading another app's image.
//
// Nothing else is served: no catalog, no other repository, no deletion
// over HTTP (Berth deletes in process), no plain HTTP (the basic auth
// would travel in clear).
package registry

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"

	// The filesystem driver registers itself with the factory NewApp
	// reads its configuration through.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Repository prefix of every app's repository: berth/APP.
const repoPrefix = "berth/"

// Users of the registry's basic auth. '/' is in no app name.
const (
	pushUser       = "push/berth"
	pullUserPrefix = "pull/"
)

// Config is what the registry needs.
type Config struct {
	// Dir is the registry's directory (STATE/registry): storage/ and
	// credentials.json.
	Dir string
	// Host is HOST[:PORT], the address every node reaches the registry
	// at through Caddy's HTTPS (Caddyfile `registry`); images are named
	// HOST[:PORT]/berth/APP.
	Host string
	// Engine is Berth's Docker engine, which holds the images it built
	// and pushes them.
	Engine Engine
	Log    *slog.Logger
}

// Registry is Berth's registry. Make it with New.
type Registry struct {
	dir, host string
	engine    Engine
	log       *slog.Logger

	app    *handlers.App
	driver storagedriver.StorageDriver
	ns     distribution.Namespace

	// push is Berth's push credential's password; pushSum its SHA-256.
	pushPass string
	pushSum  [32]byte

	// pub and gc quiesce the registry for a garbage collection (a blob
	// uploaded but not yet named by a manifest would look unused): every
	// Publish holds pub shared for its whole push, every request gc
	// shared, and the collection takes pub then gc exclusively. Two
	// locks, not one: a push's requests come back through ServeHTTP, and
	// a collection waiting on one lock held across the push would make
	// them wait behind it (RWMutex lets no reader past a waiting writer).
	pub, gc sync.RWMutex

	// uploadAge is how old an unfinished upload is when a collection
	// purges it (an hour: no push of Berth's takes that long).
	uploadAge time.Duration

	// mu guards the credentials file.
	mu sync.Mutex
}

// New opens (or makes) the registry in cfg.Dir.
func New(ctx context.Context, cfg Config) (r *Registry, err error) {
	if cfg.Host == "" {
		return nil, errors.New("registry: no host")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	root := filepath.Join(cfg.Dir, "storage")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	// distribution logs through logrus's standard logger (each request at
	// info): Berth keeps only its errors. Nothing else in Berth uses it.
	logrus.SetLevel(logrus.ErrorLevel)
	conf := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": root},
			// No deletion over HTTP: Berth deletes in process.
			"delete": configuration.Parameters{"enabled": false},
			// The filesystem has nothing to redirect to.
			"redirect": configuration.Parameters{"disable": true},
			// Unfinished uploads an hour old are purged by Berth's
			// collection (collect: PurgeUploads), not by a goroutine of
			// distribution's own.
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	conf.HTTP.Secret = randomToken()
	// NewApp panics on a bad configuration (its own way of failing).
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("registry: %v", p)
		}
	}()
	app := handlers.NewApp(ctx, conf)
	drv := filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100})
	ns, err := storage.NewRegistry(ctx, drv, storage.EnableDelete)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	push := randomToken()
	return &Registry{dir: cfg.Dir, host: cfg.Host, engine: cfg.Engine, log: cfg.Log,
		app: app, driver: drv, ns: ns, pushPass: push, pushSum: sha256.Sum256([]byte(push)), uploadAge: time.Hour}, nil
}

// Close stops distribution's app.
func (r *Registry) Close() error {
	if r == nil {
		return nil
	}
	return r.app.Shutdown()
}

// Host is HOST[:PORT], the registry's address.
func (r *Registry) Host() string {
	if r == nil {
		return ""
	}
	return r.host
}

// Serves says whether a request for host (a Host header) is the
// registry's: its host name, whatever the port.
func (r *Registry) Serves(host string) bool {
	if r == nil {
		return false
	}
	return strings.EqualFold(hostname(host), hostname(r.host))
}

func hostname(h string) string {
	if n, _, err := net.SplitHostPort(h); err == nil {
		return n
	}
	return strings.TrimSuffix(h, ".")
}

// who is an authenticated caller: Berth's push credential (push) or an
// app's pull credential (app).
type who struct {
	push bool
	app  string
}

// ServeHTTP serves the registry API to an authenticated caller, for the
// repositories it may reach.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if req.TLS == nil {
		deny(w, http.StatusForbidden, "DENIED", "Berth's registry is served over HTTPS only: use https://"+r.host)
		return
	}
	caller, ok := r.authenticate(req)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth registry"`)
		deny(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required: Berth's registry serves Berth's pushes and its swarm services' pulls only")
		return
	}
	if msg := allowed(caller, req.Method, req.URL.Path); msg != "" {
		deny(w, http.StatusForbidden, "DENIED", msg)
		return
	}
	r.gc.RLock()
	defer r.gc.RUnlock()
	r.app.ServeHTTP(w, req)
}

// deny answers with the registry API's error form.
func deny(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// allowed says why caller may not make this request ("" it may): the
// API's base (/v2/) to anyone authenticated; berth/APP's manifests, blobs
// and tags to the push credential, and to APP's pull credential for
// reading; nothing else.
func allowed(caller who, method, path string) string {
	if path == "/v2/" || path == "/v2" {
		return ""
	}
	rest, ok := strings.CutPrefix(path, "/v2/"+repoPrefix)
	if !ok {
		return "only berth/APP repositories are served"
	}
	app, rest, _ := strings.Cut(rest, "/")
	kind, _, _ := strings.Cut(rest, "/")
	if app == "" || (kind != "manifests" && kind != "blobs" && kind != "tags") {
		return "only berth/APP repositories are served"
	}
	if method == http.MethodDelete {
		return "nothing is deleted over HTTP: Berth deletes what no release needs itself"
	}
	if caller.push {
		return ""
	}
	if caller.app != app {
		return "this credential reads " + repoPrefix + caller.app + " only"
	}
	if method != http.MethodGet && method != http.MethodHead {
		return "a pull credential only reads"
	}
	return ""
}

// authenticate checks the request's basic auth against the push
// credential and the stored pull credentials' hashes.
func (r *Registry) authenticate(req *http.Request) (who, bool) {
	user, pass, ok := req.BasicAuth()
	if !ok || pass == "" {
		return who{}, false
	}
	sum := sha256.Sum256([]byte(pass))
	if user == pushUser {
		return who{push: true}, subtle.ConstantTimeCompare(sum[:], r.pushSum[:]) == 1
	}
	app, ok := strings.CutPrefix(user, pullUserPrefix)
	if !ok || app == "" {
		return who{}, false
	}
	if r.pullValid(app, sum) {
		return who{app: app}, true
	}
	return who{}, false
}
