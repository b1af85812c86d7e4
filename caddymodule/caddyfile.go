package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("berth", parseGlobalOption)
}

// parseGlobalOption reads the `berth` global option:
//
//	{
//		berth {
//			domain example.test [more.example ...]
//			ssh :2222
//			authorized_keys /etc/berth/admin_keys
//			host_key /etc/berth/ssh_host_ed25519_key
//			docker_host unix:///var/run/docker.sock
//			state_dir /var/lib/berth
//			ssh_login_grace_time 30s
//			ssh_max_startups 100
//			ssh_max_startups_per_ip 10
//			ssh_idle_timeout 10m
//			ssh_max_sessions_per_key 10
//			ssh_max_sessions_per_admin_key 50
//			max_log_lines 10000
//			tcp_max_connections 512       # per tcp port mapping
//			formation_check_interval 30s  # 0: off
//			formation_check_revivals 3    # 0: only report
//			proxy_read_timeout 60s        # an app's response must begin within it (504); 0: no limit
//			max_scale 100          # limits.go: each has a default
//			max_containers 200
//			build_timeout 30m
//			build_log_max 10MiB
//			build_memory 2g        # default: half the host's memory
//			build_cpus 2           # default: none
//			push_max 1GiB
//			herokuish_image gliderlabs/herokuish:latest-24
//			keep_releases 10       # releases of an app that keep their image
//			build_cache_max 10GiB  # or none
//			dashboard berth.example.com  # the web dashboard; default: off
//			dashboard_session 12h
//			registry registry.example.com  # Berth's registry for swarm apps' images; default: off
//			wildcard_certs_per_hour 20   # new on-demand certificates under one wildcard domain
//			wildcard_certs_max 500       # new names under one wildcard domain in 7 days
//			wildcard_certs_per_domain 40 # new names under the wildcards of one registered domain in 7 days
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("the berth global option is given twice; merge the two blocks")
	}
	app := new(App)
	d.Next() // "berth"
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "domain", "domains":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("%s needs at least one domain name, such as `domain example.com` (a {$VARIABLE} that is not set, such as Caddyfile.example's {$BERTH_DOMAIN}, gives none: set it)", opt)
			}
			app.Domains = append(app.Domains, args...)
			continue
		case "dashboard_session":
			if !d.NextArg() {
				return nil, d.Errf("%s needs a duration, such as 12h", opt)
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return nil, d.Errf("%s: %q is not a positive duration (such as 12h)", opt, d.Val())
			}
			if d.NextArg() {
				return nil, d.Errf("%s takes one value", opt)
			}
			app.DashboardSession = caddy.Duration(dur)
			continue
		case "ssh_login_grace_time", "ssh_idle_timeout":
			if !d.NextArg() {
				return nil, d.Errf("%s needs a duration, such as 30s", opt)
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil || dur <= 0 {
				return nil, d.Errf("%s: %q is not a positive duration (such as 30s or 10m)", opt, d.Val())
			}
			if d.NextArg() {
				return nil, d.Errf("%s takes one value", opt)
			}
			if opt == "ssh_login_grace_time" {
				app.SSHLoginGraceTime = caddy.Duration(dur)
			} else {
				app.SSHIdleTimeout = caddy.Duration(dur)
			}
			continue
		case "ssh_max_startups", "ssh_max_startups_per_ip", "ssh_max_sessions_per_key", "ssh_max_sessions_per_admin_key":
			if !d.NextArg() {
				return nil, d.Errf("%s needs a number", opt)
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return nil, d.Errf("%s: %q is not a positive whole number", opt, d.Val())
			}
			if d.NextArg() {
				return nil, d.Errf("%s takes one value", opt)
			}
			*map[string]*int{
				"ssh_max_startups":               &app.SSHMaxStartups,
				"ssh_max_startups_per_ip":        &app.SSHMaxStartupsPerIP,
				"ssh_max_sessions_per_key":       &app.SSHMaxSessionsPerKey,
				"ssh_max_sessions_per_admin_key": &app.SSHMaxSessionsPerAdminKey,
			}[opt] = n
			continue
		case "formation_check_interval":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.Errf("%s takes one duration, such as 30s (0 turns the check off)", opt)
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur < 0 {
				return nil, d.Errf("%s: %q is not a duration such as 30s or 2m (0 turns the check off)", opt, args[0])
			}
			v := caddy.Duration(dur)
			app.FormationCheckInterval = &v
			continue
		case "proxy_read_timeout":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.Errf("%s takes one duration, such as 60s (0: no limit)", opt)
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur < 0 {
				return nil, d.Errf("%s: %q is not a duration such as 60s or 5m (0: no limit)", opt, args[0])
			}
			v := caddy.Duration(dur)
			app.ProxyReadTimeout = &v
			continue
		case "formation_check_revivals":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.Errf("%s takes one number", opt)
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 {
				return nil, d.Errf("%s must be a whole number of 0 (only report) or more, not %q", opt, args[0])
			}
			app.FormationCheckRevivals = &n
			continue
		case "wildcard_certs_per_hour", "wildcard_certs_max", "wildcard_certs_per_domain":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.Errf("%s takes one number", opt)
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 0 {
				return nil, d.Errf("%s must be a whole number of 0 (no new name under a wildcard domain gets an on-demand certificate) or more, not %q", opt, args[0])
			}
			switch opt {
			case "wildcard_certs_per_hour":
				app.WildcardCertsPerHour = &n
			case "wildcard_certs_max":
				app.WildcardCertsMax = &n
			default:
				app.WildcardCertsPerDomain = &n
			}
			continue
		case "tcp_max_connections":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.Errf("%s takes one number", opt)
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return nil, d.Errf("%s must be a whole number of connections of at least 1 (per tcp port mapping), not %q", opt, args[0])
			}
			app.TCPMaxConnections = n
			continue
		case "max_log_lines":
			args := d.RemainingArgs()
			if len(args) != 1 {
				return nil, d.Errf("%s takes one number", opt)
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return nil, d.Errf("%s must be a whole number of lines of at least 1, not %q", opt, args[0])
			}
			app.MaxLogLines = n
			continue
		}
		var target *string
		switch opt {
		case "ssh":
			target = &app.SSH
		case "authorized_keys":
			target = &app.AuthorizedKeys
		case "host_key":
			target = &app.HostKey
		case "docker_host":
			target = &app.DockerHost
		case "state_dir":
			target = &app.StateDir
		case "herokuish_image":
			target = &app.HerokuishImage
		case "dashboard":
			target = &app.Dashboard
		case "registry":
			target = &app.Registry
		case "tcp_ports":
			target = &app.TCPPorts
		default:
			if ok, err := parseLimitOption(d, &app.Limits, opt); ok {
				if err != nil {
					return nil, err
				}
				continue
			}
			return nil, d.Errf("unknown berth option %q (known: domain, ssh, authorized_keys, host_key, docker_host, state_dir, herokuish_image, dashboard, dashboard_session, registry, tcp_ports, tcp_max_connections, max_log_lines, wildcard_certs_per_hour, wildcard_certs_max, wildcard_certs_per_domain, formation_check_interval, formation_check_revivals, proxy_read_timeout, ssh_login_grace_time, ssh_max_startups, ssh_max_startups_per_ip, ssh_idle_timeout, ssh_max_sessions_per_key, ssh_max_sessions_per_admin_key, %s)", opt, strings.Join(limitOptions, ", "))
		}
		if !d.NextArg() {
			return nil, d.Errf("%s needs a value", opt)
		}
		*target = d.Val()
		if d.NextArg() {
			return nil, d.Errf("%s takes one value", opt)
		}
	}
	return httpcaddyfile.App{Name: "berth", Value: caddyconfig.JSON(app, nil)}, nil
}
