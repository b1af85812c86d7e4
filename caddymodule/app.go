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
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/dashboard"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/gitrecv"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/dockerlocal"
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
	// Registry is HOST[:PORT] of Berth's own OCI registry (package
	// registry), which swarm apps' releases are pushed to and the
	// swarm's nodes pull from, served through Caddy's HTTPS on that host;
	// PORT is Caddy's HTTPS port when it is not 443. Empty (the
	// default): none, and swarm tasks run the release's image by ID,
	// which only the manager has.
	Registry string `json:"registry,omitempty"`
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
	if a.Registry != "" {
		reg, err := normalRegistry(a.Registry, a.Dashboard)
		if err != nil {
			return err
		}
		a.Registry = reg
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

// normalRegistry checks the registry option (HOST[:PORT]) and returns
// it in normal form (a lowercase host, no trailing dot).
func normalRegistry(reg, dashboard string) (string, error) {
	host, port := reg, ""
	if h, p, err := net.SplitHostPort(reg); err == nil {
		host, port = h, p
	}
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
		return "", fmt.Errorf("berth: registry %q: the port must be a number from 1 to 65535 (Caddy's HTTPS port as the nodes reach it)", reg)
	}
	host = routing.NormalizeHost(host)
	if err := platform.ValidateDomain(host); err != nil {
		return "", fmt.Errorf("berth: registry: %w (give the host name the swarm's nodes reach Berth at, and :PORT when Caddy's HTTPS port is not 443)", err)
	}
	if host == dashboard {
		return "", fmt.Errorf("berth: registry %q: the dashboard answers on that host; give the registry a name of its own", reg)
	}
	if port != "" {
		return net.JoinHostPort(host, port), nil
	}
	return host, nil
}

// reservedHosts are the hosts Berth answers on itself, which no app may
// take: the dashboard's and the registry's.
func (a *App) reservedHosts() []string {
	var hosts []string
	if a.Dashboard != "" {
		hosts = append(hosts, a.Dashboard)
	}
	// And the registry's (its host name, whatever its port).
	if a.Registry != "" {
		h := a.Registry
		if n, _, err := net.SplitHostPort(h); err == nil {
			h = n
		}
		hosts = append(hosts, h)
	}
	return hosts
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

// unchangeable refuses a config that changes what the core (pooled
// across reloads) was made with and cannot change while it runs.
func (a *App) unchangeable(c *core) error {
	if c.dockerHost != a.DockerHost {
		return fmt.Errorf("berth: docker_host changed from %q to %q; restart Caddy for that to take effect", c.dockerHost, a.DockerHost)
	}
	// The registry is made with the core (its storage, its push
	// credential, the swarm scheduler's images): a reload that kept the
	// old one would serve its host while the routing table, following
	// the new config, no longer reserves it for Berth.
	if was := c.registry.Host(); was != a.Registry {
		return fmt.Errorf("berth: registry changed from %q to %q; restart Caddy for that to take effect", was, a.Registry)
	}
	return nil
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
	if err := a.unchangeable(c); err != nil {
		cores.Delete(coreKey)
		return err
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
