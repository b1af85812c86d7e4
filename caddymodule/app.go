// Package caddymodule is the Caddy glue of Berth: the `berth` app that owns
// the platform's lifecycle, the `berth` HTTP handler, the `berth` upstream
// source for reverse_proxy, the `berth` on-demand TLS permission, and the
// Caddyfile syntax for all of them. Everything else lives in packages that
// do not import Caddy.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/applogs"
	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/appspec"
	"github.com/berth-paas/berth/buildconfig"
	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/certs"
	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/dashboard"
	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/disk"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/gitrecv"
	"github.com/berth-paas/berth/keys"
	"github.com/berth-paas/berth/oneoff"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/pssettings"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/dockerlocal"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/scheduler/swarm"
	"github.com/berth-paas/berth/services"
	"github.com/berth-paas/berth/store"
	"github.com/berth-paas/berth/tcproute"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App is the `berth` Caddy app: a git-push PaaS inside Caddy. It serves
// git pushes and commands over its own SSH listener, builds and runs apps
// in Docker, and keeps an in-memory routing table that the `berth` HTTP
// handler and upstream source read.
//
// What must outlive a config reload (the SSH server, the Docker event
// watcher, the routing table, the hook socket) lives in package-level
// usage pools: a reload takes the same instances, and only the last
// release destroys them. Stopping the app never stops app containers.
type App struct {
	// Domains are the global domains: app "blog" answers on
	// "blog.DOMAIN" for each of them. An app whose name has a dot answers
	// on its own name.
	Domains []string `json:"domains,omitempty"`

	// SSH is the address of the SSH listener for git pushes and
	// commands. Default: ":2222".
	SSH string `json:"ssh,omitempty"`

	// AuthorizedKeys is a file of public keys in OpenSSH's
	// authorized_keys format. These keys may push to every app and run
	// every command. Default: the *.pub keys in ~/.ssh of the user who
	// runs Berth (of SUDO_USER under sudo); none there is an error.
	AuthorizedKeys string `json:"authorized_keys,omitempty"`

	// HostKey is the SSH host key file. Default: a key generated once
	// and kept in the state directory.
	HostKey string `json:"host_key,omitempty"`

	// DockerHost is the Docker engine's address, as in DOCKER_HOST.
	// Default: DOCKER_HOST from the environment, else the local socket.
	DockerHost string `json:"docker_host,omitempty"`

	// StateDir holds app records, git repositories and build logs.
	// Default: "berth" in Caddy's data directory.
	StateDir string `json:"state_dir,omitempty"`

	// Limits of the SSH server (see gitrecv.Limits); zero takes the
	// default. Caddyfile: ssh_login_grace_time, ssh_max_startups,
	// ssh_max_startups_per_ip, ssh_idle_timeout, ssh_max_sessions_per_key,
	// ssh_max_sessions_per_admin_key.
	SSHLoginGraceTime         caddy.Duration `json:"ssh_login_grace_time,omitempty"`
	SSHMaxStartups            int            `json:"ssh_max_startups,omitempty"`
	SSHMaxStartupsPerIP       int            `json:"ssh_max_startups_per_ip,omitempty"`
	SSHIdleTimeout            caddy.Duration `json:"ssh_idle_timeout,omitempty"`
	SSHMaxSessionsPerKey      int            `json:"ssh_max_sessions_per_key,omitempty"`
	SSHMaxSessionsPerAdminKey int            `json:"ssh_max_sessions_per_admin_key,omitempty"`
	// HerokuishImage is the image herokuish builds run in (apps with a
	// .buildpacks file or BUILDPACK_URL). Default:
	// gliderlabs/herokuish:latest-24, pulled at the first such build if
	// the engine lacks it.
	HerokuishImage string `json:"herokuish_image,omitempty"`
	// MaxLogLines is the most lines per container `logs -n` shows; more
	// (or -n -1, all) shows this many with a note. Default: 10000.
	MaxLogLines int `json:"max_log_lines,omitempty"`
	// FormationCheckInterval is how often the formation check looks for
	// apps whose containers went missing or stopped (a crash loop that
	// exhausted its restart policy, a container removed behind Berth's
	// back) and brings them back; 0 turns it off (the restore at start
	// still runs). Default: 30s.
	FormationCheckInterval *caddy.Duration `json:"formation_check_interval,omitempty"`
	// FormationCheckRevivals is how many times the formation check
	// starts one container again before it only reports it (log and
	// ps:report); 0: it only reports. Default: 3.
	FormationCheckRevivals *int `json:"formation_check_revivals,omitempty"`
	// ProxyReadTimeout is how long the proxy waits for an app's response
	// to begin (its headers) once the request is sent: past it the
	// visitor gets the 504 page. Dokku's nginx proxy-read-timeout, with
	// its default; 0 waits as long as the visitor does. A response that
	// has begun (a stream, server-sent events) is not bounded.
	// Default: 60s.
	ProxyReadTimeout *caddy.Duration `json:"proxy_read_timeout,omitempty"`
	// TCPPorts is the range of host ports ("10000-10999") a deploy key
	// may map with ports:add APP tcp:PORT:... (tcpports.go). Default:
	// none, only admin keys map TCP ports.
	TCPPorts string `json:"tcp_ports,omitempty"`
	// TCPMaxConnections is the most connections one tcp port mapping has
	// open at once; one over it is closed at once. Default:
	// tcproute.DefaultMaxConns (512).
	TCPMaxConnections int `json:"tcp_max_connections,omitempty"`
	// Limits bound what one app can take of the host (limits.go).
	Limits

	// Dashboard is the host the web dashboard answers on (package
	// dashboard); empty (the default) turns it off. No app can take it.
	Dashboard string `json:"dashboard,omitempty"`
	// DashboardSession is how long a dashboard session lasts. Default:
	// dashboard.DefaultSessionTTL (12h).
	DashboardSession caddy.Duration `json:"dashboard_session,omitempty"`
	// WildcardCertsPerHour and WildcardCertsMax are the budget of
	// on-demand certificates under one wildcard domain: new names per
	// hour, and per 7 days (a name that has one already, remembered or in
	// storage, is free); WildcardCertsPerDomain bounds the new names
	// under all the wildcards of one registered domain per 7 days. 0: no
	// new name gets one. Defaults: DefaultWildcardCertsPerHour (20),
	// DefaultWildcardCertsMax (500), DefaultWildcardCertsPerDomain (40).
	WildcardCertsPerHour   *int `json:"wildcard_certs_per_hour,omitempty"`
	WildcardCertsMax       *int `json:"wildcard_certs_max,omitempty"`
	WildcardCertsPerDomain *int `json:"wildcard_certs_per_domain,omitempty"`

	limits       platform.Limits
	maxPush      int64
	tcpLo, tcpHi int

	adminKeys []gossh.PublicKey
	log       *slog.Logger

	core    atomic.Pointer[core]
	started chan struct{}
	// ctx is the config's context: Start reads the http app from it.
	ctx     caddy.Context
	coreKey string
	sshKey  string
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "berth",
		New: func() caddy.Module { return new(App) },
	}
}

