package docker

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// SplitWords splits an option string into words the way a POSIX shell
// would, with single and double quotes and backslashes, and nothing else:
// no variables, globs or commands. Docker options are read from the words,
// never given to a shell.
func SplitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("the option ends with a lone backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("the option has an unclosed single quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("the option has an unclosed double quote")
			}
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// optionFlags are the docker run flags docker-options accepts, by their
// long name, with the short forms that map to them.
var optionFlags = map[string]func(h *HostOptions, v string) error{
	"add-host":           func(h *HostOptions, v string) error { return appendHost(h, v) },
	"cap-add":            appendCapAdd,
	"cap-drop":           func(h *HostOptions, v string) error { return appendCap(&h.CapDrop, v) },
	"cpus":               func(h *HostOptions, v string) error { return setCPUs(&h.NanoCPUs, v) },
	"cpu-shares":         func(h *HostOptions, v string) error { return setInt(&h.CPUShares, "cpu-shares", v) },
	"cpuset-cpus":        func(h *HostOptions, v string) error { return setCpuset(h, v) },
	"memory":             func(h *HostOptions, v string) error { return setMemory(&h.Memory, v) },
	"memory-reservation": func(h *HostOptions, v string) error { return setMemory(&h.MemoryReservation, v) },
	"memory-swap":        setSwap,
	"shm-size":           func(h *HostOptions, v string) error { return setMemory(&h.ShmSize, v) },
	"pids-limit":         func(h *HostOptions, v string) error { return setInt(&h.PidsLimit, "pids-limit", v) },
	"env":                appendEnv,
	"label":              appendLabel,
	"volume":             func(h *HostOptions, v string) error { return appendBind(h, v) },
	"tmpfs":              appendTmpfs,
	"ulimit":             appendUlimit,
	"user":               func(h *HostOptions, v string) error { return setWord(&h.User, "user", v) },
	"workdir":            setWorkdir,
	"hostname":           func(h *HostOptions, v string) error { return setWord(&h.Hostname, "hostname", v) },
	"dns":                appendDNS,
	"dns-search":         func(h *HostOptions, v string) error { return appendWord(&h.DNSSearch, "dns-search", v) },
	"dns-option":         func(h *HostOptions, v string) error { return appendWord(&h.DNSOptions, "dns-option", v) },
	"log-driver":         setLogDriver,
	"log-opt":            appendLogOpt,
	"security-opt":       func(h *HostOptions, v string) error { return appendWord(&h.SecurityOpt, "security-opt", v) },
	"sysctl":             appendSysctl,
}

// optionAliases are the other names docker run accepts for the flags.
var optionAliases = map[string]string{
	"e": "env", "l": "label", "v": "volume", "u": "user", "w": "workdir", "m": "memory",
	"dns-opt": "dns-option",
}

// boolFlags take no value.
var boolFlags = map[string]func(h *HostOptions){
	"read-only": func(h *HostOptions) { h.ReadOnly = true },
}

// refusedFlags are docker run flags Berth refuses, with what to do instead.
var refusedFlags = map[string]string{
	"restart":       "Berth sets the restart policy: use ps:set APP restart-policy",
	"network":       "use network:set APP initial-network|attach-post-create|attach-post-deploy NETWORK",
	"net":           "use network:set APP initial-network|attach-post-create|attach-post-deploy NETWORK",
	"network-alias": "Berth gives each container the aliases APP.PROCESS and APP.PROCESS.N on the app's networks",
	"name":          "Berth names the app's containers",
	"rm":            "Berth removes the containers it retires",
	"detach":        "Berth runs app containers detached",
	"publish":       "Berth routes HTTP to the app; a published host port would collide while old and new containers overlap in a rollout",
	"publish-all":   "Berth routes HTTP to the app; a published host port would collide while old and new containers overlap in a rollout",
	"privileged":    "grant only what the app needs with --cap-add",
	"pid":           "sharing a host or container PID namespace is not supported",
	"ipc":           "sharing a host or container IPC namespace is not supported",
	"uts":           "sharing the host's UTS namespace is not supported",
	"userns":        "changing the user namespace is not supported",
	"cgroupns":      "changing the cgroup namespace is not supported",
	"device":        "host devices are not supported",
	"mount":         "use -v SOURCE:DEST[:ro], or storage:mount APP SOURCE:DEST",
	"env-file":      "Berth reads no files from the server for an app's options: use config:set APP KEY=VALUE",
	"label-file":    "use -l KEY=VALUE",
	"entrypoint":    "the image's ENTRYPOINT, or the Procfile's command, decides what runs",
	"init":          "Berth always runs an init process",
	"interactive":   "not an option of an app's containers",
	"tty":           "not an option of an app's containers",
	"volumes-from":  "use -v or storage:mount",
	"link":          "links are deprecated: put the apps on one network (network:set) and use APP.PROCESS as the host name",
	"expose":        "the image's EXPOSE decides the app's port",
}

