package docker

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		`--memory 512m`:                 {"--memory", "512m"},
		`  -e  'A=b c'  `:               {"-e", "A=b c"},
		`-e "A=\"q\" $HOME"`:            {"-e", `A="q" $HOME`},
		`-v /a:/b\ c`:                   {"-v", "/a:/b c"},
		`--label x=$(reboot);rm`:        {"--label", "x=$(reboot);rm"},
		`''`:                            {""},
		`--add-host a.test:10.0.0.1`:    {"--add-host", "a.test:10.0.0.1"},
		"--ulimit\tnofile=1024:2048\n":  {"--ulimit", "nofile=1024:2048"},
		`--sysctl=net.core.somaxconn=9`: {"--sysctl=net.core.somaxconn=9"},
	} {
		got, err := SplitWords(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `trailing\`} {
		if _, err := SplitWords(bad); err == nil {
			t.Errorf("SplitWords(%q) accepted", bad)
		}
	}
}

func TestParseOptionsMapsFlagsToFields(t *testing.T) {
	h, err := ParseOptions([]string{
		"--memory", "256m", "-m=300m", "--memory-reservation=64m", "--cpus", "0.5",
		"-e", "A=1", "-eB=2", "--label", "team=x", "-v", "/srv/data:/data:ro", "--tmpfs", "/run:size=1m",
		"--ulimit", "nofile=1024:2048", "--cap-add", "net_admin", "--cap-drop=ALL", "--add-host", "db.test:10.1.2.3",
		"--dns", "1.1.1.1", "--log-opt", "max-size=1m", "--shm-size", "128m", "-u", "1000", "-w", "/app",
		"--read-only", "--sysctl", "net.core.somaxconn=1024", "--pids-limit", "100",
	})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case h.Memory != 300<<20, h.MemoryReservation != 64<<20, h.NanoCPUs != 5e8:
		t.Errorf("resources: %+v", h)
	case !reflect.DeepEqual(h.Env, []string{"A=1", "B=2"}), h.Labels["team"] != "x":
		t.Errorf("env/labels: %q %q", h.Env, h.Labels)
	case !reflect.DeepEqual(h.Binds, []string{"/srv/data:/data:ro"}), h.Tmpfs["/run"] != "size=1m":
		t.Errorf("mounts: %q %q", h.Binds, h.Tmpfs)
	case len(h.Ulimits) != 1 || h.Ulimits[0].Soft != 1024 || h.Ulimits[0].Hard != 2048:
		t.Errorf("ulimits: %+v", h.Ulimits)
	case !reflect.DeepEqual(h.CapAdd, []string{"NET_ADMIN"}), !reflect.DeepEqual(h.CapDrop, []string{"ALL"}):
		t.Errorf("caps: %q %q", h.CapAdd, h.CapDrop)
	case h.ShmSize != 128<<20, h.User != "1000", h.WorkingDir != "/app", !h.ReadOnly, h.PidsLimit != 100:
		t.Errorf("misc: %+v", h)
	case h.Sysctls["net.core.somaxconn"] != "1024", h.LogOpts["max-size"] != "1m", len(h.DNS) != 1, len(h.ExtraHosts) != 1:
		t.Errorf("sysctl/log/dns/hosts: %+v", h)
	}
}

func TestParseOptionsRefusesWithAClearReason(t *testing.T) {
	for opt, want := range map[string]string{
		"--restart always":        "ps:set",
		"--network host":          "network:set",
		"--net=host":              "network:set",
		"--privileged":            "--cap-add",
		"-p 80:80":                "collide",
		"--pid host":              "not supported",
		"--foo bar":               "supported: --add-host",
		"-Z":                      "supported: --add-host",
		"512m":                    "options start with",
		"--memory":                "needs a value",
		"--memory lots":           "not a memory size",
		"-e NOVALUE":              "KEY=VALUE",
		"--label berth.app=x":     "Berth's own",
		"-v ./rel:/x":             "neither an absolute host path",
		"-v /a/../etc:/x":         "not clean",
		"-v /a:/":                 "other than /",
		"-v /a:/b:z":              "use ro or rw",
		"--env-file /etc/shadow":  "config:set",
		"--read-only=false":       "takes no value",
		"--add-host x:notanip":    "not an IP",
		"--ulimit nofile=2:1":     "HARD at least SOFT",
		"--cpus 0":                "not a number of CPUs",
		"--log-driver x;reboot":   "json-file (Berth's) or local",
		"--log-driver syslog":     "json-file (Berth's) or local",
		"--mount type=bind,src=/": "storage:mount",
		"--cap-add ALL":           "--privileged by another name",
		"--cap-add=cap_all":       "--privileged by another name",
		"-v /:/host":              "host's root",
		"-v /var/run/docker.sock:/var/run/docker.sock": "Docker engine's socket",
		"-v /run/docker.sock:/s:ro":                    "Docker engine's socket",
		"-v /var/run:/x":                               "Docker engine's socket",
		"-v /var:/x":                                   "Docker engine's socket",
		"-v /srv/docker-alt.sock:/s":                   "Docker engine's socket",
		"-v /run/containerd:/c":                        "Docker engine's socket",
	} {
		words, err := SplitWords(opt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseOptions(words); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseOptions(%q) = %v; want an error with %q", opt, err, want)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{"512": 512 << 20, "512m": 512 << 20, "1g": 1 << 30, "1GB": 1 << 30, "64k": 64 << 10, "1.5g": 3 << 29, "1048576b": 1 << 20} {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "m", "-1g", "1t", "1e9", "NaN", "0", "+5m"} {
		if _, err := ParseMemory(bad); err == nil {
			t.Errorf("ParseMemory(%q) accepted", bad)
		}
	}
}

// FuzzParseOptions feeds arbitrary option strings through the splitter
// and the parser: neither may panic, and whatever is accepted holds only
// values the parser checked.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{"--memory 512m", "-e 'A=b c'", "-v /a:/b:ro --tmpfs /t", "--privileged", `-e "A=\"x\""`, "--ulimit nofile=1:2", "-m=1g -eX=1", "--label a=b --add-host h:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitWords(s)
		if err != nil {
			return
		}
		h, err := ParseOptions(words)
		if err != nil {
			return
		}
		for _, b := range h.Binds {
			if ValidateMount(b) != nil {
				t.Fatalf("%q: accepted mount %q", s, b)
			}
		}
		for _, e := range h.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || !envName.MatchString(k) {
				t.Fatalf("%q: accepted env %q", s, e)
			}
		}
		for k := range h.Labels {
			if strings.HasPrefix(k, "berth.") {
				t.Fatalf("%q: accepted label %q", s, k)
			}
		}
		if h.Memory < 0 || h.MemoryReservation < 0 || h.NanoCPUs < 0 || h.ShmSize < 0 {
			t.Fatalf("%q: negative amount %+v", s, h)
		}
		if h.InitialNetwork != "" || len(h.Networks) > 0 {
			t.Fatalf("%q: docker-options set a network", s)
		}
	})
}

// A log driver or log options keep Berth's rotation unless they change it.
func TestLogOptionsKeepBerthsRotation(t *testing.T) {
	for opt, want := range map[string]container.LogConfig{
		"--log-driver json-file":                   {Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
		"--log-driver local --log-opt max-size=1m": {Type: "local", Config: map[string]string{"max-size": "1m", "max-file": "3"}},
		"--log-opt max-file=5":                     {Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "5"}},
	} {
		words, _ := SplitWords(opt)
		h, err := ParseOptions(words)
		if err != nil {
			t.Fatal(err)
		}
		hc := &container.HostConfig{LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}}}
		h.apply(&container.Config{}, hc)
		if !reflect.DeepEqual(hc.LogConfig, want) {
			t.Errorf("%s: log config %+v; want %+v", opt, hc.LogConfig, want)
		}
	}
}

// -v /path is an anonymous volume, as docker run makes one: the container
// path alone, checked like any container path; a bind still needs its
// host side and its rules.
func TestParseOptionsAnonymousVolume(t *testing.T) {
	h, err := ParseOptions([]string{"-v", "/data", "--volume=/cache", "-v", "/srv/x:/x"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Volumes, []string{"/data", "/cache"}) || !slices.Equal(h.Binds, []string{"/srv/x:/x"}) {
		t.Fatalf("volumes %q binds %q", h.Volumes, h.Binds)
	}
	for opt, want := range map[string]string{
		"-v /":        "other than /",
		"-v /a/../b":  "clean absolute path",
		"-v /a/":      "clean absolute path",
		"-v data":     "/container/path for an anonymous volume",
		"-v /a:":      "container path",
		"-v /var/run": "", // a container path: no host side is reached
	} {
		words, _ := SplitWords(opt)
		_, err := ParseOptions(words)
		if want == "" {
			if err != nil {
				t.Errorf("ParseOptions(%q) = %v", opt, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseOptions(%q) = %v; want an error with %q", opt, err, want)
		}
	}
}

// An anonymous volume is a volume mount without a source, and marks the
// container so that Remove takes its volumes with it.
func TestApplyAnonymousVolumes(t *testing.T) {
	var cfg container.Config
	var hc container.HostConfig
	HostOptions{Volumes: []string{"/data"}}.apply(&cfg, &hc)
	if len(hc.Mounts) != 1 || hc.Mounts[0].Type != mount.TypeVolume || hc.Mounts[0].Source != "" || hc.Mounts[0].Target != "/data" {
		t.Fatalf("mounts %+v", hc.Mounts)
	}
	if cfg.Labels[LabelAnonymousVolumes] != "true" {
		t.Fatalf("labels %v", cfg.Labels)
	}
	var cfg2 container.Config
	HostOptions{Binds: []string{"v:/v"}}.apply(&cfg2, &container.HostConfig{})
	if _, ok := cfg2.Labels[LabelAnonymousVolumes]; ok {
		t.Fatal("a container without anonymous volumes is marked")
	}
}
