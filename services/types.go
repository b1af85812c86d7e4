package services

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Type describes one kind of datastore: how its official image is run,
// how an app reaches it, and which of its own tools connect, dump and
// restore it. Every command works the same for every type; only this
// description differs.
type Type struct {
	// Name is the command prefix (postgres:create) and the container
	// name's middle part (berth-postgres-NAME).
	Name string
	// Image is the official image, run when create names none.
	Image, Version string
	// Port is where the server listens in its container.
	Port int
	// DataDir is where the image keeps its data: the volume goes there.
	DataDir string
	// StopSignal stops the server cleanly; empty means the image's.
	StopSignal string
	// ready, when set, tells whether a server that accepts connections
	// is ready for its apps (conn is a fresh connection to it); unset
	// means accepting a connection is enough.
	ready func(conn net.Conn, s *Service) bool
	// Alias names the config var of an app's first link: ALIAS_URL.
	Alias string
	// accounts fills in the new service's user and database names and
	// any second password, from its name (nil: the image needs none).
	accounts func(s *Service)
	// Dump is how export writes the data to stdout; restore how import
	// reads it from stdin. A type that cannot restore into a running
	// server restores by file instead (snapshot).
	dump, restore func(s *Service) []string
	// snapshot, for a type without restore, is the file in DataDir that
	// the server loads at start: import checks the dump, stops the
	// server, puts the dump there, and starts it again.
	snapshot *snapshotFile
	// env and cmd configure the container for the official image.
	env     func(s *Service) []string
	cmd     func(s *Service) []string
	connect func(s *Service) []string
	// config, when set, is a file (0600, in the volume) written before
	// the container starts: settings with secrets that must not be on the
	// server's command line (docker inspect, ps, events show it).
	config func(s *Service) (file string, body []byte)
	// execEnv is the environment of connect, export and import, so that
	// no password is on a command line.
	execEnv func(s *Service) []string
	url     func(s *Service, host string) string
}

// snapshotFile is a data file a server loads when it starts.
type snapshotFile struct {
	// Name is the file's name in the type's DataDir.
	Name string
	// Check is a shell script, run in the service's container with the
	// path of a candidate file as $1, that exits non-zero when the server
	// could not load it (the server would then not start). It removes
	// the file.
	Check string
	// Refusal is the error when Check fails.
	Refusal string
}

// dbName is a service name as a database name: SQL identifiers take no
// dashes unquoted.
func dbName(s *Service) string { return strings.ReplaceAll(s.Name, "-", "_") }