var optionShortRefused = map[string]string{
	"p": "publish", "P": "publish-all", "d": "detach", "i": "interactive", "t": "tty",
}

func supportedFlags() string {
	return "--add-host, --cap-add, --cap-drop, --cpus, --cpu-shares, --cpuset-cpus, -m/--memory, --memory-reservation, --memory-swap, --shm-size, --pids-limit, " +
		"-e/--env, -l/--label, -v/--volume, --tmpfs, --ulimit, -u/--user, -w/--workdir, --hostname, --dns, --dns-search, --dns-option, " +
		"--log-driver json-file|local, --log-opt, --security-opt, --sysctl, --read-only"
}

// ParseOptions reads docker run options (already split into words) into
// HostOptions. Only a whitelist of flags is accepted; any other is an
// error that says what is supported, or what to use instead.
func ParseOptions(words []string) (HostOptions, error) {
	var h HostOptions
	if len(words) == 0 {
		return h, errors.New("no option given")
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		var name, value string
		hasValue := false
		switch {
		case strings.HasPrefix(w, "--") && len(w) > 2:
			name, value, hasValue = strings.Cut(w[2:], "=")
		case strings.HasPrefix(w, "-") && len(w) == 2:
			short := w[1:]
			if long, ok := optionShortRefused[short]; ok {
				return HostOptions{}, fmt.Errorf("%s is not supported: %s", w, refusedFlags[long])
			}
			long, ok := optionAliases[short]
			if !ok {
				return HostOptions{}, fmt.Errorf("unknown or unsupported option %s; supported: %s", w, supportedFlags())
			}
			name = long
		case strings.HasPrefix(w, "-") && len(w) > 2:
			// -e=A=b or -eA=b as docker accepts them.
			short := w[1:2]
			long, ok := optionAliases[short]
			if !ok {
				return HostOptions{}, fmt.Errorf("unknown or unsupported option %s; supported: %s", w, supportedFlags())
			}
			name, value, hasValue = long, strings.TrimPrefix(w[2:], "="), true
		default:
			return HostOptions{}, fmt.Errorf("%q is not an option: options start with - or --, like --memory 512m", w)
		}
		if long, ok := optionAliases[name]; ok && len(name) > 1 {
			name = long
		}
		if why, ok := refusedFlags[name]; ok {
			return HostOptions{}, fmt.Errorf("--%s is not supported: %s", name, why)
		}
		if set, ok := boolFlags[name]; ok {
			if hasValue && value != "true" {
				return HostOptions{}, fmt.Errorf("--%s takes no value", name)
			}
			set(&h)
			continue
		}
		set, ok := optionFlags[name]
		if !ok {
			return HostOptions{}, fmt.Errorf("unknown or unsupported option --%s; supported: %s", name, supportedFlags())
		}
		if !hasValue {
			if i+1 >= len(words) {
				return HostOptions{}, fmt.Errorf("%s needs a value", w)
			}
			i++
			value = words[i]
		}
		if err := set(&h, value); err != nil {
			return HostOptions{}, fmt.Errorf("%s: %w", w, err)
		}
	}
	return h, nil
}

var (
	capName     = regexp.MustCompile(`^(?i)(CAP_)?[A-Z_]+$|^(?i)ALL$`)
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostName    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)
	volumeName  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	plainWord   = regexp.MustCompile(`^[A-Za-z0-9_.:,=/@+-]+$`)
	sysctlName  = regexp.MustCompile(`^[a-z0-9_.]+$`)
	ulimitName  = regexp.MustCompile(`^[a-z]+$`)
	cpusetValue = regexp.MustCompile(`^[0-9]+([-,][0-9]+)*$`)
)

func appendHost(h *HostOptions, v string) error {
	name, ip, ok := strings.Cut(v, ":")
	if !ok || !hostName.MatchString(name) {
		return errors.New("use HOST:IP")
	}
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("%q is not an IP address (or host-gateway)", ip)
		}
	}
	h.ExtraHosts = append(h.ExtraHosts, v)
	return nil
}

