package caddymodule

import (
	"strings"

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
//			max_scale 100          # limits.go: each has a default
//			max_containers 200
//			build_timeout 30m
//			build_log_max 10MiB
//			build_memory 2g        # default: half the host's memory
//			build_cpus 2           # default: none
//			push_max 1GiB
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
				return nil, d.Errf("%s needs at least one domain", opt)
			}
			app.Domains = append(app.Domains, args...)
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
		default:
			if ok, err := parseLimitOption(d, &app.Limits, opt); ok {
				if err != nil {
					return nil, err
				}
				continue
			}
			return nil, d.Errf("unknown berth option %q (known: domain, ssh, authorized_keys, host_key, docker_host, state_dir, %s)", opt, strings.Join(limitOptions, ", "))
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
