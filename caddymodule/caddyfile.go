package caddymodule

import (
	"strconv"

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
//			max_log_lines 10000
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
		default:
			return nil, d.Errf("unknown berth option %q (known: domain, ssh, authorized_keys, host_key, docker_host, state_dir, max_log_lines)", opt)
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