// DefaultSSHAddress is where the SSH listener listens unless told.
const DefaultSSHAddress = ":2222"

// Provision checks the config and reads the authorized keys. It has no
// side effects: a reload provisions the new config while the old one runs.
func (a *App) Provision(ctx caddy.Context) error {
	a.log = ctx.Slogger()
	a.ctx = ctx
	applyGCDefaults(a.log)
	a.started = make(chan struct{})
	if a.SSH == "" {
		a.SSH = DefaultSSHAddress
	}
	if a.StateDir == "" {
		a.StateDir = filepath.Join(caddy.AppDataDir(), "berth")
	}
	abs, err := filepath.Abs(a.StateDir)
	if err != nil {
		return err
	}
	a.StateDir = abs
	if a.HostKey == "" {
		a.HostKey = filepath.Join(a.StateDir, "ssh_host_ed25519_key")
	}
	if a.FormationCheckInterval != nil && *a.FormationCheckInterval < 0 {
		return errors.New("berth: formation_check_interval must be a duration of 0 (off) or more, such as 30s")
	}
	if a.ProxyReadTimeout != nil && *a.ProxyReadTimeout < 0 {
		return errors.New("berth: proxy_read_timeout must be a duration of 0 (no limit) or more, such as 60s")
	}
	if a.FormationCheckRevivals != nil && *a.FormationCheckRevivals < 0 {
		return errors.New("berth: formation_check_revivals must be a whole number of 0 (only report) or more")
	}
	if a.WildcardCertsPerHour != nil && *a.WildcardCertsPerHour < 0 {
		return errors.New("berth: wildcard_certs_per_hour must be a whole number of 0 (no new name under a wildcard gets a certificate) or more, such as 20")
	}
	if a.WildcardCertsMax != nil && *a.WildcardCertsMax < 0 {
		return errors.New("berth: wildcard_certs_max must be a whole number of 0 (no new name under a wildcard gets a certificate) or more, such as 500")
	}
	if a.WildcardCertsPerDomain != nil && *a.WildcardCertsPerDomain < 0 {
		return errors.New("berth: wildcard_certs_per_domain must be a whole number of 0 (no new name under a wildcard gets a certificate) or more, such as 40")
	}
	if a.TCPMaxConnections < 0 {
		return fmt.Errorf("berth: tcp_max_connections must be at least 1, not %d", a.TCPMaxConnections)
	}
	if a.MaxLogLines < 0 {
		return fmt.Errorf("berth: max_log_lines must be at least 1, not %d", a.MaxLogLines)
	}
	if a.AuthorizedKeys == "" {
		// The first run needs no key file: the keys of the user who runs
		// Berth (defaults.go).
		if a.adminKeys, err = a.takeHomeKeys(); err != nil {
			return fmt.Errorf("berth: %w", err)
		}
	} else if a.adminKeys, err = gitrecv.ReadAuthorizedKeys(a.AuthorizedKeys); err != nil {
		return fmt.Errorf("berth: %w", err)
	}
	if len(a.adminKeys) == 0 {
		a.log.Warn("authorized_keys lists no key: nobody can push or run commands", "file", a.AuthorizedKeys)
	}
	for i, d := range a.Domains {
		if err := platform.ValidateAppName(d); err != nil {
			return fmt.Errorf("berth: domain %q is not a valid domain name", d)
		}
		a.Domains[i] = routing.NormalizeHost(d)
	}
	if a.Dashboard != "" {
		a.Dashboard = routing.NormalizeHost(a.Dashboard)
		if err := platform.ValidateDomain(a.Dashboard); err != nil {
			return fmt.Errorf("berth: dashboard: %w", err)
		}
	}
	if a.DashboardSession < 0 {
		return fmt.Errorf("berth: dashboard_session must be positive (leave it out for %s)", dashboard.DefaultSessionTTL)
	}
	if _, err := caddy.ParseNetworkAddress(a.SSH); err != nil {
		return fmt.Errorf("berth: ssh address %q: %w", a.SSH, err)
	}
	for name, v := range map[string]int64{
		"ssh_login_grace_time":           int64(a.SSHLoginGraceTime),
		"ssh_max_startups":               int64(a.SSHMaxStartups),
		"ssh_max_startups_per_ip":        int64(a.SSHMaxStartupsPerIP),
		"ssh_idle_timeout":               int64(a.SSHIdleTimeout),
		"ssh_max_sessions_per_key":       int64(a.SSHMaxSessionsPerKey),
		"ssh_max_sessions_per_admin_key": int64(a.SSHMaxSessionsPerAdminKey),
	} {
		if v < 0 {
			return fmt.Errorf("berth: %s must be positive (leave it out for the default)", name)
		}
	}
	if a.SSHMaxStartupsPerIP > 0 && a.SSHMaxStartups > 0 && a.SSHMaxStartupsPerIP > a.SSHMaxStartups {
		return fmt.Errorf("berth: ssh_max_startups_per_ip (%d) is above ssh_max_startups (%d); lower it or raise ssh_max_startups", a.SSHMaxStartupsPerIP, a.SSHMaxStartups)
	}
	if a.tcpLo, a.tcpHi, err = parseTCPPorts(a.TCPPorts); err != nil {
		return fmt.Errorf("berth: %w", err)
	}
	if a.limits, a.maxPush, err = a.Limits.platformLimits(); err != nil {
		return fmt.Errorf("berth: %w", err)
	}
	return nil
}

