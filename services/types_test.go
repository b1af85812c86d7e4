package services

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"testing"
)

func TestImageRef(t *testing.T) {
	pg := Types["postgres"]
	for _, c := range []struct{ image, version, want string }{
		{"", "", "postgres:17"},
		{"", "16", "postgres:16"},
		{"berth-test/postgres", "", "berth-test/postgres"},
		{"postgis/postgis:16-3.4", "", "postgis/postgis:16-3.4"},
		{"postgis/postgis:16-3.4", "17-3.5", "postgis/postgis:17-3.5"},
		{"registry.local:5000/pg", "15", "registry.local:5000/pg:15"},
	} {
		if got := pg.ImageRef(c.image, c.version); got != c.want {
			t.Errorf("ImageRef(%q, %q) = %q, want %q", c.image, c.version, got, c.want)
		}
	}
}

func TestParseExpose(t *testing.T) {
	for in, want := range map[string]string{
		"":             "127.0.0.1:0",
		"5432":         "127.0.0.1:5432",
		"0.0.0.0:6000": "0.0.0.0:6000",
		"[::1]:7000":   "[::1]:7000",
	} {
		got, err := parseExpose(in)
		if err != nil || got.String() != want {
			t.Errorf("parseExpose(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "70000", "host:5432", "abc", "1.2.3.4:"} {
		if _, err := parseExpose(bad); err == nil {
			t.Errorf("parseExpose(%q) succeeded", bad)
		}
	}
}

func TestURLs(t *testing.T) {
	s := &Service{Name: "db-1", User: "postgres", Password: "p@ss/word", Database: "db_1"}
	if got, want := Types["postgres"].URL(s), "postgres://postgres:p%40ss%2Fword@berth-postgres-db-1:5432/db_1"; got != want {
		t.Errorf("postgres URL = %q, want %q", got, want)
	}
	s.User = "mysql"
	if got, want := Types["mysql"].URL(s), "mysql://mysql:p%40ss%2Fword@berth-mysql-db-1:3306/db_1"; got != want {
		t.Errorf("mysql URL = %q, want %q", got, want)
	}
	s.Password = "x"
	if got, want := Types["redis"].URL(s), "redis://default:x@berth-redis-db-1:6379"; got != want {
		t.Errorf("redis URL = %q, want %q", got, want)
	}
}

func TestLinkVarNames(t *testing.T) {
	if got := linkVar(Types["postgres"].Alias); got != "DATABASE_URL" {
		t.Errorf("postgres default var = %s", got)
	}
	if got := linkVar(Types["redis"].Alias); got != "REDIS_URL" {
		t.Errorf("redis default var = %s", got)
	}
	if got := linkVar(Types["mysql"].extraAlias("orders-db")); got != "DOKKU_MYSQL_ORDERS_DB_URL" {
		t.Errorf("further link var = %s", got)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"db", "a", "orders-2", strings.Repeat("a", 48)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-db", "db-", "Db", "a.b", "a_b", strings.Repeat("a", 49), "../x"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) succeeded", bad)
		}
	}
}

func TestEveryTypeIsComplete(t *testing.T) {
	for _, name := range TypeNames {
		ty := Types[name]
		if ty == nil || ty.Name != name || ty.env == nil || ty.cmd == nil || ty.connect == nil || ty.dump == nil ||
			ty.execEnv == nil || ty.url == nil || ty.Port == 0 || ty.DataDir == "" || ty.Alias == "" {
			t.Errorf("type %s is incomplete: %+v", name, ty)
		}
	}
}

func TestURLPasswordRoundTrip(t *testing.T) {
	const pw = "a b+c/@:%?#"
	s := &Service{Name: "db", User: "u", Password: pw, Database: "db"}
	for _, tn := range TypeNames {
		raw := Types[tn].URL(s)
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %q does not parse: %v", tn, raw, err)
		}
		if got, _ := u.User.Password(); got != pw {
			t.Errorf("%s: %q carries password %q, want %q", tn, raw, got, pw)
		}
		if u.Hostname() != "berth-"+tn+"-db" {
			t.Errorf("%s: %q has host %q", tn, raw, u.Hostname())
		}
	}
}

func TestRedisQuote(t *testing.T) {
	got := redisQuote("a\"b\n--x y")
	if want := `"a\x22b\x0a\x2d\x2dx\x20y"`; got != want {
		t.Errorf("redisQuote = %s, want %s", got, want)
	}
}

func TestInfoHidesRootPassword(t *testing.T) {
	doc, err := json.Marshal(Info{Service: &Service{Password: "app-pw", RootPassword: "root-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "root-pw") || !strings.Contains(string(doc), "app-pw") {
		t.Errorf("info JSON %s: want the app's password, not the root password", doc)
	}
}

// A Redis that accepts connections while it loads its snapshot is not
// ready: only its PONG after AUTH is.
func TestRedisReadyWantsPong(t *testing.T) {
	for reply, want := range map[string]bool{
		"+OK\r\n+PONG\r\n": true,
		"+OK\r\n-LOADING Redis is loading the dataset in memory\r\n": false,
		"-WRONGPASS invalid username-password pair\r\n":              false,
		"": false,
	} {
		client, server := net.Pipe()
		go func() {
			buf := make([]byte, 256)
			server.Read(buf)
			server.Write([]byte(reply))
			server.Close()
		}()
		if got := redisReady(client, &Service{Password: "p w"}); got != want {
			t.Errorf("reply %q: ready = %v, want %v", reply, got, want)
		}
		client.Close()
	}
}

// Every type says how its data comes back in (a restore command, or a
// snapshot file with its check), so import needs no knowledge of types.
func TestEveryTypeCanImport(t *testing.T) {
	for _, name := range TypeNames {
		typ := Types[name]
		if (typ.restore == nil) == (typ.snapshot == nil) {
			t.Errorf("%s: want exactly one of restore and snapshot", name)
		}
		if s := typ.snapshot; s != nil && (s.Name == "" || s.Check == "" || s.Refusal == "") {
			t.Errorf("%s: snapshot %+v lacks its file, check or refusal", name, *s)
		}
		if typ.dump == nil {
			t.Errorf("%s: no dump", name)
		}
	}
}

// A type's accounts come from the service's name: a database name has no
// dash, and MySQL gets a root password of its own.
func TestAccountsFromTheServiceName(t *testing.T) {
	pg := &Service{Name: "my-db", Password: "p"}
	Types["postgres"].accounts(pg)
	if pg.User != "postgres" || pg.Database != "my_db" || pg.RootPassword != "" {
		t.Errorf("postgres: %+v", pg)
	}
	my := &Service{Name: "my-db", Password: "p"}
	Types["mysql"].accounts(my)
	if my.User != "mysql" || my.Database != "my_db" || my.RootPassword == "" || my.RootPassword == my.Password {
		t.Errorf("mysql: %+v", my)
	}
	if Types["redis"].accounts != nil {
		t.Error("redis has no accounts to name")
	}
}
