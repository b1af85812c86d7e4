package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// server is a registry behind a TLS test server (the registry refuses
// plain HTTP), with a fake engine that pushes through it.
type server struct {
	reg    *Registry
	srv    *httptest.Server
	engine *fakeEngine
	dir    string
}

func newServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{dir: dir, engine: &fakeEngine{images: map[string]string{}}}
	s.srv = httptest.NewUnstartedServer(nil)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	host := strings.TrimPrefix(s.srv.URL, "https://")
	reg, err := New(context.Background(), Config{Dir: dir, Host: host, Engine: s.engine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	s.srv.Config.Handler = reg
	s.reg = reg
	s.engine.t, s.engine.srv = t, s.srv
	return s
}

// do sends one request as user:pass ("" no auth) and returns the status.
func (s *server) do(t *testing.T, method, path, user, pass string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// upload pushes one blob as user:pass and fails the test unless it
// is accepted.
func (s *server) upload(t *testing.T, repo, user, pass string, blob []byte) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	req.SetBasicAuth(user, pass)
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload to %s: %d", repo, res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	loc = res.Request.URL.ResolveReference(loc)
	d := digestOf(blob)
	q := loc.Query()
	q.Set("digest", d)
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequest("PUT", loc.String(), bytes.NewReader(blob))
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err = s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("finishing an upload to %s: %d", repo, res.StatusCode)
	}
	return d
}

// pushImage pushes a one-layer image whose layer is content as
// repo:tag, and returns its manifest's digest.
func (s *server) pushImage(t *testing.T, repo, tag, user, pass, content string) string {
	t.Helper()
	return s.pushImageConfig(t, repo, tag, user, pass, content, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`))
}

// pushImageConfig is pushImage with config as the image's config blob.
func (s *server) pushImageConfig(t *testing.T, repo, tag, user, pass, content string, config []byte) string {
	t.Helper()
	layer := []byte(content)
	cd := s.upload(t, repo, user, pass, config)
	ld := s.upload(t, repo, user, pass, layer)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}},
	})
	req, _ := http.NewRequest("PUT", s.srv.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(manifest))
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("pushing the manifest of %s:%s: %d %s", repo, tag, res.StatusCode, b)
	}
	return digestOf(manifest)
}

// fakeEngine is Berth's engine as Publish uses it: ImagePush pushes a
// one-layer image (its layer the image ID) through the registry's HTTP
// API with the auth it is given, as dockerd would.
type fakeEngine struct {
	t      *testing.T
	srv    *httptest.Server
	images map[string]string // tag → image ID
	pushes int
	// beforePush, when set, runs at the start of each ImagePush.
	beforePush func()
	// configs are config blobs by image ID, for images whose ID is
	// their config's digest, as the engine's are (imageConfig); others
	// get a config of the fake's.
	configs map[string][]byte
}

// imageConfig makes an image (its config blob and ID, the config's
// digest) the engine pushes as the real one would.
func (e *fakeEngine) imageConfig(name string) string {
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"name":"` + name + `"}}}`)
	if e.configs == nil {
		e.configs = map[string][]byte{}
	}
	id := digestOf(config)
	e.configs[id] = config
	return id
}

func (e *fakeEngine) ImageTag(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
	e.images[o.Target] = o.Source
	return client.ImageTagResult{}, nil
}

func (e *fakeEngine) ImageRemove(_ context.Context, ref string, _ client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	delete(e.images, ref)
	return client.ImageRemoveResult{}, nil
}

func (e *fakeEngine) ImagePush(_ context.Context, ref string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
	e.pushes++
	if e.beforePush != nil {
		e.beforePush()
	}
	b, err := base64.URLEncoding.DecodeString(o.RegistryAuth)
	if err != nil {
		return nil, err
	}
	var auth registry.AuthConfig
	if err := json.Unmarshal(b, &auth); err != nil {
		return nil, err
	}
	id, ok := e.images[ref]
	if !ok {
		return nil, fmt.Errorf("no such image %s", ref)
	}
	host := strings.TrimPrefix(e.srv.URL, "https://")
	name, tag, _ := strings.Cut(strings.TrimPrefix(ref, host+"/"), ":")
	s := &server{srv: e.srv}
	var d string
	if config, ok := e.configs[id]; ok {
		d = s.pushImageConfig(e.t, name, tag, auth.Username, auth.Password, id, config)
	} else {
		d = s.pushImage(e.t, name, tag, auth.Username, auth.Password, id)
	}
	aux := json.RawMessage(fmt.Sprintf(`{"Tag":%q,"Digest":%q,"Size":1}`, tag, d))
	return pushResponse{msgs: []jsonstream.Message{{Status: "pushed"}, {Aux: &aux}}}, nil
}

