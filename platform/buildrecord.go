package platform

import "time"

// The records of the apps' builds are package deploy's (deploy.Builds);
// the core keeps their type, which applogs reads too, and calls the store
// through BuildRecords when an app is created, renamed or destroyed and
// at start.

// Build is the record of one deploy (a push, ps:rebuild, git:sync,
// git:from-image): what it deployed, when, how it ended. Its log, what the
// person deploying saw, is kept beside it.
type Build struct {
	// ID numbers the app's builds: 1, 2, ...
	ID  int    `json:"id"`
	App string `json:"app"`
	// Release is the release the deploy made; 0 when it made none (it
	// failed).
	Release int `json:"release,omitempty"`
	// Reason says what started the deploy: push, rebuild, sync, image.
	Reason string `json:"reason"`
	// Source names what was deployed: "commit 1a2b3c4", "image NAME".
	Source   string    `json:"source"`
	GitRev   string    `json:"git_rev,omitempty"`
	Image    string    `json:"image,omitempty"`
	Started  time.Time `json:"started_at"`
	Finished time.Time `json:"finished_at,omitzero"`
	Status   string    `json:"status"` // running, succeeded, failed, canceled
	Error    string    `json:"error,omitempty"`
	// Builder is the builder that ran (dockerfile, ...); empty when
	// none did (an image deploy, or one refused before the build).
	Builder string `json:"builder,omitempty"`
}

// KeepBuilds is how many builds, logs included, Berth keeps per app; older
// ones are removed when a build ends.
const KeepBuilds = 20

// BuildDamaged is the status of a build whose record cannot be read.
const BuildDamaged = "damaged"

// BuildCanceled is the status of a build cancelled with builds:cancel.
const BuildCanceled = "canceled"

// BuildRecords is what the core does with the build records (package
// deploy's Builds, given to New) when an app's life changes: they are
// removed with the app (and before a new app takes a name, in case a
// rename left some), moved with a rename, and a build that was running
// when Berth stopped is marked failed at start.
type BuildRecords interface {
	Remove(app string) error
	Move(from, to string) error
	FailRunning(app string) error
}

// noBuildRecords keeps none (a platform made without records).
type noBuildRecords struct{}

func (noBuildRecords) Remove(string) error       { return nil }
func (noBuildRecords) Move(string, string) error { return nil }
func (noBuildRecords) FailRunning(string) error  { return nil }