// appendCapAdd adds a capability, but not ALL: that is --privileged by
// another name, which is refused.
func appendCapAdd(h *HostOptions, v string) error {
	if u := strings.ToUpper(v); u == "ALL" || u == "CAP_ALL" {
		return errors.New("adding every capability is --privileged by another name and is not supported: add the ones the app needs by name, like --cap-add NET_ADMIN")
	}
	return appendCap(&h.CapAdd, v)
}

func appendCap(list *[]string, v string) error {
	if !capName.MatchString(v) {
		return fmt.Errorf("%q is not a capability name", v)
	}
	*list = append(*list, strings.ToUpper(v))
	return nil
}

func setCPUs(dst *int64, v string) error {
	n, err := ParseCPUs(v)
	*dst = n
	return err
}

func setCpuset(h *HostOptions, v string) error {
	if !cpusetValue.MatchString(v) {
		return fmt.Errorf("%q is not a CPU list like 0-1 or 0,2", v)
	}
	h.CpusetCpus = v
	return nil
}

func setInt(dst *int64, name, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < -1 {
		return fmt.Errorf("%s takes a whole number", name)
	}
	*dst = n
	return nil
}

func setMemory(dst *int64, v string) error {
	n, err := ParseMemory(v)
	*dst = n
	return err
}

func setSwap(h *HostOptions, v string) error {
	if v == "-1" {
		h.MemorySwap = -1
		return nil
	}
	return setMemory(&h.MemorySwap, v)
}

func appendEnv(h *HostOptions, v string) error {
	k, _, ok := strings.Cut(v, "=")
	if !ok || !envName.MatchString(k) {
		return errors.New("use KEY=VALUE (a value from the server's environment is not passed on)")
	}
	h.Env = append(h.Env, v)
	return nil
}

func appendLabel(h *HostOptions, v string) error {
	k, val, _ := strings.Cut(v, "=")
	if k == "" || strings.ContainsAny(k, " \t\n") {
		return errors.New("use KEY=VALUE")
	}
	if strings.HasPrefix(k, "berth.") {
		return errors.New("labels starting with berth. are Berth's own")
	}
	if h.Labels == nil {
		h.Labels = map[string]string{}
	}
	h.Labels[k] = val
	return nil
}

// ValidateMount checks a mount "SOURCE:DEST[:ro|rw]": SOURCE an absolute
// host path or a volume name, DEST an absolute path in the container.
func ValidateMount(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("%q is not a mount: use /host/path:/container/path[:ro] or VOLUME:/container/path[:ro]", v)
	}
	src, dest := parts[0], parts[1]
	switch {
	case strings.HasPrefix(src, "/"):
		if path.Clean(src) != src {
			return fmt.Errorf("host path %q is not clean: write it as %s", src, path.Clean(src))
		}
		if err := refusedHostPath(src); err != nil {
			return err
		}
	case !volumeName.MatchString(src):
		return fmt.Errorf("%q is neither an absolute host path nor a volume name (letters, digits, '_', '.', '-')", src)
	}
	if err := checkContainerPath(dest); err != nil {
		return err
	}
	if len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw" {
		return fmt.Errorf("mount option %q: use ro or rw", parts[2])
	}
	return nil
}

// checkContainerPath checks the container side of a mount (ValidateMount's
// DEST, and docker-options' -v /path): a clean absolute path other than /.
func checkContainerPath(dest string) error {
	if !strings.HasPrefix(dest, "/") || path.Clean(dest) != dest || dest == "/" {
		return fmt.Errorf("container path %q must be a clean absolute path other than /", dest)
	}
	return nil
}

// dockerSockets are where Docker's and containerd's API sockets usually
// are. A container that reaches one controls the engine, and so the host.
var dockerSockets = []string{"/run/docker.sock", "/var/run/docker.sock", "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock"}

// refusedHostPath refuses the mounts that are plainly the whole host: its
// root, and the engine's socket or a directory holding it. Mounts are an
// admin's power and other host paths can give root too (see README); these
// are refused because they are never what an app needs.
func refusedHostPath(src string) error {
	if src == "/" {
		return errors.New("mounting the host's root / is not supported: mount the directory the app needs")
	}
	base := path.Base(src)
	isSocket := strings.HasPrefix(base, "docker") && strings.HasSuffix(base, ".sock")
	for _, sock := range dockerSockets {
		if src == sock || strings.HasPrefix(sock, src+"/") {
			isSocket = true
		}
	}
	if isSocket {
		return fmt.Errorf("mounting %s is not supported: it holds the Docker engine's socket, which controls every container and the host", src)
	}
	return nil
}