func (a *App) wildcardCertsPerHour() int {
	if a.WildcardCertsPerHour == nil {
		return DefaultWildcardCertsPerHour
	}
	return *a.WildcardCertsPerHour
}

func (a *App) wildcardCertsMax() int {
	if a.WildcardCertsMax == nil {
		return DefaultWildcardCertsMax
	}
	return *a.WildcardCertsMax
}

func (a *App) wildcardCertsPerDomain() int {
	if a.WildcardCertsPerDomain == nil {
		return DefaultWildcardCertsPerDomain
	}
	return *a.WildcardCertsPerDomain
}

// reservedHosts are the hosts Berth answers on itself, which no app may
// take: the dashboard's.
func (a *App) reservedHosts() []string {
	if a.Dashboard == "" {
		return nil
	}
	return []string{a.Dashboard}
}

// sshLimits are the SSH server's limits from the config.
func (a *App) sshLimits() gitrecv.Limits {
	return gitrecv.Limits{
		LoginGraceTime:         time.Duration(a.SSHLoginGraceTime),
		MaxStartups:            a.SSHMaxStartups,
		MaxStartupsPerIP:       a.SSHMaxStartupsPerIP,
		IdleTimeout:            time.Duration(a.SSHIdleTimeout),
		MaxSessionsPerKey:      a.SSHMaxSessionsPerKey,
		MaxSessionsPerAdminKey: a.SSHMaxSessionsPerAdminKey,
	}.WithDefaults()
}