// RegistryLogin asks the registry's API base with the login, as dockerd
// does: an answer other than 200 is a refusal.
func (e *fakeEngine) RegistryLogin(_ context.Context, o client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/", nil)
	if err != nil {
		return client.RegistryLoginResult{}, err
	}
	req.SetBasicAuth(o.Username, o.Password)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return client.RegistryLoginResult{}, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return client.RegistryLoginResult{}, fmt.Errorf("login attempt to %s/v2/ failed with status: %s", e.srv.URL, res.Status)
	}
	return client.RegistryLoginResult{}, nil
}

type pushResponse struct {
	io.ReadCloser
	msgs []jsonstream.Message
}

func (p pushResponse) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] {
	return func(yield func(jsonstream.Message, error) bool) {
		for _, m := range p.msgs {
			if !yield(m, nil) {
				return
			}
		}
	}
}

func (p pushResponse) Wait(context.Context) error { return nil }

// pullAuth decodes a service's registry auth.
func pullAuth(t *testing.T, enc string) registry.AuthConfig {
	t.Helper()
	b, err := base64.URLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	var a registry.AuthConfig
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNoCredentialIsRefusedWithABasicChallenge(t *testing.T) {
	s := newServer(t)
	code, h, _ := s.do(t, "GET", "/v2/berth/app/tags/list", "", "", nil)
	if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("got %d %q, want 401 with a Basic challenge", code, h.Get("WWW-Authenticate"))
	}
}

func TestAWrongPushPasswordIsRefused(t *testing.T) {
	s := newServer(t)
	if code, _, _ := s.do(t, "POST", "/v2/berth/app/blobs/uploads/", pushUser, "guess", nil); code != http.StatusUnauthorized {
		t.Fatalf("got %d, want 401", code)
	}
}

func TestPlainHTTPIsRefused(t *testing.T) {
	s := newServer(t)
	req := httptest.NewRequest("GET", "http://"+s.reg.Host()+"/v2/", nil)
	req.SetBasicAuth(pushUser, s.reg.pushPass)
	w := httptest.NewRecorder()
	s.reg.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Fatalf("got %d, want 403", w.Code)
	}
}

func TestPublishNamesTheImageByDigest(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	ref, auth, err := s.reg.Publish(ctx, "app", 1, "sha256:one", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, s.reg.Host()+"/berth/app@sha256:") {
		t.Fatalf("ref %q", ref)
	}
	again, _, err := s.reg.Publish(ctx, "app", 1, "sha256:one", 2, 1)
	if err != nil || again != ref {
		t.Fatalf("second publish: %q %v, want %q", again, err, ref)
	}
	if len(s.engine.images) != 0 {
		t.Fatalf("the engine keeps the registry's references %v", s.engine.images)
	}
	a := pullAuth(t, auth)
	if a.Username != "pull/app" || a.ServerAddress != s.reg.Host() {
		t.Fatalf("auth %+v", a)
	}
}