func appendBind(h *HostOptions, v string) error {
	if strings.HasPrefix(v, "/") && !strings.Contains(v, ":") {
		// -v /path: an anonymous volume, as docker run makes one; it is
		// the container's own and goes with it (HostOptions.Volumes). Its
		// path is checked as a mount's container side is.
		if err := checkContainerPath(v); err != nil {
			return err
		}
		h.Volumes = append(h.Volumes, v)
		return nil
	}
	if !strings.Contains(v, ":") {
		return fmt.Errorf("%q is not a mount: use /host/path:/container/path[:ro], VOLUME:/container/path[:ro], or /container/path for an anonymous volume", v)
	}
	if err := ValidateMount(v); err != nil {
		return err
	}
	h.Binds = append(h.Binds, v)
	return nil
}

func appendTmpfs(h *HostOptions, v string) error {
	dest, opts, _ := strings.Cut(v, ":")
	if !strings.HasPrefix(dest, "/") || path.Clean(dest) != dest || dest == "/" {
		return fmt.Errorf("tmpfs path %q must be a clean absolute path other than /", dest)
	}
	if opts != "" && !plainWord.MatchString(opts) {
		return fmt.Errorf("tmpfs options %q are not options like size=64m,mode=1777", opts)
	}
	if h.Tmpfs == nil {
		h.Tmpfs = map[string]string{}
	}
	h.Tmpfs[dest] = opts
	return nil
}

func appendUlimit(h *HostOptions, v string) error {
	name, limits, ok := strings.Cut(v, "=")
	if !ok || !ulimitName.MatchString(name) {
		return errors.New("use NAME=SOFT[:HARD], like nofile=1024:2048")
	}
	softS, hardS, hasHard := strings.Cut(limits, ":")
	soft, err := strconv.ParseInt(softS, 10, 64)
	if err != nil {
		return errors.New("use NAME=SOFT[:HARD] with whole numbers")
	}
	hard := soft
	if hasHard {
		if hard, err = strconv.ParseInt(hardS, 10, 64); err != nil || hard < soft {
			return errors.New("use NAME=SOFT[:HARD] with whole numbers, HARD at least SOFT")
		}
	}
	h.Ulimits = append(h.Ulimits, &container.Ulimit{Name: name, Soft: soft, Hard: hard})
	return nil
}

func setWord(dst *string, name, v string) error {
	if !plainWord.MatchString(v) {
		return fmt.Errorf("%q is not a valid %s", v, name)
	}
	*dst = v
	return nil
}

func appendWord(dst *[]string, name, v string) error {
	if !plainWord.MatchString(v) {
		return fmt.Errorf("%q is not a valid %s", v, name)
	}
	*dst = append(*dst, v)
	return nil
}

func setWorkdir(h *HostOptions, v string) error {
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "\n\x00") {
		return fmt.Errorf("workdir %q must be an absolute path", v)
	}
	h.WorkingDir = v
	return nil
}

func appendDNS(h *HostOptions, v string) error {
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return fmt.Errorf("%q is not an IP address", v)
	}
	h.DNS = append(h.DNS, ip)
	return nil
}

// setLogDriver accepts the drivers that keep a log on the host Docker
// reads back and rotates: json-file (Berth's) and local. Berth's logs
// command reads logs through Docker, and Berth's rotation options
// (max-size, max-file) are valid for both; a remote driver would leave
// logs to Docker's dual-logging cache, which can be switched off, and
// rotation to whatever its options say.
func setLogDriver(h *HostOptions, v string) error {
	if v != "json-file" && v != "local" {
		return fmt.Errorf("log driver %q is not supported: use json-file (Berth's) or local, which Berth's logs command can read and which keep Berth's rotation; ship logs elsewhere from the host", v)
	}
	h.LogDriver = v
	return nil
}

func appendLogOpt(h *HostOptions, v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" || !plainWord.MatchString(k) {
		return errors.New("use KEY=VALUE")
	}
	if h.LogOpts == nil {
		h.LogOpts = map[string]string{}
	}
	h.LogOpts[k] = val
	return nil
}

func appendSysctl(h *HostOptions, v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || !sysctlName.MatchString(k) || val == "" {
		return errors.New("use NAME=VALUE, like net.core.somaxconn=1024")
	}
	if h.Sysctls == nil {
		h.Sysctls = map[string]string{}
	}
	h.Sysctls[k] = val
	return nil
}
