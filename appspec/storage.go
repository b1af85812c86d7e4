package appspec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// This file holds Dokku's storage:mount, storage:unmount and
// storage:ensure-directory: host directories and volumes in the app's
// containers, kept in the app record's Storage as "SOURCE:DEST[:ro]".

// Mount adds a mount "SOURCE:DEST[:ro]" to the app, from its next rollout
// on (and to run one-offs from now on).
func (s *Settings) Mount(ctx context.Context, app, mount string) error {
	if err := docker.ValidateMount(mount); err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		dest := strings.Split(mount, ":")[1]
		for _, m := range a.Storage {
			if m == mount {
				return fmt.Errorf("%s already mounts %s", app, mount)
			}
			if strings.Split(m, ":")[1] == dest {
				return fmt.Errorf("%s already mounts %s at %s; unmount it first (storage:unmount %s %s)", app, m, dest, app, m)
			}
		}
		a.Storage = append(slices.Clone(a.Storage), mount)
		return nil
	})
}

// Unmount removes a mount the app has, from its next rollout on.
func (s *Settings) Unmount(ctx context.Context, app, mount string) error {
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		i := slices.Index(a.Storage, mount)
		if i < 0 {
			have := "it has none"
			if len(a.Storage) > 0 {
				have = "its mounts are " + strings.Join(a.Storage, ", ")
			}
			return fmt.Errorf("%s does not mount %s; %s", app, mount, have)
		}
		a.Storage = slices.Delete(slices.Clone(a.Storage), i, i+1)
		return nil
	})
}

// Owners storage:ensure-directory can give a directory, as in Dokku: the
// user the app's image runs as.
var storageOwners = map[string]int{"herokuish": 32767, "heroku": 1000, "packeto": 2000, "paketo": 2000, "root": 0}

var storageName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// EnsureStorageDirectory makes a directory for mounts under Berth's
// storage directory and returns its path (Dokku's
// storage:ensure-directory). chown names the owner ("false" or empty
// leaves it to Berth's user: Berth builds Dockerfiles, whose images
// mostly run as root, not herokuish's user).
func (s *Settings) EnsureStorageDirectory(name, chown string) (string, error) {
	if s.storageDir == "" {
		return "", errors.New("this Berth has no storage directory")
	}
	if !storageName.MatchString(name) {
		return "", fmt.Errorf("%q is not a directory name: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	uid, chowned := storageOwners[chown]
	if !chowned && chown != "" && chown != "false" {
		return "", fmt.Errorf("unknown owner %q: use false, herokuish, heroku, packeto or root", chown)
	}
	if err := os.MkdirAll(s.storageDir, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(s.storageDir, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", err
	}
	if chowned {
		if err := os.Chown(dir, uid, uid); err != nil {
			return "", fmt.Errorf("cannot give %s to uid %d (Berth must run as root to change owners): %w", dir, uid, err)
		}
	}
	return dir, nil
}