// Start takes the core and the SSH server from their pools (creating them
// on first use), and points them at this config.
func (a *App) Start() error {
	// Keys are recorded on a only once Start succeeds, so that Stop
	// releases exactly what was taken.
	coreKey, sshKey := a.StateDir, a.SSH+"|"+a.HostKey
	val, _, err := cores.LoadOrNew(coreKey, func() (caddy.Destructor, error) { return a.newCore() })
	if err != nil {
		return fmt.Errorf("berth: %w", err)
	}
	c := val.(*core)
	if c.dockerHost != a.DockerHost {
		cores.Delete(coreKey)
		return fmt.Errorf("berth: docker_host changed from %q to %q; restart Caddy for that to take effect", c.dockerHost, a.DockerHost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.hosts.SetReservedHosts(a.reservedHosts())
	if err := c.domains.SetGlobalDomains(ctx, a.Domains); err != nil {
		cores.Delete(coreKey)
		return fmt.Errorf("berth: %w", err)
	}
	c.backend.Logs.SetMaxLines(a.MaxLogLines)
	interval, revivals := dockerlocal.DefaultFormationCheckInterval, dockerlocal.DefaultMaxRevivals
	if a.FormationCheckInterval != nil {
		interval = time.Duration(*a.FormationCheckInterval)
	}
	if a.FormationCheckRevivals != nil {
		revivals = *a.FormationCheckRevivals
	}
	c.scheduler.SetFormationCheck(interval, revivals)
	val, _, err = sshServers.LoadOrNew(sshKey, func() (caddy.Destructor, error) { return a.newSSHServer() })
	if err != nil {
		cores.Delete(coreKey)
		return fmt.Errorf("berth: %w", err)
	}
	val.(*sshServer).server.SetLimits(a.sshLimits())
	// Limits follow a reload, like the domains.
	c.platform.SetLimits(a.limits)
	c.tcp.SetDeployKeyPorts(a.tcpLo, a.tcpHi)
	c.tcp.SetMaxConns(a.TCPMaxConnections)
	c.receiver.SetMaxPush(a.maxPush)
	val.(*sshServer).server.SetAccess(&gitrecv.Access{AdminKeys: a.adminKeys, Backend: c.backend, Receiver: c.receiver})
	adminFPs := make([]string, 0, len(a.adminKeys))
	for _, k := range a.adminKeys {
		adminFPs = append(adminFPs, gossh.FingerprintSHA256(k))
	}
	c.adminKeys.Store(&adminFPs)
	hostKey := val.(*sshServer).hostKey
	c.hostKey.Store(&hostKey)
	// The URLs pushes and apps:list show are what this config's http app
	// serves; without an http app (or one that never reaches Berth) the
	// platform falls back to http://HOST.
	var urls domains.URLsFunc
	var sites []string
	if httpApp, err := a.ctx.AppIfConfigured("http"); err == nil {
		if h, ok := httpApp.(*caddyhttp.App); ok {
			urls = urlsFromHTTPApp(h)
			sites = siteHosts(h)
		}
	}
	c.hosts.SetURLs(urls)
	// No app's wildcard takes the dashboard's host or the Caddyfile's own
	// sites' hosts: not their requests, not their handshakes (the
	// certificate manager asks the table too), not an on-demand
	// certificate.
	c.table.SetReserved(append(a.reservedHosts(), sites...))
	// Certificates already in Caddy's storage (this config's) are free:
	// after a restart, certmagic asks the permission before it loads one.
	c.wildNames.setBudget(a.wildcardCertsPerHour(), a.wildcardCertsMax(), a.wildcardCertsPerDomain(), storedCertificate(a.ctx.Storage(), onDemandIssuerKeys(a.ctx)), a.log)
	c.dashboard.SetHost(a.Dashboard, time.Duration(a.DashboardSession), nil)
	// A live dashboard view is a command left running, like an SSH
	// session: the same per-key limits.
	sl := a.sshLimits()
	c.dashboard.SetStreamLimits(sl.MaxSessionsPerKey, sl.MaxSessionsPerAdminKey)
	// Each config has a registry of its own (Caddy's admin /metrics serves
	// the running config's); the counters are the core's, so they go on
	// across a reload.
	if err := a.ctx.GetMetricsRegistry().Register(c.metrics); err != nil {
		a.log.Warn("the apps' metrics are not on the metrics endpoint", "error", err)
	}

	a.coreKey, a.sshKey = coreKey, sshKey
	a.core.Store(c)
	close(a.started)
	// The host key's fingerprint, for users to check against what ssh
	// shows at their first connection (also: caddy berth ssh-keys:host).
	a.log.Info("berth started", "ssh", a.SSH, "ssh_host_key", gossh.FingerprintSHA256(hostKey), "domains", a.Domains, "state_dir", a.StateDir)
	return nil
}

// Stop releases the SSH server and the core. Whatever a newer config still
// uses stays up; app containers always keep running.
func (a *App) Stop() error {
	var errs []error
	if a.sshKey != "" {
		if _, err := sshServers.Delete(a.sshKey); err != nil {
			errs = append(errs, err)
		}
	}
	if a.coreKey != "" {
		if _, err := cores.Delete(a.coreKey); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// routes waits for the app to start (Caddy starts apps in no fixed order,
// so a request can arrive a moment before Start) and returns its table.
func (a *App) routes(ctx context.Context) (*routing.Table, error) {
	if c := a.core.Load(); c != nil {
		return c.table, nil
	}
	select {
	case <-a.started:
		return a.core.Load().table, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		return nil, errors.New("berth has not started")
	}
}

// cores and sshServers hold what outlives a config reload.
var (
	cores      = caddy.NewUsagePool()
	sshServers = caddy.NewUsagePool()
)

// core is one Berth instance: a state directory, its platform and the git
// receiver.
type core struct {
	dockerHost string
	docker     *docker.Client
	// swarmAPI is the swarm scheduler's client of the same engine.
	swarmAPI io.Closer
	table    *routing.Table
	platform *platform.Platform
	// scheduler runs the apps' containers for the platform; its
	// formation check follows the config (Provision).
	scheduler *dockerlocal.Scheduler
	// tcp serves the apps' tcp port mappings; its listeners live as long
	// as the core, so a reload keeps them and their connections.
	tcp   *tcproute.Router
	certs *certs.Certs
	// hosts says which hosts each app answers on (the global domains,
	// the reserved hosts) and their URLs; the platform asks it, domains
	// changes it; both follow the config (Start).
	hosts    *domains.Resolver
	domains  *domains.Domains
	receiver *gitrecv.Receiver
	// backend is what the doors (SSH, admin API) give commands: the
	// platform and the managers built beside it here.
	backend *commands.Backend
	// dashboard is the web dashboard; its host is the config's (Start),
	// its sessions outlive a reload.
	dashboard *dashboard.Dashboard
	// hostKey is the SSH host key's public half, for ssh-keys:host (set
	// by Start: the SSH server is pooled apart from the core).
	hostKey atomic.Pointer[gossh.PublicKey]
	// adminKeys are the fingerprints of the config's authorized_keys, for
	// the dashboard to check that a session's key is still one.
	adminKeys atomic.Pointer[[]string]
	// metrics are the apps' request counters (the berth handler counts,
	// Caddy's metrics endpoint and the dashboard read); they outlive a
	// reload with the core. stopMetrics ends their sampler.
	metrics     *appmetrics.Set
	stopMetrics func()
	// sampler is each app's last container counts and stats, for the CPU
	// used between two samples (the sampler's goroutine alone uses it).
	sampler containerSampler
	// socketDir is the private temporary directory of the hook socket
	// when the state directory's path is too long for one; "" otherwise.
	socketDir string
	// wildNames are the names on-demand TLS was allowed for through an
	// app's wildcard domain, to evict when the wildcard goes.
	wildNames wildcardNames
}

func (a *App) newCore() (*core, error) {
	if err := os.MkdirAll(a.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dc, err := docker.Connect(ctx, a.DockerHost)
	if err != nil {
		return nil, err
	}
	// The swarm scheduler's own client of the same engine: the Swarm API
	// is not part of platform.Engine.
	swarmAPI, err := swarm.Connect(ctx, a.DockerHost)
	if err != nil {
		dc.Close()
		return nil, fmt.Errorf("docker engine (for the swarm scheduler): %w", err)
	}
	made := false
	defer func() {
		if !made {
			swarmAPI.Close()
		}
	}()
	c := &core{dockerHost: a.DockerHost, docker: dc, swarmAPI: swarmAPI, table: routing.New(), metrics: appmetrics.New()}
	// A name that stops being routed loses its cached certificate at once,
	// so its next handshake goes to the permission module, which refuses
	// it (see caddyCertCache in certs.go). A custom certificate that named
	// it goes too; package certs puts it back for the hosts its app keeps.
	// A wildcard names none of the hosts it served: the names the
	// permission allowed through it go with it (wildcardNames).
	c.table.OnHostsGone(func(hosts []string) { evictCertificates(c.wildNames.gone(c.table, hosts)) })
	// The builders, in Dokku's detection order: herokuish for a
	// .buildpacks file or BUILDPACK_URL, pack for a project.toml,
	// dockerfile for a Dockerfile; a source none detects (a Procfile app,
	// Heroku-style) goes to the default, pack, as in Dokku.
	herokuish := builder.Herokuish{Engine: dc, Image: a.HerokuishImage}
	builders, err := builder.NewSelector(builder.PackName, herokuish, builder.Pack{Engine: dc}, builder.Dockerfile{Engine: dc})
	if err != nil {
		dc.Close()
		return nil, err
	}
	// One store for the records of the core and of the packages that
	// follow its apps (certs, keys), each under its own keys.
	st := &store.Files{Dir: a.StateDir}
	// The route controller, for the tcp router's process-scoped mappings
	// (the containers it keeps out of routes); the core makes it.
	var routeCtl *routes.Controller
	// The container settings (networks, storage, resources,
	// docker-options) contribute to every container the platform runs,
	// so their contributor is made first and handed in.
	spec := appspec.NewSpec(appspec.SpecConfig{Store: st, Engine: dc})
	// A malformed network:set --global record stops start-up here, with
	// what to fix, rather than failing every container later.
	if err := spec.Load(ctx); err != nil {
		dc.Close()
		return nil, err
	}
	// The build records are the deploy pipeline's (package deploy); the
	// core removes and moves them with the apps.
	builds := deploy.NewBuilds(filepath.Join(a.StateDir, "builds"))
	// The deploy pipeline and the release's environment read the apps'
	// build settings through buildconfig, which keeps them
	// (buildSettings below).
	buildResolver := buildconfig.NewResolver(st, a.log)
	// The hosts an app answers on are package domains' knowledge, which
	// the core asks wherever it routes an app.
	c.hosts = domains.NewResolver()
	// sched is the scheduler the platform runs apps on (New makes it); the
	// deploy pipeline rolls out on the same one.
	var sched platform.Scheduler
	c.platform = platform.New(platform.Config{
		Hosts:         c.hosts,
		Store:         st,
		Engine:        dc,
		Table:         c.table,
		ReposDir:      filepath.Join(a.StateDir, "repos"),
		Builds:        builds,
		Logger:        a.log,
		Specs:         []platform.SpecContributor{spec},
		BuildSettings: buildResolver,
		// Each app runs on the scheduler it selected (scheduler:set):
		// docker-local (containers on this host's Docker, Dokku's
		// default; the formation check's settings follow the config,
		// Provision) or swarm.
		Scheduler: func(deps platform.SchedulerDeps) platform.Scheduler {
			routeCtl = deps.Routes
			c.scheduler = dockerlocal.New(deps, dockerlocal.Config{FormationCheckInterval: -1, MaxRevivals: -1})
			sched = selector.New(deps, st, map[string]platform.Scheduler{
				selector.DockerLocal: c.scheduler,
				selector.Swarm:       swarm.New(deps, swarm.Config{API: swarmAPI, Instance: dc.Instance}),
			})
			return sched
		},
	})
	c.tcp = tcproute.New(tcproute.Config{Apps: c.platform, Table: c.table, Engine: dc, Hooks: c.platform.Hooks(), Logger: a.log})
	// The deploy pipeline (push, rebuild, git:sync, git:from-image,
	// builds, releases, rollback, config releases, ps:restart, ps:scale,
	// ps:stop and ps:start)
	// runs on the scheduler the platform was given.
	deploys := deploy.New(deploy.Config{
		Apps: c.platform, Engine: dc, Store: st, Scheduler: sched,
		Specs: platform.NewSpecs(spec), Builders: builders, BuildSettings: buildResolver,
		Repos: c.platform.Repos(), Builds: builds, Logger: a.log,
	})
	appSpec := appspec.New(appspec.Config{Spec: spec, Apps: c.platform, StorageDir: filepath.Join(a.StateDir, "storage")})
	// An app's herokuish build cache goes with the app, and with its old
	// name on a rename (a volume cannot be renamed; the next build fills
	// a new cache).
	removeCache := func(ctx context.Context, app string) {
		if err := herokuish.RemoveCache(ctx, app); err != nil {
			a.log.Warn("a herokuish build cache was not removed", "app", app, "volume", builder.CacheVolume(app), "error", err)
		}
	}
	c.platform.Hooks().OnAppDestroyed(removeCache)
	c.platform.Hooks().OnAppRenamed(func(ctx context.Context, from, _ string) { removeCache(ctx, from) })
	// The tcp router's process-scoped mappings skip the containers the
	// route controller keeps out of routes (before its Start).
	if routeCtl != nil {
		c.tcp.SetRoutes(routeCtl)
	}
	// The apps' TLS settings follow the platform's apps from here on, and
	// keep Caddy's certificate cache in step with them.
	c.certs = certs.New(certs.Config{Store: st, Apps: c.platform, Hooks: c.platform.Hooks(), Cache: caddyCertificates{}, Logger: a.log,
		Disabled: func(app string) bool { r, ok := c.table.App(app); return ok && r.Disabled }})
	// The added SSH keys: deploy keys follow their apps (they go with a
	// destroyed app, move with a renamed one).
	sshKeys := keys.New(keys.Config{Store: st, Apps: c.platform, Hooks: c.platform.Hooks()})
	buildSettings := buildconfig.New(buildconfig.Config{Store: st, Apps: c.platform, Builders: builders, Repos: deploys})
	appLogs := applogs.New(applogs.Config{Engine: dc, Apps: c.platform, Builds: deploys, MaxLines: a.MaxLogLines})
	processes := pssettings.New(pssettings.Config{Apps: c.platform, Engine: dc})
	// run's one-offs: their run:logs shares logs' max_log_lines, read at
	// each call, as a reload may change it.
	oneOffs := oneoff.New(oneoff.Config{Engine: dc, Apps: c.platform, MaxLines: appLogs.MaxLines})
	// Old releases and the build cache are pruned after each rollout and
	// build from here on.
	diskUse := disk.New(disk.Config{Apps: c.platform, Hooks: c.platform.Hooks(), Engine: dc, Builds: deploys, Logger: a.log})
	// An app's buildpack cache volume goes with the app, and with its
	// old name on a rename (a cache is cheap to lose: the next build
	// makes it again).
	dropPackCache := func(ctx context.Context, app string) {
		if err := dc.RemoveOwnVolume(ctx, builder.PackCacheVolume(app)); err != nil {
			a.log.Warn("removing the buildpack cache volume", "app", app, "error", err)
		}
	}
	c.platform.Hooks().OnAppDestroyed(dropPackCache)
	c.platform.Hooks().OnAppRenamed(func(ctx context.Context, from, _ string) { dropPackCache(ctx, from) })
	c.domains = domains.New(domains.Config{Apps: c.platform, Table: c.table, Resolver: c.hosts})
	c.hosts.SetReservedHosts(a.reservedHosts())
	// The instance ID first: services create and find containers with
	// it before the platform starts.
	if err := c.platform.Identify(ctx); err != nil {
		dc.Close()
		return nil, err
	}
	if err := c.domains.SetGlobalDomains(ctx, a.Domains); err != nil {
		dc.Close()
		return nil, err
	}
	// Datastores first, so apps that link one find it running.
	svc := services.New(c.platform, dc, deploys)
	svc.SetLogger(a.log)
	c.backend = &commands.Backend{Platform: c.platform, Deploy: deploys, AppSpec: appSpec, Services: svc, Certs: c.certs, Keys: sshKeys, OneOff: oneOffs, Logs: appLogs, Metrics: c.metrics, Processes: processes, Disk: diskUse, Build: buildSettings, Domains: c.domains, TCP: c.tcp,
		Scheduler: selector.NewSettings(selector.Config{Store: st, Apps: c.platform}), SSHHostKey: func() gossh.PublicKey {
			if k := c.hostKey.Load(); k != nil {
				return *k
			}
			return nil
		}}
	c.dashboard = dashboard.New(dashboard.Config{Backend: c.backend, Logger: a.log,
		URLFor:       func(h string) string { return c.hosts.URLsFor([]string{h})[0] },
		StillGranted: c.stillGranted, Metrics: c.metrics})
	c.backend.Dashboard = c.dashboard
	// A session never outlives its app; stillGranted would refuse it at
	// its next request too, this only ends it at once.
	c.platform.Hooks().OnAppDestroyed(func(_ context.Context, app string) { c.dashboard.EndAppSessions(app) })
	c.platform.Hooks().OnAppRenamed(func(_ context.Context, from, _ string) { c.dashboard.EndAppSessions(from) })
	// Metrics are labelled by app name: a gone name goes from them too.
	c.platform.Hooks().OnAppDestroyed(func(_ context.Context, app string) { c.metrics.Forget(app) })
	c.platform.Hooks().OnAppRenamed(func(_ context.Context, from, _ string) { c.metrics.Forget(from) })
	deploys.OnDeployFinished(func(app string, d platform.DeployAttempt) {
		c.metrics.Deployed(app, d.Status, d.Finished.Sub(d.Started))
	})
	if err := svc.Boot(ctx); err != nil {
		a.log.Error("starting datastore services", "error", err)
	}
	if err := c.platform.Start(ctx); err != nil {
		dc.Close()
		return nil, err
	}
	// The routes are up: tcp mappings serve from here.
	if err := c.tcp.Start(ctx); err != nil {
		a.log.Error("tcp port mappings not served", "error", err)
	}
	// Caddy's certificate cache starts empty: custom certificates go in
	// before the first handshake, so that they win over a wildcard.
	if err := c.certs.InstallCustomCertificates(ctx); err != nil {
		a.log.Error("custom certificates not loaded; the manager serves them", "error", err)
	}
	self, err := os.Executable()
	if err != nil {
		c.tcp.Close()
		c.platform.Close()
		dc.Close()
		return nil, fmt.Errorf("find this program's path for the git hook: %w", err)
	}
	socket, socketDir, err := hookSocketPath(a.StateDir)
	if err != nil {
		c.tcp.Close()
		c.platform.Close()
		dc.Close()
		return nil, err
	}
	c.socketDir = socketDir
	c.receiver = gitrecv.NewReceiver(c.platform, deploys, self, socket, a.log)
	if err := c.receiver.Start(); err != nil {
		c.removeSocketDir()
		c.tcp.Close()
		c.platform.Close()
		dc.Close()
		return nil, err
	}
	c.sampler = containerSampler{
		report: func(ctx context.Context, app string) ([]platform.ProcessStatus, error) {
			rep, err := deploys.Report(ctx, app)
			return rep.Processes, err
		},
		usage: c.docker.Usage,
	}
	// stopMetrics returns once the sampler has: Destruct closes the
	// Docker client and the platform it uses next.
	c.stopMetrics = startSampler(func(ctx context.Context) { c.metrics.Run(ctx, c.countContainers) })
	made = true
	return c, nil
}

// Destruct stops the hook socket and the event watcher. It leaves every
// container running.
func (c *core) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c.stopMetrics()
	c.tcp.Close()
	err := c.receiver.Close(ctx)
	c.removeSocketDir()
	c.platform.Close()
	c.docker.Close()
	c.swarmAPI.Close()
	return err
}

// hookSocketPath is the unix socket the git hook calls back on. A unix
// socket path is limited to about 100 bytes, so a deep state directory
// gets a socket in a new private (0700) directory of a random name in the
// temporary directory instead, returned as dir for removal. Not a fixed
// name there: another local user could make that name first and so keep
// Berth from starting (or listen on it).
func hookSocketPath(stateDir string) (socket, dir string, err error) {
	p := filepath.Join(stateDir, "hook.sock")
	if len(p) < 100 {
		return p, "", nil
	}
	dir, err = os.MkdirTemp("", "berth-hook-")
	if err != nil {
		return "", "", fmt.Errorf("hook socket: the state directory's path is too long for a unix socket, and a private temporary directory cannot be made: %w", err)
	}
	socket = filepath.Join(dir, "hook.sock")
	if len(socket) >= 100 {
		os.Remove(dir)
		return "", "", fmt.Errorf("hook socket: the paths of the state directory (%s) and of the temporary directory (%s) are both too long for a unix socket: use a shorter state_dir or set TMPDIR to a short directory", stateDir, os.TempDir())
	}
	return socket, dir, nil
}

func (c *core) removeSocketDir() {
	if c.socketDir != "" {
		os.RemoveAll(c.socketDir)
	}
}

// sshServer is the SSH listener and server, pooled by address and host key.
type sshServer struct {
	server  *gitrecv.Server
	ln      net.Listener
	hostKey gossh.PublicKey
}

func (a *App) newSSHServer() (*sshServer, error) {
	hostKey, err := gitrecv.LoadOrCreateHostKey(a.HostKey)
	if err != nil {
		return nil, err
	}
	addr, err := caddy.ParseNetworkAddress(a.SSH)
	if err != nil {
		return nil, err
	}
	// Caddy's listeners can be opened twice for one address, which a
	// reload that changes the host key needs: the new server listens
	// before the old one stops.
	lnAny, err := addr.Listen(context.Background(), 0, net.ListenConfig{})
	if err != nil {
		return nil, fmt.Errorf("ssh listener on %s: %w", a.SSH, err)
	}
	ln, ok := lnAny.(net.Listener)
	if !ok {
		return nil, fmt.Errorf("ssh listener on %s is not a stream listener", a.SSH)
	}
	s := &sshServer{server: gitrecv.NewServer(hostKey, a.log), ln: ln, hostKey: hostKey.PublicKey()}
	s.server.SetLimits(a.sshLimits())
	go func() {
		if err := s.server.Serve(ln); err != nil {
			a.log.Error("ssh server stopped", "error", err)
		}
	}()
	return s, nil
}

// Destruct stops accepting SSH connections and lets running sessions (a
// push in the middle of its build) finish.
func (s *sshServer) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.server.Shutdown(ctx)
}

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
	_ caddy.Destructor  = (*core)(nil)
	_ caddy.Destructor  = (*sshServer)(nil)
)

// stillGranted says whether a dashboard session's grant holds now: its
// key is still an authorized_keys key or an added key whose scope covers
// the session's app (ssh-keys:remove ends its sessions), and the app is
// the one the session was made for (apps:destroy, apps:rename, or a new
// app under the old name end it).
func (c *core) stillGranted(ctx context.Context, g commands.LoginGrant) error {
	if g.Key != "" {
		found := false
		if fps := c.adminKeys.Load(); fps != nil && slices.Contains(*fps, g.Key) {
			found = true
		} else {
			keys, err := c.backend.Keys.List(ctx)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if k.Fingerprint == g.Key && (k.App == "" || k.App == g.App) {
					found = true
					break
				}
			}
		}
		if !found {
			return fmt.Errorf("key %s is no longer authorized for this session's scope", g.Key)
		}
	}
	if g.App != "" {
		app, err := c.platform.App(ctx, g.App)
		if err != nil {
			return err
		}
		if !app.CreatedAt.Equal(g.AppCreated) {
			return fmt.Errorf("app %s was destroyed or renamed since the session began; this one is a new app", g.App)
		}
	}
	return nil
}

// countContainers gives the metrics the container counts of every app's
// current release by process type and state, as ps:report sees them, and
// the list of apps (every app shows, none that is gone), and the running
// containers' CPU and memory from Docker's stats. The sampler calls it,
// so that a scrape asks Docker nothing.
func (c *core) countContainers(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	listed := time.Now()
	apps, err := c.platform.List(ctx)
	if err != nil {
		return // the counts of the last time stay
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	c.metrics.Retain(names, listed)
	out := c.sampler.sample(ctx, names, c.metrics.AddUsage)
	c.metrics.SetContainers(out)
}