// A release published again (a rollback, a config change, a service
// created anew) whose tag names its image already is not pushed again:
// the engine may no longer have the image (pruned: the tasks run on
// other nodes).
func TestAnImageItsTagNamesAlreadyIsNotPushedAgain(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	id := s.engine.imageConfig("one")
	ref, _, err := s.reg.Publish(ctx, "app", 1, id, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := s.reg.Publish(ctx, "app", 1, id, 2, 1)
	if err != nil || again != ref {
		t.Fatalf("second publish: %q %v, want %q", again, err, ref)
	}
	if s.engine.pushes != 1 {
		t.Fatalf("%d pushes, want 1 (the tag names the image)", s.engine.pushes)
	}
}

// layerOf is the layer digest of the manifest ref names (the fake
// engine's images have one layer: their image ID).
func (s *server) layerOf(t *testing.T, ref string) string {
	t.Helper()
	name, d, _ := strings.Cut(strings.TrimPrefix(ref, s.reg.Host()+"/"), "@")
	code, _, b := s.do(t, "GET", "/v2/"+name+"/manifests/"+d, pushUser, s.reg.pushPass, nil)
	if code != http.StatusOK {
		t.Fatalf("manifest %s: %d", ref, code)
	}
	var m struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal(b, &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest %s: %s %v", ref, b, err)
	}
	return m.Layers[0].Digest
}

// A failed rollout's version is used again by the next deploy
// (NextVersion): the fixed build, published as the same vN, must be what
// the services run, not the broken image the tag named.
func TestAVersionPublishedAgainWithAnotherImageNamesTheNewImage(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	broken, fixed := s.engine.imageConfig("broken"), s.engine.imageConfig("fixed")
	if _, _, err := s.reg.Publish(ctx, "app", 2, broken, 1, 0); err != nil {
		t.Fatal(err)
	}
	ref, _, err := s.reg.Publish(ctx, "app", 2, fixed, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.layerOf(t, ref), digestOf([]byte(fixed)); got != want {
		t.Fatalf("v2 published again names layer %s, want the fixed image's %s", got, want)
	}
}

// A collection started while a publish pushes (another app's rollout,
// a destroy) must not hang the push: the push's requests go through the
// handler, which must not wait behind the collection while the
// collection waits for the push.
func TestACollectionDuringAPushHangsNothing(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	collected := make(chan error, 1)
	s.engine.beforePush = func() {
		s.engine.beforePush = nil
		go func() { collected <- s.reg.collect(ctx) }()
		time.Sleep(200 * time.Millisecond) // the collection waits for its lock by now
	}
	published := make(chan error, 1)
	go func() {
		_, _, err := s.reg.Publish(ctx, "app", 1, "sha256:one", 1, 0)
		published <- err
	}()
	for _, ch := range []chan error{published, collected} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			// Not t.Fatal nor panic: the cleanup's test server Close
			// would wait for the hung request forever, with the message
			// never shown.
			fmt.Fprintln(os.Stderr, "FAIL: TestACollectionDuringAPushHangsNothing: the publish and the collection hang (deadlock)")
			os.Exit(1)
		}
	}
	if code, _, _ := s.do(t, "GET", "/v2/berth/app/manifests/v1", pushUser, s.reg.pushPass, nil); code != http.StatusOK {
		t.Fatalf("the published image after the collection: %d", code)
	}
}

// hooks records the registry's hooks, for a test to run them.
type hooks struct {
	rolledOut func(ctx context.Context, a *platform.App, save func() error, log io.Writer) error
	destroyed func(ctx context.Context, app string)
	renamed   func(ctx context.Context, from, to string)
}

func (h *hooks) OnRolledOut(f func(ctx context.Context, a *platform.App, save func() error, log io.Writer) error) {
	h.rolledOut = f
}
func (h *hooks) OnAppDestroyed(f func(ctx context.Context, app string))    { h.destroyed = f }
func (h *hooks) OnAppRenamed(f func(ctx context.Context, from, to string)) { h.renamed = f }

// A renamed app's old name keeps neither images nor credentials: a new
// app given that name later must not get the old app's image, nor the
// old services' credential read the new app's.
func TestARenameForgetsTheOldNamesImagesAndCredentials(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	var h hooks
	s.reg.Follow(&h)
	ref, auth, _ := s.reg.Publish(ctx, "old", 1, "sha256:old", 1, 0)
	s.reg.Publish(ctx, "new", 1, "sha256:old", 1, 0) // the rename's rollout under the new name
	if h.renamed == nil {
		t.Fatal("the registry does not follow renames")
	}
	h.renamed(ctx, "old", "new")
	a := pullAuth(t, auth)
	if code, _, _ := s.do(t, "GET", "/v2/", a.Username, a.Password, nil); code != http.StatusUnauthorized {
		t.Fatalf("old's credential after the rename: %d, want 401", code)
	}
	if code, _, _ := s.do(t, "GET", "/v2/berth/old/manifests/v1", pushUser, s.reg.pushPass, nil); code != http.StatusNotFound {
		t.Fatalf("berth/old:v1 after the rename: %d, want 404", code)
	}
	_, d, _ := strings.Cut(ref, "@")
	if !s.blobExists(d) {
		t.Fatal("the manifest berth/new still names is gone")
	}
}