// Types are the datastores Berth runs, by name.
var Types = map[string]*Type{
	"postgres": {
		Name: "postgres", Image: "postgres", Version: "17", Port: 5432,
		DataDir: "/var/lib/postgresql/data", Alias: "DATABASE", StopSignal: "SIGINT",
		accounts: func(s *Service) { s.User, s.Database = "postgres", dbName(s) },
		env: func(s *Service) []string {
			return []string{"POSTGRES_USER=" + s.User, "POSTGRES_PASSWORD=" + s.Password, "POSTGRES_DB=" + s.Database}
		},
		cmd: func(*Service) []string { return nil },
		connect: func(s *Service) []string {
			return []string{"psql", "-U", s.User, "-d", s.Database}
		},
		// Dokku's form: the custom format, without owners or grants, so
		// the dump restores into a service with another user.
		dump: func(s *Service) []string {
			return []string{"pg_dump", "-Fc", "--no-acl", "--no-owner", "-w", "-U", s.User, s.Database}
		},
		restore: func(s *Service) []string {
			// One transaction: a dump that fails halfway leaves the
			// data as it was.
			return []string{"pg_restore", "--single-transaction", "--clean", "--if-exists", "--no-acl", "--no-owner", "-w", "-U", s.User, "-d", s.Database}
		},
		execEnv: func(s *Service) []string { return []string{"PGPASSWORD=" + s.Password} },
		url: func(s *Service, host string) string {
			return serviceURL("postgres", s.User, s.Password, host+":5432", s.Database)
		},
	},
	"mysql": {
		Name: "mysql", Image: "mysql", Version: "8", Port: 3306,
		DataDir: "/var/lib/mysql", Alias: "DATABASE",
		accounts: func(s *Service) { s.User, s.Database, s.RootPassword = "mysql", dbName(s), secret() },
		// MariaDB's official image reads the same MYSQL_* variables.
		env: func(s *Service) []string {
			return []string{"MYSQL_ROOT_PASSWORD=" + s.RootPassword, "MYSQL_DATABASE=" + s.Database,
				"MYSQL_USER=" + s.User, "MYSQL_PASSWORD=" + s.Password}
		},
		cmd: func(*Service) []string { return nil },
		// MariaDB 11 ships its clients as mariadb and mariadb-dump only;
		// MySQL as mysql and mysqldump.
		connect: func(s *Service) []string {
			return mysqlTool("mariadb", "mysql", "-uroot", s.Database)
		},
		dump: func(s *Service) []string {
			return mysqlTool("mariadb-dump", "mysqldump", "--single-transaction", "--routines", "--triggers", "--no-tablespaces", "-uroot", s.Database)
		},
		restore: func(s *Service) []string {
			return mysqlTool("mariadb", "mysql", "-uroot", s.Database)
		},
		execEnv: func(s *Service) []string { return []string{"MYSQL_PWD=" + s.RootPassword} },
		url: func(s *Service, host string) string {
			return serviceURL("mysql", s.User, s.Password, host+":3306", s.Database)
		},
	},
	"redis": {
		Name: "redis", Image: "redis", Version: "7", Port: 6379,
		DataDir: "/data", Alias: "REDIS",
		env: func(*Service) []string { return nil },
		// The official image's entrypoint runs redis-server with a config
		// file argument; the password is in the file, not on the command
		// line.
		cmd: func(s *Service) []string { return []string{"redis-server", redisConfig} },
		// Snapshots (RDB) only, in the volume: what export and import
		// move. Redis saves one when it stops, so restarts keep data.
		config: func(s *Service) (string, []byte) {
			return redisConfig, []byte("requirepass " + redisQuote(s.Password) + "\n" +
				"dir /data\ndbfilename dump.rdb\nappendonly no\nsave \"3600 1 300 100 60 10000\"\n")
		},
		connect: func(*Service) []string { return []string{"redis-cli"} },
		// Redis accepts connections while it loads its snapshot, and a
		// bad one makes it exit after that: ready is a PONG, not -LOADING.
		ready: redisReady,
		dump: func(*Service) []string {
			// SAVE's reply is checked: an error (a full disk) must not
			// export an older snapshot as if it were current.
			return []string{"sh", "-c", `r=$(redis-cli SAVE) || exit 1; [ "$r" = OK ] || { echo "redis SAVE failed: $r" >&2; exit 1; }; exec cat /data/dump.rdb`}
		},
		// Redis has no restore command: the snapshot replaces dump.rdb
		// while the server is stopped. redis-check-rdb (in the official
		// image; a custom image without it is not checked) refuses a
		// snapshot Redis could not load.
		snapshot: &snapshotFile{
			Name:    "dump.rdb",
			Check:   `f=$1; command -v redis-check-rdb >/dev/null || { rm -f "$f"; exit 0; }; redis-check-rdb "$f"; c=$?; rm -f "$f"; exit $c`,
			Refusal: "the dump is not a snapshot this Redis can load (redis-check-rdb failed); nothing was imported, the data is as it was",
		},
		execEnv: func(s *Service) []string { return []string{"REDISCLI_AUTH=" + s.Password} },
		// The user is named: Dokku's redis://:PASSWORD@ form is read as an
		// empty user name by some clients (redis-cli 7.0 among them).
		url: func(s *Service, host string) string {
			return serviceURL("redis", "default", s.Password, host+":6379", "")
		},
	},
}

// TypeNames are the types in the order commands list them.
var TypeNames = []string{"postgres", "mysql", "redis"}

// serviceURL is SCHEME://USER:PASSWORD@HOST/DB with the user info escaped
// as URLs want it (QueryEscape's + for a space is a literal + there).
func serviceURL(scheme, user, password, host, db string) string {
	u := url.URL{Scheme: scheme, User: url.UserPassword(user, password), Host: host}
	if db != "" {
		u.Path = "/" + db
	}
	return u.String()
}

// redisConfig is where the redis service's config file is, in its volume.
const redisConfig = "/data/berth.conf"

// redisQuote quotes v for a redis.conf line: in double quotes, every
// byte but letters and digits as \xHH, which Redis's config parser reads
// back as that byte, so no value can end the string or add a directive.
func redisQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func mysqlTool(mariadb, mysql string, args ...string) []string {
	script := fmt.Sprintf(`t=$(command -v %s || command -v %s) || { echo "neither %s nor %s is in the image" >&2; exit 127; }; exec "$t" "$@"`, mariadb, mysql, mariadb, mysql)
	return append([]string{"sh", "-c", script, "sh"}, args...)
}

// ImageRef is the image create runs: image (the official one when empty)
// at version (the image's own tag, or the type's default version, when
// empty).
func (t *Type) ImageRef(image, version string) string {
	if image == "" {
		image = t.Image
		if version == "" {
			version = t.Version
		}
	}
	if version == "" {
		return image
	}
	// Replace a tag, not a registry's port (host:5000/name).
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image + ":" + version
}

// linkVar is the config var a link sets: ALIAS_URL.
func linkVar(alias string) string { return strings.ToUpper(alias) + "_URL" }

// extraAlias is the alias of a further link of the type to an app that
// already has ALIAS_URL: DOKKU_POSTGRES_NAME, as Dokku names them.
func (t *Type) extraAlias(service string) string {
	return "DOKKU_" + strings.ToUpper(t.Name) + "_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_"))
}

// redisReady authenticates and sends PING: +PONG means the server has
// loaded its data; -LOADING (or a closed connection: a snapshot it could
// not load) means not yet, or never.
func redisReady(conn net.Conn, s *Service) bool {
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(conn, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n", len(s.Password), s.Password)
	r := bufio.NewReader(conn)
	auth, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(auth, "+OK") {
		return false
	}
	pong, err := r.ReadString('\n')
	return err == nil && strings.HasPrefix(pong, "+PONG")
}