func TestAPullCredentialReadsItsAppOnly(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	refA, authA, err := s.reg.Publish(ctx, "a", 1, "sha256:a", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	refB, _, err := s.reg.Publish(ctx, "b", 1, "sha256:b", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := pullAuth(t, authA)
	_, dA, _ := strings.Cut(refA, "@")
	_, dB, _ := strings.Cut(refB, "@")
	if code, _, _ := s.do(t, "GET", "/v2/berth/a/manifests/"+dA, a.Username, a.Password, nil); code != http.StatusOK {
		t.Fatalf("a's credential reading a's manifest: %d", code)
	}
	if code, _, _ := s.do(t, "GET", "/v2/berth/b/manifests/"+dB, a.Username, a.Password, nil); code != http.StatusForbidden {
		t.Fatalf("a's credential reading b's manifest: %d, want 403", code)
	}
	// Its user name says which app: another app's name with a's password
	// is no credential.
	if code, _, _ := s.do(t, "GET", "/v2/berth/b/manifests/"+dB, "pull/b", a.Password, nil); code != http.StatusUnauthorized {
		t.Fatalf("a's password as b's user: %d, want 401", code)
	}
}

func TestAPullCredentialDoesNotWrite(t *testing.T) {
	s := newServer(t)
	_, auth, err := s.reg.Publish(context.Background(), "a", 1, "sha256:a", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := pullAuth(t, auth)
	if code, _, _ := s.do(t, "POST", "/v2/berth/a/blobs/uploads/", a.Username, a.Password, nil); code != http.StatusForbidden {
		t.Fatalf("a pull credential starting an upload: %d, want 403", code)
	}
}

func TestNothingIsDeletedOverHTTP(t *testing.T) {
	s := newServer(t)
	ref, _, err := s.reg.Publish(context.Background(), "a", 1, "sha256:a", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, d, _ := strings.Cut(ref, "@")
	if code, _, _ := s.do(t, "DELETE", "/v2/berth/a/manifests/"+d, pushUser, s.reg.pushPass, nil); code != http.StatusForbidden {
		t.Fatalf("DELETE with the push credential: %d, want 403", code)
	}
}

func TestOtherRepositoriesAndTheCatalogAreNotServed(t *testing.T) {
	for _, p := range []string{"/v2/_catalog", "/v2/library/busybox/manifests/latest", "/v2/berth/a/b/manifests/latest", "/v2/berth//manifests/x"} {
		if msg := allowed(who{push: true}, "GET", p); msg == "" {
			t.Errorf("%s allowed to the push credential", p)
		}
	}
	if msg := allowed(who{app: "a"}, "GET", "/v2/"); msg != "" {
		t.Errorf("the base refused: %s", msg)
	}
}

func TestCredentialsAreStoredHashed(t *testing.T) {
	s := newServer(t)
	_, auth, err := s.reg.Publish(context.Background(), "a", 1, "sha256:a", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if pass := pullAuth(t, auth).Password; strings.Contains(string(b), pass) {
		t.Fatal("the pull password is stored in the clear")
	}
	if strings.Contains(string(b), s.reg.pushPass) {
		t.Fatal("the push password is stored")
	}
}

func TestAnOldGenerationsCredentialIsRevokedOnceItNoLongerRuns(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	_, auth1, _ := s.reg.Publish(ctx, "a", 1, "sha256:a", 1, 0)
	_, auth2, _ := s.reg.Publish(ctx, "a", 2, "sha256:b", 2, 1)
	a1, a2 := pullAuth(t, auth1), pullAuth(t, auth2)
	// Generation 2's rollout: 1 still serves, so its tasks can still pull.
	if code, _, _ := s.do(t, "GET", "/v2/berth/a/tags/list", a1.Username, a1.Password, nil); code != http.StatusOK {
		t.Fatalf("generation 1's credential during the rollout of 2: %d", code)
	}
	// 2 serves: 1's credential goes.
	if err := s.reg.Prune(ctx, "a", []int{1, 2}, 2); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := s.do(t, "GET", "/v2/berth/a/tags/list", a1.Username, a1.Password, nil); code != http.StatusUnauthorized {
		t.Fatalf("generation 1's credential once 2 serves: %d, want 401", code)
	}
	if code, _, _ := s.do(t, "GET", "/v2/berth/a/tags/list", a2.Username, a2.Password, nil); code != http.StatusOK {
		t.Fatalf("generation 2's credential: %d", code)
	}
}

// blobExists says whether the storage still holds the blob of digest d.
func (s *server) blobExists(d string) bool {
	hex := strings.TrimPrefix(d, "sha256:")
	_, err := os.Stat(filepath.Join(s.dir, "storage", "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data"))
	return err == nil
}

func TestPruneDeletesTheManifestAndBlobsOfReleasesNotKept(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	ref1, _, _ := s.reg.Publish(ctx, "a", 1, "sha256:one", 1, 0)
	ref2, _, _ := s.reg.Publish(ctx, "a", 2, "sha256:two", 2, 1)
	_, d1, _ := strings.Cut(ref1, "@")
	_, d2, _ := strings.Cut(ref2, "@")
	layer1 := digestOf([]byte("sha256:one"))
	if !s.blobExists(d1) || !s.blobExists(layer1) {
		t.Fatal("v1's blobs are not in the storage")
	}
	if err := s.reg.Prune(ctx, "a", []int{2}, 2); err != nil {
		t.Fatal(err)
	}
	if s.blobExists(d1) || s.blobExists(layer1) {
		t.Fatal("v1's manifest or layer is still stored")
	}
	if !s.blobExists(d2) || !s.blobExists(digestOf([]byte("sha256:two"))) {
		t.Fatal("v2's manifest or layer is gone")
	}
	if code, _, _ := s.do(t, "GET", "/v2/berth/a/manifests/"+d2, pushUser, s.reg.pushPass, nil); code != http.StatusOK {
		t.Fatalf("v2's manifest after the prune: %d", code)
	}
}

func TestAReleaseSharingAKeptReleasesImageKeepsIt(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	ref1, _, _ := s.reg.Publish(ctx, "a", 1, "sha256:same", 1, 0)
	s.reg.Publish(ctx, "a", 2, "sha256:same", 2, 1) // a rollback or config release: the same image
	if err := s.reg.Prune(ctx, "a", []int{2}, 2); err != nil {
		t.Fatal(err)
	}
	_, d, _ := strings.Cut(ref1, "@")
	if !s.blobExists(d) {
		t.Fatal("the manifest v2 still names is gone")
	}
}

func TestForgetRemovesAnAppsImagesAndCredentials(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	refA, authA, _ := s.reg.Publish(ctx, "a", 1, "sha256:a", 1, 0)
	refB, _, _ := s.reg.Publish(ctx, "b", 1, "sha256:b", 1, 0)
	if err := s.reg.Forget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	_, dA, _ := strings.Cut(refA, "@")
	_, dB, _ := strings.Cut(refB, "@")
	if s.blobExists(dA) || !s.blobExists(dB) {
		t.Fatalf("after forgetting a: a's manifest stored %v, b's %v", s.blobExists(dA), s.blobExists(dB))
	}
	a := pullAuth(t, authA)
	if code, _, _ := s.do(t, "GET", "/v2/", a.Username, a.Password, nil); code != http.StatusUnauthorized {
		t.Fatalf("a's credential after a went: %d, want 401", code)
	}
}

func TestAnAppWithNothingPushedPrunesQuietly(t *testing.T) {
	s := newServer(t)
	if err := s.reg.Prune(context.Background(), "local", []int{1}, 1); err != nil {
		t.Fatal(err)
	}
}

// An upload started and never finished (a push cut off) is purged by
// the next collection once it is older than the registry's upload age.
func TestACollectionPurgesUnfinishedUploads(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	if _, _, err := s.reg.Publish(ctx, "other", 1, "sha256:other", 1, 0); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", s.srv.URL+"/v2/berth/app/blobs/uploads/", nil)
	req.SetBasicAuth(pushUser, s.reg.pushPass)
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload: %d", res.StatusCode)
	}
	uploads := filepath.Join(s.dir, "storage", "docker", "registry", "v2", "repositories", "berth", "app", "_uploads")
	if ents, err := os.ReadDir(uploads); err != nil || len(ents) != 1 {
		t.Fatalf("the started upload is not stored: %v %v", ents, err)
	}
	s.reg.uploadAge = 0 // any upload started before the collection is old enough
	if err := s.reg.collect(ctx); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(uploads); len(ents) != 0 {
		t.Fatalf("unfinished uploads after the collection: %v", ents)
	}
}
